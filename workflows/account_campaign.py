"""AccountCampaign: one account's durable, multi-channel collection campaign.

The workflow interprets the account's playbook step by step with durable timers.
Payments, replies and opt-outs arrive as signals and change the plan at once: a
timer waiting for the next step wakes up, re-reads the state and either goes on
waiting or stops. Everything it must remember lives in ``CampaignState`` so it
can continue-as-new with the same state before its history grows large.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from domain import agents
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
    from domain.contact import (
        ContactAttempt,
        ContactOutcome,
        ContactRequest,
        ContactResult,
        MessageContext,
        format_amount,
    )
    from domain.playbook import Step, StepCondition, StopCondition
    from domain.replies import ReplyIntent, read_reply
    from workflows import search_attributes as sa

# The seed's per-channel retry rules (messaging seed, "Retry Mechanisms").
# Permanent failures are raised as these non-retryable error types by activities.
PERMANENT_ERRORS = ["PermanentProviderError", "InvalidAddress", "OptedOut", "TemplateError"]
RETRY_POLICIES = {
    Channel.EMAIL: RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=4.0,
        maximum_attempts=3,
        non_retryable_error_types=PERMANENT_ERRORS,
    ),
    Channel.SMS: RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_attempts=3,
        non_retryable_error_types=PERMANENT_ERRORS,
    ),
    Channel.PHONE: RetryPolicy(
        initial_interval=timedelta(seconds=30),
        backoff_coefficient=1.0,
        maximum_attempts=2,
        non_retryable_error_types=PERMANENT_ERRORS,
    ),
}
# A call rings, is answered and runs its message: give it longer, with heartbeats.
START_TO_CLOSE = {
    Channel.EMAIL: timedelta(seconds=60),
    Channel.SMS: timedelta(seconds=30),
    Channel.PHONE: timedelta(minutes=10),
}
HEARTBEAT = {Channel.PHONE: timedelta(seconds=30)}


@workflow.defn(name=agents.ACCOUNT_CAMPAIGN)
class AccountCampaign:
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

    # --- run ---------------------------------------------------------------

    @workflow.run
    async def run(self, inp: AccountCampaignInput) -> AccountOutcome:
        st = self._state
        if st.started_at is None:
            st.started_at = workflow.now()
        steps = inp.playbook.steps
        while st.next_step < len(steps) and not st.status.terminal:
            step = steps[st.next_step]
            due = st.started_at + self._days(step.day)
            channel_note = f"{step.channel} '{step.template}'"
            await self._wait_until(
                due, f"step {st.next_step + 1}/{len(steps)} ({step.id}): {channel_note}"
            )
            if st.status.terminal:
                break
            if await self._honour_promise():
                continue
            await self._execute_step(step)
            st.next_step += 1
            await self._continue_as_new_if_needed()

        if not st.status.terminal:
            await self._close()
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
        intent = read_reply(reply.text)
        st.last_reply_intent = intent.value
        playbook = self._inp.playbook
        if intent is ReplyIntent.STOP:
            # An opt-out keyword revokes that channel at once (the address it came from,
            # or the whole channel when the sender is unknown).
            self._opt_out(reply.channel, reply.from_address)
        elif playbook.stops_on(StopCondition.ANY_REPLY):
            self._set_status(CollectionStatus.RESPONDED)
        elif intent is ReplyIntent.PROMISE_TO_PAY and playbook.stops_on(
            StopCondition.PROMISE_TO_PAY
        ):
            received = reply.received_at or workflow.now()
            st.promise_until = received + self._days(playbook.promise_grace_days)
            st.promises += 1
            self._set_status(CollectionStatus.PROMISED)
        self._changed = True

    @workflow.signal(name=agents.SIGNAL_OPT_OUT)
    def opt_out(self, request: OptOutRequest) -> None:
        self._opt_out(request.channel, request.address)
        self._changed = True

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
        )

    # --- waiting -----------------------------------------------------------

    def _days(self, days: float) -> timedelta:
        return timedelta(seconds=days * self._inp.seconds_per_day)

    async def _wait_until(self, when: datetime, what: str) -> None:
        """Sleep durably until ``when``; wake early whenever a signal changed the state."""
        self._plan(what, when)
        while not self._state.status.terminal:
            if self._state.status is CollectionStatus.PROMISED:
                return  # the caller decides how long the promise pauses outreach
            remaining = when - workflow.now()
            if remaining <= timedelta(0):
                return
            self._changed = False
            try:
                await workflow.wait_condition(
                    lambda: self._changed, timeout=remaining, timeout_summary=what
                )
            except TimeoutError:
                return
            await self._continue_as_new_if_needed()

    async def _honour_promise(self) -> bool:
        """While a promise is open, outreach pauses. Returns True if it paused."""
        st = self._state
        if st.status is not CollectionStatus.PROMISED or st.promise_until is None:
            return False
        until = st.promise_until
        if workflow.now() < until:
            await self._wait_for_payment(until, "promise to pay: outreach paused")
        if st.status is CollectionStatus.PROMISED and workflow.now() >= until:
            # Promise broken: outreach resumes with the next step.
            st.promise_until = None
            self._set_status(CollectionStatus.ACTIVE)
        return True

    async def _wait_for_payment(self, until: datetime, what: str) -> None:
        self._plan(what, until)
        while not self._state.status.terminal and workflow.now() < until:
            self._changed = False
            try:
                await workflow.wait_condition(
                    lambda: self._changed,
                    timeout=until - workflow.now(),
                    timeout_summary=what,
                )
            except TimeoutError:
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
        if st.status.terminal:
            return
        if st.promise_until is not None and st.promise_until > workflow.now():
            self._set_status(CollectionStatus.PROMISED)
            return
        self._set_status(CollectionStatus.EXHAUSTED)

    # --- contacting ----------------------------------------------------------

    async def _execute_step(self, step: Step) -> None:
        st = self._state
        if step.min_balance is not None and st.balance < step.min_balance:
            self._record_skip(step, step.channel, "balance below the step's minimum")
            return
        options: list[tuple[Channel, str, bool]] = [
            (step.channel, step.template, self._conditions_hold(step))
        ]
        if step.fallback is not None:
            options.append((step.fallback, step.fallback_template or step.template, True))
        reasons: list[str] = []
        for channel, template, allowed in options:
            if not allowed:
                reasons.append(f"{channel}: step conditions not met")
                continue
            to = self._address_for(channel)
            if to is None:
                reasons.append(f"{channel}: no usable contact point")
                continue
            if st.status is CollectionStatus.SCHEDULED:
                self._set_status(CollectionStatus.ACTIVE)
            if await self._contact(step, channel, template, to):
                return
            reasons.append(f"{channel}: failed")
        self._record_skip(step, step.channel, "; ".join(reasons))
        if not self._any_channel_usable() and self._inp.playbook.stops_on(
            StopCondition.OPTED_OUT_EVERYWHERE
        ):
            self._set_status(CollectionStatus.OPTED_OUT)

    async def _contact(self, step: Step, channel: Channel, template: str, to: str) -> bool:
        st = self._state
        wf_id = workflow.info().workflow_id
        request = ContactRequest(
            attempt_id=f"{wf_id}/{step.id}/{channel}",
            channel=channel,
            to=to,
            template=template,
            language=st.account.language,
            message=MessageContext(
                debtor_name=st.account.debtor_name,
                account_id=st.account.account_id,
                creditor=st.account.creditor or self._inp.tenant.name,
                collector=self._inp.tenant.name,
                balance=st.balance,
                currency=st.account.currency,
                due_date=st.account.due_date,
                days_past_due=st.account.days_past_due,
            ),
        )
        self._last_channel = channel
        self._describe(f"sending {channel} '{template}' ({step.id})", None)
        attempted_at = workflow.now()  # when the contact was made, not when it returned
        try:
            result: ContactResult = await workflow.execute_activity(
                agents.CONTACT_ACTIVITY[channel],
                request,
                result_type=ContactResult,
                task_queue=self._inp.queues.for_channel(channel),
                start_to_close_timeout=START_TO_CLOSE[channel],
                heartbeat_timeout=HEARTBEAT.get(channel),
                retry_policy=RETRY_POLICIES[channel],
                summary=f"{channel} · {template} · step {step.id}",
            )
        except ActivityError as err:
            cause = err.cause
            detail = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            if isinstance(cause, ApplicationError) and cause.type in {"OptedOut", "InvalidAddress"}:
                # Never use that address on that channel again.
                self._opt_out(channel, to)
            st.attempts.append(
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
            return False
        st.attempts.append(
            ContactAttempt(
                attempt_id=request.attempt_id,
                step_id=step.id,
                channel=channel,
                to=to,
                at=attempted_at,
                outcome=result.outcome,
                provider_ref=result.provider_ref,
                detail=result.detail,
            )
        )
        if result.outcome is ContactOutcome.BOUNCED:
            self._opt_out(channel, to)  # a hard bounce: never use that address again
        return result.outcome is not ContactOutcome.FAILED

    def _conditions_hold(self, step: Step) -> bool:
        st = self._state
        account = st.account
        checks = {
            StepCondition.SMS_CONSENT: any(p.sms_usable for p in account.phones),
            StepCondition.VOICE_CONSENT: any(p.voice_usable for p in account.phones),
            StepCondition.EMAIL_AVAILABLE: any(e.usable for e in account.emails),
            StepCondition.NO_REPLY_YET: st.replies == 0,
            StepCondition.NO_PAYMENT_YET: st.amount_paid == 0,
        }
        return all(checks[c] for c in step.requires)

    def _address_for(self, channel: Channel) -> str | None:
        account = self._state.account
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
        if not self._any_channel_usable() and self._inp.playbook.stops_on(
            StopCondition.OPTED_OUT_EVERYWHERE
        ):
            self._set_status(CollectionStatus.OPTED_OUT)

    def _record_skip(self, step: Step, channel: Channel, why: str) -> None:
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
        self._state.status = status
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
        workflow.set_current_details(details)

    async def _continue_as_new_if_needed(self) -> None:
        info = workflow.info()
        if not (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self._inp.max_history_events
        ):
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
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
