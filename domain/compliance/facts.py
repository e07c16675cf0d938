"""From a campaign's state to the gate's inputs.

The account keeps consent and opt-outs per contact point; the gate wants them
for the one address a contact goes to, plus the legal holds and the debt's
contact history in the gate's own terms.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.account import Account
from domain.channels import Channel
from domain.compliance.model import ComplianceFacts, PastContact, Reason
from domain.contact import ContactAttempt, ContactOutcome

# Contacts older than this can no longer affect any rule (7 dates, 168 hours).
HISTORY_WINDOW = timedelta(days=35)


class LegalHolds(BaseModel):
    """Holds that stop collection contact whatever the channel."""

    cease: bool = False
    attorney: bool = False
    disputed_unverified: bool = False
    medium_opt_outs: list[Channel] = Field(
        default_factory=list, description="Media the debtor asked us not to use at all."
    )


class LegalEventKind(StrEnum):
    CEASE = "cease"  # written refusal to pay or request to stop (12 CFR 1006.6(c))
    ATTORNEY = "attorney"  # represented by an attorney (1006.6(b)(2))
    DISPUTE = "dispute"  # written dispute within the validation period (1006.38(d)(2))
    VERIFICATION_SENT = "verification_sent"  # ends a dispute hold
    CONSENT_REVOKED = "consent_revoked"  # TCPA consent revoked for a channel (and address)
    MEDIUM_OPT_OUT = "medium_opt_out"  # do not use this medium at all (1006.14(h)(1))


class LegalEvent(BaseModel):
    """A signal that changes what the law allows; it takes effect before the next contact."""

    kind: LegalEventKind
    channel: Channel | None = None
    address: str | None = None
    note: str = Field(default="", max_length=500)
    received_at: datetime | None = None
    revocation_id: str | None = Field(
        default=None, description="Its record in the suppression store, when it has one."
    )


def facts_for(
    account: Account, holds: LegalHolds, channel: Channel, to: str | None
) -> ComplianceFacts:
    """The gate's view of ``account`` for one contact on ``channel`` to ``to``."""
    phone = next((p for p in account.phones if p.number == to), None)
    opted = [f"{c.value}:*" for c in holds.medium_opt_outs]
    opted += [f"email:{e.address}" for e in account.emails if e.opted_out]
    opted += [f"sms:{p.number}" for p in account.phones if p.sms_opted_out]
    opted += [f"phone:{p.number}" for p in account.phones if p.voice_opted_out]
    if account.address is not None and account.address.opted_out:
        opted.append(f"letter:{account.address.one_line()}")
    return ComplianceFacts(
        timezones=list(account.timezones),
        country=account.country,
        state=account.state,
        sms_consent=bool(phone and phone.sms_consent),
        voice_consent=bool(phone and phone.voice_consent),
        opted_out=opted,
        cease=holds.cease,
        attorney=holds.attorney,
        disputed_unverified=holds.disputed_unverified,
    )


_PHONE_OUTCOMES = {
    ContactOutcome.CONVERSATION: "conversation",
    ContactOutcome.VOICEMAIL: "voicemail",
    ContactOutcome.NO_ANSWER: "no_answer",
}


def as_past_contact(attempt: ContactAttempt) -> PastContact | None:
    """An attempt as the gate counts it; None for what never reached the debtor's side.

    Busy signals and failed calls are "not connected" (12 CFR 1006.14(b)(3)(ii)) and
    do not count; messages that failed or bounced were never sent.
    """
    if attempt.channel is Channel.PHONE:
        outcome = _PHONE_OUTCOMES.get(attempt.outcome)
        if outcome is None:
            return None
        return PastContact(at=attempt.at, channel=attempt.channel, outcome=outcome, to=attempt.to)
    if attempt.outcome in {ContactOutcome.SENT, ContactOutcome.DELIVERED}:
        return PastContact(
            at=attempt.at, channel=attempt.channel, outcome="delivered", to=attempt.to
        )
    return None


def recent_history(
    prior: Iterable[PastContact], attempts: Iterable[ContactAttempt], now: datetime
) -> list[PastContact]:
    """The debt's contacts that can still matter at ``now``: earlier campaigns' and ours."""
    since = now - HISTORY_WINDOW
    ours = [c for c in (as_past_contact(a) for a in attempts) if c is not None]
    return [c for c in [*prior, *ours] if c.at > since]


class ContactHistoryRequest(BaseModel):
    """Load a debt's contacts made after ``since`` (by any campaign)."""

    tenant_id: str
    account_id: str
    since: datetime


class ContactHistory(BaseModel):
    contacts: list[PastContact] = Field(default_factory=list)


class GateRecord(BaseModel):
    """One decision of the gate about one contact: the evidence a compliance officer reads.

    ``stage`` says whether it was asked when the contact was planned or, by the channel
    agent, at the moment of sending. The facts are those the gate saw; the history is
    summarised by its size (the contacts themselves are in the campaign's history).
    """

    at: datetime
    stage: str
    step_id: str
    channel: Channel
    to: str | None
    allowed: bool
    reasons: list[Reason]
    earliest_allowed: datetime | None
    ruleset: str
    facts: ComplianceFacts
    history_size: int
