"""The research agent's brief inside an account campaign (``domain.research``).

Before a touch, the campaign makes sure its brief is current: the research agent
(an activity: CRM record, long-term history from the read model) runs again only
when something happened since the last brief — a reply, a payment, a promise, a
contact — so a quiet campaign pays one research activity, not one per touch. The
brief and its facts go to the channel agent that makes the touch, as the protocol
seed's agent envelope, and the composer writes from the brief.

The context hierarchy of the seed: the conversation (this thread's last exchanges,
kept by the campaign), the campaign (its goal, playbook position and recent
decisions, kept by the campaign) and the account (long-term history and
preferences, which the agent reads).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain import agents
    from domain.agent_messages import AgentIdentity, Attachment, MessageMode
    from domain.campaign import AccountCampaignInput, CampaignState
    from domain.channels import Channel
    from domain.research import (
        CampaignContext,
        ConversationContext,
        Exchange,
        ResearchBrief,
        ResearchRequest,
    )
    from workflows.exporting import Exporting

MAX_EXCHANGES = 6
MAX_DECISIONS = 5
RESEARCH_RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1))


class Research(Exporting):
    """Mixed into AccountCampaign, which provides the state."""

    _inp: AccountCampaignInput
    _state: CampaignState

    def _exchange(self, direction: str, channel: Channel, what: str) -> None:
        """Remember an exchange of this conversation; an inbound one makes the brief stale."""
        st = self._state
        st.exchanges.append(
            Exchange(
                at=workflow.now(),
                direction="in" if direction == "in" else "out",
                channel=channel,
                what=what[:300],
            )
        )
        del st.exchanges[:-MAX_EXCHANGES]
        if direction == "in":  # what we sent, the campaign knows; what came back is news
            st.research_stale = True

    def _decided(self, what: str) -> None:
        """A campaign decision worth telling the next agent (bounded, newest last)."""
        st = self._state
        st.recent_decisions.append(what[:200])
        del st.recent_decisions[:-MAX_DECISIONS]
        st.research_stale = True

    async def _research(self, for_channel: Channel | None) -> None:
        """Brief again if anything happened since the last brief (or never briefed)."""
        st, inp = self._state, self._inp
        if not inp.research or not st.research_stale:
            return
        account = st.account
        try:
            result: ResearchBrief = await workflow.execute_activity(
                agents.RESEARCH_ACCOUNT,
                ResearchRequest(
                    tenant_id=inp.tenant.tenant_id,
                    account_id=account.account_id,
                    language=account.language,
                    balance=st.balance,
                    currency=account.currency,
                    days_past_due=account.days_past_due,
                    conversation=ConversationContext(exchanges=list(st.exchanges)),
                    campaign=CampaignContext(
                        campaign_id=inp.campaign_id,
                        playbook=inp.playbook.name,
                        step=st.next_step + 1,
                        steps=len(inp.playbook.steps),
                        decisions=list(st.recent_decisions),
                    ),
                ),
                result_type=ResearchBrief,
                task_queue=inp.queues.campaigns,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RESEARCH_RETRY,
                summary="research: brief the agents on this account",
            )
        except ActivityError as err:
            # A touch never waits for research: the agents go with the last brief, if any.
            workflow.logger.warning("research unavailable, touch goes without a new brief: %s", err)
            st.research_stale = False
            return
        st.brief, st.research, st.research_stale = result.brief, result.facts, False
        facts = result.facts.model_dump(mode="json")
        self._emit_agent_message(
            from_agent=AgentIdentity(agent_id="research-agent", role="research"),
            to=for_channel.value if for_channel is not None else "supervisor",
            routing="role",
            kind="notification",
            action="context_brief",
            content=result.brief,
            attachments=[
                Attachment(
                    name="facts",
                    data={
                        "likelyDispute": facts["likely_dispute"],
                        "hardship": facts["hardship"],
                        "bestChannel": facts["best_channel"],
                        "risk": facts["risk"],
                        "writtenBy": result.written_by,
                        "fallback": result.fallback,
                        "account": facts["account"],
                    },
                )
            ],
            mode=MessageMode.FIRE_AND_FORGET,
        )
