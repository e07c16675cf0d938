"""Messages per second through each broker sink, against the raw client library.

Run: ``.venv/bin/python -m bench.export [--messages 10000] [--rounds 3]``

For each sink (Kafka on a Tansu broker this module starts itself, in memory;
RabbitMQ and Redis as the machine's services), ``messages`` signed event
messages of the same shape (a PaymentEvent of one of 200 customers, about 1 KB
with headers) are published in batches of 500, one batch after the other, as the
exporter does:

- ``sink_per_s``: through the sink's ``publish`` (routing, headers and CloudEvents
  attributes built per message, confirms awaited per batch);
- ``raw_per_s``: the same bodies and headers, prepared beforehand, published with
  the client library directly and the same guarantees, also 500 at a time: Kafka
  ``send`` per message with ``acks=all`` and every future awaited, RabbitMQ
  persistent messages with publisher confirms and ``mandatory``, Redis pipelined
  ``XADD`` with the same ``MAXLEN ~``;
- ``ratio`` = ``sink_per_s / raw_per_s`` (1.0 = the sink costs nothing).

Kafka's raw producer has the sink's settings (``acks=all``, ``max_batch_size``,
the default ``linger_ms=0`` and no compression, no idempotence). Because the sink
now builds record batches itself (``create_batch``/``send_batch``), Kafka also
reports ``raw_batch_per_s``: the prepared messages through that same API,
partitioned per message with aiokafka's default partitioner, one record batch per
partition, every batch's ack awaited; ``ratio_to_raw_batch`` compares the sink to
it, i.e. what the sink's own work (headers, topics, partitions) costs.
``goal_ratio``/``meets_goal``: issue 17 asks ``ratio >= 0.9`` for Kafka.

They alternate in ``rounds`` rounds after a warm-up, and the median round rate
of each is reported, since the machine is noisy; so is the median CPU time of this
process per message (``*_cpu_us_per_msg``: the client side only, the brokers run in
other processes), which other load on the machine sways far less than the rates.
Every run uses its own topic prefix, exchanges and streams and deletes them
afterwards. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import redis.asyncio as redis
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from pydantic import SecretStr

from adapters.sinks.base import OutboundMessage
from adapters.sinks.config import KafkaConfig, RabbitConfig, RedisStreamsConfig
from adapters.sinks.kafka import MAX_BATCH_BYTES, KafkaSink, kafka_headers
from adapters.sinks.rabbitmq import RabbitSink, amqp_message
from adapters.sinks.redis_streams import RedisStreamSink, stream_fields
from bench.brokers import Tansu, drop_rabbit_topology
from bench.common import machine
from domain.events import EventType, Origin, Stream, Topic, event_record, message_id

RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/0"
BATCH = 500
CUSTOMERS = 200
KEY, KEY_ID = b"bench-export-key", "bench-2026"
KAFKA_GOAL_RATIO = 0.9  # issue 17: the Kafka sink at >= 0.9 x raw aiokafka

Publish = Callable[[Sequence[Any]], Awaitable[None]]


def messages(count: int) -> list[OutboundMessage]:
    """``count`` signed PaymentEvents, customers interleaved, all of one shape."""
    run = uuid.uuid4().hex
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    out = []
    for i in range(count):
        customer = f"C-{i % CUSTOMERS:05d}"
        origin = Origin(
            tenant_id="acme",
            campaign_id="camp-2026-06",
            customer_id=customer,
            workflow_id=f"account/acme/{customer}",
            agent_id="email-agent",
            trace_id=uuid.uuid5(uuid.NAMESPACE_URL, customer).hex,
        )
        record = event_record(
            origin,
            message_id(run, str(i)),
            EventType.PAYMENT,
            status="received",
            at=start + timedelta(milliseconds=i),
            metadata={"amount": "125.00", "currency": "USD", "method": "card", "attempt": i},
        )
        out.append(OutboundMessage.of(record, KEY, KEY_ID))
    return out


async def rate(publish: Publish, items: Sequence[Any]) -> tuple[float, float]:
    """Items per second through ``publish``, one batch of ``BATCH`` after the other,
    and this process's CPU microseconds per item (the broker runs in another)."""
    begin, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(items), BATCH):
        await publish(items[start : start + BATCH])
    used = time.process_time() - cpu
    return len(items) / (time.perf_counter() - begin), used / len(items) * 1e6


async def compare(
    sink: Publish,
    sink_items: Sequence[Any],
    raw: Publish,
    raw_items: Sequence[Any],
    rounds: int,
    between: Callable[[], Awaitable[object]] | None = None,
    others: dict[str, tuple[Publish, Sequence[Any]]] | None = None,
) -> dict[str, float]:
    """Median rates of ``sink``, ``raw`` and ``others``, alternating; ``between`` runs untimed.

    Each of ``others`` is reported as ``<name>_per_s`` and ``ratio_to_<name>``.
    """
    runs = {"sink": (sink, sink_items), "raw": (raw, raw_items), **(others or {})}
    for publish, items in runs.values():  # warm-up: connections, metadata, caches
        await rate(publish, items[: BATCH * 2])
    rates: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (publish, items) in runs.items():
            per_s, cpu_us = await rate(publish, items)
            rates[name].append(per_s)
            cpu[name].append(cpu_us)
            if between is not None:
                await between()
    median = {name: statistics.median(values) for name, values in rates.items()}
    result = {f"{name}_per_s": round(value, 1) for name, value in median.items()}
    # Less swayed than the rates by other load on the machine: what the client side
    # costs per message, in this process.
    for name, values in cpu.items():
        result[f"{name}_cpu_us_per_msg"] = round(statistics.median(values), 2)
    result["ratio"] = round(median["sink"] / median["raw"], 3)
    for name in others or {}:
        result[f"ratio_to_{name}"] = round(median["sink"] / median[name], 3)
    return result


async def kafka(batch: list[OutboundMessage], rounds: int) -> dict[str, Any]:
    with Tansu(persistent=False) as broker:
        config = KafkaConfig(bootstrap_servers=broker.bootstrap, topic_prefix=_prefix("."))
        sink = KafkaSink(config)
        await sink.start()
        # The sink's producer settings (adapters/sinks/kafka.py): acks from all
        # in-sync replicas, its max_batch_size, aiokafka's default linger (0) and
        # compression (none).
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.bootstrap,
            acks="all",
            enable_idempotence=False,
            max_batch_size=MAX_BATCH_BYTES,
        )
        await producer.start()
        topic = config.topic_prefix + Topic.CUSTOMER_EVENTS.value
        prepared = [(m.record.key.encode(), m.body, kafka_headers(m)) for m in batch]
        partitioner = DefaultPartitioner()

        async def raw(items: Sequence[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
            futures = [
                await producer.send(topic, value, key=key, headers=headers)
                for key, value, headers in items
            ]
            await asyncio.gather(*futures)

        async def raw_batch(items: Sequence[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
            partitions = list(await producer.partitions_for(topic))
            builders: dict[int, Any] = {}
            futures = []
            for key, value, headers in items:
                partition = partitioner(key, partitions, partitions)
                builder = builders.get(partition)
                if builder is None:
                    builder = builders[partition] = producer.create_batch()
                if builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
                    futures.append(await producer.send_batch(builder, topic, partition=partition))
                    builder = builders[partition] = producer.create_batch()
                    builder.append(timestamp=None, key=key, value=value, headers=headers)
            for partition, builder in builders.items():
                futures.append(await producer.send_batch(builder, topic, partition=partition))
            await asyncio.gather(*futures)

        try:
            result: dict[str, Any] = await compare(
                sink.publish,
                batch,
                raw,
                prepared,
                rounds,
                others={"raw_batch": (raw_batch, prepared)},
            )
        finally:
            await producer.stop()
            await sink.close()
        result["goal_ratio"] = KAFKA_GOAL_RATIO
        result["meets_goal"] = result["ratio"] >= KAFKA_GOAL_RATIO
        return result


async def rabbitmq(batch: list[OutboundMessage], rounds: int) -> dict[str, float]:
    sink = RabbitSink(RabbitConfig(url=SecretStr(RABBIT_URL), exchange_prefix=_prefix()))
    await sink.setup()
    connection = await aio_pika.connect(RABBIT_URL)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(sink.events_exchange)
        queue = await channel.get_queue(sink.all_events_queue)
        prepared = [(amqp_message(m), sink.route(m.record)[1]) for m in batch]

        async def raw(items: Sequence[tuple[aio_pika.Message, str]]) -> None:
            await asyncio.gather(
                *(exchange.publish(message, key, mandatory=True) for message, key in items)
            )

        # Nobody consumes: the queue is emptied between runs to keep the broker's memory flat.
        return await compare(sink.publish, batch, raw, prepared, rounds, between=queue.purge)
    finally:
        await drop_rabbit_topology(await connection.channel(), sink)
        await connection.close()
        await sink.close()


async def redis_streams(batch: list[OutboundMessage], rounds: int) -> dict[str, float]:
    config = RedisStreamsConfig(stream_prefix=_prefix(":"))
    sink = RedisStreamSink(REDIS_URL, config)
    await sink.start()
    client = redis.Redis.from_url(REDIS_URL)
    prepared = [(sink.stream_name(m.record.stream), stream_fields(m)) for m in batch]

    async def raw(items: Sequence[tuple[str, Any]]) -> None:
        pipe = client.pipeline(transaction=False)
        for name, fields in items:
            pipe.xadd(name, fields, maxlen=config.max_length, approximate=True)
        await pipe.execute()

    try:
        return await compare(sink.publish, batch, raw, prepared, rounds)
    finally:
        await client.delete(*[sink.stream_name(stream) for stream in Stream])
        await client.aclose()
        await sink.close()


def _prefix(separator: str = "") -> str:
    return f"bench{uuid.uuid4().hex[:6]}{separator}"


async def run(count: int, rounds: int) -> dict[str, Any]:
    batch = messages(count)
    sinks = {
        "kafka": await kafka(batch, rounds),
        "rabbitmq": await rabbitmq(batch, rounds),
        "redis": await redis_streams(batch, rounds),
    }
    return {
        "benchmark": "export",
        "messages": count,
        "batch_size": BATCH,
        "rounds": rounds,
        "message_bytes": len(batch[0].body),
        "sinks": sinks,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": machine(),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=10_000, help="per round (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each (default 3)")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args.messages, args.rounds))))


if __name__ == "__main__":
    main()
