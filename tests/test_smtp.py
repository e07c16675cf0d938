"""SmtpMailer against the SMTP simulator, over real sockets."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.errors import ProviderError
from adapters.smtp import SmtpMailer
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
