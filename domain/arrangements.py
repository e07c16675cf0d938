"""Settlements and payment plans: what a debtor agreed to, and the saga that books it.

Accepting an arrangement touches three systems that share no transaction: the
payment provider (a payment link), the creditor's ledger (an adjustment) and
the debtor (a confirmation). The account campaign runs them as a saga: each
completed step has a compensation, run in reverse order if a later step fails
for good or an instalment is missed. Every step carries an idempotency key
derived from the arrangement, so a retried or replayed step changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

from pydantic import BaseModel, Field, model_validator

from domain.account import Identifier, Money


class ArrangementKind(StrEnum):
    SETTLEMENT = "settlement"  # a lower amount accepted in full satisfaction
    PAYMENT_PLAN = "payment_plan"  # the whole balance, in instalments


class Instalment(BaseModel):
    due: date
    amount: Money = Field(gt=0)


class ArrangementRequest(BaseModel):
    """The single input of the campaign's ``arrange`` update."""

    arrangement_id: Identifier = Field(description="Resending the same id changes nothing.")
    kind: ArrangementKind
    instalments: list[Instalment] = Field(min_length=1, max_length=60)
    note: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _schedule(self) -> ArrangementRequest:
        if self.kind is ArrangementKind.SETTLEMENT and len(self.instalments) != 1:
            raise ValueError("a settlement is one payment: give exactly one instalment")
        dues = [i.due for i in self.instalments]
        if any(later <= earlier for earlier, later in pairwise(dues)):
            raise ValueError("instalments: due dates must be strictly increasing")
        return self

    @property
    def total(self) -> Decimal:
        return sum((i.amount for i in self.instalments), Decimal("0"))


class ArrangementStatus(StrEnum):
    SETTING_UP = "setting_up"  # saga steps running
    ACTIVE = "active"  # booked and confirmed; instalments being paid
    COMPLETED = "completed"  # every instalment paid
    MISSED = "missed"  # an instalment was missed: compensated, back to collection
    FAILED = "failed"  # a saga step failed for good: compensated, back to collection
    AWAITING_APPROVAL = "awaiting_approval"  # beyond the tenant's threshold: a person decides
    REJECTED = "rejected"  # a person said no: collection goes on as before


class SagaStep(StrEnum):
    PAYMENT_LINK = "payment_link"
    LEDGER = "ledger"
    CONFIRMATION = "confirmation"
    SCHEDULE = "schedule"


class Arrangement(BaseModel):
    """An arrangement's state in the campaign (and in its ``status`` query)."""

    request: ArrangementRequest
    accepted_at: datetime
    number: int = Field(ge=1, description="The campaign's n-th arrangement (names its steps).")
    paid_before: Decimal = Field(description="Paid on the account before it was accepted.")
    status: ArrangementStatus = ArrangementStatus.SETTING_UP
    completed: list[SagaStep] = Field(default_factory=list)
    compensated: list[SagaStep] = Field(default_factory=list)
    link_id: str | None = None
    link_url: str | None = None
    adjustment_id: str | None = None
    detail: str | None = Field(default=None, description="Why it failed or was missed.")


class ArrangementTerms(BaseModel):
    """What a confirmation, reminder or correction tells the debtor."""

    kind: ArrangementKind
    total: Money
    instalments: list[Instalment]
    link_url: str | None = None
    instalment_number: int | None = Field(default=None, description="Reminders: which one.")
    reason: str | None = Field(default=None, description="Corrections: why it was cancelled.")


# --- saga activities' inputs and results -------------------------------------------


class PaymentLinkRequest(BaseModel):
    tenant_id: str
    account_id: str
    amount: Money
    currency: str
    description: str
    idempotency_key: str


class PaymentLinkRef(BaseModel):
    link_id: str
    url: str


class CancelPaymentLink(BaseModel):
    link_id: str
    idempotency_key: str


class LedgerAdjustmentRequest(BaseModel):
    account_id: str
    kind: str
    amount: Money
    currency: str
    reference: str
    memo: str
    idempotency_key: str


class LedgerAdjustmentRef(BaseModel):
    adjustment_id: str


class ReverseLedgerAdjustment(BaseModel):
    adjustment_id: str
    reason: str
    idempotency_key: str


# --- the instalment schedule (child workflow) --------------------------------------


class ScheduledInstalment(BaseModel):
    number: int = Field(ge=1)
    amount: Money
    due_at: datetime
    remind_at: datetime
    deadline: datetime = Field(description="Due plus grace: unpaid by then is missed.")


class PlanScheduleInput(BaseModel):
    arrangement_id: str
    parent_workflow_id: str
    currency: str
    instalments: list[ScheduledInstalment] = Field(min_length=1)


class PlanPayments(BaseModel):
    """Signal to the schedule: how much has been paid toward the arrangement so far."""

    total_paid: Decimal


class InstalmentReminder(BaseModel):
    """Signal to the campaign: remind the debtor of an instalment now."""

    arrangement_id: str
    number: int
    amount: Decimal
    due_at: datetime


class PlanOutcome(BaseModel):
    arrangement_id: str
    completed: bool
    missed: int | None = Field(default=None, description="The first instalment missed.")
    total_paid: Decimal
