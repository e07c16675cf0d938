"""Re-deciding a contact after the fact: the evidence that it passed the rules in force.

An auditor replays each contact a campaign sent with the inputs the gate was given
(recorded in the contact activity's input) at the moment it was sent, and checks
that no legal hold received before that moment (a cease, an attorney, a dispute)
was missing from those inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from domain.channels import Channel
from domain.compliance.engine import decide
from domain.compliance.facts import LegalEvent, LegalEventKind
from domain.compliance.model import ComplianceFacts, PastContact, ProposedContact, Reason


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


def holds_at(events: Sequence[tuple[datetime, LegalEvent]], moment: datetime) -> set[str]:
    """The legal holds in force at ``moment`` from the signals received before it."""
    holds: set[str] = set()
    for at, event in sorted(events, key=lambda pair: pair[0]):
        if at > moment:
            break
        if event.kind in {LegalEventKind.CEASE, LegalEventKind.ATTORNEY}:
            holds.add(event.kind.value)
        elif event.kind is LegalEventKind.DISPUTE:
            holds.add("dispute")
        elif event.kind is LegalEventKind.VERIFICATION_SENT:
            holds.discard("dispute")
    return holds


def verify_contact(
    *,
    run_id: str,
    attempt_id: str,
    channel: Channel,
    to: str,
    sent_at: datetime,
    facts: ComplianceFacts,
    history: Sequence[PastContact],
    legal_events: Sequence[tuple[datetime, LegalEvent]],
) -> AuditedContact:
    decision = decide(facts, history, ProposedContact(at=sent_at, channel=channel, to=to))
    findings = []
    if not decision.allowed:
        findings.append(
            "the gate denies it at the moment it was sent: "
            + ", ".join(r.value for r in decision.reasons)
        )
    held = holds_at(legal_events, sent_at)
    known = {
        "cease": facts.cease,
        "attorney": facts.attorney,
        "dispute": facts.disputed_unverified,
    }
    for hold in sorted(held):
        if not known[hold]:
            findings.append(f"sent while a {hold} received earlier was in force")
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
