"""The exporter: at least once, in order per customer, through broker outages and gaps."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text
from sqlmodel import Session, select
from temporalio.client import Client

from adapters.audit_log import AuditEntry, AuditLog, FindingKind
from adapters.breakers import BreakerConfig, Breakers, MemoryBreakerStore
from adapters.event_log import EventLog
from adapters.read_model import RmAccount
from adapters.sinks.config import KafkaConfig, RedisStreamsConfig
from adapters.sinks.kafka import KafkaSink
from adapters.sinks.redis_streams import RedisStreamSink
from bench.brokers import Tansu
from bootstrap.settings import Settings
from domain.events import EventType, ExportRecord, Origin, Topic, event_record, message_id
from domain.signing import verify
from service.audit_log import exported_anchors
from workers.export import Exporter, breaker_events
from workers.run import Role, workers

REDIS_URL = "redis://127.0.0.1:6379/0"
KEY = b"test-export-key"
T0 = datetime(2026, 11, 22, tzinfo=UTC)


def key_for(_tenant: str) -> tuple[bytes, str]:
    return KEY, "test:1"


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EventLog]:
    events = EventLog(f"sqlite:///{tmp_path / 'events.db'}")
    events.create_tables()
    yield events
    events.dispose()


def numbered(
    customer: str, n: int, tenant: str = "acme", type: EventType = EventType.PROMISE
) -> ExportRecord:
    """Record ``n`` of a customer (its order is checked on the far side)."""
    origin = Origin(
        tenant_id=tenant,
        campaign_id="c-export",
        customer_id=customer,
        workflow_id=customer,
        agent_id="test",
    )
    at = datetime(2026, 11, 22, tzinfo=UTC) + timedelta(seconds=n)
    return event_record(
        origin, message_id("test", tenant, customer, str(n)), type, "made", at, {"n": n}
    )


async def drain(exporter: Exporter, sink: str, log: EventLog) -> None:
    while await exporter.drain_once(sink):
        pass
    assert log.cursor(sink) == log.last_position()


async def test_a_broker_outage_loses_nothing_and_keeps_each_customers_order(
    log: EventLog,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    with Tansu() as tansu:
        assert tansu.persistent, "Tansu must keep its data across a restart (moto S3)"
        config = KafkaConfig(
            bootstrap_servers=tansu.bootstrap, topic_prefix=prefix, request_timeout_seconds=2
        )
        exporter = Exporter(
            events=log,
            sinks={"kafka": KafkaSink(config)},
            key_for=key_for,
            project_sql=False,
            batch_size=50,
            idle_seconds=0.05,
            max_backoff=1.0,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(exporter.run(stop))
        customers = [f"cust-{i}" for i in range(5)]
        appended: list[ExportRecord] = []

        async def write(start: int, end: int) -> None:
            for n in range(start, end):
                batch = [numbered(c, n) for c in customers]
                # Appending never waits for the broker: campaigns are not slowed.
                await asyncio.to_thread(log.append, batch)
                appended.extend(batch)
                await asyncio.sleep(0.005)

        await write(0, 40)
        tansu.stop()
        await write(40, 80)  # written while the broker is down
        progress = exporter.progress["kafka"]
        deadline = asyncio.get_running_loop().time() + 30
        while not progress.failures:  # the exporter noticed, and backs off
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        assert progress.last_error
        behind = log.last_position() - log.cursor("kafka")
        assert behind > 0  # the backlog waits in the event log
        tansu.restart()
        await write(80, 100)
        deadline = asyncio.get_running_loop().time() + 60
        while log.cursor("kafka") < log.last_position():
            assert asyncio.get_running_loop().time() < deadline, exporter.progress
            await asyncio.sleep(0.1)
        stop.set()
        await running

        consumer = AIOKafkaConsumer(
            f"{prefix}{Topic.CUSTOMER_EVENTS}",
            bootstrap_servers=tansu.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            seen: dict[str, list[int]] = {c: [] for c in customers}
            ids: set[str] = set()
            while len(ids) < len(appended):
                batches = await consumer.getmany(timeout_ms=2000)
                assert batches, f"only {len(ids)} of {len(appended)} arrived"
                for message in (m for messages in batches.values() for m in messages):
                    headers = dict(message.headers)
                    verify(message.value, headers, {"test:1": KEY})
                    if headers["ce_id"].decode() in ids:
                        continue  # at least once: a retried batch may repeat
                    ids.add(headers["ce_id"].decode())
                    body = json.loads(message.value)
                    seen[message.key.decode()].append(body["event"]["metadata"]["n"])
        finally:
            await consumer.stop()
    assert ids == {r.message_id for r in appended}  # nothing lost
    assert all(seen[c] == list(range(100)) for c in customers)  # none reordered


async def test_a_gap_is_waited_for_then_skipped(log: EventLog) -> None:
    """A position taken by a transaction still committing must not be jumped at once."""
    log.append([numbered("a", 0)])
    with log.engine.begin() as conn:  # a later row, as if position 2 were still in flight
        row = dict(
            conn.execute(text("SELECT * FROM event_log WHERE position = 1")).mappings().one()
        )
        row.update(position=3, message_id=message_id("late"))
        conn.execute(
            text(
                "INSERT INTO event_log (position, message_id, kind, type, tenant_id, campaign_id,"
                " customer_id, occurred_at, recorded_at, record) VALUES (:position, :message_id,"
                " :kind, :type, :tenant_id, :campaign_id, :customer_id, :occurred_at,"
                " :recorded_at, :record)"
            ),
            row,
        )
    exporter = Exporter(events=log, sinks={}, key_for=key_for, gap_wait=0.3)
    assert await exporter.drain_once("sql") == 1  # up to the gap
    assert await exporter.drain_once("sql") == 0  # waits for position 2
    await asyncio.sleep(0.4)
    assert await exporter.drain_once("sql") == 1  # gave up on it
    assert log.cursor("sql") == 3


async def test_two_exporters_apply_each_record_to_the_read_model_once(log: EventLog) -> None:
    log.append([numbered("a", n) for n in range(300)])
    one, two = (Exporter(events=log, sinks={}, key_for=key_for, batch_size=7) for _ in range(2))
    await asyncio.gather(drain(one, "sql", log), drain(two, "sql", log))
    with Session(log.engine) as session:
        [account] = session.exec(select(RmAccount)).all()
    assert account.promises_made == 300


@pytest_asyncio.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def test_each_tenant_gets_only_the_sinks_it_chose(
    log: EventLog, redis_client: aioredis.Redis
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    sink = RedisStreamSink(REDIS_URL, RedisStreamsConfig(stream_prefix=prefix))
    chosen = {"acme": {"sql", "redis"}, "globex": {"sql"}}
    exporter = Exporter(
        events=log,
        sinks={"redis": sink},
        key_for=key_for,
        wants=lambda name, tenant: name in chosen[tenant],
    )
    log.append([numbered("a", 1, "acme"), numbered("g", 1, "globex"), numbered("a", 2, "acme")])
    try:
        await sink.start()
        await drain(exporter, "redis", log)
        await drain(exporter, "sql", log)
        entries: Any = await redis_client.xrange(f"{prefix}customer-context")
        assert [fields[b"tenant"] for _id, fields in entries] == [b"acme", b"acme"]
        with Session(log.engine) as session:
            tenants = {a.tenant_id for a in session.exec(select(RmAccount)).all()}
        assert tenants == {"acme", "globex"}
    finally:
        await sink.close()
        for stream in ("agent-states", "customer-context", "conversation-threads"):
            await redis_client.delete(f"{prefix}{stream}")


async def test_breaker_transitions_are_exported_as_agent_metrics(log: EventLog) -> None:
    config = BreakerConfig(failure_ratio=0.5, open_seconds=60, half_open_probes=1, min_calls=2)
    breakers = Breakers(MemoryBreakerStore(), {"sms": config}, on_change=breaker_events(log))
    breaker = breakers.get("sms")
    for _ in range(2):
        ticket = await breaker.acquire()
        await breaker.record(ticket, ok=False)
    deadline = asyncio.get_running_loop().time() + 5
    while not (rows := log.read_after(0, types=["BreakerStateEvent"])):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    [record] = [r.export_record() for r in rows]
    assert record.status == "open" and record.metadata["breaker"] == "sms"
    assert record.topic is Topic.AGENT_METRICS and record.tenant_id == "system"


async def test_anchored_audit_heads_expose_a_chain_rewritten_with_the_key(log: EventLog) -> None:
    """Whoever holds the audit key can rebuild a chain that verifies; not the exported heads."""
    audit = AuditLog(str(log.engine.url), b"audit-key", "k1")
    tenant = f"t-{uuid.uuid4().hex[:6]}"

    def entries(channel: str) -> list[AuditEntry]:
        return [
            AuditEntry(tenant, f"{tenant}/{i}", "ComplianceAuditEvent", T0, {"channel": channel})
            for i in range(3)
        ]

    try:
        audit.append(entries("sms"))
        exporter = Exporter(events=log, sinks={}, key_for=key_for, audit=audit)
        assert exporter.anchor_audit_heads() == 1
        assert exporter.anchor_audit_heads() == 0  # the same head is anchored once
        # Rewrite history with the key: every record says "email" now, and verifies.
        with log.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_log WHERE tenant_id = :t"), {"t": tenant})
            conn.execute(text("DELETE FROM audit_heads WHERE tenant_id = :t"), {"t": tenant})
        audit.append(entries("email"))
        assert audit.verify(tenant) == []
        [finding] = audit.check_anchors(exported_anchors(log))
        assert (finding.kind, finding.position) == (FindingKind.ALTERED, 3)
    finally:
        audit.dispose()


async def test_a_worker_reports_itself_on_agent_metrics(client: Client, settings: Settings) -> None:
    often = settings.model_copy(update={"status_seconds": 0.2})
    async with workers(client, often, roles=[Role.EXPORT]):
        await asyncio.sleep(0.5)
    log = EventLog(settings.sql_url)
    try:
        reports = [r.export_record() for r in log.read_after(0, types=["AgentStatusEvent"])]
    finally:
        log.dispose()
    statuses = [r.status for r in reports]
    assert statuses[0] == "started" and statuses[-1] == "stopped" and "healthy" in statuses
    first = reports[0]
    assert first.topic is Topic.AGENT_METRICS and first.tenant_id == "system"
    assert first.metadata["roles"] == ["export"]
    performance = first.body["event"]["performance"]
    assert performance["memoryUsage"] > 0 and performance["cpuUsage"] > 0
