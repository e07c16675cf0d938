"""Re-deciding a contact after the fact: the evidence that it passed the rules in force.

An auditor replays each contact a campaign sent with the inputs the gate was given
(recorded in the contact activity's input, plus the stored revocations the agent read,
recorded in its result) at the moment it was sent, and checks that no revocation
received before that moment (a cease, an attorney, a dispute, an opt-out, consent
withdrawn), by signal or in the suppression store, was ignored. A message that went
out after a revocation is a finding, whichever way it happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from domain.channels import Channel
from domain.compliance.engine import decide
from domain.compliance.model import ComplianceFacts, PastContact, ProposedContact, Reason
from domain.revocations import Revocation, RevocationKind, barring, live_facts

_CHANNEL_KINDS = {
    RevocationKind.OPT_OUT: "an opt-out",
    RevocationKind.CONSENT_REVOKED: "a withdrawal of consent",
    RevocationKind.MEDIUM_OPT_OUT: "an opt-out of the whole medium",
}
_HOLDS = {
    RevocationKind.CEASE: "cease",
    RevocationKind.ATTORNEY: "attorney",
    RevocationKind.DISPUTE: "dispute",
}


class AuditedContact(BaseModel):
    run_id: str
    attempt_id: str
    channel: Channel
    to: str
    sent_at: datetime
    ruleset: str
    passed: bool
    reasons: list[Reason]
    findings: list[str]


def _finding(revocation: Revocation) -> str:
    hold = _HOLDS.get(revocation.kind)
    if hold is not None:
        return f"sent while a {hold} received earlier was in force"
    assert revocation.channel is not None
    where = f"{revocation.channel.value}:{revocation.address or '*'}"
    return (
        f"sent after {_CHANNEL_KINDS[revocation.kind]} of {where} received "
        f"{revocation.received_at.isoformat()} ({revocation.source})"
    )


def verify_contact(
    *,
    run_id: str,
    attempt_id: str,
    channel: Channel,
    to: str,
    sent_at: datetime,
    facts: ComplianceFacts,
    history: Sequence[PastContact],
    received: Sequence[Revocation] = (),
    used: Sequence[Revocation] = (),
) -> AuditedContact:
    """``received``: every revocation of the account known to the auditor (signals in the
    history, the suppression store); ``used``: those the agent decided with."""
    decision = decide(
        live_facts(facts, list(used), channel, to),
        history,
        ProposedContact(at=sent_at, channel=channel, to=to),
    )
    findings = []
    if not decision.allowed:
        findings.append(
            "the gate denies it at the moment it was sent: "
            + ", ".join(r.value for r in decision.reasons)
        )
    for revocation in barring([*received, *used], channel, to, at=sent_at):
        finding = _finding(revocation)
        if finding not in findings:
            findings.append(finding)
    return AuditedContact(
        run_id=run_id,
        attempt_id=attempt_id,
        channel=channel,
        to=to,
        sent_at=sent_at,
        ruleset=decision.ruleset,
        passed=not findings,
        reasons=decision.reasons,
        findings=findings,
    )
