"""Reply text as the rules read it: the debtor's own words, lowercase, accents folded."""

from __future__ import annotations

import re
import unicodedata

# Where a reply stops being the debtor's words: a quoted original, a forwarded header.
_QUOTE_START = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|mensaje original|forwarded message)|"
    r"on\s.{4,120}\swrote:\s*$|el\s.{4,120}\sescribi[oó]:\s*$|from:\s|de:\s.*@|sent from my\s|"
    r"enviado desde mi\s|_{5,})",
    re.IGNORECASE,
)


# A call transcript: "Agent: ..." / "Customer: ..." turns. Only the debtor's turns are read.
_TURN = re.compile(
    r"^\s*(?P<who>agent|rep|representative|collector|operator|agente|asesor[a]?|"
    r"customer|debtor|caller|client|consumer|cliente|deudor[a]?)\s*:\s*(?P<said>.*)$",
    re.IGNORECASE,
)
_STAFF = frozenset(
    {"agent", "rep", "representative", "collector", "operator", "agente", "asesor", "asesora"}
)


def _debtor_turns(lines: list[str]) -> list[str] | None:
    """The debtor's lines of a transcript, or None when the text is not one."""
    turns = [_TURN.match(line) for line in lines]
    speakers = {m["who"].lower() for m in turns if m}
    if not speakers & _STAFF or not speakers - _STAFF:
        return None
    kept: list[str] = []
    debtor = False
    for line, m in zip(lines, turns, strict=True):
        if m:
            debtor = m["who"].lower() not in _STAFF
            if debtor:
                kept.append(m["said"])
        elif debtor:
            kept.append(line)
    return kept


def main_text(text: str) -> str:
    """The reply without the quoted message, forwarded headers and ``>`` lines below it.

    In a call transcript (``Agent:`` / ``Customer:`` turns), only the debtor's turns.
    """
    kept: list[str] = []
    for line in text.splitlines():
        if _QUOTE_START.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    kept = _debtor_turns(kept) or kept
    return "\n".join(kept).strip() or text.strip()


def fold(text: str) -> str:
    """Lowercase without accents: ``Pagaré MAÑANA`` → ``pagare manana``."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered  # nothing to decompose: most replies, and a third of reading time
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalize(text: str) -> str:
    """Folded, typographic quotes made plain, runs of spaces made one (newlines kept)."""
    text = fold(text).replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u00bf", " ")
    text = text.replace("\u00a1", " ")
    return re.sub(r"[ \t\u00a0]+", " ", text).strip()
