"""The embedded stack: dev server, simulators and workers in one process.

``recoup dev`` runs it until Ctrl-C; ``recoup demo`` runs it for one portfolio.
Shutdown is ordered (workers, then simulators, then the server) so that no
activity is cut off mid-send and the server's SQLite file is closed cleanly.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.worker import Worker

from bootstrap.client import connect
from bootstrap.devserver import DevServer, DevServerError, start_dev_server
from bootstrap.keyring import KeyRingError
from bootstrap.metrics import runtime_for
from bootstrap.settings import Settings
from cli.common import EXIT_INPUT, fail, run
from simulators.crm import CrmSimulator
from simulators.lob import LobSimulator
from simulators.payments import PaymentsSimulator
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from workers.run import StoreUnavailable, workers

T = TypeVar("T")


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1].split("/")[0])


class PortInUse(RuntimeError):
    """A port the stack needs is taken (often: another ``recoup dev`` is running)."""


def ensure_free(port: int, what: str) -> None:
    """Raise ``PortInUse`` when something listens on ``port``, before anything starts.

    The probe binds the way every server of the stack does (asyncio, uvicorn, gRPC and
    the Go dev server all set SO_REUSEADDR): without it, the connections of the last run
    that the servers closed first (SMTP's QUIT, Ctrl-C) hold the port in TIME_WAIT and
    the probe would refuse a restart for a minute, although the servers could bind.
    Linux never lets SO_REUSEADDR bind beside a listening socket, so a port really in
    use is still refused.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUse(f"port {port} ({what}) is in use: {exc.strerror}") from exc


@dataclass
class Stack:
    settings: Settings
    client: Client
    server: DevServer
    smtp: SmtpSimulator
    twilio: TwilioSimulator
    payments: PaymentsSimulator
    crm: CrmSimulator
    workers: list[Worker]
    lob: LobSimulator


# The embedded dev server speaks plaintext: a secured cluster's settings in the
# environment (RECOUP_TEMPORAL_TLS*, RECOUP_TEMPORAL_API_KEY) do not apply to it.
PLAINTEXT_TEMPORAL: dict[str, object] = {
    "temporal_tls": False,
    "temporal_tls_ca": None,
    "temporal_tls_cert": None,
    "temporal_tls_key": None,
    "temporal_tls_server_name": None,
    "temporal_api_key": None,
}


@asynccontextmanager
async def embedded_stack(
    settings: Settings,
    *,
    db_file: Path | None,
    ui: bool = True,
    run_workers: bool = True,
    twilio: TwilioSimulator | None = None,
    ui_codec_endpoint: str | None = None,
    payments_webhook_url: str | None = None,
    lob: LobSimulator | None = None,
    lob_webhook_url: str | None = None,
) -> AsyncIterator[Stack]:
    """Start everything ``settings`` points at on this machine; stop it all on exit.

    ``ui_codec_endpoint`` (``f"{settings.api_url}/codec"`` when the API runs) lets the
    web UI show decrypted payloads. The SMTP simulator's events API (the mail provider's
    records) listens where ``mail_events_url`` says, or on a free port; the stack's
    settings carry its URL either way. The letter provider's simulator (``lob``, or one
    made here) posts its events to ``lob_webhook_url`` when given.
    """
    port = int(settings.temporal_address.rsplit(":", 1)[1])
    ensure_free(port, "Temporal gRPC")
    if ui:
        ensure_free(settings.temporal_ui_port, "Temporal web UI")
    # A simulator's port 0 means "any free one": it binds there and the stack's settings
    # carry the bound address. (Choosing a free port first and binding it later races
    # with everything else on the machine.)
    smtp_port = settings.smtp_port
    # The mail provider's records: where settings say, else on any free port.
    events_port = port_of(settings.mail_events_url) if settings.mail_events_url else 0
    sms_port = port_of(settings.twilio_base_url)
    payments_port = port_of(settings.payments_base_url)
    ledger_port = port_of(settings.ledger_base_url)
    letters_port = port_of(settings.lob_base_url)
    for wanted, what in (
        (smtp_port, "SMTP simulator"),
        (events_port, "mail events API (SMTP simulator)"),
        (sms_port, "SMS/voice simulator"),
        (payments_port, "payments simulator"),
        (ledger_port, "CRM/ledger simulator"),
        (letters_port, "letter (Lob) simulator"),
    ):
        if wanted:
            ensure_free(wanted, what)
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async with AsyncExitStack() as stack:
        server = await start_dev_server(
            port=port,
            ui_port=settings.temporal_ui_port if ui else None,
            db_file=db_file,
            log_file=settings.data_dir / "temporal.log",
            ui_codec_endpoint=ui_codec_endpoint,
        )
        stack.push_async_callback(server.stop)
        smtp = SmtpSimulator(
            record_path=settings.data_dir / "mail.jsonl",
            api_key=settings.mail_events_key.get_secret_value(),
            domain=settings.mail_domain,
        )
        bound_smtp = await smtp.start(port=smtp_port, api_port=events_port)
        stack.push_async_callback(smtp.stop)
        sms = twilio or TwilioSimulator(settings.twilio_account_sid, settings.twilio_auth_token)
        await sms.start(port=sms_port)
        stack.push_async_callback(sms.stop)
        payments = PaymentsSimulator(
            settings.payments_api_key,
            webhook_url=payments_webhook_url,
            webhook_secret=settings.payments_webhook_secret.get_secret_value(),
        )
        await payments.start(port=payments_port)
        stack.push_async_callback(payments.stop)
        crm = CrmSimulator(settings.ledger_api_key)
        await crm.start(port=ledger_port)
        stack.push_async_callback(crm.stop)
        letters = lob or LobSimulator(
            settings.lob_api_key.get_secret_value(),
            webhook_url=lob_webhook_url,
            webhook_secret=settings.lob_webhook_secret.get_secret_value(),
        )
        await letters.start(port=letters_port)
        stack.push_async_callback(letters.stop)
        # Whoever is handed these settings reaches each simulator where it listens, and
        # can list what the mail simulator accepted.
        settings = settings.model_copy(
            update={
                "smtp_port": bound_smtp,
                "mail_events_url": smtp.api_url,
                "twilio_base_url": sms.base_url,
                "payments_base_url": payments.base_url,
                "ledger_base_url": crm.base_url,
                "lob_base_url": letters.base_url,
            }
        )
        client = await connect(settings, runtime_for(settings.metrics_bind))
        built: list[Worker] = []
        if run_workers:
            built = await stack.enter_async_context(workers(client, settings))
            for w in built:
                await stack.enter_async_context(w)
        yield Stack(settings, client, server, smtp, sms, payments, crm, built, lob=letters)


def run_or_fail(main: Coroutine[Any, Any, T]) -> T:
    """Run a command that starts workers (``recoup dev``, ``demo``, ``worker``).

    What stops them at start exits with one line: codec keys that do not fit are a
    setting (2); a port taken, a server or a store that does not answer, a failure (1).
    """
    try:
        return run(main)
    except KeyRingError as exc:
        fail(f"payload encryption keys: {exc}", EXIT_INPUT)
    except (PortInUse, DevServerError, StoreUnavailable) as exc:
        fail(str(exc))


def stop_event() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM, so the stack can shut down in order."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)
    return event
