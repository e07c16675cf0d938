"""Send email over SMTP and classify failures once, for the email activity."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from adapters.errors import ProviderError
from adapters.telemetry import tracer

PROVIDER = "smtp"

# Headers the mailer owns; letting callers override them would break the
# idempotency (Message-ID) and attribution (X-Recoup-Attempt) guarantees.
_RESERVED = frozenset(
    h.lower()
    for h in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "X-Recoup-Attempt",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    )
)


class SmtpMailer:
    """Sends one message per call through an SMTP relay.

    A fresh connection per message keeps the mailer safe to share between
    concurrent activities; collection email volume per worker is low enough
    that connection reuse is not worth the state.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool = False,
        timeout: float = 30.0,
    ) -> None:
        if use_tls and start_tls:
            raise ValueError("use_tls (implicit TLS) and start_tls are mutually exclusive")
        self.host = host
        self.port = port
        self.sender = sender
        self._username = username
        self._password = password
        self._use_tls = use_tls
        self._start_tls = start_tls
        self._timeout = timeout

    def message_id(self, idempotency_key: str) -> str:
        """The Message-ID a send with ``idempotency_key`` carries.

        Derived, not random, so a retried activity resends the *same* message:
        receiving systems (and our reply threading) deduplicate on it.
        """
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
        return f"<{digest}@recoup>"

    @tracer.start_as_current_span(
        "smtp send", kind=SpanKind.CLIENT, attributes={"recoup.provider": PROVIDER}
    )
    async def send(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None,
        idempotency_key: str,
        headers: dict[str, str] | None = None,
        on_accepted: Callable[[str], Awaitable[None]] | None = None,
    ) -> str:
        """Send a text (and optional HTML alternative) message; return its Message-ID.

        ``on_accepted`` runs with the Message-ID as soon as the relay accepted the
        message, before the connection is closed, so the caller's sent-ledger
        lags the relay by as little as possible.

        Raises ``ProviderError`` for anything the relay or network did, and
        ``ValueError`` for malformed input (header injection, reserved headers),
        which no retry can fix.
        """
        # The span says which relay and how it went, never who the mail was for.
        trace.get_current_span().set_attributes(
            {"server.address": self.host, "server.port": self.port}
        )
        message = self._build(
            to=to,
            subject=subject,
            text=text,
            html=html,
            idempotency_key=idempotency_key,
            headers=headers or {},
        )
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self._username,
            password=self._password,
            use_tls=self._use_tls,
            start_tls=self._start_tls,
            timeout=self._timeout,
        )
        try:
            errors = await self._transmit(client, message, to)
        except BaseException:
            client.close()  # nothing was accepted: drop the connection
            raise
        message_id = self.message_id(idempotency_key)
        try:
            if errors:
                # Only reachable with several recipients; kept for completeness.
                raise _refused(
                    [
                        aiosmtplib.SMTPRecipientRefused(r.code, r.message, a)
                        for a, r in errors.items()
                    ]
                )
            # The relay has the message now. Report it before the goodbye: a worker
            # that dies during QUIT must still leave it in the sent-ledger.
            if on_accepted is not None:
                await on_accepted(message_id)
        finally:
            await _quit(client)
        return message_id

    async def _transmit(
        self, client: aiosmtplib.SMTP, message: EmailMessage, to: str
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        """Connect and hand the message over; every failure becomes a ``ProviderError``."""
        try:
            await client.connect()
            errors, _reply = await client.send_message(message, sender=self.sender, recipients=[to])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _refused(exc.recipients) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _reply_error(exc.code, exc.message) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            # The relay lacks STARTTLS/AUTH we were configured to use: fix the
            # configuration, retrying cannot help.
            raise ProviderError(str(exc), retryable=False, provider=PROVIDER) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Connection refused/reset, timeouts, server hung up: the relay may be
            # back shortly, and a resend is safe because the Message-ID is fixed.
            raise ProviderError(
                f"SMTP {self.host}:{self.port} unavailable: {exc}",
                retryable=True,
                provider=PROVIDER,
            ) from exc
        return errors

    def _build(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None,
        idempotency_key: str,
        headers: dict[str, str],
    ) -> EmailMessage:
        clash = sorted(name for name in headers if name.lower() in _RESERVED)
        if clash:
            raise ValueError(f"headers set by the mailer cannot be overridden: {clash}")
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = self.message_id(idempotency_key)
        message["X-Recoup-Attempt"] = idempotency_key
        for name, value in headers.items():
            message[name] = value
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message


async def _quit(client: aiosmtplib.SMTP) -> None:
    """Say goodbye; the message is already accepted, so a failure here changes nothing."""
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()


def _reply_error(code: int, text: str) -> ProviderError:
    # 5xx is permanent by RFC 5321 (hard bounce); 4xx is transient.
    return ProviderError(
        f"SMTP {code} {text}",
        retryable=not 500 <= code <= 599,
        provider=PROVIDER,
        status_code=code,
        code=str(code),
    )


def _refused(recipients: list[aiosmtplib.SMTPRecipientRefused]) -> ProviderError:
    permanent = [r for r in recipients if 500 <= r.code <= 599]
    worst = permanent[0] if permanent else recipients[0]
    detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in recipients)
    return ProviderError(
        f"SMTP recipient refused: {detail}",
        retryable=not permanent,
        provider=PROVIDER,
        status_code=worst.code,
        code=str(worst.code),
    )
