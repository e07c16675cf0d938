"""A consumer that knows only the published contract can read Recoup's events.

The consumer below takes its topic names from ``docs/asyncapi.yaml`` and picks each
message's JSON Schema from ``docs/schemas/`` by the CloudEvents ``dataschema``
header; it imports nothing of Recoup's. The producer side is the real exporter
publishing one record of every kind to a real Kafka-protocol broker (Tansu).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from aiokafka import AIOKafkaConsumer

from adapters.event_log import EventLog
from adapters.sinks.config import KafkaConfig
from adapters.sinks.kafka import KafkaSink
from bench.brokers import Tansu
from domain.agent_messages import AgentIdentity, AgentMessage
from domain.events import (
    EventType,
    ExportRecord,
    Origin,
    agent_message_record,
    command_record,
    event_record,
    message_id,
)
from domain.messages import Command, CommandType
from workers.export import Exporter

DOCS = Path(__file__).resolve().parents[2] / "docs"
AT = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)


def one_of_each() -> list[ExportRecord]:
    origin = Origin(
        tenant_id="acme",
        campaign_id="spring",
        customer_id="A-1",
        workflow_id="account/acme/A-1",
        agent_id="campaign-workflow",
        trace_id=uuid.uuid4().hex,
    )
    records = [
        event_record(origin, message_id("contract", t.value), t, "recorded", AT, {"n": 1})
        for t in EventType
    ]
    records += [
        command_record(
            origin,
            message_id("contract", t.value),
            Command(type=t, campaign_id="spring", customer_id="A-1"),
            "email-agent",
            AT,
        )
        for t in CommandType
    ]
    envelope = AgentMessage(
        id=message_id("contract", "handoff"),
        type="request",
        from_agent=AgentIdentity(agent_id="phone-agent", role="phone"),
        to="@sms",
        routing="role",
        action="task_handoff",
        tenant_id="acme",
        campaign_id="spring",
        customer_id="A-1",
        content="The call failed; please text instead.",
        created_at=AT,
    )
    return [*records, agent_message_record(origin, envelope)]


class ContractConsumer:
    """Everything it knows comes from docs/: no import of Recoup's code."""

    def __init__(self, docs: Path, topic_prefix: str) -> None:
        asyncapi = yaml.safe_load((docs / "asyncapi.yaml").read_text())
        self.topics = [
            f"{topic_prefix}{channel['address']}"
            for channel in asyncapi["channels"].values()
            if "kafka" in (channel.get("bindings") or {})
        ]
        self.validators: dict[str, jsonschema.protocols.Validator] = {}
        for path in docs.glob("schemas/*.schema.json"):
            schema = json.loads(path.read_text())
            cls = jsonschema.validators.validator_for(schema)
            self.validators[schema["$id"]] = cls(schema, format_checker=cls.FORMAT_CHECKER)

    def read(self, headers: dict[str, bytes], value: bytes) -> Any:
        """Validate one message against the schema its ``dataschema`` names."""
        body = json.loads(value)
        self.validators[headers["ce_dataschema"].decode()].validate(body)
        return body


async def test_a_consumer_built_from_the_asyncapi_document_and_schemas_reads_every_message(
    tmp_path: Path,
) -> None:
    prefix = f"c{uuid.uuid4().hex[:8]}."
    records = one_of_each()
    log = EventLog(f"sqlite:///{tmp_path / 'events.db'}")
    log.create_tables()
    with Tansu(persistent=False) as tansu:
        sink = KafkaSink(KafkaConfig(bootstrap_servers=tansu.bootstrap, topic_prefix=prefix))
        exporter = Exporter(
            events=log,
            sinks={"kafka": sink},
            key_for=lambda _t: (b"k", "acme:1"),
            project_sql=False,
        )
        log.append(records)
        try:
            await sink.start()
            while await exporter.drain_once("kafka"):
                pass
        finally:
            await sink.close()
            log.dispose()

        consumer_side = ContractConsumer(DOCS, prefix)
        consumer = AIOKafkaConsumer(
            *consumer_side.topics,
            bootstrap_servers=tansu.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        read: dict[str, Any] = {}
        try:
            while len(read) < len(records):
                batches = await consumer.getmany(timeout_ms=3000)
                assert batches, f"read {len(read)} of {len(records)}"
                for message in (m for batch in batches.values() for m in batch):
                    headers = {name: value for name, value in message.headers}
                    read[headers["ce_id"].decode()] = consumer_side.read(headers, message.value)
        finally:
            await consumer.stop()
    assert set(read) == {r.message_id for r in records}
    assert all(read[r.message_id] == r.body for r in records)
