"""A local, protocol-faithful stand-in for Twilio's Messages and Calls REST API.

The production ``adapters.twilio.TwilioClient`` talks to it unchanged: same URLs
(``/2010-04-01/Accounts/{AccountSid}/Messages.json`` …), form-encoded bodies,
HTTP Basic auth, Twilio's JSON resources and error bodies, its test "magic"
numbers, and signed, form-encoded status callbacks. What a real network would
decide (does the debtor pick up? voicemail?) is decided deterministically from
the number and ``seed``, so demos and tests replay identically.

Besides creating and fetching, it lists Messages and Calls the way Twilio does
(newest first; ``To``/``From``/``Status`` and day-granular date filters; pages of
``PageSize`` with ``next_page_uri``), and updates a Call with ``Status=canceled``
or ``Status=completed`` to hang it up.

Beyond Twilio it accepts an ``Idempotency-Key`` header (a repeated create
returns the first resource) and can inject 4xx/5xx outages with ``fail_next``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any, Literal, TypeVar, get_args
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.datastructures import FormData, QueryParams

from domain.account import E164
from simulators.http import EmbeddedServer, basic_credentials

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "simulator-auth-token"

CallStatus = Literal[
    "queued", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"
]
FinalCallStatus = Literal["completed", "busy", "no-answer", "failed", "canceled"]
AnsweredBy = Literal[
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
]
MessageStatus = Literal["queued", "sent", "delivered", "undelivered", "failed"]

_T = TypeVar("_T")
Listener = Callable[[_T], Awaitable[None] | None]

_E164 = TypeAdapter(E164)
_MAX_BODY = 1600
_DEFAULT_CALL_EVENTS = frozenset({"completed"})
_CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
_MACHINE_DETECTION = frozenset({"Enable", "DetectMessageEnd"})
_SIP_CODES = {"completed": "200", "busy": "486", "no-answer": "487", "failed": "500"}
_FINAL_CALL_STATUSES = frozenset(get_args(FinalCallStatus))
_CALL_STATUSES = frozenset(get_args(CallStatus))
# Twilio's list defaults: 50 records a page, at most 1000.
_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 1000

# Twilio's test-credential magic numbers (docs: /docs/iam/test-credentials).
_SMS_TO_ERRORS = {
    "+15005550001": (21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number: {to}, is not currently reachable via SMS."),
    "+15005550003": (
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the"
        " 'To' number: {to}.",
    ),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
_SMS_FROM_ERRORS = {
    "+15005550001": (
        21212,
        "The 'From' number {from_} is not a valid phone number, shortcode, or alphanumeric"
        " sender ID.",
    ),
    "+15005550007": (
        21606,
        "The From phone number {from_} is not a valid, SMS-capable inbound phone number or"
        " short code for your account.",
    ),
    "+15005550008": (
        21611,
        "This 'From' number has exceeded the maximum number of queued messages",
    ),
}
_CALL_TO_ERRORS = {
    "+15005550001": (21211, "Invalid 'To' Phone Number: {to}"),
    "+15005550002": (21214, "'To' phone number cannot be reached"),
    "+15005550003": (21215, "Account not authorized to call {to}. Check your geo permissions."),
    "+15005550004": (21216, "Call blocked by Twilio blocklist"),
}
_CALL_FROM_ERRORS = {
    "+15005550001": (21212, "Invalid 'From' Phone Number: {from_}"),
}

# GSM 03.38: messages using only these fit 160 characters per segment; the
# extension set costs two septets; anything else forces UCS-2 (70 per segment).
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = frozenset("^{}\\[~]|€\f")


def twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]
) -> str:
    """``X-Twilio-Signature`` for a form-encoded request to ``url``.

    Exactly Twilio's scheme (and its helper libraries'): the full URL, then each
    parameter name followed by its value, names sorted, values of a repeated
    name sorted and de-duplicated; HMAC-SHA1 keyed with the auth token, base64.
    For a request with repeated parameters pass pairs (Starlette:
    ``form.multi_items()``); a mapping only carries one value per name.
    """
    pairs = params.items() if isinstance(params, Mapping) else params
    grouped: dict[str, set[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, set()).add(value)
    payload = url + "".join(
        name + value for name in sorted(grouped) for value in sorted(grouped[name])
    )
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class SimulatedMessage(BaseModel):
    """A Message resource as the simulator holds it (mutated as it progresses)."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status: MessageStatus = "queued"
    num_segments: int
    status_callback: str | None = None
    idempotency_key: str | None = None
    traceparent: str | None = None  # the W3C trace context the create request carried
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None


class SimulatedCall(BaseModel):
    """A Call resource as the simulator holds it (mutated as it progresses).

    ``answered_by`` is only reported when the call asked for MachineDetection,
    as on Twilio. ``duration`` is simulated talk time in seconds, not wall time.
    ``start_time`` is when the call was dialled (None while queued), answered or not,
    as on Twilio. ``twiml`` is the inline Twiml, or what ``url`` returned when answered.
    """

    sid: str
    account_sid: str
    to: str
    from_: str
    twiml: str | None = None
    url: str | None = None
    method: Literal["GET", "POST"] = "POST"
    status: CallStatus = "queued"
    answered_by: AnsweredBy | None = None
    duration: int | None = None
    machine_detection: str | None = None
    status_callback: str | None = None
    status_callback_events: frozenset[str] = _DEFAULT_CALL_EVENTS
    idempotency_key: str | None = None
    traceparent: str | None = None  # the W3C trace context the create request carried
    date_created: datetime
    date_updated: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None


class _Outcome(BaseModel):
    status: FinalCallStatus
    machine: bool = False
    answered_by: AnsweredBy | None = None
    duration: int = 0


@dataclass
class _CallRun:
    """What drives one call: its drawn outcome, its progress task, its callback count."""

    outcome: _Outcome
    task: asyncio.Task[None] | None = None
    sequence: int = 0  # SequenceNumber of the next status callback
    answered_at: float | None = None  # loop time the call was answered


class _ApiError(Exception):
    """Rendered as Twilio's error body by the app's exception handler."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if self.status == 401 else None
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        return JSONResponse(body, status_code=self.status, headers=headers)


class ProviderHold:
    """A create the simulator holds (``TwilioSimulator.hold_next``)."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.released = asyncio.Event()

    def release(self) -> None:
        self.released.set()


class TwilioSimulator:
    """Twilio's Messages and Calls API on the running event loop (uvicorn).

    Messages progress queued → sent → delivered, ``step_seconds`` apart. Calls
    progress queued → ringing → in-progress → completed, or end busy /
    no-answer, ``ring_seconds`` per stage. Whether a number answers, and
    whether a person or a machine does, is drawn from ``(seed, number)`` with
    ``answer_rate`` and ``machine_rate`` — the same number always gets the same
    outcome — unless ``force_call_outcome`` says otherwise. A call updated with
    ``Status=completed`` (or ``canceled``) ends at once, as on Twilio.
    """

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        answer_rate: float = 0.5,
        machine_rate: float = 0.3,
        seed: int = 0,
        ring_seconds: float = 0.05,
        step_seconds: float = 0.01,
    ) -> None:
        if not (0.0 <= answer_rate <= 1.0 and 0.0 <= machine_rate <= 1.0):
            raise ValueError("answer_rate and machine_rate must be within [0, 1]")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[SimulatedMessage] = []
        self.calls: list[SimulatedCall] = []
        self._answer_rate = answer_rate
        self._machine_rate = machine_rate
        self._seed = seed
        self._ring = ring_seconds
        self._step = step_seconds
        self._by_sid: dict[str, SimulatedMessage | SimulatedCall] = {}
        self._idempotent: dict[tuple[str, str], SimulatedMessage | SimulatedCall] = {}
        self._forced: dict[str, _Outcome] = {}
        self._runs: dict[str, _CallRun] = {}
        self._failures: list[int] = []
        self._stalls: list[float] = []
        self._holds: list[ProviderHold] = []
        self._message_listeners: list[Listener[SimulatedMessage]] = []
        self._call_listeners: list[Listener[SimulatedCall]] = []
        self._answer_listeners: list[Listener[SimulatedCall]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._app = self._build_app()
        self._server = EmbeddedServer(self._app, name="Twilio simulator")

    # -- lifecycle ---------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); return the base URL."""
        if self._server.started:
            raise RuntimeError("Twilio simulator already started")
        self._http = httpx.AsyncClient(timeout=5.0, trust_env=False)
        try:
            return await self._server.start(host, port)
        except BaseException:
            await self._http.aclose()
            self._http = None
            raise

    async def stop(self) -> None:
        """Cancel in-flight message/call progress and shut the server down."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.stop()
        if self._http is not None:
            await self._http.aclose()
        self._http = None

    @property
    def base_url(self) -> str:
        return self._server.base_url

    # -- scripting -----------------------------------------------------------

    def on_message(self, callback: Listener[SimulatedMessage]) -> None:
        """Call ``callback`` (sync or async) when a message is created.

        Awaited before the API answers 201, so keep it short; schedule longer
        work (a simulated debtor's reply) as a task. Exceptions are logged.
        """
        self._message_listeners.append(callback)

    def on_call(self, callback: Listener[SimulatedCall]) -> None:
        """Call ``callback`` (sync or async) when a call reaches its final status."""
        self._call_listeners.append(callback)

    def on_answer(self, callback: Listener[SimulatedCall]) -> None:
        """Call ``callback`` (sync or async) when a call is answered (``in-progress``).

        Awaited before the call can complete, so whatever it does happens while the
        caller is still waiting for the call to end (``recoup simulate`` relies on
        that: a simulated debtor reacts during the conversation). A hang-up meanwhile
        ends the call at once and lets the callback finish. Exceptions are logged.
        """
        self._answer_listeners.append(callback)

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next ``n`` POSTs with a Twilio-style error of HTTP ``status``.

        The error code is ``20000 + status`` (20429, 20500, 20503), as Twilio
        uses for HTTP-level failures. Nothing is created by a failed POST.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        if not 400 <= status <= 599 or status not in {s.value for s in HTTPStatus}:
            raise ValueError(f"{status} is not a known HTTP error status")
        self._failures.extend([status] * n)

    def stall_next(self, n: int, seconds: float) -> None:
        """Hold the next ``n`` creates for ``seconds`` before handling them normally.

        A client with a shorter timeout gives up while the provider goes on to send:
        the ambiguous failure that idempotency keys exist for.
        """
        if n < 0 or seconds < 0:
            raise ValueError("n and seconds must be >= 0")
        self._stalls.extend([seconds] * n)

    def hold_next(self) -> ProviderHold:
        """Hold the next create until ``release()``: the provider has the request (its
        ``arrived`` event is set) and has not answered yet. Tests use it to make a
        revocation land exactly while the message is with the provider."""
        hold = ProviderHold()
        self._holds.append(hold)
        return hold

    async def _held(self) -> None:
        if self._holds:  # the request is in: it is handled even if the client gives up
            hold = self._holds.pop(0)
            hold.arrived.set()
            await hold.released.wait()
        if self._stalls:
            await asyncio.sleep(self._stalls.pop(0))

    def force_call_outcome(
        self,
        number: str,
        status: FinalCallStatus = "completed",
        answered_by: AnsweredBy | None = None,
    ) -> None:
        """Fix how calls to ``number`` end, overriding the seeded draw.

        For ``completed``, ``answered_by`` defaults to ``"human"``; any other
        status means nobody answered, so ``answered_by`` must be None.
        """
        if status != "completed":
            if answered_by is not None:
                raise ValueError(f"a {status} call is not answered; answered_by must be None")
            self._forced[number] = _Outcome(status=status)
            return
        who: AnsweredBy = answered_by or "human"
        machine = who.startswith("machine") or who == "fax"
        self._forced[number] = _Outcome(
            status="completed",
            machine=machine,
            answered_by=who,
            duration=self._draw_duration(number, machine),
        )

    # -- HTTP app --------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"

        async def api_error(request: Request, exc: Exception) -> JSONResponse:
            assert isinstance(exc, _ApiError)
            return exc.response()

        async def not_found(request: Request, exc: Exception) -> JSONResponse:
            return _not_found(request.url.path).response()

        async def not_allowed(request: Request, exc: Exception) -> JSONResponse:
            return _ApiError(405, 20004, "Method not allowed").response()

        app.add_exception_handler(_ApiError, api_error)
        app.add_exception_handler(404, not_found)
        app.add_exception_handler(405, not_allowed)

        @app.post(f"{base}/Messages.json")
        async def create_message(request: Request, account_sid: str) -> JSONResponse:
            return await self._create_message(request, account_sid)

        @app.get(f"{base}/Messages.json")
        async def list_messages(request: Request, account_sid: str) -> JSONResponse:
            self._authenticate(request, account_sid)
            return JSONResponse(self._list_messages(request))

        @app.get(f"{base}/Messages/{{sid}}.json")
        async def fetch_message(request: Request, account_sid: str, sid: str) -> JSONResponse:
            self._authenticate(request, account_sid)
            message = self._by_sid.get(sid)
            if not isinstance(message, SimulatedMessage):
                raise _not_found(request.url.path)
            return JSONResponse(self._message_json(message))

        @app.post(f"{base}/Calls.json")
        async def create_call(request: Request, account_sid: str) -> JSONResponse:
            return await self._create_call(request, account_sid)

        @app.get(f"{base}/Calls.json")
        async def list_calls(request: Request, account_sid: str) -> JSONResponse:
            self._authenticate(request, account_sid)
            return JSONResponse(self._list_calls(request))

        @app.get(f"{base}/Calls/{{sid}}.json")
        async def fetch_call(request: Request, account_sid: str, sid: str) -> JSONResponse:
            self._authenticate(request, account_sid)
            call = self._by_sid.get(sid)
            if not isinstance(call, SimulatedCall):
                raise _not_found(request.url.path)
            return JSONResponse(self._call_json(call))

        @app.post(f"{base}/Calls/{{sid}}.json")
        async def update_call(request: Request, account_sid: str, sid: str) -> JSONResponse:
            return await self._update_call(request, account_sid, sid)

        return app

    def _authenticate(self, request: Request, account_sid: str) -> None:
        user, password = basic_credentials(request.headers.get("authorization"))
        if not (
            hmac.compare_digest(user.encode(), self.account_sid.encode())
            and hmac.compare_digest(password.encode(), self.auth_token.encode())
        ):
            raise _ApiError(401, 20003, "Authenticate")
        if account_sid != self.account_sid:
            raise _not_found(request.url.path)

    def _admit_post(self, request: Request, account_sid: str) -> None:
        # An injected outage hits before authentication, like a failing edge.
        if self._failures:
            status = self._failures.pop(0)
            raise _ApiError(status, 20000 + status, HTTPStatus(status).phrase)
        self._authenticate(request, account_sid)

    def _replay(self, kind: str, request: Request) -> SimulatedMessage | SimulatedCall | None:
        key = _idempotency_key(request)
        return self._idempotent.get((kind, key)) if key else None

    def _remember(
        self, kind: str, request: Request, resource: SimulatedMessage | SimulatedCall
    ) -> None:
        self._by_sid[resource.sid] = resource
        key = _idempotency_key(request)
        if key:
            self._idempotent[(kind, key)] = resource

    async def _create_message(self, request: Request, account_sid: str) -> JSONResponse:
        self._admit_post(request, account_sid)
        form = await request.form()
        await self._held()
        earlier = self._replay("Messages", request)
        if isinstance(earlier, SimulatedMessage):
            return JSONResponse(self._message_json(earlier), status_code=201)
        to, from_, body = _field(form, "To"), _field(form, "From"), _field(form, "Body")
        if not to:
            raise _ApiError(400, 21604, "A 'To' phone number is required.")
        if not from_:
            raise _ApiError(400, 21603, "A 'From' phone number is required.")
        if not body:
            raise _ApiError(400, 21602, "Message body is required.")
        if len(body) > _MAX_BODY:
            raise _ApiError(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if not _is_e164(to):
            raise _ApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not _is_e164(from_):
            code, text = _SMS_FROM_ERRORS["+15005550001"]
            raise _ApiError(400, code, text.format(from_=from_))
        _magic(_SMS_FROM_ERRORS, from_, to=to, from_=from_)
        _magic(_SMS_TO_ERRORS, to, to=to, from_=from_)
        callback = _field(form, "StatusCallback") or None
        if callback is not None:
            _check_url(callback, "StatusCallback")
        now = _now()
        message = SimulatedMessage(
            sid=_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            num_segments=_segments(body),
            status_callback=callback,
            idempotency_key=_idempotency_key(request),
            traceparent=request.headers.get("traceparent"),
            date_created=now,
            date_updated=now,
        )
        self.messages.append(message)
        self._remember("Messages", request, message)
        self._spawn(self._progress_message(message))
        await _notify(self._message_listeners, message)
        return JSONResponse(self._message_json(message), status_code=201)

    async def _create_call(self, request: Request, account_sid: str) -> JSONResponse:
        self._admit_post(request, account_sid)
        form = await request.form()
        await self._held()
        earlier = self._replay("Calls", request)
        if isinstance(earlier, SimulatedCall):
            return JSONResponse(self._call_json(earlier), status_code=201)
        to, from_ = _field(form, "To"), _field(form, "From")
        twiml, url = _field(form, "Twiml") or None, _field(form, "Url") or None
        if not to:
            raise _ApiError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise _ApiError(400, 21213, "No 'From' number is specified")
        if twiml is None and url is None:
            raise _ApiError(400, 21205, "Url parameter is required.")
        if url is not None:
            _check_url(url, "Url")
        if twiml is not None:
            try:
                ElementTree.fromstring(twiml)
            except ElementTree.ParseError as exc:
                raise _ApiError(400, 12100, f"Document parse failure: {exc}") from exc
        if not _is_e164(to):
            raise _ApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not _is_e164(from_):
            raise _ApiError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        _magic(_CALL_FROM_ERRORS, from_, to=to, from_=from_)
        _magic(_CALL_TO_ERRORS, to, to=to, from_=from_)
        method = (_field(form, "Method") or "POST").upper()
        if method not in ("GET", "POST"):
            raise _ApiError(400, 21200, f"Method must be GET or POST, got {method}")
        machine_detection = _field(form, "MachineDetection") or None
        if machine_detection is not None and machine_detection not in _MACHINE_DETECTION:
            raise _ApiError(
                400,
                21200,
                f"MachineDetection must be Enable or DetectMessageEnd, got {machine_detection}",
            )
        callback = _field(form, "StatusCallback") or None
        if callback is not None:
            _check_url(callback, "StatusCallback")
        # Twilio accepts the events repeated or space-separated.
        events = {
            event for value in form.getlist("StatusCallbackEvent") for event in str(value).split()
        }
        if events - _CALL_EVENTS:
            raise _ApiError(
                400, 21200, f"Invalid StatusCallbackEvent: {sorted(events - _CALL_EVENTS)}"
            )
        now = _now()
        call = SimulatedCall(
            sid=_sid("CA"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            twiml=twiml,
            url=url,
            method="GET" if method == "GET" else "POST",
            machine_detection=machine_detection,
            status_callback=callback,
            status_callback_events=frozenset(events) or _DEFAULT_CALL_EVENTS,
            idempotency_key=_idempotency_key(request),
            traceparent=request.headers.get("traceparent"),
            date_created=now,
            date_updated=now,
        )
        self.calls.append(call)
        self._remember("Calls", request, call)
        run = self._runs[call.sid] = _CallRun(self._outcome_for(to))
        run.task = self._spawn(self._progress_call(call, run))
        return JSONResponse(self._call_json(call), status_code=201)

    async def _update_call(self, request: Request, account_sid: str, sid: str) -> JSONResponse:
        self._admit_post(request, account_sid)
        form = await request.form()
        call = self._by_sid.get(sid)
        if not isinstance(call, SimulatedCall):
            raise _not_found(request.url.path)
        status = _field(form, "Status")
        if not status:
            # Twilio also redirects a live call to new TwiML (Url, Twiml); Recoup never does.
            raise _ApiError(400, 21200, "Status is required (the simulator only hangs calls up)")
        if status not in ("canceled", "completed"):
            raise _ApiError(
                400, 21200, f"Invalid Status: {status}; a call can be canceled or completed"
            )
        self._end_call(call, cancel_only=status == "canceled")
        return JSONResponse(self._call_json(call))

    def _end_call(self, call: SimulatedCall, *, cancel_only: bool) -> None:
        """Hang ``call`` up as Twilio's update does.

        ``completed`` ends a call in progress (status completed, the talk time so far)
        and cancels one still queued or ringing; ``canceled`` only does the latter. A
        finished call stays as it is. No ``await`` until the call is final, so of two
        hang-ups arriving together only the first ends it and says so.
        """
        if call.status in _FINAL_CALL_STATUSES:
            return
        answered = call.status == "in-progress"
        if answered and cancel_only:
            return  # Twilio: canceled does not affect a call in progress
        run = self._runs.get(call.sid)
        if run is not None and run.task is not None:
            # Cancelled, not awaited: its next step never runs, and a hang-up requested
            # by one of its own listeners cannot wait for itself.
            run.task.cancel()
        self._set_call(
            call,
            status="completed" if answered else "canceled",
            duration=self._talk_so_far(run) if answered else 0,
            end_time=_now(),
        )
        # Like Twilio, the status callback follows the API's answer.
        self._spawn(self._call_ended(call))

    def _talk_so_far(self, run: _CallRun | None) -> int:
        """Simulated seconds talked until now.

        An answered call's drawn duration passes in ``ring_seconds`` of wall time, so a
        hang-up halfway there talked half of it.
        """
        if run is None or run.answered_at is None:
            return 0
        if self._ring <= 0:
            return run.outcome.duration
        share = (asyncio.get_running_loop().time() - run.answered_at) / self._ring
        return min(run.outcome.duration, int(run.outcome.duration * share))

    # -- listing ----------------------------------------------------------------------

    def _list_messages(self, request: Request) -> dict[str, Any]:
        query = request.query_params
        to, from_ = query.get("To") or None, query.get("From") or None
        sent = _day_filter(query, "DateSent")
        matching = [
            m
            for m in reversed(self.messages)  # newest first, as Twilio lists
            if (to is None or m.to == to)
            and (from_ is None or m.from_ == from_)
            and sent(m.date_sent)
        ]
        return _page(request, "messages", self.messages, matching, self._message_json)

    def _list_calls(self, request: Request) -> dict[str, Any]:
        query = request.query_params
        to, from_ = query.get("To") or None, query.get("From") or None
        status = query.get("Status") or None
        if status is not None and status not in _CALL_STATUSES:
            raise _ApiError(400, 21200, f"Invalid Status: {status}")
        started, ended = _day_filter(query, "StartTime"), _day_filter(query, "EndTime")
        matching = [
            c
            for c in reversed(self.calls)
            if (to is None or c.to == to)
            and (from_ is None or c.from_ == from_)
            and (status is None or c.status == status)
            and started(c.start_time)
            and ended(c.end_time)
        ]
        return _page(request, "calls", self.calls, matching, self._call_json)

    # -- progress and callbacks --------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _progress_message(self, message: SimulatedMessage) -> None:
        try:
            # The first pause lets the 201 reach the client before any callback.
            await asyncio.sleep(self._step)
            await self._message_callback(message)
            progression: tuple[MessageStatus, ...] = ("sent", "delivered")
            for status in progression:
                await asyncio.sleep(self._step)
                message.status = status
                message.date_updated = _now()
                if status == "sent":
                    message.date_sent = message.date_updated
                await self._message_callback(message)
        except Exception:
            log.exception("message %s progress failed", message.sid)

    async def _message_callback(self, message: SimulatedMessage) -> None:
        if message.status_callback is None:
            return
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "MessageSid": message.sid,
            "MessageStatus": message.status,
            "SmsSid": message.sid,
            "SmsStatus": message.status,
            "To": message.to,
        }
        await self._post_webhook(message.status_callback, params)

    async def _progress_call(self, call: SimulatedCall, run: _CallRun) -> None:
        outcome = run.outcome
        try:
            await asyncio.sleep(self._step)
            # Dialled: Twilio's start_time is when the call was placed, answered or not.
            self._set_call(call, start_time=_now())
            await self._call_event(call, "initiated", detached=True, CallStatus="initiated")
            if outcome.status != "failed":
                self._set_call(call, status="ringing")
                await self._call_event(call, "ringing", detached=True)
                await asyncio.sleep(self._ring)
            if outcome.status == "completed":
                answered_by: AnsweredBy | None = None
                if call.machine_detection is not None:
                    answered_by = outcome.answered_by
                    if (
                        call.machine_detection == "DetectMessageEnd"
                        and answered_by == "machine_start"
                    ):
                        answered_by = "machine_end_beep"
                self._set_call(call, status="in-progress", answered_by=answered_by)
                run.answered_at = asyncio.get_running_loop().time()
                if call.url is not None:
                    call.twiml = await self._fetch_twiml(call)
                # Detached like the callbacks: a hang-up ends the call, not the listener.
                await asyncio.shield(self._spawn(_notify(self._answer_listeners, call)))
                await self._call_event(call, "answered", detached=True)
                await asyncio.sleep(self._ring)
            self._set_call(call, status=outcome.status, duration=outcome.duration, end_time=_now())
            await self._call_ended(call)
        except Exception:
            log.exception("call %s progress failed", call.sid)

    async def _call_ended(self, call: SimulatedCall) -> None:
        """Say once that ``call`` is over: its "completed" status callback, then ``on_call``."""
        duration = call.duration or 0
        await self._call_event(
            call,
            "completed",
            CallDuration=str(duration),
            Duration=str(math.ceil(duration / 60)),
            SipResponseCode=_SIP_CODES.get(call.status, "487"),
        )
        await _notify(self._call_listeners, call)

    async def _call_event(
        self, call: SimulatedCall, name: str, *, detached: bool = False, **extra: str
    ) -> None:
        """Post the call's status callback for event ``name``, if it asked for it.

        The parameters are taken now. ``detached``: the post runs to its end even if
        the progress awaiting it is hung up (Twilio would have delivered it).
        """
        if call.status_callback is None or name not in call.status_callback_events:
            return
        run = self._runs[call.sid]
        params = self._call_params(call) | extra
        params |= {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(run.sequence),
            "Timestamp": format_datetime(_now()),
        }
        run.sequence += 1
        post = self._post_webhook(call.status_callback, params)
        if detached:
            await asyncio.shield(self._spawn(post))
        else:
            await post

    def _set_call(self, call: SimulatedCall, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(call, name, value)
        call.date_updated = _now()

    def _call_params(self, call: SimulatedCall) -> dict[str, str]:
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
        }
        if call.answered_by is not None:
            params["AnsweredBy"] = call.answered_by
        return params

    async def _fetch_twiml(self, call: SimulatedCall) -> str | None:
        """Ask the call's Url what to do, as Twilio does when the call connects."""
        assert call.url is not None and self._http is not None
        params = self._call_params(call)
        try:
            if call.method == "GET":
                request = self._http.build_request("GET", call.url, params=params)
                url = str(request.url)
                signature = twilio_signature(self.auth_token, url, {})
            else:
                request = self._http.build_request("POST", call.url, data=params)
                signature = twilio_signature(self.auth_token, call.url, params)
            request.headers.update(self._webhook_headers(signature))
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            log.warning("call %s: fetching TwiML from %s failed: %s", call.sid, call.url, exc)
            return None
        if response.is_success:
            return response.text
        log.warning("call %s: %s answered %s", call.sid, call.url, response.status_code)
        return None

    async def _post_webhook(self, url: str, params: dict[str, str]) -> None:
        # Twilio does not retry status callbacks; a failed one is only logged.
        assert self._http is not None
        headers = self._webhook_headers(twilio_signature(self.auth_token, url, params))
        try:
            response = await self._http.post(url, data=params, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("status callback to %s failed: %s", url, exc)
            return
        if not response.is_success:
            log.warning("status callback to %s answered %s", url, response.status_code)

    @staticmethod
    def _webhook_headers(signature: str) -> dict[str, str]:
        return {
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1",
        }

    # -- deterministic outcomes ---------------------------------------------------

    def _outcome_for(self, number: str) -> _Outcome:
        forced = self._forced.get(number)
        if forced is not None:
            return forced
        if self._draw(number, "answer") >= self._answer_rate:
            # Most unanswered calls ring out; a quarter find the line busy.
            busy = self._draw(number, "busy") < 0.25
            return _Outcome(status="busy" if busy else "no-answer")
        machine = self._draw(number, "machine") < self._machine_rate
        return _Outcome(
            status="completed",
            machine=machine,
            answered_by="machine_start" if machine else "human",
            duration=self._draw_duration(number, machine),
        )

    def _draw_duration(self, number: str, machine: bool) -> int:
        u = self._draw(number, "duration")
        # A voicemail greeting plus message is short; a conversation longer.
        return 8 + int(u * 25) if machine else 20 + int(u * 160)

    def _draw(self, number: str, purpose: str) -> float:
        """A uniform number in [0, 1) fixed by (seed, number, purpose)."""
        digest = hashlib.sha256(f"{self._seed}:{number}:{purpose}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    # -- resource JSON ------------------------------------------------------------

    def _message_json(self, m: SimulatedMessage) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{m.account_sid}/Messages/{m.sid}"
        return {
            "account_sid": m.account_sid,
            "api_version": API_VERSION,
            "body": m.body,
            "date_created": _rfc2822(m.date_created),
            "date_sent": _rfc2822(m.date_sent),
            "date_updated": _rfc2822(m.date_updated),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": m.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(m.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": m.sid,
            "status": m.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": m.to,
            "uri": f"{uri}.json",
        }

    def _call_json(self, c: SimulatedCall) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{c.account_sid}/Calls/{c.sid}"
        return {
            "account_sid": c.account_sid,
            "annotation": None,
            "answered_by": c.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": _rfc2822(c.date_created),
            "date_updated": _rfc2822(c.date_updated),
            "direction": "outbound-api",
            "duration": None if c.duration is None else str(c.duration),
            "end_time": _rfc2822(c.end_time),
            "forwarded_from": None,
            "from": c.from_,
            "from_formatted": c.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": c.sid,
            "start_time": _rfc2822(c.start_time),
            "status": c.status,
            "subresource_uris": {
                name: f"{uri}/{path}.json"
                for name, path in (
                    ("notifications", "Notifications"),
                    ("recordings", "Recordings"),
                    ("events", "Events"),
                )
            },
            "to": c.to,
            "to_formatted": c.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }


async def _notify(listeners: list[Listener[_T]], item: _T) -> None:
    for listener in list(listeners):
        try:
            result = listener(item)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("Twilio simulator listener failed")


_R = TypeVar("_R", SimulatedMessage, SimulatedCall)


def _page(
    request: Request,
    key: str,
    everything: Sequence[_R],
    matching: list[_R],
    render: Callable[[_R], dict[str, Any]],
) -> dict[str, Any]:
    """One page of ``matching`` (newest first) in Twilio's list envelope.

    ``Page`` alone counts pages from the newest record. The ``PageToken`` in
    ``next_page_uri`` names the record the page ends at (``PA<sid>``; ``PB<sid>`` the
    one ``previous_page_uri`` starts at), so a client following it neither repeats nor
    skips records while new ones arrive at the front.
    """
    query = request.query_params
    size = _page_size(query.get("PageSize"))
    page = _page_number(query.get("Page"))
    token = query.get("PageToken") or None
    if token is None:
        start = min(page * size, len(matching))
        end = min(start + size, len(matching))
    else:
        order = {r.sid: i for i, r in enumerate(everything)}  # creation order
        anchor = order.get(token[2:])
        if token[:2] not in ("PA", "PB") or anchor is None:
            raise _ApiError(400, 21200, f"Invalid PageToken: {token}")
        if token.startswith("PA"):  # the page after the anchor (older records)
            start = next(
                (i for i, r in enumerate(matching) if order[r.sid] < anchor), len(matching)
            )
            end = min(start + size, len(matching))
        else:  # the page before it (newer records)
            end = next((i for i, r in enumerate(matching) if order[r.sid] <= anchor), len(matching))
            start = max(0, end - size)
    items = matching[start:end]
    filters: list[tuple[str, str]] = [
        (k, v) for k, v in query.multi_items() if k not in ("PageSize", "Page", "PageToken")
    ]

    def uri(number: int, page_token: str | None) -> str:
        params = [*filters, ("PageSize", str(size)), ("Page", str(number))]
        if page_token is not None:
            params.append(("PageToken", page_token))
        return f"{request.url.path}?{urlencode(params)}"

    previous = None
    if start > 0:
        previous = uri(max(page - 1, 0), "PB" + items[0].sid if items else None)
    return {
        key: [render(r) for r in items],
        "end": page * size + max(len(items) - 1, 0),
        "first_page_uri": uri(0, None),
        "next_page_uri": uri(page + 1, "PA" + items[-1].sid) if end < len(matching) else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": previous,
        "start": page * size,
        "uri": uri(page, token),
    }


def _page_size(value: str | None) -> int:
    if not value:
        return _DEFAULT_PAGE_SIZE
    if not value.isdigit() or not 1 <= int(value) <= _MAX_PAGE_SIZE:
        raise _ApiError(
            400, 21200, f"Invalid PageSize: {value}; it must be from 1 to {_MAX_PAGE_SIZE}"
        )
    return int(value)


def _page_number(value: str | None) -> int:
    if not value:
        return 0
    if not value.isdigit():
        raise _ApiError(400, 21200, f"Invalid Page: {value}")
    return int(value)


def _day_filter(query: QueryParams, name: str) -> Callable[[datetime | None], bool]:
    """Twilio's date filter ``name``: ``name`` (that UTC day), ``name<`` and ``name>``.

    Twilio compares days (YYYY-MM-DD, UTC), and words the bounds both as "on or before
    / after midnight of the date" and "on and before / after the date"; both bounds
    include the day here, so a client that narrows by day and then filters precisely
    never loses a record. A record without the date matches no date filter.
    """
    on, before, after = (_day(query, name + suffix) for suffix in ("", "<", ">"))

    def keep(moment: datetime | None) -> bool:
        if on is None and before is None and after is None:
            return True
        if moment is None:
            return False
        day = moment.astimezone(UTC).date()
        return (
            (on is None or day == on)
            and (before is None or day <= before)
            and (after is None or day >= after)
        )

    return keep


def _day(query: QueryParams, name: str) -> date | None:
    value = query.get(name)
    if not value:
        return None
    try:
        if len(value) == len("YYYY-MM-DD"):
            return date.fromisoformat(value)
        # Twilio's helper libraries send a full ISO 8601 time; only its day counts.
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _ApiError(400, 21200, f"Invalid {name}: {value}; expected YYYY-MM-DD") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def _idempotency_key(request: Request) -> str | None:
    return request.headers.get("idempotency-key") or request.headers.get(
        "i-twilio-idempotency-token"
    )


def _field(form: FormData, name: str) -> str:
    # Uploaded files are not parameters; Twilio would see them as absent.
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _is_e164(number: str) -> bool:
    try:
        _E164.validate_python(number)
    except ValidationError:
        return False
    return True


def _magic(table: Mapping[str, tuple[int, str]], number: str, *, to: str, from_: str) -> None:
    if number in table:
        code, text = table[number]
        raise _ApiError(400, code, text.format(to=to, from_=from_))


def _check_url(url: str, name: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _ApiError(400, 21205 if name == "Url" else 21609, f"{name} is not a valid URL: {url}")


def _not_found(path: str) -> _ApiError:
    return _ApiError(404, 20404, f"The requested resource {path} was not found")


def _segments(body: str) -> int:
    if all(ch in _GSM7 or ch in _GSM7_EXT for ch in body):
        units, single, multi = len(body) + sum(ch in _GSM7_EXT for ch in body), 160, 153
    else:
        units, single, multi = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def _sid(prefix: str) -> str:
    # Random, not seeded: sids must not repeat across simulator restarts, or a
    # persistent read model would mix up two runs' messages.
    return prefix + uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc2822(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment)
