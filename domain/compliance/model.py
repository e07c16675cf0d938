"""What the compliance gate decides on, and what it answers.

The field names follow ``recoup compliance check``'s input format, which a
compliance officer writes by hand: ``account`` facts, ``history`` of past
contacts about this one debt, and the ``proposed`` contact.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from domain.channels import Channel
from domain.zones import known_zones


class Reason(StrEnum):
    """Why a contact is (not) allowed. ``PRECEDENCE`` orders them."""

    OK = "ok"
    CEASE = "cease"
    ATTORNEY = "attorney"
    DISPUTE_HOLD = "dispute_hold"
    OPTED_OUT = "opted_out"
    NO_CONSENT = "no_consent"
    POST_CONVERSATION_7DAY = "post_conversation_7day"
    CALL_FREQUENCY_7IN7 = "call_frequency_7in7"
    STATE_FREQUENCY_LIMIT = "state_frequency_limit"
    QUIET_HOURS = "quiet_hours"

    @property
    def permanent(self) -> bool:
        """Ends only with a future event (consent, opt-in, verification ...), never by time."""
        return self in PERMANENT


PRECEDENCE: tuple[Reason, ...] = (
    Reason.CEASE,
    Reason.ATTORNEY,
    Reason.DISPUTE_HOLD,
    Reason.OPTED_OUT,
    Reason.NO_CONSENT,
    Reason.POST_CONVERSATION_7DAY,
    Reason.CALL_FREQUENCY_7IN7,
    Reason.STATE_FREQUENCY_LIMIT,
    Reason.QUIET_HOURS,
)
PERMANENT = frozenset(
    {Reason.CEASE, Reason.ATTORNEY, Reason.DISPUTE_HOLD, Reason.OPTED_OUT, Reason.NO_CONSENT}
)

PastOutcome = Literal["no_answer", "voicemail", "conversation", "delivered"]


class ComplianceFacts(BaseModel):
    """The account's legal state for one debt (``account`` in the check input)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezones: list[str] = Field(
        default_factory=list, description="IANA zones the debtor may be in; empty = unknown."
    )
    country: str = "US"
    state: str | None = None
    sms_consent: bool = False
    voice_consent: bool = False
    opted_out: list[str] = Field(
        default_factory=list,
        description=(
            "'email:ADDR', 'sms:E164', 'phone:E164', 'letter:ADDRESS ON ONE LINE', or "
            "'CHANNEL:*' (a whole medium)."
        ),
    )
    cease: bool = False
    attorney: bool = False
    disputed_unverified: bool = False

    _zones = field_validator("timezones")(known_zones)

    @field_validator("opted_out")
    @classmethod
    def _opt_out_form(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            channel, sep, address = entry.partition(":")
            if not sep or channel not in {c.value for c in Channel} or not address:
                raise ValueError(
                    f"{entry!r} is not 'email:ADDRESS', 'sms:+E164', 'phone:+E164', "
                    "'letter:ADDRESS ON ONE LINE' or 'CHANNEL:*'"
                )
        return entries


class PastContact(BaseModel):
    """One earlier event about this debt (``history[]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime
    channel: Channel
    outcome: PastOutcome
    to: str | None = None
    direction: Literal["outbound", "inbound"] = "outbound"


class ProposedContact(BaseModel):
    """The contact the gate is asked about (``proposed``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime
    channel: Channel
    to: str | None = None


class Decision(BaseModel):
    """The gate's answer. ``earliest_allowed`` is None when a permanent bar applies."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    reason: Reason
    reasons: list[Reason]
    earliest_allowed: datetime | None
    ruleset: str = Field(description="Id and version of the rule set that decided.")
