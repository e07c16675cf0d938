"""What the campaign tells the research agent, and what it does with its brief.

The context hierarchy of the protocol seed: the conversation (this thread's last
exchanges) and the campaign (its goal, position and recent decisions) are kept here;
the account's long-term history is what the agent reads. A brief is asked for again only
when something happened since the last one (``research_stale``).
"""

from __future__ import annotations

from domain.agent_messages import AgentIdentity, Attachment, MessageMode
from domain.campaign_core.campaign import Campaign
from domain.campaign_core.outbox import emit_agent_message
from domain.channels import Channel
from domain.research import (
    CampaignContext,
    ConversationContext,
    Exchange,
    ResearchBrief,
    ResearchRequest,
)

MAX_EXCHANGES = 6
MAX_DECISIONS = 5


def exchange(c: Campaign, direction: str, channel: Channel, what: str) -> None:
    """Remember an exchange of this conversation; an inbound one makes the brief stale."""
    st = c.state
    st.exchanges.append(
        Exchange(
            at=c.now(),
            direction="in" if direction == "in" else "out",
            channel=channel,
            what=what[:300],
        )
    )
    del st.exchanges[:-MAX_EXCHANGES]
    if direction == "in":  # what we sent, the campaign knows; what came back is news
        st.research_stale = True


def decided(c: Campaign, what: str) -> None:
    """A campaign decision worth telling the next agent (bounded, newest last)."""
    st = c.state
    st.recent_decisions.append(what[:200])
    del st.recent_decisions[:-MAX_DECISIONS]
    st.research_stale = True


def needs_brief(c: Campaign) -> bool:
    return c.inp.research and c.state.research_stale


def request(c: Campaign) -> ResearchRequest:
    st, inp = c.state, c.inp
    account = st.account
    return ResearchRequest(
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
    )


def unavailable(c: Campaign) -> None:
    """A touch never waits for research: the agents go with the last brief, if any."""
    c.state.research_stale = False


def briefed(c: Campaign, result: ResearchBrief, for_channel: Channel | None) -> None:
    st = c.state
    st.brief, st.research, st.research_stale = result.brief, result.facts, False
    facts = result.facts.model_dump(mode="json")
    emit_agent_message(
        c,
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
