"""A campaign's status, what it waits for next, and how the web UI shows both.

Status changes are exported and set ``RecoupStatus``; a plan (what the campaign waits
for next, and until when) sets the search attributes operators filter on in one
upsert, and the current details say it in words. The list's columns
(``campaign_core.view``) ride along in the same upserts when they changed.
"""

from __future__ import annotations

from datetime import datetime

from domain.campaign import CollectionStatus
from domain.campaign_core import view
from domain.campaign_core.campaign import Campaign, Describe, SearchValue, Upsert
from domain.campaign_core.outbox import emit
from domain.contact import format_amount
from domain.events import EventType, amount
from domain.operator import Approval, ApprovalStatus


def set_status(c: Campaign, status: CollectionStatus) -> None:
    st = c.state
    if st.status is status:
        return
    previous = st.status
    st.status = status
    emit(
        c,
        EventType.CAMPAIGN_PROGRESS,
        status.value,
        {
            "previous": previous.value,
            "balance": amount(st.balance),
            "amountPaid": amount(st.amount_paid),
            "stepsDone": st.next_step,
            "stepsTotal": len(c.inp.playbook.steps),
        },
    )
    c.sink(Upsert((("RecoupStatus", status.value), *view.changes(c))))
    if status.terminal:
        c.next_action, c.next_action_at = None, None
        describe(c, None, None)


def finish(c: Campaign) -> None:
    """The campaign ends (whatever its status: a promise may still be open)."""
    c.finished = True
    c.next_action, c.next_action_at = None, None
    describe(c, None, None)
    publish_view(c)


def publish_view(c: Campaign) -> None:
    """Upsert the list's columns that changed (a payment, a pause...), if any did."""
    changed = view.changes(c)
    if changed:
        c.sink(Upsert(tuple(changed)))


def plan(c: Campaign, what: str | None, when: datetime | None) -> None:
    """Record and publish what the campaign waits for next.

    One search-attribute upsert per plan (next action time, last channel, status, and
    the list's columns that changed) keeps the UI filterable without paying an action
    per field. Runs that began before the balance band still upsert the exact amount.
    """
    c.next_action, c.next_action_at = what, when
    describe(c, what, when)
    if when is None:
        publish_view(c)  # paused, on hold: no time to show, but the next action moved
        return
    st = c.state
    fields: list[tuple[str, SearchValue | None]] = [("RecoupNextActionAt", when)]
    if not c.view_attributes:
        fields.append(("RecoupAmountDue", float(st.balance)))
    fields.append(("RecoupStatus", st.status.value))
    if c.last_channel is not None:
        fields.append(("RecoupChannel", c.last_channel.value))
    fields += view.changes(c)
    c.sink(Upsert(tuple(fields)))


def describe(c: Campaign, what: str | None, when: datetime | None) -> None:
    """The UI's "current details": in words, what happens next and when."""
    st = c.state
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
    c.sink(Describe(details))


def redescribe(c: Campaign) -> None:
    """The same plan, described again (an approval came or went)."""
    describe(c, c.next_action, c.next_action_at)


def request_approval(c: Campaign, approval: Approval) -> None:
    """The campaign waits for a person (or the approval's deadline) on ``approval``."""
    c.state.approvals.append(approval)
    emit(
        c,
        EventType.CAMPAIGN_PROGRESS,
        "approval_requested",
        {
            "approvalId": approval.approval_id,
            "kind": approval.kind.value,
            "summary": approval.summary,
        },
    )
    publish_approvals(c)


def publish_approvals(c: Campaign) -> None:
    waiting = any(a.status is ApprovalStatus.PENDING for a in c.state.approvals)
    c.sink(Upsert((("RecoupAwaitingApproval", waiting), *view.changes(c))))
    redescribe(c)
