"""What every broker sink offers the exporter.

The exporter hands a sink batches of ``OutboundMessage`` in event-log order. A
sink publishes the whole batch, in order, and returns only when the broker has
confirmed every message (Kafka acks, RabbitMQ publisher confirms, Redis replies),
or raises ``SinkUnavailable``; the exporter then retries the same batch later, so
delivery is at least once and consumers drop duplicates by message id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from domain.events import ExportRecord
from domain.signing import sign


class SinkUnavailable(Exception):
    """The broker could not take the batch (down, refused, timed out); retry later."""


@dataclass(frozen=True)
class OutboundMessage:
    """A record ready for the wire: its body bytes and the headers every sink sends.

    ``headers`` holds the seed's trace headers and the signature; ``cloudevent``
    the CloudEvents attributes, which each sink writes with its binding's prefix
    (Kafka ``ce_``, AMQP ``cloudEvents:``, Redis fields ``ce_``).
    """

    record: ExportRecord
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    cloudevent: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, record: ExportRecord, key: bytes, key_id: str) -> OutboundMessage:
        body = json.dumps(record.body, separators=(",", ":"), sort_keys=True).encode()
        headers = {**record.headers(), **sign(body, key, key_id)}
        return cls(record=record, body=body, headers=headers, cloudevent=record.cloudevent())


class Sink(Protocol):
    """A broker that exported messages are published to."""

    name: str

    async def start(self) -> None:
        """Connect, and create the topics/exchanges/streams it needs if they are missing."""

    async def publish(self, batch: Sequence[OutboundMessage]) -> None:
        """Publish all of ``batch`` in order; raise ``SinkUnavailable`` if not all went."""

    async def setup(self) -> list[str]:
        """Create (or check) the broker's topology; describe each thing, one line each."""

    async def close(self) -> None: ...
