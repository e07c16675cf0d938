"""Lob's Print & Mail API (letters), with failures classified once, and its webhook signature.

Speaks Lob's plain REST protocol with httpx (no Lob SDK), so the same client runs
against api.lob.com and against ``simulators.lob``. What it relies on:

- HTTP Basic auth with the API key as user name and an empty password (``test_…``
  keys print nothing, ``live_…`` keys mail real letters);
- ``POST /v1/letters`` with a JSON body (inline ``to``/``from`` address objects, the
  letter as an HTML ``file``, ``use_type``, ``metadata``) and an ``Idempotency-Key``
  header: Lob returns the first letter for a repeated key, so a retried activity never
  mails twice;
- ``GET /v1/letters/{id}``, ``DELETE /v1/letters/{id}`` (before the send date only),
  and ``GET /v1/letters`` (newest first, ``limit`` ≤ 100, ``date_created[gte]`` and
  ``metadata[…]`` filters, pages linked by an absolute ``next_url``);
- errors as ``{"error": {"message", "status_code", "code"}}``.

``ProviderError.code`` is Lob's error code, except that a 422 naming the recipient's
address (Lob words most of them with its generic ``invalid`` code, some with
``failed_deliverability_strictness`` or ``address_length_exceeds_limit``) carries
``INVALID_ADDRESS``: the agent retires the address without parsing Lob's messages.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, date, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field, ValidationError

from adapters.errors import AdapterError, ProviderError
from adapters.http_api import JsonApiClient
from domain.account import PostalAddress

PROVIDER = "lob"
DEFAULT_BASE_URL = "https://api.lob.com"
SIGNATURE_HEADER = "Lob-Signature"
TIMESTAMP_HEADER = "Lob-Signature-Timestamp"
# Our code for "Lob refused the recipient's address" (see the module's docstring).
INVALID_ADDRESS = "invalid_address"
# The largest page Lob serves.
MAX_PAGE_SIZE = 100
# Lob's limit on an address's name (longer is refused, which is no fault of the address).
_MAX_NAME = 40
# Lob codes that always concern an address, whichever field the message names.
_ADDRESS_CODES = frozenset({"failed_deliverability_strictness", "address_length_exceeds_limit"})
# A timestamp above this is in milliseconds (Lob's unit); seconds are accepted too.
_MILLISECONDS_FROM = 10**11

SignatureReason = Literal["missing", "malformed", "mismatch", "stale"]


class LetterReceipt(BaseModel):
    """What Lob said when it accepted a letter."""

    id: str
    expected_delivery_date: date | None = None
    status: str = Field(description="created, mailed, in_transit, …, delivered, cancelled.")


class LetterRecord(BaseModel):
    """A letter as Lob lists it: where it goes (on one line, as Recoup keys it), when,
    how far it got, and the metadata Recoup gave it."""

    id: str
    to: str
    date_created: datetime
    send_date: datetime | None = None
    expected_delivery_date: date | None = None
    status: str
    deleted: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)


class _Address(BaseModel):
    name: str | None = None
    company: str | None = None
    address_line1: str = ""
    address_line2: str | None = None
    address_city: str | None = None
    address_state: str | None = None
    address_zip: str | None = None


class _TrackingEvent(BaseModel):
    name: str


class _Letter(BaseModel):
    id: str
    to: _Address
    date_created: datetime
    send_date: datetime | None = None
    expected_delivery_date: date | None = None
    tracking_events: list[_TrackingEvent] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    deleted: bool = False


class LobSignatureError(AdapterError):
    """A webhook whose ``Lob-Signature`` does not prove it came from Lob just now."""

    def __init__(self, reason: SignatureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: SignatureReason = reason
        self.detail = detail


class LobClient(JsonApiClient):
    """An async client for one Lob account, mailing from one return address.

    Letters are ``use_type="operational"``: a validation notice is a legal notice
    about an existing debt, not marketing (Lob applies marketing rules otherwise).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        from_name: str,
        from_address: PostalAddress,
        color: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.from_name = from_name
        self.from_address = from_address
        self.color = color
        http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=(api_key, ""),
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "recoup"},
        )
        super().__init__(http, name="Lob", provider=PROVIDER)

    async def send_letter(
        self,
        to: PostalAddress,
        name: str,
        html: str,
        idempotency_key: str,
        metadata: dict[str, str],
        *,
        description: str | None = None,
    ) -> LetterReceipt:
        """Have Lob print and mail ``html`` to ``name`` at ``to``; the mail's progress
        comes later, by webhook."""
        body: dict[str, Any] = {
            "to": lob_address(to, name),
            "from": lob_address(self.from_address, self.from_name),
            "file": html,
            "color": self.color,
            "use_type": "operational",
            "mail_type": "usps_first_class",
            "metadata": metadata,
        }
        if description:
            body["description"] = description[:255]
        data = await self._send(
            "POST",
            "/v1/letters",
            "letters",
            _http_error,
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        letter = self._letter(data)
        return LetterReceipt(
            id=letter.id,
            expected_delivery_date=letter.expected_delivery_date,
            status=_status(letter),
        )

    async def get_letter(self, letter_id: str) -> LetterRecord:
        data = await self._send("GET", f"/v1/letters/{letter_id}", "letters/{id}", _http_error)
        return _record(self._letter(data))

    async def cancel_letter(self, letter_id: str) -> bool:
        """Cancel a letter not yet sent; True once Lob says it is deleted. After its
        send date Lob refuses (a ``ProviderError``, not retryable)."""
        data = await self._send("DELETE", f"/v1/letters/{letter_id}", "letters/{id}", _http_error)
        return data.get("deleted") is True

    async def list_letters(
        self,
        *,
        created_after: datetime | None = None,
        metadata: dict[str, str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> list[LetterRecord]:
        """Every letter of the account (created at or after ``created_after``, with
        ``metadata``), newest first, all pages."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be from 1 to {MAX_PAGE_SIZE}")
        query: dict[str, str] | None = {"limit": str(page_size)}
        assert query is not None
        if created_after is not None:
            if created_after.tzinfo is None:
                raise ValueError("created_after must be timezone-aware")
            query["date_created[gte]"] = created_after.astimezone(UTC).isoformat()
        for key, value in (metadata or {}).items():
            query[f"metadata[{key}]"] = value
        url = str(self._http.base_url.join("/v1/letters"))
        seen: set[str] = set()
        found: list[LetterRecord] = []
        while url:
            seen.add(url)
            data = await self._send("GET", url, "letters", _http_error, params=query)
            items = data.get("data")
            if not isinstance(items, list):
                raise self._unexpected("a page without its 'data' list", retryable=True)
            found.extend(_record(self._letter(item)) for item in items)
            query = None  # the next page's URL carries the whole query
            url = self._next_page(data.get("next_url"), seen)
        return found

    def _letter(self, data: Any) -> _Letter:
        try:
            return _Letter.model_validate(data)
        except ValidationError as exc:
            raise ProviderError(
                f"unexpected Lob letter: {exc}", retryable=True, provider=PROVIDER
            ) from exc

    def _next_page(self, link: object, seen: set[str]) -> str:
        if link is None or link == "":
            return ""
        # Only this API's letters: the key goes with every request, so a link to another
        # host is refused, and one already followed would never end.
        base = self._http.base_url
        url = httpx.URL(link) if isinstance(link, str) else None
        if (
            url is None
            or (url.scheme, url.netloc) != (base.scheme, base.netloc)
            or url.path != "/v1/letters"
            or str(url) in seen
        ):
            raise self._unexpected(f"a next_url it cannot follow: {link!r}", retryable=False)
        return str(url)

    def _unexpected(self, what: str, *, retryable: bool) -> ProviderError:
        return ProviderError(
            f"Lob answered with {what}", retryable=retryable, provider=PROVIDER, status_code=200
        )


def lob_address(address: PostalAddress, name: str) -> dict[str, str]:
    """``address`` as Lob's inline address object."""
    found = {
        "name": " ".join(name.split())[:_MAX_NAME],
        "address_line1": address.line1,
        "address_city": address.city,
        "address_state": address.state,
        "address_zip": address.zip,
        "address_country": address.country,
    }
    if address.line2:
        found["address_line2"] = address.line2
    return found


def one_line(address: dict[str, Any]) -> str:
    """A Lob address object on one line, as ``PostalAddress.one_line`` writes it."""
    state_zip = f"{address.get('address_state') or ''} {address.get('address_zip') or ''}"
    parts = [
        address.get("address_line1"),
        address.get("address_line2"),
        address.get("address_city"),
        state_zip.strip(),
    ]
    return ", ".join(str(p) for p in parts if p)


def _record(letter: _Letter) -> LetterRecord:
    return LetterRecord(
        id=letter.id,
        to=one_line(letter.to.model_dump()),
        date_created=letter.date_created,
        send_date=letter.send_date,
        expected_delivery_date=letter.expected_delivery_date,
        status=_status(letter),
        deleted=letter.deleted,
        metadata=letter.metadata,
    )


def _status(letter: _Letter) -> str:
    """How far the letter got: its latest USPS scan (``in_transit``), else ``created``."""
    if letter.deleted:
        return "cancelled"
    if not letter.tracking_events:
        return "created"
    return "_".join(letter.tracking_events[-1].name.lower().split())


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
        code = str(error["code"]) if error.get("code") else None
        message = str(error.get("message") or message)
    if status == 422 and (code in _ADDRESS_CODES or message.startswith("to.")):
        code = INVALID_ADDRESS
    # 408/429 and 5xx pass; any other 4xx (a bad key, a refused letter) fails the same
    # way every time.
    retryable = status in (408, 429) or status >= 500
    label = f"{status} {code}" if code else str(status)
    return ProviderError(
        f"Lob {method} {path} → {label}: {message}",
        retryable=retryable,
        provider=PROVIDER,
        status_code=status,
        code=code,
    )


def lob_signature(secret: str, timestamp: str, raw_body: bytes) -> str:
    """Hex HMAC-SHA256, keyed with the webhook secret, over ``"{timestamp}.{raw body}"``."""
    signed = timestamp.encode() + b"." + raw_body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_lob_signature(
    secret: str,
    timestamp: str | None,
    raw_body: bytes,
    signature: str | None,
    tolerance: float,
    *,
    now: float | None = None,
) -> float:
    """Check a webhook's ``Lob-Signature`` over the raw body; return its time (epoch s).

    The signature is compared in constant time before the time is looked at, so a
    forged post reads ``mismatch`` and only a genuine but old (or far future) one
    ``stale``; ``tolerance`` seconds either way bounds replays. Lob sends the
    timestamp in epoch milliseconds; one in seconds is accepted too.
    """
    if not signature or not signature.strip():
        raise LobSignatureError("missing", f"the request has no {SIGNATURE_HEADER} header")
    if not timestamp or not timestamp.strip():
        raise LobSignatureError("missing", f"the request has no {TIMESTAMP_HEADER} header")
    timestamp = timestamp.strip()
    if not timestamp.isascii() or not timestamp.isdigit():
        raise LobSignatureError("malformed", f"{TIMESTAMP_HEADER} is not a number")
    expected = lob_signature(secret, timestamp, raw_body)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise LobSignatureError("mismatch", f"{SIGNATURE_HEADER} does not match the body")
    sent = int(timestamp)
    seconds = sent / 1000 if sent >= _MILLISECONDS_FROM else float(sent)
    age = (time.time() if now is None else now) - seconds
    if abs(age) > tolerance:
        when = "old" if age > 0 else "in the future"
        raise LobSignatureError(
            "stale",
            f"{TIMESTAMP_HEADER} is {abs(int(age))}s {when}; the tolerance is {int(tolerance)}s",
        )
    return seconds
