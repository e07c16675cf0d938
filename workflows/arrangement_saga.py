"""The settlement / payment-plan saga of an account campaign (a mixin of AccountCampaign).

Steps, each idempotent by a key derived from the workflow and the arrangement:
(a) a payment link at the payment provider, (b) the adjustment in the creditor's
ledger, (c) the confirmation to the debtor (through the compliance gate like any
contact), (d) the instalment schedule, a ``PaymentPlan`` child workflow. If a
step fails for good, the completed ones are compensated in reverse order (send
a correction, reverse the ledger adjustment, deactivate the link) and the
account returns to its campaign. A missed instalment compensates the same way.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import agents
    from domain.arrangements import (
        Arrangement,
        ArrangementKind,
        ArrangementRequest,
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
    from domain.campaign import (
        AccountCampaignInput,
        CampaignState,
        CollectionStatus,
        plan_workflow_id,
    )
    from domain.channels import Channel
    from domain.playbook import Step

# External APIs: a few quick retries; a permanent refusal fails the step at once.
SAGA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["PermanentProviderError", "InvalidRequest"],
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


def arrangement_problem(
    request: ArrangementRequest, state: CampaignState, today: date
) -> str | None:
    """Why the campaign cannot accept ``request`` now; None when it can."""
    current = state.arrangement
    if current is not None and current.request.arrangement_id == request.arrangement_id:
        return None  # the same request again: answered with its state
    if state.status.terminal:
        return f"the campaign has finished ({state.status.value})"
    if current is not None and current.status in {
        ArrangementStatus.SETTING_UP,
        ArrangementStatus.ACTIVE,
        ArrangementStatus.AWAITING_APPROVAL,
    }:
        return f"arrangement {current.request.arrangement_id} is already in place"
    if state.status is CollectionStatus.DISPUTED:
        return "the debt is disputed: collection waits for verification"
    total, balance = request.total, state.balance
    if request.kind is ArrangementKind.SETTLEMENT and total >= balance:
        return f"instalments: a settlement must be less than the balance ({balance})"
    if request.kind is ArrangementKind.PAYMENT_PLAN and total != balance:
        return f"instalments: the plan's total ({total}) must equal the balance ({balance})"
    if request.instalments[0].due < today:
        return f"instalments[0].due: {request.instalments[0].due} is in the past"
    return None


class ArrangementSaga:
    """Saga steps and compensations; AccountCampaign provides the state and contacts."""

    _inp: AccountCampaignInput
    _state: CampaignState
    _plan_forwarded: Decimal

    # Provided by AccountCampaign.
    def _set_status(self, status: CollectionStatus) -> None:
        raise NotImplementedError

    def _plan(self, what: str | None, when: datetime | None) -> None:
        raise NotImplementedError

    def _days(self, days: float) -> timedelta:
        raise NotImplementedError

    def _address_for(self, channel: Channel) -> str | None:
        raise NotImplementedError

    async def _contact(
        self,
        step: Step,
        channel: Channel,
        template: str,
        to: str,
        redrive: int = 0,
        terms: ArrangementTerms | None = None,
    ) -> str | None:
        raise NotImplementedError

    # --- the saga -----------------------------------------------------------

    async def _run_arrangement(self) -> None:
        st = self._state
        arr = st.arrangement
        if arr is None or not st.arrangement_pending:
            return
        st.arrangement_pending = False
        st.promise_until = None  # the arrangement supersedes a promise
        self._set_status(CollectionStatus.ARRANGED)
        try:
            outcome = await self._book(arr)
        except SagaStepFailed as err:
            arr.detail = str(err)[:500]
            await self._compensate(arr, "it could not be set up")
            arr.status = ArrangementStatus.FAILED  # once compensated, so it reads as final
            self._back_to_collection()
            return
        if outcome.completed:
            arr.status = ArrangementStatus.COMPLETED
            if arr.request.kind is ArrangementKind.SETTLEMENT and st.balance > 0:
                st.balance = Decimal("0")  # forgiven: booked in the ledger at step (b)
                self._set_status(CollectionStatus.SETTLED)
            elif st.balance == 0:
                self._set_status(CollectionStatus.PAID)
            return
        arr.detail = f"instalment {outcome.missed} was not paid by its deadline"
        await self._compensate(arr, f"payment {outcome.missed} was not received in time")
        arr.status = ArrangementStatus.MISSED
        self._back_to_collection()

    async def _book(self, arr: Arrangement) -> PlanOutcome:
        st, req = self._state, arr.request
        key = self._key(arr)
        currency = st.account.currency
        # (a) where the debtor pays: a plan's link charges the first (regular) instalment
        link: PaymentLinkRef = await self._external(
            agents.CREATE_PAYMENT_LINK,
            PaymentLinkRequest(
                tenant_id=self._inp.tenant.tenant_id,
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
        adjustment: LedgerAdjustmentRef = await self._external(
            agents.POST_LEDGER_ADJUSTMENT,
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
        why_not = await self._tell(arr, "arrangement_confirmation", "confirm")
        if why_not is not None:
            raise SagaStepFailed(SagaStep.CONFIRMATION, why_not)
        arr.completed.append(SagaStep.CONFIRMATION)
        arr.status = ArrangementStatus.ACTIVE
        # (d) the instalments
        return await self._follow_schedule(arr)

    async def _follow_schedule(self, arr: Arrangement) -> PlanOutcome:
        st, req = self._state, arr.request
        playbook = self._inp.playbook
        accepted_day = arr.accepted_at.date()
        scheduled = []
        for number, instalment in enumerate(req.instalments, start=1):
            due_at = arr.accepted_at + self._days((instalment.due - accepted_day).days)
            scheduled.append(
                ScheduledInstalment(
                    number=number,
                    amount=instalment.amount,
                    due_at=due_at,
                    remind_at=due_at - self._days(playbook.instalment_reminder_days),
                    deadline=due_at + self._days(playbook.instalment_grace_days),
                )
            )
        info = workflow.info()
        child = await workflow.start_child_workflow(
            agents.PAYMENT_PLAN,
            PlanScheduleInput(
                arrangement_id=req.arrangement_id,
                parent_workflow_id=info.workflow_id,
                currency=st.account.currency,
                instalments=scheduled,
            ),
            id=plan_workflow_id(
                self._inp.tenant.tenant_id, st.account.account_id, req.arrangement_id
            ),
            task_queue=self._inp.queues.campaigns,
            result_type=PlanOutcome,
            static_summary=f"{req.kind.value} · {len(scheduled)} instalment(s) · "
            f"{req.total} {st.account.currency}",
        )
        arr.completed.append(SagaStep.SCHEDULE)
        self._plan_forwarded = Decimal("-1")
        while not child.done():
            paid = st.amount_paid - arr.paid_before
            if paid != self._plan_forwarded:
                await child.signal(agents.SIGNAL_PLAN_PAYMENTS, PlanPayments(total_paid=paid))
                self._plan_forwarded = paid
                continue
            if st.reminders:
                reminder = st.reminders.pop(0)
                await self._tell(
                    arr, "instalment_reminder", f"remind-{reminder.number}", reminder.number
                )
                continue
            upcoming = next((s for s in scheduled if s.due_at > workflow.now()), None)
            self._plan(
                f"{req.kind.value.replace('_', ' ')}: waiting for instalments",
                upcoming.due_at if upcoming else None,
            )
            await workflow.wait_condition(
                lambda: (
                    child.done()
                    or bool(st.reminders)
                    or st.amount_paid - arr.paid_before != self._plan_forwarded
                )
            )
        result: PlanOutcome = await child
        return result

    async def _compensate(self, arr: Arrangement, reason: str) -> None:
        """Undo the completed steps, newest first; a failed undo is recorded, not hidden."""
        key = self._key(arr)
        for step in reversed(arr.completed):
            try:
                if step is SagaStep.CONFIRMATION:
                    why_not = await self._tell(
                        arr, "arrangement_cancelled", "cancel", reason=reason
                    )
                    if why_not is not None:
                        raise SagaStepFailed(step, why_not)
                elif step is SagaStep.LEDGER and arr.adjustment_id:
                    await self._external(
                        agents.REVERSE_LEDGER_ADJUSTMENT,
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
                    await self._external(
                        agents.CANCEL_PAYMENT_LINK,
                        CancelPaymentLink(
                            link_id=arr.link_id, idempotency_key=f"{key}/link/cancel"
                        ),
                        None,
                        step,
                        COMPENSATION_RETRY,
                    )
            except SagaStepFailed as err:
                workflow.logger.error("compensation of %s failed: %s", step.value, err)
                arr.detail = f"{arr.detail}; compensation failed: {err}"[:1000]
                continue
            arr.compensated.append(step)

    def _back_to_collection(self) -> None:
        if not self._state.status.terminal:
            self._set_status(CollectionStatus.ACTIVE)

    # --- helpers ------------------------------------------------------------

    def _key(self, arr: Arrangement) -> str:
        return f"{workflow.info().workflow_id}/{arr.request.arrangement_id}"

    async def _tell(
        self,
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
            to = self._address_for(channel)
            if to is None:
                reasons.append(f"{channel}: no usable contact point")
                continue
            step = Step(
                id=f"arrangement-{arr.number}-{purpose}", day=0, channel=channel, template=template
            )
            why_not = await self._contact(step, channel, template, to, terms=terms)
            if why_not is None:
                return None
            reasons.append(f"{channel}: {why_not}")
        return "; ".join(reasons)

    async def _external(
        self,
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
                    task_queue=self._inp.queues.payments,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=retry,
                    summary=f"{step.value}: {activity}",
                )
            except ActivityError as err:
                cause = err.cause
                if isinstance(cause, ApplicationError) and cause.type == agents.CIRCUIT_OPEN:
                    seconds = float(cause.details[0]["retry_after_seconds"])
                    await workflow.sleep(timedelta(seconds=seconds), summary="breaker open")
                    continue
                detail = cause.message if isinstance(cause, ApplicationError) else str(err)
                raise SagaStepFailed(step, detail) from err
