"""The one way every process connects to Temporal: same data converter everywhere.

Clients and workers share the payload codec (PII is ciphertext in histories) and
the tracing interceptor (a trace flows from the request into every activity).
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.runtime import Runtime

from workers.codec import data_converter
from workers.settings import Settings
from workers.tracing import client_interceptors


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Connect; a worker passes a runtime that exports its metrics (``workers.metrics``)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        interceptors=client_interceptors(settings),
        runtime=runtime,
    )
