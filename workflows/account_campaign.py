"""AccountCampaign: one account's durable, multi-channel collection campaign.

The workflow interprets the account's playbook step by step with durable timers.
Payments, replies and opt-outs arrive as signals and change the plan at once: a
timer waiting for the next step wakes up, re-reads the state and either goes on
waiting or stops. Everything it must remember lives in ``CampaignState`` so it
can continue-as-new with the same state before its history grows large.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from domain import agents
    from domain.agent_messages import AgentIdentity, Attachment, MessageMode
    from domain.arrangements import (
        Arrangement,
        ArrangementKind,
        ArrangementRequest,
        ArrangementStatus,
        ArrangementTerms,
        InstalmentReminder,
    )
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
    from domain.channels import Channel
    from domain.compliance.engine import decide
    from domain.compliance.facts import (
        HISTORY_WINDOW,
        ContactHistory,
        ContactHistoryRequest,
        GateRecord,
        LegalEvent,
        LegalEventKind,
        facts_for,
        recent_history,
    )
    from domain.compliance.model import (
        ComplianceFacts,
        Decision,
        PastContact,
        ProposedContact,
        Reason,
    )
    from domain.contact import (
        ComplianceContext,
        ContactAttempt,
        ContactOutcome,
        ContactRequest,
        ContactResult,
        MessageContext,
        format_amount,
    )
    from domain.dead_letters import DeadLetter, FailedSend, RedriveRequest, dead_letter_id
    from domain.events import (
        EventType,
        ExportContext,
        amount,
        interaction_record,
        priority_for,
    )
    from domain.messages import BackoffStrategy, Command, CommandType, RetryPolicySpec
    from domain.operator import (
        Approval,
        ApprovalDecision,
        ApprovalKind,
        ApprovalStatus,
        PauseRequest,
        ResumeRequest,
    )
    from domain.playbook import Step, StepCondition, StopCondition
    from domain.replies import ReplyIntent, classify, is_stop_keyword
    from domain.reply_reading import ReadBy, ReadReply, ReplyToRead
    from domain.resilience import Backoff, RetryRule
    from domain.revocations import Revocation, RevocationKind
    from domain.supervision import Disagreement, DisagreementKind, Position, offline_ruling
    from workflows import search_attributes as sa
    from workflows.arrangement_saga import ArrangementSaga, arrangement_problem
    from workflows.next_best_action import NextBestAction
    from workflows.reply_actions import ReplyActions
    from workflows.research import Research
    from workflows.supervision import Supervision

COMMAND_TYPE = {
    Channel.EMAIL: CommandType.SEND_EMAIL,
    Channel.SMS: CommandType.SEND_SMS,
    Channel.PHONE: CommandType.MAKE_CALL,
}
BACKOFF = {
    Backoff.FIXED: BackoffStrategy.FIXED,
    Backoff.EXPONENTIAL: BackoffStrategy.EXPONENTIAL,
    Backoff.LINEAR: BackoffStrategy.LINEAR,
}

# Replies that commit to paying: the contact before them earned a promise's reward.
PROMISING = frozenset({ReplyIntent.PROMISE_TO_PAY, ReplyIntent.PAY_NOW, ReplyIntent.PAYMENT_PLAN})

# Permanent failures are raised as these non-retryable error types by activities.
PERMANENT_ERRORS = ["PermanentProviderError", "InvalidAddress", "OptedOut", "TemplateError"]


def retry_policy(rule: RetryRule) -> RetryPolicy:
    """Temporal's policy for a channel's rule (messaging seed, "Retry Mechanisms").

    Provider failures carry their own ``next_retry_delay`` computed from the rule
    (Temporal has no linear back-off); this policy bounds the attempts and times
    the retries of failures no agent saw, such as a worker crash or a timeout.
    """
    exponential = rule.backoff is Backoff.EXPONENTIAL
    return RetryPolicy(
        initial_interval=rule.delay_after(1),
        backoff_coefficient=rule.multiplier if exponential else 1.0,
        maximum_interval=max(rule.schedule, default=rule.delay_after(1)),
        maximum_attempts=rule.max_attempts,
        non_retryable_error_types=PERMANENT_ERRORS,
    )


# A call rings, is answered and runs its message: give it longer, with heartbeats.
START_TO_CLOSE = {
    Channel.EMAIL: timedelta(seconds=60),
    Channel.SMS: timedelta(seconds=30),
    Channel.PHONE: timedelta(minutes=10),
}
# Gate decisions carried across continue-as-new (earlier ones stay in earlier runs).
MAX_DECISIONS_CARRIED = 300
# Returned by a contact that a promise interrupted: the step is tried again later.
_PAUSED = "paused by a promise to pay"
# Returned by a send that never left (cancelled, or refused on a revocation the campaign
# now knows of): the gate is asked again with what the campaign knows now.
_ASK_AGAIN = "ask the gate again"
# A send cancelled (with WAIT_CANCELLATION_COMPLETED) is waited for, so that it reports
# what really happened; campaigns that cancelled a send before this shipped did not wait
# (workflow.patched, asked only when a send is cancelled: others pay no marker).
TRUTHFUL_SENDS = "sends-report-what-happened"
SEND_HEARTBEAT = {
    Channel.EMAIL: timedelta(seconds=10),
    Channel.SMS: timedelta(seconds=10),
    Channel.PHONE: timedelta(seconds=30),
}
# The reply reader's errors that another try cannot fix (see activities.replies).
LLM_PERMANENT_ERRORS = ["LlmRejected", "LlmRefused", "LlmMalformed"]


@workflow.defn(name=agents.ACCOUNT_CAMPAIGN)
class AccountCampaign(ArrangementSaga, ReplyActions, NextBestAction, Research, Supervision):
    @workflow.init
    def __init__(self, inp: AccountCampaignInput) -> None:
        self._inp = inp
        self._state = inp.state or CampaignState(
            balance=inp.account.amount_due,
            account=inp.account,
            watchers=[inp.parent_workflow_id] if inp.parent_workflow_id else [],
        )
        self._changed = False
        self._next_action: str | None = None
        self._next_action_at: datetime | None = None
        self._last_channel: Channel | None = None
        # Bumped by every legal event, so an in-flight send can be re-checked.
        self._legal_epoch = 0
        # The current step's sends that failed for good, and its last command.
        self._failures: list[FailedSend] = []
        self._last_request: ContactRequest | None = None
        self._plan_forwarded = Decimal("0")
        # Reads ``state.unread`` with the language model, beside the main loop.
        self._reader: asyncio.Task[None] | None = None
        self._reading = False
        self._stop_reading = False

    # --- run ---------------------------------------------------------------

    @workflow.run
    async def run(self, inp: AccountCampaignInput) -> AccountOutcome:
        st = self._state
        if inp.llm_replies:
            self._reader = asyncio.create_task(self._read_replies())
        if st.started_at is None:
            st.started_at = workflow.now()
            self._emit(
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
        if not st.history_loaded:
            # A call yesterday in an earlier campaign of this debt counts today.
            loaded: ContactHistory = await workflow.execute_activity(
                agents.LOAD_CONTACT_HISTORY,
                ContactHistoryRequest(
                    tenant_id=inp.tenant.tenant_id,
                    account_id=st.account.account_id,
                    since=workflow.now() - HISTORY_WINDOW,
                ),
                result_type=ContactHistory,
                task_queue=inp.queues.campaigns,
                start_to_close_timeout=timedelta(seconds=30),
                summary="load this debt's recent contacts (compliance history)",
            )
            st.prior_contacts, st.history_loaded = loaded.contacts, True
        steps = inp.playbook.steps
        while st.next_step < len(steps) and not st.status.terminal:
            await self._wait_while_paused()
            await self._operator_work()
            if st.status.terminal:
                break
            step = steps[st.next_step]
            due = st.started_at + self._days(step.day)
            channel_note = f"{step.channel} '{step.template}'"
            await self._wait_until(
                due,
                f"step {st.next_step + 1}/{len(steps)} ({step.id}): {channel_note}",
                interruptible=True,
            )
            if st.status.terminal:
                break
            if st.paused is not None or self._held_for_ruling() or self._operator_work_pending():
                continue  # paused, or a ruling, a redrive or an accepted arrangement comes first
            if await self._honour_promise():
                continue
            if await self._execute_step(step):
                st.next_step += 1
            await self._continue_as_new_if_needed()

        if not st.status.terminal:
            await self._close()
        await self._stop_reader()
        await self._record_outcomes()
        return await self._finish()

    # --- signals, query ----------------------------------------------------

    @workflow.signal(name=agents.SIGNAL_PAYMENT)
    def payment(self, payment: PaymentReceived) -> None:
        st = self._state
        if payment.payment_id in st.payment_ids or st.status is CollectionStatus.CANCELLED:
            return
        if payment.currency != st.account.currency:
            workflow.logger.warning(
                "payment %s ignored: currency %s, account is in %s",
                payment.payment_id,
                payment.currency,
                st.account.currency,
            )
            return
        st.payment_ids.append(payment.payment_id)
        st.amount_paid += payment.amount
        st.balance = max(Decimal("0"), st.balance - payment.amount)
        self._emit(
            EventType.PAYMENT,
            "received",
            {
                "paymentId": payment.payment_id,
                "amount": amount(payment.amount),
                "currency": payment.currency,
                "balance": amount(st.balance),
                "amountPaid": amount(st.amount_paid),
                "source": payment.source,
            },
        )
        if st.status is CollectionStatus.PROMISED:
            self._emit(EventType.PROMISE, "kept", {"paymentId": payment.payment_id})
        self._credit("payment")
        self._decided(f"payment of {amount(payment.amount)} {payment.currency} received")
        if st.balance == 0:
            self._set_status(CollectionStatus.PAID)
        self._changed = True

    @workflow.signal(name=agents.SIGNAL_REPLY)
    def inbound_reply(self, reply: InboundReply) -> None:
        st = self._state
        if reply.reply_id in st.reply_ids or st.status.terminal:
            return
        st.reply_ids.append(reply.reply_id)
        st.replies += 1
        if self._inp.llm_replies and not is_stop_keyword(reply.text):
            # The language model reads it, in an activity (``_read_replies``).
            if reply.received_at is None:
                reply = reply.model_copy(update={"received_at": workflow.now()})
            st.unread.append(reply)
            self._changed = True
            return
        # The offline reading: pure and deterministic, so it runs here, in the handler,
        # and a STOP takes effect before anything else is sent (it never waits for a model).
        reading = classify(reply.text, reply.received_at or workflow.now(), reply.channel)
        self._take_reading(reply, ReadReply(reading=reading, read_by=ReadBy.OFFLINE))
        self._changed = True

    def _take_reading(self, reply: InboundReply, read: ReadReply) -> None:
        """Record a reply's reading (and how it was read), then act on it."""
        st = self._state
        reading = read.reading
        st.last_reply_intent = reading.intent.value
        meta: dict[str, Any] = {
            "replyId": reply.reply_id,
            "channel": reply.channel.value,
            "direction": "inbound",
            "intent": reading.intent.value,
            "confidence": round(reading.confidence, 2),
            "readBy": read.read_by.value,
        }
        if read.fallback is not None:
            meta["fallback"] = read.fallback
        self._emit(EventType.CUSTOMER_INTERACTION, "replied", meta)
        what = f"reply: {reading.intent.value}"
        if reading.promise_date is not None:
            what += f" {reading.promise_date.isoformat()}"
        self._exchange("in", reply.channel, what)
        if reading.intent is not ReplyIntent.STOP:
            self._credit("promise" if reading.intent in PROMISING else "reply")
        if not st.status.terminal:  # read after the campaign ended: recorded only
            self._act_on_reply(reply, reading)
            if (
                reading.intent is ReplyIntent.PROMISE_TO_PAY
                and st.status is CollectionStatus.PROMISED
            ):
                self._check_promise_against_research(
                    reply.reply_id, f"{what} (confidence {reading.confidence:.2f})"
                )

    async def _read_replies(self) -> None:
        """Read unread replies with the model, oldest first, until told to stop and none is left.

        It runs beside the main loop, so a reply is read at once whatever the campaign is
        waiting for (a step, a promise, a pause, calling hours, a dispute hold, a payment
        plan's instalments); its reading then acts like a signal.
        """
        st = self._state
        while True:
            await workflow.wait_condition(lambda: bool(st.unread) or self._stop_reading)
            if not st.unread:
                return
            self._reading = True
            reply = st.unread[0]
            read = await self._read_with_model(reply)
            st.unread.pop(0)
            self._reading = False
            self._take_reading(reply, read)
            self._changed = True

    async def _read_with_model(self, reply: InboundReply) -> ReadReply:
        """The reply reader's reading; offline when the model keeps failing or is rejected."""
        inp, st = self._inp, self._state
        received = reply.received_at or workflow.now()
        request = ReplyToRead(
            reply_id=reply.reply_id,
            tenant_id=inp.tenant.tenant_id,
            text=reply.text,
            channel=reply.channel,
            received_at=received,
            language=st.account.language,
        )
        try:
            read: ReadReply = await workflow.execute_activity(
                agents.READ_REPLY,
                request,
                result_type=ReadReply,
                task_queue=inp.queues.campaigns,
                start_to_close_timeout=timedelta(seconds=inp.llm_timeout_seconds + 10),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    backoff_coefficient=2,
                    maximum_interval=timedelta(seconds=30),
                    maximum_attempts=3,
                    non_retryable_error_types=LLM_PERMANENT_ERRORS,
                ),
                summary=f"read reply {reply.reply_id} ({reply.channel})",
            )
        except ActivityError as err:
            cause = err.cause
            kind = cause.type if isinstance(cause, ApplicationError) else None
            workflow.logger.warning(
                "reply %s read offline: %s", reply.reply_id, kind or type(cause or err).__name__
            )
            reading = classify(reply.text, received, reply.channel)
            why = "model rejected the request" if kind == "LlmRejected" else "model unavailable"
            return ReadReply(reading=reading, read_by=ReadBy.OFFLINE, fallback=why)
        return read

    async def _replies_read(self) -> None:
        """Wait until every reply received so far is read (and acted on)."""
        st = self._state
        if st.unread:
            self._describe("reading the debtor's reply", None)
            await workflow.wait_condition(lambda: not st.unread)

    async def _stop_reader(self) -> None:
        """Read what is left, then stop the reader (the campaign is about to finish)."""
        self._stop_reading = True
        if self._reader is not None:
            await self._reader

    @workflow.signal(name=agents.SIGNAL_OPT_OUT)
    def opt_out(self, request: OptOutRequest) -> None:
        if not self._first_time(request.revocation_id):
            return  # a channel agent's refusal already applied it from the store
        self._opt_out(request.channel, request.address)
        self._emit(
            EventType.OPT_OUT,
            "opted_out",
            {
                "channel": request.channel.value,
                "reason": request.reason,
                "scope": "address" if request.address else "channel",
            },
        )
        self._legal_epoch += 1
        self._changed = True

    @workflow.signal(name=agents.SIGNAL_LEGAL)
    def legal_event(self, event: LegalEvent) -> None:
        """Cease, attorney, dispute, verification, consent revoked, medium opt-out.

        Takes effect before the next contact: waits wake up and ask the gate again,
        and a send in flight is cancelled if the gate now bars it.
        """
        st = self._state
        if not self._first_time(event.revocation_id):
            return  # a channel agent's refusal already applied it from the store
        holds = st.holds
        kind = event.kind
        meta = {"kind": kind.value, **({"channel": event.channel.value} if event.channel else {})}
        self._emit(EventType.COMPLIANCE_AUDIT, "legal_event", meta)
        if kind is LegalEventKind.DISPUTE:
            self._emit(EventType.DISPUTE, "opened", meta)
        elif kind is LegalEventKind.VERIFICATION_SENT:
            self._emit(EventType.DISPUTE, "verified", meta)
        elif kind in {LegalEventKind.CONSENT_REVOKED, LegalEventKind.MEDIUM_OPT_OUT}:
            self._emit(EventType.OPT_OUT, "opted_out", {**meta, "reason": kind.value})
        if kind is LegalEventKind.CEASE:
            holds.cease = True
            self._set_status(CollectionStatus.CEASED)
        elif kind is LegalEventKind.ATTORNEY:
            holds.attorney = True
            self._set_status(CollectionStatus.CEASED)
        elif kind is LegalEventKind.DISPUTE:
            holds.disputed_unverified = True
            if not st.status.terminal:
                self._set_status(CollectionStatus.DISPUTED)
        elif kind is LegalEventKind.VERIFICATION_SENT:
            holds.disputed_unverified = False
            if st.status is CollectionStatus.DISPUTED:
                self._set_status(CollectionStatus.ACTIVE)
        elif kind is LegalEventKind.CONSENT_REVOKED and event.channel is not None:
            self._revoke_consent(event.channel, event.address)
        elif kind is LegalEventKind.MEDIUM_OPT_OUT and event.channel is not None:
            if event.channel not in holds.medium_opt_outs:
                holds.medium_opt_outs.append(event.channel)
            self._after_opt_out()
        self._legal_epoch += 1
        self._changed = True

    def _first_time(self, revocation_id: str | None) -> bool:
        """Record a stored revocation as applied; False if it already was."""
        if revocation_id is None:
            return True
        applied = self._state.revocations_applied
        if revocation_id in applied:
            return False
        applied.append(revocation_id)
        del applied[:-MAX_DECISIONS_CARRIED]
        return True

    def _apply_stored(self, revocations: list[Revocation]) -> bool:
        """Apply revocations a channel agent found in the suppression store before this
        campaign heard of them (their signals, arriving later, change nothing twice).
        True when one of them was new here."""
        changed = False
        for r in revocations:
            if r.revocation_id in self._state.revocations_applied:
                continue
            changed = True
            if r.kind is RevocationKind.OPT_OUT and r.channel is not None:
                self.opt_out(
                    OptOutRequest(
                        channel=r.channel,
                        address=r.address,
                        reason=f"{r.note or r.source} (found in the suppression store)"[:300],
                        revocation_id=r.revocation_id,
                    )
                )
            else:
                self.legal_event(
                    LegalEvent(
                        kind=LegalEventKind(r.kind.value),
                        channel=r.channel,
                        address=r.address,
                        note=r.note,
                        received_at=r.received_at,
                        revocation_id=r.revocation_id,
                    )
                )
        return changed

    @workflow.signal(name=agents.SIGNAL_PAUSE)
    def pause(self, request: PauseRequest) -> None:
        """Hold outreach before the next contact until resumed (a send in flight finishes)."""
        st = self._state
        if st.paused is not None or st.status.terminal:
            return
        st.paused = request
        self._emit(
            EventType.CAMPAIGN_PROGRESS,
            "paused",
            {"reason": request.reason, "operator": request.operator},
        )
        self._changed = True

    @workflow.signal(name=agents.SIGNAL_RESUME)
    def resume(self, request: ResumeRequest) -> None:
        st = self._state
        if st.paused is None:
            return
        st.paused = None
        meta = {"operator": request.operator, **({"note": request.note} if request.note else {})}
        self._emit(EventType.CAMPAIGN_PROGRESS, "resumed", meta)
        self._changed = True

    @workflow.update(name=agents.UPDATE_DECIDE_APPROVAL)
    def decide_approval(self, decision: ApprovalDecision) -> Approval:
        """A person approves or rejects what the campaign waits for (idempotent)."""
        st = self._state
        approval = next(a for a in st.approvals if a.approval_id == decision.approval_id)
        if approval.status is not ApprovalStatus.PENDING:
            return approval
        self._settle_approval(approval, decision)
        return approval

    def _settle_approval(self, approval: Approval, decision: ApprovalDecision) -> None:
        st = self._state
        approval.status = ApprovalStatus.APPROVED if decision.approve else ApprovalStatus.REJECTED
        approval.decided_at = workflow.now()
        approval.decided_by = decision.operator
        approval.note = decision.note
        arr = st.arrangement
        if (
            approval.kind is ApprovalKind.SETTLEMENT
            and arr is not None
            and arr.request.arrangement_id == approval.subject_id
            and arr.status is ArrangementStatus.AWAITING_APPROVAL
        ):
            if decision.approve:
                arr.status = ArrangementStatus.SETTING_UP
                st.arrangement_pending = True
            else:
                arr.status = ArrangementStatus.REJECTED
                arr.detail = f"rejected by {decision.operator}" + (
                    f": {decision.note}" if decision.note else ""
                )
        self._ruled(approval)
        self._emit(
            EventType.CAMPAIGN_PROGRESS,
            f"approval_{approval.status.value}",
            {
                "approvalId": approval.approval_id,
                "kind": approval.kind.value,
                "operator": decision.operator,
            },
        )
        self._publish_approvals()
        self._changed = True

    def _expire_approvals(self) -> None:
        """Requests nobody answered in time take their safe default (protocol seed)."""
        now = workflow.now()
        for approval in self._state.approvals:
            due = approval.expires_at
            if approval.status is ApprovalStatus.PENDING and due is not None and due <= now:
                self._settle_approval(
                    approval,
                    ApprovalDecision(
                        approval_id=approval.approval_id,
                        approve=approval.safe_default is ApprovalStatus.APPROVED,
                        operator="timeout",
                        note=f"nobody decided by {due:%Y-%m-%d %H:%M} UTC: safe default",
                    ),
                )

    def _approval_deadline(self) -> datetime | None:
        due = [
            a.expires_at
            for a in self._state.approvals
            if a.status is ApprovalStatus.PENDING and a.expires_at is not None
        ]
        return min(due, default=None)

    def _bounded(self, remaining: timedelta) -> timedelta:
        """Wake for an approval's deadline too, so its safe default applies on time."""
        deadline = self._approval_deadline()
        if deadline is None:
            return remaining
        return max(timedelta(0), min(remaining, deadline - workflow.now()))

    @decide_approval.validator
    def _validate_decision(self, decision: ApprovalDecision) -> None:
        if all(a.approval_id != decision.approval_id for a in self._state.approvals):
            raise ValueError(f"approval_id: no approval {decision.approval_id!r} on this campaign")

    def _request_approval(self, approval: Approval) -> None:
        self._state.approvals.append(approval)
        self._emit(
            EventType.CAMPAIGN_PROGRESS,
            "approval_requested",
            {
                "approvalId": approval.approval_id,
                "kind": approval.kind.value,
                "summary": approval.summary,
            },
        )
        self._publish_approvals()

    def _publish_approvals(self) -> None:
        waiting = any(a.status is ApprovalStatus.PENDING for a in self._state.approvals)
        workflow.upsert_search_attributes([sa.AWAITING_APPROVAL.value_set(waiting)])
        self._describe(self._next_action, self._next_action_at)

    @workflow.signal(name=agents.SIGNAL_WATCH)
    def watch(self, request: WatchRequest) -> None:
        if request.workflow_id not in self._state.watchers:
            self._state.watchers.append(request.workflow_id)

    @workflow.query(name=agents.QUERY_STATUS)
    def status(self) -> CampaignSnapshot:
        st = self._state
        return CampaignSnapshot(
            tenant_id=self._inp.tenant.tenant_id,
            campaign_id=self._inp.campaign_id,
            account_id=st.account.account_id,
            playbook=self._inp.playbook.name,
            status=st.status,
            balance=st.balance,
            amount_paid=st.amount_paid,
            currency=st.account.currency,
            steps_done=st.next_step,
            steps_total=len(self._inp.playbook.steps),
            next_action=self._next_action,
            next_action_at=self._next_action_at,
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

    # --- waiting -----------------------------------------------------------

    def _days(self, days: float) -> timedelta:
        return timedelta(seconds=days * self._inp.seconds_per_day)

    def _operator_work_pending(self) -> bool:
        st = self._state
        return (
            st.arrangement_pending
            or bool(st.disagreements)
            or (bool(st.redrives or st.callbacks) and st.status is not CollectionStatus.PROMISED)
        )

    async def _operator_work(self) -> None:
        """Disagreements to rule on, an accepted arrangement, redriven dead letters, calls
        asked for: before the next step."""
        await self._supervise()
        await self._run_arrangement()
        await self._run_redrives()
        await self._run_callbacks()

    async def _run_callbacks(self) -> None:
        """Call back those who asked (a reply read as ``callback``), through the gate."""
        st = self._state
        while (
            st.callbacks and not st.status.terminal and st.status is not CollectionStatus.PROMISED
        ):
            reply_id = st.callbacks.pop(0)
            to = self._address_for(Channel.PHONE)
            if to is None:
                return  # consent or number gone meanwhile: nothing may be called
            step = Step(
                id=f"callback-{len(st.reply_ids)}",
                day=0,
                channel=Channel.PHONE,
                template="call_script",
            )
            why_not = await self._contact(step, Channel.PHONE, "call_script", to)
            if why_not is not None:
                workflow.logger.info("callback for reply %s not made: %s", reply_id, why_not)

    async def _wait_until(self, when: datetime, what: str, interruptible: bool = False) -> None:
        """Sleep durably until ``when``; wake early whenever a signal changed the state.

        An ``interruptible`` wait (between steps) also returns when an operator's
        work arrives; a wait inside a contact (for the gate, for a breaker) does not,
        or the contact would ask again at once, forever.
        """
        self._plan(what, when)
        while not self._state.status.terminal:
            if self._state.status is CollectionStatus.PROMISED:
                return  # the caller decides how long the promise pauses outreach
            self._expire_approvals()
            if interruptible and (
                self._operator_work_pending() or self._state.paused or self._held_for_ruling()
            ):
                return
            remaining = when - workflow.now()
            if remaining <= timedelta(0):
                return
            if self._state.outbox:
                await self._export_pending()
                await self._continue_as_new_if_needed()
                continue  # a signal may have arrived meanwhile: look again
            self._changed = False
            try:
                await workflow.wait_condition(
                    lambda: self._changed, timeout=self._bounded(remaining), timeout_summary=what
                )
            except TimeoutError:
                if self._approval_deadline() is None or workflow.now() >= when:
                    return
            await self._continue_as_new_if_needed()

    async def _wait_while_paused(self) -> None:
        """An operator paused outreach: wait for resume (signals still count meanwhile)."""
        st = self._state
        while (st.paused is not None or self._held_for_ruling()) and not st.status.terminal:
            self._expire_approvals()
            if st.paused is None and not self._held_for_ruling():
                break  # the ruling's deadline just passed
            self._plan(
                f"paused by {st.paused.operator}: {st.paused.reason}"
                if st.paused is not None
                else "waiting for a person to confirm whether the debt is disputed",
                None,
            )
            if st.outbox:
                await self._export_pending()
                await self._continue_as_new_if_needed()
                continue  # a signal may have arrived meanwhile: look again
            self._changed = False
            deadline = self._approval_deadline()
            # Woken by a signal, or by an approval's deadline (its default applies at the top).
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._changed,
                    timeout=None if deadline is None else self._bounded(deadline - workflow.now()),
                    timeout_summary="paused",
                )
            await self._continue_as_new_if_needed()

    async def _honour_promise(self) -> bool:
        """While a promise is open, outreach pauses. Returns True if it paused."""
        st = self._state
        if st.status is not CollectionStatus.PROMISED or st.promise_until is None:
            return False
        until = st.promise_until
        if workflow.now() < until:
            await self._wait_for_payment(until, "promise to pay: outreach paused")
            if self._state.arrangement_pending:
                return True  # accepted during the promise: the main loop books it
        if st.status is CollectionStatus.PROMISED and workflow.now() >= until:
            # Promise broken: outreach resumes with the next step, and a person is told.
            st.promise_until = None
            self._emit(EventType.PROMISE, "broken", {"promiseUntil": until.isoformat()})
            self._broken_promise(until)
            self._set_status(CollectionStatus.ACTIVE)
        return True

    async def _wait_for_payment(self, until: datetime, what: str) -> None:
        """Wait until ``until`` (or the end); a redrive wakes it unless a promise pauses."""
        self._plan(what, until)
        st = self._state
        while not st.status.terminal and workflow.now() < until:
            self._expire_approvals()
            if self._operator_work_pending():
                return
            if st.outbox:
                await self._export_pending()
                await self._continue_as_new_if_needed()
                continue  # a signal may have arrived meanwhile: look again
            self._changed = False
            try:
                await workflow.wait_condition(
                    lambda: self._changed,
                    timeout=self._bounded(until - workflow.now()),
                    timeout_summary=what,
                )
            except TimeoutError:
                if self._approval_deadline() is None or workflow.now() >= until:
                    return
            await self._continue_as_new_if_needed()

    async def _close(self) -> None:
        """After the last step, wait ``closing_days`` for payment.

        A campaign whose promise is still open at the end finishes as PROMISED (the
        promise date is in its state); otherwise an unpaid balance is EXHAUSTED.
        """
        st = self._state
        assert st.started_at is not None
        end = st.started_at + self._days(self._inp.playbook.total_days)
        await self._wait_for_payment(end, "playbook done: waiting for payment")
        await self._replies_read()  # a reply of the closing window may change the outcome
        while self._operator_work_pending() and not st.status.terminal:
            await self._operator_work()
            await self._wait_for_payment(end, "playbook done: waiting for payment")
            await self._replies_read()
        if st.status.terminal:
            return
        if st.promise_until is not None and st.promise_until > workflow.now():
            self._set_status(CollectionStatus.PROMISED)
            return
        self._set_status(CollectionStatus.EXHAUSTED)

    # --- contacting ----------------------------------------------------------

    async def _execute_step(self, step: Step, redrive: int = 0) -> bool:
        """Contact the debtor for ``step``; False when the step must be tried again later.

        When every option failed to send (retries and fallbacks exhausted), the
        command becomes a dead letter an operator can redrive.
        """
        st = self._state
        if step.min_balance is not None and st.balance < step.min_balance:
            self._record_skip(step, step.channel, "balance below the step's minimum")
            return True
        options: list[tuple[Channel, str, bool]] = [
            (step.channel, step.template, self._conditions_hold(step))
        ]
        fallback = step.fallback
        if fallback is None and step.channel is Channel.PHONE:
            # The seed: a call that fails goes to SMS where texting is allowed, else email.
            fallback = Channel.SMS if self._address_for(Channel.SMS) else Channel.EMAIL
        if fallback is not None:
            options.append((fallback, step.fallback_template or step.template, True))
        if not redrive:
            await self._research(step.channel)
        if self._adaptive(step, redrive) and self._conditions_hold(step, consents=False):
            chosen = await self._choose_action(step)
            if chosen is not None:
                # Compressed days (demo, tests) compress the wait for the window too.
                ahead = (self._window_start(chosen.arm) - workflow.now()) * (
                    self._inp.seconds_per_day / 86_400
                )
                if ahead > timedelta(0):
                    await self._wait_until(
                        workflow.now() + ahead,
                        f"next best action: {chosen.arm.key} for step {step.id}",
                        interruptible=True,
                    )
                    if st.status.terminal:
                        return True
                    if (
                        st.status is CollectionStatus.PROMISED
                        or st.paused is not None
                        or self._held_for_ruling()
                        or self._operator_work_pending()
                    ):
                        return False  # the step comes back later, with the same choice
                target = chosen.arm.channel
                template = (
                    step.fallback_template
                    if target is step.fallback and step.fallback_template
                    else step.template
                )
                options = [(target, template, True)] + [o for o in options if o[0] is not target]
        self._failures, self._last_request = [], None
        reasons: list[str] = []
        for channel, template, allowed in options:
            if not allowed:
                reasons.append(f"{channel}: step conditions not met")
                continue
            to = self._address_for(channel)
            if to is None:
                reasons.append(f"{channel}: no usable contact point")
                continue
            if reasons and channel is not step.channel:
                self._hand_off(step, step.channel, channel, reasons[-1])
            why_not = await self._contact(step, channel, template, to, redrive)
            if why_not is None:
                return True
            if why_not is _PAUSED:
                return False
            if st.status.terminal:
                return True
            reasons.append(f"{channel}: {why_not}")
        self._record_skip(step, step.channel, "; ".join(reasons))
        if self._failures and self._last_request is not None:
            await self._dead_letter(step, template, redrive)
        if not self._any_channel_usable() and self._inp.playbook.stops_on(
            StopCondition.OPTED_OUT_EVERYWHERE
        ):
            self._set_status(CollectionStatus.OPTED_OUT)
        return True

    def _hand_off(self, step: Step, source: Channel, target: Channel, why: str) -> None:
        """The failed channel's agent hands the step to the fallback channel's agent."""
        self._emit_agent_message(
            from_agent=AgentIdentity(agent_id=f"{source}-agent", role=source.value),
            to=target.value,
            routing="role",
            kind="request",
            action="task_handoff",
            content=(
                f"Step {step.id} could not reach the debtor by {source} ({why}). "
                f"Please contact them by {target} instead."
            ),
            mode=MessageMode.ASYNC,
        )

    async def _contact(
        self,
        step: Step,
        channel: Channel,
        template: str,
        to: str,
        redrive: int = 0,
        terms: ArrangementTerms | None = None,
    ) -> str | None:
        """Ask the gate, wait until it allows, send. None when sent; otherwise why not."""
        st = self._state
        while True:
            if st.status.terminal:
                return "campaign ended"
            if st.status is CollectionStatus.PROMISED:
                return _PAUSED
            if st.unread:
                # The debtor just wrote: know what they said before contacting them again.
                await self._replies_read()
                continue
            decision, facts, history = self._ask_gate(step, channel, to, "plan")
            if not decision.allowed:
                if decision.earliest_allowed is None:
                    why_not = await self._permanent_bar(decision)
                    if why_not is None:
                        continue  # the hold was lifted: ask again
                    return why_not
                because = ", ".join(r.value for r in decision.reasons)
                await self._wait_until(
                    decision.earliest_allowed,
                    f"compliance ({because}): {channel} '{template}' ({step.id})",
                )
                continue
            if st.status is CollectionStatus.SCHEDULED:
                self._set_status(CollectionStatus.ACTIVE)
            sent = await self._send(step, channel, template, to, facts, history, redrive, terms)
            if sent is _ASK_AGAIN:
                continue
            if isinstance(sent, timedelta):
                # The provider's breaker is open: nothing was tried and no attempt used.
                await self._wait_until(
                    workflow.now() + sent,
                    f"{channel} provider paused (circuit breaker open): '{template}' ({step.id})",
                )
                continue
            if isinstance(sent, Decision):
                # Refused at the moment of sending (a delay pushed it past a rule). Wait
                # for the refusal's own earliest moment before planning again, so a
                # worker clock ahead of the server's cannot make sends bounce.
                self._record_decision(sent, step, channel, to, facts, len(history), "send")
                if sent.earliest_allowed is not None:
                    because = ", ".join(r.value for r in sent.reasons)
                    await self._wait_until(
                        sent.earliest_allowed,
                        f"compliance at send time ({because}): {channel} '{template}'",
                    )
                continue
            return sent

    def _ask_gate(
        self, step: Step, channel: Channel, to: str, stage: str
    ) -> tuple[Decision, ComplianceFacts, list[PastContact]]:
        st = self._state
        now = workflow.now()
        facts = facts_for(st.account, st.holds, channel, to)
        history = recent_history(st.prior_contacts, st.attempts, now)
        decision = decide(facts, history, ProposedContact(at=now, channel=channel, to=to))
        self._record_decision(decision, step, channel, to, facts, len(history), stage)
        return decision, facts, history

    def _record_decision(
        self,
        decision: Decision,
        step: Step,
        channel: Channel,
        to: str,
        facts: ComplianceFacts,
        history_size: int,
        stage: str,
    ) -> None:
        decisions = self._state.decisions
        decisions.append(
            GateRecord(
                at=workflow.now(),
                stage=stage,
                step_id=step.id,
                channel=channel,
                to=to,
                allowed=decision.allowed,
                reasons=decision.reasons,
                earliest_allowed=decision.earliest_allowed,
                ruleset=decision.ruleset,
                facts=facts,
                history_size=history_size,
            )
        )
        # Older decisions stay in the histories of earlier runs; carry a bounded tail.
        del decisions[:-MAX_DECISIONS_CARRIED]
        metadata: dict[str, Any] = {
            "stage": stage,
            "stepId": step.id,
            "channel": channel.value,
            "reasons": [r.value for r in decision.reasons],
            "ruleset": decision.ruleset,
            "historySize": history_size,
        }
        if decision.earliest_allowed is not None:
            metadata["earliestAllowed"] = decision.earliest_allowed.isoformat()
        self._emit(
            EventType.COMPLIANCE_AUDIT, "allowed" if decision.allowed else "denied", metadata
        )

    async def _permanent_bar(self, decision: Decision) -> str | None:
        """Act on a permanent denial; None when it was lifted and the gate may be asked again."""
        st = self._state
        reasons = set(decision.reasons)
        if reasons & {Reason.CEASE, Reason.ATTORNEY}:
            self._set_status(CollectionStatus.CEASED)
            return "ceased"
        if Reason.DISPUTE_HOLD in reasons:
            # Collection pauses (no timer) until verification is sent or the debt is paid.
            self._set_status(CollectionStatus.DISPUTED)
            self._plan("dispute hold: waiting for verification to be sent", None)
            await self._export_pending()
            await workflow.wait_condition(
                lambda: not st.holds.disputed_unverified or st.status.terminal
            )
            if not st.status.terminal:
                self._set_status(CollectionStatus.ACTIVE)
                return None
            return "campaign ended"
        return ", ".join(r.value for r in decision.reasons)  # opted out, no consent

    async def _send(
        self,
        step: Step,
        channel: Channel,
        template: str,
        to: str,
        facts: ComplianceFacts,
        history: list[PastContact],
        redrive: int = 0,
        terms: ArrangementTerms | None = None,
    ) -> str | Decision | timedelta | None:
        """Run the channel agent; a legal event arriving meanwhile cancels it if it now bars it.

        Returns None when sent, the send-time decision when the agent's own gate check
        refused, how long to wait when the provider's circuit breaker is open, or why
        it failed.
        """
        st = self._state
        info = workflow.info()
        # Deterministic, so a retried or replayed send is recognised by the provider
        # and the sent-ledger; a redrive is a new command and gets a new id.
        attempt_id = f"{info.workflow_id}/{info.first_execution_run_id}/{step.id}/{channel}"
        if redrive:
            attempt_id += f"/redrive-{redrive}"
        rule = self._inp.retry.for_channel(channel)
        command_id = self._emit_command(
            Command(
                type=COMMAND_TYPE[channel],
                campaign_id=self._inp.campaign_id,
                customer_id=st.account.account_id,
                priority=priority_for(st.account.priority),
                scheduled_for=workflow.now(),
                context={
                    "attemptId": attempt_id,
                    "stepId": step.id,
                    "channel": channel.value,
                    "template": template,
                    "language": st.account.language,
                },
                retry_policy=RetryPolicySpec(
                    max_retries=rule.max_attempts - 1, backoff_strategy=BACKOFF[rule.backoff]
                ),
            ),
            target=f"{channel}-agent",
        )
        export = ExportContext(
            origin=self._origin(), step_id=step.id, command_id=command_id, pending=[]
        )
        pending = self._take_pending()
        request = ContactRequest(
            attempt_id=attempt_id,
            tenant_id=self._inp.tenant.tenant_id,
            account_id=st.account.account_id,
            channel=channel,
            to=to,
            template=template,
            language=st.account.language,
            message=MessageContext(
                debtor_name=st.account.debtor_name,
                account_id=st.account.account_id,
                creditor=self._inp.tenant.creditor_for(st.account.creditor),
                collector=self._inp.tenant.name,
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
        self._last_channel = channel
        self._describe(f"sending {channel} '{template}' ({step.id})", None)
        attempted_at = workflow.now()  # when the contact was made, not when it returned
        # Watched from now: a debtor may pay while the agent is still on the line.
        self._watch_contact(step.id, request.attempt_id, channel)
        handle = workflow.start_activity(
            agents.CONTACT_ACTIVITY[channel],
            request,
            result_type=ContactResult,
            task_queue=self._inp.queues.for_channel(channel),
            start_to_close_timeout=START_TO_CLOSE[channel],
            heartbeat_timeout=SEND_HEARTBEAT[channel],
            # Wait for the agent's answer: a send the provider already has is reported
            # sent, and only one that never left is reported cancelled.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            retry_policy=retry_policy(rule),
            # A call backlog (the provider's rate limit) serves priority 1 accounts first.
            priority=Priority(priority_key=st.account.priority)
            if channel is Channel.PHONE and st.account.priority is not None
            else Priority.default,
            summary=f"{channel} · {template} · step {step.id}",
        )
        seen_epoch = self._legal_epoch
        barred: Decision | None = None
        barred_at: datetime | None = None
        while not handle.done():
            await workflow.wait_condition(
                lambda seen=seen_epoch: handle.done() or self._legal_epoch != seen  # type: ignore[misc]
            )
            seen_epoch = self._legal_epoch
            if barred is not None or handle.done():
                continue  # cancelled already: wait for the agent to say what happened
            decision = self._ask_gate(step, channel, to, "legal event")[0]
            if not decision.allowed:
                handle.cancel()  # e.g. a cease while the send waits for a retry
                barred, barred_at = decision, workflow.now()
                # Asked only here, so that only a campaign that cancels a send pays the
                # patch's marker; a history from before it replays the old way: it did
                # not wait for the agent's answer and took the send as failed.
                if not workflow.patched(TRUTHFUL_SENDS):
                    # Let the handle issue its cancel command before anything is scheduled
                    # after it, in the order the history has them.
                    await asyncio.sleep(0)
                    self._unwatch(request.attempt_id)
                    return self._send_failed(
                        step, channel, to, request, export, attempted_at,
                        error_type="CancelledError",
                        detail="cancelled: a legal event barred it before it was sent",
                        attempts=rule.max_attempts,
                    )  # fmt: skip
        try:
            result: ContactResult = await handle
        except ActivityError as err:
            self._unwatch(request.attempt_id)
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == agents.COMPLIANCE_BLOCKED:
                refusal = Decision.model_validate(cause.details[0])
                if len(cause.details) < 2:
                    return refusal  # an agent from before the suppression store
                stored = [Revocation.model_validate(r) for r in cause.details[1]["revocations"]]
                if self._apply_stored(stored):
                    # A revocation this campaign had not heard of yet: record the refusal,
                    # then plan again with it (a fallback channel, or the end).
                    self._record_decision(refusal, step, channel, to, facts, len(history), "send")
                    return _ASK_AGAIN
                if refusal.earliest_allowed is None:
                    # Barred for good by what the store holds and this campaign already
                    # applied: asking again would send the same refusal round forever.
                    self._record_decision(refusal, step, channel, to, facts, len(history), "send")
                    return "barred at send time: " + ", ".join(r.value for r in refusal.reasons)
                return refusal
            if barred is not None and isinstance(cause, CancelledError):
                # The agent confirmed it never reached the provider: not sent, not failed.
                reasons = ", ".join(r.value for r in barred.reasons)
                detail = f"not sent: cancelled before it reached the provider ({reasons})"
                self._emit_record(
                    interaction_record(
                        export, request.attempt_id, channel.value, "cancelled", attempted_at,
                        detail=detail,
                    )
                )  # fmt: skip
                st.attempts.append(
                    ContactAttempt(
                        attempt_id=request.attempt_id,
                        step_id=step.id,
                        channel=channel,
                        to=to,
                        at=attempted_at,
                        outcome=ContactOutcome.SKIPPED,
                        detail=detail[:300],
                    )
                )
                return _ASK_AGAIN
            if isinstance(cause, ApplicationError) and cause.type == agents.CIRCUIT_OPEN:
                return timedelta(seconds=float(cause.details[0]["retry_after_seconds"]))
            detail = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            if isinstance(cause, ApplicationError) and cause.type in {"OptedOut", "InvalidAddress"}:
                # Never use that address on that channel again.
                self._opt_out(channel, to)
            return self._send_failed(
                step, channel, to, request, export, attempted_at,
                error_type=(cause.type if isinstance(cause, ApplicationError) else None)
                or type(cause or err).__name__,
                detail=detail,
                attempts=_attempts(cause, rule),
            )  # fmt: skip
        self._exported(pending)  # the agent wrote them to the event log with its outcome
        self._after_revocation(step, channel, request.attempt_id, result, barred_at)
        st.attempts.append(
            ContactAttempt(
                attempt_id=request.attempt_id,
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
            self._opt_out(channel, to)  # a hard bounce: never use that address again
        if result.outcome is ContactOutcome.FAILED:
            self._unwatch(request.attempt_id)
        else:
            self._exchange("out", channel, f"{template} ({result.outcome.value})")
            if st.action is not None and st.action.step_id == step.id:
                st.action = None  # done: the next step gets its own choice
        if result.compose_disagreement:
            self._composer_disagrees(request.attempt_id, result.compose_fallback or "")
        return None if result.outcome is not ContactOutcome.FAILED else "failed"

    def _send_failed(
        self,
        step: Step,
        channel: Channel,
        to: str,
        request: ContactRequest,
        export: ExportContext,
        attempted_at: datetime,
        *,
        error_type: str,
        detail: str,
        attempts: int,
    ) -> str:
        """A send that failed for good: kept for the step's dead letter, and recorded."""
        self._failures.append(
            FailedSend(
                channel=channel,
                to=to,
                attempt_id=request.attempt_id,
                error_type=error_type,
                error=detail[:2000],
                attempts=attempts,
            )
        )
        # Kept for the dead letter without the records it carried for export.
        self._last_request = request.model_copy(update={"export": export})
        self._emit_record(
            interaction_record(
                export, request.attempt_id, channel.value, "failed", attempted_at, detail=detail
            )
        )
        self._state.attempts.append(
            ContactAttempt(
                attempt_id=request.attempt_id,
                step_id=step.id,
                channel=channel,
                to=to,
                at=attempted_at,
                outcome=ContactOutcome.FAILED,
                detail=detail[:300],
            )
        )
        return "failed"

    def _after_revocation(
        self,
        step: Step,
        channel: Channel,
        attempt_id: str,
        result: ContactResult,
        barred_at: datetime | None,
    ) -> None:
        """Say so when a message went out after a revocation: never hidden.

        Either the agent found one in the store that arrived between its check and the
        hand-over, or this campaign learnt of one (and cancelled) before the agent
        handed the message over and the agent's check could not see it (a signal with
        no stored record).
        """
        late = list(result.after_revocation)
        known_first = (
            barred_at is not None and result.handed_at is not None and result.handed_at >= barred_at
        )
        if not late and not known_first:
            return
        self._apply_stored(late)
        self._emit(
            EventType.COMPLIANCE_AUDIT,
            "sent_after_revocation",
            {
                "attemptId": attempt_id,
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

    async def _dead_letter(self, step: Step, template: str, redrive: int) -> None:
        st = self._state
        assert self._last_request is not None
        info = workflow.info()
        letter = DeadLetter(
            dead_letter_id=dead_letter_id(info.workflow_id, step.id, redrive),
            tenant_id=self._inp.tenant.tenant_id,
            account_id=st.account.account_id,
            campaign_id=self._inp.campaign_id,
            workflow_id=info.workflow_id,
            step_id=step.id,
            template=template,
            created_at=workflow.now(),
            failures=list(self._failures),
            request=self._last_request,
        )
        await workflow.execute_activity(
            agents.RECORD_DEAD_LETTER,
            letter,
            task_queue=self._inp.queues.campaigns,
            start_to_close_timeout=timedelta(seconds=30),
            summary=f"dead letter · step {step.id} · {letter.last_error[:80]}",
        )
        st.dead_letters.append(letter.dead_letter_id)
        del st.dead_letters[:-MAX_DECISIONS_CARRIED]
        facts = {
            "deadLetterId": letter.dead_letter_id,
            "stepId": step.id,
            "template": template,
            "channels": [f.channel.value for f in letter.failures],
            "lastError": letter.last_error[:300],
        }
        event_id = self._emit(EventType.DEAD_LETTER, "recorded", facts)
        self._emit_escalation(facts)
        self._emit_agent_message(
            from_agent=AgentIdentity(agent_id=f"{letter.failures[-1].channel}-agent", role="agent"),
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

    async def _run_redrives(self) -> None:
        """Contact again for each redriven dead letter, through the gate as always."""
        st = self._state
        by_id = {s.id: s for s in self._inp.playbook.steps}
        while st.redrives and not st.status.terminal:
            step = by_id[st.redrives.pop(0)]
            st.redrive_count += 1
            await self._execute_step(step, redrive=st.redrive_count)

    # --- operator updates ------------------------------------------------------

    @workflow.update(name=agents.UPDATE_REDRIVE)
    def redrive(self, request: RedriveRequest) -> str:
        """Queue a dead letter's step to be contacted for again; the gate decides when."""
        self._state.redrives.append(request.step_id)
        self._changed = True
        return f"step {request.step_id} queued for another contact"

    @redrive.validator
    def _validate_redrive(self, request: RedriveRequest) -> None:
        st = self._state
        if st.status.terminal:
            raise ValueError(
                f"the campaign has finished ({st.status.value}); start a new one for the account"
            )
        if st.status in {
            CollectionStatus.PROMISED,
            CollectionStatus.DISPUTED,
            CollectionStatus.ARRANGED,
        }:
            raise ValueError(f"outreach is paused ({st.status.value}); redrive it later")
        if request.dead_letter_id not in st.dead_letters:
            raise ValueError(f"{request.dead_letter_id} is not a dead letter of this campaign")
        if request.step_id not in {s.id for s in self._inp.playbook.steps}:
            raise ValueError(f"step {request.step_id!r} is not in the playbook")
        if request.step_id in st.redrives:
            raise ValueError(f"step {request.step_id!r} is already queued for redrive")

    @workflow.update(name=agents.UPDATE_ARRANGE)
    def arrange(self, request: ArrangementRequest) -> Arrangement:
        """Accept a settlement or payment plan; the saga books it before the next contact.

        Idempotent: the same arrangement id again returns the arrangement as it stands.
        """
        st = self._state
        if st.arrangement is not None and (
            st.arrangement.request.arrangement_id == request.arrangement_id
        ):
            return st.arrangement
        return self._accept_arrangement(request)

    def _accept_arrangement(self, request: ArrangementRequest) -> Arrangement:
        """Take an arrangement (the operator's update, or a plan a reply asked for)."""
        st = self._state
        st.arrangement_count += 1
        forgiven = self._forgiven_share(request)
        limit = self._inp.settlement_approval_discount
        needs_person = limit is not None and forgiven > limit
        st.arrangement = Arrangement(
            request=request,
            accepted_at=workflow.now(),
            number=st.arrangement_count,
            paid_before=st.amount_paid,
            status=ArrangementStatus.AWAITING_APPROVAL
            if needs_person
            else ArrangementStatus.SETTING_UP,
        )
        if needs_person:
            assert limit is not None
            # The arrangement agent agreed it; the tenant's limit says no: the supervisor
            # recommends, a person decides.
            ruling = offline_ruling(
                Disagreement(
                    disagreement_id=f"settlement-{st.arrangement_count}",
                    kind=DisagreementKind.SETTLEMENT_THRESHOLD,
                    tenant_id=self._inp.tenant.tenant_id,
                    account_id=st.account.account_id,
                    positions=[
                        Position(agent="arrangement-agent", claim="settle on these terms"),
                        Position(agent="tenant-policy", claim=f"agents may forgive {limit:.0%}"),
                    ],
                    peer_rounds=0,
                    promises_broken=st.research.account.promises_broken if st.research else 0,
                    forgiven_share=min(Decimal(1), max(Decimal(0), forgiven)),
                    threshold=limit,
                    days_past_due=st.account.days_past_due,
                    balance=st.balance,
                )
            )
            self._request_approval(
                Approval(
                    approval_id=f"settlement-{st.arrangement_count}",
                    kind=ApprovalKind.SETTLEMENT,
                    summary=(
                        f"settle {format_amount(st.balance, st.account.currency)} for "
                        f"{format_amount(request.total, st.account.currency)}: forgives "
                        f"{forgiven:.0%}, above the {limit:.0%} agents may agree alone. "
                        f"Supervisor recommends {ruling.decision}: {ruling.rationale}"
                    )[:1000],
                    requested_at=workflow.now(),
                    subject_id=request.arrangement_id,
                    expires_at=workflow.now() + self._days(self._inp.approval_days),
                )
            )
        else:
            st.arrangement_pending = True
        self._changed = True
        return st.arrangement

    def _forgiven_share(self, request: ArrangementRequest) -> Decimal:
        balance = self._state.balance
        if request.kind is not ArrangementKind.SETTLEMENT or balance <= 0:
            return Decimal("0")
        return (balance - request.total) / balance

    @arrange.validator
    def _validate_arrange(self, request: ArrangementRequest) -> None:
        problem = arrangement_problem(request, self._state, workflow.now().date())
        if problem is not None:
            raise ValueError(problem)

    @workflow.signal(name=agents.SIGNAL_INSTALMENT_REMINDER)
    def instalment_reminder(self, reminder: InstalmentReminder) -> None:
        arrangement = self._state.arrangement
        if arrangement is None or arrangement.request.arrangement_id != reminder.arrangement_id:
            return
        if all(r.number != reminder.number for r in self._state.reminders):
            self._state.reminders.append(reminder)

    def _conditions_hold(self, step: Step, consents: bool = True) -> bool:
        """Whether ``step`` may go; without ``consents``, only what is not about a channel
        (the next-best-action agent only offers channels that may be used)."""
        st = self._state
        account = st.account
        checks = {
            StepCondition.SMS_CONSENT: any(p.sms_usable for p in account.phones),
            StepCondition.VOICE_CONSENT: any(p.voice_usable for p in account.phones),
            StepCondition.EMAIL_AVAILABLE: any(e.usable for e in account.emails),
            StepCondition.NO_REPLY_YET: st.replies == 0,
            StepCondition.NO_PAYMENT_YET: st.amount_paid == 0,
        }
        if not consents:
            for channel_condition in (
                StepCondition.SMS_CONSENT,
                StepCondition.VOICE_CONSENT,
                StepCondition.EMAIL_AVAILABLE,
            ):
                checks[channel_condition] = True
        return all(checks[c] for c in step.requires)

    def _address_for(self, channel: Channel) -> str | None:
        account = self._state.account
        if channel in self._state.holds.medium_opt_outs:
            return None
        if channel is Channel.EMAIL:
            return next((e.address for e in account.emails if e.usable), None)
        if channel is Channel.SMS:
            return next((p.number for p in account.phones if p.sms_usable), None)
        return next((p.number for p in account.phones if p.voice_usable), None)

    def _any_channel_usable(self) -> bool:
        return any(self._address_for(c) is not None for c in Channel)

    def _opt_out(self, channel: Channel, address: str | None) -> None:
        account = self._state.account
        if channel is Channel.EMAIL:
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
        self._after_opt_out()

    def _revoke_consent(self, channel: Channel, address: str | None) -> None:
        """TCPA consent withdrawn for a number (or all numbers); email has none to revoke."""
        if channel is Channel.EMAIL:
            self._opt_out(channel, address)
            return
        for phone in self._state.account.phones:
            if address is None or phone.number == address:
                if channel is Channel.SMS:
                    phone.sms_consent = False
                else:
                    phone.voice_consent = False
        self._after_opt_out()

    def _after_opt_out(self) -> None:
        if not self._any_channel_usable() and self._inp.playbook.stops_on(
            StopCondition.OPTED_OUT_EVERYWHERE
        ):
            self._set_status(CollectionStatus.OPTED_OUT)

    def _record_skip(self, step: Step, channel: Channel, why: str) -> None:
        self._emit(
            EventType.CUSTOMER_INTERACTION,
            "skipped",
            {"stepId": step.id, "channel": channel.value, "reason": why[:300]},
        )
        self._state.attempts.append(
            ContactAttempt(
                attempt_id=f"{workflow.info().workflow_id}/{step.id}/skipped",
                step_id=step.id,
                channel=channel,
                at=workflow.now(),
                outcome=ContactOutcome.SKIPPED,
                detail=why[:300],
            )
        )

    # --- bookkeeping -------------------------------------------------------

    def _set_status(self, status: CollectionStatus) -> None:
        if self._state.status is status:
            return
        previous = self._state.status
        self._state.status = status
        st = self._state
        self._emit(
            EventType.CAMPAIGN_PROGRESS,
            status.value,
            {
                "previous": previous.value,
                "balance": amount(st.balance),
                "amountPaid": amount(st.amount_paid),
                "stepsDone": st.next_step,
                "stepsTotal": len(self._inp.playbook.steps),
            },
        )
        workflow.upsert_search_attributes([sa.STATUS.value_set(status.value)])
        if status.terminal:
            self._next_action, self._next_action_at = None, None
            self._describe(None, None)

    def _plan(self, what: str | None, when: datetime | None) -> None:
        """Record and publish what the campaign waits for next.

        One search-attribute upsert per plan (next action time, balance, last channel,
        status) keeps the UI filterable without paying an action per field.
        """
        self._next_action, self._next_action_at = what, when
        self._describe(what, when)
        if when is None:
            return
        st = self._state
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.NEXT_ACTION_AT.value_set(when),
            sa.AMOUNT_DUE.value_set(float(st.balance)),
            sa.STATUS.value_set(st.status.value),
        ]
        if self._last_channel is not None:
            updates.append(sa.CHANNEL.value_set(self._last_channel.value))
        workflow.upsert_search_attributes(updates)

    def _describe(self, what: str | None, when: datetime | None) -> None:
        """The UI's "current details": in words, what happens next and when."""
        st = self._state
        balance = format_amount(st.balance, st.account.currency)
        head = f"**{st.status.value}** · balance {balance}"
        if what is None:
            details = f"{head} · campaign finished"
        elif when is None:
            details = f"{head} · now: {what}"
        else:
            details = f"{head} · next: {what} at {when:%Y-%m-%d %H:%M:%S} UTC"
        for a in st.approvals:
            if a.status is ApprovalStatus.PENDING:
                until = f" (until {a.expires_at:%Y-%m-%d %H:%M} UTC)" if a.expires_at else ""
                details += f"\n\n**awaiting approval** `{a.approval_id}`: {a.summary}{until}"
        workflow.set_current_details(details)

    async def _continue_as_new_if_needed(self) -> None:
        info = workflow.info()
        if not (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self._inp.max_history_events
        ):
            return
        # Not in the middle of reading a reply (the unread ones go on in the new run).
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self._reading
        )
        workflow.continue_as_new(self._inp.model_copy(update={"state": self._state}))

    async def _finish(self) -> AccountOutcome:
        st = self._state
        contacts: dict[Channel, int] = {}
        for attempt in st.attempts:
            if attempt.outcome.reached:
                contacts[attempt.channel] = contacts.get(attempt.channel, 0) + 1
        outcome = AccountOutcome(
            account_id=st.account.account_id,
            workflow_id=workflow.info().workflow_id,
            status=st.status,
            amount_collected=st.amount_paid,
            balance=st.balance,
            currency=st.account.currency,
            contacts=contacts,
            promises=st.promises,
        )
        self._emit(
            EventType.CAMPAIGN_PROGRESS,
            "completed",
            {
                "finalStatus": st.status.value,
                "amountCollected": amount(st.amount_paid),
                "balance": amount(st.balance),
                "contacts": {c.value: n for c, n in contacts.items()},
                "promises": st.promises,
            },
        )
        await self._export_pending()
        self._next_action, self._next_action_at = None, None
        self._describe(None, None)
        for watcher in st.watchers:
            try:
                await workflow.get_external_workflow_handle(watcher).signal(
                    agents.SIGNAL_ACCOUNT_FINISHED, outcome
                )
            except FailureError as err:
                # The watcher may have been terminated by an operator; the outcome
                # is still this workflow's result.
                workflow.logger.warning("could not notify %s: %s", watcher, err)
        return outcome


def _attempts(cause: BaseException | None, rule: RetryRule) -> int:
    """How many tries Temporal made: all of them when it gave up, else the one that failed."""
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[-1]
        if isinstance(detail, dict) and isinstance(detail.get("attempt"), int):
            return int(detail["attempt"])
    return rule.max_attempts
