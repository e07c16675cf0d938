"""Agents that brief, disagree and are ruled on, in real campaigns.

Real dev server and workers; the CRM, SMTP, SMS and LLM simulators over their real
protocols. The research agent's brief reaches the channel agent as an envelope; a
promise from a debtor with a dispute on file goes through the peers, the supervisor
and a person (or the deadline's safe default); a composer whose drafts fail the
guardrail twice is ruled back to templates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from bootstrap.settings import Settings
from domain import names
from domain.campaign import AccountOutcome, CampaignSnapshot, CollectionStatus
from domain.channels import Channel
from domain.operator import Approval, ApprovalDecision, ApprovalKind, ApprovalStatus
from domain.playbook import Playbook, Step, StopCondition
from simulators.crm import CrmSimulator
from simulators.llm import LlmSimulator
from tests.agent_support import start
from tests.api_support import eventually
from tests.campaign_support import status
from tests.conftest import make_account, serving
from tests.reply_support import exported, reply


def agent_messages(settings: Settings, account_id: str, action: str) -> list[dict[str, Any]]:
    return [r["body"] for r in exported(settings, account_id) if r["type"] == action]


async def test_the_research_brief_goes_to_the_channel_agent_as_an_envelope(
    client: Client, settings: Settings, running: object, crm_sim: CrmSimulator
) -> None:
    account = make_account()
    crm_sim.seed_account(
        account.account_id,
        "250.00",
        preferred_channel="sms",
        notes=["Asked for texts after work"],
        customer_since="2019-04-01",
    )
    handle = await start(client, settings, account)
    await eventually(lambda: status(handle), lambda s: len(s.attempts) == 1)
    [brief] = await eventually(
        lambda: _async(agent_messages(settings, account.account_id, "context_brief")),
        lambda found: len(found) == 1,
    )
    assert brief["from_agent"] == {"agent_id": "research-agent", "role": "research"}
    assert brief["routing"] == "role" and brief["to"] == "@email"  # the touch's channel agent
    [facts] = brief["attachments"]
    assert facts["data"]["account"]["crm_available"] is True
    assert facts["data"]["account"]["preferred_channel"] == "sms"
    assert facts["data"]["likelyDispute"] is False
    assert "sms" in brief["content"].lower()
    # A quiet campaign is researched once, not before every touch.
    snapshot = await status(handle)
    assert snapshot.status is not CollectionStatus.CANCELLED
    await handle.terminate("done")


async def _async(value: Any) -> Any:
    return value


async def disputed_promise(
    client: Client, settings: Settings, crm_sim: CrmSimulator
) -> tuple[WorkflowHandle[Any, AccountOutcome], Approval]:
    """A debtor with a dispute on file promises to pay: the supervisor's ruling waits."""
    account = make_account()
    crm_sim.seed_account(account.account_id, "250.00", dispute_on_file=True)
    handle = await start(client, settings, account)
    await eventually(lambda: status(handle), lambda s: len(s.attempts) == 1)
    await reply(handle, "I will pay the balance by the end of the month")
    snapshot: CampaignSnapshot = await eventually(
        lambda: status(handle),
        lambda s: any(a.status is ApprovalStatus.PENDING for a in s.approvals),
    )
    [approval] = snapshot.approvals
    return handle, approval


async def test_a_promise_against_a_dispute_on_file_goes_to_the_supervisor_then_a_person(
    client: Client, settings: Settings, running: object, crm_sim: CrmSimulator
) -> None:
    handle, approval = await disputed_promise(client, settings, crm_sim)
    assert approval.kind is ApprovalKind.AGENT_DISAGREEMENT
    assert (approval.disagreement, approval.proposal, approval.alternative) == (
        "dispute_vs_promise",
        "dispute",
        "promise",
    )
    # The supervisor's ruling is the safe option, so the deadline applies it too.
    assert approval.safe_default is ApprovalStatus.APPROVED
    assert "dispute on file" in approval.summary and "promised to pay" in approval.summary
    snapshot = await status(handle)
    assert "disputed" in (snapshot.next_action or "")  # outreach waits for the person
    decided = await handle.execute_update(
        names.UPDATE_DECIDE_APPROVAL,
        ApprovalDecision(approval_id=approval.approval_id, approve=True, operator="jane"),
        result_type=Approval,
    )
    assert decided.status is ApprovalStatus.APPROVED and decided.decided_by == "jane"
    snapshot = await eventually(
        lambda: status(handle), lambda s: s.status is CollectionStatus.DISPUTED
    )
    assert snapshot.holds.disputed_unverified
    account_id = snapshot.account_id
    rulings = [
        r["body"]["event"]["metadata"]
        for r in exported(settings, account_id)
        if r["type"] == "CampaignProgressEvent"
        and r["body"]["event"]["status"] == "supervisor_ruling"
    ]
    assert rulings and rulings[0]["decision"] == "dispute" and rulings[0]["peerRounds"] == 1
    # The peers' round: the research agent looked again before the supervisor ruled.
    assert len(agent_messages(settings, account_id, "context_brief")) == 2
    assert agent_messages(settings, account_id, "request_approval")
    await handle.terminate("done")


async def test_rejecting_the_ruling_keeps_the_promise(
    client: Client, settings: Settings, running: object, crm_sim: CrmSimulator
) -> None:
    handle, approval = await disputed_promise(client, settings, crm_sim)
    await handle.execute_update(
        names.UPDATE_DECIDE_APPROVAL,
        ApprovalDecision(approval_id=approval.approval_id, approve=False, operator="jane"),
        result_type=Approval,
    )
    snapshot = await status(handle)
    assert snapshot.status is CollectionStatus.PROMISED
    assert not snapshot.holds.disputed_unverified
    await handle.terminate("done")


async def test_nobody_deciding_applies_the_safe_option(
    client: Client, settings: Settings, running: object, crm_sim: CrmSimulator
) -> None:
    quick = settings.model_copy(update={"approval_days": 0.5})
    handle, pending = await disputed_promise(client, quick, crm_sim)
    assert pending.expires_at is not None
    snapshot = await eventually(
        lambda: status(handle),
        lambda s: s.status is CollectionStatus.DISPUTED,
        within=30,
    )
    [expired] = snapshot.approvals
    assert expired.approval_id == pending.approval_id
    assert expired.status is ApprovalStatus.APPROVED and expired.decided_by == "timeout"
    await handle.terminate("done")


async def test_a_promise_without_a_dispute_on_file_needs_nobody(
    client: Client, settings: Settings, running: object, crm_sim: CrmSimulator
) -> None:
    account = make_account()
    crm_sim.seed_account(account.account_id, "250.00")
    handle = await start(client, settings, account)
    await eventually(lambda: status(handle), lambda s: len(s.attempts) == 1)
    snapshot = await reply(handle, "I will pay the balance by the end of the month")
    assert snapshot.status is CollectionStatus.PROMISED and snapshot.approvals == []
    await handle.terminate("done")


# --- the composer and its guardrail disagree -----------------------------------------

EVERY_DAY = Playbook(
    name="every-day",
    steps=[
        Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(id="r1", day=1, channel=Channel.EMAIL, template="reminder"),
        Step(id="r2", day=2, channel=Channel.EMAIL, template="reminder"),
    ],
    closing_days=1,
    stop_when=[StopCondition.PAID_IN_FULL],
)


@pytest.fixture
async def llm() -> AsyncIterator[LlmSimulator]:
    simulator = LlmSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_drafts_failing_the_guardrail_twice_are_ruled_back_to_templates(
    client: Client, settings: Settings, crm_sim: CrmSimulator, llm: LlmSimulator
) -> None:
    from activities.composer import SCHEMA_NAME

    threatening = (
        "Dear {name}, your account {account} with Acme has a balance of $250.00. "
        "Pay now or you could be arrested."
    )
    llm.on_schema(SCHEMA_NAME, lambda _: {"subject": "Your account", "body": threatening})
    llm_settings = settings.model_copy(update={"llm_base_url": llm.base_url})
    account = make_account()
    async with serving(client, llm_settings):
        handle = await start(client, llm_settings, account, EVERY_DAY)
        outcome = await handle.result()
        snapshot = await status(handle)
    assert outcome.status is CollectionStatus.EXHAUSTED
    [approval] = snapshot.approvals
    assert approval.disagreement == "composer_guardrail" and approval.proposal == "template"
    assert approval.safe_default is ApprovalStatus.APPROVED
    interactions = [
        r["body"]["event"]["metadata"]
        for r in exported(llm_settings, account.account_id)
        if r["type"] == "CustomerInteractionEvent" and r["body"]["event"]["status"] == "sent"
    ]
    fallbacks = [m.get("composeFallback", "") for m in interactions]
    # r1: two drafts refused, the template went; r2: the ruling stands, the model not asked.
    assert any(f.startswith("guardrail refused 2 drafts") for f in fallbacks)
    assert "supervisor: templates only for this account" in fallbacks
    assert all(m.get("composedBy") == "template" for m in interactions)
    composer_requests = [r for r in llm.requests if r.schema_name == SCHEMA_NAME]
    assert len(composer_requests) == 2
