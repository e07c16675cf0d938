"""The reply classifier's evaluation: the fixed dev / held-out split and accuracy.

``replies-dev.jsonl`` is split by a hash of each reply's id: about 60% is the dev part (looked
at and tuned on), the rest is held out (never read while writing the rules). The split is a
pure function of the id, so the figures in the report reproduce:

    .venv/bin/python -m tests.reply_eval dev|holdout|fresh|train [-v]

``train`` is ``tests/fixtures/replies-train.jsonl``, an independent labelled set (en+es) the
rules may be tuned on. ``people`` and ``people-holdout`` are ``tests/fixtures/replies-people/``,
1,000 replies written by hands that never saw the rules (issue 19), split by a salted hash
of the id: a third held out, never trained or tuned on. ``more`` and ``more-holdout`` are
``tests/fixtures/replies-more/``: 3,600 more by nine other hands, split the same way.
``fourth`` is ``tests/fixtures/replies-fourth/``: 1,200 by three further hands, never
trained or tuned on at all: how the shipped reader meets replies nobody fitted it to.
``-v`` lists the misclassified replies, except for the held-out sets: their texts and
per-item results are never printed, only the summary.

    .venv/bin/python -m tests.reply_eval SET [--rules] [--json] [-v]

reads SET (dev|holdout|fresh|train|people|people-holdout|more|more-holdout|fourth|all) with the
combined reader (``adapters.reply_reader``: the shipped model under the rules'
precedence), or with the rules alone (``--rules``: ``domain.replies.classify``, what
runs that began before the reader activity still use). It prints accuracy per label,
promised-date and amount accuracy, the confusion matrix, a reliability table (is a
confidence of 0.8 right 80 % of the time?) and what a review threshold would send to a
person.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from domain.channels import Channel
from domain.replies import ReplyIntent, ReplyReading, classify
from domain.replies.combined import ReplyText

ROOT = Path(__file__).resolve().parents[1]
LABELLED = Path("/work/shared/data/replies-dev.jsonl")
if not LABELLED.exists():
    LABELLED = ROOT.parent / "shared" / "data" / "replies-dev.jsonl"
FRESH = ROOT / "tests" / "fixtures" / "replies-fresh.jsonl"
TRAIN = ROOT / "tests" / "fixtures" / "replies-train.jsonl"
PEOPLE = ROOT / "tests" / "fixtures" / "replies-people"
MORE = ROOT / "tests" / "fixtures" / "replies-more"
FOURTH = ROOT / "tests" / "fixtures" / "replies-fourth"

DEV_SHARE = 60  # percent of ids in the dev part
SETS_OF_PEOPLE = ("people", "people-holdout")
SETS_OF_MORE = ("more", "more-holdout")
HELD_OUT = {"holdout", "people-holdout", "more-holdout", "fourth"}


def part_of(reply_id: str) -> str:
    """``"dev"`` or ``"holdout"``: the first 8 hex digits of sha256(id), modulo 100."""
    bucket = int(hashlib.sha256(reply_id.encode()).hexdigest()[:8], 16) % 100
    return "dev" if bucket < DEV_SHARE else "holdout"


def people_part(reply_id: str) -> str:
    """``"people"`` or ``"people-holdout"``: a third of the people's set is held out, by
    sha256 of ``people:`` + id (salted, so it is not the dev file's split)."""
    bucket = int(hashlib.sha256(f"people:{reply_id}".encode()).hexdigest()[:8], 16) % 3
    return "people-holdout" if bucket == 0 else "people"


def more_part(reply_id: str) -> str:
    """``"more"`` or ``"more-holdout"``: a third of the second people's set is held out, by
    sha256 of ``more:`` + id."""
    bucket = int(hashlib.sha256(f"more:{reply_id}".encode()).hexdigest()[:8], 16) % 3
    return "more-holdout" if bucket == 0 else "more"


def load_people() -> list[dict[str, Any]]:
    return [row for path in sorted(PEOPLE.glob("*.jsonl")) for row in load(path)]


def load_more() -> list[dict[str, Any]]:
    return [row for path in sorted(MORE.glob("*.jsonl")) for row in load(path)]


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def rows_of(name: str) -> list[dict[str, Any]]:
    if name == "fresh":
        return load(FRESH)
    if name == "train":
        return load(TRAIN)
    if name in SETS_OF_PEOPLE:
        return [r for r in load_people() if people_part(r["id"]) == name]
    if name in SETS_OF_MORE:
        return [r for r in load_more() if more_part(r["id"]) == name]
    if name == "fourth":
        return [row for path in sorted(FOURTH.glob("*.jsonl")) for row in load(path)]
    return [r for r in load(LABELLED) if part_of(r["id"]) == name]


def when(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# Confidence bins of the reliability table, and the review thresholds shown.
BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.01)
THRESHOLDS = (0.4, 0.5, 0.6, 0.7)

Reader = Callable[[list[dict[str, Any]]], list[ReplyReading]]


def _channel(row: dict[str, Any]) -> Channel | None:
    return Channel(row["channel"]) if row.get("channel") in set(Channel) else None


def read_by_rules(rows: list[dict[str, Any]]) -> list[ReplyReading]:
    return [classify(row["text"], when(row["received_at"]), _channel(row)) for row in rows]


def read_combined(rows: list[dict[str, Any]]) -> list[ReplyReading]:
    from adapters.reply_reader import read_texts

    texts = [ReplyText(row["text"], when(row["received_at"]), _channel(row)) for row in rows]
    return [read.reading for read in read_texts(texts)]


@dataclass
class Score:
    total: int = 0
    intent_ok: int = 0
    dated: int = 0
    date_ok: int = 0
    amounts: int = 0
    amount_ok: int = 0
    misses: list[str] = field(default_factory=list)
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    # (confidence, right) per reply: the reliability table and the review thresholds.
    sureness: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def intent_accuracy(self) -> float:
        return self.intent_ok / self.total if self.total else 0.0

    @property
    def date_accuracy(self) -> float:
        return self.date_ok / self.dated if self.dated else 0.0

    def per_label(self) -> dict[str, tuple[int, int]]:
        """Per true label: (read right, total)."""
        out: dict[str, tuple[int, int]] = {}
        for label in ReplyIntent:
            total = sum(n for (truth, _), n in self.confusion.items() if truth == label.value)
            right = self.confusion[(label.value, label.value)]
            out[label.value] = (right, total)
        return out

    def reliability(self) -> list[tuple[float, float, int, float]]:
        """Per confidence bin: (low, high, replies, share right)."""
        rows = []
        for low, high in itertools.pairwise(BINS):
            inside = [ok for conf, ok in self.sureness if low <= conf < high]
            if inside:
                rows.append((low, min(high, 1.0), len(inside), sum(inside) / len(inside)))
        return rows

    def below(self, threshold: float) -> tuple[float, float]:
        """Share sent to review below ``threshold``, and accuracy on the rest."""
        kept = [ok for conf, ok in self.sureness if conf >= threshold]
        share = 1 - len(kept) / len(self.sureness) if self.sureness else 0.0
        return share, (sum(kept) / len(kept) if kept else 0.0)


def score(rows: list[dict[str, Any]], reader: Reader = read_by_rules) -> Score:
    s = Score()
    for row, got in zip(rows, reader(rows), strict=True):
        s.total += 1
        miss = []
        right = got.intent.value == row["intent"]
        s.confusion[(row["intent"], got.intent.value)] += 1
        s.sureness.append((got.confidence, right))
        if right:
            s.intent_ok += 1
        else:
            miss.append(f"intent {got.intent.value} != {row['intent']}")
        if row.get("promise_date"):
            s.dated += 1
            if got.promise_date == date.fromisoformat(row["promise_date"]):
                s.date_ok += 1
            else:
                miss.append(f"date {got.promise_date} != {row['promise_date']}")
        if row.get("promise_amount"):
            s.amounts += 1
            if got.promise_amount is not None and f"{got.promise_amount:.2f}" == (
                f"{float(row['promise_amount']):.2f}"
            ):
                s.amount_ok += 1
        if miss:
            s.misses.append(
                f"{row['id']}: {'; '.join(miss)} | {row['received_at']} | {row['text']}"
            )
    return s


def summary(name: str, s: Score) -> dict[str, Any]:
    return {
        "set": name,
        "replies": s.total,
        "intent": round(s.intent_accuracy, 4),
        "intent_right": s.intent_ok,
        "promise_date": round(s.date_accuracy, 4),
        "dated": s.dated,
        "date_right": s.date_ok,
        "amount_right": s.amount_ok,
        "amounts": s.amounts,
        "per_label": {k: {"right": r, "total": t} for k, (r, t) in s.per_label().items()},
        "reliability": [
            {"from": lo, "to": hi, "replies": n, "right": round(acc, 3)}
            for lo, hi, n, acc in s.reliability()
        ],
        "review": {
            str(t): {"to_review": round(sh, 3), "accuracy_of_rest": round(acc, 4)}
            for t in THRESHOLDS
            for sh, acc in [s.below(t)]
        },
    }


def _short(label: str) -> str:
    return "".join(part[0] for part in label.split("_")) if "_" in label else label[:4]


def print_report(name: str, s: Score) -> None:
    print(
        f"{name}: intent {s.intent_ok}/{s.total} = {s.intent_accuracy:.1%}; "
        f"promise_date {s.date_ok}/{s.dated} = {s.date_accuracy:.1%}; "
        f"amount {s.amount_ok}/{s.amounts}"
    )
    labels = [label.value for label in ReplyIntent]
    print("\nper label (true label: right/total)")
    for label, (right, total) in s.per_label().items():
        if total:
            print(f"  {label:<15} {right:>4}/{total:<4} {right / total:6.1%}")
    print("\nconfusion (rows: true, columns: read)")
    print(" " * 16 + "".join(f"{_short(lab):>6}" for lab in labels))
    for truth in labels:
        counts = [s.confusion[(truth, got)] for got in labels]
        if any(counts):
            print(f"  {truth:<14}" + "".join(f"{n or '.':>6}" for n in counts))
    print("\nreliability (confidence: replies, share right)")
    for low, high, n, acc in s.reliability():
        print(f"  [{low:.2f}, {high:.2f})  {n:>5}  {acc:6.1%}")
    print("\nreview below a threshold: share sent to a person, accuracy of the rest")
    for t in THRESHOLDS:
        share, acc = s.below(t)
        print(f"  < {t:.2f}: {share:6.1%} reviewed, {acc:6.1%} right")


def main(argv: list[str]) -> None:
    args = [a for a in argv if not a.startswith("-")]
    name = args[0] if args else "dev"
    known = ("dev", "holdout", "fresh", "train", *SETS_OF_PEOPLE, *SETS_OF_MORE, "fourth")
    if name not in (*known, "all"):
        raise SystemExit(f"unknown set {name!r}: {', '.join(known)}, all")
    reader = read_by_rules if "--rules" in argv else read_combined
    for each in known if name == "all" else (name,):
        s = score(rows_of(each), reader)
        if "--json" in argv:
            print(json.dumps(summary(each, s)))
            continue
        print_report(each, s)
        if "-v" in argv and each not in HELD_OUT:
            print("\n".join(s.misses))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
