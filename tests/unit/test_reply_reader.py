"""The combined reply reader (``adapters.reply_reader``): the shipped model under the rules.

- the precedence, as a property: whatever the model's probabilities, a reply in which the
  rules or the stop-family words find a stop is read as ``stop`` (or ``attorney``, which
  ends all contact); the model may raise a reply to ``stop``;
- the figures of ``python -m tests.reply_eval`` on the sets never trained on, held to
  floors (issue 19's goal is 0.95 on the people's held-out third; see docs/agents.md);
- the weights were fitted from the labelled data as it is now (``tools.train_reply_model``);
- the reading is deterministic, and a batch reads as its replies one by one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.reply_model import LABELS, shipped, sparse_buckets, sparse_features
from adapters.reply_reader import read_texts
from bootstrap.settings import Settings
from domain.channels import Channel
from domain.replies import ReplyIntent
from domain.replies.combined import ReplyText, combine, signals_of
from domain.replies.stop_words import is_stop_request
from tests.reply_eval import read_combined, rows_of, score
from tools.train_reply_model import training_rows

AT = datetime(2026, 5, 6, 15, 0, tzinfo=UTC)
STOPS = [
    "STOP",
    "S T O P",
    "s.t.o.p",
    "STOPPP!!!",
    "sotp",
    "\U0001f6d1",
    "baja por favor",
    "I revoke any consent to be texted",
    "do not text or call me again",
    "dejen de mandarme mensajes",
    "ya no me manden nada",
    "please cease all communication with me regarding this account",
    "opt me out",
    "stop x fa",
    "Stahp",
    "I am revoking my consent for you to text me",
    "dejen d molestar",
    "bajame de la lista",
    "no me vuelvan a enviar nada",
    "Notice to cease communication. Do not call my cell, my job, or my family.",
]
# Asking to be reached another way is a callback, not a stop (the labelled sets' convention).
CALLBACKS = [
    "stop texting and just call me, i'd rather talk",
    "no me manden mensajes, mejor llamenme al 555-0190",
    "dont text this #, call my cell 555-0176 instead",
]


def test_asking_to_be_reached_another_way_is_no_stop_word() -> None:
    assert not any(is_stop_request(text) for text in CALLBACKS)


FILLERS = st.sampled_from(
    [
        "",
        "I'll pay $50 friday",
        "not my debt",
        "can we do a payment plan",
        "call me tomorrow",
        "lost my job",
        "thanks",
        "already paid this",
        "wrong number",
        "¿me pueden llamar?",
    ]
)
PROBABILITIES = st.lists(
    st.floats(min_value=0.0, max_value=1.0), min_size=len(LABELS), max_size=len(LABELS)
).filter(lambda ps: sum(ps) > 0)


@settings(max_examples=300, deadline=None)
@given(stop=st.sampled_from(STOPS), before=FILLERS, after=FILLERS, ps=PROBABILITIES)
def test_the_model_never_lowers_a_stop_the_rules_found(
    stop: str, before: str, after: str, ps: list[float]
) -> None:
    text = " ".join(part for part in (before, stop, after) if part)
    s = signals_of(text, AT, Channel.SMS)
    assert s.stop_words or s.law in {ReplyIntent.STOP, ReplyIntent.ATTORNEY}, text
    total = sum(ps)
    combined = combine(s, {label: p / total for label, p in zip(LABELS, ps, strict=True)})
    assert combined.reading.intent in {ReplyIntent.STOP, ReplyIntent.ATTORNEY}, text
    assert combined.by_rules or combined.reading.intent is ReplyIntent.ATTORNEY


@settings(max_examples=100, deadline=None)
@given(text=FILLERS, ps=PROBABILITIES)
def test_the_model_may_raise_a_reply_to_stop(text: str, ps: list[float]) -> None:
    s = signals_of(text or "ok", AT, Channel.SMS)
    ps = [*ps]
    ps[LABELS.index(ReplyIntent.STOP)] = 10 * sum(ps)
    total = sum(ps)
    combined = combine(s, {label: p / total for label, p in zip(LABELS, ps, strict=True)})
    assert combined.reading.intent in {ReplyIntent.STOP, ReplyIntent.ATTORNEY}


def test_every_stop_in_the_open_sets_is_read_as_a_stop() -> None:
    """A missed stop is a message after consent was withdrawn: none in what it was built on."""
    rows = [r for name in ("dev", "train", "people", "more") for r in rows_of(name)]
    stops = [r for r in rows if r["intent"] == "stop"]
    read = read_combined(stops)
    missed = [r["id"] for r, got in zip(stops, read, strict=True) if got.intent.value != "stop"]
    assert not missed
    # ... and the stop-family words alone find nearly all of them.
    found = sum(is_stop_request(r["text"]) for r in stops)
    assert found >= 0.95 * len(stops)


# Floors on the sets never trained on. The goal is 0.95 on the people's held-out
# third; what the reader reaches is in docs/agents.md. A change that reads worse fails here.
FLOORS = {
    "people-holdout": (0.92, 0.95),
    "more-holdout": (0.93, 0.95),
    "holdout": (0.90, 0.90),
    "fresh": (0.93, 0.93),
    # Never trained or tuned on (read at 0.905 and 34 of 34 dates when it was written).
    "fourth": (0.88, 0.95),
}


def test_accuracy_on_the_sets_never_trained_on() -> None:
    for name, (intent_floor, date_floor) in FLOORS.items():
        s = score(rows_of(name), read_combined)
        assert s.intent_accuracy >= intent_floor, (name, s.intent_ok, s.total)
        assert s.date_accuracy >= date_floor, (name, s.date_ok, s.dated)
        if name.endswith("-holdout"):
            # What the default review threshold leaves to the reader is read right 95 % of
            # the time or more; it sends few replies to a person.
            reviewed, rest = s.below(Settings().reply_review_below)
            assert rest >= 0.95 and reviewed <= 0.08, (name, reviewed, rest)


def test_the_confidence_is_calibrated_where_it_is_high() -> None:
    s = score(rows_of("people-holdout") + rows_of("holdout") + rows_of("fresh"), read_combined)
    sure = [ok for conf, ok in s.sureness if conf >= 0.9]
    unsure = [ok for conf, ok in s.sureness if conf < 0.6]
    assert len(sure) >= 0.6 * s.total
    assert sum(sure) / len(sure) >= 0.95
    assert sum(unsure) / max(1, len(unsure)) < sum(sure) / len(sure)


def test_the_shipped_weights_are_fitted_from_the_data_as_it_is() -> None:
    rows = training_rows()
    digest = hashlib.sha256(
        json.dumps([[r["id"], r["text"], r["intent"]] for r in rows]).encode()
    ).hexdigest()
    assert shipped().version.endswith(digest[:12]), "run: python -m tools.train_reply_model"
    held_out = ("holdout", "people-holdout", "more-holdout", "fresh", "fourth")
    evaluated = {r["id"] for name in held_out for r in rows_of(name)}
    assert not evaluated & {r["id"] for r in rows}


def test_reading_is_deterministic_and_a_batch_reads_as_one_by_one() -> None:
    rows = rows_of("fresh")[:40]
    texts = [ReplyText(r["text"], datetime.fromisoformat(r["received_at"])) for r in rows]
    batch = read_texts(texts)
    assert batch == read_texts(texts)
    assert batch == [read_texts([t])[0] for t in texts]
    probabilities = shipped().probabilities(
        [signals_of(t.text, t.received_at, None) for t in texts]
    )
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=8))
def test_a_batch_has_the_n_grams_of_each_reply_alone(norms: list[str]) -> None:
    """Hashed at once, no n-gram spans two replies, and none is lost or counted twice."""
    batch = sparse_features(norms)
    for row, norm in enumerate(norms):
        alone = sparse_buckets(norm)
        assert np.array_equal(batch.of(row), alone)
        assert batch.sizes[row] == len(alone) == len(np.unique(alone))


def test_a_written_refusal_citing_the_fdcpa_is_read_as_a_cease() -> None:
    letters = [
        "Pursuant to 15 U.S.C. 1692c(c), I refuse to pay this debt. Cease all communication.",
        "Por medio de la presente les exijo que cesen toda comunicación conmigo.",
    ]
    for text in letters:
        [read] = read_texts([ReplyText(text, AT, Channel.EMAIL)])
        assert read.reading.intent in {ReplyIntent.STOP, ReplyIntent.ATTORNEY}, text
        assert read.cease or read.reading.intent is ReplyIntent.ATTORNEY, text
    [plain] = read_texts([ReplyText("STOP", AT, Channel.SMS)])
    assert plain.reading.intent is ReplyIntent.STOP and not plain.cease


def test_loading_the_model_leaves_the_process_logging_alone() -> None:
    """wordllama configures root logging at INFO when imported; the reader undoes it, or
    every command that reads a reply would print each HTTP request it makes."""
    probe = (
        "import logging\n"
        "from adapters.reply_model import Embedder\n"
        "Embedder().embed(['stop'])\n"
        "root = logging.getLogger()\n"
        "print(root.level, len(root.handlers))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == [str(logging.WARNING), "0"]
    assert done.stderr == ""
