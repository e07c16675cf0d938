"""Campaign state, the messages that steer it, and what it reports."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from domain.account import ID_PATTERN, Account, CurrencyCode, Identifier, Money, Tenant
from domain.arrangements import Arrangement, InstalmentReminder
from domain.channels import Channel, TaskQueues
from domain.compliance.facts import GateRecord, LegalHolds
from domain.compliance.model import PastContact
from domain.contact import ContactAttempt
from domain.events import ExportRecord
from domain.next_action import ActionOutcome, Arm, OutcomeKind
from domain.operator import Approval, PauseRequest
from domain.playbook import Playbook
from domain.policy import ContactPolicy
from domain.replies import ReplyIntent
from domain.research import Exchange, ResearchFacts
from domain.resilience import RetryRules
from domain.supervision import Disagreement

# A playbook day lasts at most a real day (86,400 s) and at least 10 ms (the demo and
# tests compress days to fractions of a second). The bounds keep timer arithmetic
# finite: an infinite or huge day made ``timedelta`` overflow in the workflow, whose
# task then failed on every attempt, for ever.
MIN_DAY_SECONDS = 0.01
MAX_DAY_SECONDS = 86_400.0
DaySeconds = Annotated[float, Field(ge=MIN_DAY_SECONDS, le=MAX_DAY_SECONDS, allow_inf_nan=False)]


class CollectionStatus(StrEnum):
    """Where an account's campaign stands (also the ``RecoupStatus`` search attribute)."""

    SCHEDULED = "scheduled"  # started, first touch not yet made
    ACTIVE = "active"  # outreach under way
    PROMISED = "promised"  # outreach paused on a promise to pay
    ARRANGED = "arranged"  # on a settlement or payment plan: outreach paused
    SETTLED = "settled"  # a settlement was paid: the rest of the balance is forgiven
    PAID = "paid"  # balance cleared: no further contact
    OPTED_OUT = "opted_out"  # no channel left that may be used
    RESPONDED = "responded"  # debtor replied and the playbook hands over to a person
    DISPUTED = "disputed"  # written dispute: collection paused until verification is sent
    CEASED = "ceased"  # cease request or attorney representation: no further contact
    EXHAUSTED = "exhausted"  # playbook finished with a balance left
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in {
            CollectionStatus.PAID,
            CollectionStatus.SETTLED,
            CollectionStatus.OPTED_OUT,
            CollectionStatus.RESPONDED,
            CollectionStatus.CEASED,
            CollectionStatus.EXHAUSTED,
            CollectionStatus.CANCELLED,
        }


# --- signals ---------------------------------------------------------------


class PaymentReceived(BaseModel):
    """A payment (full or partial). ``payment_id`` makes redelivery harmless."""

    payment_id: Identifier
    amount: Money = Field(gt=0)
    currency: CurrencyCode
    paid_at: datetime | None = None
    source: str = "api"


class InboundReply(BaseModel):
    """A message from the debtor on any channel."""

    reply_id: Identifier
    channel: Channel
    text: str = Field(max_length=10_000)
    from_address: str | None = None
    received_at: datetime | None = None


class OptOutRequest(BaseModel):
    """Stop using a channel: one address of it, or all of it when ``address`` is None."""

    channel: Channel
    address: str | None = None
    reason: str = "debtor request"
    revocation_id: str | None = Field(
        default=None, description="Its record in the suppression store, when it has one."
    )


class WatchRequest(BaseModel):
    """Ask a running campaign to report its outcome to another workflow (a portfolio)."""

    workflow_id: str


# --- workflow inputs, query results and outcomes --------------------------


class ChosenAction(BaseModel):
    """The next-best-action agent's choice for one step (kept if the step must wait)."""

    step_id: str
    arm: Arm
    explored: bool
    reason: str


class WatchedContact(BaseModel):
    """A contact the adaptive policy made, watched for what it leads to (N days)."""

    outcome_id: str
    segment: str
    arm: Arm
    at: datetime
    best: OutcomeKind = "none"
    # The balance when the contact was made, and what was paid while it was watched: a
    # payment's reward is the share of the balance it brought in. None: watched before
    # rewards counted the amount (a payment then earns 1).
    owed: Decimal | None = None
    paid: Decimal = Decimal(0)


class ReplyUnderReview(BaseModel):
    """A reply the reader was unsure of, waiting for a person (a ``review_reply`` approval).

    What acting on it later needs, never the reply's text: the person decides from the
    text where the reply is stored, the campaign acts on the label they chose.
    """

    approval_id: str
    reply_id: str
    channel: Channel
    from_address: str | None = None
    received_at: datetime
    intent: ReplyIntent = Field(description="The reader's reading (approving acts on it).")
    runner_up: ReplyIntent = Field(description="Its second choice (rejecting acts on it).")
    confidence: float = Field(ge=0, le=1)
    promise_date: date | None = Field(default=None, description="Of the reading only.")
    promise_amount: Decimal | None = Field(default=None, description="Of the reading only.")


class CampaignState(BaseModel):
    """Everything a campaign must remember across continue-as-new."""

    status: CollectionStatus = CollectionStatus.SCHEDULED
    started_at: datetime | None = None
    balance: Decimal
    amount_paid: Decimal = Decimal("0")
    next_step: int = 0
    attempts: list[ContactAttempt] = Field(default_factory=list)
    payment_ids: list[str] = Field(default_factory=list)
    reply_ids: list[str] = Field(default_factory=list)
    replies: int = 0
    promises: int = 0
    last_reply_intent: str | None = None
    promise_until: datetime | None = None
    dead_letters: list[str] = Field(default_factory=list, description="Ids, oldest first.")
    redrives: list[str] = Field(default_factory=list, description="Step ids to contact again.")
    redrive_count: int = 0
    arrangement: Arrangement | None = None
    arrangement_pending: bool = Field(default=False, description="Accepted, saga not started.")
    arrangement_count: int = 0
    reminders: list[InstalmentReminder] = Field(default_factory=list)
    watchers: list[str] = Field(default_factory=list)
    account: Account
    holds: LegalHolds = Field(default_factory=LegalHolds)
    history_loaded: bool = False
    prior_contacts: list[PastContact] = Field(
        default_factory=list, description="Recent contacts of earlier campaigns of this debt."
    )
    decisions: list[GateRecord] = Field(default_factory=list)
    event_seq: int = Field(default=0, description="Numbers this campaign's exported records.")
    outbox: list[ExportRecord] = Field(
        default_factory=list, description="Records decided but not yet in the event log."
    )
    paused: PauseRequest | None = Field(default=None, description="Set while an operator paused.")
    callbacks: list[str] = Field(
        default_factory=list, description="Replies asking for a call, oldest first."
    )
    approvals: list[Approval] = Field(default_factory=list)
    unread: list[InboundReply] = Field(
        default_factory=list, description="Replies waiting for the reader activity, oldest first."
    )
    reviews: list[ReplyUnderReview] = Field(
        default_factory=list,
        description="Replies read with low confidence, until a person (or "
        "the deadline) decides what they said; oldest first.",
    )
    # The research agent's latest brief and facts; stale once something new happened.
    brief: str | None = None
    research: ResearchFacts | None = None
    research_stale: bool = True
    exchanges: list[Exchange] = Field(
        default_factory=list, description="This conversation's last exchanges (newest last)."
    )
    recent_decisions: list[str] = Field(default_factory=list, description="Newest last.")
    # Next best action (adaptive policy): the choice for the current step, the contacts
    # whose outcome is still being watched, and outcomes not yet recorded.
    action: ChosenAction | None = None
    watched: list[WatchedContact] = Field(default_factory=list)
    settled: list[ActionOutcome] = Field(default_factory=list)
    # Disagreements between agents waiting for the supervisor, and its standing rulings.
    disagreements: list[Disagreement] = Field(default_factory=list)
    model_may_write: bool = True
    # Stored revocations already applied (domain.revocations): a signal carrying one that
    # a channel agent's refusal applied first changes nothing twice. Newest last.
    revocations_applied: list[str] = Field(default_factory=list)


class AccountCampaignInput(BaseModel):
    tenant: Tenant
    campaign_id: Identifier
    account: Account
    playbook: Playbook
    seconds_per_day: DaySeconds = Field(
        default=86_400, description="Compress playbook days (demo, tests)."
    )
    queues: TaskQueues = Field(default_factory=TaskQueues)
    retry: RetryRules = Field(default_factory=RetryRules, description="The tenant's, resolved.")
    parent_workflow_id: str | None = None
    max_history_events: int = Field(
        default=10_000, ge=100, description="Continue-as-new above this history length."
    )
    state: CampaignState | None = None
    trace_id: str | None = Field(
        default=None, description="X-Trace-ID of the request that started it (32 hex digits)."
    )
    settlement_approval_discount: Decimal | None = Field(
        default=None,
        ge=0,
        le=1,
        description="A settlement forgiving more than this share of the balance waits for a "
        "person's approval (None: agents may agree any settlement).",
    )
    approval_days: float = Field(
        default=2,
        gt=0,
        description="Playbook days a person has to decide; then the safe default applies.",
    )
    llm_replies: bool = Field(
        default=False, description="Replies are read by the language model (an activity)."
    )
    reader_activity: bool = Field(
        default=False,
        description="Replies are read in the reader activity (its result is recorded, so a new "
        "model or new rules never change a running campaign's replay). Every starter sets it; "
        "inputs of runs that began before it lack it and keep reading in the workflow with the "
        "rules of that time, so that their histories replay.",
    )
    review_below: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="A reading by the shipped model less confident than this waits for a "
        "person (a review_reply approval); 0: never (RECOUP_REPLY_REVIEW_BELOW).",
    )
    llm_timeout_seconds: float = Field(
        default=20, gt=0, description="The model's own deadline for one call (settings)."
    )
    policy: ContactPolicy = Field(
        default=ContactPolicy.FIXED,
        description="fixed: the playbook's channels and days; adaptive: next best action.",
    )
    exploration: float = Field(
        default=0.1, ge=0, le=1, description="Bound on random next-best-action choices."
    )
    research: bool = Field(
        default=True, description="The research agent briefs the other agents before touches."
    )
    llm_agents: bool = Field(
        default=False, description="A language model is configured (supervisor rulings)."
    )
    web_ui_columns: bool = Field(
        default=False,
        description="Upsert the web UI list's columns (balance band, next action, approval "
        "deadline), never the amount due. Every starter sets it; inputs of runs that began "
        "before it existed lack it, and those runs ask workflow.patched instead.",
    )
    negative_outcomes: bool = Field(
        default=False,
        description="Under the adaptive policy, an opt-out, a dispute or a complaint after a "
        "contact is that contact's outcome, with the tenant's negative reward. Every starter "
        "sets it; inputs of runs that began before it lack it and learn from payments, "
        "promises and replies only, so that their histories replay.",
    )
    history_at_first_contact: bool = Field(
        default=False,
        description="Load the debt's recent contacts (the gate's history) right before the "
        "first contact, beside the research brief, instead of at the start: a launch with "
        "nothing due starts a campaign with one activity fewer, and the history is that "
        "of the moment it is used. Every starter sets it; inputs of runs that began before "
        "it lack it and load at their start, so that their histories replay.",
    )
    nba_seed: str | None = Field(
        default=None,
        max_length=100,
        description="Seed of the next-best-action draws with the workflow id and step, instead "
        "of the run id: the same choices when run again (simulations; RECOUP_NBA_SEED).",
    )


class CampaignSnapshot(BaseModel):
    """The ``status`` query of an account campaign."""

    tenant_id: str
    campaign_id: str
    account_id: str
    playbook: str
    status: CollectionStatus
    balance: Decimal
    amount_paid: Decimal
    currency: str
    steps_done: int
    steps_total: int
    next_action: str | None
    next_action_at: datetime | None
    attempts: list[ContactAttempt]
    replies: int
    last_reply_intent: str | None
    promise_until: datetime | None
    holds: LegalHolds
    decisions: list[GateRecord]
    dead_letters: list[str] = Field(default_factory=list)
    arrangement: Arrangement | None = None
    paused: PauseRequest | None = None
    approvals: list[Approval] = Field(default_factory=list)
    unread_replies: int = Field(default=0, description="Replies the model is yet to read.")


class AccountOutcome(BaseModel):
    """What one account campaign ended with; also signalled to its portfolio."""

    account_id: str
    workflow_id: str
    status: CollectionStatus
    amount_collected: Decimal
    balance: Decimal
    currency: str
    contacts: dict[Channel, int] = Field(default_factory=dict)
    promises: int = Field(default=0, description="Promises to pay the debtor made.")


# Every workflow of a tenant has an id ``{kind}/{tenant}/…`` with one of these kinds; the
# payload codec binds the tenant it names into what the workflow's payloads encrypt.
TENANT_WORKFLOW_KINDS = frozenset({"account", "portfolio", "plan"})
_TENANT_ID = re.compile(ID_PATTERN)


def account_workflow_id(tenant_id: str, account_id: str) -> str:
    return f"account/{tenant_id}/{account_id}"


def portfolio_workflow_id(tenant_id: str, campaign_id: str) -> str:
    return f"portfolio/{tenant_id}/{campaign_id}"


def plan_workflow_id(tenant_id: str, account_id: str, arrangement_id: str) -> str:
    """The payment-plan child of an account's arrangement saga."""
    return f"plan/{tenant_id}/{account_id}/{arrangement_id}"


def tenant_of_workflow_id(workflow_id: str) -> str | None:
    """The tenant a workflow id names, or None for workflows of no tenant.

    Only the kinds above name one (simulator and benchmark workflows, e.g.
    ``sim-debtor/A-1/…``, have other first segments). Tenant ids cannot hold ``/``
    (``ID_PATTERN``), so the second segment is the whole tenant id.
    """
    kind, _, rest = workflow_id.partition("/")
    tenant, slash, tail = rest.partition("/")
    if kind not in TENANT_WORKFLOW_KINDS or not slash or not tail:
        return None
    return tenant if _TENANT_ID.fullmatch(tenant) else None
