"""Revocations: what the debtor (or their lawyer) withdrew, as every sender must see it.

A STOP, an unsubscribe, a cease letter, an attorney's notice, a dispute, TCPA consent
withdrawn or an opt-out recorded by an operator is written to the suppression store
(``adapters.suppressions``) *before* the account's campaign is signalled. The channel
agent reads the store immediately before it hands a message to the provider, so a
message the campaign scheduled before the revocation cannot go out once the revocation
is stored, whether or not the campaign has heard of it yet.

Revocations fold in the order they were received: a verification sent lifts the
disputes received before it and nothing else; everything else holds for good.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.channels import Channel
from domain.compliance.model import ComplianceFacts


class RevocationKind(StrEnum):
    OPT_OUT = "opt_out"  # STOP, unsubscribe, bounce, complaint: one address, or a channel
    CONSENT_REVOKED = "consent_revoked"  # TCPA consent withdrawn (by any reasonable means)
    MEDIUM_OPT_OUT = "medium_opt_out"  # never by this medium (12 CFR 1006.14(h)(1))
    CEASE = "cease"  # 1006.6(c)
    ATTORNEY = "attorney"  # 1006.6(b)(2)
    DISPUTE = "dispute"  # 1006.34(c)(3), 1006.38(d)
    VERIFICATION_SENT = "verification_sent"  # lifts the disputes received before it


# Kinds that name a channel (and, but for the medium, maybe one address of it).
CHANNEL_KINDS = frozenset(
    {RevocationKind.OPT_OUT, RevocationKind.CONSENT_REVOKED, RevocationKind.MEDIUM_OPT_OUT}
)


class Revocation(BaseModel):
    """One revocation as stored; ``revocation_id`` makes a redelivery harmless."""

    model_config = ConfigDict(frozen=True)

    revocation_id: str = Field(min_length=1, max_length=200)
    tenant_id: str = Field(min_length=1, max_length=128)
    account_id: str = Field(min_length=1, max_length=128)
    kind: RevocationKind
    channel: Channel | None = None
    address: str | None = Field(default=None, max_length=320)
    received_at: AwareDatetime
    source: str = Field(default="api", max_length=64, description="api, cli, webhook:…, reply")
    note: str = Field(default="", max_length=500)


def _same_address(channel: Channel, a: str | None, b: str | None) -> bool:
    if a is None:
        return True  # the whole channel
    if b is None:
        return False
    # Email and postal addresses are written in any case; numbers are E.164.
    return a.casefold() == b.casefold() if channel in _ANY_CASE else a == b


_ANY_CASE = frozenset({Channel.EMAIL, Channel.LETTER})
# The channels with a consent of their own (the TCPA's); revoking another's retires it.
_TCPA_CONSENT = frozenset({Channel.SMS, Channel.PHONE})


def bars(revocation: Revocation, channel: Channel, to: str | None) -> bool:
    """Whether ``revocation`` alone forbids a contact on ``channel`` to ``to``."""
    kind = revocation.kind
    if kind in {RevocationKind.CEASE, RevocationKind.ATTORNEY, RevocationKind.DISPUTE}:
        return True
    if kind is RevocationKind.VERIFICATION_SENT or revocation.channel is not channel:
        return False
    if kind is RevocationKind.MEDIUM_OPT_OUT:
        return True
    return _same_address(channel, revocation.address, to)


def in_force(revocations: Iterable[Revocation], at: datetime | None = None) -> list[Revocation]:
    """The revocations received by ``at`` (default: all) that still hold, oldest first."""
    ordered = sorted(revocations, key=lambda r: (r.received_at, r.revocation_id))
    held: list[Revocation] = []
    for revocation in ordered:
        if at is not None and revocation.received_at > at:
            break
        if revocation.kind is RevocationKind.VERIFICATION_SENT:
            held = [r for r in held if r.kind is not RevocationKind.DISPUTE]
        else:
            held.append(revocation)
    return held


def barring(
    revocations: Iterable[Revocation], channel: Channel, to: str | None, at: datetime | None = None
) -> list[Revocation]:
    """The revocations in force at ``at`` that forbid a contact on ``channel`` to ``to``."""
    return [r for r in in_force(revocations, at) if bars(r, channel, to)]


def live_facts(
    facts: ComplianceFacts, revocations: Sequence[Revocation], channel: Channel, to: str | None
) -> ComplianceFacts:
    """``facts`` (the campaign's view) with every stored revocation in force folded in.

    Only ever more restrictive: a revocation the campaign has not heard of yet counts,
    and nothing in the store can lift a hold the campaign knows of.
    """
    held = in_force(revocations)
    if not held:
        return facts
    opted = list(facts.opted_out)
    sms_consent, voice_consent = facts.sms_consent, facts.voice_consent
    cease, attorney, disputed = facts.cease, facts.attorney, facts.disputed_unverified
    for r in held:
        if r.kind is RevocationKind.CEASE:
            cease = True
        elif r.kind is RevocationKind.ATTORNEY:
            attorney = True
        elif r.kind is RevocationKind.DISPUTE:
            disputed = True
        elif r.channel is None:
            continue
        elif r.kind is RevocationKind.MEDIUM_OPT_OUT:
            opted.append(f"{r.channel.value}:*")
        elif r.kind is RevocationKind.CONSENT_REVOKED and r.channel in _TCPA_CONSENT:
            if _same_address(r.channel, r.address, to) and r.channel is channel:
                if channel is Channel.SMS:
                    sms_consent = False
                else:
                    voice_consent = False
        else:  # an opt-out, or email or letter "consent" withdrawn: that address is retired
            opted.append(f"{r.channel.value}:{r.address or '*'}")
    return facts.model_copy(
        update={
            "opted_out": list(dict.fromkeys(opted)),
            "sms_consent": sms_consent,
            "voice_consent": voice_consent,
            "cease": cease,
            "attorney": attorney,
            "disputed_unverified": disputed,
        }
    )
