"""PaymentsClient and LedgerClient against their simulators, over real HTTP.

The two halves of a payment arrangement: a Stripe Payment Link the debtor
pays through (with its signed webhook), and the adjustment booked in the
creditor's CRM (with its reversal, the saga's compensation).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.errors import ProviderError
from adapters.ledger import LedgerClient
from adapters.payments import (
    PaymentsClient,
    WebhookSignatureError,
    from_minor_units,
    to_minor_units,
    verify_webhook,
)
from simulators.crm import CrmSimulator
from simulators.http import EmbeddedServer
from simulators.payments import PaymentsSimulator, decode_params, stripe_signature

STRIPE_KEY = "sk_test_recoup0000000000000000"
WEBHOOK_SECRET = "whsec_recouptest"
CRM_TOKEN = "crm-token-for-tests"
METADATA = {"account_id": "A-1", "arrangement_id": "arr-1"}


# -- fixtures -------------------------------------------------------------------------------


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]


@dataclass
class WebhookEndpoint:
    """Our side of Stripe's webhooks: records each delivery, raw bytes included."""

    deliveries: list[Delivery] = field(default_factory=list)
    url: str = ""

    async def receive(self, request: Request) -> Response:
        self.deliveries.append(Delivery(await request.body(), dict(request.headers)))
        return Response(status_code=200)


@pytest.fixture
async def endpoint() -> AsyncIterator[WebhookEndpoint]:
    hooks = WebhookEndpoint()
    server = EmbeddedServer(
        Starlette(routes=[Route("/stripe", hooks.receive, methods=["POST"])]),
        name="webhook endpoint",
    )
    hooks.url = f"{await server.start()}/stripe"
    yield hooks
    await server.stop()


@pytest.fixture
async def stripe(endpoint: WebhookEndpoint) -> AsyncIterator[PaymentsSimulator]:
    sim = PaymentsSimulator(STRIPE_KEY, webhook_url=endpoint.url, webhook_secret=WEBHOOK_SECRET)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def payments(stripe: PaymentsSimulator) -> AsyncIterator[PaymentsClient]:
    async with PaymentsClient(stripe.base_url, STRIPE_KEY) as client:
        yield client


@pytest.fixture
async def stripe_raw(stripe: PaymentsSimulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {STRIPE_KEY}"}
    async with httpx.AsyncClient(base_url=stripe.base_url, headers=headers) as raw:
        yield raw


@pytest.fixture
async def crm() -> AsyncIterator[CrmSimulator]:
    sim = CrmSimulator(CRM_TOKEN)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def ledger(crm: CrmSimulator) -> AsyncIterator[LedgerClient]:
    async with LedgerClient(crm.base_url, CRM_TOKEN) as client:
        yield client


@pytest.fixture
async def crm_raw(crm: CrmSimulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {CRM_TOKEN}"}
    async with httpx.AsyncClient(base_url=crm.base_url, headers=headers) as raw:
        yield raw


async def make_link(
    payments: PaymentsClient,
    key: str,
    amount: str = "123.45",
    currency: str = "USD",
) -> Any:
    return await payments.create_payment_link(
        amount=Decimal(amount),
        currency=currency,
        description="Settlement of account A-1",
        metadata=METADATA,
        idempotency_key=key,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- payment links ----------------------------------------------------------------------------


async def test_payment_link_is_a_price_and_a_link(
    stripe: PaymentsSimulator, payments: PaymentsClient, stripe_raw: httpx.AsyncClient
) -> None:
    link = await make_link(payments, "arr-1")

    assert link.id.startswith("plink_")
    assert link.url.startswith("https://buy.stripe.com/test_")
    assert (link.active, link.amount, link.currency) == (True, Decimal("123.45"), "USD")
    [price] = stripe.prices.values()
    assert (price.unit_amount, price.currency) == (12345, "usd")
    assert price.product_name == "Settlement of account A-1"
    [item] = stripe.links[link.id].line_items
    assert (item.price, item.quantity) == (price.id, 1)
    assert stripe.links[link.id].metadata == METADATA

    # The resource itself is shaped like Stripe's; line_items only when expanded.
    response = await stripe_raw.get(f"/v1/payment_links/{link.id}")
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    body = response.json()
    assert (body["object"], body["livemode"], body["active"]) == ("payment_link", False, True)
    assert (body["url"], body["currency"], body["metadata"]) == (link.url, "usd", METADATA)
    assert "line_items" not in body
    expanded = (await stripe_raw.get(f"/v1/payment_links/{link.id}?expand[]=line_items")).json()
    [line] = expanded["line_items"]["data"]
    assert (line["amount_total"], line["price"]["id"]) == (12345, price.id)
    assert line["price"]["object"] == "price"
    assert price.id.startswith("price_")


async def test_retry_with_the_same_key_creates_nothing_new(
    stripe: PaymentsSimulator, payments: PaymentsClient
) -> None:
    first = await make_link(payments, "arr-2")
    again = await make_link(payments, "arr-2")
    assert again == first
    assert stripe.creates_executed == 2

    racing = await asyncio.gather(*(make_link(payments, "arr-3") for _ in range(5)))
    assert len({link.id for link in racing}) == 1
    assert racing[0].id != first.id
    assert stripe.creates_executed == 4
    assert (len(stripe.prices), len(stripe.links)) == (2, 2)


async def test_retry_after_a_failure_between_the_two_creates_reuses_the_price(
    stripe: PaymentsSimulator, payments: PaymentsClient
) -> None:
    stripe.fail_next(1, status=503, path_prefix="/v1/payment_links")
    with pytest.raises(ProviderError) as caught:
        await make_link(payments, "arr-4")
    assert (caught.value.retryable, caught.value.status_code) == (True, 503)
    assert (len(stripe.prices), len(stripe.links)) == (1, 0)

    link = await make_link(payments, "arr-4")
    assert (len(stripe.prices), len(stripe.links)) == (1, 1)
    assert stripe.executed["create_price"] == 1
    assert stripe.links[link.id].line_items[0].price in stripe.prices


async def test_replays_are_marked_like_stripes(stripe_raw: httpx.AsyncClient) -> None:
    form = {"currency": "usd", "unit_amount": "500", "product_data[name]": "Plan"}
    headers = {"Idempotency-Key": "raw-1"}
    first = await stripe_raw.post("/v1/prices", data=form, headers=headers)
    second = await stripe_raw.post("/v1/prices", data=form, headers=headers)

    assert first.status_code == second.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["original-request"] == first.headers["request-id"]
    assert second.json() == first.json()

    # The key belongs to its first endpoint too.
    other = await stripe_raw.post(
        "/v1/payment_links",
        data={"line_items[0][price]": first.json()["id"], "line_items[0][quantity]": "1"},
        headers=headers,
    )
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert "same endpoint" in other.json()["error"]["message"]


async def test_key_reused_with_other_parameters_is_rejected(
    stripe: PaymentsSimulator, payments: PaymentsClient
) -> None:
    await make_link(payments, "arr-5", amount="100.00")
    with pytest.raises(ProviderError) as caught:
        await make_link(payments, "arr-5", amount="90.00")
    err = caught.value
    assert (err.retryable, err.status_code, err.code) == (False, 400, "idempotency_error")
    assert "same parameters" in str(err)
    assert stripe.creates_executed == 2


async def test_failed_validation_does_not_use_up_the_key(stripe_raw: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "raw-2"}
    bad = await stripe_raw.post("/v1/prices", data={"currency": "usd"}, headers=headers)
    assert bad.status_code == 400
    good = await stripe_raw.post(
        "/v1/prices",
        data={"currency": "usd", "unit_amount": "100", "product_data[name]": "Plan"},
        headers=headers,
    )
    assert good.status_code == 200
    assert "idempotent-replayed" not in good.headers


async def test_wrong_api_key_is_rejected(stripe: PaymentsSimulator) -> None:
    async with PaymentsClient(stripe.base_url, "sk_test_not-the-key-0000") as bad:
        with pytest.raises(ProviderError) as caught:
            await make_link(bad, "arr-6")
    assert (caught.value.retryable, caught.value.status_code) == (False, 401)
    assert caught.value.provider == "payments"

    async with httpx.AsyncClient() as anonymous:
        response = await anonymous.post(f"{stripe.base_url}/v1/prices", data={"currency": "usd"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("You did not provide an API key")
    assert stripe.creates_executed == 0


PRICE = {"currency": "usd", "unit_amount": "100", "product_data[name]": "Plan"}


@pytest.mark.parametrize(
    ("form", "param", "code"),
    [
        ({"unit_amount": "100", "product_data[name]": "Plan"}, "currency", "parameter_missing"),
        (PRICE | {"currency": "xyz"}, "currency", None),
        (PRICE | {"unit_amount": "ten"}, "unit_amount", "parameter_invalid_integer"),
        (PRICE | {"unit_amount": "100000000"}, "unit_amount", "amount_too_large"),
        (PRICE | {"product_data[name]": ""}, "product_data[name]", "parameter_invalid_empty"),
        (PRICE | {"colour": "red"}, "colour", "parameter_unknown"),
        (PRICE | {"currency": "kwd", "unit_amount": "1255"}, "unit_amount", None),
        ({"currency": "usd", "unit_amount": "100"}, "product", "parameter_missing"),
    ],
)
async def test_invalid_price_names_the_param(
    stripe: PaymentsSimulator,
    stripe_raw: httpx.AsyncClient,
    form: dict[str, str],
    param: str,
    code: str | None,
) -> None:
    response = await stripe_raw.post("/v1/prices", data=form)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error.get("code")) == (
        "invalid_request_error",
        param,
        code,
    )
    assert stripe.prices == {}


async def test_invalid_payment_link_names_the_param(
    stripe: PaymentsSimulator, stripe_raw: httpx.AsyncClient
) -> None:
    price = (await stripe_raw.post("/v1/prices", data=PRICE)).json()["id"]
    cases = [
        (
            {"line_items[0][price]": "price_nope", "line_items[0][quantity]": "1"},
            "line_items[0][price]",
        ),
        (
            {"line_items[0][price]": price, "line_items[0][quantity]": "0"},
            "line_items[0][quantity]",
        ),
        ({"line_items[0][price]": price}, "line_items[0][quantity]"),
        ({"metadata[k]": "v"}, "line_items"),
        (
            {"line_items[0][price]": price, "line_items[0][quantity]": "1", "expand[]": "x"},
            "expand[0]",
        ),
    ]
    for form, param in cases:
        response = await stripe_raw.post("/v1/payment_links", data=form)
        assert response.status_code == 400, form
        assert response.json()["error"]["param"] == param, form
    assert stripe.links == {}


async def test_client_reports_validation_errors_as_permanent(
    stripe: PaymentsSimulator, payments: PaymentsClient
) -> None:
    with pytest.raises(ProviderError) as caught:
        await make_link(payments, "arr-7", currency="XYZ")
    err = caught.value
    assert (err.retryable, err.status_code, err.code) == (False, 400, "invalid_request_error")
    assert "(param: currency)" in str(err)


@pytest.mark.parametrize(
    ("status", "retryable", "code"),
    [
        (500, True, "api_error"),
        (503, True, "api_error"),
        (429, True, "rate_limit"),
        (409, True, "idempotency_key_in_use"),
        (402, False, "card_declined"),
        (400, False, "invalid_request_error"),
    ],
)
async def test_injected_failures_are_classified(
    stripe: PaymentsSimulator,
    payments: PaymentsClient,
    status: int,
    retryable: bool,
    code: str,
) -> None:
    stripe.fail_next(1, status=status)
    with pytest.raises(ProviderError) as caught:
        await make_link(payments, "arr-8")
    err = caught.value
    assert (err.retryable, err.status_code, err.code) == (retryable, status, code)
    # Nothing ran, so the same key now goes through for real.
    assert stripe.creates_executed == 0
    await make_link(payments, "arr-8")
    assert stripe.creates_executed == 2


async def test_failures_can_be_cleared(stripe: PaymentsSimulator, payments: PaymentsClient) -> None:
    stripe.fail_next(3, status=500)
    stripe.clear_failures()
    await make_link(payments, "arr-9")
    with pytest.raises(ValueError, match="known HTTP error"):
        stripe.fail_next(1, status=200)


@pytest.mark.parametrize(
    ("currency", "amount", "minor"),
    [
        ("JPY", "5000", 5000),
        ("KRW", "125000", 125000),
        ("KWD", "1.250", 1250),
        ("USD", "0.10", 10),
        ("EUR", "999999.99", 99999999),
    ],
)
async def test_amounts_are_exact_in_minor_units(
    stripe: PaymentsSimulator, payments: PaymentsClient, currency: str, amount: str, minor: int
) -> None:
    link = await make_link(payments, f"minor-{currency}", amount=amount, currency=currency)
    [price] = stripe.prices.values()
    assert (price.unit_amount, price.currency) == (minor, currency.lower())
    assert (link.amount, link.currency) == (Decimal(amount), currency)


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("5000.5", "JPY"), ("12.345", "USD"), ("1.255", "KWD"), ("0", "USD"), ("-5.00", "USD")],
)
async def test_unchargeable_amounts_are_refused_before_any_request(
    stripe: PaymentsSimulator, payments: PaymentsClient, amount: str, currency: str
) -> None:
    with pytest.raises(ValueError):
        await make_link(payments, "never", amount=amount, currency=currency)
    assert stripe.executed == {}


@given(cents=st.integers(min_value=0, max_value=10**13))
def test_minor_units_round_trip(cents: int) -> None:
    amount = Decimal(cents).scaleb(-2)
    assert to_minor_units(amount, "USD") == cents
    assert from_minor_units(cents, "usd") == amount
    assert from_minor_units(cents, "JPY") == Decimal(cents)


async def test_deactivate_and_reactivate(
    stripe: PaymentsSimulator, payments: PaymentsClient, stripe_raw: httpx.AsyncClient
) -> None:
    link = await make_link(payments, "arr-10")
    off = await payments.deactivate_payment_link(link.id, idempotency_key="arr-10/off")
    assert (off.id, off.active, off.amount) == (link.id, False, link.amount)
    assert stripe.links[link.id].active is False
    assert (await payments.get_payment_link(link.id)).active is False
    with pytest.raises(ValueError, match="deactivated"):
        await stripe.pay(link.id)
    assert stripe.payments == []

    response = await stripe_raw.post(f"/v1/payment_links/{link.id}", data={"active": "true"})
    assert response.json()["active"] is True
    assert (await stripe.pay(link.id)).amount_total == 12345

    with pytest.raises(ProviderError) as caught:
        await payments.deactivate_payment_link("plink_nope", idempotency_key="nope/off")
    err = caught.value
    assert (err.retryable, err.status_code, err.code) == (False, 404, "resource_missing")


async def test_paying_sends_a_signed_checkout_completed_event(
    stripe: PaymentsSimulator, payments: PaymentsClient, endpoint: WebhookEndpoint
) -> None:
    link = await make_link(payments, "arr-11")
    payment = await stripe.pay(link.id)

    assert payment.webhook_status == 200
    [delivery] = endpoint.deliveries
    event = json.loads(delivery.body)
    assert (event["type"], event["object"], event["livemode"]) == (
        "checkout.session.completed",
        "event",
        False,
    )
    session = event["data"]["object"]
    assert (session["object"], session["payment_link"]) == ("checkout.session", link.id)
    assert (session["amount_total"], session["currency"]) == (12345, "usd")
    assert (session["payment_status"], session["metadata"]) == ("paid", METADATA)
    assert (event["id"], session["id"]) == (payment.event_id, payment.id)

    # Stripe's scheme, computed here independently: HMAC-SHA256 of "t.body".
    header = delivery.headers["stripe-signature"]
    parts = dict(part.split("=", 1) for part in header.split(","))
    signed = parts["t"].encode() + b"." + delivery.body
    expected = hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert parts["v1"] == expected
    assert stripe_signature(WEBHOOK_SECRET, delivery.body, int(parts["t"])) == header

    verify_webhook(delivery.body, header, WEBHOOK_SECRET)
    with pytest.raises(WebhookSignatureError):
        verify_webhook(delivery.body.replace(b"12345", b"99999"), header, WEBHOOK_SECRET)
    with pytest.raises(WebhookSignatureError):
        verify_webhook(delivery.body, header, "whsec_other")
    with pytest.raises(WebhookSignatureError):
        verify_webhook(delivery.body, header, WEBHOOK_SECRET, now=int(parts["t"]) + 301)

    partial = await stripe.pay(link.id, amount=5000)
    assert json.loads(endpoint.deliveries[-1].body)["data"]["object"]["amount_total"] == 5000
    assert [p.amount_total for p in stripe.payments] == [12345, partial.amount_total]


def test_bracket_notation_decodes_like_stripes() -> None:
    decoded = decode_params(
        [
            ("line_items[0][price]", "price_1"),
            ("line_items[0][quantity]", "2"),
            ("metadata[account_id]", "A-1"),
            ("expand[]", "line_items"),
            ("expand[]", "product"),
        ]
    )
    assert decoded == {
        "line_items": {"0": {"price": "price_1", "quantity": "2"}},
        "metadata": {"account_id": "A-1"},
        "expand": ["line_items", "product"],
    }
    for bad in (
        [("a", "1"), ("a[b]", "2")],
        [("a[]", "1"), ("a[0]", "2")],
        [("a[b", "1")],
        [("a[][b]", "1")],
    ):
        with pytest.raises(ValueError):
            decode_params(bad)


async def test_unreachable_apis_are_retryable() -> None:
    port = closed_port()
    async with PaymentsClient(f"http://127.0.0.1:{port}", STRIPE_KEY) as payments:
        with pytest.raises(ProviderError) as caught:
            await make_link(payments, "arr-12")
    assert (caught.value.retryable, caught.value.provider) == (True, "payments")
    async with LedgerClient(f"http://127.0.0.1:{port}", CRM_TOKEN) as ledger:
        with pytest.raises(ProviderError) as caught:
            await ledger.account("A-1")
    assert (caught.value.retryable, caught.value.provider) == (True, "ledger")


# -- ledger ------------------------------------------------------------------------------------


async def post(ledger: LedgerClient, key: str, amount: str = "400.00", **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "account_id": "A-1",
        "kind": "settlement",
        "amount": Decimal(amount),
        "currency": "USD",
        "reference": "arr-1",
        "memo": "Settle 600 of 1000",
        "idempotency_key": key,
    }
    return await ledger.post_adjustment(**(fields | overrides))


async def test_adjustment_is_booked_and_lowers_the_balance(
    crm: CrmSimulator, ledger: LedgerClient
) -> None:
    crm.seed_account("A-1", Decimal("1000.00"), "USD", debtor_name="Dana Debtor")
    adjustment = await post(ledger, "arr-1/book")

    assert adjustment.id.startswith("adj_")
    assert (adjustment.account_id, adjustment.kind, adjustment.status) == (
        "A-1",
        "settlement",
        "posted",
    )
    assert (adjustment.amount, adjustment.currency) == (Decimal("400.00"), "USD")
    assert (adjustment.reference, adjustment.memo) == ("arr-1", "Settle 600 of 1000")
    assert adjustment.created_at.utcoffset() is not None
    assert await ledger.account("A-1") == {
        "account_id": "A-1",
        "balance": "600.00",
        "currency": "USD",
        "debtor_name": "Dana Debtor",
    }
    assert await ledger.adjustments("A-1") == [adjustment]
    assert await ledger.adjustments("A-2") == []

    # A charge raises the balance.
    await post(ledger, "arr-1/fee", amount="25", kind="fee")
    assert crm.balance("A-1") == Decimal("625.00")


async def test_unknown_account_reads_as_none_but_takes_adjustments(
    ledger: LedgerClient,
) -> None:
    assert await ledger.account("nobody") is None
    adjustment = await post(ledger, "nobody/book", account_id="nobody")
    assert adjustment.account_id == "nobody"


async def test_posting_is_idempotent(
    crm: CrmSimulator, ledger: LedgerClient, crm_raw: httpx.AsyncClient
) -> None:
    crm.seed_account("A-1", "1000.00")
    first = await post(ledger, "arr-2/book")
    again = await post(ledger, "arr-2/book")
    racing = await asyncio.gather(*(post(ledger, "arr-3/book", amount="1.00") for _ in range(5)))

    assert again == first
    assert len({a.id for a in racing}) == 1
    assert crm.executed["post_adjustment"] == 2
    assert len(crm.adjustments) == 2
    assert crm.balance("A-1") == Decimal("599.00")

    body = {"kind": "payment", "amount": "5", "currency": "USD", "reference": "r", "memo": ""}
    headers = {"Idempotency-Key": "raw-1"}
    one = await crm_raw.post("/v1/accounts/A-1/adjustments", json=body, headers=headers)
    two = await crm_raw.post("/v1/accounts/A-1/adjustments", json=body, headers=headers)
    assert one.status_code == two.status_code == 201
    assert "idempotent-replayed" not in one.headers
    assert two.headers["idempotent-replayed"] == "true"
    assert two.json() == one.json()


async def test_key_reused_for_another_adjustment_is_rejected(
    crm: CrmSimulator, ledger: LedgerClient
) -> None:
    await post(ledger, "arr-4/book", amount="400.00")
    with pytest.raises(ProviderError) as caught:
        await post(ledger, "arr-4/book", amount="300.00")
    err = caught.value
    assert (err.retryable, err.status_code, err.code) == (False, 409, "idempotency_key_reused")
    assert len(crm.adjustments) == 1


async def test_wrong_token_is_rejected(crm: CrmSimulator) -> None:
    async with LedgerClient(crm.base_url, "not-the-token") as bad:
        with pytest.raises(ProviderError) as caught:
            await post(bad, "arr-5/book")
    err = caught.value
    assert (err.retryable, err.status_code, err.code, err.provider) == (
        False,
        401,
        "unauthorized",
        "ledger",
    )
    assert crm.adjustments == {}


GOOD = {"kind": "settlement", "amount": "10.00", "currency": "USD", "reference": "r", "memo": ""}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (GOOD | {"kind": "bribe"}, "kind"),
        (GOOD | {"amount": "-5"}, "amount"),
        (GOOD | {"amount": "0.00"}, "amount"),
        (GOOD | {"amount": "1.234"}, "amount"),
        (GOOD | {"amount": 10.5}, "amount"),
        (GOOD | {"currency": "usd"}, "currency"),
        (GOOD | {"reference": ""}, "reference"),
        ({k: v for k, v in GOOD.items() if k != "reference"}, "reference"),
        (GOOD | {"colour": "red"}, "colour"),
    ],
)
async def test_invalid_adjustment_names_the_field(
    crm: CrmSimulator, crm_raw: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await crm_raw.post("/v1/accounts/A-1/adjustments", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_failed", field)
    assert crm.adjustments == {}


async def test_client_reports_ledger_rejections_as_permanent(
    crm: CrmSimulator, ledger: LedgerClient
) -> None:
    with pytest.raises(ProviderError) as caught:
        await post(ledger, "bad/1", amount="1.234")
    assert (caught.value.retryable, caught.value.status_code) == (False, 422)
    assert (caught.value.code, "(field: amount)" in str(caught.value)) == (
        "validation_failed",
        True,
    )

    crm.seed_account("A-1", "100.00", "EUR")
    with pytest.raises(ProviderError) as caught:
        await post(ledger, "bad/2", amount="10.00")
    assert (caught.value.status_code, caught.value.code) == (422, "currency_mismatch")
    with pytest.raises(ProviderError) as caught:
        await post(ledger, "bad/3", amount="100.01", currency="EUR")
    assert (caught.value.status_code, caught.value.code) == (422, "exceeds_balance")
    assert crm.adjustments == {}


async def test_reversal_is_idempotent(crm: CrmSimulator, ledger: LedgerClient) -> None:
    crm.seed_account("A-1", "1000.00")
    adjustment = await post(ledger, "arr-6/book")
    assert crm.balance("A-1") == Decimal("600.00")

    reversed_ = await ledger.reverse_adjustment(
        adjustment.id, reason="debtor cancelled", idempotency_key="arr-6/undo"
    )
    assert (reversed_.id, reversed_.status) == (adjustment.id, "reversed")
    assert reversed_.reversal_reason == "debtor cancelled"
    assert reversed_.reversed_at is not None
    assert crm.balance("A-1") == Decimal("1000.00")

    # A compensation retried under a new key (say, after the workflow's own
    # retry) still succeeds and changes nothing.
    twice = await ledger.reverse_adjustment(
        adjustment.id, reason="retried", idempotency_key="arr-6/undo-again"
    )
    assert twice == reversed_
    assert crm.balance("A-1") == Decimal("1000.00")
    assert (await ledger.account("A-1") or {})["balance"] == "1000.00"

    with pytest.raises(ProviderError) as caught:
        await ledger.reverse_adjustment("adj_nope", reason="x", idempotency_key="nope")
    err = caught.value
    assert (err.retryable, err.status_code, err.code) == (False, 404, "not_found")


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (403, False)]
)
async def test_ledger_failures_are_classified(
    crm: CrmSimulator, ledger: LedgerClient, status: int, retryable: bool
) -> None:
    crm.fail_next(1, status=status)
    with pytest.raises(ProviderError) as caught:
        await post(ledger, "arr-7/book")
    assert (caught.value.retryable, caught.value.status_code) == (retryable, status)
    assert crm.adjustments == {}
    await post(ledger, "arr-7/book")
    assert crm.executed["post_adjustment"] == 1


async def test_ledger_failures_can_target_a_path(
    crm: CrmSimulator, ledger: LedgerClient, crm_raw: httpx.AsyncClient
) -> None:
    crm.fail_next(1, status=503, path_prefix="/v1/adjustments/")
    adjustment = await post(ledger, "arr-8/book")
    with pytest.raises(ProviderError) as caught:
        await ledger.reverse_adjustment(adjustment.id, reason="x", idempotency_key="arr-8/undo")
    assert caught.value.retryable is True
    assert crm.adjustments[adjustment.id].status == "posted"
    undone = await ledger.reverse_adjustment(
        adjustment.id, reason="x", idempotency_key="arr-8/undo"
    )
    assert undone.status == "reversed"

    crm.fail_next(1, status=429)
    limited = await crm_raw.get("/v1/accounts/A-1/adjustments")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "1")
    assert limited.json()["error"]["code"] == "too_many_requests"
    crm.fail_next(2)
    crm.clear_failures()
    assert (await crm_raw.get("/v1/accounts/A-1/adjustments")).status_code == 200
