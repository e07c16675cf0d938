"""AccountCampaign: one account's durable, multi-channel collection campaign.

A thin Temporal shell around the campaign's decision core (``domain.campaign_core``):
the loop that walks the playbook's steps on durable timers, the handlers that take
payments, replies, opt-outs, legal events and operators' decisions (each one a core
decision, whose effects are carried out at once), and the activities
(``workflows/campaign``, ``workflows/arrangement_saga.py``). Everything the campaign must
remember lives in ``CampaignState``, so it can continue-as-new before its history grows
large.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.arrangements import Arrangement, ArrangementRequest, InstalmentReminder
    from domain.campaign import (
        AccountCampaignInput,
        AccountOutcome,
        CampaignSnapshot,
        CampaignState,
        CollectionStatus,
        InboundReply,
        OptOutRequest,
        PaymentReceived,
        WatchRequest,
    )
    from domain.campaign_core import approvals, arrangements, legal, promises, replies, status
    from domain.campaign_core.contacts import outcome
    from domain.campaign_core.outbox import emit
    from domain.campaign_core.payments import on_payment
    from domain.campaign_core.supervision import held_for_ruling
    from domain.compliance.facts import LegalEvent
    from domain.dead_letters import RedriveRequest
    from domain.events import EventType, amount
    from domain.operator import (
        Approval,
        ApprovalDecision,
        CancelRequest,
        PauseRequest,
        ResumeRequest,
    )
    from workflows.arrangement_saga import run_arrangement
    from workflows.campaign import agents as asking
    from workflows.campaign.contacting import (
        execute_step,
        load_history,
        run_callbacks,
        run_redrives,
    )
    from workflows.campaign.shell import Shell
    from workflows.campaign.waiting import (
        continue_as_new_if_needed,
        export_pending,
        replies_read,
        wait_for_payment,
        wait_until,
        wait_while_paused,
    )


@workflow.defn(name=names.ACCOUNT_CAMPAIGN)
class AccountCampaign:
    @workflow.init
    def __init__(self, inp: AccountCampaignInput) -> None:
        state = inp.state or CampaignState(
            balance=inp.account.amount_due,
            account=inp.account,
            watchers=[inp.parent_workflow_id] if inp.parent_workflow_id else [],
        )
        self._sh = Shell(inp, state)
        self._core = self._sh.core

    # --- run ---------------------------------------------------------------

    @workflow.run
    async def run(self, inp: AccountCampaignInput) -> AccountOutcome:
        sh, c, st = self._sh, self._core, self._sh.state
        if inp.llm_replies or inp.reader_activity:
            # Replies are read in an activity beside the main loop (runs from before
            # ``reader_activity`` read them in their handler, and replay so).
            sh.reader = asyncio.create_task(asking.read_replies(sh))
        if st.started_at is None:
            st.started_at = workflow.now()
            emit(
                c,
                EventType.CAMPAIGN_PROGRESS,
                "started",
                {
                    "playbook": inp.playbook.name,
                    "stepsTotal": len(inp.playbook.steps),
                    "balance": amount(st.balance),
                    "currency": st.account.currency,
                    "daysPastDue": st.account.days_past_due,
                },
            )
        if not st.history_loaded and not inp.history_at_first_contact:
            await load_history(sh)  # a run from before the history waited for the first contact
        steps = inp.playbook.steps
        while st.next_step < len(steps) and not st.status.terminal:
            await wait_while_paused(sh)
            await self._operator_work()
            if st.status.terminal:
                break
            step = steps[st.next_step]
            due = st.started_at + c.days(step.day)
            channel_note = f"{step.channel} '{step.template}'"
            await wait_until(
                sh,
                due,
                f"step {st.next_step + 1}/{len(steps)} ({step.id}): {channel_note}",
                interruptible=True,
            )
            if st.status.terminal:
                break
            if st.paused is not None or held_for_ruling(c) or approvals.operator_work_pending(c):
                continue  # paused, or a ruling, a redrive or an accepted arrangement comes first
            if await self._honour_promise():
                continue
            if await execute_step(sh, step):
                st.next_step += 1
            await continue_as_new_if_needed(sh)

        if not st.status.terminal:
            await self._close()
        await asking.stop_reader(sh)
        await asking.record_outcomes(sh)
        return await self._finish()

    async def _operator_work(self) -> None:
        """Disagreements to rule on, an accepted arrangement, redriven dead letters, calls
        asked for: before the next step."""
        await asking.supervise(self._sh)
        await run_arrangement(self._sh)
        await run_redrives(self._sh)
        await run_callbacks(self._sh)

    async def _honour_promise(self) -> bool:
        """While a promise is open, outreach pauses. Returns True if it paused."""
        sh, c, st = self._sh, self._core, self._sh.state
        if st.status is not CollectionStatus.PROMISED or st.promise_until is None:
            return False
        until = st.promise_until
        if workflow.now() < until:
            await wait_for_payment(sh, until, "promise to pay: outreach paused")
            if st.arrangement_pending:
                return True  # accepted during the promise: the main loop books it
        promises.check(c, until)
        return True

    async def _close(self) -> None:
        """After the last step, wait ``closing_days`` for payment.

        A campaign whose promise is still open at the end finishes as PROMISED (the
        promise date is in its state); otherwise an unpaid balance is EXHAUSTED.
        """
        sh, c, st = self._sh, self._core, self._sh.state
        assert st.started_at is not None
        end = st.started_at + c.days(sh.inp.playbook.total_days)
        await wait_for_payment(sh, end, "playbook done: waiting for payment")
        await replies_read(sh)  # a reply of the closing window may change the outcome
        while approvals.operator_work_pending(c) and not st.status.terminal:
            await self._operator_work()
            await wait_for_payment(sh, end, "playbook done: waiting for payment")
            await replies_read(sh)
        if st.status.terminal:
            return
        if st.promise_until is not None and st.promise_until > workflow.now():
            status.set_status(c, CollectionStatus.PROMISED)
            return
        status.set_status(c, CollectionStatus.EXHAUSTED)

    async def _finish(self) -> AccountOutcome:
        sh, c, st = self._sh, self._core, self._sh.state
        result = outcome(c)
        await export_pending(sh)
        status.finish(c)
        for watcher in st.watchers:
            try:
                await workflow.get_external_workflow_handle(watcher).signal(
                    names.SIGNAL_ACCOUNT_FINISHED, result
                )
            except FailureError as err:
                # The watcher may have been terminated by an operator; the outcome is
                # still this workflow's result.
                workflow.logger.warning("could not notify %s: %s", watcher, err)
        return result

    # --- signals -------------------------------------------------------------

    @workflow.signal(name=names.SIGNAL_PAYMENT)
    def payment(self, payment: PaymentReceived) -> None:
        on_payment(self._core, payment)

    @workflow.signal(name=names.SIGNAL_REPLY)
    def inbound_reply(self, reply: InboundReply) -> None:
        replies.on_reply(self._core, reply)

    @workflow.signal(name=names.SIGNAL_OPT_OUT)
    def opt_out(self, request: OptOutRequest) -> None:
        legal.on_opt_out(self._core, request)

    @workflow.signal(name=names.SIGNAL_LEGAL)
    def legal_event(self, event: LegalEvent) -> None:
        """Cease, attorney, dispute, verification, consent revoked, medium opt-out: it
        takes effect before the next contact, and a send in flight is checked again."""
        legal.on_legal_event(self._core, event)

    @workflow.signal(name=names.SIGNAL_PAUSE)
    def pause(self, request: PauseRequest) -> None:
        """Hold outreach before the next contact until resumed (a send in flight finishes)."""
        approvals.on_pause(self._core, request)

    @workflow.signal(name=names.SIGNAL_RESUME)
    def resume(self, request: ResumeRequest) -> None:
        approvals.on_resume(self._core, request)

    @workflow.signal(name=names.SIGNAL_CANCEL)
    def cancel(self, request: CancelRequest) -> None:
        """End the campaign as ``cancelled`` before its next contact."""
        approvals.on_cancel(self._core, request)

    @workflow.signal(name=names.SIGNAL_WATCH)
    def watch(self, request: WatchRequest) -> None:
        if request.workflow_id not in self._sh.state.watchers:
            self._sh.state.watchers.append(request.workflow_id)

    @workflow.signal(name=names.SIGNAL_INSTALMENT_REMINDER)
    def instalment_reminder(self, reminder: InstalmentReminder) -> None:
        arrangements.on_instalment_reminder(self._core, reminder)

    # --- updates -------------------------------------------------------------

    @workflow.update(name=names.UPDATE_DECIDE_APPROVAL)
    def decide_approval(self, decision: ApprovalDecision) -> Approval:
        """A person approves or rejects what the campaign waits for (idempotent)."""
        return approvals.on_decision(self._core, decision)

    @decide_approval.validator
    def _validate_decision(self, decision: ApprovalDecision) -> None:
        problem = approvals.validate_decision(self._core, decision)
        if problem is not None:
            raise ValueError(problem)

    @workflow.update(name=names.UPDATE_REDRIVE)
    def redrive(self, request: RedriveRequest) -> str:
        """Queue a dead letter's step to be contacted for again; the gate decides when."""
        return approvals.on_redrive(self._core, request)

    @redrive.validator
    def _validate_redrive(self, request: RedriveRequest) -> None:
        problem = approvals.validate_redrive(self._core, request)
        if problem is not None:
            raise ValueError(problem)

    @workflow.update(name=names.UPDATE_ARRANGE)
    def arrange(self, request: ArrangementRequest) -> Arrangement:
        """Accept a settlement or payment plan; the saga books it before the next contact."""
        return arrangements.on_arrange(self._core, request)

    @arrange.validator
    def _validate_arrange(self, request: ArrangementRequest) -> None:
        problem = arrangements.validate_arrange(self._core, request)
        if problem is not None:
            raise ValueError(problem)

    # --- query ---------------------------------------------------------------

    @workflow.query(name=names.QUERY_STATUS)
    def status(self) -> CampaignSnapshot:
        c, st = self._core, self._sh.state
        return CampaignSnapshot(
            tenant_id=c.inp.tenant.tenant_id,
            campaign_id=c.inp.campaign_id,
            account_id=st.account.account_id,
            playbook=c.inp.playbook.name,
            status=st.status,
            balance=st.balance,
            amount_paid=st.amount_paid,
            currency=st.account.currency,
            steps_done=st.next_step,
            steps_total=len(c.inp.playbook.steps),
            next_action=c.next_action,
            next_action_at=c.next_action_at,
            attempts=list(st.attempts),
            replies=st.replies,
            last_reply_intent=st.last_reply_intent,
            promise_until=st.promise_until,
            holds=st.holds,
            decisions=st.decisions[-50:],
            dead_letters=list(st.dead_letters),
            arrangement=st.arrangement,
            paused=st.paused,
            approvals=list(st.approvals),
            unread_replies=len(st.unread),
        )
