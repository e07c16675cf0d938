"""Helpers shared by tests, so that test modules do not import each other."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from temporalio.client import Client

from domain.arrangements import (
    ArrangementKind,
    ArrangementRequest,
    Instalment,
)
from domain.campaign import PaymentReceived
from domain.channels import Channel
from domain.playbook import Playbook, Step
from service.campaigns import record_payment
from tests.conftest import TENANT

# Day 0 notice, then a final notice long after any arrangement here has ended.
PLAYBOOK = Playbook(
    name="arrangements",
    steps=[
        Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(id="final", day=30, channel=Channel.EMAIL, template="final_notice"),
    ],
    closing_days=2,
    instalment_reminder_days=1,
    instalment_grace_days=2,
)

# For a debtor who pays on time: the reminder goes out at once and the deadline is a
# month after due, so a loaded machine (a day is 0.25 s here) cannot miss it.
ON_TIME = PLAYBOOK.model_copy(update={"instalment_reminder_days": 30, "instalment_grace_days": 30})


def in_days(n: int) -> date:
    return datetime.now(UTC).date() + timedelta(days=n)


def settlement(arrangement_id: str, amount: str = "150.00", due_in: int = 3) -> ArrangementRequest:
    return ArrangementRequest(
        arrangement_id=arrangement_id,
        kind=ArrangementKind.SETTLEMENT,
        instalments=[Instalment(due=in_days(due_in), amount=Decimal(amount))],
    )


def plan(arrangement_id: str, due_in: tuple[int, int] = (2, 5)) -> ArrangementRequest:
    return ArrangementRequest(
        arrangement_id=arrangement_id,
        kind=ArrangementKind.PAYMENT_PLAN,
        instalments=[Instalment(due=in_days(d), amount=Decimal("125.00")) for d in due_in],
    )


async def pay(client: Client, account_id: str, payment_id: str, amount: str) -> None:
    payment = PaymentReceived(payment_id=payment_id, amount=Decimal(amount), currency="USD")
    await record_payment(client, TENANT.tenant_id, account_id, payment)
