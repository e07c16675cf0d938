"""A local, protocol-faithful stand-in for Lob's Print & Mail API (letters).

The production ``adapters.lob.LobClient`` talks to it unchanged: ``/v1/letters``
(create, retrieve, list, cancel), HTTP Basic auth with the API key as user name,
JSON or form-encoded bodies (``to[address_line1]=…``), Lob's letter and address
objects, its error body ``{"error": {"message", "status_code", "code"}}``, an
``Idempotency-Key`` header that returns the first letter again, and signed webhooks
(``Lob-Signature``: hex HMAC-SHA256 with the webhook secret over
``"{Lob-Signature-Timestamp}.{raw body}"``).

What the postal service would decide is decided from the address and ``seed``: most
letters go created → rendered_pdf → mailed → in_transit → in_local_area →
processed_for_delivery → delivered; a share (``return_rate``, and always an address
whose first line holds ``RETURN TO SENDER``) is returned to sender after in_transit.
A first line holding ``UNDELIVERABLE`` is refused at create with Lob's
``failed_deliverability_strictness``. Time is simulated: one day lasts ``day_seconds``
of real time (None: days last as long as real ones, and a test moves the mail on with
``advance``), so a week of mail passes in a second and tests can step it exactly. Either
way the clock starts at the wall clock and never stands still, so ``date_created`` is
when the letter was made, as Lob's is, and a list filtered by date finds it.

Beyond Lob it can inject outages with ``fail_next`` (nothing is created and the
idempotency key is not used up), like the other simulators.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from simulators.http import EmbeddedServer, FailurePlan, basic_credentials

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "test_simulator_lob_key"
DEFAULT_WEBHOOK_SECRET = "lob_webhook_secret_simulator"
SIGNATURE_HEADER = "Lob-Signature"
TIMESTAMP_HEADER = "Lob-Signature-Timestamp"
# Test "magic" first address lines (matched case-insensitively, anywhere in the line).
RETURN_TO_SENDER = "RETURN TO SENDER"
UNDELIVERABLE = "UNDELIVERABLE"

LetterEventType = Literal[
    "letter.created",
    "letter.rendered_pdf",
    "letter.mailed",
    "letter.in_transit",
    "letter.in_local_area",
    "letter.processed_for_delivery",
    "letter.delivered",
    "letter.returned_to_sender",
    "letter.deleted",
]
Listener = Callable[["SimulatedLetter", str], Awaitable[None] | None]

# The USPS scan each mail event adds to the letter's tracking_events (Lob's names).
_TRACKING_NAMES = {
    "letter.mailed": "Mailed",
    "letter.in_transit": "In Transit",
    "letter.in_local_area": "In Local Area",
    "letter.processed_for_delivery": "Processed for Delivery",
    "letter.delivered": "Delivered",
    "letter.returned_to_sender": "Returned to Sender",
}
# When each event happens, after the send date (rendering: after creation).
_DELIVERED_PATH: tuple[tuple[LetterEventType, timedelta], ...] = (
    ("letter.mailed", timedelta(days=1)),
    ("letter.in_transit", timedelta(days=2)),
    ("letter.in_local_area", timedelta(days=3)),
    ("letter.processed_for_delivery", timedelta(days=4)),
    ("letter.delivered", timedelta(days=4, hours=12)),
)
_RETURNED_PATH: tuple[tuple[LetterEventType, timedelta], ...] = (
    ("letter.mailed", timedelta(days=1)),
    ("letter.in_transit", timedelta(days=2)),
    ("letter.returned_to_sender", timedelta(days=7)),
)
_RENDER_AFTER = timedelta(minutes=1)
_EXPECTED_DELIVERY = timedelta(days=4)
_MAX_SEND_AHEAD = timedelta(days=180)

_ADDRESS_FIELDS = (
    "name",
    "company",
    "address_line1",
    "address_line2",
    "address_city",
    "address_state",
    "address_zip",
    "address_country",
)
# fmt: off
US_STATES = frozenset({
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL",
    "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE",
    "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD",
    "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR", "GU", "VI", "AS", "MP",
    "AA", "AE", "AP",
})
# fmt: on
_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
_USE_TYPES = frozenset({"marketing", "operational"})
_MAIL_TYPES = frozenset({"usps_first_class", "usps_standard"})
_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid",
    429: "rate_limit_exceeded",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
_DEFAULT_LIMIT = 10
_MAX_LIMIT = 100


def lob_signature(secret: str, timestamp: str, raw_body: bytes) -> str:
    """``Lob-Signature``: hex HMAC-SHA256, keyed with the webhook secret, over
    ``"{timestamp}.{raw body}"`` (Lob's documented scheme)."""
    signed = timestamp.encode() + b"." + raw_body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class SimulatedLetter(BaseModel):
    """A letter as the simulator holds it (mutated as the mail progresses)."""

    id: str
    description: str | None = None
    to: dict[str, Any]
    from_: dict[str, Any]
    file: str
    color: bool
    double_sided: bool = True
    use_type: str
    mail_type: str = "usps_first_class"
    metadata: dict[str, str] = Field(default_factory=dict)
    merge_variables: dict[str, Any] | None = None
    send_date: datetime
    date_created: datetime
    date_modified: datetime
    expected_delivery_date: date
    tracking_events: list[dict[str, Any]] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list, description="Event types fired so far.")
    returned: bool = False
    deleted: bool = False
    idempotency_key: str | None = None
    # (event type, simulated moment) still to happen, in order.
    pending: list[tuple[str, datetime]] = Field(default_factory=list)

    @property
    def status(self) -> str:
        """The latest event's name without ``letter.`` (``created`` … ``delivered``)."""
        return self.events[-1].removeprefix("letter.") if self.events else "created"


class _ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _ERROR_CODES.get(status, "internal_server_error")

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "status_code": self.status, "code": self.code}}
        headers = {"WWW-Authenticate": 'Basic realm="Lob"'} if self.status == 401 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


class LobSimulator:
    """Lob's letters API on the running event loop (uvicorn), with a simulated clock."""

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        webhook_url: str | None = None,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        seed: int = 0,
        return_rate: float = 0.05,
        day_seconds: float | None = 0.2,
        cancel_window: timedelta = timedelta(minutes=5),
    ) -> None:
        if not 0.0 <= return_rate <= 1.0:
            raise ValueError("return_rate must be within [0, 1]")
        if day_seconds is not None and day_seconds <= 0:
            raise ValueError("day_seconds must be > 0 (or None: real days, moved on by advance)")
        self.api_key = api_key
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.letters: list[SimulatedLetter] = []
        self.webhooks_posted: list[dict[str, Any]] = []
        self._seed = seed
        self._return_rate = return_rate
        self._day_seconds = day_seconds
        self._cancel_window = cancel_window
        self._by_id: dict[str, SimulatedLetter] = {}
        self._by_key: dict[str, SimulatedLetter] = {}
        self._failures = FailurePlan()
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self._offset = timedelta(0)
        self._origin = datetime.now(UTC)
        self._origin_mono = time.monotonic()
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._server = EmbeddedServer(self._build_app(), name="Lob simulator")

    # -- lifecycle ---------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); return the base URL."""
        self._http = httpx.AsyncClient(timeout=5.0, trust_env=False)
        try:
            url = await self._server.start(host, port)
        except BaseException:
            await self._http.aclose()
            self._http = None
            raise
        if self._day_seconds is not None:
            self._ticker = asyncio.create_task(self._tick(), name="lob-simulator-clock")
        return url

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.stop()
        if self._http is not None:
            await self._http.aclose()
        self._http = None

    @property
    def base_url(self) -> str:
        return self._server.base_url

    # -- scripting -----------------------------------------------------------

    def now(self) -> datetime:
        """The simulated time: real time (sped up by ``day_seconds``), plus ``advance``s."""
        real = time.monotonic() - self._origin_mono
        elapsed = real if self._day_seconds is None else real / self._day_seconds * 86_400
        return self._origin + timedelta(seconds=elapsed) + self._offset

    async def advance(self, by: timedelta = timedelta(days=1)) -> list[str]:
        """Move the clock ``by`` and let every event now due happen (webhooks posted
        before it returns); return the events fired, as ``"ltr_…:letter.mailed"``."""
        if by < timedelta(0):
            raise ValueError("the clock only moves forward")
        self._offset += by
        return await self._fire_due()

    def on_event(self, callback: Listener) -> None:
        """Call ``callback(letter, event_type)`` (sync or async) for every event of every
        letter, ``letter.created`` included, before its webhook is posted."""
        self._listeners.append(callback)

    def fail_next(self, n: int, status: int = 503, path_prefix: str | None = None) -> None:
        """Fail the next ``n`` requests (under ``path_prefix``) with a Lob error of ``status``.

        The request is not executed and its idempotency key is not used up.
        """
        self._failures.add(n, status, path_prefix)

    def letter(self, letter_id: str) -> SimulatedLetter:
        return self._by_id[letter_id]

    # -- HTTP app --------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        async def api_error(request: Request, exc: Exception) -> JSONResponse:
            assert isinstance(exc, _ApiError)
            return exc.response()

        async def not_found(request: Request, exc: Exception) -> JSONResponse:
            return _ApiError(404, "The requested URL was not found").response()

        async def not_allowed(request: Request, exc: Exception) -> JSONResponse:
            return _ApiError(405, "Method not allowed", "method_not_allowed").response()

        app.add_exception_handler(_ApiError, api_error)
        app.add_exception_handler(404, not_found)
        app.add_exception_handler(405, not_allowed)

        @app.post("/v1/letters")
        async def create(request: Request) -> JSONResponse:
            self._admit(request)
            return await self._create(request)

        @app.get("/v1/letters")
        async def list_letters(request: Request) -> JSONResponse:
            self._admit(request)
            return JSONResponse(self._list(request))

        @app.get("/v1/letters/{letter_id}")
        async def retrieve(request: Request, letter_id: str) -> JSONResponse:
            self._admit(request)
            return JSONResponse(self._letter_json(self._find(letter_id)))

        @app.delete("/v1/letters/{letter_id}")
        async def cancel(request: Request, letter_id: str) -> JSONResponse:
            self._admit(request)
            return JSONResponse(await self._cancel(letter_id))

        return app

    def _admit(self, request: Request) -> None:
        # An injected outage hits before authentication, like a failing edge.
        status = self._failures.take(request.url.path)
        if status is not None:
            raise _ApiError(status, _failure_message(status))
        user, _ = basic_credentials(request.headers.get("authorization"))
        if not user or not hmac.compare_digest(user.encode(), self.api_key.encode()):
            raise _ApiError(
                401, "Your API key is not valid. Please sign up on lob.com to get a valid api key."
            )

    def _find(self, letter_id: str) -> SimulatedLetter:
        letter = self._by_id.get(letter_id)
        if letter is None:
            raise _ApiError(404, "letter not found")
        return letter

    async def _create(self, request: Request) -> JSONResponse:
        body = await _read_body(request)
        key = request.headers.get("idempotency-key") or request.query_params.get("idempotency_key")
        if key and key in self._by_key:
            return JSONResponse(self._letter_json(self._by_key[key]))
        params = _letter_params(body)
        now = self.now()
        send_date = params.pop("send_date") or now + self._cancel_window
        if send_date > now + _MAX_SEND_AHEAD:
            raise _ApiError(422, "send_date must be within 180 days")
        returned = self._returns(params["to"])
        path = _RETURNED_PATH if returned else _DELIVERED_PATH
        pending: list[tuple[str, datetime]] = [
            ("letter.created", now),
            ("letter.rendered_pdf", now + _RENDER_AFTER),
        ]
        pending += [(event, send_date + after) for event, after in path]
        letter = SimulatedLetter(
            id=_id("ltr"),
            **params,
            send_date=send_date,
            date_created=now,
            date_modified=now,
            expected_delivery_date=(send_date + _EXPECTED_DELIVERY).date(),
            returned=returned,
            idempotency_key=key,
            pending=pending,
        )
        letter.to["id"], letter.from_["id"] = _id("adr"), _id("adr")
        self.letters.append(letter)
        self._by_id[letter.id] = letter
        if key:
            self._by_key[key] = letter
        # letter.created is due now: posted once the response is on its way.
        self._spawn(self._fire_due())
        return JSONResponse(self._letter_json(letter))

    async def _cancel(self, letter_id: str) -> dict[str, Any]:
        letter = self._find(letter_id)
        if letter.deleted:
            return {"id": letter.id, "deleted": True}
        if self.now() >= letter.send_date:
            raise _ApiError(
                422, "letter has already been sent and cannot be canceled", "not_deletable"
            )
        letter.deleted = True
        letter.pending = [("letter.deleted", self.now())]
        await self._fire_due()
        return {"id": letter.id, "deleted": True}

    def _list(self, request: Request) -> dict[str, Any]:
        query = request.query_params
        limit = _int_param(query.get("limit"), "limit", _DEFAULT_LIMIT, 1, _MAX_LIMIT)
        newest_first = list(reversed(self.letters))
        metadata = {
            k[len("metadata[") : -1]: v
            for k, v in query.multi_items()
            if k.startswith("metadata[") and k.endswith("]")
        }
        created = _date_filters(query.multi_items())
        matching = [
            letter
            for letter in newest_first
            if all(letter.metadata.get(k) == v for k, v in metadata.items())
            and all(check(letter.date_created) for check in created)
        ]
        after, before = query.get("after"), query.get("before")
        if after and before:
            raise _ApiError(422, "after and before cannot both be given")
        if after:
            start = _after_cursor(matching, after)
            page = matching[start : start + limit]
        elif before:
            end = _before_cursor(matching, before)
            start = max(0, end - limit)
            page = matching[start:end]
        else:
            start = _int_param(query.get("offset"), "offset", 0, 0, None)
            page = matching[start : start + limit]
        end = start + len(page)
        kept = [(k, v) for k, v in query.multi_items() if k not in ("after", "before", "offset")]
        base = str(request.base_url).rstrip("/") + request.url.path

        def url(cursor: str, letter: SimulatedLetter) -> str:
            return f"{base}?{urlencode([*kept, (cursor, _cursor(letter.id))])}"

        result: dict[str, Any] = {
            "data": [self._letter_json(letter) for letter in page],
            "object": "list",
            "next_url": url("after", page[-1]) if page and end < len(matching) else None,
            "previous_url": url("before", page[0]) if page and start > 0 else None,
            "count": len(page),
        }
        if "total_count" in query.getlist("include"):
            result["total_count"] = len(matching)
        return result

    # -- the mail's progress ---------------------------------------------------

    def _returns(self, to: dict[str, Any]) -> bool:
        line = str(to.get("address_line1", ""))
        if RETURN_TO_SENDER in line.upper():
            return True
        key = "|".join(str(to.get(f, "")).upper() for f in _ADDRESS_FIELDS[2:])
        digest = hashlib.sha256(f"{self._seed}:{key}:return".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self._return_rate

    async def _tick(self) -> None:
        assert self._day_seconds is not None
        # Ten looks a simulated day, at most every 10 ms of real time.
        every = max(0.01, self._day_seconds / 10)
        while True:
            await asyncio.sleep(every)
            try:
                await self._fire_due()
            except Exception:
                log.exception("Lob simulator clock tick failed")

    async def _fire_due(self) -> list[str]:
        fired: list[str] = []
        # One pass at a time: a letter's events are posted in their order.
        async with self._lock:
            now = self.now()
            for letter in list(self.letters):
                while letter.pending and letter.pending[0][1] <= now:
                    event, at = letter.pending.pop(0)
                    self._happen(letter, event, at)
                    fired.append(f"{letter.id}:{event}")
                    await self._notify(letter, event)
                    await self._post_webhook(letter, event, at)
        return fired

    def _happen(self, letter: SimulatedLetter, event: str, at: datetime) -> None:
        letter.events.append(event)
        letter.date_modified = at
        name = _TRACKING_NAMES.get(event)
        if name is not None:
            letter.tracking_events.append(
                {
                    "id": _id("evnt"),
                    "type": "normal",
                    "name": name,
                    "location": str(letter.to.get("address_zip", ""))[:5] or None,
                    "time": _iso(at),
                    "date_created": _iso(at),
                    "date_modified": _iso(at),
                    "object": "tracking_event",
                }
            )

    async def _notify(self, letter: SimulatedLetter, event: str) -> None:
        for listener in list(self._listeners):
            try:
                result = listener(letter, event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("Lob simulator listener failed")

    async def _post_webhook(self, letter: SimulatedLetter, event: str, at: datetime) -> None:
        if self.webhook_url is None or self._http is None:
            return
        payload = {
            "id": _id("evt"),
            "body": self._letter_json(letter),
            "reference_id": letter.id,
            "event_type": {
                "id": event,
                "enabled_for_test": True,
                "resource": "letters",
                "object": "event_type",
            },
            "date_created": _iso(at),
            "object": "event",
        }
        raw = json.dumps(payload, separators=(",", ":")).encode()
        # Epoch milliseconds, as Lob sends it.
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: lob_signature(self.webhook_secret, timestamp, raw),
            TIMESTAMP_HEADER: timestamp,
            "User-Agent": "Lob-Webhooks",
        }
        self.webhooks_posted.append(payload)
        # Failed deliveries are logged, not retried (Lob retries; the simulator does not).
        try:
            response = await self._http.post(self.webhook_url, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("Lob webhook to %s failed: %s", self.webhook_url, exc)
            return
        if not response.is_success:
            log.warning("Lob webhook to %s answered %s", self.webhook_url, response.status_code)

    def _spawn(self, work: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("Lob simulator task failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- resource JSON ------------------------------------------------------------

    def _letter_json(self, letter: SimulatedLetter) -> dict[str, Any]:
        created = _iso(letter.date_created)
        result: dict[str, Any] = {
            "id": letter.id,
            "description": letter.description,
            "metadata": dict(letter.metadata),
            "to": _address_json(letter.to, created),
            "from": _address_json(letter.from_, created),
            "color": letter.color,
            "double_sided": letter.double_sided,
            "address_placement": "top_first_page",
            "return_envelope": False,
            "perforated_page": None,
            "custom_envelope": None,
            "extra_service": None,
            "mail_type": letter.mail_type,
            "use_type": letter.use_type,
            "url": f"https://lob-assets.com/letters/{letter.id}.pdf?expires=0&signature=sim",
            "template_id": letter.file if letter.file.startswith("tmpl_") else None,
            "merge_variables": letter.merge_variables,
            "carrier": "USPS",
            "tracking_number": None,
            "tracking_events": list(letter.tracking_events),
            "thumbnails": [],
            "expected_delivery_date": letter.expected_delivery_date.isoformat(),
            "date_created": created,
            "date_modified": _iso(letter.date_modified),
            "send_date": _iso(letter.send_date),
            "object": "letter",
        }
        if letter.deleted:
            result["deleted"] = True
        return result


# --- request parsing ---------------------------------------------------------------


async def _read_body(request: Request) -> dict[str, Any]:
    """A JSON object, or a form with Lob's bracket notation folded into objects."""
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise _ApiError(400, f"the request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _ApiError(400, "the request body must be a JSON object")
        return body
    folded: dict[str, Any] = {}
    for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        outer, sep, inner = name.partition("[")
        if sep and inner.endswith("]"):
            nested = folded.setdefault(outer, {})
            if isinstance(nested, dict):
                nested[inner[:-1]] = value
        else:
            folded[name] = value
    return folded


def _letter_params(body: dict[str, Any]) -> dict[str, Any]:
    """The letter's fields from a create body; ``_ApiError`` 422 naming the first problem."""
    known = {
        "description", "to", "from", "file", "color", "double_sided", "use_type", "mail_type",
        "metadata", "merge_variables", "send_date", "address_placement", "extra_service",
        "return_envelope", "perforated_page", "custom_envelope", "billing_group_id",
    }  # fmt: skip
    for name in body:
        if name not in known:
            raise _ApiError(422, f"{name} is not allowed")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 255):
        raise _ApiError(422, "description must be a string of at most 255 characters")
    to = _address(body.get("to"), "to")
    from_ = _address(body.get("from"), "from")
    if from_.get("address_country", "US") != "US":
        raise _ApiError(422, "from address must be in the US", "foreign_return_address")
    file = body.get("file")
    if not isinstance(file, str) or not file.strip():
        raise _ApiError(422, "file is required")
    color = _bool(body.get("color"), "color", required=True)
    double_sided = _bool(body.get("double_sided"), "double_sided", required=False)
    use_type = body.get("use_type")
    if use_type is None or use_type == "":
        raise _ApiError(422, "use_type is required")
    if use_type not in _USE_TYPES:
        raise _ApiError(422, "use_type must be one of [marketing, operational]")
    mail_type = body.get("mail_type") or "usps_first_class"
    if mail_type not in _MAIL_TYPES:
        raise _ApiError(422, "mail_type must be one of [usps_first_class, usps_standard]")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _ApiError(422, "metadata must be an object")
    if len(metadata) > 20:
        raise _ApiError(422, "metadata must have at most 20 keys")
    for key, value in metadata.items():
        if not isinstance(value, str) or len(key) > 40 or len(value) > 500:
            raise _ApiError(
                422, "metadata keys are at most 40 characters, values strings of at most 500"
            )
    merge_variables = body.get("merge_variables")
    if merge_variables is not None and not isinstance(merge_variables, dict):
        raise _ApiError(422, "merge_variables must be an object")
    return {
        "description": description,
        "to": to,
        "from_": from_,
        "file": file,
        "color": color,
        "double_sided": True if double_sided is None else double_sided,
        "use_type": use_type,
        "mail_type": mail_type,
        "metadata": dict(metadata),
        "merge_variables": merge_variables,
        "send_date": _send_date(body.get("send_date")),
    }


def _address(value: Any, side: str) -> dict[str, Any]:
    """An inline address object, checked as Lob checks a US address."""
    if isinstance(value, str):
        # An address id (adr_…) of a saved address: the simulator keeps none.
        raise _ApiError(404, f"{side} address not found")
    if not isinstance(value, dict):
        raise _ApiError(422, f"{side} is required")
    address = {k: v for k, v in value.items() if v not in (None, "")}
    for name in address:
        if name not in (*_ADDRESS_FIELDS, "email", "phone", "description", "metadata"):
            raise _ApiError(422, f"{side}.{name} is not allowed")
    if not address.get("name") and not address.get("company"):
        raise _ApiError(422, f"{side}.name is required if {side}.company is not provided")
    for name in ("name", "company"):
        if len(str(address.get(name, ""))) > 40:
            raise _ApiError(
                422,
                f"{side}.{name} must be less than or equal to 40 characters long",
                "address_length_exceeds_limit",
            )
    if not address.get("address_line1"):
        raise _ApiError(422, f"{side}.address_line1 is required")
    for name in ("address_line1", "address_line2"):
        if len(str(address.get(name, ""))) > 64:
            raise _ApiError(
                422,
                f"{side}.{name} must be less than or equal to 64 characters long",
                "address_length_exceeds_limit",
            )
    country = str(address.get("address_country", "US")).upper()
    address["address_country"] = "US" if country in ("US", "UNITED STATES") else country
    if address["address_country"] == "US":
        for name in ("address_city", "address_state", "address_zip"):
            if not address.get(name):
                raise _ApiError(422, f"{side}.{name} is required")
        if str(address["address_state"]).upper() not in US_STATES:
            raise _ApiError(
                422, f"{side}.address_state must be a 2 letter US state or territory code"
            )
        if not _ZIP.match(str(address["address_zip"])):
            raise _ApiError(422, f"{side}.address_zip must be in the format 12345 or 12345-6789")
    if side == "to" and UNDELIVERABLE in str(address["address_line1"]).upper():
        raise _ApiError(
            422,
            "to address is undeliverable (failed your account's deliverability strictness)",
            "failed_deliverability_strictness",
        )
    return address


def _bool(value: Any, name: str, *, required: bool) -> bool | None:
    if value is None or value == "":
        if required:
            raise _ApiError(422, f"{name} is required")
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _ApiError(422, f"{name} must be a boolean")


def _send_date(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _ApiError(422, "send_date must be a date-time string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _ApiError(422, "send_date must be an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _int_param(value: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < low or (high is not None and int(value) > high):
        bound = f" and {high}" if high is not None else ""
        raise _ApiError(422, f"{name} must be an integer between {low}{bound}")
    return int(value)


def _date_filters(items: list[tuple[str, str]]) -> list[Callable[[datetime], bool]]:
    """``date_created[gt|gte|lt|lte]=<ISO 8601>`` filters."""
    checks: list[Callable[[datetime], bool]] = []
    tests: dict[str, Callable[[datetime, datetime], bool]] = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    for name, value in items:
        if not name.startswith("date_created["):
            continue
        op = name[len("date_created[") : -1]
        if op not in tests or not name.endswith("]"):
            raise _ApiError(422, f"{name} is not allowed")
        try:
            bound = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _ApiError(422, f"{name} must be an ISO 8601 date-time") from None
        bound = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
        checks.append(_bounded(tests[op], bound))
    return checks


def _bounded(
    test: Callable[[datetime, datetime], bool], bound: datetime
) -> Callable[[datetime], bool]:
    return lambda moment: test(moment, bound)


def _cursor(letter_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": letter_id}).encode()).decode().rstrip("=")


def _cursor_id(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        found = json.loads(base64.urlsafe_b64decode(padded))["id"]
    except (ValueError, KeyError, TypeError):
        raise _ApiError(422, "invalid cursor") from None
    if not isinstance(found, str):
        raise _ApiError(422, "invalid cursor")
    return found


def _after_cursor(matching: list[SimulatedLetter], cursor: str) -> int:
    letter_id = _cursor_id(cursor)
    for index, letter in enumerate(matching):
        if letter.id == letter_id:
            return index + 1
    raise _ApiError(422, "invalid cursor")


def _before_cursor(matching: list[SimulatedLetter], cursor: str) -> int:
    letter_id = _cursor_id(cursor)
    for index, letter in enumerate(matching):
        if letter.id == letter_id:
            return index
    raise _ApiError(422, "invalid cursor")


def _address_json(address: dict[str, Any], created: str) -> dict[str, Any]:
    fields = {name: address.get(name) for name in _ADDRESS_FIELDS}
    return {
        "id": address.get("id"),
        "description": address.get("description"),
        **fields,
        "email": address.get("email"),
        "phone": address.get("phone"),
        "metadata": {},
        "date_created": created,
        "date_modified": created,
        "object": "address",
    }


def _failure_message(status: int) -> str:
    if status == 429:
        return "Rate limit exceeded. Please wait 5 seconds and try your request again."
    return HTTPStatus(status).phrase


def _id(prefix: str) -> str:
    # Random, not seeded: ids must not repeat across simulator restarts.
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
