"""What the mail provider says it accepted, over Mailgun's Events API.

Recoup sends mail over SMTP with its own Message-ID (``adapters.smtp``); to compare
its records with the provider's, it reads the provider's "accepted" events, which
carry that Message-ID. The API is Mailgun's (docs: "Events", ``GET /v3/{domain}/
events``), the same against api.mailgun.net (api.eu.mailgun.net) and against
``simulators.mail_events``. What this client relies on:

- HTTP Basic auth with user ``api`` and the API key; errors as ``{"message": …}`` or
  plain text (Mailgun's ``401`` says ``Forbidden``).
- ``event=accepted``, ``recipient``, ``limit`` (at most 300), and a time range: with
  ``since``, ``begin`` (epoch seconds) and ``ascending=yes``; without, the default
  descending range from now back through the retention period.
- Pages: ``items`` and ``paging.next``, which is always there; the listing ends at the
  first empty page, as Mailgun's docs say to traverse.
- Items: ``timestamp`` (epoch seconds), ``recipient``, ``message.headers`` with
  ``message-id`` (Mailgun shows it without angle brackets) and ``subject``.

Mailgun may store an event up to half an hour after the fact ("event polling"):
against it, mail accepted in the last half hour may not be listed yet.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.errors import ProviderError
from adapters.http_api import JsonApiClient

PROVIDER = "mailgun"
DEFAULT_BASE_URL = "https://api.mailgun.net"
# The largest page Mailgun serves.
MAX_PAGE_SIZE = 300


class MailRecord(BaseModel):
    """One recipient of one message the provider accepted.

    ``message_id`` is in the form ``SmtpMailer.message_id`` returns and Recoup
    records (``<…@recoup>``, angle brackets included), whatever form the provider
    shows, so the two compare as they are.
    """

    message_id: str
    recipient: str
    timestamp: datetime
    subject: str | None = None


class _Headers(BaseModel):
    model_config = ConfigDict(validate_by_alias=True, validate_by_name=True)

    message_id: str = Field(alias="message-id")
    subject: str | None = None


class _Message(BaseModel):
    headers: _Headers


class _Event(BaseModel):
    event: str
    timestamp: float
    recipient: str
    message: _Message


class MailEvents(JsonApiClient):
    """Reads one sending domain's events from a Mailgun-compatible API."""

    def __init__(self, base_url: str, api_key: str, domain: str, *, timeout: float = 10.0) -> None:
        self.domain = domain
        http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=("api", api_key),
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "recoup"},
        )
        super().__init__(http, name="Mail events", provider=PROVIDER)
        self._events_url = self._http.base_url.join(f"v3/{domain}/events")

    @property
    def url(self) -> str:
        """The events endpoint it reads (``…/v3/{domain}/events``)."""
        return str(self._events_url)

    async def accepted(
        self,
        *,
        recipient: str | None = None,
        since: datetime | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> list[MailRecord]:
        """Every "accepted" event (for ``recipient``; at or after ``since``), oldest first.

        A message sent twice with one Message-ID (a retried send) is accepted, and
        listed, twice. ``since`` must be timezone-aware.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be from 1 to {MAX_PAGE_SIZE}")
        params = {"event": "accepted", "limit": str(page_size)}
        if recipient is not None:
            params["recipient"] = recipient
        if since is not None:
            if since.tzinfo is None:
                raise ValueError("since must be timezone-aware")
            # Whole seconds, rounded down: the range starts no later than ``since``,
            # and the exact instant is applied here.
            params |= {"begin": str(math.floor(since.timestamp())), "ascending": "yes"}
        events = await self._all_pages(params)
        records = [
            _record(e)
            for e in events
            if e.event == "accepted"
            and (recipient is None or e.recipient.lower() == recipient.lower())
            and (since is None or e.timestamp >= since.timestamp())
        ]
        return sorted(records, key=lambda r: r.timestamp)

    async def _all_pages(self, params: dict[str, str]) -> list[_Event]:
        url = self._events_url
        query: dict[str, str] | None = params
        seen: set[httpx.URL] = set()
        found: list[_Event] = []
        while True:
            seen.add(url)
            data = await self._send("GET", str(url), "events", _http_error, params=query)
            items = data.get("items")
            if not isinstance(items, list):
                raise self._unexpected("a page without its 'items' list", retryable=True)
            if not items:
                return found
            try:
                found.extend(_Event.model_validate(item) for item in items)
            except ValidationError as exc:
                raise self._unexpected(f"an event it cannot read: {exc}", retryable=True) from exc
            query = None  # the next page's URL carries the whole query
            url = self._next_page(data.get("paging"), seen)

    def _next_page(self, paging: object, seen: set[httpx.URL]) -> httpx.URL:
        link = paging.get("next") if isinstance(paging, dict) else None
        url = httpx.URL(link) if isinstance(link, str) else None
        # Only this domain's events on this API: the key goes with every request, so a
        # link elsewhere is refused; one already followed (with events) would never end.
        if (
            url is None
            or url.scheme != self._events_url.scheme
            or url.netloc != self._events_url.netloc
            or not url.path.startswith(self._events_url.path)
            or url in seen
        ):
            raise self._unexpected(f"a next page it cannot follow: {link!r}", retryable=False)
        return url

    def _unexpected(self, what: str, *, retryable: bool) -> ProviderError:
        return ProviderError(
            f"Mail events API answered with {what}",
            retryable=retryable,
            provider=PROVIDER,
            status_code=200,
        )


def _record(event: _Event) -> MailRecord:
    return MailRecord(
        message_id=f"<{event.message.headers.message_id.strip().strip('<>')}>",
        recipient=event.recipient,
        timestamp=datetime.fromtimestamp(event.timestamp, UTC),
        subject=event.message.headers.subject,
    )


def _http_error(method: str, path: str, response: httpx.Response) -> ProviderError:
    status = response.status_code
    message = response.reason_phrase
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        message = str(body["message"])
    elif response.text.strip():
        message = response.text.strip()[:200]  # Mailgun's 401 is plain "Forbidden"
    # A wrong key or domain stays wrong; rate limits and outages pass.
    return ProviderError(
        f"Mail events {method} {path} → {status}: {message}",
        retryable=status in (408, 429) or status >= 500,
        provider=PROVIDER,
        status_code=status,
    )
