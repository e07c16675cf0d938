"""The compliance gate again, at the moment of sending, and the contact ledger.

The workflow asked the gate when it planned the contact; a send delayed by
retries, a provider outage or a queue backlog could still go out at 21:05 local.
So every channel agent asks once more, with the time it actually sends, and
refuses (non-retryably, with the decision attached) if the answer changed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.contact_ledger import ContactLedger
from domain import agents
from domain.compliance.engine import decide
from domain.compliance.facts import as_past_contact
from domain.compliance.model import Decision, ProposedContact
from domain.contact import ContactAttempt, ContactOutcome, ContactRequest

BLOCKED = agents.COMPLIANCE_BLOCKED


def send_time() -> datetime:
    """Now, and never before the server scheduled this attempt.

    Under a time-skipping test server the workflow's clock runs ahead of the
    wall clock; the scheduled time keeps the check on the workflow's timeline.
    """
    scheduled = activity.info().current_attempt_scheduled_time
    return max(datetime.now(UTC), scheduled.astimezone(UTC))


def check_before_send(request: ContactRequest) -> Decision:
    """Raise ``ComplianceBlocked`` (carrying the decision) unless the gate allows it now."""
    decision = decide(
        request.compliance.facts,
        request.compliance.history,
        ProposedContact(at=send_time(), channel=request.channel, to=request.to),
    )
    if not decision.allowed:
        raise ApplicationError(
            f"compliance gate at send time: {', '.join(r.value for r in decision.reasons)}",
            decision.model_dump(mode="json"),
            type=BLOCKED,
            non_retryable=True,
        )
    return decision


def record_contact(
    ledger: ContactLedger,
    request: ContactRequest,
    outcome: ContactOutcome,
    at: datetime,
    ruleset: str | None = None,
) -> None:
    """Add a contact that reached the debtor's side to the debt's ledger (and audit log).

    The audit record carries what the gate decided on: the facts and history size it
    was given and the rule set that allowed the contact at ``at``.
    """
    contact = as_past_contact(
        ContactAttempt(
            attempt_id=request.attempt_id,
            step_id="",
            channel=request.channel,
            to=request.to,
            at=at,
            outcome=outcome,
        )
    )
    if contact is not None:
        ledger.record(
            request.tenant_id,
            request.account_id,
            request.attempt_id,
            contact,
            audit={
                "decision": "allowed",
                "ruleset": ruleset,
                "template": request.template,
                "facts": request.compliance.facts.model_dump(mode="json"),
                "history_size": len(request.compliance.history),
            },
        )
