"""Tracing: one OpenTelemetry trace from the request to every provider call.

Every client gets Temporal's ``TracingInterceptor``, and so does every worker built
on it (the interceptor is a worker interceptor too, which ``Worker`` picks up from
its client). The span of a request (``api.telemetry``) is the parent of
``StartWorkflow``; the workflow's spans (``RunWorkflow``, ``StartActivity``) follow
it through the workflow's headers, then ``RunActivity`` in the worker, and in it
the adapters' own spans (``adapters.telemetry``): SMTP, the HTTP providers (which
also send a W3C ``traceparent``), the brokers. Whoever starts a campaign puts
``current_trace_id()`` into ``AccountCampaignInput.trace_id``, so the exported
events' ``X-Trace-ID`` is the same trace.

The process has one tracer provider (OpenTelemetry allows setting it once). It
exists even without a collector, so trace ids are real; spans leave the process
only when ``RECOUP_OTLP_ENDPOINT`` names an OTLP/HTTP collector.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import get_global_textmap, set_global_textmap
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, format_trace_id
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

from bootstrap.settings import Settings

TRACES_PATH = "/v1/traces"
SEED_HEADER = "x-trace-id"
_TRACE_ID = re.compile(r"[0-9a-f]{32}")

_lock = threading.Lock()
_exporting: set[str] = set()
_propagating = False


class SeedTraceIdPropagator(TextMapPropagator):
    """Continues the trace a caller named with the seed's ``X-Trace-ID`` (32 hex digits,
    dashes allowed), when it sent no W3C ``traceparent``; injects nothing."""

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        context = context if context is not None else Context()
        if trace.get_current_span(context).get_span_context().is_valid:
            return context  # a traceparent came, and wins
        values = getter.get(carrier, SEED_HEADER) or getter.get(carrier, "X-Trace-ID") or []
        given = (values[0] if values else "").strip().lower().replace("-", "")
        if not _TRACE_ID.fullmatch(given) or not int(given, 16):
            return context
        parent = SpanContext(
            trace_id=int(given, 16),
            span_id=RandomIdGenerator().generate_span_id(),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        return trace.set_span_in_context(NonRecordingSpan(parent), context)

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        del carrier, context, setter  # outgoing calls carry traceparent

    @property
    def fields(self) -> set[str]:
        return set()


def setup_tracing(settings: Settings) -> None:
    """Make sure this process records spans, and exports them if a collector is set.

    Idempotent: the first call sets the global tracer provider (resource
    ``service.name`` = ``settings.service_name``), unless the process already has
    an SDK provider, which is then used as it is, and adds ``SeedTraceIdPropagator``
    to the global propagators; each OTLP endpoint gets one batching exporter however
    often this is called.
    """
    with _lock:
        provider = _setup(settings.service_name)
        endpoint = settings.otlp_endpoint
        if endpoint and endpoint not in _exporting:
            exporter = OTLPSpanExporter(endpoint=traces_url(endpoint))
            provider.add_span_processor(BatchSpanProcessor(exporter))
            _exporting.add(endpoint)


def tracer_provider() -> TracerProvider:
    """The process's SDK tracer provider (set up as without a collector if nothing did).

    Tests add their own span processor to it (an in-memory exporter).
    """
    with _lock:
        return _setup(Settings.model_fields["service_name"].default)


def client_interceptors(settings: Settings) -> Sequence[Interceptor]:
    """What every client (and every worker built on it) intercepts with: tracing."""
    setup_tracing(settings)
    return (TracingInterceptor(),)


def current_trace_id() -> str | None:
    """The active span's trace id (32 hex digits), or None outside any span.

    The API puts it into ``AccountCampaignInput.trace_id``: the X-Trace-ID of
    every event the campaign exports.
    """
    context = trace.get_current_span().get_span_context()
    return format_trace_id(context.trace_id) if context.is_valid else None


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector given by its base URL (or the full one)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def _setup(service_name: str) -> TracerProvider:
    """The SDK tracer provider and the propagators, set once per process (under the lock)."""
    global _propagating
    if not _propagating:
        # What the process reads from incoming requests: its configured propagators
        # (W3C traceparent and baggage by default), then the seed's X-Trace-ID.
        set_global_textmap(CompositePropagator([get_global_textmap(), SeedTraceIdPropagator()]))
        _propagating = True
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    trace.set_tracer_provider(provider)
    return provider
