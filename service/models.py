"""Request and response bodies of the CRM-facing APIs (HTTP and gRPC share them).

An account in a request is the same flat record as a row of a portfolio file
(README, "Portfolio files"): ``account_id, name, email, phone, amount_due, currency,
due_date, timezone, state, ...``, validated by the same parser, so a CRM and a
file upload get the same answers for the same data.

Every number a client sends is bounded here, so that the schema (and the gRPC
API, which validates into these models) refuses what the system cannot act on:
infinite or huge playbook days, amounts beyond ``MAX_AMOUNT`` or with fractions of
a cent, days outside 1900..tomorrow.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import phonenumbers
from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from adapters.report import CampaignReport
from domain.account import MAX_AMOUNT, Identifier
from domain.campaign import MAX_DAY_SECONDS, CampaignSnapshot, DaySeconds
from domain.channels import Channel
from domain.errors import FieldProblem
from domain.operator import Approval, LaunchAction, LaunchState
from domain.portfolio import PortfolioStatus

AccountRecord = dict[str, Any]

EARLIEST_DAY = date(1900, 1, 1)
_CENT = Decimal("0.01")


def _day_that_has_come(day: date | None) -> date | None:
    """``as_of`` lies between 1900-01-01 and tomorrow (UTC).

    Tomorrow, because at UTC+14 it is already tomorrow: a team there may count days
    past due to its own today. Later days would overstate how late a debt is, which
    settlement recommendations and reports read.
    """
    if day is None:
        return None
    if day < EARLIEST_DAY:
        raise PydanticCustomError(
            "day_too_early", "must be {earliest} or later", {"earliest": EARLIEST_DAY.isoformat()}
        )
    latest = datetime.now(UTC).date() + timedelta(days=1)
    if day > latest:
        raise PydanticCustomError(
            "day_in_the_future",
            "must be {latest} or earlier: days past due count to a day that has come",
            {"latest": latest.isoformat()},
        )
    return day


AsOf = Annotated[
    date | None,
    AfterValidator(_day_that_has_come),
    Field(
        description="Days past due count to this day (default: today, UTC); "
        "1900-01-01 to tomorrow (UTC)."
    ),
]
PlaybookDay = Annotated[
    DaySeconds,
    Field(
        description=f"Length of a playbook day in seconds: {MAX_DAY_SECONDS:g} is real time, "
        "less compresses days (demos, tests); finite, 0.01 to 86400."
    ),
]
# A positive amount as a decimal string: up to 12 digits, at most 2 decimal places.
AMOUNT_PATTERN = r"^(?:[1-9][0-9]{0,11}(?:\.[0-9]{1,2})?|0?\.(?:0[1-9]|[1-9][0-9]?))$"
Amount = Annotated[
    Decimal,
    Field(
        gt=0,
        le=MAX_AMOUNT,
        max_digits=14,
        decimal_places=2,
        allow_inf_nan=False,
    ),
    # "1E+2" and "100" are the same amount: carry it as 100.00.
    AfterValidator(lambda amount: amount.quantize(_CENT)),
    # Documented as what clients should send, a decimal string (a JSON number is read
    # as its shortest decimal text, and held to the same bounds).
    WithJsonSchema(
        {
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "examples": ["250.00"],
            "description": f"A decimal amount: greater than 0, at most {MAX_AMOUNT}, "
            "at most 2 decimal places.",
        }
    ),
]


def _phone_region(region: str) -> str:
    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise PydanticCustomError(
            "unknown_region",
            "must be an ISO 3166 region with phone numbers, such as US or GB (got '{region}')",
            {"region": region},
        )
    return region.upper()


Region = Annotated[
    str,
    Field(min_length=2, max_length=2),
    AfterValidator(_phone_region),
    # Documented as the regions phonenumbers knows (lower case is read too).
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(phonenumbers.SUPPORTED_REGIONS),
            "description": "ISO 3166 region of phone numbers written without a country code.",
        }
    ),
]


class StartCampaign(BaseModel):
    """Start a campaign for a portfolio of accounts."""

    campaign_id: Identifier | None = Field(
        default=None,
        description="Default: derived from the Idempotency-Key header, else a new id.",
    )
    playbook: str = Field(min_length=1, max_length=200, description="A shipped playbook name.")
    accounts: list[AccountRecord] = Field(min_length=1, max_length=100_000)
    seconds_per_day: PlaybookDay = 86_400
    window: int = Field(
        default=64,
        ge=1,
        le=2000,
        description="Account campaign starts in flight at once. Every account's campaign is "
        "started and may stay open; this bounds how fast, not how many.",
    )
    as_of: AsOf = None
    default_region: Region = "US"


class StartAccountCampaign(BaseModel):
    """Start (or attach to) one account's campaign."""

    campaign_id: Identifier
    playbook: str = Field(min_length=1, max_length=200)
    account: AccountRecord
    seconds_per_day: PlaybookDay = 86_400
    as_of: AsOf = None
    default_region: Region = "US"


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
    amount: Amount
    currency: str = Field(
        pattern=r"^[A-Z]{3}$", description="ISO 4217; must be the account's currency."
    )
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


class CancelIn(BaseModel):
    reason: str = Field(default="cancelled by an operator", max_length=500)
    operator: str = Field(default="operator", min_length=1, max_length=200)


class ResumeIn(BaseModel):
    operator: str = Field(default="operator", min_length=1, max_length=200)
    note: str = Field(default="", max_length=500)


class Accepted(BaseModel):
    """A signal was delivered: the campaign acts on it before its next contact."""

    workflow_id: str
    accepted: bool = True


class CampaignSteered(Accepted):
    """A whole campaign paused, resumed or cancelled: its launcher, and a batch operation
    over its running account campaigns (``done`` False: the batch still runs)."""

    campaign_id: str
    action: LaunchAction
    launcher: LaunchState | None = None
    job_id: str
    done: bool
    selected: int
    reached: int
    failed: int
    seconds: float


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
