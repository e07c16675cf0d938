"""The published message schemas and the AsyncAPI document agree with the code and the seed.

- ``docs/schemas/*.schema.json`` are what ``recoup schemas`` generates from the models now;
- every message the seed's schemas accept is accepted by our schemas and parses with our
  models (hypothesis-jsonschema generates them), and what our schemas accept parses too;
- every message Recoup builds is valid under the seed's schema and ours, null-free;
- ``docs/asyncapi.yaml`` resolves, covers every topic, stream, exchange, queue and message
  type, and routes each message type where ``domain/events.py`` does.

Formats are asserted: the seed declares ``uuid`` and ``date-time`` and means them, and our
models parse those fields as UUID and datetime. (Draft 7 does not define ``uuid``, and
jsonschema checks ``date-time`` only when rfc3339-validator is installed, which it is not
here, so this module brings its own checker for both rather than pass silently.)
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker
from jsonschema.protocols import Validator
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from adapters.sinks.base import OutboundMessage
from adapters.sinks.config import RabbitConfig
from adapters.sinks.rabbitmq import TASK_QUEUES, RabbitSink
from cli import schemas as schemas_cli
from cli.schemas import PUBLISHED, schema_texts, stale_schemas, write_schemas
from domain.agent_messages import (
    AgentIdentity,
    AgentMessage,
    Attachment,
    MessageMode,
    Routing,
    route_target,
)
from domain.events import (
    SCHEMA_OF,
    STREAM,
    TOPIC,
    EventType,
    ExportContext,
    ExportRecord,
    Origin,
    RecordKind,
    Stream,
    Topic,
    agent_message_record,
    command_record,
    event_record,
    interaction_record,
    message_id,
    priority_for,
    trace_id_for,
)
from domain.messages import (
    BackoffStrategy,
    Command,
    CommandType,
    EventMessage,
    Performance,
    RetryPolicySpec,
)
from domain.signing import verify

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCHEMAS = DOCS / "schemas"
ASYNCAPI = DOCS / "asyncapi.yaml"


def _json(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


SEED_COMMAND = _json(SCHEMAS / "seed" / "agent-command.schema.json")
SEED_EVENT = _json(SCHEMAS / "seed" / "agent-event.schema.json")
OUR = {p.kind: _json(SCHEMAS / p.filename) for p in PUBLISHED}


# --- format checking -------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _is_date_time(value: object) -> bool:
    """RFC 3339 ``date-time`` (what JSON Schema's format means), leap seconds included."""
    if not isinstance(value, str):
        return True
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not 1 <= month <= 12:
        return False
    days = calendar.monthrange(year, month)[1]  # year 0000 included
    offset_ok = match[7] is None or (int(match[7]) <= 23 and int(match[8]) <= 59)
    return 1 <= day <= days and hour <= 23 and minute <= 59 and second <= 60 and offset_ok


def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or _UUID.fullmatch(value) is not None


FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(_is_date_time)
FORMATS.checks("uuid")(_is_uuid)

SEED_VALIDATORS: dict[RecordKind, Validator] = {
    RecordKind.COMMAND: Draft7Validator(SEED_COMMAND, format_checker=FORMATS),
    RecordKind.EVENT: Draft7Validator(SEED_EVENT, format_checker=FORMATS),
}
OUR_VALIDATORS: dict[RecordKind, Validator] = {
    kind: Draft202012Validator(schema, format_checker=FORMATS) for kind, schema in OUR.items()
}
MODELS: dict[RecordKind, type[BaseModel]] = {p.kind: p.model for p in PUBLISHED}


def _errors(validator: Validator, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def test_format_checker_asserts_the_seed_formats() -> None:
    good: dict[str, Any] = {
        "messageId": "6f1c1f0e-8b1a-4c1a-9e6b-0d2b8f9a1c11",
        "messageType": "EVENT",
        "timestamp": "2024-02-29T23:59:60.5+05:30",
        "source": "x",
        "event": {"type": "t", "status": "s"},
    }
    seed = SEED_VALIDATORS[RecordKind.EVENT]
    assert _errors(seed, good) == []
    for field, bad in [
        ("messageId", "not-a-uuid"),
        ("timestamp", "2023-02-29T00:00:00Z"),
        ("timestamp", "2024-01-15 10:00:00Z"),
        ("timestamp", "2024-01-15T10:00:00"),
        ("timestamp", "2024-01-15"),
    ]:
        assert not seed.is_valid({**good, field: bad}), (field, bad)
        assert not OUR_VALIDATORS[RecordKind.EVENT].is_valid({**good, field: bad}), (field, bad)


# --- the committed schema files ----------------------------------------------------------


def test_committed_schemas_are_what_the_models_generate() -> None:
    # Regenerate with: .venv/bin/python -m cli.main schemas  (or `recoup schemas`)
    for filename, text in schema_texts().items():
        assert (SCHEMAS / filename).read_text(encoding="utf-8") == text, filename
    assert stale_schemas(SCHEMAS) == []


@pytest.mark.parametrize("published", PUBLISHED, ids=lambda p: p.name)
def test_published_schema_is_described_and_named_by_dataschema(published: Any) -> None:
    schema = OUR[published.kind]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:recoup:schema:{SCHEMA_OF[published.kind]}"
    assert schema["title"] and schema["description"]
    assert schema_texts()[published.filename].endswith("}\n")


def test_seed_schemas_are_draft_7_schemas() -> None:
    for schema in (SEED_COMMAND, SEED_EVENT):
        Draft7Validator.check_schema(schema)
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_schemas_command_writes_and_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(schemas_cli.app, ["--out", str(tmp_path), "--check"])
    assert result.exit_code == 1
    assert "command-message.schema.json" in result.output

    result = runner.invoke(schemas_cli.app, ["--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(schema_texts())

    assert runner.invoke(schemas_cli.app, ["--out", str(tmp_path), "--check"]).exit_code == 0
    stale = tmp_path / "event-message.schema.json"
    stale.write_text(stale.read_text(encoding="utf-8").replace("EVENT", "EVENTS"))
    result = runner.invoke(schemas_cli.app, ["--out", str(tmp_path), "--check"])
    assert result.exit_code == 1
    assert "event-message.schema.json" in result.output
    assert "command-message" not in result.output

    assert runner.invoke(schemas_cli.app, ["--out", str(SCHEMAS), "--check"]).exit_code == 0


def test_write_schemas_is_deterministic(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in write_schemas(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in write_schemas(tmp_path / "b")}
    assert first == second
    assert set(first) == {
        "command-message.schema.json",
        "event-message.schema.json",
        "agent-message.schema.json",
    }


# --- generated instances: seed ⊆ ours ⊆ models -------------------------------------------


# hypothesis-jsonschema knows date-time but not uuid (a 2019-09 format): without this it
# would generate arbitrary text where the seed asks for a UUID.
GENERATED_FORMATS = {"uuid": st.uuids().map(str)}
# hypothesis-jsonschema draws objects slowly (~0.05 s each here): 300 seed messages per
# schema, the point of the exercise, and 100 of each of ours.
EXAMPLES = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEWER_EXAMPLES = settings(EXAMPLES, max_examples=100)


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """Our schema with its ``$defs`` inlined (hypothesis-jsonschema resolves refs with the
    old RefResolver, which cannot use a ``urn:`` ``$id`` as base). Our models are not
    recursive, so this ends."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = _inline_refs(defs[node["$ref"].removeprefix("#/$defs/")], defs)
            rest = {k: _inline_refs(v, defs) for k, v in node.items() if k != "$ref"}
            return {**target, **rest}
        skip = {"$defs", "$id", "$schema"}
        return {k: _inline_refs(v, defs) for k, v in node.items() if k not in skip}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _ours_for_generation(kind: RecordKind) -> dict[str, Any]:
    inlined: dict[str, Any] = _inline_refs(OUR[kind], OUR[kind].get("$defs", {}))
    return inlined


def _parses(kind: RecordKind, instance: dict[str, Any]) -> BaseModel:
    """Parse as a consumer does: from the JSON text; and from Python objects, the same."""
    model = MODELS[kind]
    # Both must parse; they need not give equal objects: for ``performance: {"x": null}``
    # the JSON parser picks Performance (and drops the null on writing) where the Python
    # one keeps a plain dict.
    model.model_validate(instance)
    # Seed messages by their wire names only (``from_wire``); the envelope has no aliases.
    parse = getattr(model, "from_wire", model.model_validate_json)
    parsed: BaseModel = parse(json.dumps(instance))
    return parsed


def _dump(message: BaseModel) -> dict[str, Any]:
    return message.model_dump(mode="json", by_alias=True, exclude_none=True)


def _seed_instance_is_ours(kind: RecordKind, instance: dict[str, Any]) -> None:
    assert _errors(SEED_VALIDATORS[kind], instance) == []  # the generator keeps to the seed
    assert _errors(OUR_VALIDATORS[kind], instance) == [], json.dumps(instance)
    parsed = _parses(kind, instance)
    # What a consumer re-publishes after parsing is still a seed message.
    wire = _dump(parsed)
    assert _errors(SEED_VALIDATORS[kind], wire) == [], json.dumps(wire)


@EXAMPLES
@given(instance=from_schema(SEED_COMMAND, custom_formats=GENERATED_FORMATS))
def test_every_seed_command_is_a_command_message(instance: dict[str, Any]) -> None:
    _seed_instance_is_ours(RecordKind.COMMAND, instance)


@EXAMPLES
@given(instance=from_schema(SEED_EVENT, custom_formats=GENERATED_FORMATS))
def test_every_seed_event_is_an_event_message(instance: dict[str, Any]) -> None:
    _seed_instance_is_ours(RecordKind.EVENT, instance)


@FEWER_EXAMPLES
@given(
    instance=from_schema(_ours_for_generation(RecordKind.COMMAND), custom_formats=GENERATED_FORMATS)
)
def test_what_our_command_schema_accepts_parses(instance: dict[str, Any]) -> None:
    assert _errors(OUR_VALIDATORS[RecordKind.COMMAND], instance) == []
    _parses(RecordKind.COMMAND, instance)


@FEWER_EXAMPLES
@given(
    instance=from_schema(_ours_for_generation(RecordKind.EVENT), custom_formats=GENERATED_FORMATS)
)
def test_what_our_event_schema_accepts_parses(instance: dict[str, Any]) -> None:
    assert _errors(OUR_VALIDATORS[RecordKind.EVENT], instance) == []
    _parses(RecordKind.EVENT, instance)


@FEWER_EXAMPLES
@given(
    instance=from_schema(
        _ours_for_generation(RecordKind.AGENT_MESSAGE), custom_formats=GENERATED_FORMATS
    )
)
def test_what_our_agent_message_schema_accepts_parses(instance: dict[str, Any]) -> None:
    assert _errors(OUR_VALIDATORS[RecordKind.AGENT_MESSAGE], instance) == []
    _parses(RecordKind.AGENT_MESSAGE, instance)


# Messages the seed's schema (formats asserted) and ours accept but the models reject.
# Found by reading the models; hypothesis-jsonschema does not generate them (it draws
# property names at random, years 1-9999 and seconds 00-59). Strict: when a model is
# fixed, the xfail fails, and the case moves to the passing tests.
_SEED_EVENT: dict[str, Any] = {
    "messageId": "6f1c1f0e-8b1a-4c1a-9e6b-0d2b8f9a1c11",
    "messageType": "EVENT",
    "timestamp": "2024-01-15T10:00:00Z",
    "source": "other-producer",
    "event": {"type": "CustomerInteractionEvent", "status": "sent"},
}
_DATETIME = pytest.mark.xfail(
    strict=True,
    raises=ValidationError,
    reason="valid RFC 3339, but a Python datetime cannot hold it",
)
# Extra properties named like our fields in snake_case: a consumer parses by the wire
# names only (``from_wire``), so they stay extras.
NAMED_LIKE_FIELDS = [
    {**_SEED_EVENT, "event": {**_SEED_EVENT["event"], "campaign_id": 42}},
    {**_SEED_EVENT, "correlation": {"trace_id": ["not", "a", "string"]}},
]
KNOWN_DISAGREEMENTS = [
    pytest.param(
        {**_SEED_EVENT, "timestamp": "2016-12-31T23:59:60Z"}, id="leap second", marks=_DATETIME
    ),
    pytest.param(
        {**_SEED_EVENT, "timestamp": "0000-01-01T00:00:00Z"}, id="year 0000", marks=_DATETIME
    ),
]


@pytest.mark.parametrize("instance", KNOWN_DISAGREEMENTS)
def test_known_disagreements(instance: dict[str, Any]) -> None:
    assert _errors(SEED_VALIDATORS[RecordKind.EVENT], instance) == []
    assert _errors(OUR_VALIDATORS[RecordKind.EVENT], instance) == []
    EventMessage.from_wire(json.dumps(instance))


@pytest.mark.parametrize("instance", NAMED_LIKE_FIELDS)
def test_extras_named_like_fields_are_read_as_extras(instance: dict[str, Any]) -> None:
    assert _errors(SEED_VALIDATORS[RecordKind.EVENT], instance) == []
    assert _errors(OUR_VALIDATORS[RecordKind.EVENT], instance) == []
    parsed = EventMessage.from_wire(json.dumps(instance))
    assert parsed.wire() == instance


# --- what Recoup emits ---------------------------------------------------------------------

AT = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
ORIGIN = Origin(
    tenant_id="acme",
    campaign_id="spring-2024",
    customer_id="A-1",
    workflow_id="account/acme/A-1",
    agent_id="campaign-workflow",
    trace_id=trace_id_for("account/acme/A-1"),
)
# An agent's own event (health, breaker): about no campaign and no customer.
AGENT_ORIGIN = Origin(tenant_id="acme", agent_id="email-agent")
TARGET = {
    CommandType.SEND_EMAIL: "email-agent",
    CommandType.SEND_SMS: "sms-agent",
    CommandType.MAKE_CALL: "phone-agent",
    CommandType.SEND_LETTER: "letter-agent",
    CommandType.ESCALATE: "escalation-agent",
}
# Recoup's own command types, which the seed's schema (its ``type`` enum) does not list.
NOT_IN_SEED = {CommandType.SEND_LETTER}
ROUTES: dict[Routing, tuple[str, MessageMode]] = {
    "direct": ("account/acme/A-1", MessageMode.SYNC),
    "role": ("sms", MessageMode.ASYNC),
    "broadcast": ("all", MessageMode.FIRE_AND_FORGET),
    "topic": ("customer-context", MessageMode.STREAM),
}


def _event(kind: EventType, n: int = 0) -> ExportRecord:
    agentish = kind in {EventType.AGENT_STATUS, EventType.BREAKER_CHANGE}
    return event_record(
        AGENT_ORIGIN if agentish else ORIGIN,
        message_id("run-1", "event", str(n)),
        kind,
        "open" if kind is EventType.BREAKER_CHANGE else "active",
        AT,
        metadata={"stepId": "day-1", "channel": "email", "amount": "120.00"},
        performance=(
            Performance(response_time=12.5, memory_usage=1e8, cpu_usage=0.2) if agentish else None
        ),
    )


def _command(kind: CommandType, full: bool = True) -> ExportRecord:
    extras: dict[str, Any] = {}
    if full:
        extras = {
            "priority": priority_for(2),
            "scheduled_for": AT,
            "context": {"template": "first_notice", "stepId": "day-1"},
            "retry_policy": RetryPolicySpec(
                max_retries=3, backoff_strategy=BackoffStrategy.EXPONENTIAL
            ),
        }
    command = Command(type=kind, campaign_id="spring-2024", customer_id="A-1", **extras)
    return command_record(
        ORIGIN,
        message_id("run-1", "command", kind.value, str(full)),
        command,
        TARGET[kind],
        AT,
        parent_message_id=message_id("run-1", "event", "0") if full else None,
    )


def _agent_message(routing: Routing) -> ExportRecord:
    target, mode = ROUTES[routing]
    message = AgentMessage(
        id=message_id("run-1", "agent", routing),
        type="request" if mode is MessageMode.SYNC else "notification",
        from_agent=AgentIdentity(agent_id="phone-agent", role="phone"),
        to_agent=(AgentIdentity(agent_id="sms-agent", role="sms") if routing == "direct" else None),
        to=route_target(routing, target),
        routing=routing,
        mode=mode,
        action="task_handoff",
        priority="high",
        tenant_id="acme",
        campaign_id="spring-2024",
        customer_id="A-1",
        conversation_id="account/acme/A-1",
        content="Two calls went unanswered; please send the reminder by SMS.",
        attachments=[Attachment(name="call-log", uri="s3://recoup/acme/A-1/calls.json")],
        created_at=AT,
        requires_response=mode is MessageMode.SYNC,
    )
    return agent_message_record(ORIGIN.model_copy(update={"agent_id": "phone-agent"}), message)


def _interaction() -> ExportRecord:
    context = ExportContext(origin=ORIGIN, step_id="day-1", command_id=message_id("c"))
    return interaction_record(
        context, "attempt-1", "email", "delivered", AT, provider_ref="msg-1", response_ms=85.0
    )


RECORDS: list[ExportRecord] = [
    *(_event(kind, n) for n, kind in enumerate(EventType)),
    *(_command(kind) for kind in CommandType),
    *(_command(kind, full=False) for kind in CommandType),
    *(_agent_message(routing) for routing in ROUTES),
    _interaction(),
]


def _nulls(node: Any, at: str = "") -> list[str]:
    if node is None:
        return [at or "(root)"]
    if isinstance(node, dict):
        return [n for k, v in node.items() for n in _nulls(v, f"{at}/{k}")]
    if isinstance(node, list):
        return [n for i, v in enumerate(node) for n in _nulls(v, f"{at}/{i}")]
    return []


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{r.kind.value}-{r.type}")
def test_every_record_recoup_builds_is_valid_everywhere(record: ExportRecord) -> None:
    body = record.body
    assert _nulls(body) == []
    if record.kind in SEED_VALIDATORS:
        seed_errors = _errors(SEED_VALIDATORS[record.kind], body)
        if record.kind is RecordKind.COMMAND and CommandType(record.type) in NOT_IN_SEED:
            # Only its type is not the seed's; every other field keeps to the seed.
            assert [e.partition(":")[0] for e in seed_errors] == ["command/type"], seed_errors
        else:
            assert seed_errors == []
    assert _errors(OUR_VALIDATORS[record.kind], body) == []
    # It parses back to itself.
    model = MODELS[record.kind]
    assert _dump(model.model_validate_json(json.dumps(body))) == body
    # The CloudEvents attributes name its schema and its id.
    attrs = record.cloudevent()
    assert attrs["dataschema"] == OUR[record.kind]["$id"]
    assert attrs["id"] == record.message_id == body.get("messageId", body.get("id"))


def test_builders_drop_nulls_inside_metadata() -> None:
    record = event_record(
        ORIGIN, message_id("n"), EventType.PAYMENT, "received", AT, {"paidAt": None}
    )
    assert _nulls(record.body) == []


# --- the AsyncAPI document -------------------------------------------------------------------

DOC: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
COMPONENTS = DOC["components"]
# The RabbitMQ topology adapters/sinks/rabbitmq.py declares, named by the sink itself
# (default prefix), so the document cannot drift from it.
_RABBIT = RabbitSink(RabbitConfig())
EXCHANGES = {
    _RABBIT.events_exchange: "topic",
    _RABBIT.commands_exchange: "direct",
    _RABBIT.announcements_exchange: "fanout",
    _RABBIT.dead_letter_exchange: "fanout",
}
QUEUES = {_RABBIT.queue_name(q) for q in TASK_QUEUES.values()} | {
    _RABBIT.all_events_queue,
    _RABBIT.dead_letter_queue,
}


def _pointer(document: Any, pointer: str) -> Any:
    node = document
    for part in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _refs(node: Any, at: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield at, value
            else:
                yield from _refs(value, f"{at}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _refs(value, f"{at}/{i}")


def _resolve(ref: str, base: Path = ASYNCAPI, document: Any = DOC) -> Any:
    where, _, pointer = ref.partition("#")
    if where:
        path = (base.parent / where).resolve()
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return _pointer(document, pointer)


def _message_type(message: dict[str, Any]) -> tuple[RecordKind, str]:
    """What a message of the document carries: its kind and its event or command type."""
    payload = message["payload"]
    if "$ref" in payload:
        assert payload["$ref"] == "./schemas/agent-message.schema.json"
        return RecordKind.AGENT_MESSAGE, "*"
    base, narrowed = payload["allOf"]
    kind = {
        "./schemas/event-message.schema.json": RecordKind.EVENT,
        "./schemas/command-message.schema.json": RecordKind.COMMAND,
    }[base["$ref"]]
    field = "event" if kind is RecordKind.EVENT else "command"
    return kind, narrowed["properties"][field]["properties"]["type"]["const"]


MESSAGES = {name: _message_type(message) for name, message in COMPONENTS["messages"].items()}


def _channels(protocol: str) -> dict[str, dict[str, Any]]:
    return {
        name: channel
        for name, channel in DOC["channels"].items()
        if protocol in channel.get("bindings", {})
    }


def _carried(channel: dict[str, Any]) -> set[tuple[RecordKind, str]]:
    return {MESSAGES[_resolve(m["$ref"])["name"]] for m in channel["messages"].values()}


def _representative(kind: RecordKind, type: str) -> ExportRecord:
    if kind is RecordKind.EVENT:
        return _event(EventType(type))
    if kind is RecordKind.COMMAND:
        return _command(CommandType(type))
    return _agent_message("direct")


def test_asyncapi_is_version_3() -> None:
    assert DOC["asyncapi"].startswith("3.0")
    assert set(DOC["servers"]) == {"kafka", "rabbitmq", "redis"}
    for server in DOC["servers"].values():
        assert server["security"], server["host"]


def test_every_ref_in_the_asyncapi_document_resolves() -> None:
    refs = list(_refs(DOC))
    assert refs
    for at, ref in refs:
        try:
            target = _resolve(ref)
        except (KeyError, IndexError, OSError) as exc:
            raise AssertionError(f"{at}: $ref {ref!r} does not resolve ({exc!r})") from exc
        assert target is not None, (at, ref)
    external = {ref.partition("#")[0] for _, ref in refs if not ref.startswith("#")}
    assert external == {f"./schemas/{p.filename}" for p in PUBLISHED}


def test_every_operation_receives_messages_of_its_own_channel() -> None:
    channels = set(DOC["channels"])
    covered = set()
    for name, operation in DOC["operations"].items():
        assert operation["action"] == "receive", name
        channel_ref = operation["channel"]["$ref"]
        channel = channel_ref.removeprefix("#/channels/")
        assert channel in channels, name
        covered.add(channel)
        for message in operation.get("messages", []):
            assert message["$ref"].startswith(f"{channel_ref}/messages/"), (name, message)
    assert covered == channels


def test_every_topic_stream_exchange_and_queue_has_a_channel() -> None:
    topics = {c["bindings"]["kafka"]["topic"] for c in _channels("kafka").values()}
    assert topics == {t.value for t in Topic}
    for channel in _channels("kafka").values():
        assert channel["address"] == channel["bindings"]["kafka"]["topic"]
    streams = {c["address"] for c in _channels("redis").values()}
    assert streams == {s.value for s in Stream}
    amqp = [c["bindings"]["amqp"] for c in _channels("amqp").values()]
    exchanges = {b["exchange"]["name"]: b["exchange"]["type"] for b in amqp if "exchange" in b}
    assert exchanges == EXCHANGES
    assert {b["queue"]["name"] for b in amqp if "queue" in b} == QUEUES
    assert all(b.get("exchange", b.get("queue", {})).get("durable") for b in amqp)


def test_every_event_and_command_type_is_a_message() -> None:
    events = {t for kind, t in MESSAGES.values() if kind is RecordKind.EVENT}
    commands = [t for kind, t in MESSAGES.values() if kind is RecordKind.COMMAND]
    assert events == {t.value for t in EventType}
    assert sorted(commands) == sorted(t.value for t in CommandType)
    for t in EventType:
        assert MESSAGES[t.value] == (RecordKind.EVENT, t.value)  # named as the EventType
    assert (RecordKind.AGENT_MESSAGE, "*") in MESSAGES.values()


def test_topic_and_stream_of_each_message_are_those_of_the_code() -> None:
    kafka = {
        name: Topic(channel["bindings"]["kafka"]["topic"])
        for name, channel in _channels("kafka").items()
    }
    redis = {name: Stream(channel["address"]) for name, channel in _channels("redis").items()}
    for carried in MESSAGES.values():
        on_topics = [kafka[n] for n in kafka if carried in _carried(DOC["channels"][n])]
        on_streams = [redis[n] for n in redis if carried in _carried(DOC["channels"][n])]
        record = _representative(*carried)
        assert on_topics == [record.topic], carried
        assert on_streams == [record.stream], carried
    # ... which for events is domain.events.TOPIC and STREAM (customer-context by default).
    for t in EventType:
        assert _event(t).topic is TOPIC[t]
        assert _event(t).stream is STREAM.get(t, Stream.CUSTOMER_CONTEXT)


def test_the_routing_table_in_the_description_is_that_of_the_code() -> None:
    rows = {}
    for line in DOC["info"]["description"].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in {t.value for t in EventType}:
            rows[EventType(cells[0])] = (cells[1], cells[3])
    assert rows == {
        t: (TOPIC[t].value, STREAM.get(t, Stream.CUSTOMER_CONTEXT).value) for t in EventType
    }


def test_rabbitmq_channels_carry_what_the_routing_says() -> None:
    by_exchange = {
        c["bindings"]["amqp"]["exchange"]["name"]: _carried(c)
        for c in _channels("amqp").values()
        if "exchange" in c["bindings"]["amqp"]
    }
    events = {(RecordKind.EVENT, t.value) for t in EventType}
    commands = {(RecordKind.COMMAND, t.value) for t in CommandType}
    agent = {(RecordKind.AGENT_MESSAGE, "*")}
    assert by_exchange["recoup.events"] == events | agent
    assert by_exchange["recoup.commands"] == commands
    assert by_exchange["recoup.announcements"] == agent
    assert by_exchange["recoup.dlx"] == events | commands | agent
    target = DOC["channels"]["commandsExchange"]["parameters"]["target"]["enum"]
    assert sorted(target) == sorted(TARGET.values())
    for kind, agent_id in TARGET.items():
        queue = _RABBIT.queue_name(TASK_QUEUES[agent_id])
        [channel] = [
            c
            for c in _channels("amqp").values()
            if c["bindings"]["amqp"].get("queue", {}).get("name") == queue
        ]
        assert _carried(channel) == {(RecordKind.COMMAND, kind.value)}


def _component_validator(name: str) -> Validator:
    schema = COMPONENTS["schemas"][name]
    return Draft202012Validator(schema, format_checker=FORMATS)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{r.kind.value}-{r.type}")
def test_headers_and_correlation_are_as_documented(record: ExportRecord) -> None:
    outbound = OutboundMessage.of(record, b"secret", "k1")
    assert verify(outbound.body, outbound.headers, {"k1": b"secret"}) == "k1"
    for schema in ("TraceHeaders", "SignatureHeaders"):
        assert _errors(_component_validator(schema), outbound.headers) == [], schema
    assert _errors(_component_validator("CloudEventAttributes"), outbound.cloudevent) == []
    kafka = {f"ce_{k}": v for k, v in outbound.cloudevent.items() if k != "datacontenttype"}
    kafka["content-type"] = outbound.cloudevent["datacontenttype"]
    assert _errors(_component_validator("KafkaCloudEventHeaders"), kafka) == []
    amqp = {f"cloudEvents:{k}": v for k, v in outbound.cloudevent.items()}
    assert _errors(_component_validator("AmqpCloudEventHeaders"), amqp) == []

    carried = (record.kind, "*" if record.kind is RecordKind.AGENT_MESSAGE else record.type)
    [message] = [m for m in COMPONENTS["messages"].values() if MESSAGES[m["name"]] == carried]
    correlation = _resolve(message["correlationId"]["$ref"])
    pointer = correlation["location"].removeprefix("$message.payload#")
    assert _pointer(json.loads(outbound.body), pointer) == record.message_id


def test_the_python_in_events_md_compiles() -> None:
    text = (DOCS / "events.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert blocks
    for block in blocks:
        compile(block, "docs/events.md", "exec")


def test_the_routing_table_in_events_md_is_that_of_the_code() -> None:
    text = (DOCS / "events.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in {t.value for t in EventType}:
            rows[EventType(cells[0])] = (cells[3], cells[4])
    assert rows == {
        t: (TOPIC[t].value, STREAM.get(t, Stream.CUSTOMER_CONTEXT).value) for t in EventType
    }


# The AsyncAPI 3.0.0 JSON Schema is not on PyPI; this copy is npm's @asyncapi/specs
# (Apache-2.0), schemas/3.0.0-without-$id.json.
ASYNCAPI_SCHEMA = Path(__file__).parents[1] / "fixtures" / "asyncapi-3.0.0.schema.json"


def test_asyncapi_document_is_valid_asyncapi_3() -> None:
    schema = _json(ASYNCAPI_SCHEMA)
    assert _errors(Draft7Validator(schema), DOC) == []
