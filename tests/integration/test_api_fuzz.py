"""The HTTP API against generated input: schemathesis with every check, and extreme numbers.

The API runs in a thread with its own event loop and Temporal client, on a real
port, because schemathesis (requests) and the number tests (httpx) call it
synchronously from this thread.

1. Schemathesis runs every check ``st run --checks all`` runs (server errors, status
   codes, content types, response schemas and headers, positive data accepted and
   negative data rejected, missing required headers, ignored auth, unsupported
   methods, ...) on positive and negative cases of every documented operation. On
   top, every 4xx must be a problem (RFC 9457) that names its field.
2. Hypothesis strategies for the numbers a careless or hostile client sends (inf,
   nan, 1e400, 2^63, negative zero, huge integers, denormals, and every float and
   integer around) go into each numeric field of the API, body, query string and
   header alike: a value within the field's bounds is acted on, any other is refused
   with a problem naming the field, and nothing answers 5xx.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, cast

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pydantic import TypeAdapter, ValidationError
from schemathesis import CheckFunction, GenerationMode
from schemathesis.checks import CHECKS

from adapters.event_log import MAX_POSITION
from api.app import create_app
from bootstrap.client import connect
from bootstrap.settings import Settings
from domain.account import MAX_AMOUNT
from domain.campaign import MAX_DAY_SECONDS, MIN_DAY_SECONDS
from tests.api_support import account_record, auth, new_tenant

EXAMPLES_PER_OPERATION = 30
EXAMPLES_PER_NUMBER_FIELD = 60
PROBLEM = "application/problem+json"

# The live stream with follow=true never ends by design: schemathesis gets it with
# follow=false, in positive cases only (a negative case whose mutation the server
# reads leniently, "yes" for a boolean, would stream for ever). Its numbers, the
# cursors, are in the number tests below.
FOLLOW = ("GET", "/v1/events")
# Operations whose schema-valid requests may still be refused, because what makes
# them acceptable cannot be said in JSON Schema, and the fields such a refusal may
# name. Schemathesis' positive_data_acceptance is replaced there by this narrower
# check: a refusal is a 422 problem naming only these fields.
SEMANTIC: dict[tuple[str, str], tuple[str, ...]] = {
    # Account records are checked row by row by the portfolio parser (phone numbers
    # valid for the region, IANA zones, due dates up to today); playbooks are the
    # shipped files; as_of lies between 1900 and tomorrow.
    ("POST", "/v1/campaigns"): ("playbook", "accounts", "as_of"),
    ("POST", "/v1/accounts"): ("playbook", "account", "as_of"),
}
# The codec server decrypts only what it encrypted: a schema-valid body of payloads is
# almost never that, and is refused with a 400 problem naming no field.
CIPHERTEXT = ("/codec/encode", "/codec/decode")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def served_api(settings: Settings) -> Iterator[str]:
    served = settings.model_copy(update={"api_host": "127.0.0.1", "api_port": _free_port()})
    holder: dict[str, Any] = {}
    ready = threading.Event()

    async def serve() -> None:
        client = await connect(served)
        app = create_app(served, client)
        server = uvicorn.Server(
            uvicorn.Config(app, host=served.api_host, port=served.api_port, log_level="warning")
        )
        holder["server"] = server
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no event)
            await asyncio.sleep(0.02)
        ready.set()
        await task

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(30), "the API did not start"
    yield served.api_url
    holder["server"].should_exit = True
    thread.join(10)


def _problem(status: int, content_type: str, body: Any, where: str) -> dict[str, Any]:
    """A 4xx answer is an RFC 9457 problem, with its own status and a title."""
    assert content_type.startswith(PROBLEM), f"{where}: {content_type}"
    assert isinstance(body, dict), where
    assert body["status"] == status and body["title"], where
    return body


# --- 1. schemathesis, every check --------------------------------------------------


def test_every_operation_passes_every_schemathesis_check(
    served_api: str, settings: Settings
) -> None:
    _, token = new_tenant(settings)
    schema = schemathesis.openapi.from_url(f"{served_api}/openapi.json")
    schema.config.checks.update(included_check_names=["all"])  # what `--checks all` selects
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises: a broken schema
        key = (operation.method.upper(), operation.path)
        modes = [GenerationMode.POSITIVE]
        if key != FOLLOW:
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            try:
                _fuzz(operation, mode, served_api, token)
            except Unsatisfiable:
                # No parameter or body to make invalid (GET /v1/health): nothing to negate.
                assert mode is GenerationMode.NEGATIVE, operation.path
        tested.append(key)
    assert ("POST", "/v1/campaigns") in tested and FOLLOW in tested
    assert len(tested) >= 18


def _fuzz(operation: Any, mode: GenerationMode, base_url: str, token: str) -> None:
    """Every check on ``EXAMPLES_PER_OPERATION`` cases of ``operation`` in ``mode``."""
    key = (operation.method.upper(), operation.path)
    semantic = SEMANTIC.get(key, ())
    ciphertext = operation.path.endswith(CIPHERTEXT)
    positive = mode is GenerationMode.POSITIVE
    acceptance = cast(CheckFunction, CHECKS.get_one("positive_data_acceptance"))
    excluded = [acceptance] if semantic or ciphertext else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
        if key == FOLLOW:
            case.query = {**(case.query or {}), "follow": "false"}
        # The case's own headers come first: a generated bad key must get a 401.
        headers = {**auth(token), **dict(case.headers or {})}
        response = case.call_and_validate(
            base_url=base_url, headers=headers, timeout=30, excluded_checks=excluded
        )
        status = response.status_code
        where = f"{case.method} {case.formatted_path} -> {status}"
        if status < 400:
            return
        content_type = next(iter(response.headers.get("content-type", [])), "")
        problem = _problem(status, content_type, response.json(), where)
        named = [p["name"] for p in problem["invalid_params"]]
        if status in {400, 422} and not ciphertext:
            assert named and problem["field"] in named, f"{where}: {problem}"
        if positive and semantic and status in {400, 422}:
            # Refused for what only the semantics can say, never for the schema.
            assert status == 422, f"{where}: {problem}"
            assert all(n.split(".")[0].split("[")[0] in semantic for n in named), (
                f"{where}: a schema-valid request refused for {named}"
            )
        if positive and ciphertext:
            assert status in {400, 401, 403}, f"{where}: {problem}"

    check()


# --- 2. extreme numbers in every numeric field -----------------------------------------


def _float_text(number: float) -> str:
    """A float as JSON text, the non-standard spellings Python's JSON reads included."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return repr(number)


# What a careless or hostile client sends, as the text of a JSON number (or a query
# string or header value): beyond every bound, on every bound, and the odd spellings.
EXTREMES = [
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "-0",
    "-0.0",
    "0",
    "5e-324",
    "1e-400",
    "1e308",
    "0.001",
    "0.01",
    "1",
    "1.5",
    "2000",
    "2001",
    "86400",
    "86400.00001",
    str(MAX_AMOUNT),
    str(MAX_AMOUNT + Decimal("0.01")),
    str(2**53 + 1),
    str(2**63 - 1),
    str(2**63),
    str(-(2**63)),
    str(2**64),
    str(10**400),
    "1" + "0" * 5000,  # beyond what Python parses as a number in JSON (4300 digits)
]
NUMBERS = st.one_of(
    st.sampled_from(EXTREMES),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats().map(_float_text),
    st.decimals(min_value=-(10**14), max_value=10**14, places=3, allow_nan=False).map(str),
)

_INT: TypeAdapter[int] = TypeAdapter(int)


def _json_value(text: str) -> object | None:
    """The value the server's JSON parser makes of ``text``; None when it cannot."""
    try:
        value: object = json.loads(text)
    except ValueError:
        return None
    return value


def _real(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _day_seconds(value: object) -> bool:
    number = _real(value)
    return number is not None and MIN_DAY_SECONDS <= number <= MAX_DAY_SECONDS


def _window(value: object) -> bool:
    number = _real(value)  # 5.0 is the integer 5 to pydantic; 5.5 is no integer
    return number is not None and number.is_integer() and 1 <= number <= 2000


def _amount(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    try:
        cents = amount.quantize(Decimal("0.01"))
    except InvalidOperation:  # more digits than the context holds: far beyond the bound
        return False
    return Decimal(0) < amount <= MAX_AMOUNT and cents == amount


def _integer_text(low: int, high: int) -> Callable[[str], bool]:
    def within(text: str) -> bool:
        try:
            number = _INT.validate_python(text)
        except ValidationError:
            return False
        return low <= number <= high

    return within


@dataclass(frozen=True)
class NumberField:
    """One numeric input: how to send a number's text in it, and what must come back."""

    name: str
    send: Callable[[httpx.Client, str], httpx.Response]
    within: Callable[[str], bool]  # the text is a value inside the field's bounds
    accepted: frozenset[int]  # the statuses of a value within bounds
    refused: int  # the status of any other value (400: a parameter; 422: a body)


def _body(
    path: str, build: Callable[[], dict[str, Any]], field: str
) -> Callable[[httpx.Client, str], httpx.Response]:
    """POST ``build()`` with ``field`` (dotted) set to the number's text, as written."""

    def send(http: httpx.Client, text: str) -> httpx.Response:
        body = build()
        target = body
        *parents, last = field.split(".")
        for part in parents:
            target = target[part]
        target[last] = "__NUMBER__"
        raw = json.dumps(body).replace('"__NUMBER__"', text)
        return http.post(path, content=raw, headers={"Content-Type": "application/json"})

    return send


def _campaign() -> dict[str, Any]:
    return {
        "campaign_id": f"n-{uuid.uuid4().hex[:12]}",
        "playbook": "demo",
        "accounts": [account_record()],
        "seconds_per_day": 600,
    }


def _account() -> dict[str, Any]:
    return {
        "campaign_id": f"n-{uuid.uuid4().hex[:12]}",
        "playbook": "demo",
        "account": account_record(),
        "seconds_per_day": 600,
    }


def _payment() -> dict[str, Any]:
    return {"payment_id": "p-1", "amount": "1.00", "currency": "USD"}


def _from_json(check: Callable[[object], bool]) -> Callable[[str], bool]:
    def within(text: str) -> bool:
        value = _json_value(text)
        return value is not None and check(value)

    return within


def _priority(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5


NUMBER_FIELDS = [
    NumberField(
        "seconds_per_day",
        _body("/v1/campaigns", _campaign, "seconds_per_day"),
        _from_json(_day_seconds),
        frozenset({202}),
        422,
    ),
    NumberField(
        "window",
        _body("/v1/campaigns", _campaign, "window"),
        _from_json(_window),
        frozenset({202}),
        422,
    ),
    NumberField(
        "seconds_per_day",
        _body("/v1/accounts", _account, "seconds_per_day"),
        _from_json(_day_seconds),
        frozenset({202}),
        422,
    ),
    NumberField(
        "account.amount_due",
        _body("/v1/accounts", _account, "account.amount_due"),
        _from_json(_amount),
        frozenset({202}),
        422,
    ),
    NumberField(
        "account.priority",
        _body("/v1/accounts", _account, "account.priority"),
        _from_json(_priority),
        frozenset({202}),
        422,
    ),
    # No campaign runs for A-none: a payment the API accepts is then not found.
    NumberField(
        "amount",
        _body("/v1/accounts/A-none/payments", _payment, "amount"),
        _from_json(_amount),
        frozenset({404}),
        422,
    ),
    NumberField(
        "after",
        lambda http, text: http.get("/v1/accounts/A-none/history", params={"after": text}),
        _integer_text(0, MAX_POSITION),
        frozenset({200, 404}),  # 404: from the start (0) of an account that has no campaign
        400,
    ),
    NumberField(
        "limit",
        lambda http, text: http.get("/v1/accounts/A-none/history", params={"limit": text}),
        _integer_text(1, 1000),
        frozenset({404}),
        400,
    ),
    NumberField(
        "after",
        lambda http, text: http.get("/v1/events", params={"after": text, "follow": "false"}),
        _integer_text(0, MAX_POSITION),
        frozenset({200}),
        400,
    ),
    NumberField(
        "Last-Event-ID",
        lambda http, text: http.get(
            "/v1/events", params={"follow": "false"}, headers={"Last-Event-ID": text}
        ),
        _integer_text(0, MAX_POSITION),
        frozenset({200}),
        400,
    ),
]


@pytest.mark.parametrize(
    "field", NUMBER_FIELDS, ids=[f"{f.name}@{i}" for i, f in enumerate(NUMBER_FIELDS)]
)
def test_every_numeric_field_acts_on_values_in_bounds_and_names_itself_refusing_others(
    served_api: str, settings: Settings, field: NumberField
) -> None:
    _, token = new_tenant(settings)
    with httpx.Client(base_url=served_api, headers=auth(token), timeout=30) as http:

        @given(text=NUMBERS)
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_NUMBER_FIELD,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(text: str) -> None:
            response = field.send(http, text)
            where = f"{field.name}={text[:40]} -> {response.status_code}: {response.text[:300]}"
            assert response.status_code < 500, where
            if field.within(text):
                assert response.status_code in field.accepted, where
                return
            content_type = response.headers.get("content-type", "")
            if len(text.lstrip("-")) > 4300 and field.refused == 422:
                # Beyond what Python's JSON parser reads as a number: the body is not JSON.
                problem = _problem(400, content_type, response.json(), where)
                assert problem["field"] == "(root)", where
                return
            problem = _problem(field.refused, content_type, response.json(), where)
            assert problem["field"] == field.name, where
            assert field.name in [p["name"] for p in problem["invalid_params"]], where

        check()
