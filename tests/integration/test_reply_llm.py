"""Replies read by a language model: real dev server, workers, and the LLM simulator over HTTP.

The model is asked from an activity; when it refuses, answers something that is no valid
reading, or keeps failing, the reply is read offline and the exported ``replied`` event says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Replayer, Worker

from bootstrap.settings import Settings
from domain import names
from domain.campaign import CollectionStatus, InboundReply
from domain.channels import Channel
from domain.replies import ReplyIntent, classify
from domain.replies.reading import SCHEMA_NAME
from simulators.llm import LlmSimulator
from simulators.twilio import TwilioSimulator
from tests.api_support import eventually
from tests.campaign_support import status
from tests.conftest import serving
from tests.reply_support import answers, exported, reply, started
from workflows import ALL_WORKFLOWS


@pytest.fixture
async def sim() -> AsyncIterator[LlmSimulator]:
    simulator = LlmSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def llm_settings(settings: Settings, sim: LlmSimulator) -> Settings:
    # Research would ask the model for its brief too: these tests count reply readings only.
    return settings.model_copy(
        update={"llm_base_url": sim.base_url, "llm_timeout_seconds": 5, "research_enabled": False}
    )


@pytest.fixture
async def llm_running(client: Client, llm_settings: Settings) -> AsyncIterator[list[Worker]]:
    """Every worker role, with the model configured, on this test's own task queues."""
    async with serving(client, llm_settings) as built:
        yield built


async def replied(settings: Settings, account_id: str) -> dict[str, Any]:
    """The metadata of the exported ``replied`` event."""

    async def find() -> list[dict[str, Any]]:
        return [
            r["body"]["event"]["metadata"]
            for r in exported(settings, account_id)
            if r["type"] == "CustomerInteractionEvent" and r["body"]["event"]["status"] == "replied"
        ]

    [metadata] = await eventually(find, lambda found: len(found) == 1)
    return metadata


async def test_the_models_reading_is_acted_on(
    client: Client,
    llm_settings: Settings,
    llm_running: object,
    sim: LlmSimulator,
    twilio_sim: TwilioSimulator,
) -> None:
    text = "hmm ok, whenever works for you"
    assert classify(text, datetime.now(UTC)).intent is ReplyIntent.OTHER
    sim.on_schema(SCHEMA_NAME, answers("callback"))
    handle = await started(client, llm_settings)
    snapshot = await reply(handle, text)
    assert snapshot.last_reply_intent == "callback"
    # The campaign acts on the model's intent: it calls back.
    snapshot = await eventually(
        lambda: status(handle), lambda s: any(a.channel is Channel.PHONE for a in s.attempts)
    )
    [call] = [a for a in snapshot.attempts if a.channel is Channel.PHONE]
    assert call.step_id.startswith("callback-") and any(c.to == call.to for c in twilio_sim.calls)
    metadata = await replied(llm_settings, snapshot.account_id)
    assert metadata["readBy"] == "llm" and "fallback" not in metadata
    assert metadata["intent"] == "callback"
    # One strict JSON-schema request, with the reply and its date but not who sent it.
    [request] = sim.requests
    assert request.schema_name == SCHEMA_NAME
    assert request.response_format is not None
    assert request.response_format["json_schema"]["strict"] is True
    user = request.text("user")
    assert text in user and "Sender's local date" in user
    everything = user + request.text("system")
    assert "Dana" not in everything and snapshot.account_id not in everything
    # The reader runs beside the main loop: its history replays with the current code.
    await Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter).replay_workflow(
        await handle.fetch_history()
    )


async def test_a_malformed_answer_falls_back_to_the_offline_reading(
    client: Client, llm_settings: Settings, llm_running: object, sim: LlmSimulator
) -> None:
    handle = await started(client, llm_settings)
    sim.fail_next("malformed")
    snapshot = await reply(handle, "This is not my debt, I never had an account with you")
    assert snapshot.status is CollectionStatus.DISPUTED  # the offline reading
    assert snapshot.last_reply_intent == "dispute"
    metadata = await replied(llm_settings, snapshot.account_id)
    assert metadata["readBy"] == "offline" and metadata["fallback"].startswith("malformed")
    assert len(sim.requests) == 1  # not retried: the same question gets the same answer


async def test_an_invalid_date_from_the_model_is_malformed(
    client: Client, llm_settings: Settings, llm_running: object, sim: LlmSimulator
) -> None:
    sim.on_schema(SCHEMA_NAME, answers("promise_to_pay", date="next friday", amount="120"))
    handle = await started(client, llm_settings)
    snapshot = await reply(handle, "I lost my job last month and can barely pay rent")
    assert snapshot.last_reply_intent == "hardship"  # offline, not the model's promise
    assert snapshot.status is CollectionStatus.ACTIVE
    metadata = await replied(llm_settings, snapshot.account_id)
    assert metadata["readBy"] == "offline"
    assert metadata["fallback"] == "malformed answer: promise_date is not a YYYY-MM-DD date"


async def test_a_refusal_falls_back_to_the_offline_reading(
    client: Client, llm_settings: Settings, llm_running: object, sim: LlmSimulator
) -> None:
    sim.on_schema(SCHEMA_NAME, answers("callback"))
    handle = await started(client, llm_settings)
    sim.fail_next("refusal")
    snapshot = await reply(handle, "I lost my job last month and can barely pay rent")
    assert snapshot.last_reply_intent == "hardship"
    metadata = await replied(llm_settings, snapshot.account_id)
    assert (metadata["readBy"], metadata["fallback"]) == ("offline", "model refused")
    assert len(sim.requests) == 1


async def test_server_errors_are_retried_and_the_models_reading_used(
    client: Client, llm_settings: Settings, llm_running: object, sim: LlmSimulator
) -> None:
    received = datetime.now(UTC)
    promised = received.date() + timedelta(days=3)
    sim.on_schema(SCHEMA_NAME, answers("promise_to_pay", promised.isoformat(), "80"))
    handle = await started(client, llm_settings)
    sim.fail_next("server_error", 2)
    # The offline reader finds no date here; the model does.
    text = "ok I'll sort it out soon, give me a few days"
    assert classify(text, received).promise_date is None
    snapshot = await reply(handle, text, received)
    assert snapshot.status is CollectionStatus.PROMISED
    assert snapshot.promise_until == received + timedelta(seconds=4 * 2.0)  # 3 days + the day
    assert [r.outcome for r in sim.requests] == ["server_error", "server_error", "ok"]
    metadata = await replied(llm_settings, snapshot.account_id)
    assert metadata["readBy"] == "llm"

    async def promise() -> list[dict[str, Any]]:
        return [
            r for r in exported(llm_settings, snapshot.account_id) if r["type"] == "PromiseEvent"
        ]

    [made] = await eventually(promise, lambda found: len(found) == 1)
    facts = made["body"]["event"]["metadata"]
    assert (facts["promisedDate"], facts["promisedAmount"]) == (promised.isoformat(), "80.00")


async def test_a_model_that_keeps_failing_is_read_offline_by_the_workflow(
    client: Client, llm_settings: Settings, llm_running: object, sim: LlmSimulator
) -> None:
    sim.on_schema(SCHEMA_NAME, answers("callback"))
    handle = await started(client, llm_settings)
    sim.fail_next("overloaded", 3)
    snapshot = await reply(handle, "This is not my debt, I never had an account with you")
    assert snapshot.status is CollectionStatus.DISPUTED
    metadata = await replied(llm_settings, snapshot.account_id)
    assert (metadata["readBy"], metadata["fallback"]) == ("offline", "model unavailable")
    assert len(sim.requests) == 3  # the activity's three attempts


async def test_a_rejected_request_is_not_retried_and_read_offline(
    client: Client, llm_settings: Settings, llm_running: object, sim: LlmSimulator
) -> None:
    handle = await started(client, llm_settings)
    sim.fail_next("unauthorized")
    snapshot = await reply(handle, "This is not my debt, I never had an account with you")
    assert snapshot.status is CollectionStatus.DISPUTED
    metadata = await replied(llm_settings, snapshot.account_id)
    assert (metadata["readBy"], metadata["fallback"]) == ("offline", "model rejected the request")
    assert len(sim.requests) == 1


async def test_a_stop_keyword_never_waits_for_the_model(
    client: Client, llm_settings: Settings, llm_running: object, sim: LlmSimulator
) -> None:
    handle = await started(client, llm_settings)
    await handle.signal(
        names.SIGNAL_REPLY, InboundReply(reply_id="stop-1", channel=Channel.SMS, text="STOP")
    )
    # Acted on in the signal handler itself: never queued for the model.
    snapshot = await eventually(lambda: status(handle), lambda s: s.replies == 1, within=5)
    assert snapshot.last_reply_intent == "stop" and snapshot.unread_replies == 0

    async def opted_out() -> list[dict[str, Any]]:
        return [
            r for r in exported(llm_settings, snapshot.account_id) if r["type"] == "OptOutEvent"
        ]

    [event] = await eventually(opted_out, lambda found: len(found) == 1)
    assert event["body"]["event"]["metadata"]["reason"] == "stop keyword"
    metadata = await replied(llm_settings, snapshot.account_id)
    assert metadata["readBy"] == "offline" and "fallback" not in metadata
    assert sim.requests == []


async def test_a_reply_during_a_promise_is_read_at_once(
    client: Client, llm_settings: Settings, llm_running: object, sim: LlmSimulator
) -> None:
    received = datetime.now(UTC)
    far = received.date() + timedelta(days=20)
    sim.on_schema(SCHEMA_NAME, answers("promise_to_pay", far.isoformat(), None))
    handle = await started(client, llm_settings)
    snapshot = await reply(handle, "will pay on the 20th or so", received)
    assert snapshot.status is CollectionStatus.PROMISED
    # While outreach waits for the promised day, an attorney's reply is read and ends contact.
    sim.on_schema(SCHEMA_NAME, answers("attorney"))
    await handle.signal(
        names.SIGNAL_REPLY,
        InboundReply(reply_id="r-attorney", channel=Channel.EMAIL, text="talk to my lawyer"),
    )
    outcome = await handle.result()
    assert outcome.status is CollectionStatus.CEASED
    assert [r.outcome for r in sim.requests] == ["ok", "ok"]
