"""A local, protocol-faithful stand-in for an OpenAI-compatible chat-completions endpoint.

``POST /v1/chat/completions``, ``GET /v1/models`` and ``GET /v1/models/{id}``,
spoken as OpenAI speaks them: ``Authorization: Bearer …`` (checked when the
simulator has a key), JSON bodies, unknown parameters rejected,
``response_format`` of type ``text``, ``json_object`` (the messages must
mention JSON) or ``json_schema`` (with strict mode's rules: every object has
``additionalProperties: false`` and requires all its properties), chat
completion objects with ``usage`` (tokens approximated as words), and error
bodies ``{"error": {"message", "type", "param", "code"}}``. So the production
``adapters.llm.LlmClient`` runs against it unchanged.

The "model" is deterministic:

- a ``json_schema`` request whose schema name has a handler
  (``on_schema(name, handler)``) is answered with the handler's object for the
  request's messages; an unknown name gets the smallest object the schema
  allows (empty strings, zeros, first enum values);
- a request without ``response_format`` whose system message quotes a handled
  schema name and asks for JSON (``"reply_reading"``) is answered with that
  handler's object as plain text, as a model following such a prompt would;
- a ``json_object`` request gets ``on_json_object``'s object (default ``{}``);
- any other request gets ``on_text``'s answer (default: a short echo of the
  last user message).

``fail_next(kind)`` scripts the next answers for tests: ``timeout``,
``malformed``, ``missing_keys``, ``truncated``, ``refusal``, ``content_filter``,
``rate_limit``, ``quota``, ``server_error``, ``overloaded``, ``unauthorized``
(see ``FAILURE_KINDS``). A scripted failure is taken only by a request that
passed authentication and validation, so a bad request never uses one up.
``requests`` records every chat request that got that far; ``outcomes``
counts how each was answered.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import secrets
import string
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.http import EmbeddedServer

DEFAULT_MODELS = ("gpt-4o-mini",)
DEFAULT_REFUSAL = "I'm sorry, but I can't help with that request."
DEFAULT_TIMEOUT_DELAY = 60.0

FailureKind = Literal[
    "timeout",
    "malformed",
    "missing_keys",
    "truncated",
    "refusal",
    "content_filter",
    "rate_limit",
    "quota",
    "server_error",
    "overloaded",
    "unauthorized",
]
FAILURE_KINDS: tuple[str, ...] = get_args(FailureKind)
"""What ``fail_next`` can script:

- ``timeout``: answer only after ``delay`` seconds (default 60; stops early once the
  client hangs up), longer than any sane client timeout;
- ``malformed``: 200 whose content is not JSON (``content`` overrides it);
- ``missing_keys``: 200 whose content is the normal JSON object without the schema's
  required keys (or ``{}``);
- ``truncated``: 200 with the content cut in half and ``finish_reason: "length"``;
- ``refusal``: 200 with ``message.refusal`` set (``refusal`` overrides the text) and
  ``content: null``;
- ``content_filter``: 200 with ``content: null`` and ``finish_reason: "content_filter"``;
- ``rate_limit``: 429 ``rate_limit_exceeded`` with ``Retry-After`` (``retry_after``
  seconds, default 1) and ``retry-after-ms``;
- ``quota``: 429 ``insufficient_quota`` (no Retry-After: waiting does not help);
- ``server_error``: 500 ``server_error``; ``overloaded``: 503 ``server_error``;
- ``unauthorized``: 401 ``invalid_api_key``, whatever key was sent.
"""

SchemaHandler = Callable[[list["ChatMessage"]], dict[str, Any]]
TextHandler = Callable[[list["ChatMessage"]], str]

_KNOWN_PARAMS = frozenset(
    {
        "model", "messages", "temperature", "top_p", "n", "max_tokens", "max_completion_tokens",
        "response_format", "seed", "stop", "user", "stream", "stream_options", "presence_penalty",
        "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "tools", "tool_choice",
        "parallel_tool_calls", "store", "metadata", "service_tier", "reasoning_effort",
        "modalities", "prediction", "audio", "verbosity", "web_search_options",
    }
)  # fmt: skip
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class ChatMessage:
    """One message of a request; ``content`` has text parts joined, tool calls dropped."""

    role: str
    content: str


@dataclass
class RecordedRequest:
    """A chat request that passed auth and validation, and how it was answered."""

    model: str
    messages: list[ChatMessage]
    response_format: dict[str, Any] | None
    body: dict[str, Any]
    authorization: str | None
    user_agent: str | None
    outcome: str = "ok"

    @property
    def schema_name(self) -> str | None:
        if self.response_format is None or self.response_format.get("type") != "json_schema":
            return None
        name = self.response_format["json_schema"]["name"]
        return str(name)

    def text(self, role: str) -> str:
        """Every message of ``role`` joined by blank lines."""
        return "\n\n".join(m.content for m in self.messages if m.role == role)


@dataclass
class _Failure:
    kind: str
    delay: float
    content: str | None
    refusal: str | None
    retry_after: float


@dataclass
class _Answer:
    content: str | None
    refusal: str | None = None
    finish_reason: str = "stop"


class _OpenAIError(Exception):
    """Rendered as ``{"error": {"message", "type", "param", "code"}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
        self.headers = headers or {}


class LlmSimulator:
    """An OpenAI-compatible endpoint on the running event loop (uvicorn).

    ``api_key`` None accepts any request (like a local vLLM or Ollama); with a
    key, requests must carry it as a bearer token. ``models`` are the ids it
    serves; a request for another is a 404 ``model_not_found``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        models: Iterable[str] = DEFAULT_MODELS,
    ) -> None:
        self.api_key = api_key
        self.models = list(models)
        self.requests: list[RecordedRequest] = []
        self.outcomes: Counter[str] = Counter()
        self._schema_handlers: dict[str, SchemaHandler] = {}
        self._json_object_handler: Callable[[list[ChatMessage]], dict[str, Any]] = lambda _: {}
        self._text_handler: TextHandler = _echo
        self._failures: list[_Failure] = []
        self._created = int(time.time())
        self._server = EmbeddedServer(self._build_app(), name="LLM simulator")

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); return ``base_url``."""
        await self._server.start(host, port)
        return self.base_url

    async def stop(self) -> None:
        await self._server.stop()

    @property
    def base_url(self) -> str:
        """Where the API's paths start, ending in ``/v1`` (what ``llm_base_url`` takes)."""
        return f"{self._server.base_url}/v1"

    # -- scripting ------------------------------------------------------------------------

    def on_schema(self, name: str, handler: SchemaHandler) -> None:
        """Answer ``json_schema`` requests named ``name`` with ``handler(messages)``."""
        self._schema_handlers[name] = handler

    def on_json_object(self, handler: Callable[[list[ChatMessage]], dict[str, Any]]) -> None:
        """Answer ``json_object`` requests with ``handler(messages)``."""
        self._json_object_handler = handler

    def on_text(self, handler: TextHandler) -> None:
        """Answer plain requests (no handled schema in the prompt) with ``handler(messages)``."""
        self._text_handler = handler

    def fail_next(
        self,
        kind: FailureKind,
        n: int = 1,
        *,
        delay: float = DEFAULT_TIMEOUT_DELAY,
        content: str | None = None,
        refusal: str | None = None,
        retry_after: float = 1.0,
    ) -> None:
        """Answer the next ``n`` valid chat requests with failure ``kind`` (see FAILURE_KINDS)."""
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {', '.join(FAILURE_KINDS)}")
        if n < 0:
            raise ValueError("n must be >= 0")
        self._failures.extend(
            _Failure(kind, delay, content, refusal, retry_after) for _ in range(n)
        )

    def clear_failures(self) -> None:
        self._failures.clear()

    @property
    def pending_failures(self) -> int:
        return len(self._failures)

    # -- HTTP app -------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        everything = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route("/v1/models/{model:path}", self._get_model, methods=["GET"]),
                Route("/{path:path}", self._invalid_url, methods=everything),
            ]
        )

    async def _invalid_url(self, request: Request) -> Response:
        return _error_response(
            _OpenAIError(404, f"Invalid URL ({request.method} {request.url.path})")
        )

    async def _list_models(self, request: Request) -> Response:
        try:
            self._authenticate(request)
        except _OpenAIError as exc:
            return _error_response(exc)
        return JSONResponse(
            {"object": "list", "data": [self._model_json(model) for model in self.models]},
            headers=_request_id(),
        )

    async def _get_model(self, request: Request) -> Response:
        try:
            self._authenticate(request)
            model = request.path_params["model"]
            if model not in self.models:
                raise _model_not_found(model, param="model")
        except _OpenAIError as exc:
            return _error_response(exc)
        return JSONResponse(self._model_json(model), headers=_request_id())

    async def _chat(self, request: Request) -> Response:
        try:
            self._authenticate(request)
            body = await _json_body(request)
            recorded = self._validate(body, request)
            self.requests.append(recorded)
            failure = self._failures.pop(0) if self._failures else None
            recorded.outcome = failure.kind if failure is not None else "ok"
            self.outcomes[recorded.outcome] += 1
            if failure is not None:
                _raise_http_failure(failure)
                if failure.kind == "timeout":
                    await _sleep_unless_disconnected(request, failure.delay)
            answer = self._answer(recorded, failure)
        except _OpenAIError as exc:
            return _error_response(exc)
        return JSONResponse(self._completion(recorded, answer, body), headers=_request_id())

    def _authenticate(self, request: Request) -> None:
        if self.api_key is None:
            return
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        key = credential.strip()
        if scheme.lower() != "bearer" or not key:
            raise _OpenAIError(
                401,
                "You didn't provide an API key. You need to provide your API key in an"
                " Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise _invalid_key(key)

    def _validate(self, body: dict[str, Any], request: Request) -> RecordedRequest:
        unknown = sorted(set(body) - _KNOWN_PARAMS)
        if unknown:
            raise _OpenAIError(
                400, f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0]
            )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _OpenAIError(400, "you must provide a model parameter", param="model")
        if model not in self.models:
            raise _model_not_found(model, param="model")
        messages = _messages(body.get("messages"))
        temperature = body.get("temperature")
        if temperature is not None:
            if not isinstance(temperature, int | float) or isinstance(temperature, bool):
                raise _OpenAIError(
                    400,
                    f"{temperature!r} is not of type 'number' - 'temperature'",
                    param="temperature",
                )
            if not 0 <= temperature <= 2:
                raise _OpenAIError(
                    400,
                    f"{temperature} is {'less' if temperature < 0 else 'greater'} than the"
                    f" {'minimum of 0' if temperature < 0 else 'maximum of 2'} - 'temperature'",
                    param="temperature",
                    code="decimal_above_max_value"
                    if temperature > 2
                    else "decimal_below_min_value",
                )
        n = body.get("n", 1)
        if n is not None and n != 1:
            raise _OpenAIError(400, "the simulator answers with one choice (n=1)", param="n")
        if body.get("stream"):
            raise _OpenAIError(400, "the simulator does not stream (stream=false)", param="stream")
        response_format = _response_format(body.get("response_format"), messages)
        return RecordedRequest(
            model=model,
            messages=messages,
            response_format=response_format,
            body=body,
            authorization=request.headers.get("authorization"),
            user_agent=request.headers.get("user-agent"),
        )

    # -- the "model" ----------------------------------------------------------------------

    def _answer(self, request: RecordedRequest, failure: _Failure | None) -> _Answer:
        kind = failure.kind if failure is not None else None
        if failure is not None and kind == "refusal":
            return _Answer(None, refusal=failure.refusal or DEFAULT_REFUSAL)
        if kind == "content_filter":
            return _Answer(None, finish_reason="content_filter")
        if failure is not None and kind == "malformed":
            return _Answer(failure.content or 'Sure! Here is the JSON: {"reply": ')
        schema, data = self._intended(request)
        if kind == "missing_keys":
            required = schema.get("required", []) if schema else []
            data = {k: v for k, v in (data or {}).items() if k not in required}
            return _Answer(json.dumps(data))
        content = json.dumps(data) if data is not None else self._text_handler(request.messages)
        if kind == "truncated":
            return _Answer(content[: max(len(content) // 2, 1)], finish_reason="length")
        return _Answer(content)

    def _intended(
        self, request: RecordedRequest
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The schema asked for (if any) and the object that answers it (None: plain text)."""
        response_format = request.response_format
        kind = response_format.get("type") if response_format else None
        if response_format is not None and kind == "json_schema":
            spec = response_format["json_schema"]
            name, schema = spec["name"], spec["schema"]
            handler = self._schema_handlers.get(name)
            data = handler(request.messages) if handler else _smallest(schema)
            return schema, data
        if kind == "json_object":
            return None, self._json_object_handler(request.messages)
        if kind is None:
            # A model following a prompt that asks for a named JSON object.
            prompt = request.text("system") + request.text("developer")
            if "json" in prompt.lower():
                for name, handler in self._schema_handlers.items():
                    if f'"{name}"' in prompt:
                        return None, handler(request.messages)
        return None, None

    def _completion(
        self, request: RecordedRequest, answer: _Answer, body: dict[str, Any]
    ) -> dict[str, Any]:
        prompt_tokens = sum(_words(m.content) for m in request.messages)
        completion_tokens = _words(answer.content or answer.refusal or "")
        return {
            "id": "chatcmpl-" + _token(29),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": answer.content,
                        "refusal": answer.refusal,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "service_tier": "default",
            "system_fingerprint": "fp_simulator",
        }

    def _model_json(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": self._created, "owned_by": "recoup"}


# -- request parsing ------------------------------------------------------------------------


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _OpenAIError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you"
            " aren't using your HTTP library correctly. The OpenAI API expects a JSON payload,"
            " but what was sent was not valid JSON.)",
        )
    return body


def _messages(raw: Any) -> list[ChatMessage]:
    if not isinstance(raw, list):
        raise _OpenAIError(400, "Missing required parameter: 'messages'.", param="messages")
    if not raw:
        raise _OpenAIError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1,"
            " but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    messages: list[ChatMessage] = []
    for index, item in enumerate(raw):
        where = f"messages[{index}]"
        role = item.get("role") if isinstance(item, dict) else None
        if role not in _ROLES:
            raise _OpenAIError(
                400,
                f"Invalid value: {role!r}. Supported values are: 'system', 'assistant', 'user',"
                " 'tool', and 'developer'.",
                param=f"{where}.role",
                code="invalid_value",
            )
        assert isinstance(item, dict)
        content = item.get("content")
        if isinstance(content, list):
            parts = [p.get("text") for p in content if isinstance(p, dict)]
            content = "".join(p for p in parts if isinstance(p, str))
        if content is None and role == "assistant":
            content = ""
        if not isinstance(content, str):
            raise _OpenAIError(
                400,
                f"Invalid type for '{where}.content': expected one of a string or array of"
                " objects, but got an object instead.",
                param=f"{where}.content",
                code="invalid_type",
            )
        messages.append(ChatMessage(role=role, content=content))
    return messages


def _response_format(raw: Any, messages: list[ChatMessage]) -> dict[str, Any] | None:
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        if not any("json" in m.content.lower() for m in messages):
            raise _OpenAIError(
                400,
                "'messages' must contain the word 'json' in some form, to use"
                " 'response_format' of type 'json_object'.",
                param="messages",
            )
        return dict(raw)
    if kind != "json_schema":
        raise _OpenAIError(
            400,
            f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and"
            " 'json_schema'.",
            param="response_format.type",
            code="invalid_value",
        )
    assert isinstance(raw, dict)
    spec = raw.get("json_schema")
    if not isinstance(spec, dict):
        raise _OpenAIError(
            400,
            "Missing required parameter: 'response_format.json_schema'.",
            param="response_format.json_schema",
            code="missing_required_parameter",
        )
    name = spec.get("name")
    if not isinstance(name, str) or not _SCHEMA_NAME.match(name):
        raise _OpenAIError(
            400,
            f"Invalid 'response_format.json_schema.name': string does not match pattern."
            f" Expected a string that matches the pattern '{_SCHEMA_NAME.pattern}'.",
            param="response_format.json_schema.name",
            code="invalid_value",
        )
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise _OpenAIError(
            400,
            "Invalid 'response_format.json_schema.schema': expected an object.",
            param="response_format.json_schema.schema",
            code="invalid_type",
        )
    if spec.get("strict"):
        problem = _strict_problem(schema, ())
        if problem is not None:
            raise _OpenAIError(
                400,
                f"Invalid schema for response_format '{name}': {problem}",
                param="response_format",
                code="invalid_json_schema",
            )
    return dict(raw)


def _strict_problem(schema: dict[str, Any], context: tuple[str, ...]) -> str | None:
    """Why strict Structured Outputs would reject ``schema``, or None."""
    where = f"In context={context!r}"
    declared = schema.get("type")
    is_object = declared == "object" or (isinstance(declared, list) and "object" in declared)
    if is_object or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return f"{where}, 'additionalProperties' is required to be supplied and to be false."
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        missing = [k for k in properties if k not in required]
        if missing:
            return (
                f"{where}, 'required' is required to be supplied and to be an array including"
                f" every key in properties. Missing '{missing[0]}'."
            )
        for key, sub in properties.items():
            if isinstance(sub, dict):
                problem = _strict_problem(sub, (*context, "properties", key))
                if problem:
                    return problem
    items = schema.get("items")
    if isinstance(items, dict):
        problem = _strict_problem(items, (*context, "items"))
        if problem:
            return problem
    for keyword in ("anyOf", "$defs", "definitions"):
        subs = schema.get(keyword)
        entries = list(enumerate(subs)) if isinstance(subs, list) else list((subs or {}).items())
        for key, sub in entries:
            if isinstance(sub, dict):
                problem = _strict_problem(sub, (*context, keyword, str(key)))
                if problem:
                    return problem
    return None


# -- answers ---------------------------------------------------------------------------------


def _smallest(schema: dict[str, Any]) -> Any:
    """The simplest value ``schema`` allows (for a schema nobody registered a handler for)."""
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    any_of = schema.get("anyOf")
    if isinstance(any_of, list) and any_of and isinstance(any_of[0], dict):
        return _smallest(any_of[0])
    declared = schema.get("type")
    kind = declared[0] if isinstance(declared, list) and declared else declared
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {k: _smallest(v) for k, v in properties.items() if isinstance(v, dict)}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        minimum = schema.get("minimum", 0)
        return minimum if isinstance(minimum, int | float) else 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return ""


def _echo(messages: list[ChatMessage]) -> str:
    last = next((m.content for m in reversed(messages) if m.role == "user"), "")
    words = last.split()
    shown = " ".join(words[:12]) + (" …" if len(words) > 12 else "")
    return f"You said: {shown}" if shown else "Hello."


def _raise_http_failure(failure: _Failure) -> None:
    if failure.kind == "rate_limit":
        seconds = failure.retry_after
        raise _OpenAIError(
            429,
            "Rate limit reached for requests in organization org-simulator on requests per min"
            f" (RPM): Limit 3, Used 3, Requested 1. Please try again in {seconds:g}s.",
            type_="requests",
            code="rate_limit_exceeded",
            headers={
                "Retry-After": str(max(int(seconds + 0.999), 0)),
                "retry-after-ms": str(int(seconds * 1000)),
                "x-ratelimit-limit-requests": "3",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{seconds:g}s",
            },
        )
    if failure.kind == "quota":
        raise _OpenAIError(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            type_="insufficient_quota",
            code="insufficient_quota",
        )
    if failure.kind == "server_error":
        raise _OpenAIError(
            500,
            "The server had an error while processing your request. Sorry about that!",
            type_="server_error",
        )
    if failure.kind == "overloaded":
        raise _OpenAIError(
            503,
            "The engine is currently overloaded, please try again later.",
            type_="server_error",
        )
    if failure.kind == "unauthorized":
        raise _invalid_key(None)


async def _sleep_unless_disconnected(request: Request, delay: float) -> None:
    deadline = asyncio.get_running_loop().time() + delay
    while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(remaining, 0.05))


def _invalid_key(key: str | None) -> _OpenAIError:
    shown = "sk-****" if not key or len(key) < 8 else f"{key[:3]}*****{key[-4:]}"
    return _OpenAIError(
        401,
        f"Incorrect API key provided: {shown}. You can find your API key at"
        " https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


def _model_not_found(model: str, *, param: str | None) -> _OpenAIError:
    return _OpenAIError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param=param,
        code="model_not_found",
    )


def _error_response(exc: _OpenAIError) -> Response:
    return JSONResponse(exc.body, exc.status, headers=_request_id() | exc.headers)


def _request_id() -> dict[str, str]:
    return {"x-request-id": "req_" + _token(32)}


def _words(text: str) -> int:
    return len(text.split())


def _token(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))
