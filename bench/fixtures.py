"""Fixtures the benchmarks build their own load from: a tenant with an API key, and the
webhook payloads providers send (an inbound SMS, a completed Stripe checkout).

The API tests share them (``tests/api_support.py``); nothing here imports ``tests/``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bootstrap.root import Root
from bootstrap.settings import Settings
from domain.account import Tenant
from service.tenants import tenant_store

# The number our simulated Twilio account sends from and receives on.
OUR_NUMBER = "+15005550006"


def new_tenant(settings: Settings, prefix: str = "t") -> tuple[Tenant, str]:
    """A fresh tenant and an API key for it (ids are unique: the database persists)."""
    with Root(settings) as root:
        store = tenant_store(root)
        tenant = Tenant(tenant_id=f"{prefix}-{uuid.uuid4().hex[:8]}", name="Acme Recovery")
        store.create_tenant(tenant)
        token = store.create_key(tenant.tenant_id, "tests").token
    return tenant, token


def sms_in(sender: str, body: str, sid: str | None = None, *, account_sid: str) -> dict[str, str]:
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
