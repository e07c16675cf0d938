"""A campaign as the web UI's workflow list shows it: three search attributes.

``RecoupBalanceBand`` (how much is owed, as a band: never the amount), ``RecoupNextAction``
(what happens next, in a word or two) and ``RecoupApprovalDeadline`` (while a person must
decide: by when; unset otherwise, so "approvals near their deadline" is a query).
Search attributes are not encrypted: none of these holds personal data or an amount.

Each is upserted only when its value changes, together with the upsert the campaign
makes anyway when it can (status, plan, approvals): the history stays small.
"""

from __future__ import annotations

from datetime import datetime

from domain.balance_band import balance_band
from domain.campaign import CollectionStatus
from domain.campaign_core.campaign import Campaign, SearchValue
from domain.operator import ApprovalStatus

BALANCE_BAND = "RecoupBalanceBand"
NEXT_ACTION = "RecoupNextAction"
APPROVAL_DEADLINE = "RecoupApprovalDeadline"
# The exact amount due, which campaigns wrote before the band: unset where a run finds
# it (started by an older client, or continued from an older run).
AMOUNT_DUE = "RecoupAmountDue"
# Every search attribute ``changes`` writes.
ATTRIBUTES: tuple[str, ...] = (BALANCE_BAND, NEXT_ACTION, APPROVAL_DEADLINE, AMOUNT_DUE)

# ``RecoupNextAction`` besides the next step's channel (email, sms, phone, letter).
DONE = "done"
WAITING_APPROVAL = "waiting approval"
PAUSED = "paused"
PROMISE = "promise"  # outreach paused until the promised date
DISPUTE_HOLD = "dispute hold"  # until verification is sent
ARRANGEMENT = "arrangement"  # a settlement or payment plan runs its course
WAITING_PAYMENT = "waiting payment"  # the playbook is done: its closing days
# Every value but the channels, for docs and tests.
STATES: tuple[str, ...] = (
    WAITING_APPROVAL,
    PAUSED,
    PROMISE,
    DISPUTE_HOLD,
    ARRANGEMENT,
    WAITING_PAYMENT,
    DONE,
)


def approval_deadline(c: Campaign) -> datetime | None:
    """The earliest deadline of the approvals still pending (none once finished)."""
    if c.finished or c.state.status.terminal:
        return None
    return min(
        (
            a.expires_at
            for a in c.state.approvals
            if a.status is ApprovalStatus.PENDING and a.expires_at is not None
        ),
        default=None,
    )


def next_action(c: Campaign) -> str:
    """What the campaign does next, first what a person must do."""
    st = c.state
    if c.finished or st.status.terminal:
        return DONE
    if any(a.status is ApprovalStatus.PENDING for a in st.approvals):
        return WAITING_APPROVAL
    if st.paused is not None:
        return PAUSED
    if st.status is CollectionStatus.PROMISED:
        return PROMISE
    if st.status is CollectionStatus.DISPUTED:
        return DISPUTE_HOLD
    if st.status is CollectionStatus.ARRANGED or st.arrangement_pending:
        return ARRANGEMENT
    steps = c.inp.playbook.steps
    if st.next_step < len(steps):
        return steps[st.next_step].channel.value
    return WAITING_PAYMENT


def changes(c: Campaign) -> list[tuple[str, SearchValue | None]]:
    """The list's columns whose value changed since last published (``None``: unset).

    Recorded as published: the caller upserts them at once. Empty in runs that began
    before these columns (``Campaign.view_attributes``).
    """
    if not c.view_attributes:
        return []
    now: dict[str, SearchValue | None] = {
        BALANCE_BAND: balance_band(c.state.balance),
        NEXT_ACTION: next_action(c),
        APPROVAL_DEADLINE: approval_deadline(c),
        AMOUNT_DUE: None,
    }
    changed = [(name, value) for name, value in now.items() if c.published.get(name) != value]
    c.published.update(changed)
    return changed
