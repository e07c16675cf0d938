"""Mailgun's Events API over what the SMTP simulator accepted.

Recoup sends mail over SMTP; a real provider that accepts SMTP and lists what it
accepted, Message-ID included, is Mailgun, so its records API is the model (Mailgun
docs: "Events", ``GET /v3/{domain}/events``). What this follows:

- Auth: HTTP Basic with user ``api`` and the API key. A wrong key gets ``401`` with
  the plain-text body ``Forbidden``, as Mailgun answers; another domain ``404``
  ``{"message": "Domain not found: …"}``. Other errors are ``{"message": …}``.
- Query: ``begin`` and ``end`` (epoch seconds, or RFC 2822 dates as Mailgun also
  takes), ``ascending`` (``yes``/``no``), ``limit`` (at most 300), and the filter
  fields ``event``, ``recipient`` and ``message-id``.
- Time range: with ``end``, the range runs from ``begin`` to ``end`` (older to newer
  if ``end`` is later); without it, ``ascending`` says which way, descending by
  default, and a descending ``begin`` is the newest moment, an ascending one the
  oldest. ``ascending`` against the order of ``begin`` and ``end`` is a ``400``
  "Inconsistent range".
- Pages: ``{"items": […], "paging": {"first", "last", "next", "previous"}}``; every
  link is always there (``/v3/{domain}/events/{token}``, the token carrying the whole
  query) and the next page after the last is empty: clients traverse until an empty
  page. An ascending range without ``end`` grows as mail arrives, so its ``next`` link
  later shows the new events.
- Items: one ``accepted`` event per recipient of each accepted message, with ``id``,
  ``timestamp`` (epoch seconds, a float), ``recipient``, ``envelope`` and
  ``message.headers`` (``message-id``, ``to``, ``from``, ``subject``). Mailgun shows
  the Message-ID without its angle brackets; so does this.

What it leaves out: other event types (rejected recipients leave no event here),
filter expressions (``NOT``, ``OR``, ranges), other filter fields (refused with a
``400`` rather than ignored), storage, sizes. Mailgun may add an event up to half an
hour late ("event polling"); here it is there when the SMTP reply is.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import uuid
from dataclasses import asdict, dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import TypeAdapter

from simulators.http import EmbeddedServer, basic_credentials

DEFAULT_API_KEY = "key-simulator"
DEFAULT_DOMAIN = "recoup.example"
MAX_LIMIT = 300
_DEFAULT_LIMIT = 100
_FILTERS = frozenset({"event", "recipient", "message-id"})
_QUERY = frozenset({"begin", "end", "ascending", "limit", "pretty"}) | _FILTERS


@dataclass(frozen=True)
class AcceptedEvent:
    """One recipient of one accepted message, as the events API lists it."""

    seq: int  # acceptance order: what page tokens point at
    id: str
    timestamp: float
    recipient: str
    sender: str
    message_id: str  # without angle brackets, as Mailgun shows it
    to: str
    from_: str
    subject: str

    def json(self) -> dict[str, Any]:
        return {
            "event": "accepted",
            "id": self.id,
            "timestamp": self.timestamp,
            "log-level": "info",
            "method": "smtp",
            "recipient": self.recipient,
            "recipient-domain": self.recipient.rpartition("@")[2],
            "envelope": {"sender": self.sender, "targets": self.recipient, "transport": "smtp"},
            "flags": {"is-authenticated": True, "is-test-mode": False},
            "message": {
                "headers": {
                    "message-id": self.message_id,
                    "to": self.to,
                    "from": self.from_,
                    "subject": self.subject,
                }
            },
            "tags": [],
            "user-variables": {},
        }


@dataclass(frozen=True)
class _Query:
    """A request's range, filters and position: what a page token encodes.

    ``after`` / ``before``: sequence numbers the page starts after / ends before, in
    the query's direction (``before`` takes the last ``limit`` before it).
    """

    ascending: bool
    begin: float | None
    end: float | None
    limit: int
    event: str | None
    recipient: str | None
    message_id: str | None
    after: int | None = None
    before: int | None = None

    def token(self) -> str:
        raw = json.dumps(asdict(self), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode()

    @classmethod
    def from_token(cls, token: str) -> _Query:
        try:
            # Tokens come back from clients: read them as strictly as a request.
            query = _TOKEN.validate_json(base64.urlsafe_b64decode(token.encode()), strict=True)
        except (binascii.Error, ValueError):  # pydantic's ValidationError is a ValueError
            raise _ApiError(400, "Invalid page token") from None
        if not 1 <= query.limit <= MAX_LIMIT:
            raise _ApiError(400, "Invalid page token")
        return query

    def matches(self, e: AcceptedEvent) -> bool:
        low, high = (self.begin, self.end) if self.ascending else (self.end, self.begin)
        return (
            (low is None or e.timestamp >= low)
            and (high is None or e.timestamp <= high)
            and (self.event is None or self.event == "accepted")
            and (self.recipient is None or self.recipient.lower() == e.recipient.lower())
            and (self.message_id is None or self.message_id == e.message_id)
        )

    def ahead(self, seq: int, cursor: int) -> bool:
        """Whether ``seq`` comes after ``cursor`` in this query's direction."""
        return seq > cursor if self.ascending else seq < cursor


_TOKEN = TypeAdapter(_Query)


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class MailEventsApi:
    """The accepted events of one domain and the HTTP API that lists them."""

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, domain: str = DEFAULT_DOMAIN) -> None:
        self.api_key = api_key
        self.domain = domain
        self.events: list[AcceptedEvent] = []
        self._server = EmbeddedServer(self._build_app(), name="mail events API")

    def record(
        self,
        *,
        recipients: list[str],
        sender: str,
        message_id: str | None,
        to: str,
        from_: str,
        subject: str,
        accepted_at: float,
    ) -> None:
        """Note one accepted message: an event for each of its ``recipients``."""
        # Mailgun gives a message without a Message-ID one of its own.
        bare = _bare(message_id) if message_id else f"{uuid.uuid4().hex}@{self.domain}"
        for recipient in recipients:
            self.events.append(
                AcceptedEvent(
                    seq=len(self.events),
                    id=base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode(),
                    timestamp=accepted_at,
                    recipient=recipient,
                    sender=sender,
                    message_id=bare,
                    to=to,
                    from_=from_,
                    subject=subject,
                )
            )

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); return the base URL."""
        return await self._server.start(host, port)

    async def stop(self) -> None:
        await self._server.stop()

    @property
    def started(self) -> bool:
        return self._server.started

    @property
    def base_url(self) -> str:
        """Where the API is, like ``https://api.mailgun.net``: paths start at ``/v3``."""
        return self._server.base_url

    def _build_app(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        async def api_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, _ApiError)
            if exc.status == 401:
                headers = {"WWW-Authenticate": 'Basic realm="MG API"'}
                return PlainTextResponse("Forbidden", status_code=401, headers=headers)
            return JSONResponse({"message": exc.message}, status_code=exc.status)

        app.add_exception_handler(_ApiError, api_error)

        @app.get("/v3/{domain}/events")
        async def first_page(request: Request, domain: str) -> JSONResponse:
            self._admit(request, domain)
            return JSONResponse(self._page(request, domain, _parse_query(request)))

        @app.get("/v3/{domain}/events/{token}")
        async def page(request: Request, domain: str, token: str) -> JSONResponse:
            self._admit(request, domain)
            return JSONResponse(self._page(request, domain, _Query.from_token(token)))

        return app

    def _admit(self, request: Request, domain: str) -> None:
        user, password = basic_credentials(request.headers.get("authorization"))
        if not (user == "api" and hmac.compare_digest(password.encode(), self.api_key.encode())):
            raise _ApiError(401, "Forbidden")
        if domain != self.domain:
            raise _ApiError(404, f"Domain not found: {domain}")

    def _page(self, request: Request, domain: str, query: _Query) -> dict[str, Any]:
        matching = [e for e in self.events if query.matches(e)]
        if not query.ascending:
            matching.reverse()
        if query.after is not None:
            after = query.after
            matching = [e for e in matching if query.ahead(e.seq, after)]
        if query.before is not None:
            before = query.before
            matching = [e for e in matching if query.ahead(before, e.seq)]
            items = matching[-query.limit :]
        else:
            items = matching[: query.limit]
        step = 1 if query.ascending else -1
        # Sequence numbers just outside the events, before the first / past the last
        # in the query's direction.
        origin, beyond = (-1, len(self.events)) if query.ascending else (len(self.events), -1)
        if items:
            previous = items[0].seq
        elif query.after is not None:
            previous = query.after + step  # the page that ends at an empty page's cursor
        else:
            previous = query.before if query.before is not None else origin
        start = replace(query, after=None, before=None)
        links = {
            "first": start,
            "last": replace(start, before=beyond),
            # After the last page, the next one is empty (and grows if the range does).
            "next": replace(start, after=items[-1].seq if items else query.after),
            "previous": replace(start, before=previous),
        }
        url = f"{str(request.base_url).rstrip('/')}/v3/{domain}/events"
        return {
            "items": [e.json() for e in items],
            "paging": {name: f"{url}/{q.token()}" for name, q in links.items()},
        }


def _parse_query(request: Request) -> _Query:
    params = request.query_params
    unknown = sorted(set(params) - _QUERY)
    if unknown:
        raise _ApiError(400, f"Not a query parameter the simulator knows: {', '.join(unknown)}")
    begin, end = _moment(params.get("begin"), "begin"), _moment(params.get("end"), "end")
    ascending = _yes_no(params.get("ascending"))
    if begin is not None and end is not None:
        in_order = end > begin  # equal bounds read as descending, as Mailgun's do
        if ascending is not None and ascending != in_order:
            raise _ApiError(
                400, f"Inconsistent range: begin={begin}, end={end}, ascending={ascending}"
            )
        ascending = in_order
    limit = params.get("limit") or str(_DEFAULT_LIMIT)
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise _ApiError(400, f"Limit must be from 1 to {MAX_LIMIT}, got {limit}")
    message_id = params.get("message-id")
    return _Query(
        ascending=bool(ascending),
        begin=begin,
        end=end,
        limit=int(limit),
        event=params.get("event") or None,
        recipient=params.get("recipient") or None,
        message_id=_bare(message_id) if message_id else None,
    )


def _moment(value: str | None, name: str) -> float | None:
    """Epoch seconds, or an RFC 2822 date as Mailgun also accepts."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        raise _ApiError(400, f"Invalid {name}: {value}") from None


def _yes_no(value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() in ("yes", "true"):
        return True
    if value.lower() in ("no", "false"):
        return False
    raise _ApiError(400, f"Invalid ascending: {value} (yes or no)")


def _bare(message_id: str) -> str:
    return message_id.strip().removeprefix("<").removesuffix(">")
