"""A local, protocol-faithful stand-in for the part of Stripe's API Recoup uses.

Prices and Payment Links, spoken the way Stripe speaks them: form-encoded
bodies with bracket notation (``line_items[0][price]``), ``Authorization:
Bearer sk_test_…``, Stripe's object JSON and error bodies, unknown parameters
rejected, and Stripe's idempotency semantics (``Idempotency-Key`` replays the
first response with ``Idempotent-Replayed: true``; the same key with another
endpoint or other parameters is an ``idempotency_error``). So the production
``adapters.payments.PaymentsClient`` runs against it unchanged.

A debtor paying is scripted with ``pay``, which sends a signed
``checkout.session.completed`` event to the configured webhook, as Stripe does
for a completed Payment Link checkout. ``fail_next`` injects outages.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import string
import time
from collections import Counter
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import httpx
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.http import IdempotencyMismatch, JsonApiSimulator, StoredResponse

log = logging.getLogger(__name__)

API_VERSION = "2024-06-20"
DEFAULT_API_KEY = "sk_test_simulator"
DEFAULT_WEBHOOK_SECRET = "whsec_simulator"
DEFAULT_LINK_BASE_URL = "https://buy.stripe.com"

# Stripe's currency exponents: most currencies are charged in hundredths,
# these in whole units, and these five in thousandths (last digit must be 0).
# fmt: off
ZERO_DECIMAL_CURRENCIES = frozenset({
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
    "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
})
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
SUPPORTED_CURRENCIES = frozenset({
    "usd", "eur", "gbp", "cad", "aud", "nzd", "chf", "sek", "nok", "dkk", "isk", "pln",
    "czk", "huf", "ron", "bgn", "try", "ils", "aed", "sar", "qar", "inr", "sgd", "hkd",
    "twd", "thb", "myr", "php", "idr", "cny", "mxn", "brl", "cop", "pen", "ars", "uyu",
    "zar", "ngn", "kes", "egp", "mad",
}) | ZERO_DECIMAL_CURRENCIES | THREE_DECIMAL_CURRENCIES
# fmt: on
MAX_UNIT_AMOUNT = 99_999_999  # eight digits, Stripe's ceiling for an amount

_METADATA_KEYS = 50
_METADATA_KEY_LENGTH = 40
_METADATA_VALUE_LENGTH = 500
_IDEMPOTENCY_KEY_LENGTH = 255
_PARAM_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_INTEGER = re.compile(r"^-?\d+$")
_ALPHABET = string.ascii_letters + string.digits


def stripe_signature(secret: str, payload: bytes, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value for ``payload`` sent at ``timestamp``.

    Stripe's scheme: ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>">``
    keyed with the endpoint's signing secret (``whsec_…``), used as is.
    """
    signed = str(timestamp).encode() + b"." + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def decode_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket notation as nested values.

    ``a[b]=1`` gives ``{"a": {"b": "1"}}``; ``a[0][b]=1`` gives
    ``{"a": {"0": {"b": "1"}}}`` (indexed arrays stay dicts of digit keys until
    a parameter is read as a list); ``a[]=1&a[]=2`` gives ``{"a": ["1", "2"]}``.
    Raises ValueError naming the parameter for malformed or conflicting names.
    """
    root: dict[str, Any] = {}
    for name, value in pairs:
        match = _PARAM_NAME.match(name)
        if match is None:
            raise ValueError(name)
        *parents, last = [match.group(1), *_SEGMENT.findall(match.group(2))]
        if last == "":
            # ``name[]``: append to the list that ``name`` holds.
            *parents, last = parents
            container = _walk(root, parents, name)
            existing = container.setdefault(last, [])
            if not isinstance(existing, list):
                raise ValueError(name)
            existing.append(value)
            continue
        container = _walk(root, parents, name)
        if isinstance(container.get(last), dict | list):
            raise ValueError(name)
        container[last] = value
    return root


def _walk(root: dict[str, Any], segments: list[str], name: str) -> dict[str, Any]:
    node = root
    for segment in segments:
        child = node.setdefault(segment, {}) if segment else None
        if not isinstance(child, dict):
            raise ValueError(name)
        node = child
    return node


class SimulatedPrice(BaseModel):
    """A one-time Price (and the Product its ``product_data`` created)."""

    id: str
    product: str
    product_name: str
    currency: str
    unit_amount: int
    nickname: str | None = None
    metadata: dict[str, str]
    created: int


class SimulatedLineItem(BaseModel):
    id: str
    price: str
    quantity: int
    amount_total: int


class SimulatedLink(BaseModel):
    """A Payment Link; ``active`` flips with deactivate/reactivate updates."""

    id: str
    url: str
    active: bool = True
    currency: str
    line_items: list[SimulatedLineItem]
    metadata: dict[str, str]
    created: int

    @property
    def amount_total(self) -> int:
        return sum(item.amount_total for item in self.line_items)


class SimulatedPayment(BaseModel):
    """A completed checkout through a link, and how its webhook delivery went.

    ``webhook_status`` is the receiver's HTTP status, or None when no webhook
    is configured or the receiver could not be reached.
    """

    id: str
    link_id: str
    payment_intent: str
    amount_total: int
    currency: str
    metadata: dict[str, str]
    event_id: str
    created: int
    webhook_status: int | None = None


class _StripeError(Exception):
    """Rendered as Stripe's error body: ``{"error": {"type", "code"?, "message", "param"?}}``."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        # Stripe leaves out what does not apply rather than sending nulls.
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


def _invalid(message: str, *, param: str | None = None, code: str | None = None) -> _StripeError:
    return _StripeError(400, "invalid_request_error", message, code=code, param=param)


Operation = Callable[[dict[str, Any], dict[str, str]], tuple[int, dict[str, Any]]]


class PaymentsSimulator(JsonApiSimulator):
    """Stripe's Prices and Payment Links on the running event loop (uvicorn).

    ``links``, ``prices`` (by id) and ``payments`` show what exists;
    ``executed`` counts requests that really ran by operation, replays
    excluded, so a test can prove a retry created nothing new. Outages from
    ``fail_next`` answer with Stripe's error types: 5xx ``api_error``, 429
    ``rate_limit_error``, 402 ``card_error``, 409 ``idempotency_error``, other
    4xx ``invalid_request_error``.
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        webhook_url: str | None = None,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        link_base_url: str = DEFAULT_LINK_BASE_URL,
    ) -> None:
        if not api_key.startswith("sk_test_"):
            raise ValueError("the simulator is test mode: its key must start with sk_test_")
        self.api_key = api_key
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.link_base_url = link_base_url.rstrip("/")
        self.prices: dict[str, SimulatedPrice] = {}
        self.links: dict[str, SimulatedLink] = {}
        self.payments: list[SimulatedPayment] = []
        self.executed: Counter[str] = Counter()
        super().__init__(self._build_app(), name="Payments simulator")

    @property
    def creates_executed(self) -> int:
        """Price and Payment Link creations that really ran (replays excluded)."""
        return self.executed["create_price"] + self.executed["create_payment_link"]

    # -- scripting ---------------------------------------------------------

    async def pay(self, link_id: str, amount: int | None = None) -> SimulatedPayment:
        """A debtor completes checkout on ``link_id``, paying ``amount`` minor units.

        ``amount`` defaults to the link's total. Raises LookupError for an
        unknown link and ValueError for a deactivated one (Stripe shows the
        debtor an expiry page instead of a checkout). With a ``webhook_url``,
        the signed ``checkout.session.completed`` event is POSTed once before
        this returns; Stripe's days of redelivery are not simulated.
        """
        link = self.links.get(link_id)
        if link is None:
            raise LookupError(f"no payment link {link_id}")
        if not link.active:
            raise ValueError(f"payment link {link_id} is deactivated")
        total = link.amount_total if amount is None else amount
        if total <= 0:
            raise ValueError("amount must be positive")
        payment = SimulatedPayment(
            id="cs_test_" + _token(58),
            link_id=link.id,
            payment_intent="pi_" + _token(24),
            amount_total=total,
            currency=link.currency,
            # Stripe copies a Payment Link's metadata onto its Checkout Sessions.
            metadata=dict(link.metadata),
            event_id="evt_" + _token(24),
            created=int(time.time()),
        )
        self.payments.append(payment)
        if self.webhook_url is not None:
            payment.webhook_status = await self._deliver(self.webhook_url, payment)
        return payment

    # -- HTTP app ------------------------------------------------------------

    def _build_app(self) -> Starlette:
        def route(path: str, method: str, operation: Operation) -> Route:
            async def endpoint(request: Request) -> Response:
                return await self._serve(request, operation)

            return Route(path, endpoint, methods=[method])

        async def unrecognized(request: Request) -> Response:
            return await self._serve(request, self._unrecognized(request))

        everything = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(
            routes=[
                route("/v1/prices", "POST", self._create_price),
                route("/v1/payment_links", "POST", self._create_link),
                route("/v1/payment_links/{id}", "GET", self._retrieve_link),
                route("/v1/payment_links/{id}", "POST", self._update_link),
                route("/v1/payment_links/{id}/line_items", "GET", self._list_line_items),
                Route("/{path:path}", unrecognized, methods=everything),
            ]
        )

    async def _serve(self, request: Request, operation: Operation) -> Response:
        request_id = "req_" + _token(14)
        headers = {"Request-Id": request_id}
        try:
            injected = self._failures.take(request.url.path)
            if injected is not None:
                raise _injected_error(injected)
            self._authenticate(request)
            params = await _params(request)
            key = request.headers.get("idempotency-key") if request.method == "POST" else None
            if key is not None:
                replay = self._replay(key, request, params)
                if replay is not None:
                    headers |= {
                        "Idempotent-Replayed": "true",
                        "Original-Request": replay.request_id,
                        "Idempotency-Key": key,
                    }
                    return JSONResponse(replay.body, replay.status, headers=headers)
                headers["Idempotency-Key"] = key
            # From here to ``save`` nothing awaits, so concurrent retries of one
            # key cannot both execute.
            status, body = operation(params, dict(request.path_params))
            if key is not None:
                stored = StoredResponse(
                    request.method, request.url.path, params, status, body, request_id
                )
                self._idempotency.save(key, stored)
            return JSONResponse(body, status, headers=headers)
        except _StripeError as exc:
            # Validation failures are not stored under the key: Stripe only
            # saves results of requests whose endpoint started executing.
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="Stripe"'
            return JSONResponse(exc.body(), exc.status, headers=headers)

    def _authenticate(self, request: Request) -> None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise _StripeError(
                401,
                "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the"
                " Authorization header, using Bearer auth (e.g. 'Authorization: Bearer"
                " YOUR_SECRET_KEY').",
            )
        key = credential.strip()
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            shown = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else "***"
            raise _StripeError(401, "invalid_request_error", f"Invalid API Key provided: {shown}")

    def _replay(self, key: str, request: Request, params: dict[str, Any]) -> StoredResponse | None:
        if not key or len(key) > _IDEMPOTENCY_KEY_LENGTH:
            raise _invalid(
                f"Idempotency keys must be 1 to {_IDEMPOTENCY_KEY_LENGTH} characters long."
            )
        try:
            return self._idempotency.lookup(key, request.method, request.url.path, params)
        except IdempotencyMismatch as exc:
            if exc.same_endpoint:
                message = (
                    "Keys for idempotent requests can only be used with the same parameters"
                    " they were first used with. Try using a key other than"
                    f" '{key}' if you meant to execute a different request."
                )
            else:
                message = (
                    "Keys for idempotent requests can only be used for the same endpoint they"
                    f" were first used for ('{request.url.path}' vs '{exc.first.path}'). Try"
                    f" using a key other than '{key}' if you meant to execute a different"
                    " request."
                )
            raise _StripeError(400, "idempotency_error", message) from exc

    def _unrecognized(self, request: Request) -> Operation:
        def operation(params: dict[str, Any], path: dict[str, str]) -> tuple[int, dict[str, Any]]:
            raise _StripeError(
                404,
                "invalid_request_error",
                f"Unrecognized request URL ({request.method}: {request.url.path}).",
            )

        return operation

    # -- operations --------------------------------------------------------------

    def _create_price(
        self, params: dict[str, Any], path: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        _reject_unknown(
            params, {"currency", "unit_amount", "product", "product_data", "metadata", "nickname"}
        )
        currency = _currency(params)
        unit_amount = _integer(_require(params, "unit_amount"), "unit_amount")
        if unit_amount < 0:
            raise _invalid(
                "This value must be greater than or equal to 0.",
                param="unit_amount",
            )
        if unit_amount > MAX_UNIT_AMOUNT:
            raise _invalid(
                f"This value must be less than or equal to {MAX_UNIT_AMOUNT}.",
                param="unit_amount",
                code="amount_too_large",
            )
        if currency in THREE_DECIMAL_CURRENCIES and unit_amount % 10:
            raise _invalid(
                f"Amounts in {currency.upper()} must be divisible by 10.", param="unit_amount"
            )
        if "product" in params and "product_data" in params:
            raise _invalid(
                "You may only specify one of these parameters: product, product_data.",
                param="product",
                code="parameters_exclusive",
            )
        if "product" in params:
            # Only inline products exist here; a product id can never be found.
            product = _string(params["product"], "product")
            raise _invalid(
                f"No such product: '{product}'", param="product", code="resource_missing"
            )
        if "product_data" not in params:
            raise _invalid(
                "Missing required param: product.", param="product", code="parameter_missing"
            )
        product_data = _hash(params["product_data"], "product_data")
        _reject_unknown(product_data, {"name"}, prefix="product_data")
        name = _string(_require(product_data, "name", "product_data[name]"), "product_data[name]")
        nickname = _string(params["nickname"], "nickname") if "nickname" in params else None
        price = SimulatedPrice(
            id="price_" + _token(24),
            product="prod_" + _token(14),
            product_name=name,
            currency=currency,
            unit_amount=unit_amount,
            nickname=nickname,
            metadata=_metadata(params),
            created=int(time.time()),
        )
        self.prices[price.id] = price
        self.executed["create_price"] += 1
        return 200, _price_json(price)

    def _create_link(
        self, params: dict[str, Any], path: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, {"line_items", "metadata", "expand"})
        expand = _expand(params, {"line_items"})
        items: list[SimulatedLineItem] = []
        for index, raw in enumerate(_list(_require(params, "line_items"), "line_items")):
            where = f"line_items[{index}]"
            item = _hash(raw, where)
            _reject_unknown(item, {"price", "quantity"}, prefix=where)
            price_id = _string(_require(item, "price", f"{where}[price]"), f"{where}[price]")
            quantity = _integer(
                _require(item, "quantity", f"{where}[quantity]"), f"{where}[quantity]"
            )
            price = self.prices.get(price_id)
            if price is None:
                raise _invalid(
                    f"No such price: '{price_id}'", param=f"{where}[price]", code="resource_missing"
                )
            if quantity < 1:
                raise _invalid(
                    "This value must be greater than or equal to 1.", param=f"{where}[quantity]"
                )
            items.append(
                SimulatedLineItem(
                    id="li_" + _token(24),
                    price=price.id,
                    quantity=quantity,
                    amount_total=price.unit_amount * quantity,
                )
            )
        currencies = {self.prices[item.price].currency for item in items}
        if len(currencies) != 1:
            raise _invalid(
                "All prices on a payment link must use the same currency.", param="line_items"
            )
        if sum(item.amount_total for item in items) <= 0:
            raise _invalid(
                "A payment link must have a total amount greater than zero.",
                param="line_items",
                code="amount_too_small",
            )
        link_token = "test_" + _token(14)
        link = SimulatedLink(
            id="plink_" + _token(24),
            url=f"{self.link_base_url}/{link_token}",
            currency=currencies.pop(),
            line_items=items,
            metadata=_metadata(params),
            created=int(time.time()),
        )
        self.links[link.id] = link
        self.executed["create_payment_link"] += 1
        return 200, self._link_json(link, expand)

    def _retrieve_link(
        self, params: dict[str, Any], path: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, {"expand"})
        return 200, self._link_json(self._link(path["id"]), _expand(params, {"line_items"}))

    def _update_link(
        self, params: dict[str, Any], path: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        link = self._link(path["id"])
        _reject_unknown(params, {"active", "metadata", "expand"})
        expand = _expand(params, {"line_items"})
        active = _boolean(params["active"], "active") if "active" in params else link.active
        metadata = _merge_metadata(link.metadata, params)
        link.active = active
        link.metadata = metadata
        self.executed["update_payment_link"] += 1
        return 200, self._link_json(link, expand)

    def _list_line_items(
        self, params: dict[str, Any], path: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, {"limit", "starting_after", "ending_before", "expand"})
        return 200, self._line_items_json(self._link(path["id"]))

    def _link(self, link_id: str) -> SimulatedLink:
        link = self.links.get(link_id)
        if link is None:
            raise _StripeError(
                404,
                "invalid_request_error",
                f"No such payment_link: '{link_id}'",
                code="resource_missing",
                param="id",
            )
        return link

    # -- JSON ------------------------------------------------------------------

    def _link_json(self, link: SimulatedLink, expand: set[str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": link.id,
            "object": "payment_link",
            "active": link.active,
            "after_completion": {
                "hosted_confirmation": {"custom_message": None},
                "type": "hosted_confirmation",
            },
            "allow_promotion_codes": False,
            "application_fee_amount": None,
            "application_fee_percent": None,
            "automatic_tax": {"enabled": False, "liability": None},
            "billing_address_collection": "auto",
            "currency": link.currency,
            "customer_creation": "if_required",
            "livemode": False,
            "metadata": dict(link.metadata),
            "on_behalf_of": None,
            "payment_method_types": None,
            "submit_type": "auto",
            "transfer_data": None,
            "url": link.url,
        }
        if "line_items" in expand:
            body["line_items"] = self._line_items_json(link)
        return body

    def _line_items_json(self, link: SimulatedLink) -> dict[str, Any]:
        data = []
        for item in link.line_items:
            price = self.prices[item.price]
            data.append(
                {
                    "id": item.id,
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": item.amount_total,
                    "amount_tax": 0,
                    "amount_total": item.amount_total,
                    "currency": price.currency,
                    "description": price.product_name,
                    "price": _price_json(price),
                    "quantity": item.quantity,
                }
            )
        return {
            "object": "list",
            "data": data,
            "has_more": False,
            "url": f"/v1/payment_links/{link.id}/line_items",
        }

    # -- webhooks ------------------------------------------------------------------

    async def _deliver(self, url: str, payment: SimulatedPayment) -> int | None:
        event = _checkout_completed(payment)
        payload = json.dumps(event, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": stripe_signature(self.webhook_secret, payload, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
                response = await http.post(url, content=payload, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("webhook %s to %s failed: %s", event["id"], url, exc)
            return None
        if not response.is_success:
            log.warning("webhook %s to %s answered %s", event["id"], url, response.status_code)
        return response.status_code


def _checkout_completed(payment: SimulatedPayment) -> dict[str, Any]:
    session = {
        "id": payment.id,
        "object": "checkout.session",
        "amount_subtotal": payment.amount_total,
        "amount_total": payment.amount_total,
        "client_reference_id": None,
        "created": payment.created,
        "currency": payment.currency,
        "customer": None,
        "livemode": False,
        "metadata": payment.metadata,
        "mode": "payment",
        "payment_intent": payment.payment_intent,
        "payment_link": payment.link_id,
        "payment_status": "paid",
        "status": "complete",
    }
    return {
        "id": payment.event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": payment.created,
        "data": {"object": session},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
    }


def _price_json(price: SimulatedPrice) -> dict[str, Any]:
    return {
        "id": price.id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": price.created,
        "currency": price.currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": dict(price.metadata),
        "nickname": price.nickname,
        "product": price.product,
        "recurring": None,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": price.unit_amount,
        "unit_amount_decimal": str(price.unit_amount),
    }


# -- request parsing and validation ------------------------------------------------------


async def _params(request: Request) -> dict[str, Any]:
    """The request's parameters: the query string for GET, the form body for POST."""
    if request.method == "GET":
        pairs = list(request.query_params.multi_items())
    else:
        body = await request.body()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if body and content_type != "application/x-www-form-urlencoded":
            raise _invalid(
                "Invalid request: the Stripe API takes form-encoded bodies"
                " (application/x-www-form-urlencoded)."
            )
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise _invalid("Invalid request: the body is not valid UTF-8.") from exc
    try:
        return decode_params(pairs)
    except ValueError as exc:
        raise _invalid(f"Invalid parameter name or structure: {exc}", param=str(exc)) from exc


def _injected_error(status: int) -> _StripeError:
    if status >= 500:
        return _StripeError(status, "api_error", "An unknown error occurred")
    if status == 429:
        return _StripeError(
            429,
            "rate_limit_error",
            "Too many requests hit the API too quickly. We recommend an exponential backoff"
            " of your requests.",
            code="rate_limit",
        )
    if status == 402:
        return _StripeError(402, "card_error", "Your card was declined.", code="card_declined")
    if status == 409:
        return _StripeError(
            409,
            "idempotency_error",
            "There is currently another in-progress request using this Idempotent Key. Please"
            " try again later.",
            code="idempotency_key_in_use",
        )
    return _StripeError(status, "invalid_request_error", HTTPStatus(status).phrase)


def _reject_unknown(params: dict[str, Any], allowed: set[str], *, prefix: str = "") -> None:
    for name in params:
        if name not in allowed:
            full = f"{prefix}[{name}]" if prefix else name
            raise _invalid(
                f"Received unknown parameter: {full}", param=full, code="parameter_unknown"
            )


def _require(params: dict[str, Any], name: str, param: str | None = None) -> Any:
    if name not in params:
        shown = param or name
        raise _invalid(f"Missing required param: {shown}.", param=shown, code="parameter_missing")
    return params[name]


def _string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"Invalid string: {value!r}", param=param)
    if value == "":
        raise _invalid(
            f"You passed an empty string for '{param}'. We assume empty values are an attempt"
            f" to unset a parameter; however '{param}' cannot be unset. You should remove"
            f" '{param}' from your request or supply a non-empty value.",
            param=param,
            code="parameter_invalid_empty",
        )
    return value


def _integer(value: Any, param: str) -> int:
    if not isinstance(value, str) or not _INTEGER.match(value):
        raise _invalid(f"Invalid integer: {value}", param=param, code="parameter_invalid_integer")
    return int(value)


def _boolean(value: Any, param: str) -> bool:
    if value not in ("true", "false"):
        raise _invalid(f"Invalid boolean: {value}", param=param)
    return bool(value == "true")


def _hash(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid("Invalid hash", param=param)
    return value


def _list(value: Any, param: str) -> list[Any]:
    """An array parameter, sent as ``name[]=…`` or ``name[0]=…&name[1]=…``."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and value and all(k.isdigit() for k in value):
        indices = sorted(value, key=int)
        if [int(k) for k in indices] != list(range(len(indices))):
            raise _invalid("Invalid array: indices must count up from 0", param=param)
        return [value[k] for k in indices]
    raise _invalid("Invalid array", param=param)


def _expand(params: dict[str, Any], allowed: set[str]) -> set[str]:
    if "expand" not in params:
        return set()
    fields = _list(params["expand"], "expand")
    for index, field in enumerate(fields):
        if field not in allowed:
            raise _invalid(f"This property cannot be expanded ({field}).", param=f"expand[{index}]")
    return set(fields)


def _currency(params: dict[str, Any]) -> str:
    currency = _string(_require(params, "currency"), "currency").lower()
    if currency not in SUPPORTED_CURRENCIES:
        raise _invalid(f"Invalid currency: {currency}.", param="currency")
    return currency


def _metadata(params: dict[str, Any]) -> dict[str, str]:
    return _merge_metadata({}, params)


def _merge_metadata(current: dict[str, str], params: dict[str, Any]) -> dict[str, str]:
    """Stripe's metadata update: keys merge, ``""`` unsets a key, ``metadata=""`` all."""
    if "metadata" not in params:
        return dict(current)
    raw = params["metadata"]
    if raw == "":
        return {}
    merged = dict(current)
    for key, value in _hash(raw, "metadata").items():
        param = f"metadata[{key}]"
        if not isinstance(value, str):
            raise _invalid("Invalid string: metadata values must be strings", param=param)
        if len(key) > _METADATA_KEY_LENGTH:
            raise _invalid(
                f"Metadata keys can have up to {_METADATA_KEY_LENGTH} characters.", param=param
            )
        if len(value) > _METADATA_VALUE_LENGTH:
            raise _invalid(
                f"Metadata values can have up to {_METADATA_VALUE_LENGTH} characters.", param=param
            )
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > _METADATA_KEYS:
        raise _invalid(f"You can have at most {_METADATA_KEYS} metadata keys.", param="metadata")
    return merged


def _token(length: int) -> str:
    # Random, not seeded: ids must not repeat across simulator restarts.
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
