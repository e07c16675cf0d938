"""The one way every process connects to Temporal: same data converter everywhere."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from workers.settings import Settings


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Connect; a worker passes a runtime that exports its metrics (``workers.metrics``)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
