"""Agents that disagree, inside an account campaign (``domain.supervision``).

A disagreement is queued where it is noticed (a reply handler, a send's result) and
worked before the next touch: the peers' rounds first (the research agent looks
again with what the reply reader saw), then the supervisor's ruling, then a person
approves it through the ``decide_approval`` update before a deadline, after which
the safe option applies. While a ruling about a dispute waits, outreach waits too:
contacting a debtor who may have disputed is what Regulation F forbids.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain import agents
    from domain.agent_messages import AgentIdentity, MessageMode
    from domain.campaign import AccountCampaignInput, CampaignState, CollectionStatus
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
        offline_ruling,
        safe_option,
    )
    from workflows.exporting import Exporting

SUPERVISOR = AgentIdentity(agent_id="supervisor", role="supervisor")


class Supervision(Exporting):
    """Mixed into AccountCampaign, which provides the state and the primitives."""

    _inp: AccountCampaignInput
    _state: CampaignState
    _legal_epoch: int
    _changed: bool

    # Provided by AccountCampaign and its other mixins.
    def _set_status(self, status: CollectionStatus) -> None:
        raise NotImplementedError

    def _days(self, days: float) -> timedelta:
        raise NotImplementedError

    def _request_approval(self, approval: Approval) -> None:
        raise NotImplementedError

    def _decided(self, what: str) -> None:
        raise NotImplementedError

    async def _research(self, for_channel: None) -> None:
        raise NotImplementedError

    # --- noticing ------------------------------------------------------------

    def _disagree(self, kind: DisagreementKind, positions: list[Position], rounds: int) -> None:
        """Queue a disagreement for the supervisor (worked before the next touch)."""
        st = self._state
        facts = st.research
        st.disagreements.append(
            Disagreement(
                disagreement_id=f"{kind.value}-{len(st.approvals) + len(st.disagreements) + 1}",
                kind=kind,
                tenant_id=self._inp.tenant.tenant_id,
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
        self._changed = True

    def _check_promise_against_research(self, reply_id: str, reading_note: str) -> None:
        """The reply reads as a promise; research said the debt is likely disputed."""
        facts = self._state.research
        if facts is None or not facts.likely_dispute:
            return
        self._disagree(
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

    def _composer_disagrees(self, attempt_id: str, why: str) -> None:
        """The composer's drafts failed the guardrail twice: the peers' rounds are spent."""
        st = self._state
        if not st.model_may_write or any(
            d.kind is DisagreementKind.COMPOSER_GUARDRAIL for d in st.disagreements
        ):
            return
        self._disagree(
            DisagreementKind.COMPOSER_GUARDRAIL,
            [
                Position(agent="composer", claim="its draft may be sent", evidence=attempt_id),
                Position(agent="guardrail", claim="the draft must not be sent", evidence=why),
            ],
            rounds=MAX_PEER_ROUNDS,
        )

    # --- working them --------------------------------------------------------

    def _held_for_ruling(self) -> bool:
        """Outreach waits while a person decides whether the debt is disputed."""
        return any(
            a.status is ApprovalStatus.PENDING
            and a.disagreement == DisagreementKind.DISPUTE_VS_PROMISE.value
            for a in self._state.approvals
        )

    async def _supervise(self) -> None:
        st = self._state
        while st.disagreements and not st.status.terminal:
            disagreement = st.disagreements[0]
            if disagreement.kind is DisagreementKind.DISPUTE_VS_PROMISE:
                disagreement = await self._peer_rounds(disagreement)
            st.disagreements.pop(0)
            if disagreement.peer_rounds < 0:
                continue  # the peers agreed
            self._put_to_person(disagreement, await self._rule(disagreement))

    async def _rule(self, d: Disagreement) -> Ruling:
        """The supervisor's ruling: its rules here, or the supervisor agent with a model."""
        if not self._inp.llm_agents:
            return offline_ruling(d)  # pure and deterministic: no activity needed
        try:
            ruling: Ruling = await workflow.execute_activity(
                agents.SUPERVISE,
                d,
                result_type=Ruling,
                task_queue=self._inp.queues.campaigns,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_attempts=3),
                summary=f"supervisor: rule on {d.kind.value}",
            )
        except ActivityError as err:
            return offline_ruling(d).model_copy(
                update={"fallback": f"supervisor agent unavailable: {err}"[:300]}
            )
        return ruling

    async def _peer_rounds(self, d: Disagreement) -> Disagreement:
        """The research agent looks again, now that the reply is in the conversation.

        Returns the disagreement with the rounds held, or ``peer_rounds=-1`` when the
        peers agreed (research no longer sees a dispute). The offline reply reader
        reads the same text the same way, so a second round could not change its
        side: one round is held, two at most (protocol seed).
        """
        self._state.research_stale = True
        await self._research(None)
        facts = self._state.research
        if facts is not None and not facts.likely_dispute:
            self._emit_agent_message(
                from_agent=AgentIdentity(agent_id="research-agent", role="research"),
                to="reply-reader",
                routing="role",
                action="peer_agreement",
                content="Looked again with the reply: no dispute on file; the promise stands.",
            )
            return d.model_copy(update={"peer_rounds": -1})
        return d.model_copy(update={"peer_rounds": 1})

    def _put_to_person(self, d: Disagreement, ruling: Ruling) -> None:
        safe = safe_option(d.kind)
        other = next(o for o in OPTIONS[d.kind] if o != ruling.decision)
        # Until a person decides, the safe option holds.
        self._apply(d.kind, safe, provisional=True)
        positions = "; ".join(
            f"{p.agent}: {p.claim}" + (f" ({p.evidence})" if p.evidence else "")
            for p in d.positions
        )
        self._emit(
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
        self._emit_agent_message(
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
        self._request_approval(
            Approval(
                approval_id=d.disagreement_id,
                kind=ApprovalKind.AGENT_DISAGREEMENT,
                summary=(
                    f"{positions}. The supervisor rules '{ruling.decision}' ({ruling.rationale}) "
                    f"Approve to apply it; reject for '{other}'."
                )[:1000],
                requested_at=workflow.now(),
                subject_id=d.disagreement_id,
                expires_at=workflow.now() + self._days(self._inp.approval_days),
                safe_default=ApprovalStatus.APPROVED
                if ruling.decision == safe
                else ApprovalStatus.REJECTED,
                disagreement=d.kind.value,
                proposal=ruling.decision,
                alternative=other,
            )
        )

    def _ruled(self, approval: Approval) -> None:
        """A person (or the deadline) decided on a supervisor's ruling: apply the outcome."""
        if approval.disagreement is None:
            return
        chosen = (
            approval.proposal
            if approval.status is ApprovalStatus.APPROVED
            else approval.alternative
        )
        if chosen is not None:
            self._apply(DisagreementKind(approval.disagreement), chosen)

    def _apply(self, kind: DisagreementKind, option: str, provisional: bool = False) -> None:
        st = self._state
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
            self._legal_epoch += 1
            self._emit(EventType.DISPUTE, "opened", {"source": "supervisor"})
            self._set_status(CollectionStatus.DISPUTED)
        if not provisional:
            self._decided(f"{kind.value}: {option}")


def _dispute_evidence(facts: ResearchFacts) -> str:
    account = facts.account
    found = []
    if account.dispute_on_file:
        found.append("dispute on file in the CRM")
    if account.disputes:
        found.append(f"{account.disputes} earlier dispute(s)")
    return ", ".join(found) or "dispute wording earlier in this conversation"
