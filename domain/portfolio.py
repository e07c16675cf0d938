"""Portfolios: many accounts launched as one campaign."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from domain.account import Account, Identifier, Tenant
from domain.campaign import AccountCampaignInput, AccountOutcome, CollectionStatus, DaySeconds
from domain.channels import Channel, TaskQueues
from domain.contact import format_amount
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


class CensusRequest(BaseModel):
    tenant_id: str
    campaign_id: str
    started: int = Field(
        default=0,
        ge=0,
        description="Campaigns the portfolio started: where visibility cannot count (the "
        "time-skipping test server), open = started - finished in the read model.",
    )


class Census(BaseModel):
    """A campaign's accounts counted where counting scales (docs/metrics.md).

    ``open`` and ``indexed`` come from Temporal visibility (account campaign workflows
    whose ``RecoupCampaign`` is the campaign: running, and in any state); the rest from
    the SQL read model, which the exporter fills from the event log.
    """

    open: int = 0
    indexed: int = 0
    read_model: bool = Field(
        default=True, description="False when the deployment projects no SQL read model."
    )
    accounts: int = 0
    finished: int = 0
    by_status: dict[str, int] = Field(default_factory=dict)
    promised: int = Field(
        default=0, description="Promises to pay made (an account may make several)."
    )
    promises_kept: int = 0
    collected: dict[str, Decimal] = Field(default_factory=dict)
    contacts: dict[str, int] = Field(
        default_factory=dict, description="Contact attempts by channel, skipped ones excluded."
    )


class PortfolioInput(BaseModel):
    """A portfolio references its accounts (stored at launch), it never carries them."""

    tenant: Tenant
    campaign_id: Identifier
    playbook: Playbook
    total_accounts: int = Field(ge=0)
    window: int = Field(
        default=200,
        ge=1,
        le=2000,
        description="Runs before the launcher (PORTFOLIO_LAUNCHER) only: max running children.",
    )
    starts_in_flight: int = Field(
        default=64,
        ge=1,
        le=2000,
        description="Account campaign starts in flight at once (never a bound on open ones).",
    )
    starts_per_second: float | None = Field(
        default=None, gt=0, description="At most this many starts a second (None: no limit)."
    )
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
    review_below: float = Field(default=0.0, ge=0, le=1)
    policy: ContactPolicy = ContactPolicy.FIXED
    exploration: float = Field(default=0.1, ge=0, le=1)
    nba_seed: str | None = Field(default=None, max_length=100)
    research: bool = True
    llm_agents: bool = False
    # carried across continue-as-new
    paused: PauseRequest | None = None
    offset: int = 0
    pending: list[str] = Field(default_factory=list)
    progress: PortfolioProgress = Field(default_factory=PortfolioProgress)
    census: Census | None = None
    cancelled: bool = Field(
        default=False, description="The launcher was stopped: a new run starts no account."
    )

    def census_interval(self) -> float:
        """Seconds between two counts of the campaign's accounts: a quarter of a playbook
        day, at least a second (compressed days) and at most ten minutes (real days)."""
        return min(max(self.seconds_per_day / 4, 1.0), 600.0)

    def launch_census_interval(self) -> float:
        """Seconds between two counts while accounts are still being started."""
        return min(self.census_interval(), 30.0)


def account_campaign_input(
    inp: PortfolioInput, account: Account, parent_workflow_id: str | None
) -> AccountCampaignInput:
    """One account's campaign, as the portfolio ``inp`` starts it.

    ``parent_workflow_id``: whom the campaign signals when it ends; the launcher passes
    None (it counts from the read model and visibility, not from one signal per account).
    """
    return AccountCampaignInput(
        tenant=inp.tenant,
        campaign_id=inp.campaign_id,
        account=account,
        playbook=inp.playbook,
        seconds_per_day=inp.seconds_per_day,
        queues=inp.queues,
        retry=inp.retry,
        parent_workflow_id=parent_workflow_id,
        max_history_events=inp.max_history_events,
        trace_id=inp.trace_id,
        settlement_approval_discount=inp.settlement_approval_discount,
        approval_days=inp.approval_days,
        llm_replies=inp.llm_replies,
        llm_timeout_seconds=inp.llm_timeout_seconds,
        policy=inp.policy,
        exploration=inp.exploration,
        research=inp.research,
        llm_agents=inp.llm_agents,
        web_ui_columns=True,
        reader_activity=True,
        negative_outcomes=True,
        history_at_first_contact=True,
        nba_seed=inp.nba_seed,
        review_below=inp.review_below,
    )


def campaign_summary(playbook: str, campaign_id: str, account: Account) -> str:
    """The UI's static summary of an account campaign: ids and amounts, never PII."""
    due = format_amount(account.amount_due, account.currency)
    return (
        f"{playbook} playbook · campaign {campaign_id} · account {account.account_id} · "
        f"{due} · {account.days_past_due} days past due"
    )


class StartPageRequest(BaseModel):
    """Start the account campaigns of accounts ``[offset, offset+limit)`` of a portfolio.

    ``portfolio`` is the portfolio's input without its carried state: what every
    account's campaign is started with.
    """

    portfolio: PortfolioInput
    offset: int = Field(ge=0)
    limit: int = Field(gt=0, le=1000)


class PageStarted(BaseModel):
    """What one page's starts did: every account is either started or attached."""

    started: int = 0
    attached: int = Field(
        default=0, description="Accounts whose campaign of another campaign id was running."
    )
    next_offset: int
    exhausted: bool


class PortfolioStatus(BaseModel):
    """A campaign's progress: the ``progress`` query's launch counters, and figures counted
    where counting scales (``Census``), each defined once in docs/metrics.md."""

    campaign_id: str
    tenant_id: str
    playbook: str
    total: int
    started: int
    attached: int
    active: int
    finished: int
    by_status: dict[CollectionStatus, int]
    promised: int = Field(description="Promises to pay made (an account may make several).")
    promises_kept: int
    collected: dict[str, Decimal]
    contacts: dict[Channel, int] = Field(
        description="Contact attempts by channel (a skipped step is not an attempt)."
    )
    launching_done: bool
    paused: PauseRequest | None = None
    cancelled: bool = False
    counted_at: datetime | None = Field(
        default=None, description="When the counted figures were read (None: unknown)."
    )

    def counted(self, census: Census, at: datetime | None = None) -> PortfolioStatus:
        """This status with every counted figure from ``census`` (launch counters kept)."""
        return self.model_copy(
            update={
                "active": census.open,
                "finished": census.finished,
                "by_status": {
                    CollectionStatus(k): v for k, v in census.by_status.items() if k in _STATUSES
                },
                "promised": census.promised,
                "promises_kept": census.promises_kept,
                "collected": dict(census.collected),
                "contacts": {Channel(k): v for k, v in census.contacts.items() if k in _CHANNELS},
                "counted_at": at,
            }
        )


_STATUSES = {s.value for s in CollectionStatus}
_CHANNELS = {c.value for c in Channel}
