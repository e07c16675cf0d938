"""Playbook files: the shipped ones load, bad ones say which step and field is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from adapters.playbook_files import (
    PlaybookError,
    list_playbooks,
    load_playbook,
    playbook_json_schema,
)
from domain.channels import Channel
from domain.playbook import Playbook, StepCondition

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
SCHEMA = ROOT / "docs" / "playbook.schema.json"
TEMPLATES = {"first_notice", "reminder", "call_script", "final_notice"}


def test_shipped_playbooks_are_listed() -> None:
    assert {"standard", "gentle", "sms-first", "demo"} <= set(list_playbooks(PLAYBOOKS))


@pytest.mark.parametrize("name", list_playbooks(PLAYBOOKS))
def test_every_shipped_playbook_loads(name: str) -> None:
    playbook = load_playbook(name, search_dir=PLAYBOOKS)
    assert playbook.name == name
    for step in playbook.steps:
        assert step.template in TEMPLATES, step.id
        assert (step.fallback_template or step.template) in TEMPLATES, step.id
        # A call script read out as a text or an email makes no sense.
        if step.fallback is not None and step.fallback is not Channel.PHONE:
            assert (step.fallback_template or step.template) != "call_script", step.id
        # Consent is the law for SMS and calls: say so where the primary channel needs it.
        if step.channel is Channel.SMS:
            assert StepCondition.SMS_CONSENT in step.requires, step.id
        if step.channel is Channel.PHONE:
            assert StepCondition.VOICE_CONSENT in step.requires, step.id


def test_standard_and_demo_cadence() -> None:
    standard = load_playbook("standard", search_dir=PLAYBOOKS)
    assert [(s.day, s.channel, s.template, s.fallbacks) for s in standard.steps] == [
        # The validation notice: by letter where no email can be used, else by SMS.
        (0, Channel.EMAIL, "first_notice", [Channel.LETTER, Channel.SMS]),
        (3, Channel.SMS, "reminder", [Channel.EMAIL]),
        (7, Channel.PHONE, "call_script", [Channel.SMS]),
        (14, Channel.EMAIL, "final_notice", [Channel.SMS]),
    ]
    demo = load_playbook("demo", search_dir=PLAYBOOKS)
    assert len(demo.steps) == 5
    assert demo.steps[-1].day <= 10
    assert (demo.closing_days, demo.promise_grace_days) == (3, 3)
    gentle = load_playbook("gentle", search_dir=PLAYBOOKS)
    assert {s.channel for s in gentle.steps} == {Channel.EMAIL}
    sms_first = load_playbook("sms-first", search_dir=PLAYBOOKS)
    assert sms_first.steps[0].channel is Channel.SMS
    assert sms_first.steps[0].fallback is Channel.EMAIL


def test_load_by_path_yaml_and_json(tmp_path: Path) -> None:
    data = {
        "name": "custom",
        "steps": [{"id": "hello", "day": 0, "channel": "email", "template": "first_notice"}],
    }
    as_yaml = tmp_path / "whatever.yaml"
    as_yaml.write_text(yaml.safe_dump(data))
    as_json = tmp_path / "whatever.json"
    as_json.write_text(json.dumps(data))
    for path in (as_yaml, as_json):
        assert load_playbook(str(path), search_dir=PLAYBOOKS).name == "custom"
    # By name, JSON files in the search directory are found too.
    (tmp_path / "custom.json").write_text(json.dumps(data))
    assert load_playbook("custom", search_dir=tmp_path).steps[0].id == "hello"


def test_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(PlaybookError) as caught:
        load_playbook("nope", search_dir=PLAYBOOKS)
    message = str(caught.value)
    assert "unknown playbook 'nope'" in message
    assert "demo, gentle, sms-first, standard" in message


def test_missing_file() -> None:
    with pytest.raises(PlaybookError, match="no such file"):
        load_playbook("missing/thing.yaml", search_dir=PLAYBOOKS)


def test_name_must_match_the_file_it_was_found_by(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "name: theirs\nsteps: [{id: a, day: 0, channel: email, template: reminder}]\n"
    )
    with pytest.raises(PlaybookError) as caught:
        load_playbook("mine", search_dir=tmp_path)
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("name", "must match the file name 'mine' (got 'theirs')")
    ]


BASE_STEPS = """\
name: broken
steps:
  - {id: notice, day: 0, channel: email, template: first_notice}
  - {id: remind, day: 3, channel: sms, template: reminder, requires: [sms_consent]}
"""


@pytest.mark.parametrize(
    ("third_step", "field", "words"),
    [
        (
            "{id: call, day: 7, channel: fax, template: call_script}",
            "steps[2] (id 'call').channel",
            "Input should be 'email', 'sms', 'phone' or 'letter'",
        ),
        (
            "{id: call, day: 7, channel: phone, template: call_script, fallback: phone}",
            "steps[2] (id 'call').fallback",
            "fallback must differ from channel",
        ),
        (
            "{id: call, day: 2, channel: phone, template: call_script}",
            "steps[2] (id 'call').day",
            "step 'call' is on day 2, before the previous step (day 3)",
        ),
        (
            "{id: remind, day: 7, channel: phone, template: call_script}",
            "steps[2] (id 'remind').id",
            "step id 'remind' is used twice",
        ),
        (
            "{id: call, day: 7, channel: phone, template: call_script, retries: 3}",
            "steps[2] (id 'call').retries",
            "unknown key; allowed keys: id, day, channel",
        ),
        (
            "{id: call, day: 7, channel: phone, template: call_script, requires: [sms_consnt]}",
            "steps[2] (id 'call').requires[0]",
            "Input should be 'sms_consent'",
        ),
        (
            "{id: call, day: 7, channel: phone, template: call_script, fallback_template: x}",
            "steps[2] (id 'call').fallback_template",
            "fallback_template needs a fallback channel",
        ),
        (
            "{day: 7, channel: phone, template: call_script}",
            "steps[2].id",
            "Field required",
        ),
    ],
)
def test_bad_step_names_step_id_and_field(
    tmp_path: Path, third_step: str, field: str, words: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BASE_STEPS + f"  - {third_step}\n")
    with pytest.raises(PlaybookError) as caught:
        load_playbook(str(path), search_dir=tmp_path)
    error = caught.value
    assert [p.field for p in error.problems] == [field]
    problem = error.problems[0]
    assert words in problem.message
    assert problem.location == str(path)
    # The message as the CLI prints it names the file, the step and the field.
    assert f"{path}: {field}: " in str(error)


def test_playbook_level_problems(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: Bad Name\nsteps: []\nclosing_days: 400\nowner: me\n")
    with pytest.raises(PlaybookError) as caught:
        load_playbook(str(path), search_dir=tmp_path)
    assert sorted(p.field for p in caught.value.problems) == [
        "closing_days",
        "name",
        "owner",
        "steps",
    ]


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: p\nsteps:\n"
        "  - {id: a, day: 0, channel: pigeon, template: reminder}\n"
        "  - {id: b, day: -1, channel: email, template: Reminder}\n"
    )
    with pytest.raises(PlaybookError) as caught:
        load_playbook(str(path), search_dir=tmp_path)
    assert [p.field for p in caught.value.problems] == [
        "steps[0] (id 'a').channel",
        "steps[1] (id 'b').day",
        "steps[1] (id 'b').template",
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("name: [unclosed\n", "not valid YAML: line 2"),
        ("- just\n- a list\n", "expected a mapping"),
        ("", "expected a mapping"),
        ("name: a\nname: b\nsteps: []\n", "key 'name' is repeated"),
        (
            "name: a\nsteps:\n  - id: s\n    day: 0\n    channel: email\n    channel: sms\n"
            "    template: reminder\n",
            "key 'channel' is repeated",
        ),
    ],
)
def test_unparseable_files(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PlaybookError) as caught:
        load_playbook(str(path), search_dir=tmp_path)
    assert words in str(caught.value)


def test_list_playbooks_of_a_missing_directory(tmp_path: Path) -> None:
    assert list_playbooks(tmp_path / "nowhere") == []


def test_committed_schema_matches_the_models() -> None:
    # Regenerate with: python -c "from adapters.playbook_files import playbook_json_schema as s;
    #   open('docs/playbook.schema.json', 'w').write(s())"
    assert SCHEMA.read_text(encoding="utf-8") == playbook_json_schema()


def test_schema_describes_a_playbook() -> None:
    schema = json.loads(playbook_json_schema())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    assert schema["title"] == "Recoup playbook"
    assert set(schema["properties"]) == set(Playbook.model_fields)
    assert playbook_json_schema().endswith("}\n")


def test_a_mistyped_name_gets_the_closest_one() -> None:
    with pytest.raises(PlaybookError) as caught:
        load_playbook("standrd", search_dir=PLAYBOOKS)
    assert str(caught.value).startswith(
        "unknown playbook 'standrd'; did you mean 'standard'? (known in "
    )
    with pytest.raises(PlaybookError) as caught:
        load_playbook("zzz", search_dir=PLAYBOOKS)
    assert "did you mean" not in str(caught.value)  # nothing close: no guess
