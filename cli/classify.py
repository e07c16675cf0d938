"""``recoup classify``: what a debtor's reply means, read offline and deterministically.

One reply (``--text``) or a JSON Lines file (``--in``), each read into
``{intent, promise_date, promise_amount, confidence, runner_up}``; ``--evaluate`` scores a
labelled file. ``--reader combined`` (the default) is what campaigns use: the shipped model
under the rules' precedence; ``--reader rules`` the first edition's rules alone.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich import box
from rich.table import Table

from cli.common import EXIT_INPUT, EXIT_PARTIAL, console, err_console, fail
from domain.channels import Channel
from domain.replies import ReplyIntent, ReplyReading
from domain.replies.combined import ReplyText
from domain.replies.reading import ReadReply
from service.replies import Reader, read

# Lines read per batch: the model embeds a batch at once, and a bad line is still reported
# within a batch of where it was found.
BATCH = 256


def _when(value: str) -> datetime:
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def reading_json(read_reply: ReadReply) -> dict[str, Any]:
    reading = read_reply.reading
    return {
        "intent": reading.intent.value,
        "promise_date": reading.promise_date.isoformat() if reading.promise_date else None,
        "promise_amount": (
            f"{reading.promise_amount:.2f}" if reading.promise_amount is not None else None
        ),
        "confidence": round(reading.confidence, 2),
        "runner_up": read_reply.runner_up.value if read_reply.runner_up else None,
    }


class BadLine(ValueError):
    """A line that cannot be read: ``field`` names what is wrong (None: the whole line)."""

    def __init__(self, field: str | None, why: str) -> None:
        super().__init__(f"field {field!r}: {why}" if field else why)
        self.field = field


def _row(line: str) -> tuple[dict[str, Any], ReplyText]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadLine(None, f"not JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise BadLine(None, "not a JSON object")
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadLine("text", "missing or empty")
    received = row.get("received_at")
    if not isinstance(received, str):
        raise BadLine("received_at", "missing")
    try:
        at = _when(received)
    except ValueError:
        raise BadLine("received_at", f"not an ISO 8601 date-time: {received!r}") from None
    channel = None
    if row.get("channel") is not None:
        try:
            channel = Channel(row["channel"])
        except ValueError:
            raise BadLine("channel", f"not one of sms, email, phone: {row['channel']!r}") from None
    return row, ReplyText(text, at, channel)


_SHORT = {
    "pay_now": "pay",
    "promise_to_pay": "ptp",
    "payment_plan": "plan",
    "dispute": "disp",
    "stop": "stop",
    "wrong_person": "wrong",
    "hardship": "hard",
    "attorney": "atty",
    "callback": "call",
    "other": "other",
}


def _short(label: str) -> str:
    return _SHORT.get(label, label)


class _Evaluation:
    def __init__(self) -> None:
        self.confusion: Counter[tuple[str, str]] = Counter()
        self.dated = 0
        self.dates_right = 0

    def add(self, row: dict[str, Any], reading: ReplyReading) -> None:
        expected = row.get("intent")
        if isinstance(expected, str) and expected:
            self.confusion[(expected, reading.intent.value)] += 1
        promised = row.get("promise_date")
        if isinstance(promised, str) and promised:
            self.dated += 1
            try:
                right = reading.promise_date == date.fromisoformat(promised)
            except ValueError:
                right = False
            self.dates_right += right

    def print(self) -> None:
        total = sum(self.confusion.values())
        right = sum(n for (want, got), n in self.confusion.items() if want == got)
        intent = f"{right}/{total} = {right / total:.1%}" if total else "- (no labelled intent)"
        dated = (
            f"{self.dates_right}/{self.dated} = {self.dates_right / self.dated:.1%}"
            if self.dated
            else "- (no labelled promise_date)"
        )
        console.print(f"intent accuracy: {intent}")
        console.print(f"promise_date accuracy: {dated}")
        labels = [i.value for i in ReplyIntent]
        labels += sorted({w for w, _ in self.confusion} - set(labels))
        table = Table(
            title="confusion matrix (rows: labelled, columns: classified)",
            caption=", ".join(f"{_short(label)}={label}" for label in labels),
            box=box.SIMPLE,
            padding=(0, 1),
        )
        table.add_column("", no_wrap=True)
        for label in labels:
            table.add_column(_short(label), justify="right", no_wrap=True)
        for want in labels:
            if not any(self.confusion[(want, got)] for got in labels):
                continue
            cells = [self.confusion[(want, got)] for got in labels]
            table.add_row(
                _short(want),
                *[
                    (f"[bold]{n}[/]" if g == want else str(n)) if n else "."
                    for g, n in zip(labels, cells, strict=True)
                ],
            )
        console.print(table)


def _lines(source: IO[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(source, 1):
        if line.strip():
            yield number, line


def _classify_file(source: Path, out: Path | None, evaluate: bool, reader: Reader) -> None:
    try:
        lines = source.open(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror}", EXIT_INPUT)
    writer: IO[str] | None = None
    if out is not None:
        try:
            writer = out.open("w", encoding="utf-8")
        except OSError as exc:
            lines.close()
            fail(f"cannot write {out}: {exc.strerror}", EXIT_INPUT)
    scores = _Evaluation()
    bad = 0
    batch: list[tuple[dict[str, Any], ReplyText]] = []

    def flush() -> None:
        readings = read([text for _, text in batch], reader)
        records = []
        for (row, _), got in zip(batch, readings, strict=True):
            records.append(
                json.dumps({"id": row.get("id"), **reading_json(got)}, ensure_ascii=False)
            )
            scores.add(row, got.reading)
        batch.clear()
        if writer is not None:
            writer.write("".join(f"{r}\n" for r in records))
            writer.flush()
        elif not evaluate:
            typer.echo("\n".join(records))

    try:
        for number, line in _lines(lines):
            try:
                batch.append(_row(line))
            except BadLine as exc:
                bad += 1
                err_console.print(f"{source}: line {number}: {exc}", markup=False, highlight=False)
                continue
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
    finally:
        lines.close()
        if writer is not None:
            writer.close()
    if evaluate:
        scores.print()
    if bad:
        err_console.print(f"{bad} bad line(s) skipped", markup=False)
        raise typer.Exit(EXIT_PARTIAL)


def classify(
    text: Annotated[
        str | None, typer.Option("--text", help="One reply's text (needs --received-at).")
    ] = None,
    received_at: Annotated[
        str | None,
        typer.Option(
            "--received-at",
            help="When the reply arrived, ISO 8601 with the sender's UTC offset, e.g. "
            "2026-06-30T23:30:00-05:00 (dates resolve against that local day). "
            "Without an offset it is taken as UTC.",
        ),
    ] = None,
    channel: Annotated[
        Channel | None, typer.Option("--channel", help="The reply's channel (sms|email).")
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--in",
            help="JSON Lines: one reply a line with id, channel, text, received_at "
            "(other fields ignored).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write one JSON line per reply (id and the four fields) here; "
            "default: standard output.",
        ),
    ] = None,
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate",
            help="With --in: compare with each line's intent and promise_date and print "
            "accuracy and a confusion matrix.",
        ),
    ] = False,
    reader: Annotated[
        Reader,
        typer.Option(
            "--reader",
            help="combined: the shipped model under the rules' precedence (what campaigns "
            "use); rules: the first edition's rules alone.",
        ),
    ] = Reader.COMBINED,
) -> None:
    """Read debtor replies offline: intent, promised date and amount, confidence.

    Prints {intent, promise_date, promise_amount, confidence, runner_up} as JSON. Intents:
    pay_now, promise_to_pay, payment_plan, dispute, stop, wrong_person, hardship, attorney,
    callback, other. The confidence is calibrated (0.9 is right about nine times in ten);
    runner_up is the reader's second choice. With --in, a bad line is reported on stderr and
    skipped (exit code 3).
    """
    if (text is None) == (source is None):
        fail("give either --text (with --received-at) or --in FILE.jsonl", EXIT_INPUT)
    if source is not None:
        if received_at is not None or channel is not None:
            fail(
                "--received-at and --channel go with --text; --in lines carry their own", EXIT_INPUT
            )
        _classify_file(source, out, evaluate, reader)
        return
    if evaluate:
        fail("--evaluate needs --in (a labelled file)", EXIT_INPUT)
    if received_at is None:
        fail("--text needs --received-at (ISO 8601, e.g. 2026-06-30T23:30:00-05:00)", EXIT_INPUT)
    try:
        at = _when(received_at)
    except ValueError:
        fail(f"--received-at: not an ISO 8601 date-time: {received_at!r}", EXIT_INPUT)
    assert text is not None
    if not text.strip():
        fail("--text is empty", EXIT_INPUT)
    (got,) = read([ReplyText(text, at, channel)], reader)
    record = json.dumps(reading_json(got), ensure_ascii=False)
    if out is not None:
        out.write_text(record + "\n", encoding="utf-8")
    typer.echo(record)
