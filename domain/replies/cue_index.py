"""The rules' cue scores, computed faster: each cue is tried only when a word it needs is there.

``domain.replies.cues.cue_scores`` tries all of its 74 regular expressions on every reply;
most cannot match, and finding that out is most of the combined reader's time. Here each
cue gets, once, a set of literal strings of which every match must contain one (read from
the compiled pattern's parse tree: a literal run it cannot match without, or one per branch
of an alternation it cannot do without). A cue none of whose strings is in the text is
skipped; the others are tried exactly as ``cue_scores`` tries them. So ``cue_scores_fast``
returns what ``cue_scores`` returns (a test checks it on every labelled reply and on
generated ones); a cue whose pattern yields no such set is always tried.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from domain.replies.cues import CUES, Cue, negated

# The standard library's own regex parser (``sre_parse`` is its deprecated alias). Loaded by
# name: typeshed versions disagree on whether ``re`` exposes it.
_sre_parse: Any = importlib.import_module("re._parser")
_sre_constants: Any = importlib.import_module("re._constants")

_LITERAL = _sre_constants.LITERAL
_SUBPATTERN = _sre_constants.SUBPATTERN
_BRANCH = _sre_constants.BRANCH
_REPEATS = (_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT)
_IN = _sre_constants.IN
# Shorter strings than this prefilter nothing worth the check.
_SHORTEST = 2


def _needs(items: Iterable[tuple[Any, Any]]) -> frozenset[str] | None:
    """Strings one of which every match of this sequence contains, or None if unknown."""
    best: frozenset[str] | None = None
    run: list[str] = []

    def consider(found: frozenset[str] | None) -> None:
        nonlocal best
        if found is None or any(len(s) < _SHORTEST for s in found):
            return
        # Prefer the set whose shortest string is longest (fewer false hits).
        if best is None or min(map(len, found)) > min(map(len, best)):
            best = found

    for op, arg in items:
        if op is _LITERAL:
            run.append(chr(arg))
            continue
        if run:
            consider(frozenset({"".join(run)}))
            run = []
        if op is _SUBPATTERN:
            consider(_needs(arg[-1]))
        elif op is _BRANCH:
            branches = [_needs(branch) for branch in arg[1]]
            if all(b is not None for b in branches):
                consider(frozenset().union(*(b for b in branches if b is not None)))
        elif op in _REPEATS and arg[0] >= 1:
            consider(_needs(arg[2]))
        elif op is _IN and all(kind is _LITERAL for kind, _ in arg) and len(arg) <= 4:
            consider(frozenset(chr(code) for _, code in arg))  # too short: ignored
    if run:
        consider(frozenset({"".join(run)}))
    return best


@dataclass(frozen=True)
class IndexedCue:
    cue: Cue
    needs: frozenset[str] | None  # None: always tried


def literal_needs(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Strings one of which every match of ``pattern`` contains; None if unknown."""
    if pattern.flags & re.IGNORECASE or "(?i" in pattern.pattern:
        return None  # a literal may then match in another case
    return _needs(_sre_parse.parse(pattern.pattern, pattern.flags))


def could_match(needs: frozenset[str] | None, text: str) -> bool:
    """False when ``text`` holds none of ``needs`` (``literal_needs`` of a pattern), so that
    the pattern cannot match it; True when it may."""
    return needs is None or any(s in text for s in needs)


def _index(cue: Cue) -> IndexedCue:
    return IndexedCue(cue, literal_needs(cue.pattern))


INDEX: dict[str, list[IndexedCue]] = {
    intent: [_index(cue) for cue in cues] for intent, cues in CUES.items()
}
# Every string some cue needs, looked for once per text: those of three letters or more
# by their first three (a text's three-letter runs are fewer than the 538 strings, so a
# string whose first three are not among them is never searched for), the rest directly.
_ALL_NEEDED = tuple(sorted({s for cues in INDEX.values() for c in cues for s in c.needs or ()}))
_GRAM = 3
_SHORT_NEEDED = tuple(s for s in _ALL_NEEDED if len(s) < _GRAM)
_NEEDED_BY_START: dict[str, tuple[str, ...]] = {}
for _s in _ALL_NEEDED:
    if len(_s) >= _GRAM:
        _NEEDED_BY_START[_s[:_GRAM]] = (*_NEEDED_BY_START.get(_s[:_GRAM], ()), _s)


def _trigrams(text: str) -> set[str]:
    """Every run of three characters in ``text``."""
    return {text[i : i + _GRAM] for i in range(len(text) - _GRAM + 1)}


def _present(text: str) -> set[str]:
    """The needed strings that are in ``text``."""
    present = {s for s in _SHORT_NEEDED if s in text}
    for start in _trigrams(text).intersection(_NEEDED_BY_START):
        present.update(s for s in _NEEDED_BY_START[start] if s in text)
    return present


# Every cue in the order ``cue_scores`` tries them, and which of them each string admits.
_FLAT: tuple[tuple[str, IndexedCue], ...] = tuple(
    (intent, indexed) for intent, cues in INDEX.items() for indexed in cues
)
_ALWAYS = frozenset(i for i, (_, indexed) in enumerate(_FLAT) if indexed.needs is None)
_CUES_NEEDING: dict[str, frozenset[int]] = {
    s: frozenset(i for i, (_, c) in enumerate(_FLAT) if c.needs is not None and s in c.needs)
    for s in _ALL_NEEDED
}


def cue_scores_fast(text: str) -> dict[str, float]:
    """``domain.replies.cues.cue_scores(text)``, skipping cues that cannot match."""
    tried = set(_ALWAYS)
    for s in _present(text):
        tried.update(_CUES_NEEDING[s])
    totals: dict[str, float] = {}
    for i in sorted(tried):  # the order cue_scores adds them in: the same float sums
        intent, indexed = _FLAT[i]
        cue = indexed.cue
        for m in cue.pattern.finditer(text):
            if cue.negatable and negated(text, m.start()):
                continue
            totals[intent] = totals.get(intent, 0.0) + cue.weight
            break
    return {intent: totals[intent] for intent in INDEX if totals.get(intent)}
