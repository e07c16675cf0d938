"""What the API tests share: a tenant with a key, an account record, waiting."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from adapters.tenants import TenantStore
from domain.account import Tenant
from tests.conftest import DAYTIME_ZONE
from workers.settings import Settings

T = TypeVar("T")


def new_tenant(settings: Settings, prefix: str = "t") -> tuple[Tenant, str]:
    """A fresh tenant and an API key for it (ids are unique: the database persists)."""
    store = TenantStore(settings.sql_url)
    try:
        store.create_tables()
        tenant = Tenant(tenant_id=f"{prefix}-{uuid.uuid4().hex[:8]}", name="Acme Recovery")
        store.create_tenant(tenant)
        token = store.create_key(tenant.tenant_id, "tests").token
    finally:
        store.dispose()
    return tenant, token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def account_record(**overrides: Any) -> dict[str, Any]:
    """A flat account record, as a CRM (or a portfolio file row) sends it."""
    unique = uuid.uuid4().hex[:8]
    record: dict[str, Any] = {
        "account_id": f"A-{unique}",
        "name": "Dana Debtor",
        "email": f"dana.{unique}@example.com",
        "phone": f"+1415555{int(unique[:4], 16) % 10000:04d}",
        "sms_consent": True,
        "voice_consent": True,
        "amount_due": "250.00",
        "currency": "USD",
        "due_date": "2026-06-01",
        "timezone": DAYTIME_ZONE,
        "state": "NY",
    }
    record.update(overrides)
    return record


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float = 30.0
) -> T:
    """Call ``probe`` until ``accept`` holds for its result; return that result."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if accept(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached in {within}s; last value: {value!r}")
        await asyncio.sleep(0.1)
