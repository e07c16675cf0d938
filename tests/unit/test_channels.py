"""The channel registry: one row per channel, read everywhere, documented from itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import channels as channels_cli
from cli.main import app
from domain import names
from domain.channels import CHANNELS, Channel, TaskQueues, by_activity, spec
from domain.messages import CommandType
from domain.resilience import RetryRules

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "DESIGN.md"


def test_every_channel_has_one_row_with_its_own_command_activity_and_queue() -> None:
    assert list(CHANNELS) == list(Channel)
    rows = [spec(c) for c in Channel]
    assert all(r.channel is c for r, c in zip(rows, Channel, strict=True))
    for field in ("command", "activity", "queue"):
        values = [getattr(r, field) for r in rows]
        assert len(set(values)) == len(values), field
    assert {r.command for r in rows} == set(CommandType) - {CommandType.ESCALATE}
    assert by_activity() == {r.activity: r.channel for r in rows}
    queues = TaskQueues.with_suffix("-x")
    for r in rows:
        assert queues.for_channel(r.channel) == getattr(TaskQueues(), r.queue) + "-x"
        # Every channel has its configurable retry rule, defaulting to the row's.
        assert RetryRules().for_channel(r.channel) == r.retry
        assert r.heartbeat < r.start_to_close
        assert set(r.permanent_errors) >= {names.OPTED_OUT, names.INVALID_ADDRESS}
        assert r.channel not in r.fallback


def test_the_letter_row() -> None:
    letter = spec(Channel.LETTER)
    assert (letter.command, letter.activity) == (CommandType.SEND_LETTER, names.SEND_LETTER)
    assert TaskQueues().for_channel(Channel.LETTER) == TaskQueues().letter == "letter-tasks"
    assert (letter.quiet_hours, letter.call_frequency, letter.adaptive) == (False, False, False)
    assert letter.agent == "letter-agent"
    # Calls are the only channel in 7-in-7.
    assert [c for c in Channel if spec(c).call_frequency] == [Channel.PHONE]


def test_the_design_doc_table_is_the_registrys() -> None:
    text = DESIGN.read_text(encoding="utf-8")
    assert channels_cli.documented(text) == channels_cli.markdown(), (
        "docs/DESIGN.md's channels table is stale: "
        "run `recoup channels --markdown --write docs/DESIGN.md`"
    )


def test_write_replaces_a_stale_table(tmp_path: Path) -> None:
    doc = tmp_path / "DESIGN.md"
    stale = channels_cli.markdown().replace("`letter-tasks`", "`letters`")
    doc.write_text(f"# Design\n\n{stale}\n\nAfter.\n", encoding="utf-8")
    assert channels_cli.documented(doc.read_text()) != channels_cli.markdown()
    result = CliRunner().invoke(app, ["channels", "--markdown", "--write", str(doc)])
    assert result.exit_code == 0, result.output
    text = doc.read_text()
    assert channels_cli.documented(text) == channels_cli.markdown()
    assert text.startswith("# Design\n\n") and text.endswith("\n\nAfter.\n")
    # A document without the markers is left alone, and said so.
    bare = tmp_path / "bare.md"
    bare.write_text("nothing here\n")
    result = CliRunner().invoke(app, ["channels", "--markdown", "--write", str(bare)])
    assert result.exit_code != 0 and "no <!-- channels -->" in result.output
    assert bare.read_text() == "nothing here\n"


@pytest.mark.parametrize("flag", ["--json", "--markdown", None])
def test_the_cli_lists_every_channel(flag: str | None) -> None:
    result = CliRunner().invoke(app, ["channels", *([flag] if flag else [])])
    assert result.exit_code == 0, result.output
    if flag == "--json":
        listed = json.loads(result.output)
        assert [r["channel"] for r in listed] == [c.value for c in Channel]
        letter = listed[-1]
        assert (letter["command"], letter["task queue"], letter["quiet hours"]) == (
            "SEND_LETTER",
            "letter-tasks",
            "no",
        )
    else:
        for c in Channel:
            assert spec(c).command.value in result.output
