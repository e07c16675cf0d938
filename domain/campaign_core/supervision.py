"""Agents that disagree (``domain.supervision``): noticed here, ruled, put to a person.

A disagreement is queued where it is noticed (a reply, a send's result) and worked before
the next touch by the shell: the peers' rounds first, then the supervisor's ruling
(``put_to_person``), then a person approves it before a deadline, after which the safe
option applies (``ruled``). While a ruling about a dispute waits, outreach waits too.
"""

from __future__ import annotations

from domain.agent_messages import AgentIdentity, MessageMode
from domain.campaign import CollectionStatus
from domain.campaign_core.campaign import Campaign
from domain.campaign_core.outbox import emit, emit_agent_message
from domain.campaign_core.research import decided
from domain.campaign_core.status import request_approval, set_status
from domain.events import EventType
from domain.operator import Approval, ApprovalKind, ApprovalStatus
from domain.research import ResearchFacts
from domain.supervision import (
    MAX_PEER_ROUNDS,
    OPTIONS,
    Disagreement,
    DisagreementKind,
    Position,
    Ruling,
    safe_option,
)

SUPERVISOR = AgentIdentity(agent_id="supervisor", role="supervisor")


def disagree(c: Campaign, kind: DisagreementKind, positions: list[Position], rounds: int) -> None:
    """Queue a disagreement for the supervisor (worked before the next touch)."""
    st = c.state
    facts = st.research
    st.disagreements.append(
        Disagreement(
            disagreement_id=f"{kind.value}-{len(st.approvals) + len(st.disagreements) + 1}",
            kind=kind,
            tenant_id=c.inp.tenant.tenant_id,
            account_id=st.account.account_id,
            positions=positions,
            peer_rounds=rounds,
            dispute_on_file=bool(facts and facts.account.dispute_on_file),
            past_disputes=facts.account.disputes if facts else 0,
            promises_broken=facts.account.promises_broken if facts else 0,
            days_past_due=st.account.days_past_due,
            balance=st.balance,
        )
    )
    c.changed = True


def check_promise_against_research(c: Campaign, reply_id: str, reading_note: str) -> None:
    """The reply reads as a promise; research said the debt is likely disputed."""
    facts = c.state.research
    if facts is None or not facts.likely_dispute:
        return
    disagree(
        c,
        DisagreementKind.DISPUTE_VS_PROMISE,
        [
            Position(
                agent="research-agent",
                claim="the debt is likely disputed",
                evidence=_dispute_evidence(facts),
            ),
            Position(
                agent="reply-reader",
                claim="the debtor promised to pay",
                evidence=f"reply {reply_id}: {reading_note}"[:500],
            ),
        ],
        rounds=0,
    )


def composer_disagrees(c: Campaign, attempt_id: str, why: str) -> None:
    """The composer's drafts failed the guardrail twice: the peers' rounds are spent."""
    st = c.state
    if not st.model_may_write or any(
        d.kind is DisagreementKind.COMPOSER_GUARDRAIL for d in st.disagreements
    ):
        return
    disagree(
        c,
        DisagreementKind.COMPOSER_GUARDRAIL,
        [
            Position(agent="composer", claim="its draft may be sent", evidence=attempt_id),
            Position(agent="guardrail", claim="the draft must not be sent", evidence=why),
        ],
        rounds=MAX_PEER_ROUNDS,
    )


def held_for_ruling(c: Campaign) -> bool:
    """Outreach waits while a person decides whether the debt is disputed."""
    return any(
        a.status is ApprovalStatus.PENDING
        and a.disagreement == DisagreementKind.DISPUTE_VS_PROMISE.value
        for a in c.state.approvals
    )


def peers_agreed(c: Campaign, d: Disagreement) -> Disagreement:
    """After research looked again: ``peer_rounds=-1`` when the peers agree (no dispute
    seen any more), else one round held. The offline reply reader reads the same text
    the same way, so a second round could not change its side."""
    facts = c.state.research
    if facts is not None and not facts.likely_dispute:
        emit_agent_message(
            c,
            from_agent=AgentIdentity(agent_id="research-agent", role="research"),
            to="reply-reader",
            routing="role",
            action="peer_agreement",
            content="Looked again with the reply: no dispute on file; the promise stands.",
        )
        return d.model_copy(update={"peer_rounds": -1})
    return d.model_copy(update={"peer_rounds": 1})


def put_to_person(c: Campaign, d: Disagreement, ruling: Ruling) -> None:
    safe = safe_option(d.kind)
    other = next(o for o in OPTIONS[d.kind] if o != ruling.decision)
    # Until a person decides, the safe option holds.
    apply(c, d.kind, safe, provisional=True)
    positions = "; ".join(
        f"{p.agent}: {p.claim}" + (f" ({p.evidence})" if p.evidence else "") for p in d.positions
    )
    emit(
        c,
        EventType.CAMPAIGN_PROGRESS,
        "supervisor_ruling",
        {
            "disagreementId": d.disagreement_id,
            "kind": d.kind.value,
            "decision": ruling.decision,
            "rationale": ruling.rationale,
            "peerRounds": d.peer_rounds,
            "decidedBy": ruling.decided_by,
            **({"fallback": ruling.fallback} if ruling.fallback else {}),
        },
    )
    emit_agent_message(
        c,
        from_agent=SUPERVISOR,
        to="operator",
        routing="role",
        kind="request",
        action="request_approval",
        priority="high",
        content=f"{positions}. Supervisor rules '{ruling.decision}': {ruling.rationale}",
        mode=MessageMode.SYNC,
        requires_response=True,
    )
    request_approval(
        c,
        Approval(
            approval_id=d.disagreement_id,
            kind=ApprovalKind.AGENT_DISAGREEMENT,
            summary=(
                f"{positions}. The supervisor rules '{ruling.decision}' ({ruling.rationale}) "
                f"Approve to apply it; reject for '{other}'."
            )[:1000],
            requested_at=c.now(),
            subject_id=d.disagreement_id,
            expires_at=c.now() + c.days(c.inp.approval_days),
            safe_default=ApprovalStatus.APPROVED
            if ruling.decision == safe
            else ApprovalStatus.REJECTED,
            disagreement=d.kind.value,
            proposal=ruling.decision,
            alternative=other,
        ),
    )


def ruled(c: Campaign, approval: Approval) -> None:
    """A person (or the deadline) decided on a supervisor's ruling: apply the outcome."""
    if approval.disagreement is None:
        return
    chosen = (
        approval.proposal if approval.status is ApprovalStatus.APPROVED else approval.alternative
    )
    if chosen is not None:
        apply(c, DisagreementKind(approval.disagreement), chosen)


def apply(c: Campaign, kind: DisagreementKind, option: str, provisional: bool = False) -> None:
    st = c.state
    if kind is DisagreementKind.COMPOSER_GUARDRAIL:
        st.model_may_write = option == "model"
    elif (
        kind is DisagreementKind.DISPUTE_VS_PROMISE
        and not provisional
        and option == "dispute"
        and not st.status.terminal
    ):
        st.holds.disputed_unverified = True
        st.promise_until = None
        c.legal_epoch += 1
        emit(c, EventType.DISPUTE, "opened", {"source": "supervisor"})
        set_status(c, CollectionStatus.DISPUTED)
    if not provisional:
        decided(c, f"{kind.value}: {option}")


def _dispute_evidence(facts: ResearchFacts) -> str:
    account = facts.account
    found = []
    if account.dispute_on_file:
        found.append("dispute on file in the CRM")
    if account.disputes:
        found.append(f"{account.disputes} earlier dispute(s)")
    return ", ".join(found) or "dispute wording earlier in this conversation"
