"""A language model behind any OpenAI-compatible chat-completions endpoint.

Speaks ``POST {base_url}/chat/completions`` with httpx (no SDK), so the same
client runs against api.openai.com/v1, Azure-style gateways, vLLM, Ollama,
llama.cpp and ``simulators.llm``. Called from activities only; with no endpoint
configured (the default, the demo, the tests of the offline path) callers use
their own deterministic method and never build this client (``configured``
returns None).

Public surface
--------------

``LlmClient(base_url, *, model, api_key=None, timeout=20.0, json_schema=True,
temperature=0.0)``
    ``base_url`` ends where the API's paths start (``https://api.openai.com/v1``).
    ``api_key`` (a ``str`` or pydantic ``SecretStr``) is sent as
    ``Authorization: Bearer …`` when set. ``timeout`` (seconds) is the deadline
    of a whole call, connection included. ``temperature`` None leaves it out of
    the request (some reasoning models accept only their default). An async
    context manager; ``aclose`` releases the connection pool.

``LlmClient.configured(base_url, model, api_key, timeout, json_schema)``
    The client for these settings values, or None when ``base_url`` is unset or
    blank: the caller then works offline.

``await complete_json(system, user, schema, schema_name) -> dict[str, Any]``
    One JSON object answering ``user`` under ``system``. With ``json_schema``
    on, the request carries ``response_format: {"type": "json_schema",
    "json_schema": {"name": schema_name, "schema": schema, "strict": true}}``
    (strict mode needs ``additionalProperties: false`` and every property
    required, in every object of the schema). With it off, no
    ``response_format`` is sent: the system message asks for a JSON object
    matching the schema, and the answer is parsed leniently (a Markdown code
    fence or prose around one object is tolerated). Either way the object is
    checked minimally against ``schema``'s top level: every ``required`` key
    is present, and present properties have their declared JSON ``type`` and,
    with an ``enum``, one of its values.

``await complete_text(system, user) -> str``
    The assistant's text (``finish_reason`` ``length`` still returns the text
    it cut).

``await models() -> list[str]``
    The ids ``GET {base_url}/models`` lists: a cheap check that the endpoint and
    key work.

``last_usage: LlmUsage | None`` and ``total_usage: LlmUsage``
    Token counts (``prompt_tokens``, ``completion_tokens``, ``total_tokens``)
    of the last completion and of all completions made by this client; a
    completion that answered (even with a refusal or malformed content) counts.

Exceptions
----------

Every failure is an ``LlmError``, an ``adapters.errors.ProviderError`` with
``provider="llm"``; ``retryable`` says whether the same call may succeed later.

=================  =========  ==================================================
error              retryable  when
=================  =========  ==================================================
``LlmTimeout``     yes        no answer within ``timeout`` (connect or read), or
                              HTTP 408
``LlmRateLimited`` yes        HTTP 429 (not a quota error); ``retry_after`` holds
                              the seconds the endpoint asked to wait
                              (``retry-after-ms`` or ``Retry-After``), or None
``LlmUnavailable`` yes        HTTP 5xx or 409, connection refused or reset, or a
                              2xx that is not a chat completion (a proxy's page)
``LlmRefused``     no         the model declined: ``message.refusal`` is set
                              (``refusal`` holds its text), or the answer was
                              stopped by a content filter
``LlmMalformed``   no         the answer arrived but its content is not what was
                              asked: not a JSON object, a required key missing or
                              of the wrong type, cut at the token limit, or
                              empty; ``content`` holds what came. Callers fall
                              back to their offline method
``LlmRejected``    no         any other 4xx: bad request or schema (400), bad key
                              (401), no access (403), unknown model (404), and a
                              429 whose code is ``insufficient_quota`` (money ran
                              out; waiting does not help)
=================  =========  ==================================================

``status_code`` and ``code`` (the endpoint's ``error.code``, else its
``error.type``) are set on HTTP failures. Error messages name the call and the
endpoint's own message, never the prompt, the key or the model's content (which
may quote a debtor); refusal text is kept on ``LlmRefused.refusal``.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any, Self

import httpx
from pydantic import SecretStr

from adapters.errors import ProviderError
from adapters.http_api import JsonApiClient

PROVIDER = "llm"
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT = 20.0
USER_AGENT = "recoup"

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


@dataclass(frozen=True)
class LlmUsage:
    """Tokens a completion (or several) consumed, as the endpoint counted them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: LlmUsage) -> LlmUsage:
        return LlmUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
        )


class LlmError(ProviderError):
    """Base of the LLM client's errors; ``provider`` is ``"llm"``."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(
            message, retryable=retryable, provider=PROVIDER, status_code=status_code, code=code
        )


class LlmTimeout(LlmError):
    """No answer within the configured timeout (or HTTP 408). Retryable."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message, retryable=True, status_code=status_code)


class LlmRateLimited(LlmError):
    """HTTP 429 rate limit. Retryable after ``retry_after`` seconds (None: not said)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        status_code: int = 429,
        code: str | None = None,
    ) -> None:
        super().__init__(message, retryable=True, status_code=status_code, code=code)
        self.retry_after = retry_after


class LlmUnavailable(LlmError):
    """HTTP 5xx/409, a failed connection, or an answer that is no chat completion. Retryable."""

    def __init__(
        self, message: str, *, status_code: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, retryable=True, status_code=status_code, code=code)


class LlmRefused(LlmError):
    """The model declined to answer; ``refusal`` is what it said instead. Not retryable."""

    def __init__(self, message: str, *, refusal: str) -> None:
        super().__init__(message, retryable=False)
        self.refusal = refusal


class LlmMalformed(LlmError):
    """The answer's content is not what was asked (``content`` holds it). Not retryable."""

    def __init__(self, message: str, *, content: str | None) -> None:
        super().__init__(message, retryable=False)
        self.content = content


class LlmRejected(LlmError):
    """The endpoint refused the request itself (4xx other than a rate limit). Not retryable."""

    def __init__(self, message: str, *, status_code: int, code: str | None = None) -> None:
        super().__init__(message, retryable=False, status_code=status_code, code=code)


class LlmClient(JsonApiClient):
    """An async client for one model behind an OpenAI-compatible endpoint."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str = DEFAULT_MODEL,
        api_key: str | SecretStr | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        json_schema: bool = True,
        temperature: float | None = 0.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if not model:
            raise ValueError("model must not be empty")
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=httpx.Timeout(timeout), headers=headers
        )
        super().__init__(http, name="LLM", provider=PROVIDER)
        self.model = model
        self.timeout = timeout
        self.json_schema = json_schema
        self.temperature = temperature
        self.last_usage: LlmUsage | None = None
        self.total_usage = LlmUsage()

    @classmethod
    def configured(
        cls,
        base_url: str | None,
        model: str = DEFAULT_MODEL,
        api_key: str | SecretStr | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        json_schema: bool = True,
    ) -> Self | None:
        """The client for these settings values; None (work offline) without a base URL."""
        if base_url is None or not base_url.strip():
            return None
        return cls(
            base_url.strip(),
            model=model,
            api_key=api_key,
            timeout=timeout,
            json_schema=json_schema,
        )

    # -- calls ----------------------------------------------------------------------------

    async def complete_json(
        self, system: str, user: str, schema: dict[str, Any], schema_name: str
    ) -> dict[str, Any]:
        """One JSON object matching ``schema``'s top level, or an ``LlmError``."""
        if self.json_schema:
            messages = _messages(system, user)
            response_format: dict[str, Any] | None = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            }
        else:
            instruction = (
                f'Reply with only a JSON object "{schema_name}" matching this JSON Schema,'
                " with no other text and no code fence:\n"
                + json.dumps(schema, separators=(",", ":"), sort_keys=True)
            )
            messages = _messages(f"{system}\n\n{instruction}" if system else instruction, user)
            response_format = None
        content, finish_reason = await self._complete(messages, response_format)
        if finish_reason == "length":
            raise LlmMalformed(
                f"LLM answer for {schema_name!r} was cut at the token limit", content=content
            )
        if content is None or not content.strip():
            raise LlmMalformed(f"LLM answer for {schema_name!r} is empty", content=content)
        data = _json_object(content, lenient=not self.json_schema)
        if data is None:
            raise LlmMalformed(
                f"LLM answer for {schema_name!r} is not a JSON object", content=content
            )
        problem = _shape_problem(data, schema)
        if problem is not None:
            raise LlmMalformed(f"LLM answer for {schema_name!r}: {problem}", content=content)
        return data

    async def complete_text(self, system: str, user: str) -> str:
        """The assistant's text answer, or an ``LlmError``."""
        content, _ = await self._complete(_messages(system, user), None)
        if content is None or not content.strip():
            raise LlmMalformed("LLM answer is empty", content=content)
        return content

    async def models(self) -> list[str]:
        """The model ids the endpoint lists."""
        data = await self._call("GET", "models")
        entries = data.get("data")
        if not isinstance(entries, list):
            raise LlmUnavailable("LLM GET models: the answer is not a model list")
        return [str(entry["id"]) for entry in entries if isinstance(entry, dict) and "id" in entry]

    # -- plumbing -------------------------------------------------------------------------

    async def _complete(
        self, messages: list[dict[str, str]], response_format: dict[str, Any] | None
    ) -> tuple[str | None, str | None]:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if response_format is not None:
            body["response_format"] = response_format
        data = await self._call("POST", "chat/completions", json=body)
        choices = data.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(choice, dict) or not isinstance(message, dict):
            raise LlmUnavailable("LLM POST chat/completions: the answer is not a chat completion")
        self._record_usage(data.get("usage"))
        finish_reason = choice.get("finish_reason")
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal:
            raise LlmRefused(f"the model refused: {_clip(refusal)}", refusal=refusal)
        if finish_reason == "content_filter":
            raise LlmRefused("the answer was stopped by a content filter", refusal="")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise LlmMalformed("LLM answer content is not text", content=json.dumps(content))
        return content, finish_reason if isinstance(finish_reason, str) else None

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """``_send`` under the whole-call deadline, its failures as ``LlmError``."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._send(method, path, path, _http_error, **kwargs)
        except TimeoutError as exc:
            raise LlmTimeout(f"LLM {method} {path}: no answer within {self.timeout:g} s") from exc
        except LlmError:
            raise
        except ProviderError as exc:
            # The base classifies transport failures and unreadable 2xx bodies as
            # retryable; here they get the type a caller can tell apart.
            cause = exc.__cause__
            if isinstance(cause, httpx.TimeoutException):
                raise LlmTimeout(
                    f"LLM {method} {path}: no answer within {self.timeout:g} s"
                ) from cause
            raise LlmUnavailable(str(exc), status_code=exc.status_code) from exc

    def _record_usage(self, raw: Any) -> None:
        usage = LlmUsage()
        if isinstance(raw, dict):
            prompt = _count(raw.get("prompt_tokens"))
            completion = _count(raw.get("completion_tokens"))
            total = _count(raw.get("total_tokens")) or prompt + completion
            usage = LlmUsage(prompt, completion, total)
        self.last_usage = usage
        self.total_usage = self.total_usage + usage


def _messages(system: str, user: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": user}]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_object(content: str, *, lenient: bool) -> dict[str, Any] | None:
    """``content`` as a JSON object; leniently, also inside a code fence or prose."""
    candidates = [content]
    if lenient:
        text = content.strip()
        if text.startswith("```"):
            # ```json\n{...}\n```
            text = text.split("\n", 1)[1] if "\n" in text else ""
            text = text.rsplit("```", 1)[0]
            candidates.append(text)
        start, end = content.find("{"), content.rfind("}")
        if 0 <= start < end:
            candidates.append(content[start : end + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    return None


def _shape_problem(data: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """What is wrong with ``data`` at ``schema``'s top level, or None."""
    required = schema.get("required")
    if isinstance(required, list):
        missing = [key for key in required if isinstance(key, str) and key not in data]
        if missing:
            return "missing required " + ", ".join(repr(key) for key in missing)
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return None
    for key, spec in properties.items():
        if key not in data or not isinstance(spec, dict):
            continue
        value = data[key]
        declared = spec.get("type")
        types = [declared] if isinstance(declared, str) else declared
        if isinstance(types, list) and types and not any(_is_type(value, t) for t in types):
            return f"{key!r} is not of type {declared}"
        enum = spec.get("enum")
        if isinstance(enum, list) and value not in enum:
            return f"{key!r} is not one of {enum}"
    return None


def _is_type(value: Any, json_type: Any) -> bool:
    accepted = _JSON_TYPES.get(json_type) if isinstance(json_type, str) else None
    if accepted is None:
        return True  # a type this minimal check does not know is not held against the answer
    if isinstance(value, bool) and json_type != "boolean":
        return False
    if json_type == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, accepted)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait: ``retry-after-ms`` (OpenAI's), else ``Retry-After`` (seconds or date)."""
    raw_ms = response.headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(float(raw_ms) / 1000, 0.0)
        except ValueError:
            pass
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _http_error(method: str, path: str, response: httpx.Response) -> ProviderError:
    status = response.status_code
    message = response.reason_phrase
    code: str | None = None
    error_type: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error_type = str(error["type"]) if error.get("type") else None
        code = str(error["code"]) if error.get("code") else error_type
        message = str(error.get("message") or message)
        if error.get("param"):
            message += f" (param: {error['param']})"
    elif isinstance(error, str):
        message = error  # some compatible servers send {"error": "text"}
    label = f"{status} {code}" if code else str(status)
    text = f"LLM {method} {path} → {label}: {_clip(message, 500)}"
    if status == 429:
        if "insufficient_quota" in (code, error_type):
            return LlmRejected(text, status_code=status, code=code)
        return LlmRateLimited(text, retry_after=_retry_after(response), code=code)
    if status == 408:
        return LlmTimeout(text, status_code=status)
    if status == 409 or status >= 500:
        return LlmUnavailable(text, status_code=status, code=code)
    return LlmRejected(text, status_code=status, code=code)
