"""The time of the send-time check, and the contact ledger every contact goes into.

The workflow asked the gate when it planned the contact; a send delayed by
retries, a provider outage or a queue backlog could still go out at 21:05 local,
or after a STOP. So every channel agent asks once more (``activities.sending``),
with the time it actually sends and the stored revocations, and refuses
(non-retryably, with the decision attached) if the answer changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from temporalio import activity

from adapters.contact_ledger import ContactLedger
from domain import names
from domain.compliance.facts import as_past_contact
from domain.contact import ContactAttempt, ContactOutcome, ContactRequest
from domain.revocations import Revocation

BLOCKED = names.COMPLIANCE_BLOCKED


def send_time() -> datetime:
    """Now, and never before the server scheduled this attempt.

    Under a time-skipping test server the workflow's clock runs ahead of the
    wall clock; the scheduled time keeps the check on the workflow's timeline.
    """
    scheduled = activity.info().current_attempt_scheduled_time
    return max(datetime.now(UTC), scheduled.astimezone(UTC))


def record_contact(
    ledger: ContactLedger,
    request: ContactRequest,
    outcome: ContactOutcome,
    at: datetime,
    ruleset: str | None = None,
    *,
    provider_ref: str | None = None,
    revocations: Sequence[Revocation] = (),
    after_revocation: Sequence[Revocation] = (),
) -> None:
    """Add a contact that reached the debtor's side to the debt's ledger (and audit log).

    The audit record carries what the gate decided on: the facts and history size it
    was given, the stored revocations it read, and the rule set that allowed the
    contact at ``at``; and, if the message went out after a revocation that arrived
    in the gap between the check and the hand-over, that revocation.
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
                "revocations_checked": [r.revocation_id for r in revocations],
                **(
                    {"after_revocation": [r.model_dump(mode="json") for r in after_revocation]}
                    if after_revocation
                    else {}
                ),
            },
            provider_ref=provider_ref,
        )
