"""The settlement / payment-plan saga of an account campaign.

Steps, each idempotent by a key derived from the workflow and the arrangement:
(a) a payment link at the payment provider, (b) the adjustment in the creditor's
ledger, (c) the confirmation to the debtor (through the compliance gate like any
contact), (d) the instalment schedule, a ``PaymentPlan`` child workflow. If a
step fails for good, the completed ones are compensated in reverse order (send
a correction, reverse the ledger adjustment, deactivate the link) and the
account returns to its campaign. A missed instalment compensates the same way.
What each outcome means for the campaign is decided by ``domain.campaign_core``.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.arrangements import (
        Arrangement,
        ArrangementKind,
        ArrangementStatus,
        ArrangementTerms,
        CancelPaymentLink,
        LedgerAdjustmentRef,
        LedgerAdjustmentRequest,
        PaymentLinkRef,
        PaymentLinkRequest,
        PlanOutcome,
        PlanPayments,
        PlanScheduleInput,
        ReverseLedgerAdjustment,
        SagaStep,
        ScheduledInstalment,
    )
    from domain.campaign import plan_workflow_id
    from domain.campaign_core import arrangements, status, steps
    from domain.campaign_core.arrangements import arrangement_problem
    from domain.channels import Channel
    from domain.playbook import Step
    from workflows.campaign.contacting import contact
    from workflows.campaign.shell import Shell

__all__ = ["arrangement_problem", "run_arrangement"]

# External APIs: a few quick retries; a permanent refusal fails the step at once.
SAGA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=[names.PERMANENT_PROVIDER_ERROR, "InvalidRequest"],
)
# Compensations must happen: many more tries before an operator is needed.
COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=20,
    non_retryable_error_types=["InvalidRequest"],
)


class SagaStepFailed(Exception):
    def __init__(self, step: SagaStep, detail: str) -> None:
        super().__init__(f"{step.value}: {detail}")
        self.step = step


async def run_arrangement(sh: Shell) -> None:
    """Book the accepted arrangement, if there is one; undo what was done if it fails."""
    c = sh.core
    arr = arrangements.starting(c)
    if arr is None:
        return
    try:
        outcome = await _book(sh, arr)
    except SagaStepFailed as err:
        arr.detail = str(err)[:500]
        await _compensate(sh, arr, "it could not be set up")
        arrangements.back_to_collection(c, arr, ArrangementStatus.FAILED)
        return
    if arrangements.ended(c, arr, outcome):
        return
    await _compensate(sh, arr, f"payment {outcome.missed} was not received in time")
    arrangements.back_to_collection(c, arr, ArrangementStatus.MISSED)


async def _book(sh: Shell, arr: Arrangement) -> PlanOutcome:
    st, req = sh.state, arr.request
    key = _key(arr)
    currency = st.account.currency
    # (a) where the debtor pays: a plan's link charges the first (regular) instalment
    link: PaymentLinkRef = await _external(
        sh,
        names.CREATE_PAYMENT_LINK,
        PaymentLinkRequest(
            tenant_id=sh.inp.tenant.tenant_id,
            account_id=st.account.account_id,
            amount=req.total
            if req.kind is ArrangementKind.SETTLEMENT
            else req.instalments[0].amount,
            currency=currency,
            description=f"{req.kind.value.replace('_', ' ')} {st.account.account_id}",
            idempotency_key=f"{key}/link",
        ),
        PaymentLinkRef,
        SagaStep.PAYMENT_LINK,
    )
    arr.link_id, arr.link_url = link.link_id, link.url
    arr.completed.append(SagaStep.PAYMENT_LINK)
    # (b) the creditor's books: a settlement forgives the rest; a plan is recorded
    forgiven = st.balance - req.total
    adjustment: LedgerAdjustmentRef = await _external(
        sh,
        names.POST_LEDGER_ADJUSTMENT,
        LedgerAdjustmentRequest(
            account_id=st.account.account_id,
            kind=req.kind.value,
            amount=forgiven if req.kind is ArrangementKind.SETTLEMENT else req.total,
            currency=currency,
            reference=req.arrangement_id,
            memo=f"{len(req.instalments)} instalment(s), link {link.link_id}",
            idempotency_key=f"{key}/ledger",
        ),
        LedgerAdjustmentRef,
        SagaStep.LEDGER,
    )
    arr.adjustment_id = adjustment.adjustment_id
    arr.completed.append(SagaStep.LEDGER)
    # (c) the debtor hears of it, through the gate like every contact
    why_not = await _tell(sh, arr, "arrangement_confirmation", "confirm")
    if why_not is not None:
        raise SagaStepFailed(SagaStep.CONFIRMATION, why_not)
    arr.completed.append(SagaStep.CONFIRMATION)
    arr.status = ArrangementStatus.ACTIVE
    # (d) the instalments
    return await _follow_schedule(sh, arr)


async def _follow_schedule(sh: Shell, arr: Arrangement) -> PlanOutcome:
    c, st, req = sh.core, sh.state, arr.request
    playbook = sh.inp.playbook
    accepted_day = arr.accepted_at.date()
    scheduled = []
    for number, instalment in enumerate(req.instalments, start=1):
        due_at = arr.accepted_at + c.days((instalment.due - accepted_day).days)
        scheduled.append(
            ScheduledInstalment(
                number=number,
                amount=instalment.amount,
                due_at=due_at,
                remind_at=due_at - c.days(playbook.instalment_reminder_days),
                deadline=due_at + c.days(playbook.instalment_grace_days),
            )
        )
    info = workflow.info()
    child = await workflow.start_child_workflow(
        names.PAYMENT_PLAN,
        PlanScheduleInput(
            arrangement_id=req.arrangement_id,
            parent_workflow_id=info.workflow_id,
            currency=st.account.currency,
            instalments=scheduled,
        ),
        id=plan_workflow_id(sh.inp.tenant.tenant_id, st.account.account_id, req.arrangement_id),
        task_queue=sh.inp.queues.campaigns,
        result_type=PlanOutcome,
        static_summary=f"{req.kind.value} · {len(scheduled)} instalment(s) · "
        f"{req.total} {st.account.currency}",
    )
    arr.completed.append(SagaStep.SCHEDULE)
    sh.plan_forwarded = Decimal("-1")
    while not child.done():
        paid = st.amount_paid - arr.paid_before
        if paid != sh.plan_forwarded:
            await child.signal(names.SIGNAL_PLAN_PAYMENTS, PlanPayments(total_paid=paid))
            sh.plan_forwarded = paid
            continue
        if st.reminders:
            reminder = st.reminders.pop(0)
            await _tell(
                sh, arr, "instalment_reminder", f"remind-{reminder.number}", reminder.number
            )
            continue
        upcoming = next((s for s in scheduled if s.due_at > workflow.now()), None)
        status.plan(
            c,
            f"{req.kind.value.replace('_', ' ')}: waiting for instalments",
            upcoming.due_at if upcoming else None,
        )
        await workflow.wait_condition(
            lambda: (
                child.done()
                or bool(st.reminders)
                or st.amount_paid - arr.paid_before != sh.plan_forwarded
            )
        )
    result: PlanOutcome = await child
    return result


async def _compensate(sh: Shell, arr: Arrangement, reason: str) -> None:
    """Undo the completed steps, newest first; a failed undo is recorded, not hidden."""
    key = _key(arr)
    for step in reversed(arr.completed):
        try:
            if step is SagaStep.CONFIRMATION:
                why_not = await _tell(sh, arr, "arrangement_cancelled", "cancel", reason=reason)
                if why_not is not None:
                    raise SagaStepFailed(step, why_not)
            elif step is SagaStep.LEDGER and arr.adjustment_id:
                await _external(
                    sh,
                    names.REVERSE_LEDGER_ADJUSTMENT,
                    ReverseLedgerAdjustment(
                        adjustment_id=arr.adjustment_id,
                        reason=reason,
                        idempotency_key=f"{key}/ledger/reverse",
                    ),
                    None,
                    step,
                    COMPENSATION_RETRY,
                )
            elif step is SagaStep.PAYMENT_LINK and arr.link_id:
                await _external(
                    sh,
                    names.CANCEL_PAYMENT_LINK,
                    CancelPaymentLink(link_id=arr.link_id, idempotency_key=f"{key}/link/cancel"),
                    None,
                    step,
                    COMPENSATION_RETRY,
                )
        except SagaStepFailed as err:
            workflow.logger.error("compensation of %s failed: %s", step.value, err)
            arr.detail = f"{arr.detail}; compensation failed: {err}"[:1000]
            continue
        arr.compensated.append(step)


def _key(arr: Arrangement) -> str:
    return f"{workflow.info().workflow_id}/{arr.request.arrangement_id}"


async def _tell(
    sh: Shell,
    arr: Arrangement,
    template: str,
    purpose: str,
    number: int | None = None,
    reason: str | None = None,
) -> str | None:
    """Send ``template`` by email, else SMS; None when sent, else why not."""
    req = arr.request
    terms = ArrangementTerms(
        kind=req.kind,
        total=req.total,
        instalments=req.instalments,
        link_url=arr.link_url,
        instalment_number=number,
        reason=reason,
    )
    reasons = []
    for channel in (Channel.EMAIL, Channel.SMS):
        to = steps.address_for(sh.core, channel)
        if to is None:
            reasons.append(f"{channel}: no usable contact point")
            continue
        step = Step(
            id=f"arrangement-{arr.number}-{purpose}", day=0, channel=channel, template=template
        )
        why_not = await contact(sh, step, channel, template, to, terms=terms)
        if why_not is None:
            return None
        reasons.append(f"{channel}: {why_not}")
    return "; ".join(reasons)


async def _external(
    sh: Shell,
    activity: str,
    arg: Any,
    result_type: type[Any] | None,
    step: SagaStep,
    retry: RetryPolicy = SAGA_RETRY,
) -> Any:
    """Call a payments/ledger activity; wait out an open breaker; fail the step for good."""
    while True:
        try:
            return await workflow.execute_activity(
                activity,
                arg,
                result_type=result_type,
                task_queue=sh.inp.queues.payments,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=retry,
                summary=f"{step.value}: {activity}",
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == names.CIRCUIT_OPEN:
                seconds = float(cause.details[0]["retry_after_seconds"])
                await workflow.sleep(timedelta(seconds=seconds), summary="breaker open")
                continue
            detail = cause.message if isinstance(cause, ApplicationError) else str(err)
            raise SagaStepFailed(step, detail) from err
