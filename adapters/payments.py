"""Payment links over Stripe's REST API, with failures classified once.

Speaks Stripe's wire protocol with httpx (no SDK): form-encoded bodies in
bracket notation, Bearer auth, ``Idempotency-Key`` on every POST. The same
client runs against api.stripe.com and against ``simulators.payments``.

A link for an arrangement takes two creates (a Price, then a Payment Link for
it). Each gets its own idempotency key derived from the caller's, so a retry
after a crash between the two replays the Price instead of making a second
one, and then creates (or replays) the link.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from adapters.errors import AdapterError, ProviderError
from adapters.http_api import JsonApiClient, bearer_http

PROVIDER = "payments"
DEFAULT_BASE_URL = "https://api.stripe.com"

# Stripe amounts are integers in the currency's smallest unit. These are
# charged in whole units, these in thousandths (a multiple of 10), the rest
# in hundredths (docs: /docs/currencies#zero-decimal).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
WEBHOOK_TOLERANCE_SECONDS = 300  # Stripe's libraries' default

_M = TypeVar("_M", bound=BaseModel)


class PaymentLink(BaseModel):
    """A Payment Link: where the debtor pays ``amount`` (major units) in ``currency``.

    ``currency`` is upper case, as in our domain; Stripe's own is lower case.
    """

    id: str
    url: str
    active: bool
    amount: Decimal
    currency: str


class WebhookSignatureError(AdapterError):
    """A webhook's ``Stripe-Signature`` is missing, stale or does not match."""


def currency_exponent(currency: str) -> int:
    """How many decimals Stripe's minor unit has for ``currency`` (0, 2 or 3)."""
    code = currency.upper()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    return 3 if code in THREE_DECIMAL_CURRENCIES else 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` in Stripe's integer minor units, exactly, or ValueError.

    Never rounds: 12.345 USD or 1000.5 JPY cannot be charged as asked, and
    charging something else would misstate the arrangement.
    """
    if not amount.is_finite():
        raise ValueError(f"{amount} is not an amount")
    exponent = currency_exponent(currency)
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency.upper()} has more than {exponent} decimals")
    minor = int(scaled)
    if exponent == 3 and minor % 10:
        raise ValueError(f"Stripe charges {currency.upper()} in multiples of 0.010")
    return minor


def from_minor_units(minor: int, currency: str) -> Decimal:
    """The inverse of ``to_minor_units``: 1234 USD → Decimal("12.34")."""
    return Decimal(minor).scaleb(-currency_exponent(currency))


def verify_webhook(
    payload: bytes,
    signature_header: str,
    secret: str,
    *,
    tolerance: float = WEBHOOK_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Check a webhook's ``Stripe-Signature`` as Stripe's libraries do, or raise.

    The header is ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``,
    possibly with several ``v1`` (during secret rotation); one must match and
    ``t`` must be within ``tolerance`` seconds, which stops replays. Verify the
    raw bytes received: re-serialised JSON will not match.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for part in signature_header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookSignatureError("Stripe-Signature lacks a timestamp or a v1 signature")
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise WebhookSignatureError(f"Stripe-Signature timestamp {timestamp} is out of tolerance")
    signed = str(timestamp).encode() + b"." + payload
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookSignatureError("no Stripe-Signature v1 matches the payload")


class _LineItem(BaseModel):
    amount_total: int


class _LineItems(BaseModel):
    data: list[_LineItem]


class _LinkObject(BaseModel):
    id: str
    url: str
    active: bool
    currency: str
    line_items: _LineItems


class _PriceObject(BaseModel):
    id: str


class PaymentsClient(JsonApiClient):
    """An async Stripe client for the Payment Links an arrangement needs."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0) -> None:
        super().__init__(bearer_http(base_url, api_key, timeout), name="Stripe", provider=PROVIDER)

    async def create_payment_link(
        self,
        *,
        amount: Decimal,
        currency: str,
        description: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> PaymentLink:
        """A link to pay ``amount`` ``currency``; ``metadata`` comes back in the webhook.

        Raises ValueError before any request if the amount is not positive or
        not exactly representable in the currency's minor unit.
        """
        unit_amount = to_minor_units(amount, currency)
        if unit_amount <= 0:
            raise ValueError(f"a payment link needs a positive amount, not {amount}")
        price_params: dict[str, Any] = {
            "currency": currency.lower(),
            "unit_amount": unit_amount,
            "product_data": {"name": description},
            "metadata": metadata,
        }
        price = self._parse(
            _PriceObject,
            await self._request("POST", "/v1/prices", price_params, f"{idempotency_key}/price"),
        )
        link_params: dict[str, Any] = {
            "line_items": [{"price": price.id, "quantity": 1}],
            "metadata": metadata,
            "expand": ["line_items"],
        }
        data = await self._request(
            "POST", "/v1/payment_links", link_params, f"{idempotency_key}/link"
        )
        return _link(self._parse(_LinkObject, data))

    async def get_payment_link(self, link_id: str) -> PaymentLink:
        data = await self._request(
            "GET", f"/v1/payment_links/{quote(link_id, safe='')}", {"expand": ["line_items"]}
        )
        return _link(self._parse(_LinkObject, data))

    async def deactivate_payment_link(self, link_id: str, *, idempotency_key: str) -> PaymentLink:
        """Stop ``link_id`` taking payments (Stripe cannot delete a link)."""
        data = await self._request(
            "POST",
            f"/v1/payment_links/{quote(link_id, safe='')}",
            {"active": False, "expand": ["line_items"]},
            idempotency_key,
        )
        return _link(self._parse(_LinkObject, data))

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any],
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        form = encode_params(params)
        if method == "GET":
            return await self._send(
                method, path, path, _http_error, params=tuple(form), headers=headers
            )
        return await self._send(method, path, path, _http_error, data=dict(form), headers=headers)


def encode_params(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested params in Stripe's bracket notation: ``line_items[0][price]=…``."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            pairs.extend(encode_params(value, name))
        elif isinstance(value, list | tuple):
            pairs.extend(encode_params({str(i): v for i, v in enumerate(value)}, name))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


def _link(link: _LinkObject) -> PaymentLink:
    # Links made here have one line item, so the first page holds them all.
    total = sum(item.amount_total for item in link.line_items.data)
    return PaymentLink(
        id=link.id,
        url=link.url,
        active=link.active,
        amount=from_minor_units(total, link.currency),
        currency=link.currency.upper(),
    )


def _http_error(method: str, path: str, response: httpx.Response) -> ProviderError:
    status = response.status_code
    code: str | None = None
    message = response.reason_phrase
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        # Stripe omits ``code`` for some errors (bad API key, idempotency key
        # reuse); the type then says what happened.
        raw_code = error.get("code") or error.get("type")
        code = None if raw_code is None else str(raw_code)
        message = str(error.get("message") or message)
        if error.get("param"):
            message += f" (param: {error['param']})"
    # 5xx, 429 and 408 pass; so does 409, which Stripe sends while another
    # request with the same idempotency key is still running (its libraries
    # retry it too). Any other 4xx fails the same way every time.
    retryable = status in (408, 409, 429) or status >= 500
    label = f"{status} {code}" if code else str(status)
    return ProviderError(
        f"Stripe {method} {path} → {label}: {message}",
        retryable=retryable,
        provider=PROVIDER,
        status_code=status,
        code=code,
    )
