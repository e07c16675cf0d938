"""Helpers shared by tests, so that test modules do not import each other."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal

from domain.account import Account, EmailContact, PhoneContact
from domain.channels import Channel
from domain.playbook import Playbook, Step

# The shared test database; RECOUP_TEST_POSTGRES_URL names another, for a branch whose
# schema differs from the one the shared database has been migrated to.
POSTGRES_URL = os.environ.get(
    "RECOUP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def make_accounts(n: int, prefix: str = "A") -> list[Account]:
    return [
        Account(
            account_id=f"{prefix}{i}",
            debtor_name=f"Debtor {i}",
            emails=[EmailContact(address=f"d{i}@example.com")],
            phones=[PhoneContact(number="+14155550100", sms_consent=i % 2 == 0)],
            amount_due=Decimal("100.00") + i,
            due_date=date(2024, 1, 1),
            days_past_due=30 + i % 90,
            timezones=["America/New_York"],
            state="NY",
        )
        for i in range(n)
    ]


ONE_EMAIL = Playbook(
    name="one-email",
    steps=[Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice")],
    closing_days=1,
)
