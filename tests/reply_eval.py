"""The reply classifier's evaluation: the fixed dev / held-out split and accuracy.

``replies-dev.jsonl`` is split by a hash of each reply's id: about 60% is the dev part (looked
at and tuned on), the rest is held out (never read while writing the rules). The split is a
pure function of the id, so the figures in the report reproduce:

    .venv/bin/python -m tests.reply_eval dev|holdout|fresh|train [-v]

``train`` is ``tests/fixtures/replies-train.jsonl``, an independent labelled set (en+es) the
rules may be tuned on. ``people`` and ``people-holdout`` are ``tests/fixtures/replies-people/``,
1,000 replies written by hands that never saw the rules (issue 19), split by a salted hash
of the id: a third held out, never trained or tuned on. ``-v`` lists the misclassified
replies, except for the held-out sets: their texts and per-item results are never
printed, only the summary.

    .venv/bin/python -m tests.reply_eval dev|holdout|fresh|train|people|people-holdout [-v]
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from domain.channels import Channel
from domain.replies import classify

ROOT = Path(__file__).resolve().parents[1]
LABELLED = Path("/work/shared/data/replies-dev.jsonl")
if not LABELLED.exists():
    LABELLED = ROOT.parent / "shared" / "data" / "replies-dev.jsonl"
FRESH = ROOT / "tests" / "fixtures" / "replies-fresh.jsonl"
TRAIN = ROOT / "tests" / "fixtures" / "replies-train.jsonl"
PEOPLE = ROOT / "tests" / "fixtures" / "replies-people"

DEV_SHARE = 60  # percent of ids in the dev part
SETS_OF_PEOPLE = ("people", "people-holdout")
HELD_OUT = {"holdout", "people-holdout"}


def part_of(reply_id: str) -> str:
    """``"dev"`` or ``"holdout"``: the first 8 hex digits of sha256(id), modulo 100."""
    bucket = int(hashlib.sha256(reply_id.encode()).hexdigest()[:8], 16) % 100
    return "dev" if bucket < DEV_SHARE else "holdout"


def people_part(reply_id: str) -> str:
    """``"people"`` or ``"people-holdout"``: a third of the people's set is held out, by
    sha256 of ``people:`` + id (salted, so it is not the dev file's split)."""
    bucket = int(hashlib.sha256(f"people:{reply_id}".encode()).hexdigest()[:8], 16) % 3
    return "people-holdout" if bucket == 0 else "people"


def load_people() -> list[dict[str, Any]]:
    return [row for path in sorted(PEOPLE.glob("*.jsonl")) for row in load(path)]


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def rows_of(name: str) -> list[dict[str, Any]]:
    if name == "fresh":
        return load(FRESH)
    if name == "train":
        return load(TRAIN)
    if name in SETS_OF_PEOPLE:
        return [r for r in load_people() if people_part(r["id"]) == name]
    return [r for r in load(LABELLED) if part_of(r["id"]) == name]


def _when(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass
class Score:
    total: int = 0
    intent_ok: int = 0
    dated: int = 0
    date_ok: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def intent_accuracy(self) -> float:
        return self.intent_ok / self.total if self.total else 0.0

    @property
    def date_accuracy(self) -> float:
        return self.date_ok / self.dated if self.dated else 0.0


def score(rows: list[dict[str, Any]]) -> Score:
    s = Score()
    for row in rows:
        channel = Channel(row["channel"]) if row.get("channel") in set(Channel) else None
        got = classify(row["text"], _when(row["received_at"]), channel)
        s.total += 1
        miss = []
        if got.intent.value == row["intent"]:
            s.intent_ok += 1
        else:
            miss.append(f"intent {got.intent.value} != {row['intent']}")
        if row.get("promise_date"):
            s.dated += 1
            if got.promise_date == date.fromisoformat(row["promise_date"]):
                s.date_ok += 1
            else:
                miss.append(f"date {got.promise_date} != {row['promise_date']}")
        if miss:
            s.misses.append(
                f"{row['id']}: {'; '.join(miss)} | {row['received_at']} | {row['text']}"
            )
    return s


def main(argv: list[str]) -> None:
    name = argv[0] if argv else "dev"
    known = ("dev", "holdout", "fresh", "train", *SETS_OF_PEOPLE)
    if name not in known:
        raise SystemExit(f"unknown set {name!r}: {', '.join(known)}")
    s = score(rows_of(name))
    print(
        f"{name}: intent {s.intent_ok}/{s.total} = {s.intent_accuracy:.1%}; "
        f"promise_date {s.date_ok}/{s.dated} = {s.date_accuracy:.1%}"
    )
    if name == "train" or ("-v" in argv and name not in HELD_OUT):
        print("\n".join(s.misses))


if __name__ == "__main__":
    main(sys.argv[1:])
