"""An in-process SMTP server that stands in for a mail relay.

It speaks real SMTP (aiosmtpd) on the caller's event loop, so the production
mailer is exercised over a socket exactly as against Postfix or SES, and tests
can inject the replies that matter to a collection campaign: hard bounces
(550 on RCPT) and transient failures (4xx on MAIL, as greylisting does).

Like a provider that takes mail over SMTP, it keeps its own record of what it
accepted and can serve it over Mailgun's Events API (``simulators.mail_events``),
which is what reconciliation compares Recoup's records with.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import BaseModel, ValidationError

from simulators.mail_events import DEFAULT_API_KEY, DEFAULT_DOMAIN, AcceptedEvent, MailEventsApi

log = logging.getLogger(__name__)

MailListener = Callable[["ReceivedMail"], Awaitable[None] | None]


class ReceivedMail(BaseModel):
    """One message the simulator accepted, parsed back from the wire."""

    mail_from: str
    to: list[str]
    subject: str
    text: str
    html: str | None
    message_id: str | None
    headers: dict[str, str]
    """Header name as sent → value; for repeated names the first occurrence wins."""
    received_at: datetime


class SmtpSimulator:
    """A real SMTP server on the running loop with scripted failures.

    ``reject`` holds recipient addresses (compared case-insensitively) that get a
    permanent ``550`` at RCPT, which a sender must treat as a hard bounce.
    ``fail_next`` makes whole transactions fail at MAIL FROM (451 by default,
    as greylisting does; any 4xx/5xx code can be scripted).

    Every accepted message is also an "accepted" event per recipient, listed by the
    events API for ``domain`` with ``api_key`` once it is started (``api_port`` of
    ``start``, or ``start_api``). With a ``record_path``, the mail recorded there by an
    earlier run is in the events too: a provider does not forget what it accepted
    when ``recoup dev`` restarts.
    """

    def __init__(
        self,
        *,
        record_path: Path | None = None,
        hostname: str = "smtp.sim",
        api_key: str = DEFAULT_API_KEY,
        domain: str = DEFAULT_DOMAIN,
    ) -> None:
        self.messages: list[ReceivedMail] = []
        self.reject: set[str] = set()
        self.record_path = record_path
        self._hostname = hostname
        self._listeners: list[MailListener] = []
        self._failures: list[int] = []
        self._server: asyncio.Server | None = None
        # Live sessions, so stop() can drop clients that keep a connection open.
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._events = MailEventsApi(api_key=api_key, domain=domain)

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, api_port: int | None = None
    ) -> int:
        """Listen on ``host:port`` (0 picks a free port) and return the bound port.

        With ``api_port`` (0: a free one), serve the events API on ``host`` too.
        """
        if self.record_path is not None and not self._events.events:
            for mail in await asyncio.to_thread(_read_record, self.record_path):
                self._record_event(mail)
        await self._start_smtp(host, port)
        if api_port is not None:
            try:
                await self.start_api(host, api_port)
            except BaseException:
                await self.stop()
                raise
        return self.port

    async def start_api(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the events API on ``host:port`` (0 picks a free port); return its URL."""
        return await self._events.start(host, port)

    @property
    def api_url(self) -> str:
        """The events API's base URL (``https://api.mailgun.net`` for Mailgun)."""
        return self._events.base_url

    @property
    def events(self) -> list[AcceptedEvent]:
        """Every "accepted" event so far, oldest first."""
        return self._events.events

    async def _start_smtp(self, host: str, port: int) -> None:
        if self._server is not None:
            raise RuntimeError("SMTP simulator already started")
        loop = asyncio.get_running_loop()
        handler = _Handler(self)

        def factory() -> SMTP:
            # An explicit hostname avoids socket.getfqdn(), which can stall on DNS.
            session = SMTP(
                handler,
                hostname=self._hostname,
                ident="Recoup SMTP simulator",
                enable_SMTPUTF8=True,
                loop=loop,
            )
            self._sessions.add(session)
            return session

        self._server = await loop.create_server(factory, host=host, port=port)

    @property
    def port(self) -> int:
        """The bound port (useful after ``start(port=0)``)."""
        if self._server is None:
            raise RuntimeError("SMTP simulator not started")
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        """Stop listening, close any client connection still open, stop the events API."""
        if self._events.started:
            await self._events.stop()
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await server.wait_closed()

    def on_message(self, callback: MailListener) -> None:
        """Call ``callback`` (sync or async) for every accepted message.

        It runs before the server answers ``250`` to DATA, so by the time a
        sender's ``send`` returns the listeners have seen the mail. Exceptions
        are logged, never turned into SMTP errors: a broken listener is a test
        bug, not a bounce.
        """
        self._listeners.append(callback)

    def mailbox(self, address: str) -> list[ReceivedMail]:
        """What ``address``'s mailbox shows: one copy per Message-ID, oldest first.

        ``messages`` is every SMTP delivery. A sender that cannot know whether the
        relay took a message (it died after the relay said 250 and before it could
        note it) sends it again with the same Message-ID; a Message-ID names one
        message (RFC 5322 3.6.4), and mailboxes keep one copy of it.
        """
        seen: set[str] = set()
        shown: list[ReceivedMail] = []
        for mail in self.messages:
            if address.lower() not in (to.lower() for to in mail.to):
                continue
            if mail.message_id is not None:
                if mail.message_id in seen:
                    continue
                seen.add(mail.message_id)
            shown.append(mail)
        return shown

    def fail_next(self, n: int, code: int = 451) -> None:
        """Fail the next ``n`` transactions with ``code`` at MAIL FROM."""
        if n < 0:
            raise ValueError("n must be >= 0")
        if not 400 <= code <= 599:
            raise ValueError("code must be a 4xx or 5xx SMTP reply code")
        self._failures.extend([code] * n)

    def clear_failures(self) -> None:
        """Drop failures scheduled by ``fail_next`` that have not happened yet."""
        self._failures.clear()

    def _take_failure(self) -> int | None:
        return self._failures.pop(0) if self._failures else None

    def _record_event(self, mail: ReceivedMail) -> None:
        self._events.record(
            recipients=mail.to,
            sender=mail.mail_from,
            message_id=mail.message_id,
            to=_header(mail, "To"),
            from_=_header(mail, "From"),
            subject=mail.subject,
            accepted_at=mail.received_at.timestamp(),
        )

    async def _accept(self, envelope: Envelope) -> None:
        mail = _parse(envelope)
        self.messages.append(mail)
        self._record_event(mail)
        if self.record_path is not None:
            await asyncio.to_thread(_append_line, self.record_path, mail.model_dump_json())
        for listener in list(self._listeners):
            try:
                result = listener(mail)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("SMTP simulator listener failed for %s", mail.message_id)


class _Handler:
    """aiosmtpd hooks; returning a reply string replaces the default ``250 OK``."""

    def __init__(self, sim: SmtpSimulator) -> None:
        self._sim = sim

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        code = self._sim._take_failure()
        if code is not None:
            if code < 500:
                return f"{code} 4.3.0 Temporary failure, try again later (simulated)"
            return f"{code} 5.3.0 Transaction refused (simulated)"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in {a.lower() for a in self._sim.reject}:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await self._sim._accept(envelope)
        return "250 2.0.0 OK: queued"


def _parse(envelope: Envelope) -> ReceivedMail:
    raw: Any = envelope.original_content or envelope.content or b""
    data = raw if isinstance(raw, bytes) else str(raw).encode()
    # SMTP puts CRLF on the wire; hand listeners the text as it was written.
    msg = BytesParser(policy=policy.default).parsebytes(data.replace(b"\r\n", b"\n"))
    assert isinstance(msg, EmailMessage)
    headers: dict[str, str] = {}
    for name, value in msg.items():
        headers.setdefault(name, str(value))
    return ReceivedMail(
        mail_from=envelope.mail_from or "",
        to=list(envelope.rcpt_tos),
        subject=str(msg.get("Subject", "")),
        text=_body(msg, "plain") or "",
        html=_body(msg, "html"),
        message_id=str(msg["Message-ID"]) if msg["Message-ID"] is not None else None,
        headers=headers,
        received_at=datetime.now(UTC),
    )


def _header(mail: ReceivedMail, name: str) -> str:
    # Header names are case-insensitive; ``headers`` keeps them as the sender wrote them.
    return next((v for k, v in mail.headers.items() if k.lower() == name.lower()), "")


def _body(msg: EmailMessage, subtype: str) -> str | None:
    part = msg.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


def _read_record(path: Path) -> list[ReceivedMail]:
    """The mail an earlier run recorded in ``path`` (none if there is no such file)."""
    if not path.exists():
        return []
    found: list[ReceivedMail] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                found.append(ReceivedMail.model_validate_json(line))
            except ValidationError:
                # A line cut short by a crash loses that message's event, not the rest.
                log.warning("%s:%d is not a recorded message; skipped", path, number)
    return found


def _append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
