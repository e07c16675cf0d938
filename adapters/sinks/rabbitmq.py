"""The RabbitMQ sink: events, agent commands and broadcasts on the seed's exchanges.

Topology, in each virtual host it publishes to (names from ``exchange_prefix``,
e.g. ``recoup``), all durable:

- ``recoup.events`` (topic): events with routing key ``<tenant>.<EventType>``, and
  agent messages that are not broadcasts, ``<tenant>.agent-message.<action>``;
  queue ``recoup.events.all`` is bound with ``#`` for a catch-all consumer;
- ``recoup.commands`` (direct): commands, routing key = the target agent; the
  seed's task queues ``recoup.email-tasks``, ``recoup.sms-tasks``,
  ``recoup.phone-tasks``, ``recoup.escalation-tasks`` are bound with
  ``email-agent``, ``sms-agent``, ``phone-agent``, ``escalation-agent``;
- ``recoup.announcements`` (fanout): broadcast agent messages;
- ``recoup.dlx`` (fanout) and its queue ``recoup.dead-letters``: what the queues
  reject or expire, and what no queue would take (below).

Every queue has the configured type, message TTL and (but the dead-letter queue,
which would only loop) the dead-letter exchange. Task queues carry priorities:
classic queues through ``x-max-priority``; quorum queues refuse that argument on
RabbitMQ 3.x and from 4.0 treat priority 5 and above as "high" by themselves, so
for them the argument is left out and the message priority is still set.

Messages are persistent, published with publisher confirms and ``mandatory``. A
message the broker returns as unroutable (a command for an agent with no queue,
a broadcast nobody listens to) is published again to the dead-letter exchange with
an ``x-recoup-unroutable`` header naming where it was going: it is kept and
visible, and does not block the batches behind it forever. Only when even that is
returned (the topology was deleted) does the batch fail, and the next publish
declares the topology again.

CloudEvents attributes go in the AMQP binding's binary mode: headers
``cloudEvents:<attr>``, and ``datacontenttype`` as the ``content_type`` property.

A tenant listed in ``tenant_urls`` is published on its own connection (its own
virtual host and user); its topology is declared there on first use. A connection
that fails is dropped and opened again by the next publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, DeliveryMode
from aiormq.abc import DeliveredMessage
from aiormq.exceptions import AMQPError, ChannelInvalidStateError

from adapters.sinks.base import OutboundMessage, SinkUnavailable
from adapters.sinks.config import RabbitConfig
from adapters.telemetry import traced_publish
from domain.channels import CHANNELS, TaskQueues
from domain.events import ExportRecord, RecordKind

DAY_MS = 86_400_000
# Target agent (the command's routing key) -> the seed's task queue.
# Each channel agent's queue (the channel registry's), and the escalation agent's.
TASK_QUEUES = {
    **{row.agent: TaskQueues().for_channel(row.channel) for row in CHANNELS.values()},
    "escalation-agent": TaskQueues().escalation,
}
# Command priority -> AMQP priority; 5 and above is "high" for 4.x quorum queues.
PRIORITY = {"LOW": 1, "MEDIUM": 3, "HIGH": 6, "CRITICAL": 9}
MAX_PRIORITY = 9
UNROUTABLE_HEADER = "x-recoup-unroutable"
FAILURES = (AMQPError, ChannelInvalidStateError, OSError, TimeoutError)


@dataclass
class _Vhost:
    """One open connection (one virtual host) with its confirmed channel and exchanges."""

    connection: AbstractConnection
    channel: AbstractChannel
    exchanges: dict[str, AbstractExchange] = field(default_factory=dict)


class RabbitSink:
    """Publishes to RabbitMQ with publisher confirms; see the module docstring."""

    def __init__(
        self, config: RabbitConfig, name: str = "rabbitmq", *, timeout_seconds: float = 30.0
    ) -> None:
        self.name = name
        self._config = config
        self._timeout = timeout_seconds
        self._vhosts: dict[str, _Vhost] = {}
        prefix = config.exchange_prefix
        self.events_exchange = f"{prefix}.events"
        self.commands_exchange = f"{prefix}.commands"
        self.announcements_exchange = f"{prefix}.announcements"
        self.dead_letter_exchange = f"{prefix}.dlx"
        self.dead_letter_queue = f"{prefix}.dead-letters"
        self.all_events_queue = f"{prefix}.events.all"

    def queue_name(self, task_queue: str) -> str:
        return f"{self._config.exchange_prefix}.{task_queue}"

    def url_for(self, tenant_id: str) -> str:
        url = self._config.tenant_urls.get(tenant_id, self._config.url)
        return url.get_secret_value()

    def route(self, record: ExportRecord) -> tuple[str, str]:
        """The exchange and routing key of ``record``."""
        if record.broadcast:
            return self.announcements_exchange, f"{record.tenant_id}.agent-message.{record.type}"
        if record.kind is RecordKind.COMMAND:
            return self.commands_exchange, record.target or ""
        if record.kind is RecordKind.AGENT_MESSAGE:
            return self.events_exchange, f"{record.tenant_id}.agent-message.{record.type}"
        return self.events_exchange, f"{record.tenant_id}.{record.type}"

    async def start(self) -> None:
        await self.setup()

    async def setup(self) -> list[str]:
        """Declare the topology in the default virtual host and every tenant's own."""
        urls = dict.fromkeys([self._config.url, *self._config.tenant_urls.values()])
        lines: list[str] = []
        for url in urls:
            await self._open(url.get_secret_value())
            lines += vhost_lines(self, _safe(url.get_secret_value()))
        return lines

    @traced_publish("rabbitmq")
    async def publish(self, batch: Sequence[OutboundMessage]) -> None:
        # A customer belongs to one tenant, so one connection at a time, each
        # tenant's messages in batch order, keeps every customer's order.
        by_url: dict[str, list[OutboundMessage]] = {}
        for message in batch:
            by_url.setdefault(self.url_for(message.record.tenant_id), []).append(message)
        for url, messages in by_url.items():
            vhost = await self._open(url)
            try:
                async with asyncio.timeout(self._timeout):
                    await self._publish_on(vhost, messages)
            except SinkUnavailable:
                await self._drop(url)  # the topology is gone: declare it again next time
                raise
            except FAILURES as error:
                await self._drop(url)
                raise SinkUnavailable(f"{self.name}: batch not confirmed: {error!r}") from error

    async def close(self) -> None:
        for url in list(self._vhosts):
            await self._drop(url)

    async def _publish_on(self, vhost: _Vhost, messages: list[OutboundMessage]) -> None:
        # Publishes go out in call order (aiormq writes frames under a FIFO lock), and
        # the confirms are awaited together, not one round trip per message. The
        # caller's timeout bounds the batch: one per publish costs about 10% throughput.
        sends = []
        for message in messages:
            exchange, key = self.route(message.record)
            sends.append(
                vhost.exchanges[exchange].publish(amqp_message(message), key, mandatory=True)
            )
        results = await asyncio.gather(*sends, return_exceptions=True)
        returned = []
        for message, result in zip(messages, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            if isinstance(result, DeliveredMessage):
                returned.append(message)
        for message in returned:
            exchange, key = self.route(message.record)
            dead = amqp_message(message, unroutable=f"{exchange}/{key}")
            again = await vhost.exchanges[self.dead_letter_exchange].publish(
                dead, key, mandatory=True
            )
            if isinstance(again, DeliveredMessage):
                raise SinkUnavailable(f"{self.name}: {exchange}/{key} unroutable, and no DLX")

    async def _open(self, url: str) -> _Vhost:
        """The open connection for ``url``: connected and its topology declared if new."""
        vhost = self._vhosts.get(url)
        if vhost is not None and not vhost.connection.is_closed and not vhost.channel.is_closed:
            return vhost
        await self._drop(url)
        try:
            async with asyncio.timeout(self._timeout):
                connection = await aio_pika.connect(
                    url,
                    ssl_context=self._ssl_context() if url.startswith("amqps") else None,
                    timeout=self._timeout,
                    client_properties={"connection_name": f"recoup-{self.name}"},
                )
                try:
                    channel = await connection.channel(
                        publisher_confirms=True, on_return_raises=False
                    )
                    vhost = _Vhost(connection, channel)
                    await self._declare(vhost)
                except BaseException:
                    await connection.close()
                    raise
        except FAILURES as error:
            raise SinkUnavailable(f"{self.name}: cannot set up {_safe(url)}: {error!r}") from error
        self._vhosts[url] = vhost
        return vhost

    async def _declare(self, vhost: _Vhost) -> None:
        channel = vhost.channel
        kinds = {
            self.events_exchange: aio_pika.ExchangeType.TOPIC,
            self.commands_exchange: aio_pika.ExchangeType.DIRECT,
            self.announcements_exchange: aio_pika.ExchangeType.FANOUT,
            self.dead_letter_exchange: aio_pika.ExchangeType.FANOUT,
        }
        for name, kind in kinds.items():
            vhost.exchanges[name] = await channel.declare_exchange(name, kind, durable=True)
        dead = await channel.declare_queue(
            self.dead_letter_queue, durable=True, arguments=self.queue_arguments(dead_letter=False)
        )
        await dead.bind(vhost.exchanges[self.dead_letter_exchange], "")
        everything = await channel.declare_queue(
            self.all_events_queue, durable=True, arguments=self.queue_arguments()
        )
        await everything.bind(vhost.exchanges[self.events_exchange], "#")
        for agent, task_queue in TASK_QUEUES.items():
            queue = await channel.declare_queue(
                self.queue_name(task_queue),
                durable=True,
                arguments=self.queue_arguments(priority=True),
            )
            await queue.bind(vhost.exchanges[self.commands_exchange], agent)

    def queue_arguments(
        self, *, priority: bool = False, dead_letter: bool = True
    ) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "x-queue-type": self._config.queue_type,
            "x-message-ttl": int(self._config.message_ttl_days * DAY_MS),
        }
        if dead_letter:
            arguments["x-dead-letter-exchange"] = self.dead_letter_exchange
        if priority and self._config.queue_type == "classic":
            arguments["x-max-priority"] = MAX_PRIORITY
        return arguments

    def _ssl_context(self) -> ssl.SSLContext:
        tls = self._config.tls
        context = ssl.create_default_context(cafile=tls.cafile)
        if tls.certfile is not None:
            context.load_cert_chain(tls.certfile, tls.keyfile)
        return context

    async def _drop(self, url: str) -> None:
        vhost = self._vhosts.pop(url, None)
        if vhost is not None and not vhost.connection.is_closed:
            with contextlib.suppress(*FAILURES):  # it is dropped because it failed
                await vhost.connection.close()


def amqp_message(message: OutboundMessage, unroutable: str | None = None) -> aio_pika.Message:
    """The AMQP message: properties, trace headers and CloudEvents binary-mode headers."""
    record = message.record
    headers: dict[str, Any] = dict(message.headers)
    content_type = "application/json"
    for attr, value in message.cloudevent.items():
        if attr == "datacontenttype":
            content_type = value
        else:
            headers[f"cloudEvents:{attr}"] = value
    if unroutable is not None:
        headers[UNROUTABLE_HEADER] = unroutable
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=content_type,
        delivery_mode=DeliveryMode.PERSISTENT,
        priority=_priority(record),
        message_id=record.message_id,
        timestamp=record.occurred_at,
        type=record.type,
        app_id="recoup",
    )


def _priority(record: ExportRecord) -> int | None:
    if record.kind is not RecordKind.COMMAND:
        return None
    command = record.body.get("command")
    level = command.get("priority") if isinstance(command, dict) else None
    return PRIORITY.get(level or "MEDIUM", PRIORITY["MEDIUM"])


def vhost_lines(sink: RabbitSink, where: str) -> list[str]:
    return [
        f"rabbitmq {where}: exchange {sink.events_exchange} (topic), "
        f"queue {sink.all_events_queue} bound '#'",
        f"rabbitmq {where}: exchange {sink.commands_exchange} (direct), queues "
        + ", ".join(f"{sink.queue_name(q)} <- {agent}" for agent, q in TASK_QUEUES.items()),
        f"rabbitmq {where}: exchange {sink.announcements_exchange} (fanout)",
        f"rabbitmq {where}: exchange {sink.dead_letter_exchange} (fanout), "
        f"queue {sink.dead_letter_queue}",
    ]


def _safe(url: str) -> str:
    """``url`` without its password, for error messages."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"
