"""Tenants, debtors' accounts and their contact points."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from domain.zones import known_zones

# Ids end up inside workflow ids (``account/{tenant}/{account_id}``) and search
# attributes, so they are restricted to characters that need no escaping there (and no
# ``/``: a workflow id's segments can be told apart, see ``domain.campaign``).
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
E164 = Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{6,14}$")]
EmailAddress = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=254, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"
    ),
]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Money = Annotated[Decimal, Field(max_digits=15, decimal_places=2)]
# The largest amount a debt or a payment may have when it enters Recoup (API, gRPC,
# portfolio files). Twelve digits before the point: far beyond any debt in dollars or
# euros, and still room for large debts in currencies of small units (dong, rupiah,
# won). ``Money`` allows one digit more, so records already stored keep decoding.
MAX_AMOUNT = Decimal("999999999999.99")
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
# A company named in messages: a blank one would leave the debtor not knowing who is owed.
CompanyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

_STATE = re.compile(r"^[A-Z]{2}$")


class Tenant(BaseModel):
    """A creditor or agency running campaigns; everything is scoped by tenant.

    Two names reach debtors. ``name`` is the collector, who the debtor hears from: the
    agency (third-party), or the creditor itself (first-party). ``creditor`` is whom the
    debts are owed to, for accounts whose portfolio row names no creditor of its own;
    unset, the tenant is collecting its own debts, so the creditor is ``name``.
    """

    model_config = ConfigDict(frozen=True)

    tenant_id: Identifier
    name: str = Field(
        min_length=1,
        max_length=200,
        description="The collector, shown to debtors: the agency, or the creditor itself.",
    )
    creditor: CompanyName | None = Field(
        default=None,
        description="Whom the debts are owed to, unless an account names its own creditor; "
        "None: the tenant collects its own debts (first-party).",
    )
    # What a contact that led to harm is worth to the adaptive policy (domain.next_action),
    # relative to a payment's 1.0: negative, or 0 not to count that harm.
    opt_out_penalty: float = Field(
        default=-1.0,
        ge=-10,
        le=0,
        description="Reward of a contact followed by an opt-out (STOP, unsubscribe, revoked "
        "consent, cease) within the attribution window; -1: it loses what a payment earns.",
    )
    dispute_penalty: float = Field(
        default=-0.5,
        ge=-10,
        le=0,
        description="Reward of a contact followed by a dispute within the attribution window.",
    )
    complaint_penalty: float = Field(
        default=-2.0,
        ge=-10,
        le=0,
        description="Reward of a contact followed by a complaint (a spam report, a complaint "
        "opt-out) within the attribution window: a complaint costs more than a payment earns.",
    )

    @property
    def first_party(self) -> bool:
        return self.creditor is None or same_name(self.creditor, self.name)

    def creditor_for(self, account_creditor: str | None) -> str:
        """Whom an account's debt is owed to: the portfolio row's creditor where it
        names one, else the tenant's, else the tenant itself (first-party)."""
        return account_creditor or self.creditor or self.name


def same_name(one: str, other: str) -> bool:
    """Whether two names are the same company, ignoring case and spacing."""
    return " ".join(one.split()).casefold() == " ".join(other.split()).casefold()


class EmailContact(BaseModel):
    """An email address with its consent and opt-out state."""

    address: EmailAddress
    consent: bool = True
    opted_out: bool = False

    @property
    def usable(self) -> bool:
        return self.consent and not self.opted_out


class PhoneContact(BaseModel):
    """A phone number (E.164) with TCPA consent and opt-out per medium."""

    number: E164
    sms_consent: bool = False
    voice_consent: bool = False
    sms_opted_out: bool = False
    voice_opted_out: bool = False

    @property
    def sms_usable(self) -> bool:
        return self.sms_consent and not self.sms_opted_out

    @property
    def voice_usable(self) -> bool:
        return self.voice_consent and not self.voice_opted_out


ZipCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{5}(-\d{4})?$")]
AddressLine = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class PostalAddress(BaseModel):
    """A US mailing address a letter can be sent to, with its opt-out.

    Lines are at most 64 characters, as print-and-mail providers (Lob) accept them.
    """

    model_config = ConfigDict(frozen=True)

    line1: AddressLine
    line2: AddressLine | None = None
    city: AddressLine
    state: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    zip: ZipCode
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "US"
    opted_out: bool = Field(
        default=False, description="The debtor asked for no letters (or mail came back)."
    )

    @property
    def usable(self) -> bool:
        return not self.opted_out

    def one_line(self) -> str:
        """The address as one line: its key in the contact ledger and suppressions."""
        parts = [self.line1, self.line2, self.city, f"{self.state} {self.zip}"]
        return ", ".join(p for p in parts if p)


class Account(BaseModel):
    """One overdue debt of one debtor, as imported from a portfolio."""

    account_id: Identifier
    debtor_name: str = Field(min_length=1, max_length=200)
    emails: list[EmailContact] = Field(default_factory=list)
    phones: list[PhoneContact] = Field(default_factory=list)
    address: PostalAddress | None = Field(
        default=None, description="Where letters go; None: no letter can be sent."
    )
    amount_due: Money = Field(gt=0)
    currency: CurrencyCode = "USD"
    due_date: date
    days_past_due: int = Field(ge=0)
    timezones: list[str] = Field(
        default_factory=list,
        description="IANA zones the debtor may be in; empty when unknown.",
    )
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "US"
    state: str | None = None
    language: LanguageCode = "en"
    creditor: str | None = Field(default=None, max_length=200)
    time_barred: bool = Field(
        default=False, description="Past the statute of limitations: no threat of suit."
    )
    priority: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description="Temporal task priority of its calls: 1 is called first; None is 3.",
    )

    _zones = field_validator("timezones")(known_zones)

    @field_validator("state")
    @classmethod
    def _state_code(cls, state: str | None) -> str | None:
        if state is not None and not _STATE.match(state):
            raise ValueError(f"state must be a two-letter code, got {state!r}")
        return state

    @property
    def has_contact_point(self) -> bool:
        return bool(self.emails or self.phones or self.address)
