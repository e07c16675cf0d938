"""The Lob simulator over real HTTP: letters created, listed, cancelled and mailed, its
errors in Lob's shape, idempotency, outages, and its signed webhooks.

Signatures are checked here with a hand-written HMAC, not with the simulator's helper.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from adapters.errors import ProviderError
from adapters.lob import INVALID_ADDRESS, LobClient, LobSignatureError, verify_lob_signature
from domain.account import PostalAddress
from simulators.http import EmbeddedServer
from simulators.lob import LobSimulator

KEY = "test_lob_key_for_tests"
SECRET = "lob_whsec_tests"


def address(line1: str = "185 Berry St", **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Dana Debtor",
        "address_line1": line1,
        "address_line2": "Suite 6100",
        "address_city": "San Francisco",
        "address_state": "CA",
        "address_zip": "94107",
        "address_country": "US",
        **overrides,
    }


def letter(**overrides: Any) -> dict[str, Any]:
    return {
        "description": "validation notice",
        "to": address(),
        "from": address("1 Collector Way", name="Recoup Collections", address_line2=None),
        "file": "<html><body><p>Hello</p></body></html>",
        "color": False,
        "use_type": "operational",
        "metadata": {"tenant_id": "acme", "attempt_id": "att-1"},
        **overrides,
    }


class Receiver:
    """Collects what the simulator posts to its webhook URL."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> JSONResponse:
            self.posts.append((dict(request.headers), await request.body()))
            return JSONResponse({"ok": True})

        self.server = EmbeddedServer(app, name="webhook receiver")

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.posts]


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.server.start()
    yield found
    await found.server.stop()


@pytest_asyncio.fixture
async def sim(receiver: Receiver) -> AsyncIterator[LobSimulator]:
    # The clock moves only when a test advances it.
    found = LobSimulator(
        KEY,
        webhook_url=f"{receiver.server.base_url}/hook",
        webhook_secret=SECRET,
        day_seconds=None,
        return_rate=0.0,
    )
    await found.start()
    yield found
    await found.stop()


@pytest_asyncio.fixture
async def http(sim: LobSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, auth=(KEY, ""), trust_env=False) as c:
        yield c


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["status_code"] == status
    return body


async def test_a_letter_is_created_fetched_and_replayed_by_its_idempotency_key(
    sim: LobSimulator, http: httpx.AsyncClient
) -> None:
    created = await http.post("/v1/letters", json=letter(), headers={"Idempotency-Key": "k-1"})
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["id"].startswith("ltr_") and body["object"] == "letter"
    assert body["to"]["id"].startswith("adr_") and body["to"]["address_zip"] == "94107"
    assert body["from"]["name"] == "Recoup Collections"
    assert body["use_type"] == "operational" and body["mail_type"] == "usps_first_class"
    assert body["carrier"] == "USPS" and body["tracking_events"] == []
    assert body["metadata"] == {"tenant_id": "acme", "attempt_id": "att-1"}
    assert len(body["expected_delivery_date"]) == len("2026-01-01")

    again = await http.post("/v1/letters", json=letter(), headers={"Idempotency-Key": "k-1"})
    assert again.json()["id"] == body["id"]
    other = await http.post("/v1/letters", json=letter(), headers={"Idempotency-Key": "k-2"})
    assert other.json()["id"] != body["id"]
    assert len(sim.letters) == 2

    fetched = await http.get(f"/v1/letters/{body['id']}")
    assert fetched.json()["id"] == body["id"]
    assert error(await http.get("/v1/letters/ltr_nope"), 404)["code"] == "not_found"


async def test_a_form_encoded_letter_with_bracket_notation_is_the_same_letter(
    sim: LobSimulator, http: httpx.AsyncClient
) -> None:
    form = {
        "file": "<p>Hi</p>",
        "color": "true",
        "use_type": "operational",
        "metadata[attempt_id]": "att-form",
        **{f"to[{k}]": v for k, v in address().items()},
        **{f"from[{k}]": v for k, v in address("1 Collector Way").items()},
    }
    created = await http.post("/v1/letters", data=form)
    assert created.status_code == 200, created.text
    assert created.json()["color"] is True
    assert created.json()["metadata"] == {"attempt_id": "att-form"}
    assert sim.letters[0].to["address_city"] == "San Francisco"


@pytest.mark.parametrize(
    ("change", "message", "code"),
    [
        ({"to": address(address_zip=None)}, "to.address_zip is required", "invalid"),
        ({"to": address(address_state="XX")}, "to.address_state must be", "invalid"),
        ({"to": address(address_zip="9410")}, "to.address_zip must be", "invalid"),
        ({"to": address("1 Undeliverable Rd")}, "undeliverable",
         "failed_deliverability_strictness"),
        ({"to": address("x" * 65)}, "to.address_line1 must be", "address_length_exceeds_limit"),
        ({"use_type": None}, "use_type is required", "invalid"),
        ({"use_type": "junk"}, "use_type must be one of", "invalid"),
        ({"color": None}, "color is required", "invalid"),
        ({"file": ""}, "file is required", "invalid"),
        ({"colour": True}, "colour is not allowed", "invalid"),
    ],
)  # fmt: skip
async def test_invalid_letters_are_422_in_lobs_error_shape(
    sim: LobSimulator,
    http: httpx.AsyncClient,
    change: dict[str, Any],
    message: str,
    code: str,
) -> None:
    body = {k: v for k, v in {**letter(), **change}.items() if v is not None}
    found = error(await http.post("/v1/letters", json=body), 422)
    assert message in found["message"] and found["code"] == code
    assert sim.letters == []


async def test_a_wrong_key_is_401_and_an_outage_uses_no_idempotency_key(
    sim: LobSimulator, http: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url, auth=("test_wrong", "")) as wrong:
        assert error(await wrong.get("/v1/letters"), 401)["code"] == "unauthorized"
    sim.fail_next(2, 429)
    headers = {"Idempotency-Key": "retry-me"}
    assert error(await http.post("/v1/letters", json=letter(), headers=headers), 429)["code"] == (
        "rate_limit_exceeded"
    )
    assert error(await http.post("/v1/letters", json=letter(), headers=headers), 429)
    sim.fail_next(1, 503)
    assert error(await http.post("/v1/letters", json=letter(), headers=headers), 503)["code"] == (
        "service_unavailable"
    )
    first = await http.post("/v1/letters", json=letter(), headers=headers)
    second = await http.post("/v1/letters", json=letter(), headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"] and len(sim.letters) == 1


async def test_mail_progresses_with_the_clock_and_each_event_is_a_signed_webhook(
    sim: LobSimulator, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    delivered = (await http.post("/v1/letters", json=letter())).json()["id"]
    returned = (
        await http.post("/v1/letters", json=letter(to=address("9 Return To Sender Ave")))
    ).json()["id"]
    await sim.advance(timedelta(0))  # what is due now: both letters' letter.created
    await sim.advance(timedelta(days=10))

    def kinds(letter_id: str) -> list[str]:
        return [e["event_type"]["id"] for e in receiver.events() if e["body"]["id"] == letter_id]

    assert kinds(delivered) == [
        "letter.created",
        "letter.rendered_pdf",
        "letter.mailed",
        "letter.in_transit",
        "letter.in_local_area",
        "letter.processed_for_delivery",
        "letter.delivered",
    ]
    assert kinds(returned) == [
        "letter.created",
        "letter.rendered_pdf",
        "letter.mailed",
        "letter.in_transit",
        "letter.returned_to_sender",
    ]
    for headers, raw in receiver.posts:
        timestamp = headers["lob-signature-timestamp"]
        expected = hmac.new(
            SECRET.encode(), timestamp.encode() + b"." + raw, hashlib.sha256
        ).hexdigest()
        assert headers["lob-signature"] == expected
    event = receiver.events()[-1]
    assert event["object"] == "event" and event["id"].startswith("evt_")
    assert event["event_type"]["resource"] == "letters"
    fetched = (await http.get(f"/v1/letters/{delivered}")).json()
    assert [t["name"] for t in fetched["tracking_events"]] == [
        "Mailed",
        "In Transit",
        "In Local Area",
        "Processed for Delivery",
        "Delivered",
    ]
    # Nothing more happens to delivered mail.
    before = len(receiver.posts)
    assert await sim.advance(timedelta(days=30)) == []
    assert len(receiver.posts) == before


async def test_the_fast_clock_delivers_without_being_advanced(receiver: Receiver) -> None:
    sim = LobSimulator(KEY, webhook_url=f"{receiver.server.base_url}/hook", day_seconds=0.01)
    await sim.start()
    try:
        async with httpx.AsyncClient(base_url=sim.base_url, auth=(KEY, "")) as http:
            created = (await http.post("/v1/letters", json=letter())).json()["id"]
            for _ in range(500):
                if sim.letter(created).status == "delivered":
                    break
                await asyncio.sleep(0.01)
        assert sim.letter(created).status == "delivered"
    finally:
        await sim.stop()


async def test_letters_are_listed_newest_first_in_pages_and_filtered_by_metadata(
    sim: LobSimulator, http: httpx.AsyncClient
) -> None:
    ids = []
    for n in range(5):
        meta = {"tenant_id": "acme" if n % 2 == 0 else "other", "n": str(n)}
        ids.append((await http.post("/v1/letters", json=letter(metadata=meta))).json()["id"])
    page = (await http.get("/v1/letters", params={"limit": 2})).json()
    assert page["object"] == "list" and page["count"] == 2
    assert [item["id"] for item in page["data"]] == [ids[4], ids[3]]
    assert page["previous_url"] is None
    seen = [item["id"] for item in page["data"]]
    while page["next_url"]:
        page = (await http.get(page["next_url"])).json()
        seen += [item["id"] for item in page["data"]]
    assert seen == list(reversed(ids))
    assert page["previous_url"] is not None

    acme = (await http.get("/v1/letters", params={"metadata[tenant_id]": "acme"})).json()
    assert [item["id"] for item in acme["data"]] == [ids[4], ids[2], ids[0]]
    offset = (await http.get("/v1/letters", params={"limit": 1, "offset": 1})).json()
    assert [item["id"] for item in offset["data"]] == [ids[3]]
    assert error(await http.get("/v1/letters", params={"limit": 101}), 422)
    assert error(await http.get("/v1/letters", params={"after": "garbage"}), 422)


async def test_a_letter_is_cancelled_before_its_send_date_and_not_after(
    sim: LobSimulator, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    early = (await http.post("/v1/letters", json=letter())).json()["id"]
    cancelled = await http.delete(f"/v1/letters/{early}")
    assert cancelled.json() == {"id": early, "deleted": True}
    assert (await http.get(f"/v1/letters/{early}")).json()["deleted"] is True
    late = (await http.post("/v1/letters", json=letter())).json()["id"]
    await sim.advance(timedelta(days=1, hours=1))
    assert error(await http.delete(f"/v1/letters/{late}"), 422)["code"] == "not_deletable"
    await sim.advance(timedelta(days=10))
    assert sim.letter(early).events[-1] == "letter.deleted"
    assert "letter.mailed" not in sim.letter(early).events
    assert sim.letter(late).status == "delivered"
    assert error(await http.delete("/v1/letters/ltr_unknown"), 404)


# --- the adapter against the simulator ------------------------------------------------

POSTAL = PostalAddress(line1="185 Berry St", line2="Suite 6100", city="San Francisco",
                       state="CA", zip="94107")  # fmt: skip
RETURN = PostalAddress(line1="1 Collector Way", city="Austin", state="TX", zip="78701")


def lob_client(sim: LobSimulator, key: str = KEY) -> LobClient:
    return LobClient(sim.base_url, key, from_name="Recoup Collections", from_address=RETURN)


async def test_the_client_mails_once_per_key_and_reads_lists_and_cancels(
    sim: LobSimulator,
) -> None:
    async with lob_client(sim) as lob:
        receipt = await lob.send_letter(
            POSTAL, "Dana Debtor " + "x" * 60, "<p>Notice</p>", "att-1", {"attempt_id": "att-1"}
        )
        again = await lob.send_letter(
            POSTAL, "Dana Debtor", "<p>Notice</p>", "att-1", {"attempt_id": "att-1"}
        )
        assert receipt.id == again.id and receipt.status == "created"
        assert receipt.expected_delivery_date is not None
        [held] = sim.letters
        assert held.use_type == "operational" and len(held.to["name"]) == 40
        assert held.from_["address_city"] == "Austin"

        others = [
            await lob.send_letter(POSTAL, "D", "<p>x</p>", f"k-{n}", {"tenant_id": "t2"})
            for n in range(4)
        ]
        every = await lob.list_letters(page_size=2)
        assert [r.id for r in every] == [o.id for o in reversed(others)] + [receipt.id]
        assert every[-1].to == POSTAL.one_line()
        only = await lob.list_letters(metadata={"tenant_id": "t2"}, page_size=3)
        assert {r.id for r in only} == {o.id for o in others}

        assert await lob.cancel_letter(others[0].id) is True
        assert (await lob.get_letter(others[0].id)).status == "cancelled"
        await sim.advance(timedelta(days=10))
        assert (await lob.get_letter(receipt.id)).status == "delivered"
        with pytest.raises(ProviderError) as late:
            await lob.cancel_letter(receipt.id)
        assert not late.value.retryable and late.value.code == "not_deletable"


@pytest.mark.parametrize(
    ("to", "code"),
    [
        (PostalAddress(line1="1 Undeliverable Rd", city="Austin", state="TX", zip="78701"),
         INVALID_ADDRESS),
        (PostalAddress(line1="1 Main St", city="Austin", state="ZZ", zip="78701"),
         INVALID_ADDRESS),
    ],
)  # fmt: skip
async def test_a_refused_address_is_a_permanent_invalid_address(
    sim: LobSimulator, to: PostalAddress, code: str
) -> None:
    async with lob_client(sim) as lob:
        with pytest.raises(ProviderError) as refused:
            await lob.send_letter(to, "Dana", "<p>x</p>", "k", {})
    assert refused.value.code == code and not refused.value.retryable
    assert refused.value.status_code == 422 and refused.value.provider == "lob"


async def test_outages_are_transient_and_a_bad_key_is_permanent(sim: LobSimulator) -> None:
    async with lob_client(sim) as lob:
        for status in (429, 500, 503):
            sim.fail_next(1, status)
            with pytest.raises(ProviderError) as outage:
                await lob.send_letter(POSTAL, "Dana", "<p>x</p>", "k", {})
            assert outage.value.retryable and outage.value.status_code == status
        with pytest.raises(ProviderError) as missing:
            await lob.get_letter("ltr_nope")
        assert not missing.value.retryable and missing.value.code == "not_found"
    async with lob_client(sim, "test_wrong") as wrong:
        with pytest.raises(ProviderError) as unauthorized:
            await wrong.list_letters()
    assert not unauthorized.value.retryable and unauthorized.value.code == "unauthorized"


def test_the_signature_helper_accepts_lobs_scheme_and_names_what_is_wrong() -> None:
    body, now = b'{"id":"evt_1"}', 1_700_000_000.0
    millis = str(int(now * 1000))
    good = hmac.new(SECRET.encode(), millis.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert verify_lob_signature(SECRET, millis, body, good, 300, now=now) == now
    seconds = str(int(now))
    by_seconds = hmac.new(
        SECRET.encode(), seconds.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert verify_lob_signature(SECRET, seconds, body, by_seconds, 300, now=now + 299) == now

    def reason(**changes: Any) -> str:
        args: dict[str, Any] = {"timestamp": millis, "raw_body": body, "signature": good}
        args |= changes
        with pytest.raises(LobSignatureError) as caught:
            verify_lob_signature(SECRET, tolerance=300, now=changes.pop("now", now), **args)
        return caught.value.reason

    assert reason(signature=None) == "missing"
    assert reason(timestamp="") == "missing"
    assert reason(timestamp="12a") == "malformed"
    assert reason(raw_body=b'{"id":"evt_2"}') == "mismatch"
    assert reason(signature="0" * 64) == "mismatch"
    with pytest.raises(LobSignatureError) as stale:
        verify_lob_signature(SECRET, millis, body, good, 300, now=now + 301)
    assert stale.value.reason == "stale"
    with pytest.raises(LobSignatureError) as future:
        verify_lob_signature(SECRET, millis, body, good, 300, now=now - 301)
    assert future.value.reason == "stale"
