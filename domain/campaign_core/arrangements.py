"""Settlements and payment plans in a campaign: accepting one, and what the saga decides.

The saga's steps are activities and a child workflow (the shell runs them,
``workflows/arrangement_saga.py``); what they mean for the campaign is decided here:
whether an arrangement may be accepted, whether a person must approve it first (a
settlement that forgives more than the tenant allows), how the campaign stands when
the arrangement completes, fails or misses an instalment.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.arrangements import (
    Arrangement,
    ArrangementKind,
    ArrangementRequest,
    ArrangementStatus,
    InstalmentReminder,
    PlanOutcome,
)
from domain.campaign import CampaignState, CollectionStatus
from domain.campaign_core.campaign import Campaign
from domain.campaign_core.status import request_approval, set_status
from domain.contact import format_amount
from domain.operator import Approval, ApprovalKind
from domain.supervision import Disagreement, DisagreementKind, Position, offline_ruling


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


def validate_arrange(c: Campaign, request: ArrangementRequest) -> str | None:
    return arrangement_problem(request, c.state, c.now().date())


def on_arrange(c: Campaign, request: ArrangementRequest) -> Arrangement:
    """Accept a settlement or payment plan; the saga books it before the next contact.

    Idempotent: the same arrangement id again returns the arrangement as it stands.
    """
    st = c.state
    if st.arrangement is not None and st.arrangement.request.arrangement_id == (
        request.arrangement_id
    ):
        return st.arrangement
    return accept(c, request)


def accept(c: Campaign, request: ArrangementRequest) -> Arrangement:
    """Take an arrangement (the operator's update, or a plan a reply asked for)."""
    st = c.state
    st.arrangement_count += 1
    forgiven = forgiven_share(c, request)
    limit = c.inp.settlement_approval_discount
    needs_person = limit is not None and forgiven > limit
    st.arrangement = Arrangement(
        request=request,
        accepted_at=c.now(),
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
                tenant_id=c.inp.tenant.tenant_id,
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
        request_approval(
            c,
            Approval(
                approval_id=f"settlement-{st.arrangement_count}",
                kind=ApprovalKind.SETTLEMENT,
                summary=(
                    f"settle {format_amount(st.balance, st.account.currency)} for "
                    f"{format_amount(request.total, st.account.currency)}: forgives "
                    f"{forgiven:.0%}, above the {limit:.0%} agents may agree alone. "
                    f"Supervisor recommends {ruling.decision}: {ruling.rationale}"
                )[:1000],
                requested_at=c.now(),
                subject_id=request.arrangement_id,
                expires_at=c.now() + c.days(c.inp.approval_days),
            ),
        )
    else:
        st.arrangement_pending = True
    c.changed = True
    return st.arrangement


def forgiven_share(c: Campaign, request: ArrangementRequest) -> Decimal:
    balance = c.state.balance
    if request.kind is not ArrangementKind.SETTLEMENT or balance <= 0:
        return Decimal("0")
    return (balance - request.total) / balance


def on_instalment_reminder(c: Campaign, reminder: InstalmentReminder) -> None:
    arrangement = c.state.arrangement
    if arrangement is None or arrangement.request.arrangement_id != reminder.arrangement_id:
        return
    if all(r.number != reminder.number for r in c.state.reminders):
        c.state.reminders.append(reminder)


def starting(c: Campaign) -> Arrangement | None:
    """The arrangement to book now, if one was accepted; outreach pauses while it runs."""
    st = c.state
    arr = st.arrangement
    if arr is None or not st.arrangement_pending:
        return None
    st.arrangement_pending = False
    st.promise_until = None  # the arrangement supersedes a promise
    set_status(c, CollectionStatus.ARRANGED)
    return arr


def ended(c: Campaign, arr: Arrangement, outcome: PlanOutcome) -> bool:
    """The instalments are over; True when they were all paid (False: one was missed)."""
    st = c.state
    if not outcome.completed:
        arr.detail = f"instalment {outcome.missed} was not paid by its deadline"
        return False
    arr.status = ArrangementStatus.COMPLETED
    if arr.request.kind is ArrangementKind.SETTLEMENT and st.balance > 0:
        st.balance = Decimal("0")  # forgiven: booked in the ledger at step (b)
        set_status(c, CollectionStatus.SETTLED)
    elif st.balance == 0:
        set_status(c, CollectionStatus.PAID)
    return True


def back_to_collection(c: Campaign, arr: Arrangement, status: ArrangementStatus) -> None:
    """Compensated (it failed, or an instalment was missed): the campaign goes on."""
    arr.status = status  # once compensated, so it reads as final
    if not c.state.status.terminal:
        set_status(c, CollectionStatus.ACTIVE)
