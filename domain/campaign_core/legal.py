"""What the law, the debtor and the lawyers say: opt-outs, consent, cease, attorney, dispute.

Each takes effect before the next contact: the handler wakes the campaign (``changed``)
and counts a legal event (``legal_epoch``), so a wait asks the gate again and a send in
flight is checked again. Revocations found in the suppression store by a channel agent
are applied the same way, once (``first_time``).
"""

from __future__ import annotations

from domain.campaign import CollectionStatus, OptOutRequest
from domain.campaign_core.campaign import Campaign
from domain.campaign_core.learning import credit
from domain.campaign_core.outbox import emit
from domain.campaign_core.status import set_status
from domain.campaign_core.steps import MAX_DECISIONS_CARRIED, any_channel_usable
from domain.channels import Channel
from domain.compliance.facts import LegalEvent, LegalEventKind
from domain.events import EventType
from domain.next_action import OutcomeKind
from domain.playbook import StopCondition
from domain.revocations import Revocation, RevocationKind


def opt_out_address(c: Campaign, channel: Channel, address: str | None) -> None:
    """Never use that address (or, with None, that channel) again in this campaign."""
    account = c.state.account
    if channel is Channel.LETTER:
        postal = account.address
        if postal is not None and (
            address is None or postal.one_line().casefold() == address.casefold()
        ):
            account.address = postal.model_copy(update={"opted_out": True})
    elif channel is Channel.EMAIL:
        for email in account.emails:
            if address is None or email.address.lower() == address.lower():
                email.opted_out = True
    else:
        for phone in account.phones:
            if address is None or phone.number == address:
                if channel is Channel.SMS:
                    phone.sms_opted_out = True
                else:
                    phone.voice_opted_out = True
    after_opt_out(c)


def revoke_consent(c: Campaign, channel: Channel, address: str | None) -> None:
    """TCPA consent withdrawn for a number (or all numbers); email and letters have none
    to revoke: the address is retired instead."""
    if channel in {Channel.EMAIL, Channel.LETTER}:
        opt_out_address(c, channel, address)
        return
    for phone in c.state.account.phones:
        if address is None or phone.number == address:
            if channel is Channel.SMS:
                phone.sms_consent = False
            else:
                phone.voice_consent = False
    after_opt_out(c)


def after_opt_out(c: Campaign) -> None:
    if not any_channel_usable(c) and c.inp.playbook.stops_on(StopCondition.OPTED_OUT_EVERYWHERE):
        set_status(c, CollectionStatus.OPTED_OUT)


def first_time(c: Campaign, revocation_id: str | None) -> bool:
    """Record a stored revocation as applied; False if it already was."""
    if revocation_id is None:
        return True
    applied = c.state.revocations_applied
    if revocation_id in applied:
        return False
    applied.append(revocation_id)
    del applied[:-MAX_DECISIONS_CARRIED]
    return True


def on_opt_out(c: Campaign, request: OptOutRequest) -> None:
    if not first_time(c, request.revocation_id):
        return  # a channel agent's refusal already applied it from the store
    opt_out_address(c, request.channel, request.address)
    credit(c, harm_of(request.reason))
    emit(
        c,
        EventType.OPT_OUT,
        "opted_out",
        {
            "channel": request.channel.value,
            "reason": request.reason,
            "scope": "address" if request.address else "channel",
        },
    )
    c.legal_epoch += 1
    c.changed = True


def on_legal_event(c: Campaign, event: LegalEvent) -> None:
    """Cease, attorney, dispute, verification, consent revoked, medium opt-out.

    Takes effect before the next contact: waits wake up and ask the gate again, and a
    send in flight is cancelled if the gate now bars it.
    """
    st = c.state
    if not first_time(c, event.revocation_id):
        return  # a channel agent's refusal already applied it from the store
    holds = st.holds
    kind = event.kind
    meta = {"kind": kind.value, **({"channel": event.channel.value} if event.channel else {})}
    emit(c, EventType.COMPLIANCE_AUDIT, "legal_event", meta)
    if kind is LegalEventKind.DISPUTE:
        emit(c, EventType.DISPUTE, "opened", meta)
    elif kind is LegalEventKind.VERIFICATION_SENT:
        emit(c, EventType.DISPUTE, "verified", meta)
    elif kind in {LegalEventKind.CONSENT_REVOKED, LegalEventKind.MEDIUM_OPT_OUT}:
        emit(c, EventType.OPT_OUT, "opted_out", {**meta, "reason": kind.value})
    if kind is LegalEventKind.DISPUTE:
        credit(c, "dispute")
    elif kind in _OPTING_OUT:
        credit(c, "opt_out")
    if kind is LegalEventKind.CEASE:
        holds.cease = True
        set_status(c, CollectionStatus.CEASED)
    elif kind is LegalEventKind.ATTORNEY:
        holds.attorney = True
        set_status(c, CollectionStatus.CEASED)
    elif kind is LegalEventKind.DISPUTE:
        holds.disputed_unverified = True
        if not st.status.terminal:
            set_status(c, CollectionStatus.DISPUTED)
    elif kind is LegalEventKind.VERIFICATION_SENT:
        holds.disputed_unverified = False
        if st.status is CollectionStatus.DISPUTED:
            set_status(c, CollectionStatus.ACTIVE)
    elif kind is LegalEventKind.CONSENT_REVOKED and event.channel is not None:
        revoke_consent(c, event.channel, event.address)
    elif kind is LegalEventKind.MEDIUM_OPT_OUT and event.channel is not None:
        if event.channel not in holds.medium_opt_outs:
            holds.medium_opt_outs.append(event.channel)
        after_opt_out(c)
    c.legal_epoch += 1
    c.changed = True


# Legal events by which the debtor stops contact (a contact before them counts as harm).
_OPTING_OUT = frozenset(
    {LegalEventKind.CEASE, LegalEventKind.CONSENT_REVOKED, LegalEventKind.MEDIUM_OPT_OUT}
)


def harm_of(reason: str) -> OutcomeKind:
    """An opt-out request's harm: a complaint (a spam report) costs more than an opt-out;
    a bounce is no debtor's doing."""
    lowered = reason.casefold()
    if "complain" in lowered or "spam" in lowered:
        return "complaint"
    if "bounce" in lowered:
        return "none"
    return "opt_out"


def apply_stored(c: Campaign, revocations: list[Revocation]) -> bool:
    """Apply revocations a channel agent found in the suppression store before this
    campaign heard of them (their signals, arriving later, change nothing twice).
    True when one of them was new here."""
    changed = False
    for r in revocations:
        if r.revocation_id in c.state.revocations_applied:
            continue
        changed = True
        if r.kind is RevocationKind.OPT_OUT and r.channel is not None:
            on_opt_out(
                c,
                OptOutRequest(
                    channel=r.channel,
                    address=r.address,
                    reason=f"{r.note or r.source} (found in the suppression store)"[:300],
                    revocation_id=r.revocation_id,
                ),
            )
        else:
            on_legal_event(
                c,
                LegalEvent(
                    kind=LegalEventKind(r.kind.value),
                    channel=r.channel,
                    address=r.address,
                    note=r.note,
                    received_at=r.received_at,
                    revocation_id=r.revocation_id,
                ),
            )
    return changed
