"""The people's reply sets (``tests/fixtures/replies-people/``, ``replies-more/``,
``replies-fourth/``) are what issue 19 asks of them.

Each at least 1,000 labelled replies across all ten labels, SMS and email, English and
Spanish, each well formed: a known label, a received time with its offset, a promised
date and amount only on a promise; ids unique across both; a third of each held out by a
salted hash of the id (``tests.reply_eval.people_part`` / ``more_part``), the same third on
every machine.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.channels import Channel
from domain.replies.reader import ReplyIntent
from tests.reply_eval import load_more, load_people, more_part, people_part, rows_of

SETS: dict[str, tuple[list[dict[str, Any]], Callable[[str], str]]] = {
    "people": (load_people(), people_part),
    "more": (load_more(), more_part),
}
# The fourth round is all held out (never trained or tuned on): its rows only.
ROWS = {**{name: rows for name, (rows, _) in SETS.items()}, "fourth": rows_of("fourth")}
KEYS = [
    "id",
    "channel",
    "text",
    "received_at",
    "intent",
    "promise_date",
    "promise_amount",
    "language",
]


@pytest.mark.parametrize("name", SETS)
def test_the_set_is_large_and_covers_every_label_channel_and_language(name: str) -> None:
    rows = SETS[name][0]
    assert len(rows) >= 1000, f"{len(rows)} replies in {name}"
    labels = Counter(r["intent"] for r in rows)
    assert set(labels) == {i.value for i in ReplyIntent}
    assert min(labels.values()) >= 60, labels
    languages = Counter(r["language"] for r in rows)
    assert set(languages) == {"en", "es"} and languages["es"] >= 150, languages
    channels = Counter(r["channel"] for r in rows)
    assert set(channels) == {"sms", "email"} and channels["email"] >= 150, channels
    dated = [r for r in rows if r["promise_date"]]
    assert len(dated) >= 80


@pytest.mark.parametrize("name", ROWS)
def test_every_reply_is_well_formed(name: str) -> None:
    problems: list[str] = []
    for row in ROWS[name]:
        where = row.get("id", "?")
        if list(row) != KEYS:
            problems.append(f"{where}: keys {list(row)}")
            continue
        if row["channel"] not in {c.value for c in (Channel.SMS, Channel.EMAIL)}:
            problems.append(f"{where}: channel {row['channel']!r}")
        if row["intent"] not in {i.value for i in ReplyIntent}:
            problems.append(f"{where}: intent {row['intent']!r}")
        if row["language"] not in {"en", "es"}:
            problems.append(f"{where}: language {row['language']!r}")
        if not row["text"].strip():
            problems.append(f"{where}: empty text")
        if datetime.fromisoformat(row["received_at"]).utcoffset() is None:
            problems.append(f"{where}: received_at without an offset")
        promise = row["intent"] == ReplyIntent.PROMISE_TO_PAY.value
        if not promise and (row["promise_date"] or row["promise_amount"]):
            problems.append(f"{where}: a promised date or amount on {row['intent']}")
        if row["promise_date"]:
            local = datetime.fromisoformat(row["received_at"]).date()
            if date.fromisoformat(row["promise_date"]) < local:
                problems.append(f"{where}: promised date before the reply")
        amount = row["promise_amount"]
        if amount is not None and not (re.fullmatch(r"\d+\.\d\d", amount) and Decimal(amount)):
            problems.append(f"{where}: promise_amount {amount!r}")
    assert problems == []


def test_ids_are_unique_across_the_sets() -> None:
    ids = [r["id"] for rows in ROWS.values() for r in rows]
    assert len(ROWS["fourth"]) == 1200
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", SETS)
def test_a_third_is_held_out(name: str) -> None:
    rows, part = SETS[name]
    held = [r for r in rows if part(r["id"]) == f"{name}-holdout"]
    assert 0.28 <= len(held) / len(rows) <= 0.38
    # Every label is in the held-out part, so its figures say something per label.
    assert {r["intent"] for r in held} == {i.value for i in ReplyIntent}
