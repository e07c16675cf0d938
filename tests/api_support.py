"""What the API tests (and bench.latency) share: a tenant with a key, an account record,
providers' webhook payloads, waiting."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from adapters.tenants import TenantStore
from bootstrap.settings import Settings
from domain.account import Tenant
from tests.conftest import DAYTIME_ZONE, TWILIO_SID

T = TypeVar("T")

# The number our simulated Twilio account sends from and receives on.
OUR_NUMBER = "+15005550006"


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


def sms_in(
    sender: str, body: str, sid: str | None = None, *, account_sid: str = TWILIO_SID
) -> dict[str, str]:
    """An inbound SMS webhook's parameters, as Twilio sends them to ``OUR_NUMBER``."""
    sid = sid or "SM" + uuid.uuid4().hex
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "NY",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "US",
        "To": OUR_NUMBER,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def checkout_completed(
    tenant_id: str, account_id: str, amount: int, *, event_id: str | None = None
) -> dict[str, Any]:
    """A Stripe ``checkout.session.completed`` event for a Payment Link of ours."""
    created = int(time.time())
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "data": {
            "object": {
                "id": f"cs_test_{uuid.uuid4().hex}",
                "object": "checkout.session",
                "amount_subtotal": amount,
                "amount_total": amount,
                "created": created,
                "currency": "usd",
                "livemode": False,
                "metadata": {"tenant_id": tenant_id, "account_id": account_id},
                "mode": "payment",
                "payment_intent": f"pi_{uuid.uuid4().hex[:24]}",
                "payment_link": f"plink_{uuid.uuid4().hex[:24]}",
                "payment_status": "paid",
                "status": "complete",
            }
        },
        "livemode": False,
        "pending_webhooks": 1,
        "type": "checkout.session.completed",
    }
