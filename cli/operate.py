"""Operator actions shared by ``recoup account``, ``recoup campaign`` and ``recoup approvals``.

They go through the same service as the HTTP and gRPC APIs (``service/operations.py``), so
a pause from the CLI is the pause the API makes, with the same errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import Client

from cli.common import console, fail, load_settings, run, tenant_for, with_client
from domain.account import Tenant
from service.operations import RecoupService, ServiceError

T = TypeVar("T")


def operate(tenant_id: str, action: Callable[[RecoupService, Tenant], Awaitable[T]]) -> T:
    """Run ``action`` with the service for ``tenant_id``; a ServiceError exits 1 with its text."""
    settings = load_settings()

    async def go(client: Client) -> T:
        service = RecoupService.build(client, settings)
        try:
            return await action(service, tenant_for(tenant_id, settings))
        except ServiceError as exc:
            fail(exc.detail)
        finally:
            service.close()

    return run(with_client(settings, go))


def done(message: str) -> None:
    console.print(message)
