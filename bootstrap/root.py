"""The composition root: every client, store and sink Recoup runs with, built from settings.

The entry points (``api/``, ``cli/``, ``workers/``) build one ``Root`` from their
``Settings`` and take what they need from it, instead of constructing adapters
themselves. Each part is made on first use, then kept: a command that reads the
event log opens no Redis connection, and a second read reuses the same engine.
The root owns what it made and closes all of it with one ``await root.aclose()``
(``close()`` for the commands that only ever touch the SQL stores).

Tables are not created here: that is a use case's or a worker's decision (some
read-only commands must not migrate a database), taken where the part is used.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Protocol, Self, TypeVar, cast

from temporalio.client import Client

from adapters.account_history import AccountHistory
from adapters.action_stats import ActionStats
from adapters.audit_log import AuditLog
from adapters.breakers import Breakers, BreakerSnapshot, BreakerStore
from adapters.contact_ledger import ContactLedger
from adapters.crm_records import CrmRecords
from adapters.dead_letter_store import DeadLetterStore
from adapters.event_log import EventLog
from adapters.inbound import InboundStore
from adapters.ledger import LedgerClient
from adapters.llm import LlmClient
from adapters.lob import LobClient
from adapters.mail_events import MailEvents
from adapters.payments import PaymentsClient
from adapters.portfolio_store import PortfolioStore
from adapters.sinks.base import Sink
from adapters.smtp import SmtpMailer
from adapters.suppressions import SuppressionStore
from adapters.templates import TemplateRenderer
from adapters.tenants import TenantStore
from adapters.twilio import TwilioClient
from bootstrap.client import connect
from bootstrap.settings import SQL_SINK, Settings
from domain.replies.combined import Reader
from domain.replies.reading import ReadReply, ReplyToRead

T = TypeVar("T")
Closer = Callable[[], object]


def build_sinks(settings: Settings, names: set[str] | None = None) -> dict[str, Sink]:
    """The broker sinks the settings turn on (the SQL read model is not one of them).

    Not kept by the root: whoever runs a sink closes it (the exporter when it stops,
    ``recoup brokers setup`` after each setup). A ``ValueError`` names a sink whose
    settings are missing.
    """
    wanted = (names if names is not None else settings.all_sinks) - {SQL_SINK}
    sinks: dict[str, Sink] = {}
    if "kafka" in wanted:
        from adapters.sinks.kafka import KafkaSink

        sinks["kafka"] = KafkaSink(settings.kafka)
    if "rabbitmq" in wanted:
        from adapters.sinks.rabbitmq import RabbitSink

        sinks["rabbitmq"] = RabbitSink(settings.rabbitmq)
    if "redis" in wanted:
        from adapters.sinks.redis_streams import RedisStreamSink

        url = settings.redis_streams.url
        if url is None and settings.redis_url is None:
            raise ValueError("sinks: 'redis' needs RECOUP_REDIS_URL or RECOUP_REDIS_STREAMS__URL")
        resolved = url.get_secret_value() if url is not None else str(settings.redis_url)
        sinks["redis"] = RedisStreamSink(resolved, settings.redis_streams)
    return sinks


class Root:
    """Settings in; the Temporal client, stores, provider clients and sinks out."""

    def __init__(
        self, settings: Settings, *, client: Client | None = None, create_keys: bool = True
    ) -> None:
        self.settings = settings
        # A client handed in (tests, ``recoup dev``'s stack) belongs to the caller.
        self._client = client
        # Whether the client may create a missing codec key ring (bootstrap.client.connect).
        self._create_keys = create_keys
        self._parts: dict[str, object] = {}
        # Closers in creation order; closed in reverse, like an exit stack.
        self._closers: list[Closer] = []
        # The parts whose closing must be awaited.
        self._async_parts: set[str] = set()

    def _part(self, name: str, make: Callable[[], T], close: Callable[[T], object]) -> T:
        if name not in self._parts:
            part = make()
            self._parts[name] = part
            self._closers.append(lambda: close(part))
            if close in (_aclose, _aclose_optional):
                self._async_parts.add(name)
        return cast(T, self._parts[name])

    # --- Temporal -------------------------------------------------------------

    async def client(self) -> Client:
        """The Temporal client (connected on first use; raises what ``connect`` raises)."""
        if self._client is None:
            self._client = await connect(self.settings, create_keys=self._create_keys)
        return self._client

    # --- SQL stores -----------------------------------------------------------

    @property
    def tenants(self) -> TenantStore:
        return self._part("tenants", lambda: TenantStore(self.settings.sql_url), _dispose)

    @property
    def events(self) -> EventLog:
        return self._part("events", lambda: EventLog(self.settings.sql_url), _dispose)

    @property
    def suppressions(self) -> SuppressionStore:
        return self._part("suppressions", lambda: SuppressionStore(self.settings.sql_url), _dispose)

    @property
    def dead_letters(self) -> DeadLetterStore:
        return self._part("dead_letters", lambda: DeadLetterStore(self.settings.sql_url), _dispose)

    @property
    def portfolios(self) -> PortfolioStore:
        return self._part("portfolios", lambda: PortfolioStore(self.settings.sql_url), _dispose)

    @property
    def inbound(self) -> InboundStore:
        return self._part("inbound", self.settings.inbound_store, _dispose)

    @property
    def audit_log(self) -> AuditLog:
        return self._part("audit_log", self.settings.audit_log, _dispose)

    @property
    def contact_ledger(self) -> ContactLedger:
        """The debt's contact ledger; every contact also goes into the audit log."""
        return self._part(
            "contact_ledger",
            lambda: ContactLedger(self.settings.sql_url, self.settings.audit_log()),
            _dispose,
        )

    @property
    def account_history(self) -> AccountHistory:
        return self._part(
            "account_history", lambda: AccountHistory(self.settings.sql_url), _dispose
        )

    @property
    def action_stats(self) -> ActionStats:
        return self._part("action_stats", lambda: ActionStats(self.settings.sql_url), _dispose)

    # --- breakers ---------------------------------------------------------------

    @property
    def breaker_store(self) -> BreakerStore:
        """Where breaker state lives: Redis when configured, else this process."""
        return self._part("breaker_store", self.settings.breaker_store, _aclose)

    def breakers(self, on_change: Callable[[BreakerSnapshot], None] | None = None) -> Breakers:
        """The providers' breakers over the shared store (one set per root)."""
        return self._part(
            "breakers",
            lambda: Breakers(self.breaker_store, self.settings.breakers, on_change=on_change),
            _nothing,
        )

    # --- provider clients -------------------------------------------------------

    @property
    def renderer(self) -> TemplateRenderer:
        return self._part(
            "renderer", lambda: TemplateRenderer(self.settings.template_dir), _nothing
        )

    @property
    def llm(self) -> LlmClient | None:
        """The language model's client, or None when none is configured."""
        s = self.settings
        return self._part(
            "llm",
            lambda: LlmClient.configured(
                s.llm_base_url,
                s.llm_model,
                s.llm_api_key,
                s.llm_timeout_seconds,
                s.llm_json_schema,
            ),
            _aclose_optional,
        )

    @property
    def reply_reader(self) -> Callable[[ReplyToRead], ReadReply] | None:
        """How the reader activity reads a reply when no language model is configured: the
        combined reader (the shipped model under the rules' precedence, ``ReadBy.MODEL``),
        or None for the rules alone (``domain.replies.classify``), by ``RECOUP_REPLY_READER``."""
        if self.settings.reply_reader is Reader.RULES:
            return None
        from adapters.reply_reader import read_reply  # loads the model on first use

        return read_reply

    @property
    def crm(self) -> CrmRecords:
        s = self.settings
        return self._part(
            "crm", lambda: CrmRecords(s.crm_base_url or s.ledger_base_url, s.crm_key), _aclose
        )

    @property
    def mailer(self) -> SmtpMailer:
        s = self.settings
        return self._part(
            "mailer",
            lambda: SmtpMailer(
                s.smtp_host,
                s.smtp_port,
                sender=s.email_from,
                username=s.smtp_username,
                password=s.smtp_password,
                use_tls=s.smtp_use_tls,
                start_tls=s.smtp_start_tls,
            ),
            _nothing,
        )

    @property
    def twilio(self) -> TwilioClient:
        s = self.settings
        return self._part(
            "twilio",
            lambda: TwilioClient(
                s.twilio_base_url,
                s.twilio_account_sid,
                s.twilio_auth_token,
                s.twilio_from_number,
                status_callback_url=s.twilio_status_callback_url,
            ),
            _aclose,
        )

    @property
    def lob(self) -> LobClient:
        """The letter provider (Lob's Print & Mail API)."""
        return self._part("lob", self.settings.lob, _aclose)

    @property
    def payments(self) -> PaymentsClient:
        s = self.settings
        return self._part(
            "payments", lambda: PaymentsClient(s.payments_base_url, s.payments_api_key), _aclose
        )

    @property
    def books(self) -> LedgerClient:
        """The creditor's ledger (adjustments for settlements and payments)."""
        s = self.settings
        return self._part(
            "books", lambda: LedgerClient(s.ledger_base_url, s.ledger_api_key), _aclose
        )

    @property
    def mail_events(self) -> MailEvents | None:
        """The mail provider's records, or None when ``mail_events_url`` is unset."""
        return self._part("mail_events", self.settings.mail_events, _aclose_optional)

    # --- sinks ------------------------------------------------------------------

    def sinks(self, names: set[str] | None = None) -> dict[str, Sink]:
        """The broker sinks of ``names`` (default: the configured ones); see ``build_sinks``."""
        return build_sinks(self.settings, names)

    # --- closing ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close everything this root made, last made first (a client handed in stays open)."""
        closers, self._closers, self._parts = self._closers, [], {}
        self._async_parts = set()
        # Like an exit stack: one part failing to close does not keep the rest open.
        failed: BaseException | None = None
        for close in reversed(closers):
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                failed = failed or exc
        if failed is not None:
            raise failed

    def close(self) -> None:
        """Close what this root made, for synchronous commands (which use only SQL stores).

        A root holding an asynchronous client refuses, closing nothing: use ``aclose``.
        """
        if self._async_parts:
            held = ", ".join(sorted(self._async_parts))
            raise RuntimeError(f"Root.close(): {held} must be closed with aclose()")
        closers, self._closers, self._parts = self._closers, [], {}
        for close in reversed(closers):
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class _Disposable(Protocol):
    def dispose(self) -> None: ...


class _AsyncClosable(Protocol):
    async def aclose(self) -> None: ...


@asynccontextmanager
async def scoped(settings: Settings, root: Root | None = None) -> AsyncIterator[Root]:
    """``root`` when the caller keeps one open (the API's), else a root for this block only."""
    if root is not None:
        yield root
        return
    own = Root(settings)
    try:
        yield own
    finally:
        await own.aclose()


def _dispose(part: _Disposable) -> None:
    part.dispose()


def _aclose(part: _AsyncClosable) -> Awaitable[None]:
    return part.aclose()


def _aclose_optional(part: _AsyncClosable | None) -> Awaitable[None] | None:
    return part.aclose() if part is not None else None


def _nothing(_part: object) -> None:
    return None
