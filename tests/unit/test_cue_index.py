"""``cue_scores_fast`` is ``cue_scores``: the prefilter skips only cues that cannot match."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.replies.cue_index import _ALL_NEEDED, INDEX, cue_scores_fast
from domain.replies.cues import CUES, cue_scores
from domain.replies.text import normalize
from tests.reply_eval import FRESH, LABELLED, TRAIN, load, load_more, load_people


def test_the_same_scores_on_every_labelled_reply() -> None:
    rows = load_people() + load_more() + load(TRAIN) + load(LABELLED) + load(FRESH)
    texts = [normalize(r["text"]) for r in rows]
    assert [cue_scores_fast(t) for t in texts] == [cue_scores(t) for t in texts]


# Words the cues look for, and glue: generated replies full of near-misses.
WORDS = st.sampled_from(
    [*sorted(_ALL_NEEDED)[:400], "i", "will", "pay", "not", "no", "my", "you", "the", ",", "."]
)


@settings(max_examples=400, deadline=None)
@given(words=st.lists(WORDS, min_size=1, max_size=14), joiner=st.sampled_from([" ", "", "  "]))
def test_the_same_scores_on_generated_replies(words: list[str], joiner: str) -> None:
    text = normalize(joiner.join(words))
    assert cue_scores_fast(text) == cue_scores(text)


def test_nearly_every_cue_is_indexed() -> None:
    indexed = [c for cues in INDEX.values() for c in cues]
    assert len(indexed) == sum(len(cues) for cues in CUES.values())
    assert sum(c.needs is None for c in indexed) <= 3
