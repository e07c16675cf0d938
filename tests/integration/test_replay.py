"""Running campaigns keep replaying: histories recorded from earlier code, replayed now.

``tests/record_histories.py`` wrote them (standard, sms-first, arrangement, dispute,
promise, a portfolio, a send cancelled in flight, an approval): ``<name>.json`` with the
code of 2026-12-03, ``<name>.after-issue-15.json`` with the code that waits for a cancelled
send's answer, ``letter.json`` with the code that added the letter channel,
``approval.patched.json`` with the code that upserts the web UI's columns (balance band,
next action, approval deadline) behind ``workflow.patched``, ``approval.json`` with the
code that takes that path from its input (``web_ui_columns``: no patch marker),
``reply-reader.json`` with a reply read in the reader activity (``reader_activity``: the
shipped model's reading is in the history, so a new model never changes a replay),
``standard.history-at-first-contact.json`` with the debt's history loaded beside the
research brief at the first touch (``history_at_first_contact``; the other files load it
at the start and replay that way). A
change to a workflow that would make one of these histories take a different path
fails here: such a change needs ``workflow.patched`` (or a new
workflow type) so that campaigns already running keep their old path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from bootstrap.codec import data_converter
from bootstrap.settings import Settings
from tests.conftest import codec_settings
from workflows import ALL_WORKFLOWS

HISTORIES = {
    path.stem: path.read_text()
    for path in sorted((Path(__file__).parents[1] / "histories").glob("*.json"))
}


def test_every_scenario_was_recorded() -> None:
    assert {"standard", "sms-first", "arrangement", "dispute", "promise"} <= set(HISTORIES)
    assert any(name.startswith("portfolio") for name in HISTORIES)


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_a_recorded_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(f"replay-{name}", HISTORIES[name])
    replayer = Replayer(
        workflows=ALL_WORKFLOWS, data_converter=data_converter(Settings(**codec_settings()))
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"
