"""What the adapters report: spans around provider and broker calls, and counters.

Spans go to the process's OpenTelemetry tracer provider (``bootstrap.tracing`` sets
it up); inside an activity they are children of its ``RunActivity`` span. They
carry no personal data: no addresses, numbers or message text, only the
provider, the operation and how it ended.

The counters live in prometheus_client's default registry, which a worker serves
beside Temporal's metrics (``bootstrap.metrics``) and the API at ``/metrics``.
Contacts and compliance denials are counted from the records that reach the event
log: every contact outcome and gate decision passes there, whichever agent or
workflow made it, and a retried append that added nothing is not counted again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, cast

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, TraceFlags
from prometheus_client import Counter, Gauge

from adapters.sinks.base import OutboundMessage
from domain.events import EventType, ExportRecord, RecordKind

tracer = trace.get_tracer("recoup.adapters")

# Links from a broker batch to the traces of the records in it (a batch mixes campaigns).
MAX_LINKS = 32

CONTACTS = Counter(
    "recoup_contacts",
    "Outbound contact attempts that ended, by channel and outcome",
    ["channel", "outcome"],
)
COMPLIANCE_DENIALS = Counter(
    "recoup_compliance_denials",
    "Contacts the compliance gate refused, by reason and stage (plan, send, legal event)",
    ["reason", "stage"],
)
EXPORT_LAG = Gauge(
    "recoup_export_lag_records",
    "Event-log positions not yet published to the sink",
    ["sink"],
)


def count_exported(records: Iterable[ExportRecord]) -> None:
    """Count the contact outcomes and gate denials among records new in the event log."""
    for record in records:
        if record.kind is not RecordKind.EVENT:
            continue
        meta = record.metadata
        if record.type == EventType.CUSTOMER_INTERACTION and meta.get("direction") != "inbound":
            channel = str(meta.get("channel") or "unknown")
            CONTACTS.labels(channel=channel, outcome=record.status or "unknown").inc()
        elif record.type == EventType.COMPLIANCE_AUDIT and record.status == "denied":
            stage = str(meta.get("stage") or "unknown")
            for reason in meta.get("reasons") or ["unspecified"]:
                COMPLIANCE_DENIALS.labels(reason=str(reason), stage=stage).inc()


@contextmanager
def publish_span(system: str, sink: str, batch: Sequence[OutboundMessage]) -> Iterator[Span]:
    """A PRODUCER span around publishing one batch, linked to its records' traces.

    The exporter runs outside any request, so the batch has no parent; the links
    (the record's ``X-Trace-ID``, with the span id of its CloudEvents
    ``traceparent``) lead from a campaign's trace to the batches that carried it.
    """
    links: list[Link] = []
    seen: set[str] = set()
    for message in batch:
        trace_id = message.record.trace_id
        if not trace_id or trace_id in seen or len(links) >= MAX_LINKS:
            continue
        seen.add(trace_id)
        context = _remote_context(trace_id, message.cloudevent.get("traceparent"))
        if context is not None:
            links.append(Link(context))
    with tracer.start_as_current_span(
        f"{sink} publish",
        kind=SpanKind.PRODUCER,
        links=links,
        attributes={
            "messaging.system": system,
            "messaging.operation.type": "publish",
            "messaging.batch.message_count": len(batch),
            "recoup.sink": sink,
        },
    ) as span:
        yield span


class _Sink(Protocol):
    name: str


_Publish = TypeVar("_Publish", bound=Callable[..., Coroutine[Any, Any, None]])


def traced_publish(system: str) -> Callable[[_Publish], _Publish]:
    """Decorate a sink's ``publish``: a ``publish_span`` around every non-empty batch."""

    def decorate(publish: _Publish) -> _Publish:
        @functools.wraps(publish)
        async def traced(sink: _Sink, batch: Sequence[OutboundMessage]) -> None:
            if not batch:
                return await publish(sink, batch)
            with publish_span(system, sink.name, batch):
                await publish(sink, batch)

        return cast(_Publish, traced)

    return decorate


def _remote_context(trace_id: str, traceparent: str | None) -> SpanContext | None:
    parts = (traceparent or "").split("-")
    try:
        span_id = int(parts[2], 16) if len(parts) == 4 else 1
        context = SpanContext(
            trace_id=int(trace_id, 16),
            span_id=span_id,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    except ValueError:
        return None
    return context if context.is_valid else None
