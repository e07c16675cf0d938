"""``recoup compliance check`` as a compliance officer runs it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli_support import recoup

CONVERSATION_THEN_CALL = {
    "account": {
        "timezones": ["America/New_York"],
        "state": "NY",
        "sms_consent": True,
        "voice_consent": True,
        "opted_out": [],
    },
    "history": [{"at": "2026-03-10T10:00:00-04:00", "channel": "phone", "outcome": "conversation"}],
    "proposed": {"at": "2026-03-16T10:00:00-04:00", "channel": "phone", "to": "+14155550101"},
}


COMPLIANCE_DOC = (Path(__file__).resolve().parents[2] / "docs" / "compliance.md").read_text()


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}


async def test_check_prints_the_decision_as_json(tmp_path: Path) -> None:
    path = tmp_path / "check.json"
    path.write_text(json.dumps(CONVERSATION_THEN_CALL))
    result = await recoup("compliance", "check", str(path), env=env())
    assert result.code == 0, result.err
    # Day 7 after the conversation (day 1 = Mar 10): calls again from 08:00 local on Mar 17.
    assert json.loads(result.out) == {
        "allowed": False,
        "reason": "post_conversation_7day",
        "reasons": ["post_conversation_7day"],
        "earliest_allowed": "2026-03-17T12:00:00Z",
    }


async def test_batch_answers_each_line_with_its_id_and_reports_bad_ones(tmp_path: Path) -> None:
    permanent = {
        **CONVERSATION_THEN_CALL,
        "id": "cease",
        "account": {**CONVERSATION_THEN_CALL["account"], "cease": True},  # type: ignore[dict-item]
    }
    allowed = {
        "id": 7,
        "account": {"timezones": ["America/Chicago"]},
        "proposed": {"at": "2026-06-01T12:00:00-05:00", "channel": "email", "to": "a@b.co"},
    }
    broken = {
        "id": "broken",
        "account": {},
        "history": [{"at": "yesterday", "channel": "phone", "outcome": "conversation"}],
        "proposed": {"at": "2026-06-01T12:00:00Z", "channel": "fax"},
    }
    path = tmp_path / "batch.json"
    path.write_text(json.dumps([permanent, allowed, broken]))
    result = await recoup("compliance", "check", "--batch", str(path), env=env())
    assert result.code == 3  # some answered, some rejected
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [line["id"] for line in lines] == ["cease", 7, "broken"]
    assert lines[0]["reasons"] == ["cease", "post_conversation_7day"]
    assert lines[0]["earliest_allowed"] is None
    assert lines[1] == {
        "id": 7,
        "allowed": True,
        "reason": "ok",
        "reasons": ["ok"],
        "earliest_allowed": "2026-06-01T17:00:00Z",
    }
    assert "history[0].at" in lines[2]["error"]
    assert "proposed.channel" in lines[2]["error"]


async def test_malformed_input_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    bad = {**CONVERSATION_THEN_CALL, "account": {"opted_out": ["sms"], "ceese": True}}
    path.write_text(json.dumps(bad))
    result = await recoup("compliance", "check", str(path), env=env())
    assert result.code == 2
    assert "account.opted_out" in result.err
    assert "account.ceese" in result.err  # a misspelt hold is an error, never ignored

    not_json = tmp_path / "broken.json"
    not_json.write_text("{nope")
    result = await recoup("compliance", "check", str(not_json), env=env())
    assert result.code == 2 and "not JSON" in result.err


async def test_the_readme_example_prints_what_the_readme_says(tmp_path: Path) -> None:
    section = COMPLIANCE_DOC[COMPLIANCE_DOC.index("**Check a contact yourself.**") :]
    example = section.split("```json\n", 1)[1].split("```", 1)[0]
    printed = section.split("$ recoup compliance check contact.json\n", 1)[1].split("\n", 1)[0]
    path = tmp_path / "contact.json"
    path.write_text(example)
    result = await recoup("compliance", "check", str(path), env=env())
    assert result.code == 0, result.err
    assert json.loads(result.out) == json.loads(printed)
