"""Recoup's own metrics, exported with Temporal's through the worker's runtime.

With ``RECOUP_METRICS_BIND`` set, the runtime serves Prometheus text at
``http://BIND/metrics``: Temporal's worker metrics and these.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from adapters.breakers import BreakerSnapshot, BreakerState

# A gauge needs a number: ordered by how much of the provider's traffic flows.
BREAKER_LEVEL = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


def runtime_for(metrics_bind: str | None) -> Runtime | None:
    """A runtime that serves Prometheus metrics at ``metrics_bind``; None: the default one."""
    if not metrics_bind:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_bind)))


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
