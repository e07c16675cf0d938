"""A contact attempt, from the command the campaign issues to what came of it.

The shell runs the channel agent (an activity); everything around it is decided here:
the attempt's deterministic id (a retried or replayed send is recognised by the provider
and the sent-ledger; a redrive is a new command and gets a new id), the request the agent
gets, and what each ending means — sent, failed for good (kept for the step's dead
letter), refused at send time by the gate (with revocations the campaign may not have
heard of yet), cancelled before it reached the provider, or sent after a revocation.
"""

from __future__ import annotations

from typing import Any

from domain.agent_messages import AgentIdentity, Attachment
from domain.arrangements import ArrangementTerms
from domain.campaign import AccountOutcome
from domain.campaign_core.campaign import Campaign
from domain.campaign_core.learning import unwatch
from domain.campaign_core.legal import apply_stored, opt_out_address
from domain.campaign_core.outbox import (
    emit,
    emit_agent_message,
    emit_command,
    emit_escalation,
    emit_record,
    exported,
    origin,
    take_pending,
)
from domain.campaign_core.research import exchange
from domain.campaign_core.steps import MAX_DECISIONS_CARRIED, PROMISED, record_decision
from domain.campaign_core.supervision import composer_disagrees
from domain.channels import Channel, spec
from domain.compliance.model import ComplianceFacts, Decision, PastContact
from domain.contact import (
    ComplianceContext,
    ContactAttempt,
    ContactOutcome,
    ContactRequest,
    ContactResult,
    MessageContext,
)
from domain.dead_letters import DeadLetter, FailedSend, dead_letter_id
from domain.events import EventType, ExportContext, amount, interaction_record, priority_for
from domain.messages import BackoffStrategy, Command, RetryPolicySpec
from domain.playbook import Step
from domain.resilience import Backoff
from domain.revocations import Revocation

BACKOFF = {
    Backoff.FIXED: BackoffStrategy.FIXED,
    Backoff.EXPONENTIAL: BackoffStrategy.EXPONENTIAL,
    Backoff.LINEAR: BackoffStrategy.LINEAR,
}
# What a contact says when it did not happen and should be asked about again, later or now.
PAUSED = PROMISED  # the step is tried again later
ASK_AGAIN = "ask the gate again"  # it never left: plan again with what is known now


def attempt_id(c: Campaign, step: Step, channel: Channel, redrive: int = 0) -> str:
    """Deterministic, so a retried or replayed send is recognised by the provider and the
    sent-ledger; a redrive is a new command and gets a new id."""
    found = f"{c.host.workflow_id}/{c.host.first_execution_run_id}/{step.id}/{channel}"
    return found + (f"/redrive-{redrive}" if redrive else "")


def request(
    c: Campaign,
    step: Step,
    channel: Channel,
    template: str,
    to: str,
    facts: ComplianceFacts,
    history: list[PastContact],
    redrive: int = 0,
    terms: ArrangementTerms | None = None,
) -> tuple[ContactRequest, ExportContext]:
    """The command to the channel's agent (exported) and the agent's input, which carries
    the outbox as it stands (the agent writes it with its outcome)."""
    st = c.state
    attempt = attempt_id(c, step, channel, redrive)
    rule = c.inp.retry.for_channel(channel)
    command_id = emit_command(
        c,
        Command(
            type=spec(channel).command,
            campaign_id=c.inp.campaign_id,
            customer_id=st.account.account_id,
            priority=priority_for(st.account.priority),
            scheduled_for=c.now(),
            context={
                "attemptId": attempt,
                "stepId": step.id,
                "channel": channel.value,
                "template": template,
                "language": st.account.language,
            },
            retry_policy=RetryPolicySpec(
                max_retries=rule.max_attempts - 1, backoff_strategy=BACKOFF[rule.backoff]
            ),
        ),
        target=spec(channel).agent,
    )
    export = ExportContext(origin=origin(c), step_id=step.id, command_id=command_id, pending=[])
    pending = take_pending(c)
    contact = ContactRequest(
        attempt_id=attempt,
        tenant_id=c.inp.tenant.tenant_id,
        account_id=st.account.account_id,
        channel=channel,
        to=to,
        # A letter's recipient in full; ``to`` is its one-line key (ledger, suppressions).
        postal=st.account.address if channel is Channel.LETTER else None,
        template=template,
        language=st.account.language,
        message=MessageContext(
            debtor_name=st.account.debtor_name,
            account_id=st.account.account_id,
            creditor=c.inp.tenant.creditor_for(st.account.creditor),
            collector=c.inp.tenant.name,
            balance=st.balance,
            currency=st.account.currency,
            due_date=st.account.due_date,
            days_past_due=st.account.days_past_due,
            time_barred=st.account.time_barred,
            arrangement=terms,
        ),
        compliance=ComplianceContext(facts=facts, history=history),
        retry=rule,
        export=export.model_copy(update={"pending": pending}),
        brief=st.brief,
        model_may_write=st.model_may_write,
    )
    c.last_channel = channel
    return contact, export


def sent(
    c: Campaign,
    step: Step,
    template: str,
    contact: ContactRequest,
    result: ContactResult,
    attempted_at: Any,
    barred_at: Any,
) -> str | None:
    """The agent reported what came of the contact: None when it reached the debtor's
    side, "failed" when it ended failed (a call that failed, say)."""
    st = c.state
    channel, to = contact.channel, contact.to
    assert contact.export is not None
    exported(c, contact.export.pending)  # the agent wrote them to the event log with its outcome
    after_revocation(c, step, channel, contact.attempt_id, result, barred_at)
    st.attempts.append(
        ContactAttempt(
            attempt_id=contact.attempt_id,
            step_id=step.id,
            channel=channel,
            to=to,
            at=result.sent_at or attempted_at,
            outcome=result.outcome,
            provider_ref=result.provider_ref,
            detail=result.detail,
        )
    )
    if result.outcome is ContactOutcome.BOUNCED:
        opt_out_address(c, channel, to)  # a hard bounce: never use that address again
    if result.outcome is ContactOutcome.FAILED:
        unwatch(c, contact.attempt_id)
    else:
        exchange(c, "out", channel, f"{template} ({result.outcome.value})")
        if st.action is not None and st.action.step_id == step.id:
            st.action = None  # done: the next step gets its own choice
    if result.compose_disagreement:
        composer_disagrees(c, contact.attempt_id, result.compose_fallback or "")
    return None if result.outcome is not ContactOutcome.FAILED else "failed"


def failed(
    c: Campaign,
    step: Step,
    contact: ContactRequest,
    export: ExportContext,
    attempted_at: Any,
    *,
    error_type: str,
    detail: str,
    attempts: int,
) -> str:
    """A send that failed for good: kept for the step's dead letter, and recorded."""
    c.failures.append(
        FailedSend(
            channel=contact.channel,
            to=contact.to,
            attempt_id=contact.attempt_id,
            error_type=error_type,
            error=detail[:2000],
            attempts=attempts,
        )
    )
    # Kept for the dead letter without the records it carried for export.
    c.last_request = contact.model_copy(update={"export": export})
    emit_record(
        c,
        interaction_record(
            export, contact.attempt_id, contact.channel.value, "failed", attempted_at, detail=detail
        ),
    )
    c.state.attempts.append(
        ContactAttempt(
            attempt_id=contact.attempt_id,
            step_id=step.id,
            channel=contact.channel,
            to=contact.to,
            at=attempted_at,
            outcome=ContactOutcome.FAILED,
            detail=detail[:300],
        )
    )
    return "failed"


def cancelled(
    c: Campaign,
    step: Step,
    contact: ContactRequest,
    export: ExportContext,
    attempted_at: Any,
    barred: Decision,
) -> str:
    """The agent confirmed the message never reached the provider: not sent, not failed."""
    reasons = ", ".join(r.value for r in barred.reasons)
    detail = f"not sent: cancelled before it reached the provider ({reasons})"
    emit_record(
        c,
        interaction_record(
            export, contact.attempt_id, contact.channel.value, "cancelled", attempted_at,
            detail=detail,
        ),
    )  # fmt: skip
    c.state.attempts.append(
        ContactAttempt(
            attempt_id=contact.attempt_id,
            step_id=step.id,
            channel=contact.channel,
            to=contact.to,
            at=attempted_at,
            outcome=ContactOutcome.SKIPPED,
            detail=detail[:300],
        )
    )
    return ASK_AGAIN


def refused(
    c: Campaign,
    step: Step,
    contact: ContactRequest,
    refusal: Decision,
    stored: list[Revocation] | None,
    facts: ComplianceFacts,
    history_size: int,
) -> Decision | str:
    """The agent's gate refused at the moment of sending. ``stored``: the revocations
    that barred it (None from an agent older than the suppression store).

    A revocation this campaign had not heard of yet is applied, the refusal recorded, and
    the gate asked again (a fallback channel, or the end). A permanent refusal on what the
    campaign already applied ends this option: asking again would send the same refusal
    round forever. Otherwise (the moment passed a rule) the refusal is planned around.
    """
    if stored is None:
        return refusal
    channel, to = contact.channel, contact.to
    if apply_stored(c, stored):
        record_decision(c, refusal, step, channel, to, facts, history_size, "send")
        return ASK_AGAIN
    if refusal.earliest_allowed is None:
        record_decision(c, refusal, step, channel, to, facts, history_size, "send")
        return "barred at send time: " + ", ".join(r.value for r in refusal.reasons)
    return refusal


def after_revocation(
    c: Campaign,
    step: Step,
    channel: Channel,
    attempt: str,
    result: ContactResult,
    barred_at: Any,
) -> None:
    """Say so when a message went out after a revocation: never hidden.

    Either the agent found one in the store that arrived between its check and the
    hand-over, or this campaign learnt of one (and cancelled) before the agent handed the
    message over and the agent's check could not see it (a signal with no stored record).
    """
    late = list(result.after_revocation)
    known_first = (
        barred_at is not None and result.handed_at is not None and result.handed_at >= barred_at
    )
    if not late and not known_first:
        return
    apply_stored(c, late)
    emit(
        c,
        EventType.COMPLIANCE_AUDIT,
        "sent_after_revocation",
        {
            "attemptId": attempt,
            "stepId": step.id,
            "channel": channel.value,
            "handedAt": result.handed_at.isoformat() if result.handed_at else None,
            # What was revoked and when, never the address itself (no PII leaves).
            "revocations": [
                {
                    "kind": r.kind.value,
                    "channel": r.channel.value if r.channel else None,
                    "source": r.source,
                    "receivedAt": r.received_at.isoformat(),
                }
                for r in late
            ]
            or [{"kind": "signal", "receivedAt": f"{barred_at:%Y-%m-%dT%H:%M:%S.%fZ}"}],
        },
    )


def dead_letter(c: Campaign, step: Step, template: str, redrive: int) -> DeadLetter:
    """Every way to send ``step`` failed: the command as a dead letter to redrive."""
    st = c.state
    assert c.last_request is not None
    return DeadLetter(
        dead_letter_id=dead_letter_id(c.host.workflow_id, step.id, redrive),
        tenant_id=c.inp.tenant.tenant_id,
        account_id=st.account.account_id,
        campaign_id=c.inp.campaign_id,
        workflow_id=c.host.workflow_id,
        step_id=step.id,
        template=template,
        created_at=c.now(),
        failures=list(c.failures),
        request=c.last_request,
    )


def dead_lettered(c: Campaign, step: Step, template: str, letter: DeadLetter) -> None:
    """The dead letter is stored: the campaign remembers it, and tells the supervisor."""
    st = c.state
    st.dead_letters.append(letter.dead_letter_id)
    del st.dead_letters[:-MAX_DECISIONS_CARRIED]
    facts = {
        "deadLetterId": letter.dead_letter_id,
        "stepId": step.id,
        "template": template,
        "channels": [f.channel.value for f in letter.failures],
        "lastError": letter.last_error[:300],
    }
    event_id = emit(c, EventType.DEAD_LETTER, "recorded", facts)
    emit_escalation(c, facts)
    emit_agent_message(
        c,
        from_agent=AgentIdentity(agent_id=spec(letter.failures[-1].channel).agent, role="agent"),
        to="supervisor",
        routing="role",
        kind="request",
        action="request_guidance",
        priority="high",
        content=(
            f"Every way to send step {step.id} failed ({letter.last_error[:200]}). "
            f"Fix the cause, then redrive dead letter {letter.dead_letter_id}."
        ),
        attachments=[Attachment(name="dead-letter", uri=f"recoup:dlq/{letter.dead_letter_id}")],
        requires_response=True,
        correlation_id=event_id,
    )


def outcome(c: Campaign) -> AccountOutcome:
    """What the campaign reports when it ends (and exports as ``completed``)."""
    st = c.state
    contacts: dict[Channel, int] = {}
    for attempt in st.attempts:
        if attempt.outcome.reached:
            contacts[attempt.channel] = contacts.get(attempt.channel, 0) + 1
    found = AccountOutcome(
        account_id=st.account.account_id,
        workflow_id=c.host.workflow_id,
        status=st.status,
        amount_collected=st.amount_paid,
        balance=st.balance,
        currency=st.account.currency,
        contacts=contacts,
        promises=st.promises,
    )
    emit(
        c,
        EventType.CAMPAIGN_PROGRESS,
        "completed",
        {
            "finalStatus": st.status.value,
            "amountCollected": amount(st.amount_paid),
            "balance": amount(st.balance),
            "contacts": {ch.value: n for ch, n in contacts.items()},
            "promises": st.promises,
        },
    )
    return found
