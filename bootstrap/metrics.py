"""Recoup's own metrics, served with Temporal's from the worker process.

With ``RECOUP_METRICS_BIND`` set, ``http://BIND/metrics`` answers Prometheus text
with both halves of a worker's metrics:

- what goes through Temporal's runtime: its worker metrics and the breakers'
  (``recoup_circuit_breaker_state`` and ``_transitions``, below). The runtime
  serves them on a private loopback port, and the endpoint fetches them from there;
- prometheus_client's default registry: contacts by channel and outcome, compliance
  denials by reason, export lag per sink (``adapters.telemetry``), and the process.
"""

from __future__ import annotations

import logging
import socket
import threading
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from adapters.breakers import BreakerSnapshot, BreakerState

log = logging.getLogger("recoup.metrics")

# A gauge needs a number: ordered by how much of the provider's traffic flows.
BREAKER_LEVEL = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
SCRAPE_TIMEOUT_SECONDS = 5.0


def runtime_for(metrics_bind: str | None) -> Runtime | None:
    """A runtime whose metrics, with Recoup's, are served at ``metrics_bind``.

    None without a bind: the default runtime, and no endpoint.
    """
    if not metrics_bind:
        return None
    private = f"127.0.0.1:{_free_port()}"
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=private)))
    serve_metrics(metrics_bind, f"http://{private}/metrics")
    return runtime


def serve_metrics(bind: str, temporal_url: str | None = None) -> ThreadingHTTPServer:
    """Serve Prometheus text at ``bind`` (any path): Temporal's from ``temporal_url``,
    then prometheus_client's default registry. Runs on a daemon thread."""
    host, _, port = bind.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    server_class = _Server6 if ":" in host else _Server
    server = server_class((host, int(port)), _handler(temporal_url))
    threading.Thread(target=server.serve_forever, name="recoup-metrics", daemon=True).start()
    return server


def breaker_metrics(runtime: Runtime) -> Callable[[BreakerSnapshot], None]:
    """An ``on_change`` for the breakers that records each transition this process made.

    The gauge is what this worker last saw; the counter sums correctly across
    workers. ``recoup breakers`` reads the shared state itself.
    """
    meter = runtime.metric_meter
    state = meter.create_gauge(
        "recoup_circuit_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open"
    )
    changes = meter.create_counter(
        "recoup_circuit_breaker_transitions", "Circuit breaker state changes, by new state"
    )

    def on_change(snapshot: BreakerSnapshot) -> None:
        state.set(BREAKER_LEVEL[snapshot.state], {"breaker": snapshot.name})
        changes.add(1, {"breaker": snapshot.name, "state": snapshot.state.value})

    return on_change


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def _handler(temporal_url: str | None) -> type[BaseHTTPRequestHandler]:
    class MetricsHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = _temporal_text(temporal_url) + generate_latest(REGISTRY)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            del format, args  # a scrape every few seconds is not worth a log line

    return MetricsHandler


def _temporal_text(url: str | None) -> bytes:
    """Temporal's metrics as text ending in a newline; empty if it cannot be read."""
    if url is None:
        return b""
    try:
        with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_SECONDS) as response:
            text: bytes = response.read()
    except OSError as err:
        log.warning("Temporal's metrics at %s not readable: %s", url, err)
        return b""
    return text if not text or text.endswith(b"\n") else text + b"\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
