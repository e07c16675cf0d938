"""The broker sinks against real brokers, read back with each broker's own client.

Kafka is Tansu (the ``tansu`` fixture), RabbitMQ and Redis the machine's services.
Every test names its topics, exchanges, queues and streams with a fresh prefix and
deletes what it made, so runs never see each other's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import subprocess
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import jsonschema
import pytest
import pytest_asyncio
import redis.asyncio as redis
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import (
    ConfigResource,
    ConfigResourceType,
)
from aiokafka.errors import NotEnoughReplicasError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from pydantic import SecretStr

from adapters.sinks import kafka as kafka_sink
from adapters.sinks.base import OutboundMessage, SinkUnavailable
from adapters.sinks.config import KafkaConfig, RabbitConfig, RedisStreamsConfig
from adapters.sinks.kafka import KafkaSink, client_options
from adapters.sinks.rabbitmq import TASK_QUEUES, UNROUTABLE_HEADER, RabbitSink
from adapters.sinks.redis_streams import RedisStreamSink
from bench.brokers import Tansu, drop_rabbit_topology
from bootstrap.devserver import free_port
from domain.agent_messages import AgentIdentity, AgentMessage
from domain.events import (
    EventType,
    ExportRecord,
    Origin,
    RecordKind,
    Stream,
    Topic,
    agent_message_record,
    command_record,
    event_record,
    message_id,
)
from domain.messages import Command, CommandPriority, CommandType
from domain.signing import SignatureError, verify

RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/0"
KEYS = {"key-2026": b"export-secret-for-tests"}
CUSTOMERS = ("C-1", "C-2", "C-3")
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# How long a read-back loop waits for messages still on their way (not an assertion).
READ_SECONDS = 20.0


# --- records -------------------------------------------------------------------------


def origin(customer: str, tenant: str = "acme") -> Origin:
    return Origin(
        tenant_id=tenant,
        campaign_id="camp-1",
        customer_id=customer,
        workflow_id=f"account/{tenant}/{customer}",
        agent_id="email-agent",
        trace_id=uuid.uuid4().hex,
    )


def events(
    rounds: int, tenant: str = "acme", types: Sequence[EventType] = ()
) -> list[ExportRecord]:
    """``rounds`` events per customer, customers interleaved, cycling through ``types``."""
    kinds = list(types) or [
        EventType.PAYMENT,
        EventType.AGENT_STATUS,
        EventType.COMPLIANCE_AUDIT,
        EventType.CAMPAIGN_PROGRESS,
        EventType.CUSTOMER_INTERACTION,
    ]
    run = uuid.uuid4().hex
    out = []
    for i in range(rounds):
        for customer in CUSTOMERS:
            out.append(
                event_record(
                    origin(customer, tenant),
                    message_id(run, customer, str(i)),
                    kinds[i % len(kinds)],
                    status=f"step-{i}",
                    at=START + timedelta(seconds=i),
                    metadata={"round": i, "customer": customer},
                )
            )
    return out


def command(customer: str, target: str, kind: CommandType = CommandType.SEND_EMAIL) -> ExportRecord:
    command = Command(
        type=kind, campaign_id="camp-1", customer_id=customer, priority=CommandPriority.HIGH
    )
    return command_record(origin(customer), message_id(uuid.uuid4().hex), command, target, START)


def agent_message(customer: str, routing: str = "broadcast") -> ExportRecord:
    message = AgentMessage(
        id=message_id(uuid.uuid4().hex),
        type="broadcast" if routing == "broadcast" else "request",
        from_agent=AgentIdentity(agent_id="supervisor", role="supervisor"),
        to="@all" if routing == "broadcast" else "@sms",
        routing="broadcast" if routing == "broadcast" else "role",
        action="pause_all" if routing == "broadcast" else "task_handoff",
        tenant_id="acme",
        customer_id=customer,
        content="Pause every contact until the dispute is reviewed.",
        created_at=START,
    )
    return agent_message_record(origin(customer), message)


def outbound(records: Sequence[ExportRecord]) -> list[OutboundMessage]:
    return [OutboundMessage.of(record, KEYS["key-2026"], "key-2026") for record in records]


SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
SCHEMA_FILES = {
    RecordKind.EVENT: [
        SCHEMAS / "seed/agent-event.schema.json",
        SCHEMAS / "event-message.schema.json",
    ],
    RecordKind.COMMAND: [
        SCHEMAS / "seed/agent-command.schema.json",
        SCHEMAS / "command-message.schema.json",
    ],
    RecordKind.AGENT_MESSAGE: [SCHEMAS / "agent-message.schema.json"],
}


def check_message(
    sent: OutboundMessage, body: bytes, headers: Mapping[str, str | bytes], ce_prefix: str
) -> None:
    """What every consumer relies on: body, signature, trace and CloudEvents headers."""
    found = {name: _text(value) for name, value in headers.items()}
    assert json.loads(body) == sent.record.body
    # What arrived is valid under the seed's schema (events, commands) and ours.
    for path in SCHEMA_FILES[sent.record.kind]:
        document = json.loads(path.read_text())
        kind = jsonschema.validators.validator_for(document)
        kind(document, format_checker=kind.FORMAT_CHECKER).validate(json.loads(body))
    assert verify(body, headers, KEYS) == "key-2026"
    altered = json.dumps({**json.loads(body), "tampered": True}).encode()
    with pytest.raises(SignatureError):
        verify(altered, headers, KEYS)
    for name, value in sent.record.headers().items():
        assert found[name] == value
    for attr, value in sent.cloudevent.items():
        if attr != "datacontenttype":
            assert found[f"{ce_prefix}{attr}"] == value
    assert found[f"{ce_prefix}id"] == sent.record.message_id
    assert found[f"{ce_prefix}specversion"] == "1.0"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def in_order(items: Sequence[tuple[str, str]], sent: Sequence[OutboundMessage]) -> None:
    """``items`` (customer, message id) keep each customer's order of ``sent``."""
    got: dict[str, list[str]] = defaultdict(list)
    for customer, msg_id in items:
        got[customer].append(msg_id)
    for customer, ids in got.items():
        expected = [m.record.message_id for m in sent if m.record.key == customer]
        assert ids == [i for i in expected if i in set(ids)]


# --- Kafka ---------------------------------------------------------------------------


def kafka_config(bootstrap: str, **overrides: Any) -> KafkaConfig:
    fields: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "topic_prefix": f"t{uuid.uuid4().hex[:8]}.",
        "partitions": 3,
        "events_retention_days": 7,
        "audit_retention_days": 30,
        "request_timeout_seconds": 5,
    }
    return KafkaConfig(**(fields | overrides))


@contextlib.asynccontextmanager
async def kafka_admin(config: KafkaConfig) -> AsyncIterator[Any]:
    admin = AIOKafkaAdminClient(bootstrap_servers=config.bootstrap_servers)
    await admin.start()
    try:
        yield admin
    finally:
        names = [config.topic_prefix + topic.value for topic in Topic]
        with contextlib.suppress(Exception):
            await admin.delete_topics(names)
        await admin.close()


async def kafka_read(bootstrap: str, topic: str, partitions: int, count: int) -> list[Any]:
    """The first ``count`` messages of ``topic``, every partition from the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        got: list[Any] = []
        deadline = asyncio.get_running_loop().time() + READ_SECONDS
        while len(got) < count and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                got.extend(records)
        return got
    finally:
        await consumer.stop()


async def test_kafka_setup_creates_topics_once_with_retention(tansu: Tansu) -> None:
    config = kafka_config(tansu.bootstrap)
    sink = KafkaSink(config)
    async with kafka_admin(config) as admin:
        first = await sink.setup()
        second = await sink.setup()
        await sink.close()
        assert all(": created " in line for line in first) and len(first) == 4
        assert all(": exists " in line for line in second) and len(second) == 4
        names = {config.topic_prefix + topic.value: topic for topic in Topic}
        described = await admin.describe_topics(list(names))
        assert {d["topic"]: len(d["partitions"]) for d in described} == dict.fromkeys(names, 3)
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
        retention = {
            resource[3]: dict((entry[0], entry[1]) for entry in resource[4])["retention.ms"]
            for response in responses
            for resource in response.resources
        }
        day = 86_400_000
        assert retention == {
            name: str((30 if topic is Topic.AUDIT_LOGS else 7) * day)
            for name, topic in names.items()
        }


async def test_kafka_publish_keyed_ordered_signed_cloudevents(tansu: Tansu) -> None:
    config = kafka_config(tansu.bootstrap)
    sink = KafkaSink(config)
    batch = outbound(events(12, types=[EventType.PAYMENT]) + events(4))
    async with kafka_admin(config):
        await sink.start()
        await sink.publish(batch[:20])
        await sink.publish(batch[20:])
        await sink.close()
        expected = [m for m in batch if m.record.topic is Topic.CUSTOMER_EVENTS]
        topic = config.topic_prefix + Topic.CUSTOMER_EVENTS.value
        got = await kafka_read(tansu.bootstrap, topic, 3, len(expected))
        others = [m for m in batch if m.record.topic is Topic.AUDIT_LOGS]
        audit = config.topic_prefix + Topic.AUDIT_LOGS.value
        got_audit = await kafka_read(tansu.bootstrap, audit, 3, len(others))

    assert len(got) == len(expected) and len(got_audit) == len(others)
    by_id = {m.record.message_id: m for m in batch}
    partitions: dict[str, set[int]] = defaultdict(set)
    for message in got + got_audit:
        headers = dict(message.headers)
        sent = by_id[_text(headers["ce_id"])]
        assert message.key == sent.record.key.encode()
        assert headers["content-type"] == b"application/json"
        assert "ce_datacontenttype" not in headers
        check_message(sent, message.value, headers, "ce_")
        partitions[sent.record.key].add(message.partition)
        # The partition any Kafka client's default partitioner gives the key
        # (murmur2), so messages sent before and after a change stay together.
        assert message.partition == DefaultPartitioner()(message.key, [0, 1, 2], [])
    # Each customer's messages share one partition, so offsets order them.
    assert all(len(found) == 1 for found in partitions.values())
    got.sort(key=lambda m: (m.partition, m.offset))
    in_order([(m.key.decode(), _text(dict(m.headers)["ce_id"])) for m in got], expected)


async def test_kafka_batch_larger_than_a_record_batch_keeps_order(
    tansu: Tansu, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A few messages per record batch: each partition's part of the publish is
    # split over many record batches, queued one after the other.
    monkeypatch.setattr(kafka_sink, "MAX_BATCH_BYTES", 4096)
    config = kafka_config(tansu.bootstrap)
    sink = KafkaSink(config)
    batch = outbound(events(40, types=[EventType.PAYMENT]))
    async with kafka_admin(config):
        await sink.start()
        queued: list[int] = []
        send_batch = sink._producer.send_batch

        async def counted(builder: Any, topic: str, *, partition: int) -> Any:
            queued.append(partition)
            return await send_batch(builder, topic, partition=partition)

        sink._producer.send_batch = counted
        await sink.publish(batch)
        await sink.close()
        topic = config.topic_prefix + Topic.CUSTOMER_EVENTS.value
        got = await kafka_read(tansu.bootstrap, topic, 3, len(batch))

    assert len(queued) > len(set(queued))  # some partition took several record batches
    assert sorted(_text(dict(m.headers)["ce_id"]) for m in got) == sorted(
        m.record.message_id for m in batch
    )
    got.sort(key=lambda m: (m.partition, m.offset))
    in_order([(m.key.decode(), _text(dict(m.headers)["ce_id"])) for m in got], batch)


class FailingPartitionProducer:
    """A producer whose record batches for partition 1 are refused by the broker."""

    def __init__(self) -> None:
        self.acks: list[asyncio.Future[Any]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}

    def create_batch(self) -> Any:
        return BatchBuilder(kafka_sink.MAX_BATCH_BYTES, 0)

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if partition == 1:
            ack.set_exception(NotEnoughReplicasError())
        else:
            asyncio.get_running_loop().call_later(0.05, ack.set_result, None)
        self.acks.append(ack)
        return ack


async def test_kafka_one_refused_record_batch_fails_the_publish() -> None:
    sink = KafkaSink(kafka_config("127.0.0.1:1"))
    producer = FailingPartitionProducer()
    sink._producer, sink._topics_ready = producer, True  # no broker: the stand-in producer
    batch = outbound(events(10, types=[EventType.PAYMENT]))
    assert {DefaultPartitioner()(m.record.key.encode(), [0, 1, 2], []) for m in batch} >= {1}

    with pytest.raises(SinkUnavailable, match="NotEnoughReplicas"):
        await sink.publish(batch)
    # Every record batch's outcome was collected (none left pending or unretrieved),
    # and the next publish checks the topics again before sending.
    assert producer.acks and all(ack.done() and not ack.cancelled() for ack in producer.acks)
    assert not sink._topics_ready


async def test_kafka_broker_down_then_back() -> None:
    with Tansu() as broker:
        config = kafka_config(broker.bootstrap, request_timeout_seconds=2)
        sink = KafkaSink(config)
        first = outbound(events(3, types=[EventType.PAYMENT]))
        second = outbound(events(3, types=[EventType.PAYMENT]))
        await sink.start()
        await sink.publish(first)

        broker.stop()
        with pytest.raises(SinkUnavailable):
            await sink.publish(second)  # within about request_timeout_seconds

        broker.restart()
        if broker.persistent:
            await sink.publish(second)  # the same producer reconnects
        else:  # Tansu came back empty: the sink makes the topics again, then publishes
            await publish_within(sink, second, attempts=3)
        await sink.close()

        topic = config.topic_prefix + Topic.CUSTOMER_EVENTS.value
        got = await kafka_read(broker.bootstrap, topic, 3, len(first) + len(second))
        ids = {_text(dict(m.headers)["ce_id"]) for m in got}
        assert {m.record.message_id for m in second} <= ids
        if broker.persistent:  # what was acknowledged before the stop is still there
            assert {m.record.message_id for m in first} <= ids


async def publish_within(sink: KafkaSink, batch: list[OutboundMessage], attempts: int) -> None:
    """Publish as the exporter does: retry a batch that failed, ``attempts`` times at most."""
    for attempt in range(attempts):
        try:
            await sink.publish(batch)
            return
        except SinkUnavailable:
            if attempt == attempts - 1:
                raise


def test_kafka_tls_and_scram_options() -> None:
    config = KafkaConfig(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        username="recoup",
        password=SecretStr("s3cret"),
    )
    options = client_options(config)
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("recoup", "s3cret")
    plain = client_options(KafkaConfig())
    assert "ssl_context" not in plain and "sasl_mechanism" not in plain


async def test_kafka_unreachable_broker_is_unavailable() -> None:
    sink = KafkaSink(kafka_config(f"127.0.0.1:{free_port()}", request_timeout_seconds=1))
    with pytest.raises(SinkUnavailable):
        await sink.start()
    with pytest.raises(SinkUnavailable):
        await sink.publish(outbound(events(1)))
    await sink.close()


# --- RabbitMQ ------------------------------------------------------------------------


def rabbit_config(**overrides: Any) -> RabbitConfig:
    fields: dict[str, Any] = {
        "url": SecretStr(RABBIT_URL),
        "exchange_prefix": f"t{uuid.uuid4().hex[:8]}",
    }
    return RabbitConfig(**(fields | overrides))


@pytest_asyncio.fixture
async def rabbit() -> AsyncIterator[AbstractChannel]:
    connection = await aio_pika.connect(RABBIT_URL)
    async with connection:
        yield await connection.channel()


async def drain(channel: AbstractChannel, queue: str, count: int) -> list[AbstractIncomingMessage]:
    """Up to ``count`` messages of ``queue`` (all there are once ``count`` is reached)."""
    q = await channel.get_queue(queue, ensure=False)
    got: list[AbstractIncomingMessage] = []
    deadline = asyncio.get_running_loop().time() + READ_SECONDS
    while len(got) < count and asyncio.get_running_loop().time() < deadline:
        message = await q.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
        else:
            got.append(message)
    return got


def amqp_headers(message: AbstractIncomingMessage) -> dict[str, str | bytes]:
    """The AMQP headers as text (RabbitMQ hands long strings back as bytes or str)."""
    headers = message.headers or {}
    return {
        name: value if isinstance(value, bytes) else str(value) for name, value in headers.items()
    }


async def test_rabbit_setup_is_idempotent_and_declares_the_arguments(
    rabbit: AbstractChannel,
) -> None:
    config = rabbit_config(message_ttl_days=2)
    sink = RabbitSink(config)
    try:
        first = await sink.setup()
        assert await sink.setup() == first
        await sink.close()
        # Declaring with the same arguments succeeds only if they match exactly.
        for task_queue in TASK_QUEUES.values():
            await rabbit.declare_queue(
                sink.queue_name(task_queue),
                durable=True,
                arguments={
                    "x-queue-type": "classic",
                    "x-message-ttl": 2 * 86_400_000,
                    "x-dead-letter-exchange": sink.dead_letter_exchange,
                    "x-max-priority": 9,
                },
            )
        for name, kind in (
            (sink.events_exchange, aio_pika.ExchangeType.TOPIC),
            (sink.commands_exchange, aio_pika.ExchangeType.DIRECT),
            (sink.announcements_exchange, aio_pika.ExchangeType.FANOUT),
            (sink.dead_letter_exchange, aio_pika.ExchangeType.FANOUT),
        ):
            await rabbit.declare_exchange(name, kind, durable=True)
    finally:
        await drop_rabbit_topology(rabbit, sink)


async def test_rabbit_routes_events_commands_broadcasts(rabbit: AbstractChannel) -> None:
    sink = RabbitSink(rabbit_config())
    await sink.setup()
    payments = await rabbit.declare_queue(exclusive=True)
    listeners = await rabbit.declare_queue(exclusive=True)
    try:
        await payments.bind(sink.events_exchange, "acme.PaymentEvent")
        await listeners.bind(sink.announcements_exchange)
        records = events(6)
        records += [command(c, "email-agent") for c in CUSTOMERS]
        records += [command("C-1", "phone-agent", CommandType.MAKE_CALL)]
        records += [agent_message("C-2"), agent_message("C-3", routing="role")]
        batch = outbound(records)
        await sink.publish(batch)
        await sink.close()

        by_id = {m.record.message_id: m for m in batch}
        routed = [m for m in batch if m.record.kind.value != "command" and not m.record.broadcast]
        everything = await drain(rabbit, sink.all_events_queue, len(routed))
        email = await drain(rabbit, sink.queue_name("email-tasks"), 3)
        phone = await drain(rabbit, sink.queue_name("phone-tasks"), 1)
        got_payments = await drain(rabbit, payments.name, 6)
        broadcasts = await drain(rabbit, listeners.name, 1)

        assert [m.message_id for m in everything] == [m.record.message_id for m in routed]
        assert everything[-1].routing_key == "acme.agent-message.task_handoff"
        assert {m.message_id for m in email} == {r.message_id for r in records[18:21]}
        assert [m.message_id for m in phone] == [records[21].message_id]
        assert {m.routing_key for m in got_payments} == {"acme.PaymentEvent"}
        assert len(got_payments) == 6  # rounds 0 and 5 of three customers
        assert [m.message_id for m in broadcasts] == [records[22].message_id]
        for message in everything + email + phone + broadcasts:
            sent = by_id[message.message_id or ""]
            assert message.content_type == "application/json"
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            assert message.app_id == "recoup"
            assert message.timestamp == sent.record.occurred_at.replace(microsecond=0)
            check_message(sent, message.body, amqp_headers(message), "cloudEvents:")
        assert {m.priority for m in email + phone} == {6}  # HIGH
        in_order(
            [(by_id[m.message_id or ""].record.key, m.message_id or "") for m in everything], batch
        )
    finally:
        await drop_rabbit_topology(rabbit, sink)


async def test_rabbit_unroutable_goes_to_dead_letters(rabbit: AbstractChannel) -> None:
    sink = RabbitSink(rabbit_config())
    try:
        stray = outbound([command("C-1", "research-agent"), agent_message("C-2")])
        await sink.publish(stray)  # no queue takes either: confirmed into dead letters
        await sink.close()
        dead = await drain(rabbit, sink.dead_letter_queue, 2)
        assert [m.message_id for m in dead] == [m.record.message_id for m in stray]
        headers = [amqp_headers(m)[UNROUTABLE_HEADER] for m in dead]
        assert headers == [
            f"{sink.commands_exchange}/research-agent",
            f"{sink.announcements_exchange}/acme.agent-message.pause_all",
        ]
        check_message(stray[0], dead[0].body, amqp_headers(dead[0]), "cloudEvents:")
    finally:
        await drop_rabbit_topology(rabbit, sink)


async def test_rabbit_nack_or_unreachable_is_unavailable(rabbit: AbstractChannel) -> None:
    sink = RabbitSink(rabbit_config(), timeout_seconds=5)
    await sink.setup()
    # A queue that refuses everything: the broker nacks what is routed to it.
    full = await rabbit.declare_queue(
        exclusive=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    try:
        await full.bind(sink.events_exchange, "acme.PaymentEvent")
        with pytest.raises(SinkUnavailable):
            await sink.publish(outbound(events(1, types=[EventType.PAYMENT])))
        await full.delete(if_unused=False, if_empty=False)
        await sink.publish(outbound(events(1, types=[EventType.PAYMENT])))  # reconnected
        await sink.close()

        nowhere = RabbitSink(
            rabbit_config(url=SecretStr(f"amqp://guest:guest@127.0.0.1:{free_port()}/"))
        )
        with pytest.raises(SinkUnavailable):
            await nowhere.publish(outbound(events(1)))
        with pytest.raises(SinkUnavailable):
            await nowhere.start()
        await nowhere.close()
    finally:
        await drop_rabbit_topology(rabbit, sink)


async def test_rabbit_quorum_queues(rabbit: AbstractChannel) -> None:
    sink = RabbitSink(rabbit_config(queue_type="quorum"))
    try:
        await sink.setup()
        await sink.setup()
        sent = outbound([command("C-1", "sms-agent", CommandType.SEND_SMS)])
        await sink.publish(sent)
        await sink.close()
        got = await drain(rabbit, sink.queue_name("sms-tasks"), 1)
        assert [m.message_id for m in got] == [sent[0].record.message_id]
        # Re-declaring succeeds only with the same arguments: no x-max-priority here.
        await rabbit.declare_queue(
            sink.queue_name("sms-tasks"),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-message-ttl": 7 * 86_400_000,
                "x-dead-letter-exchange": sink.dead_letter_exchange,
            },
        )
    finally:
        await drop_rabbit_topology(rabbit, sink)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def tenant_vhost() -> Iterator[str]:
    """A fresh virtual host that guest may use (rabbitmqctl, as root on this machine)."""
    vhost = f"recoup-test-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield vhost
    with contextlib.suppress(subprocess.CalledProcessError):
        rabbitmqctl("delete_vhost", vhost)


async def test_rabbit_tenant_publishes_in_its_own_vhost(
    rabbit: AbstractChannel, tenant_vhost: str
) -> None:
    tenant_url = f"amqp://guest:guest@127.0.0.1:5672/{tenant_vhost}"
    config = rabbit_config(tenant_urls={"globex": SecretStr(tenant_url)})
    sink = RabbitSink(config, timeout_seconds=5)
    acme = outbound(events(1, types=[EventType.PAYMENT]))
    globex = outbound(events(2, tenant="globex", types=[EventType.PAYMENT]))
    try:
        await sink.publish(acme + globex)  # the tenant's topology is made on first use
        own = await aio_pika.connect(tenant_url)
        async with own:
            channel = await own.channel()
            got = await drain(channel, sink.all_events_queue, len(globex))
            assert [m.message_id for m in got] == [m.record.message_id for m in globex]
            assert {m.routing_key for m in got} == {"globex.PaymentEvent"}
        default = await drain(rabbit, sink.all_events_queue, len(acme))
        assert [m.message_id for m in default] == [m.record.message_id for m in acme]
        # Confirmed means enqueued: globex's messages would be here by now.
        left = await rabbit.declare_queue(sink.all_events_queue, passive=True)
        assert left.declaration_result.message_count == 0

        # The broker closes the tenant's connection. The next publish fails if it
        # learns so mid-batch, or reconnects at once if it knew; the one after it
        # is published on a new connection either way.
        await asyncio.to_thread(rabbitmqctl, "close_all_connections", "-p", tenant_vhost, "x")
        after = outbound(events(1, tenant="globex"))
        with contextlib.suppress(SinkUnavailable):
            await sink.publish(after)
        await sink.publish(after)
        own = await aio_pika.connect(tenant_url)
        async with own:
            channel = await own.channel()
            again = await drain(channel, sink.all_events_queue, len(after))
            assert {m.message_id for m in again} == {m.record.message_id for m in after}

        # The vhost is gone: nothing to reconnect to.
        await asyncio.to_thread(rabbitmqctl, "delete_vhost", tenant_vhost)
        with pytest.raises(SinkUnavailable):
            await sink.publish(outbound(events(1, tenant="globex")))
        await sink.publish(outbound(events(1)))  # other tenants are not affected
    finally:
        await sink.close()
        await drop_rabbit_topology(rabbit, sink)


# --- Redis ---------------------------------------------------------------------------


@pytest_asyncio.fixture
async def redis_client() -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


def redis_config(**overrides: Any) -> RedisStreamsConfig:
    return RedisStreamsConfig(**({"stream_prefix": f"t{uuid.uuid4().hex[:8]}:"} | overrides))


async def drop_streams(client: redis.Redis, config: RedisStreamsConfig) -> None:
    await client.delete(*[config.stream_prefix + stream.value for stream in Stream])


async def test_redis_setup_creates_streams_and_groups_once(redis_client: redis.Redis) -> None:
    config = redis_config()
    sink = RedisStreamSink(REDIS_URL, config)
    try:
        first = await sink.setup()
        second = await sink.setup()
        await sink.close()
        assert len(first) == 9 and all(line.endswith(" created") for line in first)
        assert len(second) == 9 and all(line.endswith(" exists") for line in second)
        for stream in Stream:
            groups: Any = await redis_client.xinfo_groups(config.stream_prefix + stream.value)
            assert sorted(g["name"].decode() for g in groups) == sorted(config.consumer_groups)
    finally:
        await drop_streams(redis_client, config)


async def test_redis_publish_fields_order_signature(redis_client: redis.Redis) -> None:
    config = redis_config()
    sink = RedisStreamSink(REDIS_URL, config)
    batch = outbound(
        [*events(10), agent_message("C-1", routing="role"), command("C-2", "sms-agent")]
    )
    try:
        await sink.start()
        await sink.publish(batch)
        await sink.close()
        by_id = {m.record.message_id: m for m in batch}
        for stream in Stream:
            name = config.stream_prefix + stream.value
            answer: Any = await redis_client.xreadgroup(
                "context-engine", "test-consumer", {name: ">"}, count=1000
            )
            entries = [fields for _, stream_entries in answer for _, fields in stream_entries]
            expected = [m for m in batch if m.record.stream is stream]
            assert len(entries) == len(expected) > 0
            for fields in entries:
                text = {k.decode(): v for k, v in fields.items()}
                sent = by_id[text["id"].decode()]
                assert text["type"].decode() == sent.record.type
                assert text["tenant"] == b"acme"
                assert text["customer"].decode() == sent.record.customer_id
                assert text["ce_datacontenttype"] == b"application/json"
                check_message(sent, text["body"], text, "ce_")
            ids = [(by_id[f[b"id"].decode()].record.key, f[b"id"].decode()) for f in entries]
            in_order(ids, expected)
    finally:
        await drop_streams(redis_client, config)


async def test_redis_streams_capped_by_length_and_age(redis_client: redis.Redis) -> None:
    config = redis_config(max_length=50)
    setting: Any = await redis_client.config_get("stream-node-max-entries")
    node_entries = int(setting["stream-node-max-entries"])
    name = config.stream_prefix + Stream.CUSTOMER_CONTEXT.value
    try:
        sink = RedisStreamSink(REDIS_URL, config)
        records = [command(f"C-{i % 7}", "email-agent") for i in range(500)]
        for start in range(0, 500, 100):
            await sink.publish(outbound(records[start : start + 100]))
        await sink.close()
        length = await redis_client.xlen(name)
        assert 50 <= length <= 50 + node_entries  # approximate: whole nodes only

        # Age: entries older than ttl_hours go with the next time-based trim.
        aged = redis_config(stream_prefix=config.stream_prefix, ttl_hours=0.0001)  # 0.36 s
        old = RedisStreamSink(REDIS_URL, aged)
        await old.publish(outbound([command("C-1", "email-agent") for _ in range(300)]))
        await old.close()
        await asyncio.sleep(0.5)
        fresh = RedisStreamSink(REDIS_URL, aged)  # a new sink trims on its first batch
        last = outbound([command("C-2", "email-agent")])
        await fresh.publish(last)
        await fresh.close()
        remaining: Any = await redis_client.xrange(name)
        assert len(remaining) <= 1 + node_entries < 300
        assert remaining[-1][1][b"id"].decode() == last[0].record.message_id
    finally:
        await drop_streams(redis_client, config)


async def test_redis_unreachable_is_unavailable() -> None:
    sink = RedisStreamSink(f"redis://127.0.0.1:{free_port()}/0", redis_config())
    with pytest.raises(SinkUnavailable):
        await sink.start()
    with pytest.raises(SinkUnavailable):
        await sink.publish(outbound(events(1)))
    await sink.close()
