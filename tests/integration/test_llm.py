"""LlmClient against the OpenAI-compatible simulator, over real HTTP.

The LLM path of every agent: JSON-schema-constrained answers (and the prompt-only
mode for endpoints without ``response_format``), and each way a model endpoint
fails mapped to its typed, retry-classified error.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.errors import ProviderError
from adapters.llm import (
    LlmClient,
    LlmError,
    LlmMalformed,
    LlmRateLimited,
    LlmRefused,
    LlmRejected,
    LlmTimeout,
    LlmUnavailable,
    LlmUsage,
)
from simulators.llm import ChatMessage, FailureKind, LlmSimulator

API_KEY = "sk-test-recoup-llm-0000"
MODEL = "gpt-4o-mini"
SYSTEM = "You read a debtor's reply to a collection message and classify it."
USER = "I already paid this last week, please check your records."

REPLY_READING: dict[str, Any] = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": ["pay", "dispute", "other"]},
        "confidence": {"type": "number"},
        "summary": {"type": "string"},
    },
    "required": ["intent", "confidence", "summary"],
    "additionalProperties": False,
}


def read_reply(messages: list[ChatMessage]) -> dict[str, Any]:
    """A deterministic 'model' for reply_reading: keyed on the debtor's words."""
    text = next(m.content for m in messages if m.role == "user")
    intent = "dispute" if "paid" in text else "other"
    return {"intent": intent, "confidence": 0.9, "summary": text[:40]}


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[LlmSimulator]:
    simulator = LlmSimulator(API_KEY, models=[MODEL, "gpt-4o"])
    simulator.on_schema("reply_reading", read_reply)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def llm(sim: LlmSimulator) -> AsyncIterator[LlmClient]:
    async with LlmClient(sim.base_url, model=MODEL, api_key=API_KEY, timeout=5) as client:
        yield client


@pytest.fixture
async def prompt_llm(sim: LlmSimulator) -> AsyncIterator[LlmClient]:
    """A client for an endpoint without JSON-schema support: JSON is asked for in the prompt."""
    async with LlmClient(
        sim.base_url, model=MODEL, api_key=SecretStr(API_KEY), timeout=5, json_schema=False
    ) as client:
        yield client


async def reading(client: LlmClient) -> dict[str, Any]:
    return await client.complete_json(SYSTEM, USER, REPLY_READING, "reply_reading")


# -- the happy path ---------------------------------------------------------------------------


async def test_json_schema_round_trip_sends_an_openai_request(
    sim: LlmSimulator, llm: LlmClient
) -> None:
    assert await reading(llm) == read_reply([ChatMessage("user", USER)])

    [request] = sim.requests
    assert request.model == MODEL
    assert [(m.role, m.content) for m in request.messages] == [("system", SYSTEM), ("user", USER)]
    assert request.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "reply_reading", "schema": REPLY_READING, "strict": True},
    }
    assert request.body["temperature"] == 0
    assert request.authorization == f"Bearer {API_KEY}"
    assert request.user_agent == "recoup"
    assert sim.outcomes == {"ok": 1}


async def test_usage_is_recorded_per_call_and_in_total(sim: LlmSimulator, llm: LlmClient) -> None:
    assert llm.last_usage is None
    await reading(llm)
    first = llm.last_usage
    prompt_words = len(SYSTEM.split()) + len(USER.split())
    assert first is not None
    assert first.prompt_tokens == prompt_words
    assert first.completion_tokens > 0
    assert first.total_tokens == first.prompt_tokens + first.completion_tokens

    await llm.complete_text(SYSTEM, "hello there")
    second = llm.last_usage
    assert second is not None
    assert second.prompt_tokens == len(SYSTEM.split()) + 2
    assert llm.total_usage == first + second


async def test_a_schema_without_a_handler_gets_the_smallest_valid_object(
    llm: LlmClient,
) -> None:
    schema = {
        "type": "object",
        "properties": {"channel": {"type": "string", "enum": ["sms", "email"]}},
        "required": ["channel"],
        "additionalProperties": False,
    }
    assert await llm.complete_json(SYSTEM, USER, schema, "channel_choice") == {"channel": "sms"}


async def test_without_json_schema_mode_the_prompt_asks_for_json(
    sim: LlmSimulator, prompt_llm: LlmClient
) -> None:
    assert await reading(prompt_llm) == read_reply([ChatMessage("user", USER)])

    [request] = sim.requests
    assert request.response_format is None
    assert "response_format" not in request.body
    system = request.text("system")
    assert system.startswith(SYSTEM)
    assert "JSON" in system and '"reply_reading"' in system
    assert '"required":["intent","confidence","summary"]' in system
    assert request.text("user") == USER


async def test_prompt_mode_reads_json_inside_a_code_fence(
    sim: LlmSimulator, prompt_llm: LlmClient
) -> None:
    fenced = '```json\n{"intent": "pay", "confidence": 1, "summary": "will pay"}\n```'
    sim.fail_next("malformed", content=fenced)  # not malformed to a lenient reader
    assert await reading(prompt_llm) == {"intent": "pay", "confidence": 1, "summary": "will pay"}


async def test_schema_mode_takes_no_prose_around_the_json(
    sim: LlmSimulator, llm: LlmClient
) -> None:
    sim.fail_next("malformed", content='Here you go: {"intent": "pay"}')
    with pytest.raises(LlmMalformed) as caught:
        await reading(llm)
    assert caught.value.content == 'Here you go: {"intent": "pay"}'


async def test_complete_text_returns_the_assistant_text(sim: LlmSimulator, llm: LlmClient) -> None:
    assert await llm.complete_text(SYSTEM, "Can I pay on Friday?") == (
        "You said: Can I pay on Friday?"
    )
    sim.on_text(lambda messages: f"{len(messages)} messages")
    assert await llm.complete_text(SYSTEM, "x") == "2 messages"
    assert "response_format" not in sim.requests[-1].body


async def test_models_lists_the_endpoint_models(llm: LlmClient) -> None:
    assert await llm.models() == [MODEL, "gpt-4o"]


async def test_configured_is_none_without_a_base_url(sim: LlmSimulator) -> None:
    assert LlmClient.configured(None) is None
    assert LlmClient.configured("  ") is None
    client = LlmClient.configured(sim.base_url, MODEL, SecretStr(API_KEY), 5.0, False)
    assert client is not None
    async with client:
        assert client.json_schema is False
        assert await client.complete_text(SYSTEM, "hi") == "You said: hi"


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "retryable", "status"),
    [
        ("timeout", LlmTimeout, True, None),
        ("malformed", LlmMalformed, False, None),
        ("missing_keys", LlmMalformed, False, None),
        ("truncated", LlmMalformed, False, None),
        ("refusal", LlmRefused, False, None),
        ("content_filter", LlmRefused, False, None),
        ("rate_limit", LlmRateLimited, True, 429),
        ("quota", LlmRejected, False, 429),
        ("server_error", LlmUnavailable, True, 500),
        ("overloaded", LlmUnavailable, True, 503),
        ("unauthorized", LlmRejected, False, 401),
    ],
)
async def test_each_failure_maps_to_its_typed_error(
    sim: LlmSimulator,
    kind: FailureKind,
    error: type[LlmError],
    retryable: bool,
    status: int | None,
) -> None:
    # A short timeout only for the "timeout" case, so it is quick; the others answer at once,
    # and on a loaded machine "at once" can exceed a fraction of a second.
    timeout = 0.3 if kind == "timeout" else 10.0
    async with LlmClient(sim.base_url, model=MODEL, api_key=API_KEY, timeout=timeout) as client:
        sim.fail_next(kind)
        with pytest.raises(error) as caught:
            await reading(client)
        assert isinstance(caught.value, ProviderError)
        assert caught.value.provider == "llm"
        assert caught.value.retryable is retryable
        assert caught.value.status_code == status
        assert sim.outcomes[kind] == 1
        # Scripted failures are one-shot: the next call is answered normally.
        assert (await reading(client))["intent"] == "dispute"


async def test_a_timeout_honours_the_configured_timeout(sim: LlmSimulator) -> None:
    # The simulator would answer after 60 s; the client gives up after its own timeout.
    async with LlmClient(sim.base_url, model=MODEL, api_key=API_KEY, timeout=0.2) as client:
        sim.fail_next("timeout", delay=60)
        with pytest.raises(LlmTimeout) as caught:
            await client.complete_text(SYSTEM, USER)
    assert caught.value.retryable
    assert "0.2 s" in str(caught.value)


async def test_rate_limit_carries_retry_after(sim: LlmSimulator, llm: LlmClient) -> None:
    sim.fail_next("rate_limit", retry_after=2.5)
    with pytest.raises(LlmRateLimited) as caught:
        await reading(llm)
    assert caught.value.retry_after == 2.5
    assert caught.value.code == "rate_limit_exceeded"


async def test_refusal_text_is_carried(sim: LlmSimulator, llm: LlmClient) -> None:
    sim.fail_next("refusal", refusal="I can't help with threatening messages.")
    with pytest.raises(LlmRefused) as caught:
        await reading(llm)
    assert caught.value.refusal == "I can't help with threatening messages."
    assert "threatening" in str(caught.value)
    assert llm.last_usage is not None and llm.last_usage.completion_tokens == 6


async def test_malformed_json_and_missing_keys_are_malformed(
    sim: LlmSimulator, llm: LlmClient
) -> None:
    sim.fail_next("malformed")
    with pytest.raises(LlmMalformed, match="not a JSON object") as not_json:
        await reading(llm)
    assert not_json.value.content is not None and not_json.value.content.startswith("Sure!")

    sim.fail_next("missing_keys")
    with pytest.raises(LlmMalformed, match="missing required 'intent', 'confidence'"):
        await reading(llm)

    sim.fail_next("malformed", content="[1, 2, 3]")
    with pytest.raises(LlmMalformed, match="not a JSON object"):
        await reading(llm)


async def test_wrong_types_and_values_are_malformed(sim: LlmSimulator, llm: LlmClient) -> None:
    # A compatible server that does not enforce the schema, answering off-schema.
    sim.on_schema("reply_reading", lambda _: {"intent": "pay", "confidence": "high", "summary": ""})
    with pytest.raises(LlmMalformed, match="'confidence' is not of type number"):
        await reading(llm)
    sim.on_schema("reply_reading", lambda _: {"intent": "maybe", "confidence": 1, "summary": ""})
    with pytest.raises(LlmMalformed, match="'intent' is not one of"):
        await reading(llm)


async def test_a_bad_key_is_rejected(sim: LlmSimulator) -> None:
    async with LlmClient(sim.base_url, model=MODEL, api_key="sk-wrong-key-1234") as client:
        with pytest.raises(LlmRejected) as caught:
            await reading(client)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert not caught.value.retryable
    assert "sk-wrong-key-1234" not in str(caught.value)
    assert sim.requests == []


async def test_no_key_sends_no_authorization(sim: LlmSimulator) -> None:
    async with LlmClient(sim.base_url, model=MODEL) as client:
        with pytest.raises(LlmRejected, match="didn't provide an API key") as caught:
            await client.complete_text(SYSTEM, USER)
    assert caught.value.status_code == 401


async def test_an_unknown_model_is_rejected(sim: LlmSimulator) -> None:
    async with LlmClient(sim.base_url, model="gpt-nonexistent", api_key=API_KEY) as client:
        with pytest.raises(LlmRejected) as caught:
            await client.complete_text(SYSTEM, USER)
    assert (caught.value.status_code, caught.value.code) == (404, "model_not_found")


async def test_a_schema_strict_mode_cannot_take_is_rejected(llm: LlmClient) -> None:
    loose = {"type": "object", "properties": {"intent": {"type": "string"}}, "required": []}
    with pytest.raises(LlmRejected, match="additionalProperties") as caught:
        await llm.complete_json(SYSTEM, USER, loose, "loose")
    assert (caught.value.status_code, caught.value.code) == (400, "invalid_json_schema")


async def test_an_unreachable_endpoint_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with LlmClient(f"http://127.0.0.1:{port}/v1", model=MODEL, timeout=2) as client:
        with pytest.raises(LlmUnavailable) as caught:
            await client.complete_text(SYSTEM, USER)
    assert caught.value.retryable


async def test_usage_adds_up() -> None:
    assert LlmUsage(1, 2, 3) + LlmUsage(10, 20, 30) == LlmUsage(11, 22, 33)


# -- the simulator speaks OpenAI's protocol -------------------------------------------------


async def test_simulator_validates_like_openai(sim: LlmSimulator) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as raw:
        messages = [{"role": "user", "content": "hello"}]
        response = await raw.post(
            "/chat/completions",
            json={"model": MODEL, "messages": messages, "response_format": {"type": "json_object"}},
        )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "messages"
        assert "'json'" in response.json()["error"]["message"]

        response = await raw.post(
            "/chat/completions", json={"model": MODEL, "messages": messages, "frobnicate": 1}
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error" and error["param"] == "frobnicate"

        response = await raw.post("/chat/completions", content=b"{not json")
        assert response.status_code == 400

        sim.on_json_object(lambda _: {"ok": True})
        json_messages = [{"role": "user", "content": "answer in JSON"}]
        response = await raw.post(
            "/chat/completions",
            json={
                "model": MODEL,
                "messages": json_messages,
                "response_format": {"type": "json_object"},
            },
        )
        completion = response.json()
        assert response.status_code == 200
        assert completion["object"] == "chat.completion"
        assert completion["id"].startswith("chatcmpl-")
        [choice] = completion["choices"]
        assert choice["finish_reason"] == "stop"
        assert choice["message"] | {"annotations": []} == {
            "role": "assistant",
            "content": '{"ok": true}',
            "refusal": None,
            "annotations": [],
        }
        assert completion["usage"] == {
            "prompt_tokens": 3,
            "completion_tokens": 2,
            "total_tokens": 5,
        }

        assert (await raw.get("/models/gpt-4o")).json()["id"] == "gpt-4o"
        assert (await raw.get("/models/nope")).status_code == 404
        assert (await raw.get("/embeddings")).status_code == 404
    # Requests that failed validation are not recorded and used no scripted failure.
    assert len(sim.requests) == 1


async def test_simulator_rejects_an_unknown_failure_kind(sim: LlmSimulator) -> None:
    with pytest.raises(ValueError, match="unknown failure kind"):
        sim.fail_next("explode")  # type: ignore[arg-type]
