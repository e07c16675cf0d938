"""``recoup channels``: the channel registry (``domain/channels.py``), one row per channel.

The same rows are the channels table of docs/DESIGN.md, between its ``<!-- channels -->``
markers: ``recoup channels --markdown --write docs/DESIGN.md`` regenerates it, and a unit
test fails when the two disagree.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.common import console, fail
from domain.channels import CHANNELS, ChannelSpec, TaskQueues
from domain.resilience import RetryRule

BEGIN, END = "<!-- channels -->", "<!-- /channels -->"
_BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)

HEADINGS = (
    "channel",
    "command",
    "activity",
    "task queue",
    "start to close",
    "heartbeat",
    "retry (default)",
    "permanent errors",
    "usable when",
    "quiet hours",
    "7-in-7",
    "next best action",
    "fallback (first usable, when the step names none)",
)


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    return f"{seconds // 60} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds} s"


def _retry(rule: RetryRule) -> str:
    return f"{rule.max_attempts} tries, {rule.backoff} from {rule.initial_seconds:g} s"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def row(spec: ChannelSpec) -> dict[str, str]:
    """One channel's row, as text under ``HEADINGS``."""
    cells = (
        spec.channel.value,
        spec.command.value,
        spec.activity,
        TaskQueues().for_channel(spec.channel),
        _duration(spec.start_to_close),
        _duration(spec.heartbeat),
        _retry(spec.retry),
        ", ".join(spec.permanent_errors),
        spec.consent,
        _yes(spec.quiet_hours),
        _yes(spec.call_frequency),
        _yes(spec.adaptive),
        ", else ".join(c.value for c in spec.fallback) or "-",
    )
    return dict(zip(HEADINGS, cells, strict=True))


def rows() -> list[dict[str, str]]:
    return [row(spec) for spec in CHANNELS.values()]


def markdown() -> str:
    """The registry as a Markdown table between the markers (docs/DESIGN.md's block)."""
    lines = [
        BEGIN,
        "<!-- generated from domain/channels.py: recoup channels --markdown --write docs/DESIGN.md -->",  # noqa: E501
        "",
        "| " + " | ".join(HEADINGS) + " |",
        "|" + "---|" * len(HEADINGS),
    ]
    for cells in rows():
        lines.append("| " + " | ".join(_cell(cells[h], h) for h in HEADINGS) + " |")
    lines += ["", END]
    return "\n".join(lines)


def _cell(text: str, heading: str) -> str:
    code = heading in {"channel", "command", "activity", "task queue"}
    text = text.replace("|", "\\|")
    return f"`{text}`" if code else text


def documented(text: str) -> str | None:
    """The channels block of a document (markers included); None when it has none."""
    found = _BLOCK.search(text)
    return found.group(0) if found else None


def with_table(text: str) -> str:
    """``text`` with its channels block replaced by the registry's."""
    if documented(text) is None:
        raise ValueError(f"no {BEGIN} … {END} block")
    return _BLOCK.sub(lambda _: markdown(), text, count=1)


def channels(
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the Markdown table (docs/DESIGN.md's).")
    ] = False,
    write: Annotated[
        Path | None,
        typer.Option(
            "--write",
            help="With --markdown: replace the table between the channels markers of this file.",
        ),
    ] = None,
) -> None:
    """The contact channels: command, activity, queue, timeouts, retries, compliance."""
    if write is not None:
        if not as_markdown:
            raise typer.BadParameter("--write needs --markdown", param_hint="--write")
        try:
            write.write_text(with_table(write.read_text(encoding="utf-8")), encoding="utf-8")
        except (OSError, ValueError) as exc:
            fail(f"{write}: {exc}")
        console.print(f"wrote the channels table to {write}")
        return
    if as_json:
        typer.echo(json.dumps(rows(), indent=2))
        return
    if as_markdown:
        typer.echo(markdown())
        return
    # A column per channel: four channels fit a terminal, thirteen columns would not.
    listed = rows()
    table = Table("", *(r["channel"] for r in listed), title="channels", show_lines=True)
    for heading in HEADINGS[1:]:
        # One error type a line: they are long names.
        table.add_row(
            heading,
            *(
                r[heading].replace(", ", "\n") if heading == "permanent errors" else r[heading]
                for r in listed
            ),
        )
    console.print(table)
