"""Portfolios: many accounts launched as one campaign."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from domain.account import Account, Identifier, Tenant
from domain.campaign import AccountOutcome, CollectionStatus, DaySeconds
from domain.channels import Channel, TaskQueues
from domain.operator import PauseRequest
from domain.playbook import Playbook
from domain.policy import ContactPolicy
from domain.resilience import RetryRules

# The portfolio file format (CSV header / JSON keys), documented in the README.
PORTFOLIO_COLUMNS = (
    "account_id",
    "name",
    "email",
    "phone",
    "amount_due",
    "currency",
    "due_date",
    "timezone",
    "state",
    "language",
    "sms_consent",
    "voice_consent",
)
# A mailing address, for letters: all of line1, city, state and zip, or none of them.
ADDRESS_COLUMNS = (
    "address_line1",
    "address_line2",
    "address_city",
    "address_state",
    "address_zip",
)


class PortfolioPageRequest(BaseModel):
    """Load accounts ``[offset, offset+limit)`` of a stored portfolio."""

    tenant_id: str
    campaign_id: str
    offset: int = Field(ge=0)
    limit: int = Field(gt=0, le=1000)


class PortfolioPage(BaseModel):
    accounts: list[Account]
    next_offset: int
    exhausted: bool


class PortfolioProgress(BaseModel):
    """The ``progress`` query of a portfolio (also carried across continue-as-new)."""

    total: int = 0
    started: int = 0
    attached: int = 0
    finished: int = 0
    by_status: dict[CollectionStatus, int] = Field(default_factory=dict)
    promised: int = 0
    promises_kept: int = 0
    collected: dict[str, Decimal] = Field(default_factory=dict)
    contacts: dict[Channel, int] = Field(default_factory=dict)

    @property
    def active(self) -> int:
        return self.started + self.attached - self.finished

    def record(self, outcome: AccountOutcome) -> None:
        self.finished += 1
        self.by_status[outcome.status] = self.by_status.get(outcome.status, 0) + 1
        if outcome.promises:
            self.promised += 1
            self.promises_kept += outcome.status is CollectionStatus.PAID
        if outcome.amount_collected:
            self.collected[outcome.currency] = (
                self.collected.get(outcome.currency, Decimal("0")) + outcome.amount_collected
            )
        for channel, count in outcome.contacts.items():
            self.contacts[channel] = self.contacts.get(channel, 0) + count


class PortfolioInput(BaseModel):
    """A portfolio references its accounts (stored at launch), it never carries them."""

    tenant: Tenant
    campaign_id: Identifier
    playbook: Playbook
    total_accounts: int = Field(ge=0)
    window: int = Field(default=200, ge=1, le=2000, description="Max running children.")
    page_size: int = Field(default=100, ge=1, le=1000)
    seconds_per_day: DaySeconds = 86_400
    queues: TaskQueues = Field(default_factory=TaskQueues)
    retry: RetryRules = Field(default_factory=RetryRules, description="The tenant's, resolved.")
    max_history_events: int = Field(default=10_000, ge=100)
    trace_id: str | None = Field(default=None, description="X-Trace-ID of the launch request.")
    settlement_approval_discount: Decimal | None = Field(default=None, ge=0, le=1)
    approval_days: float = Field(default=2, gt=0)
    llm_replies: bool = False
    llm_timeout_seconds: float = Field(default=20, gt=0)
    policy: ContactPolicy = ContactPolicy.FIXED
    exploration: float = Field(default=0.1, ge=0, le=1)
    research: bool = True
    llm_agents: bool = False
    # carried across continue-as-new
    paused: PauseRequest | None = None
    offset: int = 0
    pending: list[str] = Field(default_factory=list)
    progress: PortfolioProgress = Field(default_factory=PortfolioProgress)


class PortfolioStatus(BaseModel):
    """The ``progress`` query result."""

    campaign_id: str
    tenant_id: str
    playbook: str
    total: int
    started: int
    attached: int
    active: int
    finished: int
    by_status: dict[CollectionStatus, int]
    promised: int
    promises_kept: int
    collected: dict[str, Decimal]
    contacts: dict[Channel, int]
    launching_done: bool
    paused: PauseRequest | None = None
