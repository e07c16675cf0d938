"""TwilioClient against the Twilio simulator, over real HTTP, callbacks included."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TypeVar
from xml.etree import ElementTree

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from adapters.errors import ProviderError
from adapters.twilio import CallState, TwilioClient, say_twiml
from simulators.http import EmbeddedServer
from simulators.twilio import (
    AnsweredBy,
    FinalCallStatus,
    SimulatedCall,
    SimulatedMessage,
    TwilioSimulator,
    twilio_signature,
)

ACCOUNT = "AC" + "a1" * 16
TOKEN = "f" * 32
FROM = "+15005550006"
DEBTOR = "+14155550123"

T = TypeVar("T")


@dataclass
class Hit:
    """One webhook request as our endpoint saw it."""

    path: str
    url: str
    params: list[tuple[str, str]]
    headers: dict[str, str]

    @property
    def form(self) -> dict[str, str]:
        return dict(self.params)


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class WebhookReceiver:
    """The customer side of Twilio's webhooks: records status callbacks, serves TwiML."""

    def __init__(self, twiml: str = "<Response><Say>Hello</Say></Response>") -> None:
        self.hits: list[Hit] = []
        self.twiml = twiml
        app = FastAPI()

        @app.post("/status")
        async def status(request: Request) -> Response:
            await self._record(request)
            return Response(status_code=204)

        @app.api_route("/twiml", methods=["GET", "POST"])
        async def twiml_endpoint(request: Request) -> Response:
            await self._record(request)
            return Response(self.twiml, media_type="application/xml")

        sock = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._sock = sock
        self._server = _QuietServer(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._task: asyncio.Task[None] | None = None

    async def _record(self, request: Request) -> None:
        form = await request.form()
        params = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        self.hits.append(Hit(request.url.path, str(request.url), params, dict(request.headers)))

    async def start(self) -> None:
        task = self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if task.done():
                raise RuntimeError("webhook receiver failed to start")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task

    def on(self, path: str, **match: str) -> list[Hit]:
        return [
            h
            for h in self.hits
            if h.path == path and all(h.form.get(k) == v for k, v in match.items())
        ]


async def eventually(probe: Callable[[], Awaitable[T | None]]) -> T:
    """Poll ``probe`` until it returns something truthy (or fail after 5 s)."""
    async with asyncio.timeout(5):
        while True:
            result = await probe()
            if result:
                return result
            await asyncio.sleep(0.01)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hooks = WebhookReceiver()
    await hooks.start()
    yield hooks
    await hooks.stop()


@pytest.fixture
async def sim() -> AsyncIterator[TwilioSimulator]:
    simulator = TwilioSimulator(ACCOUNT, TOKEN, seed=7, ring_seconds=0.02)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def twilio(sim: TwilioSimulator, receiver: WebhookReceiver) -> AsyncIterator[TwilioClient]:
    async with TwilioClient(
        sim.base_url, ACCOUNT, TOKEN, FROM, status_callback_url=f"{receiver.base}/status"
    ) as api:
        yield api


async def final_call(twilio: TwilioClient, sid: str) -> CallState:
    async def probe() -> CallState | None:
        call = await twilio.get_call(sid)
        return call if call.finished else None

    return await eventually(probe)


# -- signature ---------------------------------------------------------------------------


def test_signature_matches_twilios_documented_example() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    # Order of the parameters does not matter; repeated names are pairs.
    assert twilio_signature("12345", url, list(reversed(params.items()))) == (
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


def test_say_twiml_escapes_and_localises() -> None:
    twiml = say_twiml('Pay <now> & "save" 5%', "es")
    say = ElementTree.fromstring(twiml).find("Say")
    assert say is not None
    assert say.get("language") == "es-US"
    assert say.text == 'Pay <now> & "save" 5%'
    assert 'language="en-US"' in say_twiml("x", "en")
    assert 'language="pt-PT"' in say_twiml("x", "pt-PT")


# -- SMS -----------------------------------------------------------------------------------


async def test_sms_create_and_get(sim: TwilioSimulator, twilio: TwilioClient) -> None:
    receipt = await twilio.send_sms(DEBTOR, "You owe 12.50 USD.", idempotency_key="a1/s1/sms")

    assert receipt.sid.startswith("SM") and len(receipt.sid) == 34
    assert receipt.status == "queued"
    assert [m.sid for m in sim.messages] == [receipt.sid]
    assert sim.messages[0].body == "You owe 12.50 USD."

    # The raw resource is shaped like Twilio's.
    async with httpx.AsyncClient(auth=(ACCOUNT, TOKEN)) as raw:
        url = f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT}/Messages/{receipt.sid}.json"
        body = (await raw.get(url)).json()
    assert body["sid"] == receipt.sid
    assert body["account_sid"] == ACCOUNT
    assert (body["to"], body["from"]) == (DEBTOR, FROM)
    assert body["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{receipt.sid}.json"
    assert body["num_segments"] == "1"
    assert parsedate_to_datetime(body["date_created"]).utcoffset() is not None

    async def delivered() -> bool:
        return (await twilio.get_message(receipt.sid)).status == "delivered"

    await eventually(delivered)


async def test_wrong_credentials_are_not_retryable(sim: TwilioSimulator) -> None:
    async with TwilioClient(sim.base_url, ACCOUNT, "wrong-token", FROM) as bad:
        with pytest.raises(ProviderError) as caught:
            await bad.send_sms(DEBTOR, "hi", idempotency_key="k")
    err = caught.value
    assert (err.retryable, err.status_code, err.code) == (False, 401, "20003")
    assert sim.messages == []

    async with httpx.AsyncClient() as raw:
        response = await raw.post(f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", "21211"),  # magic: invalid number
        ("+15005550009", "21614"),  # magic: not SMS-capable
        ("+15005550004", "21610"),  # magic: unsubscribed (STOP)
        ("4155550123", "21211"),  # not E.164
    ],
)
async def test_unusable_numbers_fail_permanently_with_twilio_code(
    sim: TwilioSimulator, twilio: TwilioClient, to: str, code: str
) -> None:
    with pytest.raises(ProviderError) as caught:
        await twilio.send_sms(to, "hi", idempotency_key=f"bad-{to}")
    err = caught.value
    assert (err.retryable, err.status_code, err.code, err.provider) == (False, 400, code, "twilio")
    assert sim.messages == []


async def test_injected_outage_is_retryable_then_recovers(
    sim: TwilioSimulator, twilio: TwilioClient
) -> None:
    sim.fail_next(1)
    with pytest.raises(ProviderError) as caught:
        await twilio.send_sms(DEBTOR, "hi", idempotency_key="a1/s2/sms")
    assert (caught.value.retryable, caught.value.status_code) == (True, 503)
    assert caught.value.code == "20503"

    sim.fail_next(1, status=429)
    with pytest.raises(ProviderError) as caught:
        await twilio.send_sms(DEBTOR, "hi", idempotency_key="a1/s2/sms")
    assert (caught.value.retryable, caught.value.status_code) == (True, 429)

    receipt = await twilio.send_sms(DEBTOR, "hi", idempotency_key="a1/s2/sms")
    assert [m.sid for m in sim.messages] == [receipt.sid]


async def test_idempotency_key_returns_the_first_message(
    sim: TwilioSimulator, twilio: TwilioClient
) -> None:
    first = await twilio.send_sms(DEBTOR, "hi", idempotency_key="a1/s3/sms")
    again = await twilio.send_sms(DEBTOR, "hi", idempotency_key="a1/s3/sms")
    racing = await asyncio.gather(
        *(twilio.send_sms(DEBTOR, "hi", idempotency_key="a1/s4/sms") for _ in range(5))
    )
    assert again.sid == first.sid
    assert len({r.sid for r in racing}) == 1
    assert racing[0].sid != first.sid
    assert len(sim.messages) == 2


async def test_status_callbacks_are_signed_like_twilio(
    sim: TwilioSimulator, twilio: TwilioClient, receiver: WebhookReceiver
) -> None:
    receipt = await twilio.send_sms(DEBTOR, "hi", idempotency_key="a1/s5/sms")

    hits = await eventually(lambda: _ready(receiver.on("/status", MessageSid=receipt.sid), count=3))
    assert [h.form["MessageStatus"] for h in hits] == ["queued", "sent", "delivered"]
    for hit in hits:
        form = hit.form
        assert form["SmsSid"] == receipt.sid
        assert (form["To"], form["From"], form["AccountSid"]) == (DEBTOR, FROM, ACCOUNT)
        assert form["ApiVersion"] == "2010-04-01"
        assert hit.url == f"{receiver.base}/status"
        signature = hit.headers["x-twilio-signature"]
        assert twilio_signature(TOKEN, hit.url, hit.params) == signature
        assert twilio_signature("not-the-token", hit.url, hit.params) != signature
        assert hit.headers["i-twilio-idempotency-token"]


async def test_message_listeners_sync_and_async(sim: TwilioSimulator, twilio: TwilioClient) -> None:
    seen: list[str] = []
    seen_async: list[SimulatedMessage] = []

    async def remember(message: SimulatedMessage) -> None:
        seen_async.append(message)

    sim.on_message(lambda m: seen.append(m.body))
    sim.on_message(remember)
    await twilio.send_sms(DEBTOR, "first", idempotency_key="l1")
    await twilio.send_sms(DEBTOR, "second", idempotency_key="l2")
    assert seen == ["first", "second"]
    assert [m.to for m in seen_async] == [DEBTOR, DEBTOR]


async def test_unknown_sid_is_not_found(twilio: TwilioClient) -> None:
    with pytest.raises(ProviderError) as caught:
        await twilio.get_message("SM" + "0" * 32)
    assert (caught.value.retryable, caught.value.status_code, caught.value.code) == (
        False,
        404,
        "20404",
    )


async def test_unreachable_api_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    async with TwilioClient(f"http://127.0.0.1:{closed}", ACCOUNT, TOKEN, FROM) as twilio:
        with pytest.raises(ProviderError) as caught:
            await twilio.send_sms(DEBTOR, "hi", idempotency_key="k")
    assert caught.value.retryable is True


# -- calls -----------------------------------------------------------------------------------


async def test_call_progresses_to_completed_with_callbacks(
    sim: TwilioSimulator, twilio: TwilioClient, receiver: WebhookReceiver
) -> None:
    sim.force_call_outcome(DEBTOR, "completed", "human")
    receipt = await twilio.place_call(
        DEBTOR, "Hola <Ana> & familia", language="es", idempotency_key="a1/s6/phone"
    )
    assert receipt.sid.startswith("CA") and len(receipt.sid) == 34
    assert receipt.status == "queued"

    call = await final_call(twilio, receipt.sid)
    assert (call.status, call.answered_by) == ("completed", "human")
    assert call.duration is not None and call.duration > 0

    hits = await eventually(lambda: _ready(receiver.on("/status", CallSid=receipt.sid), count=4))
    assert [h.form["CallStatus"] for h in hits] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [h.form["SequenceNumber"] for h in hits] == ["0", "1", "2", "3"]
    assert hits[-1].form["CallDuration"] == str(call.duration)
    assert hits[-1].form["AnsweredBy"] == "human"
    for hit in hits:
        assert twilio_signature(TOKEN, hit.url, hit.params) == hit.headers["x-twilio-signature"]

    # The TwiML the simulator received says what we asked, escaped and localised.
    twiml = sim.calls[0].twiml
    assert twiml is not None
    say = ElementTree.fromstring(twiml).find("Say")
    assert say is not None
    assert (say.get("language"), say.text) == ("es-US", "Hola <Ana> & familia")


@pytest.mark.parametrize(
    ("number", "status", "answered_by"),
    [
        ("+14155550101", "busy", None),
        ("+14155550102", "no-answer", None),
        ("+14155550103", "completed", "machine_start"),
        ("+14155550104", "failed", None),
    ],
)
async def test_forced_call_outcomes(
    sim: TwilioSimulator,
    twilio: TwilioClient,
    number: str,
    status: FinalCallStatus,
    answered_by: AnsweredBy | None,
) -> None:
    sim.force_call_outcome(number, status, answered_by)
    receipt = await twilio.place_call(number, "Hi", language="en", idempotency_key=number)
    call = await final_call(twilio, receipt.sid)
    assert (call.status, call.answered_by) == (status, answered_by)
    if status == "completed":
        assert call.duration is not None and call.duration > 0
    else:
        assert call.duration == 0


async def test_answered_by_needs_machine_detection(
    sim: TwilioSimulator, twilio: TwilioClient
) -> None:
    sim.force_call_outcome(DEBTOR, "completed", "machine_start")
    receipt = await twilio.place_call(
        DEBTOR, "Hi", language="en", idempotency_key="no-amd", machine_detection=False
    )
    call = await final_call(twilio, receipt.sid)
    assert (call.status, call.answered_by) == ("completed", None)


async def test_seeded_outcomes_are_deterministic() -> None:
    numbers = [f"+1415555{n:04d}" for n in range(40)]

    async def outcomes(seed: int, answer_rate: float, machine_rate: float) -> list[str]:
        sim = TwilioSimulator(
            ACCOUNT,
            TOKEN,
            seed=seed,
            answer_rate=answer_rate,
            machine_rate=machine_rate,
            ring_seconds=0.01,
        )
        done: dict[str, SimulatedCall] = {}
        sim.on_call(lambda call: done.__setitem__(call.to, call))
        url = await sim.start()
        try:
            async with TwilioClient(url, ACCOUNT, TOKEN, FROM) as twilio:
                await asyncio.gather(
                    *(twilio.place_call(n, "Hi", language="en", idempotency_key=n) for n in numbers)
                )

                async def all_done() -> bool:
                    return len(done) == len(numbers)

                await eventually(all_done)
        finally:
            await sim.stop()
        return [f"{done[n].status}/{done[n].answered_by}" for n in numbers]

    first = await outcomes(seed=3, answer_rate=0.5, machine_rate=0.3)
    assert first == await outcomes(seed=3, answer_rate=0.5, machine_rate=0.3)
    assert {"completed/human", "completed/machine_start"} <= set(first)
    assert {"busy/None", "no-answer/None"} & set(first)
    assert set(await outcomes(seed=3, answer_rate=1.0, machine_rate=0.0)) == {"completed/human"}
    assert "completed" not in {
        o.split("/")[0] for o in await outcomes(seed=3, answer_rate=0.0, machine_rate=0.0)
    }


async def test_call_idempotency_and_magic_numbers(
    sim: TwilioSimulator, twilio: TwilioClient
) -> None:
    first = await twilio.place_call(DEBTOR, "Hi", language="en", idempotency_key="a1/s7/phone")
    again = await twilio.place_call(DEBTOR, "Hi", language="en", idempotency_key="a1/s7/phone")
    assert first.sid == again.sid
    assert len(sim.calls) == 1

    with pytest.raises(ProviderError) as caught:
        await twilio.place_call("+15005550001", "Hi", language="en", idempotency_key="bad")
    assert (caught.value.retryable, caught.value.code) == (False, "21211")


async def test_call_with_url_fetches_signed_twiml(
    sim: TwilioSimulator, receiver: WebhookReceiver
) -> None:
    """Twilio's other way to script a call: it asks our Url when the call connects."""
    sim.force_call_outcome(DEBTOR, "completed", "human")
    receiver.twiml = "<Response><Say>From the webhook</Say></Response>"
    async with httpx.AsyncClient(auth=(ACCOUNT, TOKEN)) as raw:
        response = await raw.post(
            f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT}/Calls.json",
            data={"To": DEBTOR, "From": FROM, "Url": f"{receiver.base}/twiml"},
        )
    assert response.status_code == 201
    sid = response.json()["sid"]

    hit = (await eventually(lambda: _ready(receiver.on("/twiml", CallSid=sid), count=1)))[0]
    assert hit.form["CallStatus"] == "in-progress"
    assert twilio_signature(TOKEN, hit.url, hit.params) == hit.headers["x-twilio-signature"]

    async def twiml_stored() -> str | None:
        return sim.calls[0].twiml

    assert await eventually(twiml_stored) == receiver.twiml


async def _ready(hits: list[Hit], *, count: int) -> list[Hit] | None:
    return hits if len(hits) >= count else None


# -- listing ---------------------------------------------------------------------------------

OTHER = "+14155550199"


async def sent_messages(
    twilio: TwilioClient, to: str, count: int, *, key: str, body: str = "hi"
) -> list[str]:
    """Send ``count`` texts one after the other (so their order is known); their sids."""
    return [
        (await twilio.send_sms(to, body, idempotency_key=f"{key}/{n}")).sid for n in range(count)
    ]


async def all_sent(sim: TwilioSimulator) -> None:
    async def probe() -> bool:
        return all(m.date_sent is not None for m in sim.messages)

    await eventually(probe)


def list_url(sim: TwilioSimulator, resource: str) -> str:
    return f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT}/{resource}.json"


async def test_messages_list_pages_newest_first_in_twilios_envelope(
    sim: TwilioSimulator, twilio: TwilioClient
) -> None:
    sids = await sent_messages(twilio, DEBTOR, 7, key="page")
    newest_first = sids[::-1]
    async with httpx.AsyncClient(base_url=sim.base_url, auth=(ACCOUNT, TOKEN)) as raw:
        first = (await raw.get(list_url(sim, "Messages"), params={"PageSize": "3"})).json()
        assert set(first) == {
            "messages", "end", "first_page_uri", "next_page_uri", "page", "page_size",
            "previous_page_uri", "start", "uri",
        }  # fmt: skip
        assert [m["sid"] for m in first["messages"]] == newest_first[:3]
        assert (first["page"], first["page_size"], first["start"], first["end"]) == (0, 3, 0, 2)
        assert first["previous_page_uri"] is None
        base = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        assert first["uri"] == f"{base}?PageSize=3&Page=0"
        assert first["first_page_uri"] == f"{base}?PageSize=3&Page=0"
        assert first["next_page_uri"] == f"{base}?PageSize=3&Page=1&PageToken=PA{sids[4]}"
        assert first["messages"][0] == (await raw.get(f"{base[:-5]}/{newest_first[0]}.json")).json()

        # A message that arrives while paging is at the front: the next page, held by
        # its token, neither repeats nor skips anything.
        late = await twilio.send_sms(DEBTOR, "late", idempotency_key="page/late")
        second = (await raw.get(first["next_page_uri"])).json()
        assert [m["sid"] for m in second["messages"]] == newest_first[3:6]
        assert (second["page"], second["start"], second["end"]) == (1, 3, 5)
        third = (await raw.get(second["next_page_uri"])).json()
        assert [m["sid"] for m in third["messages"]] == newest_first[6:]
        assert third["next_page_uri"] is None
        back = (await raw.get(third["previous_page_uri"])).json()
        assert [m["sid"] for m in back["messages"]] == newest_first[3:6]
        fresh = (await raw.get(list_url(sim, "Messages"), params={"PageSize": "3"})).json()
        assert [m["sid"] for m in fresh["messages"]] == [late.sid, *newest_first[:2]]

        default = (await raw.get(list_url(sim, "Messages"))).json()
        assert default["page_size"] == 50 and len(default["messages"]) == 8
        for bad in ({"PageSize": "1001"}, {"PageSize": "0"}, {"Page": "-1"}, {"PageToken": "x"}):
            refused = await raw.get(list_url(sim, "Messages"), params=bad)
            assert (refused.status_code, refused.json()["code"]) == (400, 21200), bad
    async with httpx.AsyncClient(auth=(ACCOUNT, "wrong")) as stranger:
        denied = await stranger.get(list_url(sim, "Messages"))
    assert (denied.status_code, denied.json()["code"]) == (401, 20003)


async def test_messages_list_filters_by_number_and_day(
    sim: TwilioSimulator, twilio: TwilioClient
) -> None:
    to_debtor = await sent_messages(twilio, DEBTOR, 2, key="f-debtor")
    to_other = await sent_messages(twilio, OTHER, 1, key="f-other")
    await all_sent(sim)
    today = datetime.now(UTC).date()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)

    async def listed(**params: str) -> list[str]:
        async with httpx.AsyncClient(auth=(ACCOUNT, TOKEN)) as raw:
            response = await raw.get(list_url(sim, "Messages"), params=params)
        assert response.status_code == 200, response.text
        return [m["sid"] for m in response.json()["messages"]]

    everything = [*to_other[::-1], *to_debtor[::-1]]
    assert await listed(To=OTHER) == to_other
    assert await listed(To=DEBTOR, From=FROM) == to_debtor[::-1]
    assert await listed(From=OTHER) == []
    # Day granularity, both bounds including the day; a full ISO time counts by its day.
    assert await listed(DateSent=today.isoformat()) == everything
    assert await listed(DateSent=yesterday.isoformat()) == []
    assert await listed(**{"DateSent>": today.isoformat()}) == everything
    assert await listed(**{"DateSent>": tomorrow.isoformat()}) == []
    assert await listed(**{"DateSent<": today.isoformat()}) == everything
    assert await listed(**{"DateSent<": yesterday.isoformat()}) == []
    assert await listed(**{"DateSent>": f"{today.isoformat()}T23:59:59Z"}) == everything

    async with httpx.AsyncClient(auth=(ACCOUNT, TOKEN)) as raw:
        # As Twilio's docs write it: DateSent>=YYYY-MM-DD is the parameter "DateSent>".
        written = await raw.get(f"{list_url(sim, 'Messages')}?DateSent>={today.isoformat()}")
        refused = await raw.get(list_url(sim, "Messages"), params={"DateSent": "03/12/2026"})
    assert len(written.json()["messages"]) == 3
    assert (refused.status_code, refused.json()["code"]) == (400, 21200)


async def test_client_lists_messages_through_every_page_and_filters_exactly(
    sim: TwilioSimulator, twilio: TwilioClient
) -> None:
    before = await sent_messages(twilio, DEBTOR, 3, key="c-before")
    await sent_messages(twilio, OTHER, 2, key="c-other")
    await all_sent(sim)

    listed = await twilio.list_messages(page_size=2)
    assert [m.sid for m in listed] == [m.sid for m in reversed(sim.messages)]
    record = next(m for m in listed if m.sid == before[0])
    held = sim.messages[0]
    assert (record.to, record.from_, record.status) == (DEBTOR, FROM, held.status)
    assert record.date_created.utcoffset() == timedelta(0)
    # RFC 2822 keeps whole seconds.
    assert record.date_created == held.date_created.replace(microsecond=0)
    assert record.date_sent is not None and held.date_sent is not None
    assert record.date_sent == held.date_sent.replace(microsecond=0)
    assert [m.sid for m in await twilio.list_messages(to=OTHER, page_size=1)] == [
        m.sid for m in reversed(sim.messages) if m.to == OTHER
    ]

    # A cutoff inside today: Twilio's day filter lets every message through, the client
    # keeps those sent at or after it. Twilio's times have whole seconds, so the client
    # counts from the cutoff's second: start a new second for the messages after it.
    now = datetime.now(UTC)
    await asyncio.sleep(1.02 - now.microsecond / 1e6)
    cutoff = datetime.now(UTC)
    after = await sent_messages(twilio, DEBTOR, 2, key="c-after")
    await sent_messages(twilio, OTHER, 1, key="c-after-other")
    await all_sent(sim)
    assert [m.sid for m in await twilio.list_messages(to=DEBTOR, sent_after=cutoff)] == after[::-1]
    assert len(await twilio.list_messages(sent_after=cutoff, page_size=1)) == 3
    assert await twilio.list_messages(sent_after=cutoff + timedelta(days=1)) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        await twilio.list_messages(sent_after=datetime.now())
    with pytest.raises(ValueError, match="page_size"):
        await twilio.list_messages(page_size=1001)


async def test_client_follows_pages_beyond_a_thousand(sim: TwilioSimulator) -> None:
    async with TwilioClient(sim.base_url, ACCOUNT, TOKEN, FROM) as quiet:  # no callbacks
        gate = asyncio.Semaphore(20)

        async def send(n: int) -> None:
            async with gate:
                await quiet.send_sms(DEBTOR, f"#{n}", idempotency_key=f"bulk/{n}")

        await asyncio.gather(*(send(n) for n in range(1001)))
        listed = await quiet.list_messages()  # PageSize 1000: two pages
    assert len(listed) == 1001
    assert [m.sid for m in listed] == [m.sid for m in reversed(sim.messages)]


async def test_calls_list_with_filters_through_the_client(
    sim: TwilioSimulator, twilio: TwilioClient
) -> None:
    numbers: dict[str, FinalCallStatus] = {
        "+14155550111": "busy",
        "+14155550112": "completed",
        "+14155550113": "no-answer",
    }
    for number, status in numbers.items():
        sim.force_call_outcome(number, status)
    sids = []
    for number in numbers:
        receipt = await twilio.place_call(number, "Hi", language="en", idempotency_key=number)
        sids.append(receipt.sid)
    for sid in sids:
        await final_call(twilio, sid)

    calls = await twilio.list_calls(page_size=1)
    assert [c.sid for c in calls] == sids[::-1]
    by_to = {c.to: c for c in calls}
    for number, status in numbers.items():
        call = by_to[number]
        assert (call.status, call.from_) == (status, FROM)
        # Dialled, answered or not: each has its start and end.
        assert call.start_time is not None and call.end_time is not None
        assert call.date_created <= call.start_time <= call.end_time
    assert by_to["+14155550112"].answered_by == "human"
    assert by_to["+14155550111"].answered_by is None
    assert [c.sid for c in await twilio.list_calls(to="+14155550113")] == [sids[2]]
    assert await twilio.list_calls(started_after=datetime.now(UTC) + timedelta(seconds=5)) == []
    assert len(await twilio.list_calls(started_after=datetime.now(UTC) - timedelta(hours=1))) == 3

    async with httpx.AsyncClient(auth=(ACCOUNT, TOKEN)) as raw:
        busy = await raw.get(list_url(sim, "Calls"), params={"Status": "busy"})
        tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
        later = await raw.get(list_url(sim, "Calls"), params={"StartTime>": tomorrow})
        ended = await raw.get(list_url(sim, "Calls"), params={"EndTime<": tomorrow})
        bogus = await raw.get(list_url(sim, "Calls"), params={"Status": "answered"})
    assert [c["sid"] for c in busy.json()["calls"]] == [sids[0]]
    assert later.json()["calls"] == [] and later.json()["next_page_uri"] is None
    assert len(ended.json()["calls"]) == 3
    assert (bogus.status_code, bogus.json()["code"]) == (400, 21200)


async def test_a_next_page_off_the_api_is_not_followed() -> None:
    """The credentials go with every request: a next_page_uri elsewhere is refused."""
    app = FastAPI()
    base = f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json"

    @app.get(base)
    async def page() -> dict[str, object]:
        return {"calls": [], "next_page_uri": "https://elsewhere.example/2010-04-01/x.json"}

    server = EmbeddedServer(app, name="a provider gone wrong")
    url = await server.start()
    try:
        async with TwilioClient(url, ACCOUNT, TOKEN, FROM) as twilio:
            with pytest.raises(ProviderError, match="cannot follow") as caught:
                await twilio.list_calls()
    finally:
        await server.stop()
    assert caught.value.retryable is False


# -- hanging up --------------------------------------------------------------------------------


@pytest.fixture
async def slow_sim() -> AsyncIterator[TwilioSimulator]:
    """Calls ring (and talk) for 0.4 s: long enough to hang up while they do."""
    simulator = TwilioSimulator(ACCOUNT, TOKEN, ring_seconds=0.4)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def slow(slow_sim: TwilioSimulator, receiver: WebhookReceiver) -> AsyncIterator[TwilioClient]:
    async with TwilioClient(
        slow_sim.base_url, ACCOUNT, TOKEN, FROM, status_callback_url=f"{receiver.base}/status"
    ) as api:
        yield api


class Ends:
    """What the simulator's listeners saw."""

    def __init__(self, sim: TwilioSimulator) -> None:
        self.ended: list[tuple[str, str]] = []
        self.answered: list[str] = []
        sim.on_call(lambda call: self.ended.append((call.sid, call.status)))
        sim.on_answer(lambda call: self.answered.append(call.sid))


async def reaches(twilio: TwilioClient, sid: str, status: str) -> None:
    async def probe() -> bool:
        return (await twilio.get_call(sid)).status == status

    await eventually(probe)


async def test_hanging_up_a_ringing_call_cancels_it_once(
    slow_sim: TwilioSimulator, slow: TwilioClient, receiver: WebhookReceiver
) -> None:
    slow_sim.force_call_outcome(DEBTOR, "completed", "human")
    ends = Ends(slow_sim)
    receipt = await slow.place_call(DEBTOR, "Hi", language="en", idempotency_key="ring")
    await reaches(slow, receipt.sid, "ringing")

    # Three hang-ups at once: one ends the call, the others find it over.
    states = await asyncio.gather(*(slow.end_call(receipt.sid) for _ in range(3)))
    assert {(s.status, s.duration, s.answered_by) for s in states} == {("canceled", 0, None)}
    hits = await eventually(lambda: _ready(receiver.on("/status", CallStatus="canceled"), count=1))
    assert hits[0].form["SipResponseCode"] == "487"
    assert hits[0].form["CallDuration"] == "0"
    assert (
        twilio_signature(TOKEN, hits[0].url, hits[0].params)
        == hits[0].headers["x-twilio-signature"]
    )

    await asyncio.sleep(1.0)  # past when it would have been answered and ended
    call = slow_sim.calls[0]
    assert (call.status, call.answered_by) == ("canceled", None)
    assert call.start_time is not None and call.end_time is not None  # dialled, then ended
    assert ends.ended == [(receipt.sid, "canceled")]
    assert ends.answered == []
    events = [h.form["CallStatus"] for h in receiver.on("/status", CallSid=receipt.sid)]
    assert events == ["initiated", "ringing", "canceled"]
    assert (await slow.end_call(receipt.sid)).status == "canceled"  # over: unchanged


async def test_hanging_up_a_call_in_progress_completes_it_with_the_talk_so_far(
    slow_sim: TwilioSimulator, slow: TwilioClient, receiver: WebhookReceiver
) -> None:
    slow_sim.force_call_outcome(DEBTOR, "completed", "human")
    ends = Ends(slow_sim)
    receipt = await slow.place_call(DEBTOR, "Hi", language="en", idempotency_key="talk")
    # The same call left alone says how long the whole conversation would have been.
    whole = await slow.place_call(DEBTOR, "Hi", language="en", idempotency_key="whole")
    await reaches(slow, receipt.sid, "in-progress")

    # Status=canceled leaves a call in progress alone, as on Twilio.
    async with httpx.AsyncClient(auth=(ACCOUNT, TOKEN)) as raw:
        url = f"{list_url(slow_sim, 'Calls')[:-5]}/{receipt.sid}.json"
        kept = await raw.post(url, data={"Status": "canceled"})
    assert (kept.status_code, kept.json()["status"]) == (200, "in-progress")

    state = await slow.end_call(receipt.sid)
    assert (state.status, state.answered_by) == ("completed", "human")
    planned = (await final_call(slow, whole.sid)).duration
    assert state.duration is not None and planned is not None
    assert 0 <= state.duration < planned

    await asyncio.sleep(0.6)  # past when it would have ended by itself
    call = slow_sim.calls[0]
    assert (call.status, call.duration) == ("completed", state.duration)
    assert receipt.sid in ends.answered
    assert [status for sid, status in ends.ended if sid == receipt.sid] == ["completed"]
    hits = receiver.on("/status", CallSid=receipt.sid)
    assert [h.form["CallStatus"] for h in hits] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [h.form["SequenceNumber"] for h in hits] == ["0", "1", "2", "3"]
    assert hits[-1].form["CallDuration"] == str(state.duration)


async def test_hanging_up_a_queued_call_cancels_it_before_it_is_dialled(
    receiver: WebhookReceiver,
) -> None:
    sim = TwilioSimulator(ACCOUNT, TOKEN, step_seconds=0.4)
    ends = Ends(sim)
    await sim.start()
    try:
        async with TwilioClient(
            sim.base_url, ACCOUNT, TOKEN, FROM, status_callback_url=f"{receiver.base}/status"
        ) as twilio:
            receipt = await twilio.place_call(DEBTOR, "Hi", language="en", idempotency_key="q")
            state = await twilio.end_call(receipt.sid)
            assert (state.status, state.duration) == ("canceled", 0)
            await asyncio.sleep(0.8)
            listed = await twilio.list_calls()
    finally:
        await sim.stop()
    assert ends.ended == [(receipt.sid, "canceled")]
    assert [h.form["CallStatus"] for h in receiver.on("/status", CallSid=receipt.sid)] == [
        "canceled"
    ]
    # Never dialled: no start time.
    assert [(c.sid, c.status, c.start_time) for c in listed] == [(receipt.sid, "canceled", None)]
    assert listed[0].end_time is not None


async def test_call_updates_fail_like_twilio(sim: TwilioSimulator, twilio: TwilioClient) -> None:
    sim.force_call_outcome(DEBTOR, "busy")
    receipt = await twilio.place_call(DEBTOR, "Hi", language="en", idempotency_key="u")
    finished = await final_call(twilio, receipt.sid)
    assert (await twilio.end_call(receipt.sid)) == finished  # over: returned unchanged

    url = f"{list_url(sim, 'Calls')[:-5]}/{receipt.sid}.json"
    async with httpx.AsyncClient(auth=(ACCOUNT, TOKEN)) as raw:
        for form in ({"Status": "busy"}, {}, {"Url": "https://example.com/twiml"}):
            refused = await raw.post(url, data=form)
            assert (refused.status_code, refused.json()["code"]) == (400, 21200), form
    with pytest.raises(ProviderError) as missing:
        await twilio.end_call("CA" + "0" * 32)
    assert (missing.value.status_code, missing.value.code, missing.value.retryable) == (
        404,
        "20404",
        False,
    )
    sim.fail_next(1)
    with pytest.raises(ProviderError) as outage:
        await twilio.end_call(receipt.sid)
    assert (outage.value.status_code, outage.value.retryable) == (503, True)
    async with TwilioClient(sim.base_url, ACCOUNT, "wrong", FROM) as bad:
        with pytest.raises(ProviderError) as denied:
            await bad.end_call(receipt.sid)
        with pytest.raises(ProviderError) as denied_list:
            await bad.list_calls()
    assert (denied.value.status_code, denied.value.code) == (401, "20003")
    assert (denied_list.value.status_code, denied_list.value.retryable) == (401, False)
