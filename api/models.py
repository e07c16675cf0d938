"""Request and response bodies of the CRM-facing APIs (HTTP and gRPC share them).

An account in a request is the same flat record as a row of a portfolio file
(README, "Portfolio files"): ``account_id, name, email, phone, amount_due, currency,
due_date, timezone, state, ...``, validated by the same parser, so a CRM and a
file upload get the same answers for the same data.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from adapters.report import CampaignReport
from domain.account import Identifier
from domain.campaign import CampaignSnapshot
from domain.channels import Channel
from domain.errors import FieldProblem
from domain.operator import Approval
from domain.portfolio import PortfolioStatus

AccountRecord = dict[str, Any]


class StartCampaign(BaseModel):
    """Start a campaign for a portfolio of accounts."""

    campaign_id: Identifier | None = Field(
        default=None,
        description="Default: derived from the Idempotency-Key header, else a new id.",
    )
    playbook: str = Field(min_length=1, max_length=200, description="A shipped playbook name.")
    accounts: list[AccountRecord] = Field(min_length=1, max_length=100_000)
    seconds_per_day: float = Field(
        default=86_400, gt=0, description="Length of a playbook day (86400: real time)."
    )
    window: int = Field(default=200, ge=1, le=2000, description="Max accounts running at once.")
    as_of: date | None = Field(default=None, description="Days past due count to this date.")
    default_region: str = Field(default="US", min_length=2, max_length=2)


class StartAccountCampaign(BaseModel):
    """Start (or attach to) one account's campaign."""

    campaign_id: Identifier
    playbook: str = Field(min_length=1, max_length=200)
    account: AccountRecord
    seconds_per_day: float = Field(default=86_400, gt=0)
    as_of: date | None = None
    default_region: str = Field(default="US", min_length=2, max_length=2)


class CampaignStarted(BaseModel):
    campaign_id: str
    workflow_id: str
    run_id: str | None
    accepted: int = Field(description="Accounts the campaign holds.")
    rejected: list[FieldProblem] = Field(
        default_factory=list, description="Accounts left out, with the field and the problem."
    )


class AccountCampaignStarted(BaseModel):
    campaign_id: str
    account_id: str
    workflow_id: str
    run_id: str | None


class CampaignView(BaseModel):
    """A campaign's progress (from its workflow) and KPIs (from the read model)."""

    campaign_id: str
    progress: PortfolioStatus | None = Field(
        default=None, description="Absent for accounts started one by one."
    )
    report: CampaignReport | None = Field(
        default=None, description="KPIs; absent until the exporter has projected an event."
    )
    recovery_rate: dict[str, float] = Field(
        default_factory=dict, description="Collected / opening balance, per currency."
    )


class AccountView(BaseModel):
    account: CampaignSnapshot


class HistoryEvent(BaseModel):
    position: int
    message_id: str
    kind: str
    type: str
    status: str | None
    occurred_at: datetime
    campaign_id: str | None
    metadata: dict[str, Any] = Field(default_factory=dict)


class AccountHistory(BaseModel):
    account_id: str
    events: list[HistoryEvent]
    next_after: int = Field(description="Pass as ?after= for the next page.")


class PaymentIn(BaseModel):
    payment_id: Identifier
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    paid_at: datetime | None = None


class ReplyIn(BaseModel):
    reply_id: Identifier
    channel: Channel
    text: str = Field(min_length=1, max_length=10_000)
    from_address: str | None = Field(
        default=None,
        max_length=320,
        description="The number or email it came from: a STOP opts out that address only.",
    )
    received_at: datetime | None = None


class DisputeIn(BaseModel):
    note: str = Field(default="", max_length=500)
    received_at: datetime | None = None


class CeaseIn(BaseModel):
    attorney: bool = Field(default=False, description="Represented by an attorney.")
    note: str = Field(default="", max_length=500)
    received_at: datetime | None = None


class OptOutIn(BaseModel):
    channel: Channel
    address: str | None = Field(default=None, max_length=320)
    reason: str = Field(default="debtor request", max_length=200)


class PauseIn(BaseModel):
    reason: str = Field(default="paused by an operator", max_length=500)
    operator: str = Field(default="operator", min_length=1, max_length=200)


class ResumeIn(BaseModel):
    operator: str = Field(default="operator", min_length=1, max_length=200)
    note: str = Field(default="", max_length=500)


class Accepted(BaseModel):
    """A signal was delivered: the campaign acts on it before its next contact."""

    workflow_id: str
    accepted: bool = True


class PendingApproval(BaseModel):
    account_id: str
    campaign_id: str
    approval: Approval


class ApprovalList(BaseModel):
    approvals: list[PendingApproval]


class DecisionIn(BaseModel):
    approve: bool
    operator: str = Field(default="operator", min_length=1, max_length=200)
    note: str = Field(default="", max_length=500)
