"""How well :mod:`domain.replies.promised` reads promised dates and amounts, set by set.

For each labelled ``promise_to_pay`` reply with a ``promise_date``, compares
``find_date(main_text(text), local date of received_at)`` with the label; the same for
``promise_amount`` and ``find_amount``. ``--old`` scores :mod:`domain.replies.dates` instead
(the first edition, the baseline). It also counts the replies where ``find_dates`` names two
dates or more, on ``payment_plan`` and on ``promise_to_pay`` rows (a plan's hint; not with
``--old``, which has no ``find_dates``). Amounts are scored on the promises with a
``promise_amount``; the ``+x/y`` figures count what is read where the label has none.

    .venv/bin/python -m tests.promised_eval [-v] [--old] [SET ...]

Sets: ``dev``, ``train``, ``fresh``, ``people`` (looked at, tuned on) and ``holdout``,
``people-holdout`` (held out). ``-v`` lists the misses of the sets that may be looked at;
for the held-out sets only the summary is ever printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from domain.replies import dates, promised
from domain.replies.text import main_text
from tests.reply_eval import HELD_OUT, rows_of

OPEN_SETS = ("dev", "train", "fresh", "people", "more")
SETS = (*OPEN_SETS, "holdout", "people-holdout", "more-holdout")

DateReader = Callable[[str, date], date | None]
AmountReader = Callable[[str], Decimal | None]


def local_day(received_at: str) -> date:
    """The sender's local date: ``received_at`` in its own offset (naive means UTC)."""
    at = datetime.fromisoformat(received_at)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).date()


@dataclass
class Tally:
    dated: int = 0
    date_ok: int = 0
    undated: int = 0  # promises labelled without a date ...
    date_invented: int = 0  # ... where a date was read all the same
    priced: int = 0
    amount_ok: int = 0
    unpriced: int = 0
    amount_invented: int = 0
    plans: int = 0
    plans_multi: int = 0  # payment_plan rows where find_dates names >= 2 dates
    promises: int = 0
    promises_multi: int = 0
    misses: list[str] = field(default_factory=list)


def _pct(ok: int, total: int) -> str:
    return f"{ok}/{total} = {ok / total:.1%}" if total else "0/0"


def tally(rows: list[dict[str, Any]], old: bool = False) -> Tally:
    find_date: DateReader = dates.find_date if old else promised.find_date
    find_amount: AmountReader = dates.find_amount if old else promised.find_amount
    t = Tally()
    for row in rows:
        own = main_text(row["text"])
        today = local_day(row["received_at"])
        if row["intent"] == "payment_plan":
            t.plans += 1
            t.plans_multi += len(promised.find_dates(own, today)) >= 2
        if row["intent"] != "promise_to_pay":
            continue
        t.promises += 1
        t.promises_multi += len(promised.find_dates(own, today)) >= 2
        got_date = find_date(own, today)
        if row["promise_date"]:
            t.dated += 1
            want = date.fromisoformat(row["promise_date"])
            if got_date == want:
                t.date_ok += 1
            else:
                t.misses.append(
                    f"{row['id']} | {row['received_at']} ({today:%a}) | date want {want} "
                    f"got {got_date} | {own!r}"
                )
        else:
            t.undated += 1
            t.date_invented += got_date is not None
        got_amount = find_amount(own)
        if row["promise_amount"] is not None:
            t.priced += 1
            want_amount = Decimal(str(row["promise_amount"]))
            if got_amount == want_amount:
                t.amount_ok += 1
            else:
                t.misses.append(
                    f"{row['id']} | amount want {want_amount} got {got_amount} | {own!r}"
                )
        else:
            t.unpriced += 1
            t.amount_invented += got_amount is not None
    return t


def report(name: str, t: Tally, old: bool = False) -> str:
    line = (
        f"{name:15} dates {_pct(t.date_ok, t.dated):17} "
        f"(+{t.date_invented}/{t.undated} read where the label has none); "
        f"amounts {_pct(t.amount_ok, t.priced):17} "
        f"(+{t.amount_invented}/{t.unpriced})"
    )
    if old:  # the first edition has no find_dates
        return line
    return (
        f"{line}; >=2 dates: payment_plan {t.plans_multi}/{t.plans}, "
        f"promise_to_pay {t.promises_multi}/{t.promises}"
    )


def main(argv: list[str]) -> None:
    verbose = "-v" in argv
    old = "--old" in argv
    names = [a for a in argv if not a.startswith("-")] or list(SETS)
    unknown = [n for n in names if n not in SETS]
    if unknown:
        raise SystemExit(f"unknown set(s) {unknown}: {', '.join(SETS)}")
    print(f"reader: {'domain.replies.dates (old)' if old else 'domain.replies.promised'}")
    plans = plans_multi = promises = promises_multi = 0
    for name in names:
        t = tally(rows_of(name), old)
        print(report(name, t, old))
        if name not in HELD_OUT:
            plans, plans_multi = plans + t.plans, plans_multi + t.plans_multi
            promises, promises_multi = promises + t.promises, promises_multi + t.promises_multi
            if verbose and t.misses:
                print("  " + "\n  ".join(t.misses))
    if not old and (plans or promises):
        print(
            f"open sets, find_dates names >= 2 dates: payment_plan {_pct(plans_multi, plans)}, "
            f"promise_to_pay {_pct(promises_multi, promises)}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
