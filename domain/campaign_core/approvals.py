"""What operators decide: approvals (settlements, rulings, replies to review), redrives, pauses.

Approvals are decided by the ``decide_approval`` update (idempotent) or, when nobody
answers in time, take their safe default at their deadline (protocol seed).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.arrangements import ArrangementStatus
from domain.campaign import CollectionStatus
from domain.campaign_core.campaign import Campaign
from domain.campaign_core.outbox import emit
from domain.campaign_core.replies import on_reviewed
from domain.campaign_core.review import TIMEOUT
from domain.campaign_core.status import publish_approvals, publish_view, set_status
from domain.campaign_core.supervision import ruled
from domain.dead_letters import RedriveRequest
from domain.events import EventType
from domain.operator import (
    Approval,
    ApprovalDecision,
    ApprovalKind,
    ApprovalStatus,
    CancelRequest,
    PauseRequest,
    ResumeRequest,
)


def validate_decision(c: Campaign, decision: ApprovalDecision) -> str | None:
    if all(a.approval_id != decision.approval_id for a in c.state.approvals):
        return f"approval_id: no approval {decision.approval_id!r} on this campaign"
    return None


def on_decision(c: Campaign, decision: ApprovalDecision) -> Approval:
    """A person approves or rejects what the campaign waits for (idempotent)."""
    approval = next(a for a in c.state.approvals if a.approval_id == decision.approval_id)
    if approval.status is not ApprovalStatus.PENDING:
        return approval
    settle(c, approval, decision)
    return approval


def settle(c: Campaign, approval: Approval, decision: ApprovalDecision) -> None:
    st = c.state
    approval.status = ApprovalStatus.APPROVED if decision.approve else ApprovalStatus.REJECTED
    approval.decided_at = c.now()
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
    ruled(c, approval)
    meta = {
        "approvalId": approval.approval_id,
        "kind": approval.kind.value,
        "operator": decision.operator,
    }
    applied = approval.proposal if decision.approve else approval.alternative
    if applied is not None:
        meta["applied"] = applied
    emit(c, EventType.CAMPAIGN_PROGRESS, f"approval_{approval.status.value}", meta)
    # After the decision's own event: what acting on the reply emits follows it.
    on_reviewed(c, approval)
    publish_approvals(c)
    c.changed = True


def expire(c: Campaign) -> None:
    """Requests nobody answered in time take their safe default (protocol seed)."""
    now = c.now()
    for approval in c.state.approvals:
        due = approval.expires_at
        if approval.status is ApprovalStatus.PENDING and due is not None and due <= now:
            settle(
                c,
                approval,
                ApprovalDecision(
                    approval_id=approval.approval_id,
                    approve=approval.safe_default is ApprovalStatus.APPROVED,
                    operator=TIMEOUT,
                    note=f"nobody decided by {due:%Y-%m-%d %H:%M} UTC: safe default",
                ),
            )


def deadline(c: Campaign) -> datetime | None:
    due = [
        a.expires_at
        for a in c.state.approvals
        if a.status is ApprovalStatus.PENDING and a.expires_at is not None
    ]
    return min(due, default=None)


def bounded(c: Campaign, remaining: timedelta) -> timedelta:
    """Wake for an approval's deadline too, so its safe default applies on time."""
    due = deadline(c)
    if due is None:
        return remaining
    return max(timedelta(0), min(remaining, due - c.now()))


def validate_redrive(c: Campaign, request: RedriveRequest) -> str | None:
    st = c.state
    if st.status.terminal:
        return f"the campaign has finished ({st.status.value}); start a new one for the account"
    if st.status in {
        CollectionStatus.PROMISED,
        CollectionStatus.DISPUTED,
        CollectionStatus.ARRANGED,
    }:
        return f"outreach is paused ({st.status.value}); redrive it later"
    if request.dead_letter_id not in st.dead_letters:
        return f"{request.dead_letter_id} is not a dead letter of this campaign"
    if request.step_id not in {s.id for s in c.inp.playbook.steps}:
        return f"step {request.step_id!r} is not in the playbook"
    if request.step_id in st.redrives:
        return f"step {request.step_id!r} is already queued for redrive"
    return None


def on_redrive(c: Campaign, request: RedriveRequest) -> str:
    """Queue a dead letter's step to be contacted for again; the gate decides when."""
    c.state.redrives.append(request.step_id)
    c.changed = True
    return f"step {request.step_id} queued for another contact"


def operator_work_pending(c: Campaign) -> bool:
    """Disagreements to rule on, an accepted arrangement, redriven dead letters, calls
    asked for: work that comes before the next step."""
    st = c.state
    return (
        st.arrangement_pending
        or bool(st.disagreements)
        or (bool(st.redrives or st.callbacks) and st.status is not CollectionStatus.PROMISED)
    )


def on_pause(c: Campaign, request: PauseRequest) -> None:
    """Hold outreach before the next contact until resumed (a send in flight finishes)."""
    st = c.state
    if st.paused is not None or st.status.terminal:
        return
    st.paused = request
    emit(
        c,
        EventType.CAMPAIGN_PROGRESS,
        "paused",
        {"reason": request.reason, "operator": request.operator},
    )
    publish_view(c)
    c.changed = True


def on_cancel(c: Campaign, request: CancelRequest) -> None:
    """End the campaign as cancelled before its next contact (a send in flight finishes).

    A finished campaign stays as it ended; an open approval is left to expire with it.
    """
    st = c.state
    if st.status.terminal:
        return
    emit(
        c,
        EventType.CAMPAIGN_PROGRESS,
        "cancel requested",
        {"reason": request.reason, "operator": request.operator},
    )
    set_status(c, CollectionStatus.CANCELLED)
    c.changed = True


def on_resume(c: Campaign, request: ResumeRequest) -> None:
    st = c.state
    if st.paused is None:
        return
    st.paused = None
    meta = {"operator": request.operator, **({"note": request.note} if request.note else {})}
    emit(c, EventType.CAMPAIGN_PROGRESS, "resumed", meta)
    publish_view(c)
    c.changed = True
