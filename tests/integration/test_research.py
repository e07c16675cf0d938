"""The research agent against the CRM simulator (HTTP), a real SQL read model and the LLM
simulator: the CRM profile, the history across campaigns, the conversation's hints, CRM
outages and unknown accounts, the model's brief and every fallback, and the brief's bound."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlmodel import Session
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.research import SCHEMA_NAME, ResearchAgent
from adapters.account_history import AccountHistory
from adapters.crm_records import CrmRecord, CrmRecords
from adapters.llm import LlmClient
from adapters.read_model import RmAccount, RmContactAttempt, RmOutcome, RmPayment, project
from adapters.sql import make_engine
from domain.channels import Channel
from domain.events import (
    EventType,
    ExportContext,
    ExportRecord,
    Origin,
    event_record,
    interaction_record,
    message_id,
)
from domain.research import (
    BRIEF_MAX,
    AccountContext,
    CampaignContext,
    ConversationContext,
    Exchange,
    ResearchBrief,
    ResearchRequest,
    derive_facts,
    offline_brief,
)
from simulators.crm import CrmSimulator
from simulators.llm import ChatMessage, LlmSimulator
from tests.conftest import LEDGER_KEY
from tests.portfolio_support import POSTGRES_URL

T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
LLM_KEY = "sk-test-research-0000"
MODEL = "gpt-4o-mini"


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def account_id() -> str:
    return f"A-{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'recoup.db'}"
    return POSTGRES_URL


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'recoup.db'}"


def history_for(url: str, tenant: str) -> Iterator[AccountHistory]:
    history = AccountHistory(url)
    history.create_tables()
    yield history
    if url.startswith("postgresql"):  # a SQLite file dies with tmp_path
        engine = make_engine(url)
        with Session(engine) as session:
            for table in (RmAccount, RmContactAttempt, RmOutcome, RmPayment):
                session.execute(delete(table).where(table.tenant_id == tenant))  # type: ignore[arg-type]
            session.commit()
        engine.dispose()
    history.dispose()


@pytest.fixture
def history(database_url: str, tenant: str) -> Iterator[AccountHistory]:
    yield from history_for(database_url, tenant)


@pytest.fixture
def sqlite_history(sqlite_url: str, tenant: str) -> Iterator[AccountHistory]:
    yield from history_for(sqlite_url, tenant)


@pytest.fixture
async def crm(crm_sim: CrmSimulator) -> AsyncIterator[CrmRecords]:
    async with CrmRecords(crm_sim.base_url, LEDGER_KEY, timeout=5) as client:
        yield client


def model_brief(messages: list[ChatMessage]) -> dict[str, Any]:
    """A deterministic 'model': a brief made of the facts it was given."""
    user = next(m.content for m in messages if m.role == "user")
    facts = json.loads(user.split("\n", 1)[1])
    parts = [f"The debtor speaks {facts['debtor_language']}."]
    if facts["likely_dispute"]:
        parts.append("A dispute is likely: verify the debt first.")
    if not facts["account_history_and_crm"]["crm_available"]:
        parts.append("The CRM record is unavailable.")
    parts.append(f"Best channel: {facts['best_channel']}; risk {facts['risk']}.")
    return {"brief": " ".join(parts)}


@pytest.fixture
async def llm_sim() -> AsyncIterator[LlmSimulator]:
    simulator = LlmSimulator(LLM_KEY, models=[MODEL])
    simulator.on_schema(SCHEMA_NAME, model_brief)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def llm(llm_sim: LlmSimulator) -> AsyncIterator[LlmClient]:
    async with LlmClient(llm_sim.base_url, model=MODEL, api_key=LLM_KEY, timeout=5) as client:
        yield client


# -- helpers --------------------------------------------------------------------------------


def request_for(
    tenant: str,
    account_id: str,
    *,
    language: str = "en",
    exchanges: list[Exchange] | None = None,
    decisions: list[str] | None = None,
    days_past_due: int = 90,
) -> ResearchRequest:
    return ResearchRequest(
        tenant_id=tenant,
        account_id=account_id,
        language=language,
        balance=Decimal("1234.50"),
        currency="USD",
        days_past_due=days_past_due,
        conversation=ConversationContext(exchanges=exchanges or []),
        campaign=CampaignContext(
            campaign_id="c-now",
            playbook="standard",
            step=3,
            steps=5,
            decisions=decisions or [],
        ),
    )


def origin(tenant: str, campaign: str, account_id: str) -> Origin:
    return Origin(
        tenant_id=tenant,
        campaign_id=campaign,
        customer_id=account_id,
        workflow_id=f"{tenant}/{campaign}/{account_id}",
        agent_id="account-campaign",
    )


class Story:
    """Records of one account's campaign, as the workflow and the agents export them."""

    def __init__(self, tenant: str, campaign: str, account_id: str) -> None:
        self.origin = origin(tenant, campaign, account_id)
        self.records: list[ExportRecord] = []
        self.at = T0
        self.n = 0
        self.event(EventType.CAMPAIGN_PROGRESS, "started", {"balance": "1000.00"})

    def event(self, type: EventType, status: str, meta: dict[str, Any]) -> None:
        self.n += 1
        self.at += timedelta(hours=1)
        wf = self.origin.workflow_id or ""
        self.records.append(
            event_record(self.origin, message_id(wf, str(self.n)), type, status, self.at, meta)
        )

    def contact(self, channel: Channel, outcome: str) -> None:
        self.n += 1
        self.at += timedelta(hours=1)
        context = ExportContext(
            origin=self.origin, step_id=f"s{self.n}", command_id=str(uuid.uuid4())
        )
        attempt = f"{self.origin.workflow_id}/s{self.n}"
        self.records.append(interaction_record(context, attempt, channel.value, outcome, self.at))

    def reply(self, channel: Channel, intent: str) -> None:
        meta = {"replyId": f"r{self.n}", "channel": channel.value, "direction": "inbound"}
        self.event(EventType.CUSTOMER_INTERACTION, "replied", {**meta, "intent": intent})

    def payment(self, amount: str, currency: str = "USD") -> None:
        meta = {"paymentId": f"p-{uuid.uuid4().hex[:8]}", "amount": amount, "currency": currency}
        self.event(EventType.PAYMENT, "received", meta)


def project_all(history: AccountHistory, *stories: Story) -> None:
    """Through the read model's real projection, as the exporter applies a batch."""
    with Session(history._engine) as session:
        for story in stories:
            project(session, story.records)
        session.commit()


# -- the CRM record ---------------------------------------------------------------------------


async def test_the_crm_profile_makes_it_into_the_facts_and_the_brief(
    crm_sim: CrmSimulator,
    crm: CrmRecords,
    sqlite_history: AccountHistory,
    tenant: str,
    account_id: str,
) -> None:
    crm_sim.seed_account(
        account_id,
        "1234.50",
        preferred_channel="sms",
        preferred_contact_time="evenings after 6pm",
        language="en",
        do_not_call=True,
        hardship_on_file=True,
        notes=["Asked for statements by post", "Works night shifts"],
        customer_since="2019-04-01",
        debtor_name="Dana Debtor",
    )
    agent = ResearchAgent(crm, sqlite_history, None)

    result = await agent.research(request_for(tenant, account_id))

    account = result.facts.account
    assert account.crm_available and account.crm_found
    assert account.preferred_channel is Channel.SMS
    assert account.preferred_time == "evenings after 6pm"
    assert account.do_not_call and account.hardship_on_file and not account.dispute_on_file
    assert account.notes == ["Asked for statements by post", "Works night shifts"]
    assert account.customer_since is not None and account.customer_since.year == 2019
    assert result.facts.best_channel is Channel.SMS
    assert result.facts.hardship and not result.facts.likely_dispute
    assert (result.written_by, result.fallback) == ("offline", None)
    for said in ("prefers sms", "evenings after 6pm", "do not call", "hardship", "night shifts"):
        assert said in result.brief
    assert "1,234.50 USD" in result.brief and "English" in result.brief


async def test_an_account_the_crm_does_not_know_still_gets_a_brief(
    crm: CrmRecords, sqlite_history: AccountHistory, tenant: str, account_id: str
) -> None:
    result = await ResearchAgent(crm, sqlite_history, None).research(
        request_for(tenant, account_id)
    )

    assert result.facts.account.crm_available
    assert not result.facts.account.crm_found
    assert "no record" in result.brief
    assert result.facts.best_channel is None
    assert "never contacted" in result.brief


async def test_a_crm_that_scopes_accounts_by_tenant(
    crm_sim: CrmSimulator, tenant: str, account_id: str
) -> None:
    crm_sim.seed_account(account_id, "10.00", tenant_id=tenant, preferred_channel="email")
    path = "/v1/tenants/{tenant_id}/accounts/{account_id}"
    async with CrmRecords(crm_sim.base_url, LEDGER_KEY, path=path) as client:
        record = await client.record(tenant, account_id)
        assert record is not None and record.preferred_channel is Channel.EMAIL
        assert await client.record("another-creditor", account_id) is None


async def test_the_simulator_checks_profile_fields_and_updates_them(
    crm_sim: CrmSimulator, crm: CrmRecords, tenant: str, account_id: str
) -> None:
    with pytest.raises(ValueError, match="preferred_channel"):
        crm_sim.seed_account(account_id, "10.00", preferred_channel="carrier pigeon")
    with pytest.raises(ValueError, match="do_not_call"):
        crm_sim.seed_account(account_id, "10.00", do_not_call="yes")
    crm_sim.seed_account(account_id, "10.00", preferred_channel="sms", notes=["a"])
    crm_sim.update_account(account_id, preferred_channel=None, dispute_on_file=True)

    record = await crm.record(tenant, account_id)

    assert record is not None
    assert record.preferred_channel is None and record.dispute_on_file
    assert record.notes == ["a"] and record.balance == Decimal("10.00")


def test_a_hand_edited_crm_record_is_read_leniently() -> None:
    record = CrmRecord.model_validate(
        {
            "account_id": "A-1",
            "preferred_channel": "Text",
            "do_not_call": "Y",
            "dispute_on_file": None,
            "notes": "one long note",
            "customer_since": "sometime in 2019",
            "balance": "n/a",
            "unknown_field": {"x": 1},
        }
    )
    assert record.preferred_channel is Channel.SMS
    assert record.do_not_call and not record.dispute_on_file
    assert record.notes == ["one long note"]
    assert record.customer_since is None and record.balance is None


# -- CRM outages ------------------------------------------------------------------------------


async def test_a_crm_outage_is_retried_by_temporal_then_the_brief_goes_on_without_it(
    crm_sim: CrmSimulator,
    crm: CrmRecords,
    sqlite_history: AccountHistory,
    tenant: str,
    account_id: str,
) -> None:
    crm_sim.seed_account(account_id, "1234.50", preferred_channel="email")
    agent = ResearchAgent(crm, sqlite_history, None, crm_attempts=3)
    request = request_for(tenant, account_id)
    prefix = f"/v1/accounts/{account_id}"
    env = ActivityEnvironment()
    try:
        crm_sim.fail_next(10, 503, path_prefix=prefix)
        for attempt in (1, 2):  # retryable: Temporal tries again with the caller's backoff
            env.info = replace(env.info, attempt=attempt)
            with pytest.raises(ApplicationError) as raised:
                await env.run(agent.research, request)
            assert raised.value.type == "CrmUnavailable" and not raised.value.non_retryable

        env.info = replace(env.info, attempt=3)  # the last: the touch is not held up
        result = await env.run(agent.research, request)
    finally:
        crm_sim.clear_failures()

    assert not result.facts.account.crm_available
    assert result.facts.account.preferred_channel is None
    assert "CRM record unavailable" in result.brief
    assert result.written_by == "offline"

    # The CRM back: the next attempt has the record again.
    env.info = replace(env.info, attempt=1)
    again = await env.run(agent.research, request)
    assert again.facts.account.crm_available
    assert again.facts.best_channel is Channel.EMAIL


async def test_a_crm_that_refuses_for_good_is_not_retried(
    crm_sim: CrmSimulator, sqlite_history: AccountHistory, tenant: str, account_id: str
) -> None:
    crm_sim.seed_account(account_id, "1234.50")
    env = ActivityEnvironment()
    env.info = replace(env.info, attempt=1)
    async with CrmRecords(crm_sim.base_url, "not-the-key") as wrong_key:
        result = await env.run(
            ResearchAgent(wrong_key, sqlite_history, None).research,
            request_for(tenant, account_id),
        )
    assert not result.facts.account.crm_available
    assert "CRM record unavailable" in result.brief


async def test_an_unreachable_crm_is_an_outage(
    sqlite_history: AccountHistory, tenant: str, account_id: str
) -> None:
    async with CrmRecords("http://127.0.0.1:9", LEDGER_KEY, timeout=2) as nowhere:
        result = await ResearchAgent(nowhere, sqlite_history, None).research(
            request_for(tenant, account_id)
        )
    assert not result.facts.account.crm_available


# -- history across campaigns ---------------------------------------------------------------


async def test_payments_promises_disputes_and_contacts_across_campaigns(
    crm: CrmRecords, history: AccountHistory, tenant: str, account_id: str
) -> None:
    first = Story(tenant, "c-spring", account_id)
    first.contact(Channel.EMAIL, "delivered")
    first.contact(Channel.SMS, "failed")
    first.contact(Channel.PHONE, "no_answer")
    first.event(EventType.CUSTOMER_INTERACTION, "skipped", {"stepId": "s9", "channel": "phone"})
    first.reply(Channel.SMS, "promise_to_pay")
    first.event(EventType.PROMISE, "made", {"promiseUntil": "2026-10-05T00:00:00+00:00"})
    first.event(EventType.PROMISE, "broken", {"promiseUntil": "2026-10-05T00:00:00+00:00"})

    second = Story(tenant, "c-autumn", account_id)
    second.at = T0 + timedelta(days=60)
    second.contact(Channel.SMS, "delivered")
    second.contact(Channel.SMS, "sent")
    second.reply(Channel.SMS, "promise_to_pay")
    second.event(EventType.PROMISE, "made", {"promiseUntil": "2026-12-05T00:00:00+00:00"})
    second.payment("100.00")
    second.event(EventType.PROMISE, "kept", {"paymentId": "x"})
    second.payment("50.25")
    second.payment("9.99", currency="EUR")  # another currency: not this debt's
    second.reply(Channel.EMAIL, "dispute")
    second.event(EventType.DISPUTE, "opened", {"kind": "dispute"})
    second.event(EventType.OPT_OUT, "opted_out", {"channel": "phone", "reason": "stop keyword"})

    # Neither another tenant's account of the same id nor another account counts.
    elsewhere = Story(f"{tenant}-other", "c-spring", account_id)
    elsewhere.payment("999.00")
    elsewhere.contact(Channel.EMAIL, "delivered")
    neighbour = Story(tenant, "c-spring", f"{account_id}-n")
    neighbour.payment("999.00")
    neighbour.event(EventType.DISPUTE, "opened", {"kind": "dispute"})
    project_all(history, first, second, elsewhere, neighbour)

    past = history.load(tenant, account_id)
    assert past.campaigns == 2
    result = await ResearchAgent(crm, history, None).research(request_for(tenant, account_id))

    account = result.facts.account
    assert account.payments == 3
    assert account.total_paid == Decimal("150.25")
    assert account.last_payment_at is not None and account.last_payment_at > T0 + timedelta(60)
    assert account.contacts == {Channel.EMAIL: 1, Channel.SMS: 3, Channel.PHONE: 1}
    assert account.reached == {Channel.EMAIL: 1, Channel.SMS: 2}
    assert (account.replies, account.last_reply_intent) == (3, "dispute")
    assert (account.promises_made, account.promises_kept, account.promises_broken) == (2, 1, 1)
    assert account.disputes == 1
    assert account.opt_outs == [Channel.PHONE]
    facts = result.facts
    assert facts.likely_dispute  # from the history: nothing on file, nothing in this thread
    assert facts.best_channel is Channel.SMS  # reached them most
    assert facts.risk == "medium"  # paid and kept once, but broke a promise
    assert "3 payments, 150.25 USD" in result.brief
    assert "promises 2 made, 1 kept, 1 broken" in result.brief
    assert "opted out of phone" in result.brief


async def test_two_broken_promises_are_high_risk_and_a_paying_debtor_low(
    crm: CrmRecords, sqlite_history: AccountHistory, tenant: str, account_id: str
) -> None:
    story = Story(tenant, "c-1", account_id)
    for _ in range(2):
        story.event(EventType.PROMISE, "made", {})
        story.event(EventType.PROMISE, "broken", {})
    payer = Story(tenant, "c-1", f"{account_id}-payer")
    payer.payment("10.00")
    project_all(sqlite_history, story, payer)
    agent = ResearchAgent(crm, sqlite_history, None)

    assert (await agent.research(request_for(tenant, account_id))).facts.risk == "high"
    paying = await agent.research(request_for(tenant, f"{account_id}-payer"))
    assert paying.facts.risk == "low"


# -- the conversation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "said",
    [
        "reply: other — 'this is not my debt'",
        "reply: dispute",
        "reply: I dispute this charge",
        "respuesta: 'no es mi deuda'",
    ],
)
async def test_a_reply_in_this_conversation_hinting_at_a_dispute(
    crm: CrmRecords, sqlite_history: AccountHistory, tenant: str, account_id: str, said: str
) -> None:
    exchanges = [
        Exchange(at=T0, direction="out", channel=Channel.EMAIL, what="reminder sent"),
        Exchange(at=T0 + timedelta(hours=2), direction="in", channel=Channel.EMAIL, what=said),
    ]
    result = await ResearchAgent(crm, sqlite_history, None).research(
        request_for(tenant, account_id, exchanges=exchanges)
    )
    assert result.facts.likely_dispute
    assert "likely dispute: verify the debt" in result.brief
    assert "This thread:" in result.brief


def test_what_we_said_is_no_hint_of_what_they_said() -> None:
    exchanges = [
        Exchange(at=T0, direction="out", channel=Channel.EMAIL, what="dispute rights notice sent"),
        Exchange(at=T0, direction="in", channel=Channel.SMS, what="reply: lost my job"),
    ]
    request = request_for("t", "A-1", exchanges=exchanges)
    facts = derive_facts(request, AccountContext(crm_available=True))
    assert not facts.likely_dispute
    assert facts.hardship


def test_a_preferred_channel_the_debtor_opted_out_of_is_not_the_best() -> None:
    account = AccountContext(
        crm_available=True,
        preferred_channel=Channel.PHONE,
        do_not_call=True,
        reached={Channel.EMAIL: 1, Channel.SMS: 1},
    )
    facts = derive_facts(request_for("t", "A-1"), account)
    assert facts.best_channel is Channel.EMAIL  # a tie goes to the less intrusive


# -- the brief ------------------------------------------------------------------------------


async def test_a_spanish_speaking_debtor_gets_an_english_brief_that_names_the_language(
    crm_sim: CrmSimulator,
    crm: CrmRecords,
    sqlite_history: AccountHistory,
    tenant: str,
    account_id: str,
) -> None:
    crm_sim.seed_account(account_id, "1234.50", language="es", preferred_channel="sms")
    result = await ResearchAgent(crm, sqlite_history, None).research(
        request_for(tenant, account_id, language="es")
    )
    assert "the debtor's language is Spanish (write to them in it)" in result.brief
    assert "Owes" in result.brief and "days past due" in result.brief


def test_the_brief_stays_within_its_bound_and_keeps_what_matters() -> None:
    account = AccountContext(
        crm_available=True,
        preferred_channel=Channel.EMAIL,
        preferred_time="x" * 100,
        do_not_call=True,
        dispute_on_file=True,
        hardship_on_file=True,
        notes=["n" * 300] * 10,
        payments=12,
        total_paid=Decimal("123456789.12"),
        last_payment_at=T0,
        contacts={Channel.EMAIL: 40, Channel.SMS: 30, Channel.PHONE: 20},
        reached={Channel.EMAIL: 40, Channel.SMS: 30, Channel.PHONE: 20},
        replies=9,
        last_reply_intent="promise_to_pay",
        promises_made=9,
        promises_kept=3,
        promises_broken=6,
        disputes=2,
        opt_outs=[Channel.SMS, Channel.PHONE],
    )
    exchanges = [
        Exchange(at=T0, direction="in", channel=Channel.SMS, what="w" * 300) for _ in range(6)
    ]
    request = request_for("t", "A-1", language="es", exchanges=exchanges, decisions=["d" * 200] * 5)

    result = offline_brief(request, account)

    assert len(result.brief) <= BRIEF_MAX
    assert result.brief.startswith("Owes 1,234.50 USD")
    assert "Spanish" in result.brief and "likely dispute" in result.brief
    assert "Risk: high" in result.brief


async def test_the_brief_and_facts_cross_temporal_as_pydantic_payloads() -> None:
    account = AccountContext(
        crm_available=True,
        contacts={Channel.SMS: 2},
        reached={Channel.SMS: 1},
        total_paid=Decimal("10.10"),
    )
    brief = offline_brief(request_for("t", "A-1"), account)
    payloads = await pydantic_data_converter.encode([brief])
    [decoded] = await pydantic_data_converter.decode(payloads, [ResearchBrief])
    assert decoded == brief


# -- the model ----------------------------------------------------------------------------------


async def test_with_a_model_the_brief_is_written_from_the_facts(
    crm_sim: CrmSimulator,
    crm: CrmRecords,
    sqlite_history: AccountHistory,
    llm: LlmClient,
    llm_sim: LlmSimulator,
    tenant: str,
    account_id: str,
) -> None:
    crm_sim.seed_account(account_id, "1234.50", dispute_on_file=True, debtor_name="Dana Debtor")
    result = await ResearchAgent(crm, sqlite_history, llm).research(
        request_for(tenant, account_id, language="es")
    )

    assert (result.written_by, result.fallback) == ("model", None)
    assert result.brief.startswith("The debtor speaks Spanish. A dispute is likely")
    assert result.facts.likely_dispute and result.facts.account.dispute_on_file
    [sent] = llm_sim.requests
    assert sent.schema_name == SCHEMA_NAME
    prompt = sent.text("user")
    # The model gets facts, never who: no tenant, account id or name.
    assert tenant not in prompt and account_id not in prompt and "Dana" not in prompt
    assert "English" in sent.text("system")


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("refusal", "model refused"),
        ("malformed", "malformed answer"),
        ("missing_keys", "malformed answer"),
        ("server_error", "model unavailable"),
        ("quota", "model rejected the request (429)"),
    ],
)
async def test_a_model_that_fails_leaves_the_offline_brief_with_the_reason(
    crm: CrmRecords,
    sqlite_history: AccountHistory,
    llm: LlmClient,
    llm_sim: LlmSimulator,
    tenant: str,
    account_id: str,
    failure: Any,
    reason: str,
) -> None:
    llm_sim.fail_next(failure)
    request = request_for(tenant, account_id)
    result = await ResearchAgent(crm, sqlite_history, llm).research(request)

    assert result.written_by == "offline"
    assert result.fallback is not None and result.fallback.startswith(reason)
    assert result.brief == offline_brief(request, result.facts.account).brief


async def test_a_slow_model_is_not_waited_for(
    crm: CrmRecords,
    sqlite_history: AccountHistory,
    llm: LlmClient,
    llm_sim: LlmSimulator,
    tenant: str,
    account_id: str,
) -> None:
    llm_sim.fail_next("timeout", delay=10)
    agent = ResearchAgent(crm, sqlite_history, llm, timeout=0.5)
    result = await agent.research(request_for(tenant, account_id))
    assert (result.written_by, result.fallback) == ("offline", "model timed out (0.5 s)")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"brief": "   "}, "malformed answer: empty brief"),
        ({"brief": "Spanish speaker. " * 60}, "malformed answer: brief longer than 700"),
        ({"brief": "Pays on time. Best channel sms."}, "brief omits the likely dispute and"),
    ],
)
async def test_a_model_brief_that_is_unusable_is_replaced(
    crm_sim: CrmSimulator,
    crm: CrmRecords,
    sqlite_history: AccountHistory,
    llm: LlmClient,
    llm_sim: LlmSimulator,
    tenant: str,
    account_id: str,
    answer: dict[str, Any],
    reason: str,
) -> None:
    crm_sim.seed_account(account_id, "1234.50", dispute_on_file=True)
    llm_sim.on_schema(SCHEMA_NAME, lambda _messages: answer)
    result = await ResearchAgent(crm, sqlite_history, llm).research(
        request_for(tenant, account_id, language="es")
    )
    assert result.written_by == "offline"
    assert result.fallback is not None and result.fallback.startswith(reason)
    assert len(result.brief) <= BRIEF_MAX and "dispute" in result.brief


async def test_a_crm_outage_with_a_model_still_gets_a_model_brief_that_says_so(
    crm_sim: CrmSimulator,
    crm: CrmRecords,
    sqlite_history: AccountHistory,
    llm: LlmClient,
    tenant: str,
    account_id: str,
) -> None:
    crm_sim.fail_next(1, 500, path_prefix=f"/v1/accounts/{account_id}")
    try:
        result = await ResearchAgent(crm, sqlite_history, llm).research(
            request_for(tenant, account_id)
        )
    finally:
        crm_sim.clear_failures()
    assert result.written_by == "model"
    assert not result.facts.account.crm_available
    assert "CRM record is unavailable" in result.brief
