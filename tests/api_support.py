"""What the API tests share: a tenant with a key, an account record, providers' webhook
payloads (those three from ``bench/fixtures.py``, which the benchmarks use too), waiting."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bench import fixtures
from bench.fixtures import OUR_NUMBER as OUR_NUMBER
from bench.fixtures import checkout_completed as checkout_completed
from bench.fixtures import new_tenant as new_tenant
from tests.conftest import DAYTIME_ZONE, TWILIO_SID

T = TypeVar("T")


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
    return fixtures.sms_in(sender, body, sid, account_sid=account_sid)
