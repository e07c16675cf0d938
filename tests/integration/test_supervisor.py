"""The supervisor: its offline rules, the model's rulings (against the LLM simulator over
HTTP) and every way the model's answer is refused, and a model ruling in a real campaign."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.supervisor import SCHEMA_NAME, Supervisor
from adapters.llm import LlmClient
from bootstrap.settings import Settings
from domain.operator import ApprovalStatus
from domain.replies.reading import SCHEMA_NAME as READING
from domain.supervision import (
    Disagreement,
    DisagreementKind,
    Position,
    offline_ruling,
    safe_option,
)
from simulators.crm import CrmSimulator
from simulators.llm import ChatMessage, LlmSimulator
from tests.agent_support import start
from tests.api_support import eventually
from tests.campaign_support import status
from tests.conftest import make_account, serving
from tests.reply_support import answers, reply

POSITIONS = [
    Position(agent="research-agent", claim="the debt is likely disputed", evidence="on file"),
    Position(agent="reply-reader", claim="the debtor promised to pay", evidence="reply r-1"),
]


def disagreement(
    kind: DisagreementKind = DisagreementKind.DISPUTE_VS_PROMISE, **kw: Any
) -> Disagreement:
    fields: dict[str, Any] = {
        "disagreement_id": "d-1",
        "kind": kind,
        "tenant_id": "acme",
        "account_id": "A-1",
        "positions": POSITIONS,
        "peer_rounds": 1,
    }
    fields.update(kw)
    return Disagreement(**fields)


# --- offline rules ------------------------------------------------------------------


def test_a_dispute_on_file_outweighs_a_promise() -> None:
    assert offline_ruling(disagreement(dispute_on_file=True)).decision == "dispute"
    assert offline_ruling(disagreement(past_disputes=2)).decision == "dispute"
    assert offline_ruling(disagreement()).decision == "promise"


def test_a_composer_that_failed_twice_is_ruled_to_templates() -> None:
    ruling = offline_ruling(disagreement(DisagreementKind.COMPOSER_GUARDRAIL, peer_rounds=2))
    assert ruling.decision == "template" == safe_option(DisagreementKind.COMPOSER_GUARDRAIL)


@pytest.mark.parametrize(
    ("share", "limit", "days", "broken", "decision"),
    [
        ("0.52", "0.50", 120, 0, "approve"),  # a little over, no broken promise
        ("0.58", "0.50", 120, 0, "reject"),  # too far for a recent debt
        ("0.58", "0.50", 400, 0, "approve"),  # an old debt allows more
        ("0.52", "0.50", 120, 1, "reject"),  # after a broken promise, no
    ],
)
def test_settlement_recommendations(
    share: str, limit: str, days: int, broken: int, decision: str
) -> None:
    ruling = offline_ruling(
        disagreement(
            DisagreementKind.SETTLEMENT_THRESHOLD,
            forgiven_share=Decimal(share),
            threshold=Decimal(limit),
            days_past_due=days,
            promises_broken=broken,
        )
    )
    assert ruling.decision == decision


# --- the model ------------------------------------------------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[LlmSimulator]:
    simulator = LlmSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def llm(sim: LlmSimulator) -> AsyncIterator[LlmClient]:
    client = LlmClient.configured(sim.base_url, timeout=5)
    assert client is not None
    yield client
    await client.aclose()


def rules(decision: str, rationale: str = "Verification first.", confidence: Any = 0.8) -> Any:
    def handler(_: list[ChatMessage]) -> dict[str, Any]:
        return {"decision": decision, "rationale": rationale, "confidence": confidence}

    return handler


async def test_the_models_ruling(sim: LlmSimulator, llm: LlmClient) -> None:
    sim.on_schema(SCHEMA_NAME, rules("promise", "No dispute in writing; honour the promise."))
    ruling = await ActivityEnvironment().run(Supervisor(llm).supervise, disagreement())
    assert (ruling.decision, ruling.decided_by, ruling.fallback) == ("promise", "model", None)
    [request] = sim.requests
    prompt = request.text("user")
    assert "'dispute' or 'promise'" in prompt and "research-agent" in prompt
    assert "A-1" not in prompt  # never the account


@pytest.mark.parametrize(
    ("script", "fallback"),
    [
        (
            {"answer": rules("pay everything now")},
            "model chose 'pay everything now', not an option",
        ),
        ({"fail": "refusal"}, "model refused"),
        ({"fail": "malformed"}, "malformed answer: "),
        ({"fail": "server_error"}, "model unavailable"),
    ],
)
async def test_a_bad_answer_falls_back_to_the_rules(
    sim: LlmSimulator, llm: LlmClient, script: dict[str, Any], fallback: str
) -> None:
    sim.on_schema(SCHEMA_NAME, script.get("answer", rules("promise")))
    if "fail" in script:
        sim.fail_next(script["fail"])
    ruling = await ActivityEnvironment().run(
        Supervisor(llm).supervise, disagreement(dispute_on_file=True)
    )
    assert (ruling.decision, ruling.decided_by) == ("dispute", "offline")
    assert ruling.fallback is not None and ruling.fallback.startswith(fallback)


async def test_without_a_model_the_rules_rule() -> None:
    ruling = await ActivityEnvironment().run(Supervisor(None).supervise, disagreement())
    assert (ruling.decision, ruling.fallback) == ("promise", "no model configured")


# --- in a campaign --------------------------------------------------------------------


async def test_a_model_ruling_against_the_safe_option_defaults_to_the_safe_one(
    client: Client, settings: Settings, crm_sim: CrmSimulator, sim: LlmSimulator
) -> None:
    """The model rules 'promise'; nobody answers; the deadline applies 'dispute'."""
    sim.on_schema(SCHEMA_NAME, rules("promise", "The debtor clearly wants to pay."))
    sim.on_schema(READING, answers("promise_to_pay", "2026-12-31"))
    llm_settings = settings.model_copy(
        update={"llm_base_url": sim.base_url, "llm_timeout_seconds": 5, "approval_days": 0.5}
    )
    account = make_account()
    crm_sim.seed_account(account.account_id, "250.00", dispute_on_file=True)
    async with serving(client, llm_settings):
        handle = await start(client, llm_settings, account)
        await eventually(lambda: status(handle), lambda s: len(s.attempts) == 1)
        # The reply reader has the model too: it reads a promise.
        await reply(handle, "I will pay the balance by the end of the month")
        pending = await eventually(lambda: status(handle), lambda s: bool(s.approvals), within=30)
        [approval] = pending.approvals
        assert (approval.proposal, approval.alternative) == ("promise", "dispute")
        assert approval.safe_default is ApprovalStatus.REJECTED  # rejecting is the safe side
        done = await eventually(
            lambda: status(handle),
            lambda s: s.approvals[0].status is not ApprovalStatus.PENDING,
            within=30,
        )
        assert done.approvals[0].decided_by == "timeout"
        assert done.holds.disputed_unverified
        await handle.terminate("done")
