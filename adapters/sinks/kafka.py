"""The Kafka sink: exported messages on the seed's topics, keyed by customer.

Topic = ``topic_prefix`` + the record's seed topic (``customer-events``,
``agent-metrics``, ``audit-logs``, ``campaign-events``); key = the customer id, so
Kafka's default partitioner keeps one customer's messages in one partition, in
order. Headers are the trace and signature headers plus the CloudEvents
attributes in the Kafka binding's binary mode (``ce_<attr>``, and
``content-type`` instead of ``ce_datacontenttype``), so any Kafka consumer reads a
message without Recoup's code.

Ordering: a batch is handed to the producer in order and then awaited as a whole.
aiokafka keeps at most one produce request in flight per broker and puts the
messages of one partition in one record batch in send order, so per-key order holds
without idempotence (which Tansu, the test broker, does not support), and the
producer can fill large requests instead of one round trip per message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context

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


def kafka_headers(message: OutboundMessage) -> list[tuple[str, bytes]]:
    """The message's headers plus its CloudEvents attributes, Kafka binary mode."""
    headers = [(name, value.encode()) for name, value in message.headers.items()]
    headers += [
        (BINDING_NAMES.get(attr) or f"ce_{attr}", value.encode())
        for attr, value in message.cloudevent.items()
    ]
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
        try:
            if not self._topics_ready:
                await self.setup()
            producer = await self._started_producer()
            # The client's own timeouts can add up (metadata wait, then the request);
            # the batch as a whole gets the configured request timeout.
            async with asyncio.timeout(self._config.request_timeout_seconds):
                futures = [
                    await producer.send(
                        self.topic_name(message.record.topic),
                        message.body,
                        key=message.record.key.encode(),
                        headers=kafka_headers(message),
                    )
                    for message in batch
                ]
                # Every result is collected, so no failed future is left unretrieved.
                results = await asyncio.gather(*futures, return_exceptions=True)
            failures = [result for result in results if isinstance(result, BaseException)]
            if failures:
                raise failures[0]
        except (KafkaError, TimeoutError, OSError) as error:
            self._topics_ready = False
            raise SinkUnavailable(f"{self.name}: batch not acknowledged: {error!r}") from error

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
