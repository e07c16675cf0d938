"""Durable waits of an account campaign: for a step's day, a payment, a person, the gate.

Every wait wakes when a signal changed the campaign (``core.changed``) and for an
approval's deadline (its safe default applies on time); before waiting, whatever the
campaign decided is exported in one activity, and a long history continues as new.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.campaign import CollectionStatus
    from domain.campaign_core import approvals, status
    from domain.campaign_core.outbox import exported, take_pending
    from domain.campaign_core.review import awaiting_review
    from domain.campaign_core.supervision import held_for_ruling
    from domain.events import EventBatch
    from workflows.campaign.shell import Shell

# The event log is Recoup's own database: keep trying (a broker outage never gets here).
EXPORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2,
    maximum_interval=timedelta(minutes=1),
)


async def export_pending(sh: Shell) -> None:
    """Write whatever is still pending to the event log (one activity), if anything."""
    pending = take_pending(sh.core)
    if not pending:
        return
    await workflow.execute_activity(
        names.EXPORT_EVENTS,
        EventBatch(records=pending),
        task_queue=sh.inp.queues.export,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=EXPORT_RETRY,
        summary=f"export {len(pending)} event(s)",
    )
    exported(sh.core, pending)


async def continue_as_new_if_needed(sh: Shell) -> None:
    info = workflow.info()
    if not (
        info.is_continue_as_new_suggested()
        or info.get_current_history_length() > sh.inp.max_history_events
    ):
        return
    # Not in the middle of reading a reply (the unread ones go on in the new run).
    await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not sh.reading)
    workflow.continue_as_new(sh.inp.model_copy(update={"state": sh.state}))


async def wait_until(sh: Shell, when: datetime, what: str, interruptible: bool = False) -> None:
    """Sleep durably until ``when``; wake early whenever a signal changed the state.

    An ``interruptible`` wait (between steps) also returns when an operator's work
    arrives; a wait inside a contact (for the gate, for a breaker) does not, or the
    contact would ask again at once, forever.
    """
    c, st = sh.core, sh.state
    status.plan(c, what, when)
    while not st.status.terminal:
        if st.status is CollectionStatus.PROMISED:
            return  # the caller decides how long the promise pauses outreach
        approvals.expire(c)
        if interruptible and (
            approvals.operator_work_pending(c) or st.paused or held_for_ruling(c)
        ):
            return
        remaining = when - workflow.now()
        if remaining <= timedelta(0):
            return
        if st.outbox:
            await export_pending(sh)
            await continue_as_new_if_needed(sh)
            continue  # a signal may have arrived meanwhile: look again
        c.changed = False
        try:
            await workflow.wait_condition(
                lambda: c.changed, timeout=approvals.bounded(c, remaining), timeout_summary=what
            )
        except TimeoutError:
            if approvals.deadline(c) is None or workflow.now() >= when:
                return
        await continue_as_new_if_needed(sh)


async def wait_while_paused(sh: Shell) -> None:
    """An operator paused outreach: wait for resume (signals still count meanwhile)."""
    c, st = sh.core, sh.state
    while (st.paused is not None or held_for_ruling(c)) and not st.status.terminal:
        approvals.expire(c)
        if st.paused is None and not held_for_ruling(c):
            break  # the ruling's deadline just passed
        status.plan(
            c,
            f"paused by {st.paused.operator}: {st.paused.reason}"
            if st.paused is not None
            else "waiting for a person to confirm whether the debt is disputed",
            None,
        )
        if st.outbox:
            await export_pending(sh)
            await continue_as_new_if_needed(sh)
            continue  # a signal may have arrived meanwhile: look again
        c.changed = False
        deadline = approvals.deadline(c)
        # Woken by a signal, or by an approval's deadline (its default applies at the top).
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: c.changed,
                timeout=None
                if deadline is None
                else approvals.bounded(c, deadline - workflow.now()),
                timeout_summary="paused",
            )
        await continue_as_new_if_needed(sh)


async def wait_for_payment(sh: Shell, until: datetime, what: str) -> None:
    """Wait until ``until`` (or the end); a redrive wakes it unless a promise pauses."""
    c, st = sh.core, sh.state
    status.plan(c, what, until)
    while not st.status.terminal and workflow.now() < until:
        approvals.expire(c)
        if approvals.operator_work_pending(c):
            return
        if st.outbox:
            await export_pending(sh)
            await continue_as_new_if_needed(sh)
            continue  # a signal may have arrived meanwhile: look again
        c.changed = False
        try:
            await workflow.wait_condition(
                lambda: c.changed,
                timeout=approvals.bounded(c, until - workflow.now()),
                timeout_summary=what,
            )
        except TimeoutError:
            if approvals.deadline(c) is None or workflow.now() >= until:
                return
        await continue_as_new_if_needed(sh)


async def replies_read(sh: Shell) -> None:
    """Wait until every reply received so far is read and acted on: read by the reader,
    and decided by a person (or the deadline) when it was held for review."""
    c, st = sh.core, sh.state
    while True:
        if st.unread:
            status.describe(c, "reading the debtor's reply", None)
            await workflow.wait_condition(lambda: not st.unread)
            continue  # its reading may have opened a review
        if not awaiting_review(c) or st.status.terminal:
            return
        approvals.expire(c)  # only here: runs from before reviews never get this far
        if not awaiting_review(c):
            continue
        # Days, perhaps: a person decides. Export first so that operators see the request;
        # wake for a signal (a decision, a payment) or for the review's deadline.
        status.plan(c, "waiting for a person to review what the debtor's reply said", None)
        if st.outbox:
            await export_pending(sh)
            await continue_as_new_if_needed(sh)
            continue  # a signal may have arrived meanwhile: look again
        c.changed = False
        deadline = approvals.deadline(c)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: c.changed or bool(st.unread),
                timeout=None
                if deadline is None
                else approvals.bounded(c, deadline - workflow.now()),
                timeout_summary="reply under review",
            )
        await continue_as_new_if_needed(sh)
