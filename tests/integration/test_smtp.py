"""SmtpMailer against the SMTP simulator, over real sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from adapters.errors import ProviderError
from adapters.mail_events import MailEvents
from adapters.smtp import SmtpMailer
from bootstrap.settings import Settings
from simulators.http import EmbeddedServer
from simulators.smtp import ReceivedMail, SmtpSimulator

SENDER = "collections@agency.example"
DEBTOR = "maria.nunez@debtor.example"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SmtpSimulator]:
    simulator = SmtpSimulator(record_path=tmp_path / "mail.jsonl")
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def mailer(sim: SmtpSimulator) -> SmtpMailer:
    return SmtpMailer("127.0.0.1", sim.port, sender=SENDER, timeout=5.0)


async def send(mailer: SmtpMailer, key: str = "acct-1/step-1/email", **kw: str | None) -> str:
    fields: dict[str, str | None] = {
        "to": DEBTOR,
        "subject": "Your balance",
        "text": "Plain",
        "html": None,
    }
    fields.update(kw)
    return await mailer.send(
        to=fields["to"] or DEBTOR,
        subject=fields["subject"] or "",
        text=fields["text"] or "",
        html=fields["html"],
        idempotency_key=key,
    )


async def test_round_trip_text_and_html(sim: SmtpSimulator, mailer: SmtpMailer) -> None:
    text = "Estimada Señora Núñez,\nsu saldo es de 1.234,50 € — gracias."
    html = "<p>Estimada Señora Núñez,</p><p>su saldo es de <b>1.234,50 €</b></p>"
    message_id = await mailer.send(
        to=DEBTOR,
        subject="Aviso de saldo – cuenta 42",
        text=text,
        html=html,
        idempotency_key="acct-42/step-1/email",
        headers={"List-Unsubscribe": "<mailto:stop@agency.example>"},
    )

    assert len(sim.messages) == 1
    mail = sim.messages[0]
    assert mail.mail_from == SENDER
    assert mail.to == [DEBTOR]
    assert mail.subject == "Aviso de saldo – cuenta 42"
    assert mail.text.rstrip("\n") == text
    assert mail.html is not None and mail.html.rstrip("\n") == html
    assert mail.message_id == message_id
    assert mail.headers["X-Recoup-Attempt"] == "acct-42/step-1/email"
    assert mail.headers["List-Unsubscribe"] == "<mailto:stop@agency.example>"
    assert mail.headers["Content-Type"].startswith("multipart/alternative")


async def test_text_only_message_has_no_html(sim: SmtpSimulator, mailer: SmtpMailer) -> None:
    await send(mailer, text="Only text")
    assert sim.messages[0].text.rstrip("\n") == "Only text"
    assert sim.messages[0].html is None


async def test_message_id_is_derived_from_idempotency_key(
    sim: SmtpSimulator, mailer: SmtpMailer
) -> None:
    first = await send(mailer, key="acct-1/step-3/email")
    again = await send(mailer, key="acct-1/step-3/email")
    other = await send(mailer, key="acct-1/step-4/email")

    assert first == again != other
    assert re.fullmatch(r"<[0-9a-f]{32}@recoup>", first)
    # Another worker (another mailer instance) derives the same id.
    twin = SmtpMailer("127.0.0.1", mailer.port, sender=SENDER)
    assert twin.message_id("acct-1/step-3/email") == first
    assert [m.message_id for m in sim.messages] == [first, first, other]
    # The resend is a second delivery, but the mailbox holds the message once.
    assert [m.message_id for m in sim.mailbox(DEBTOR)] == [first, other]


async def test_listeners_and_record_file(
    sim: SmtpSimulator, mailer: SmtpMailer, tmp_path: Path
) -> None:
    seen_sync: list[ReceivedMail] = []
    seen_async: list[str] = []

    async def remember(mail: ReceivedMail) -> None:
        await asyncio.sleep(0)
        seen_async.append(mail.subject)

    sim.on_message(seen_sync.append)
    sim.on_message(remember)
    await send(mailer, subject="One")
    await send(mailer, subject="Two")

    # Listeners run before the 250 reply, so nothing to wait for.
    assert [m.subject for m in seen_sync] == ["One", "Two"]
    assert seen_async == ["One", "Two"]
    lines = (tmp_path / "mail.jsonl").read_text().splitlines()
    assert [json.loads(line)["subject"] for line in lines] == ["One", "Two"]


async def test_rejected_recipient_is_a_hard_bounce(sim: SmtpSimulator, mailer: SmtpMailer) -> None:
    sim.reject.add("Gone@Debtor.example")

    with pytest.raises(ProviderError) as caught:
        await send(mailer, to="gone@debtor.example")

    err = caught.value
    assert err.retryable is False
    assert err.status_code == 550
    assert err.code == "550"
    assert err.provider == "smtp"
    assert sim.messages == []


async def test_transient_failure_is_retryable(sim: SmtpSimulator, mailer: SmtpMailer) -> None:
    sim.fail_next(1)

    with pytest.raises(ProviderError) as caught:
        await send(mailer)
    assert caught.value.retryable is True
    assert caught.value.status_code == 451

    # The failure was for one transaction only: the retry goes through.
    await send(mailer)
    assert len(sim.messages) == 1


async def test_permanent_failure_injected_at_mail_from(
    sim: SmtpSimulator, mailer: SmtpMailer
) -> None:
    sim.fail_next(1, code=554)
    with pytest.raises(ProviderError) as caught:
        await send(mailer)
    assert caught.value.retryable is False
    assert caught.value.status_code == 554


async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    mailer = SmtpMailer("127.0.0.1", closed_port, sender=SENDER, timeout=2.0)

    with pytest.raises(ProviderError) as caught:
        await send(mailer)
    assert caught.value.retryable is True


async def test_silent_server_times_out_retryably() -> None:
    release = asyncio.Event()

    async def never_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    silent = await asyncio.start_server(never_greet, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        mailer = SmtpMailer("127.0.0.1", port, sender=SENDER, timeout=0.3)
        with pytest.raises(ProviderError) as caught:
            await send(mailer)
        assert caught.value.retryable is True
    finally:
        release.set()
        silent.close()
        await silent.wait_closed()


async def test_reserved_headers_cannot_be_overridden(mailer: SmtpMailer) -> None:
    with pytest.raises(ValueError, match="message-id"):
        await mailer.send(
            to=DEBTOR,
            subject="x",
            text="x",
            html=None,
            idempotency_key="k",
            headers={"message-id": "<forged@example>"},
        )


# -- the provider's records: Mailgun's Events API --------------------------------------------

KEY = "key-test-0123456789"
DOMAIN = "mail.agency.example"
OTHER = "ivo.ruiz@debtor.example"


@pytest.fixture
async def provider() -> AsyncIterator[SmtpSimulator]:
    """The SMTP simulator with its events API on a free port."""
    simulator = SmtpSimulator(api_key=KEY, domain=DOMAIN)
    await simulator.start(api_port=0)
    yield simulator
    await simulator.stop()


@pytest.fixture
async def events(provider: SmtpSimulator) -> AsyncIterator[MailEvents]:
    async with MailEvents(provider.api_url, KEY, DOMAIN) as api:
        yield api


async def mail_to(provider: SmtpSimulator, *recipients: str, key: str) -> list[str]:
    """Send one message to each recipient in turn through the real mailer; their ids."""
    mailer = SmtpMailer("127.0.0.1", provider.port, sender=SENDER, timeout=5.0)
    return [
        await send(mailer, key=f"{key}/{n}", to=to, subject=f"Notice {key}/{n}")
        for n, to in enumerate(recipients)
    ]


async def test_accepted_mail_is_listed_with_the_message_id_the_mailer_returned(
    provider: SmtpSimulator, events: MailEvents
) -> None:
    ids = await mail_to(provider, DEBTOR, OTHER, DEBTOR, key="a")

    records = await events.accepted()
    assert [r.message_id for r in records] == ids  # oldest first, brackets and all
    assert [r.recipient for r in records] == [DEBTOR, OTHER, DEBTOR]
    assert [r.subject for r in records] == ["Notice a/0", "Notice a/1", "Notice a/2"]
    for record, mail in zip(records, provider.messages, strict=True):
        assert record.message_id == mail.message_id
        assert record.timestamp == mail.received_at  # to the microsecond, aware
    assert [r.message_id for r in await events.accepted(recipient=OTHER)] == [ids[1]]
    # A retried send (same Message-ID) was accepted twice, and is listed twice.
    again = await mail_to(provider, OTHER, key="a")
    assert again == [ids[0]] and len(await events.accepted(recipient=DEBTOR)) == 2


async def test_client_follows_every_page_and_filters_by_time(
    provider: SmtpSimulator, events: MailEvents
) -> None:
    before = await mail_to(provider, DEBTOR, OTHER, DEBTOR, key="b")
    cutoff = datetime.now(UTC)
    after = await mail_to(provider, DEBTOR, OTHER, key="c")

    assert [r.message_id for r in await events.accepted(page_size=2)] == [*before, *after]
    assert [r.message_id for r in await events.accepted(since=cutoff, page_size=1)] == after
    assert [r.message_id for r in await events.accepted(recipient=DEBTOR, since=cutoff)] == [
        after[0]
    ]
    # Addresses compare without case, as mailboxes do.
    assert len(await events.accepted(recipient=OTHER.upper(), page_size=1)) == 2
    assert await events.accepted(since=datetime.now(UTC) + timedelta(seconds=2)) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        await events.accepted(since=datetime.now())
    with pytest.raises(ValueError, match="page_size"):
        await events.accepted(page_size=301)


async def test_events_api_answers_like_mailgun(provider: SmtpSimulator) -> None:
    ids = await mail_to(provider, DEBTOR, OTHER, DEBTOR, OTHER, DEBTOR, key="m")
    provider.reject.add("gone@debtor.example")  # refused at RCPT: no accepted event
    mailer = SmtpMailer("127.0.0.1", provider.port, sender=SENDER, timeout=5.0)
    with pytest.raises(ProviderError):
        await send(mailer, key="m/gone", to="gone@debtor.example")
    url = f"{provider.api_url}/v3/{DOMAIN}/events"

    async with httpx.AsyncClient(auth=("api", KEY)) as raw:
        first = (await raw.get(url, params={"limit": "2", "ascending": "yes"})).json()
        assert set(first) == {"items", "paging"}
        assert set(first["paging"]) == {"first", "last", "next", "previous"}
        item = first["items"][0]
        assert item["event"] == "accepted" and isinstance(item["timestamp"], float)
        assert item["recipient"] == DEBTOR and item["envelope"]["sender"] == SENDER
        headers = item["message"]["headers"]
        assert headers["message-id"] == ids[0].strip("<>")  # Mailgun's form: no brackets
        assert (headers["to"], headers["from"], headers["subject"]) == (
            DEBTOR,
            SENDER,
            "Notice m/0",
        )

        # Traverse to the first empty page, as Mailgun's docs say.
        pages = [first]
        while pages[-1]["items"]:
            assert pages[-1]["paging"]["next"].startswith(f"{url}/")
            pages.append((await raw.get(pages[-1]["paging"]["next"])).json())
        seen = [i["message"]["headers"]["message-id"] for p in pages for i in p["items"]]
        assert seen == [i.strip("<>") for i in ids]
        assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
        back = (await raw.get(pages[2]["paging"]["previous"])).json()
        assert back["items"] == pages[1]["items"]
        last = (await raw.get(first["paging"]["last"])).json()  # the range's last `limit`
        assert last["items"] == [*pages[1]["items"][1:], *pages[2]["items"]]

        # An ascending range without an end grows: the empty page's next link shows
        # mail accepted since.
        later = await mail_to(provider, OTHER, key="later")
        grown = (await raw.get(pages[-1]["paging"]["next"])).json()
        assert [i["message"]["headers"]["message-id"] for i in grown["items"]] == [
            later[0].strip("<>")
        ]

        newest_first = (await raw.get(url)).json()["items"]  # descending by default
        assert [i["message"]["headers"]["message-id"] for i in newest_first][:2] == [
            later[0].strip("<>"),
            ids[4].strip("<>"),
        ]
        by_id = (await raw.get(url, params={"message-id": ids[1]})).json()["items"]
        assert [i["recipient"] for i in by_id] == [OTHER]
        third = provider.events[2].timestamp
        since = await raw.get(url, params={"begin": str(third), "ascending": "yes"})
        assert len(since.json()["items"]) == 4
        # Or as an RFC 2822 date, which has whole seconds.
        rfc = format_datetime(datetime.fromtimestamp(int(third), UTC), usegmt=True)
        by_date = (await raw.get(url, params={"begin": rfc, "ascending": "yes"})).json()
        assert len(by_date["items"]) >= 4
        assert all(i["timestamp"] >= int(third) for i in by_date["items"])

        for bad in (
            {"begin": "2", "end": "1", "ascending": "yes"},  # inconsistent range
            {"limit": "301"},
            {"ascending": "maybe"},
            {"begin": "yesterday"},
            {"subject": "Notice"},  # a filter field the simulator does not have
        ):
            refused = await raw.get(url, params=bad)
            assert refused.status_code == 400, bad
            assert refused.json()["message"], bad
        other_domain = await raw.get(f"{provider.api_url}/v3/elsewhere.example/events")
        assert (other_domain.status_code, other_domain.json()) == (
            404,
            {"message": "Domain not found: elsewhere.example"},
        )
        forged = base64.urlsafe_b64encode(json.dumps({"ascending": "sideways"}).encode())
        for token in ("not-a-token", forged.decode()):
            refused = await raw.get(f"{url}/{token}")
            assert (refused.status_code, refused.json()) == (400, {"message": "Invalid page token"})

    for auth in (("api", "wrong-key"), ("user", KEY)):
        async with httpx.AsyncClient(auth=auth) as stranger:
            denied = await stranger.get(url)
        assert (denied.status_code, denied.text) == (401, "Forbidden")


async def test_mail_events_failures_are_the_providers(provider: SmtpSimulator) -> None:
    async with MailEvents(provider.api_url, "wrong-key", DOMAIN) as bad:
        with pytest.raises(ProviderError) as denied:
            await bad.accepted()
    err = denied.value
    assert (err.status_code, err.retryable, err.provider) == (401, False, "mailgun")
    assert "Forbidden" in str(err)

    async with MailEvents(provider.api_url, KEY, "elsewhere.example") as lost:
        with pytest.raises(ProviderError) as missing:
            await lost.accepted()
    assert (missing.value.status_code, missing.value.retryable) == (404, False)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    async with MailEvents(f"http://127.0.0.1:{closed}", KEY, DOMAIN) as gone:
        with pytest.raises(ProviderError) as unreachable:
            await gone.accepted()
    assert unreachable.value.retryable is True


async def test_events_api_is_optional_and_stops_with_the_simulator() -> None:
    simulator = SmtpSimulator()
    await simulator.start()
    try:
        with pytest.raises(RuntimeError, match="not started"):
            _ = simulator.api_url
        mailer = SmtpMailer("127.0.0.1", simulator.port, sender=SENDER, timeout=5.0)
        await send(mailer, key="quiet")
        assert len(simulator.events) == 1  # recorded all the same
        url = await simulator.start_api()
        async with MailEvents(url, "key-simulator", "recoup.example") as api:
            assert len(await api.accepted()) == 1
    finally:
        await simulator.stop()
    with pytest.raises(RuntimeError, match="not started"):
        _ = simulator.api_url


async def test_a_next_page_elsewhere_is_not_followed() -> None:
    """The API key goes with every request: a page link to another host is refused."""
    app = FastAPI()
    item = {
        "event": "accepted",
        "timestamp": 1.0,
        "recipient": DEBTOR,
        "message": {"headers": {"message-id": "x@recoup"}},
    }

    @app.get("/v3/{domain}/events")
    async def page(domain: str) -> dict[str, object]:
        return {"items": [item], "paging": {"next": "http://elsewhere.example/v3/d/events/t"}}

    server = EmbeddedServer(app, name="a provider gone wrong")
    url = await server.start()
    try:
        async with MailEvents(url, KEY, DOMAIN) as api:
            with pytest.raises(ProviderError, match="cannot follow") as caught:
                await api.accepted()
    finally:
        await server.stop()
    assert caught.value.retryable is False


async def test_a_restarted_simulator_still_lists_what_it_accepted(tmp_path: Path) -> None:
    record = tmp_path / "mail.jsonl"
    first = SmtpSimulator(record_path=record, api_key=KEY, domain=DOMAIN)
    await first.start(api_port=0)
    try:
        sent = await mail_to(first, DEBTOR, OTHER, key="r")
    finally:
        await first.stop()
    with record.open("a") as fh:
        fh.write('{"cut short by a crash"\n')

    second = SmtpSimulator(record_path=record, api_key=KEY, domain=DOMAIN)
    await second.start(api_port=0)
    try:
        later = await mail_to(second, DEBTOR, key="r2")
        async with MailEvents(second.api_url, KEY, DOMAIN) as api:
            listed = await api.accepted()
    finally:
        await second.stop()
    assert [r.message_id for r in listed] == [*sent, *later]
    assert [r.recipient for r in listed] == [DEBTOR, OTHER, DEBTOR]
    assert len(second.messages) == 1  # this run's deliveries; the events remember more


async def test_settings_build_the_mail_events_client_only_when_configured() -> None:
    assert Settings(mail_events_url=None).mail_events() is None
    configured = Settings(
        mail_events_url="https://api.eu.mailgun.net/",
        mail_events_key=SecretStr("key-live"),
        mail_domain="mg.agency.example",
    )
    client = configured.mail_events()
    assert client is not None
    async with client:
        assert client.url == "https://api.eu.mailgun.net/v3/mg.agency.example/events"
