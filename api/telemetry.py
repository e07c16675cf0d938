"""The API's part of tracing and metrics: a SERVER span and a latency sample per request.

``instrument_api(app)`` adds ``TelemetryMiddleware`` and a ``/metrics`` route.
Each request runs in a SERVER span that continues the caller's trace (W3C
``traceparent``, or the seed's ``X-Trace-ID`` when that is all the caller sent:
``bootstrap.tracing`` installs the propagators). FastAPI makes that span itself
once a tracer provider is set (its native telemetry, which also adds
``fastapi.*`` operation spans); the middleware then uses it, and makes its own
only for an app that made none. Either way, inside a handler
``bootstrap.tracing.current_trace_id()`` is the request's trace id: put it into
``AccountCampaignInput.trace_id`` and the campaign's workflow, activities,
provider calls and exported events share it. Every response carries ``X-Trace-ID``.

``recoup_api_request_seconds{method,route,status}`` is labelled with the route
template (``/v1/accounts/{account_id}``), never the raw path, to keep it small.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRACE_HEADER = "X-Trace-ID"
UNMATCHED = "<unmatched>"

tracer = trace.get_tracer("recoup.api")

API_REQUEST_SECONDS = Histogram(
    "recoup_api_request_seconds",
    "HTTP API request latency, by method, route template and status",
    ["method", "route", "status"],
)


def instrument_api(app: Starlette, metrics_path: str | None = "/metrics") -> None:
    """Trace and time every request of ``app``; serve Prometheus text at ``metrics_path``
    (None: no such route).

    Call it after adding the app's other middleware, so the timing covers them too.
    """
    app.add_middleware(TelemetryMiddleware)
    if metrics_path is not None:
        app.add_route(metrics_path, metrics, methods=["GET"], include_in_schema=False)


async def metrics(request: Request) -> Response:
    """prometheus_client's default registry as Prometheus text."""
    del request
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class TelemetryMiddleware:
    """Pure ASGI: the request's SERVER span, its ``X-Trace-ID``, its latency."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        status = 500  # unless the app starts a response
        started = time.perf_counter()
        with server_span(scope) as (span, own):
            trace_id = trace.format_trace_id(span.get_span_context().trace_id)

            async def send_with_trace(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    MutableHeaders(scope=message)[TRACE_HEADER] = trace_id
                await send(message)

            try:
                await self.app(scope, receive, send_with_trace)
            finally:
                route = route_of(scope)
                API_REQUEST_SECONDS.labels(method, route, str(status)).observe(
                    time.perf_counter() - started
                )
                if own:  # the framework names its own span
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))


@contextmanager
def server_span(scope: Scope) -> Iterator[tuple[Span, bool]]:
    """The request's SERVER span, and whether it is ours: the framework's if it made
    one (FastAPI does once a tracer provider is set), else a new one."""
    current = trace.get_current_span()
    if current.is_recording() and getattr(current, "kind", None) is SpanKind.SERVER:
        yield current, False
        return
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    method = scope["method"]
    with tracer.start_as_current_span(
        method,
        context=extract(headers),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "url.scheme": scope.get("scheme", "http")},
    ) as span:
        yield span, True


def route_of(scope: Scope) -> str:
    """The matched route's template, or ``<unmatched>`` (a 404, or not routed yet)."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED
