"""The Kafka sink: exported messages on the seed's topics, keyed by customer.

Topic = ``topic_prefix`` + the record's seed topic (``customer-events``,
``agent-metrics``, ``audit-logs``, ``campaign-events``); key = the customer id, so
Kafka's default partitioner keeps one customer's messages in one partition, in
order. Headers are the trace and signature headers plus the CloudEvents
attributes in the Kafka binding's binary mode (``ce_<attr>``, and
``content-type`` instead of ``ce_datacontenttype``), so any Kafka consumer reads a
message without Recoup's code.

Sending: a batch is split by partition, in order, into record batches built with
the producer's own ``create_batch`` (so its ``max_batch_size``, compression and
linger apply) and queued with ``send_batch``; then every record batch's
acknowledgement is awaited. The partition is the one aiokafka's default
partitioner gives ``send`` (murmur2 of the key over the topic's partitions), so
the mapping is the same as before and as any Kafka client's. Per message this
costs an append to a C record builder, instead of ``send``'s coroutine, size
check, partitioner lookups and delivery future, which were most of the sink's
time (see docs/PERFORMANCE.md, export).

Ordering: one customer's messages go to one partition, in batch order, and a
partition's record batches are queued in order. aiokafka keeps at most one
produce request in flight per broker, so per-key order holds without idempotence
(which Tansu, the test broker, does not support).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import DefaultPartitioner

from adapters.sinks.base import OutboundMessage, SinkUnavailable
from adapters.sinks.config import KafkaConfig
from adapters.telemetry import traced_publish
from domain.events import Topic

DAY_MS = 86_400_000
TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code
# The Kafka binding carries datacontenttype as the plain content-type header.
BINDING_NAMES = {"datacontenttype": "content-type"}
# Room for a 500-message batch in a few requests (the default 16 KiB is a few dozen).
MAX_BATCH_BYTES = 512 * 1024
# aiokafka's default: what ``send`` would choose for a key (murmur2, as the Java client).
_PARTITIONER = DefaultPartitioner()


class _HeaderNames(dict[str, str]):
    """CloudEvents attribute -> Kafka header name, filled on first use.

    Built per message this was a third of the headers' cost; the attribute names
    come from code (``ExportRecord.cloudevent``), so the map stays a few entries.
    """

    def __missing__(self, attr: str) -> str:
        name = self[attr] = BINDING_NAMES.get(attr) or f"ce_{attr}"
        return name


CE_HEADER_NAMES = _HeaderNames()


def kafka_headers(message: OutboundMessage) -> list[tuple[str, bytes]]:
    """The message's headers plus its CloudEvents attributes, Kafka binary mode."""
    names = CE_HEADER_NAMES
    headers = [(name, value.encode()) for name, value in message.headers.items()]
    headers += [(names[attr], value.encode()) for attr, value in message.cloudevent.items()]
    return headers


def client_options(config: KafkaConfig) -> dict[str, Any]:
    """Connection options shared by the producer and the admin client (TLS, SASL)."""
    options: dict[str, Any] = {
        "bootstrap_servers": config.bootstrap_servers,
        "security_protocol": config.security_protocol,
        "request_timeout_ms": int(config.request_timeout_seconds * 1000),
        "client_id": "recoup",
    }
    if config.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=config.tls.cafile, certfile=config.tls.certfile, keyfile=config.tls.keyfile
        )
    if config.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = config.sasl_mechanism
        options["sasl_plain_username"] = config.username
        if config.password is not None:
            options["sasl_plain_password"] = config.password.get_secret_value()
    return options


class KafkaSink:
    """Publishes batches with acks from all in-sync replicas; see the module docstring."""

    def __init__(self, config: KafkaConfig, name: str = "kafka") -> None:
        self.name = name
        self._config = config
        self._producer: Any = None
        # False until the topics are known to exist, and again after any failure: a
        # broker that comes back empty (Tansu in memory) gets its topics back before
        # the retried batch is sent, instead of the batch timing out on metadata.
        self._topics_ready = False

    def topic_name(self, topic: Topic) -> str:
        return self._config.topic_prefix + topic.value

    def retention_ms(self, topic: Topic) -> int:
        days = (
            self._config.audit_retention_days
            if topic is Topic.AUDIT_LOGS
            else self._config.events_retention_days
        )
        return int(days * DAY_MS)

    async def start(self) -> None:
        await self.setup()
        await self._started_producer()

    async def setup(self) -> list[str]:
        """Create the missing topics (existing ones are left as they are)."""
        wanted = {
            self.topic_name(topic): NewTopic(
                self.topic_name(topic),
                self._config.partitions,
                self._config.replication_factor,
                topic_configs={"retention.ms": str(self.retention_ms(topic))},
            )
            for topic in Topic
        }
        admin = AIOKafkaAdminClient(**client_options(self._config))
        try:
            async with asyncio.timeout(self._config.request_timeout_seconds * 2):
                await admin.start()
                response = await admin.create_topics(list(wanted.values()))
        except (KafkaError, TimeoutError, OSError) as error:
            raise SinkUnavailable(f"{self.name}: cannot create topics: {error!r}") from error
        finally:
            await admin.close()
        lines = []
        for topic, code, message in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise SinkUnavailable(f"{self.name}: topic {topic}: error {code} {message}")
            spec = wanted[topic]
            state = "created" if code == 0 else "exists"
            lines.append(
                f"kafka topic {topic}: {state} ({spec.num_partitions} partitions, "
                f"retention.ms={spec.topic_configs['retention.ms']})"
            )
        self._topics_ready = True
        return sorted(lines)

    @traced_publish("kafka")
    async def publish(self, batch: Sequence[OutboundMessage]) -> None:
        if not batch:
            return
        acks: list[asyncio.Future[Any]] = []
        try:
            if not self._topics_ready:
                await self.setup()
            producer = await self._started_producer()
            # The client's own timeouts can add up (metadata wait, then the request);
            # the batch as a whole gets the configured request timeout.
            async with asyncio.timeout(self._config.request_timeout_seconds):
                await self._queue(producer, batch, acks)
                # Every result is collected, so no failed future is left unretrieved.
                results = await asyncio.gather(*acks, return_exceptions=True)
            failures = [result for result in results if isinstance(result, BaseException)]
            if failures:
                raise failures[0]
        except (KafkaError, TimeoutError, OSError) as error:
            # Record batches already queued may still be delivered: the exporter
            # retries the whole batch (at least once). Their futures are dropped
            # quietly instead of logging "exception never retrieved" later.
            for ack in acks:
                ack.cancel()
            self._topics_ready = False
            raise SinkUnavailable(f"{self.name}: batch not acknowledged: {error!r}") from error

    async def _queue(
        self, producer: Any, batch: Sequence[OutboundMessage], acks: list[asyncio.Future[Any]]
    ) -> None:
        """Queue ``batch`` as record batches, one per partition, in order; collect their acks."""
        # Memos for this batch only: a batch has few topics and customers, and a
        # topic's partition count may change between batches.
        topics: dict[tuple[str, str], str] = {}
        partitions: dict[str, tuple[list[int], dict[bytes, int]]] = {}
        open_batches: dict[tuple[str, int], Any] = {}
        for message in batch:
            record = message.record
            topic = topics.get((record.kind, record.type))
            if topic is None:
                topic = topics[(record.kind, record.type)] = self.topic_name(record.topic)
            known = partitions.get(topic)
            if known is None:
                # The producer's own list of the topic's partitions (it waits for
                # metadata), in the order its partitioner indexes them.
                known = partitions[topic] = (list(await producer.partitions_for(topic)), {})
            every, by_key = known
            key = record.key.encode()
            partition = by_key.get(key)
            if partition is None:
                partition = by_key[key] = _PARTITIONER(key, every, every)
            headers = kafka_headers(message)
            builder = open_batches.get((topic, partition))
            if builder is None:
                builder = open_batches[(topic, partition)] = producer.create_batch()
            if builder.append(timestamp=None, key=key, value=message.body, headers=headers) is None:
                # Full (max_batch_size): queue it; the partition continues in a new one,
                # which takes any first message, however large.
                acks.append(await producer.send_batch(builder, topic, partition=partition))
                builder = open_batches[(topic, partition)] = producer.create_batch()
                builder.append(timestamp=None, key=key, value=message.body, headers=headers)
        for (topic, partition), builder in open_batches.items():
            acks.append(await producer.send_batch(builder, topic, partition=partition))

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def _started_producer(self) -> Any:
        if self._producer is None:
            producer = AIOKafkaProducer(
                **client_options(self._config),
                acks="all",
                enable_idempotence=False,
                max_batch_size=MAX_BATCH_BYTES,
            )
            try:
                await producer.start()
            except (KafkaError, OSError) as error:
                await producer.stop()
                raise SinkUnavailable(f"{self.name}: cannot connect: {error!r}") from error
            self._producer = producer
        return self._producer
