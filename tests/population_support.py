"""Small populations for tests of the simulated debtors (``simulators.population``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.account import Account

AS_OF = date(2026, 3, 2)  # a Monday


def segment(**overrides: Any) -> dict[str, Any]:
    """One segment's fields, valid as they are; ``overrides`` replace any of them."""
    fields: dict[str, Any] = {
        "name": "only",
        "share": 1,
        "balance": {"min": 100, "max": 500},
        "consent": {"sms": 0.5, "voice": 0.5},
        "channels": {"email": 0.2, "sms": 0.2, "phone": 0.2},
        "hours": {"morning": 1, "midday": 1, "afternoon": 1, "evening": 1},
        "propensity_to_pay": 0.5,
        "promise_rate": 0.2,
        "promise_keeping": 0.5,
        "opt_out_rate": 0.1,
        "dispute_rate": 0.05,
    }
    fields.update(overrides)
    return fields


def local(account: Account, hour: int, day: int = 0) -> datetime:
    """``hour`` o'clock in the debtor's own zone, ``day`` days after ``AS_OF``, in UTC."""
    zone = ZoneInfo(account.timezones[0])
    moment = datetime.combine(AS_OF + timedelta(days=day), time(hour), zone)
    return moment.astimezone(UTC)
