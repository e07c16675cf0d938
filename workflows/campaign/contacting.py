"""A playbook step's contact: its options, the gate, the channel agent, what came of it.

The gate is asked before every contact and waited out when it says "later"; the channel
agent asks again at the moment it sends (``activities.sending``). A legal event while a
send is in flight asks the gate again, and the send is cancelled if it is now barred:
the campaign waits for the agent's answer (``WAIT_CANCELLATION_COMPLETED``), so a message
the provider already has is recorded as sent and only one that never left as not sent.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.arrangements import ArrangementTerms
    from domain.campaign import CollectionStatus
    from domain.campaign_core import approvals, contacts, learning, status, steps
    from domain.campaign_core.legal import after_opt_out, opt_out_address
    from domain.campaign_core.supervision import held_for_ruling
    from domain.channels import ADDRESS_ERRORS, Channel, spec
    from domain.compliance.facts import HISTORY_WINDOW, ContactHistory, ContactHistoryRequest
    from domain.compliance.model import ComplianceFacts, Decision, PastContact, Reason
    from domain.contact import ContactResult
    from domain.playbook import Step
    from domain.resilience import Backoff, RetryRule
    from domain.revocations import Revocation
    from workflows.campaign import agents as asking
    from workflows.campaign.shell import Shell
    from workflows.campaign.waiting import export_pending, replies_read, wait_until

# A send cancelled (with WAIT_CANCELLATION_COMPLETED) is waited for, so that it reports
# what really happened; campaigns that cancelled a send before this shipped did not wait
# (workflow.patched, asked only when a send is cancelled: others pay no marker).
TRUTHFUL_SENDS = "sends-report-what-happened"


def retry_policy(rule: RetryRule, channel: Channel) -> RetryPolicy:
    """Temporal's policy for a channel's rule (messaging seed, "Retry Mechanisms").

    Provider failures carry their own ``next_retry_delay`` computed from the rule
    (Temporal has no linear back-off); this policy bounds the attempts and times the
    retries of failures no agent saw, such as a worker crash or a timeout.
    """
    exponential = rule.backoff is Backoff.EXPONENTIAL
    return RetryPolicy(
        initial_interval=rule.delay_after(1),
        backoff_coefficient=rule.multiplier if exponential else 1.0,
        maximum_interval=max(rule.schedule, default=rule.delay_after(1)),
        maximum_attempts=rule.max_attempts,
        non_retryable_error_types=list(spec(channel).permanent_errors),
    )


async def load_history(sh: Shell) -> None:
    """The debt's recent contacts, from the ledger: the gate counts them with this run's.

    A call yesterday in an earlier campaign of this debt counts today. Loaded once per
    campaign (continue-as-new carries it), right before the first contact in runs
    started with ``history_at_first_contact``, at the start in runs from before.
    """
    st = sh.state
    loaded: ContactHistory = await workflow.execute_activity(
        names.LOAD_CONTACT_HISTORY,
        ContactHistoryRequest(
            tenant_id=sh.inp.tenant.tenant_id,
            account_id=st.account.account_id,
            since=workflow.now() - HISTORY_WINDOW,
        ),
        result_type=ContactHistory,
        task_queue=sh.inp.queues.campaigns,
        start_to_close_timeout=timedelta(seconds=30),
        summary="load this debt's recent contacts (compliance history)",
    )
    st.prior_contacts, st.history_loaded = loaded.contacts, True


async def execute_step(sh: Shell, step: Step, redrive: int = 0) -> bool:
    """Contact the debtor for ``step``; False when the step must be tried again later.

    When every option failed to send (retries and fallbacks exhausted), the command
    becomes a dead letter an operator can redrive.
    """
    c, st = sh.core, sh.state
    if step.min_balance is not None and st.balance < step.min_balance:
        steps.record_skip(c, step, step.channel, "balance below the step's minimum")
        return True
    options = steps.options(c, step)
    if not redrive:
        if st.history_loaded:
            await asking.brief(sh, step.channel)
        else:
            # Both are needed before the first contact: scheduled in one workflow task
            # and waited for side by side, not one after the other.
            await asyncio.gather(asking.brief(sh, step.channel), load_history(sh))
    if learning.adaptive(c, step, redrive) and steps.conditions_hold(c, step, consents=False):
        chosen = await asking.choose_action(sh, step)
        if chosen is not None:
            # Compressed days (demo, tests) compress the wait for the window too.
            ahead = (learning.window_start(c, chosen.arm) - workflow.now()) * (
                sh.inp.seconds_per_day / 86_400
            )
            if ahead > timedelta(0):
                await wait_until(
                    sh,
                    workflow.now() + ahead,
                    f"next best action: {chosen.arm.key} for step {step.id}",
                    interruptible=True,
                )
                if st.status.terminal:
                    return True
                if (
                    st.status is CollectionStatus.PROMISED
                    or st.paused is not None
                    or held_for_ruling(c)
                    or approvals.operator_work_pending(c)
                ):
                    return False  # the step comes back later, with the same choice
            target = chosen.arm.channel
            template = (
                step.fallback_template
                if target in step.fallbacks and step.fallback_template
                else step.template
            )
            options = [(target, template, True)] + [o for o in options if o[0] is not target]
    c.failures, c.last_request = [], None
    reasons: list[str] = []
    for channel, template, allowed in options:
        if not allowed:
            reasons.append(f"{channel}: step conditions not met")
            continue
        to = steps.address_for(c, channel)
        if to is None:
            reasons.append(f"{channel}: no usable contact point")
            continue
        if reasons and channel is not step.channel:
            steps.hand_off(c, step, step.channel, channel, reasons[-1])
        why_not = await contact(sh, step, channel, template, to, redrive)
        if why_not is None:
            return True
        if why_not is contacts.PAUSED:
            return False
        if st.status.terminal:
            return True
        reasons.append(f"{channel}: {why_not}")
    steps.record_skip(c, step, step.channel, "; ".join(reasons))
    if c.failures and c.last_request is not None:
        await dead_letter(sh, step, template, redrive)
    after_opt_out(c)
    return True


async def contact(
    sh: Shell,
    step: Step,
    channel: Channel,
    template: str,
    to: str,
    redrive: int = 0,
    terms: ArrangementTerms | None = None,
) -> str | None:
    """Ask the gate, wait until it allows, send. None when sent; otherwise why not."""
    c = sh.core
    if not sh.state.history_loaded:
        await load_history(sh)  # a callback, an arrangement's or a redriven contact first
    while True:
        move = steps.next_contact(c, step, channel, to)
        if isinstance(move, steps.NotNow):
            if move.why == steps.READ_FIRST:
                await replies_read(sh)
                continue
            return contacts.PAUSED if move.why is steps.PROMISED else move.why
        if isinstance(move, steps.Barred):
            why_not = await permanent_bar(sh, move.decision)
            if why_not is None:
                continue  # the hold was lifted: ask again
            return why_not
        if isinstance(move, steps.WaitFor):
            await wait_until(
                sh,
                move.until,
                f"compliance ({move.because}): {channel} '{template}' ({step.id})",
            )
            continue
        facts, history = move.facts, move.history
        sent = await send(sh, step, channel, template, to, facts, history, redrive, terms)
        if sent is contacts.ASK_AGAIN:
            continue
        if isinstance(sent, timedelta):
            # The provider's breaker is open: nothing was tried and no attempt used.
            await wait_until(
                sh,
                workflow.now() + sent,
                f"{channel} provider paused (circuit breaker open): '{template}' ({step.id})",
            )
            continue
        if isinstance(sent, Decision):
            # Refused at the moment of sending (a delay pushed it past a rule). Wait for
            # the refusal's own earliest moment before planning again, so a worker clock
            # ahead of the server's cannot make sends bounce.
            steps.record_decision(c, sent, step, channel, to, facts, len(history), "send")
            if sent.earliest_allowed is not None:
                because = ", ".join(r.value for r in sent.reasons)
                await wait_until(
                    sh,
                    sent.earliest_allowed,
                    f"compliance at send time ({because}): {channel} '{template}'",
                )
            continue
        return sent


async def permanent_bar(sh: Shell, decision: Decision) -> str | None:
    """Act on a permanent denial; None when it was lifted and the gate may be asked again."""
    c, st = sh.core, sh.state
    reasons = set(decision.reasons)
    if reasons & {Reason.CEASE, Reason.ATTORNEY}:
        status.set_status(c, CollectionStatus.CEASED)
        return "ceased"
    if Reason.DISPUTE_HOLD in reasons:
        # Collection pauses (no timer) until verification is sent or the debt is paid.
        status.set_status(c, CollectionStatus.DISPUTED)
        status.plan(c, "dispute hold: waiting for verification to be sent", None)
        await export_pending(sh)
        await workflow.wait_condition(
            lambda: not st.holds.disputed_unverified or st.status.terminal
        )
        if not st.status.terminal:
            status.set_status(c, CollectionStatus.ACTIVE)
            return None
        return "campaign ended"
    return ", ".join(r.value for r in decision.reasons)  # opted out, no consent


async def send(
    sh: Shell,
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
    refused, how long to wait when the provider's circuit breaker is open, ``ASK_AGAIN``
    when it never left and the gate should be asked again, or why it failed.
    """
    c, st = sh.core, sh.state
    request, export = contacts.request(
        c, step, channel, template, to, facts, history, redrive, terms
    )
    rule = request.retry
    assert rule is not None
    status.describe(c, f"sending {channel} '{template}' ({step.id})", None)
    attempted_at = workflow.now()  # when the contact was made, not when it returned
    # Watched from now: a debtor may pay while the agent is still on the line.
    learning.watch_contact(c, step.id, request.attempt_id, channel)
    # ... and counted for its arm as soon as the agent has made it.
    request.trial = learning.trial_of(c, request.attempt_id)
    row = spec(channel)
    handle = workflow.start_activity(
        row.activity,
        request,
        result_type=ContactResult,
        task_queue=sh.inp.queues.for_channel(channel),
        start_to_close_timeout=row.start_to_close,
        heartbeat_timeout=row.heartbeat,
        # Wait for the agent's answer: a send the provider already has is reported sent,
        # and only one that never left is reported cancelled.
        cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        retry_policy=retry_policy(rule, channel),
        # A call backlog (the provider's rate limit) serves priority 1 accounts first.
        priority=Priority(priority_key=st.account.priority)
        if channel is Channel.PHONE and st.account.priority is not None
        else Priority.default,
        summary=f"{channel} · {template} · step {step.id}",
    )
    seen_epoch = c.legal_epoch
    barred: Decision | None = None
    barred_at: datetime | None = None
    while not handle.done():
        await workflow.wait_condition(
            lambda seen=seen_epoch: handle.done() or c.legal_epoch != seen  # type: ignore[misc]
        )
        seen_epoch = c.legal_epoch
        if barred is not None or handle.done():
            continue  # cancelled already: wait for the agent to say what happened
        decision = steps.ask_gate(c, step, channel, to, "legal event")[0]
        if not decision.allowed:
            handle.cancel()  # e.g. a cease while the send waits for a retry
            barred, barred_at = decision, workflow.now()
            # Asked only here, so that only a campaign that cancels a send pays the
            # patch's marker; a history from before it replays the old way: it did not
            # wait for the agent's answer and took the send as failed.
            if not workflow.patched(TRUTHFUL_SENDS):
                # Let the handle issue its cancel command before anything is scheduled
                # after it, in the order the history has them.
                await asyncio.sleep(0)
                learning.unwatch(c, request.attempt_id)
                return contacts.failed(
                    c, step, request, export, attempted_at,
                    error_type="CancelledError",
                    detail="cancelled: a legal event barred it before it was sent",
                    attempts=rule.max_attempts,
                )  # fmt: skip
    try:
        result: ContactResult = await handle
    except ActivityError as err:
        learning.unwatch(c, request.attempt_id)
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == names.COMPLIANCE_BLOCKED:
            stored = (
                [Revocation.model_validate(r) for r in cause.details[1]["revocations"]]
                if len(cause.details) > 1
                else None  # an agent from before the suppression store
            )
            return contacts.refused(
                c,
                step,
                request,
                Decision.model_validate(cause.details[0]),
                stored,
                request.compliance.facts,
                len(request.compliance.history),
            )
        if barred is not None and isinstance(cause, CancelledError):
            return contacts.cancelled(c, step, request, export, attempted_at, barred)
        if isinstance(cause, ApplicationError) and cause.type == names.CIRCUIT_OPEN:
            return timedelta(seconds=float(cause.details[0]["retry_after_seconds"]))
        detail = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        if isinstance(cause, ApplicationError) and cause.type in ADDRESS_ERRORS:
            # Never use that address on that channel again.
            opt_out_address(c, channel, to)
        return contacts.failed(
            c, step, request, export, attempted_at,
            error_type=(cause.type if isinstance(cause, ApplicationError) else None)
            or type(cause or err).__name__,
            detail=detail,
            attempts=_attempts(cause, rule),
        )  # fmt: skip
    return contacts.sent(c, step, template, request, result, attempted_at, barred_at)


def _attempts(cause: BaseException | None, rule: RetryRule) -> int:
    """How many tries Temporal made: all of them when it gave up, else the one that failed."""
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[-1]
        if isinstance(detail, dict) and isinstance(detail.get("attempt"), int):
            return int(detail["attempt"])
    return rule.max_attempts


async def dead_letter(sh: Shell, step: Step, template: str, redrive: int) -> None:
    c = sh.core
    letter = contacts.dead_letter(c, step, template, redrive)
    await workflow.execute_activity(
        names.RECORD_DEAD_LETTER,
        letter,
        task_queue=sh.inp.queues.campaigns,
        start_to_close_timeout=timedelta(seconds=30),
        summary=f"dead letter · step {step.id} · {letter.last_error[:80]}",
    )
    contacts.dead_lettered(c, step, template, letter)


async def run_redrives(sh: Shell) -> None:
    """Contact again for each redriven dead letter, through the gate as always."""
    st = sh.state
    by_id = {s.id: s for s in sh.inp.playbook.steps}
    while st.redrives and not st.status.terminal:
        step = by_id[st.redrives.pop(0)]
        st.redrive_count += 1
        await execute_step(sh, step, redrive=st.redrive_count)


async def run_callbacks(sh: Shell) -> None:
    """Call back those who asked (a reply read as ``callback``), through the gate."""
    c, st = sh.core, sh.state
    while st.callbacks and not st.status.terminal and st.status is not CollectionStatus.PROMISED:
        reply_id = st.callbacks.pop(0)
        to = steps.address_for(c, Channel.PHONE)
        if to is None:
            return  # consent or number gone meanwhile: nothing may be called
        step = Step(
            id=f"callback-{len(st.reply_ids)}", day=0, channel=Channel.PHONE, template="call_script"
        )
        why_not = await contact(sh, step, Channel.PHONE, "call_script", to)
        if why_not is not None:
            workflow.logger.info("callback for reply %s not made: %s", reply_id, why_not)
