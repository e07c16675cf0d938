"""The Redis Streams sink: live state for dashboards and agents, capped in size and age.

Stream = ``stream_prefix`` + the record's seed stream (``agent-states``,
``customer-context``, ``conversation-threads``). Each entry has the fields ``id``
(the message id, for dropping duplicates), ``type``, ``tenant``, ``customer``
(empty when none), ``body`` (the JSON bytes that were signed), every header, and
the CloudEvents attributes as ``ce_<attr>``.

Retention (the seed: 10,000 entries and 24 hours). One XADD takes one trim
strategy, so each XADD caps the length (``MAXLEN ~ max_length``): that bound has
to hold at every moment, since it is what keeps Redis's memory in check whatever
the rate. Age is trimmed with ``XTRIM MINID ~`` (entry ids are millisecond
timestamps), sent along with a batch at most once a minute: an entry may outlive
``ttl_hours`` by about a minute, which live-state consumers do not notice, and the
trim costs nothing per message. Both are approximate (``~``) so Redis only drops
whole radix-tree nodes, which is far cheaper than exact trimming.

A batch is one pipeline (no MULTI: it needs no atomicity, only order, which one
connection gives), so a batch costs one round trip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

from adapters.sinks.base import OutboundMessage, SinkUnavailable
from adapters.sinks.config import RedisStreamsConfig
from adapters.telemetry import traced_publish
from domain.events import Stream

TRIM_INTERVAL_SECONDS = 60.0
SOCKET_TIMEOUT_SECONDS = 10.0
# ReadOnlyError: a replica answering after a failover, until the client finds the primary.
FAILURES = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError)


def stream_fields(message: OutboundMessage) -> dict[FieldT, EncodableT]:
    """The entry's fields: identity, routing facts, body, headers, CloudEvents attributes."""
    record = message.record
    fields: dict[FieldT, EncodableT] = {
        "id": record.message_id,
        "type": record.type,
        "tenant": record.tenant_id,
        "customer": record.customer_id or "",
        "body": message.body,
    }
    fields.update(message.headers)
    fields.update({f"ce_{attr}": value for attr, value in message.cloudevent.items()})
    return fields


class RedisStreamSink:
    """Publishes batches to Redis streams; see the module docstring."""

    def __init__(self, url: str, config: RedisStreamsConfig, name: str = "redis") -> None:
        self.name = name
        self._config = config
        # Explicit timeouts so a hung server fails the batch instead of blocking it;
        # options given in the URL take precedence.
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        )
        self._next_trim = 0.0

    def stream_name(self, stream: Stream) -> str:
        return self._config.stream_prefix + stream.value

    async def start(self) -> None:
        await self.setup()

    async def setup(self) -> list[str]:
        """Create each stream with the seed's consumer groups (existing ones are kept).

        Groups start at id 0, so a new group reads what the stream still holds
        rather than only what comes after it was made.
        """
        lines = []
        try:
            for stream in Stream:
                name = self.stream_name(stream)
                for group in self._config.consumer_groups:
                    state = "created"
                    try:
                        await self._client.xgroup_create(name, group, id="0", mkstream=True)
                    except ResponseError as error:
                        if not str(error).startswith("BUSYGROUP"):
                            raise
                        state = "exists"
                    lines.append(f"redis stream {name}: group {group} {state}")
        except FAILURES as error:
            raise SinkUnavailable(f"{self.name}: cannot create streams: {error!r}") from error
        return lines

    @traced_publish("redis")
    async def publish(self, batch: Sequence[OutboundMessage]) -> None:
        if not batch:
            return
        pipe = self._client.pipeline(transaction=False)
        for message in batch:
            pipe.xadd(
                self.stream_name(message.record.stream),
                stream_fields(message),
                maxlen=self._config.max_length,
                approximate=True,
            )
        trim = time.monotonic() >= self._next_trim
        if trim:
            cutoff_ms = int((time.time() - self._config.ttl_hours * 3600) * 1000)
            for stream in Stream:
                pipe.xtrim(self.stream_name(stream), minid=f"{cutoff_ms}-0", approximate=True)
        try:
            await pipe.execute()
        except FAILURES as error:
            raise SinkUnavailable(f"{self.name}: batch not written: {error!r}") from error
        if trim:
            self._next_trim = time.monotonic() + TRIM_INTERVAL_SECONDS

    async def close(self) -> None:
        await self._client.aclose()
