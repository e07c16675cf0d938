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


def main_text(text: str) -> str:
    """The reply without the quoted message, forwarded headers and ``>`` lines below it."""
    kept: list[str] = []
    for line in text.splitlines():
        if _QUOTE_START.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip() or text.strip()


def fold(text: str) -> str:
    """Lowercase without accents: ``Pagaré MAÑANA`` → ``pagare manana``."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalize(text: str) -> str:
    """Folded, typographic quotes made plain, runs of spaces made one (newlines kept)."""
    text = fold(text).replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u00bf", " ")
    text = text.replace("\u00a1", " ")
    return re.sub(r"[ \t\u00a0]+", " ", text).strip()
