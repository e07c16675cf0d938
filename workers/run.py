"""Worker wiring: which workflows and activities run on which task queue.

``recoup worker`` runs all roles in one process (the default, and what
``recoup dev`` and the demo use) or one role per process, so each channel can
be scaled and rate-limited on its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from enum import StrEnum
from typing import Any

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.composer import Composer
from activities.dead_letters import DeadLetterRecorder
from activities.email import EmailAgent
from activities.export import ContactExport, EventExporter
from activities.history import HistoryLoader
from activities.letter import LetterAgent
from activities.next_action import NextActionAgent
from activities.payments import PaymentsAgent
from activities.phone import PhoneAgent
from activities.portfolio import PortfolioLoader
from activities.replies import ReplyReader
from activities.research import ResearchAgent
from activities.sms import SmsAgent
from activities.supervisor import Supervisor
from adapters.account_history import AccountHistory
from adapters.action_stats import ActionStats
from adapters.breakers import Breakers, BreakerStore, BreakerStoreUnavailable
from adapters.contact_ledger import ContactLedger
from adapters.crm_records import CrmRecords
from adapters.dead_letter_store import DeadLetterStore
from adapters.event_log import EventLog
from adapters.ledger import LedgerClient
from adapters.llm import LlmClient
from adapters.payments import PaymentsClient
from adapters.portfolio_store import PortfolioStore
from adapters.smtp import SmtpMailer
from adapters.sql import DatabaseUnavailable, check_database
from adapters.suppressions import SuppressionStore
from adapters.templates import TemplateRenderer
from adapters.twilio import TwilioClient
from bootstrap.metrics import breaker_metrics
from bootstrap.settings import Settings
from domain.channels import Channel
from workers.export import both, breaker_events, exporter_for, report_status
from workflows import ALL_WORKFLOWS

SEND_HEARTBEAT_THROTTLE = timedelta(seconds=1)


def workflow_runner(settings: Settings) -> SandboxedWorkflowRunner:
    """The sandbox the campaign worker runs workflows in (``RECOUP_WORKFLOW_SANDBOX``).

    ``strict`` (the default) is the SDK's sandbox: it re-imports the ``workflows``
    package for every workflow run and stops any non-deterministic call (wall clock,
    I/O, threads) the workflow code makes. ``passthrough`` imports the workflow modules
    once, which saves 15-35 ms of worker CPU per account (``bench.engine --sandbox``,
    bench/results/profile-engine.txt): they hold only constants and classes, no state
    to leak from one run to another. The price is the guard: a ``datetime.now()`` in
    workflow code is no longer stopped at run time. The tests run ``strict``, so such a
    call fails there before it ships.
    """
    if settings.workflow_sandbox == "passthrough":
        return SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows")
        )
    return SandboxedWorkflowRunner()


def redact(url: str) -> str:
    """A database URL without its password, fit for an error message."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest and ":" in rest.split("@", 1)[0]:
        user = rest.split("@", 1)[0].split(":", 1)[0]
        rest = f"{user}:***@{rest.split('@', 1)[1]}"
    return f"{scheme}{sep}{rest}"


class StoreUnavailable(RuntimeError):
    """A store the workers need does not answer; the message (one line) names the
    setting that points at it, the store, and what its client said."""


def database_setting(settings: Settings) -> str:
    """Which setting chose the database, and where it is, for messages."""
    setting = "RECOUP_DATABASE_URL" if settings.database_url else "RECOUP_DATA_DIR"
    return f"{setting}: {redact(settings.sql_url)}"


async def check_database_answers(settings: Settings) -> None:
    try:
        await asyncio.to_thread(check_database, settings.sql_url)
    except DatabaseUnavailable as exc:
        raise StoreUnavailable(
            f"the database does not answer ({database_setting(settings)}): {exc}"
        ) from exc


async def check_breaker_store(store: BreakerStore) -> None:
    try:
        await store.check()
    except BreakerStoreUnavailable as exc:
        raise StoreUnavailable(f"RECOUP_REDIS_URL: {exc}") from exc


class Role(StrEnum):
    """A worker role is one task queue and what runs on it."""

    CAMPAIGNS = "campaigns"
    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    LETTER = "letter"
    PAYMENTS = "payments"
    EXPORT = "export"


@asynccontextmanager
async def workers(
    client: Client,
    settings: Settings,
    roles: Iterable[Role] = tuple(Role),
    *,
    workflow_task_executor: concurrent.futures.ThreadPoolExecutor | None = None,
    suppressions: SuppressionStore | None = None,
) -> AsyncIterator[list[Worker]]:
    """Build the workers for ``roles`` and the adapters they need; close them on exit.

    ``workflow_task_executor``: where the campaigns worker runs workflow activations
    (default: the SDK's own pool); ``bench.engine --profile`` passes a one-thread pool
    it can profile. ``suppressions``: the store the channel agents check before each
    send (default: the settings' database); ``bench.send_gap`` passes one it times.
    """
    roles = set(roles)
    queues = settings.queues
    renderer = TemplateRenderer(settings.template_dir)
    built: list[Worker] = []
    # Refuse to start (StoreUnavailable) rather than start and fail every task: an
    # unreachable Redis would otherwise surface as refused sends, a database as a
    # traceback from the first store. The codec key was loaded by the client already.
    await check_database_answers(settings)
    async with AsyncExitStack() as stack:
        # Every role reads or writes the debt's contact ledger (the gate's memory).
        # Every contact also goes into the tenant's hash-chained audit log.
        ledger = ContactLedger(settings.sql_url, settings.audit_log())
        await asyncio.to_thread(ledger.create_tables)
        stack.callback(ledger.dispose)
        # Every decision goes into the event log, from which the exporter feeds the sinks.
        events = EventLog(settings.sql_url)
        stack.callback(events.dispose)
        contact_export = ContactExport(events)
        # Every revocation, read by the channel agents right before each send.
        if suppressions is None:
            suppressions = SuppressionStore(settings.sql_url)
            stack.callback(suppressions.dispose)
        # One breaker per provider, shared with every other worker through Redis.
        runtime = client.service_client.config.runtime or Runtime.default()
        store = settings.breaker_store()
        stack.push_async_callback(store.aclose)
        await check_breaker_store(store)
        breakers = Breakers(
            store,
            settings.breakers,
            on_change=both(breaker_metrics(runtime), breaker_events(events)),
        )

        # Replies are read, and messages written, by the language model when one is
        # configured, else offline and from templates; one client serves both.
        llm = LlmClient.configured(
            settings.llm_base_url,
            settings.llm_model,
            settings.llm_api_key,
            settings.llm_timeout_seconds,
            settings.llm_json_schema,
        )
        if llm is not None:
            stack.push_async_callback(llm.aclose)
        # Every message passes the guardrail; the model's fall back to the templates.
        composer = Composer(renderer, llm)

        def channel_worker(channel: Channel, activity: Callable[..., Any]) -> None:
            # The provider's rate limit holds across every worker of the queue.
            limit = settings.rate_limit(channel)
            worker(
                queues.for_channel(channel),
                activities=[activity],
                max_task_queue_activities_per_second=limit,
                # A send that waits heartbeats every second (activities.sending): let each
                # through, so the campaign's cancellation reaches it within about a second.
                max_heartbeat_throttle_interval=SEND_HEARTBEAT_THROTTLE,
                default_heartbeat_throttle_interval=SEND_HEARTBEAT_THROTTLE,
            )

        def worker(task_queue: str, **kwargs: object) -> None:
            built.append(
                Worker(
                    client,
                    task_queue=task_queue,
                    max_concurrent_activities=settings.max_concurrent_activities,
                    max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
                    **kwargs,  # type: ignore[arg-type]
                )
            )

        if Role.CAMPAIGNS in roles:
            portfolios = PortfolioStore(settings.sql_url)
            stack.callback(portfolios.dispose)
            dead_letters = DeadLetterStore(settings.sql_url)
            await asyncio.to_thread(dead_letters.create_tables)
            stack.callback(dead_letters.dispose)
            # The research agent reads the CRM record and the read model's history.
            crm = CrmRecords(settings.crm_base_url or settings.ledger_base_url, settings.crm_key)
            stack.push_async_callback(crm.aclose)
            history = AccountHistory(settings.sql_url)
            await asyncio.to_thread(history.create_tables)
            stack.callback(history.dispose)
            # The next-best-action agent's statistics, per tenant and segment.
            action_stats = ActionStats(settings.sql_url)
            await asyncio.to_thread(action_stats.create_tables)
            stack.callback(action_stats.dispose)
            next_action = NextActionAgent(action_stats)
            worker(
                queues.campaigns,
                workflows=ALL_WORKFLOWS,
                workflow_runner=workflow_runner(settings),
                workflow_task_executor=workflow_task_executor,
                activities=[
                    PortfolioLoader(portfolios, redact(settings.sql_url)).load_portfolio_page,
                    HistoryLoader(ledger).load_contact_history,
                    DeadLetterRecorder(dead_letters).record_dead_letter,
                    ReplyReader(llm).read_reply,
                    ResearchAgent(crm, history, llm).research,
                    Supervisor(llm).supervise,
                    next_action.choose,
                    next_action.record,
                ],
            )
        if Role.EMAIL in roles:
            mailer = SmtpMailer(
                settings.smtp_host,
                settings.smtp_port,
                sender=settings.email_from,
                username=settings.smtp_username,
                password=settings.smtp_password,
                use_tls=settings.smtp_use_tls,
                start_tls=settings.smtp_start_tls,
            )
            channel_worker(
                Channel.EMAIL,
                EmailAgent(
                    mailer,
                    renderer,
                    ledger,
                    breakers.get("email"),
                    contact_export,
                    composer,
                    suppressions,
                ).send_email,
            )
        if roles & {Role.SMS, Role.PHONE}:
            twilio = TwilioClient(
                settings.twilio_base_url,
                settings.twilio_account_sid,
                settings.twilio_auth_token,
                settings.twilio_from_number,
                status_callback_url=settings.twilio_status_callback_url,
            )
            stack.push_async_callback(twilio.aclose)
            if Role.SMS in roles:
                channel_worker(
                    Channel.SMS,
                    SmsAgent(
                        twilio,
                        renderer,
                        ledger,
                        breakers.get("sms"),
                        contact_export,
                        composer,
                        suppressions,
                    ).send_sms,
                )
            if Role.PHONE in roles:
                phone = PhoneAgent(
                    twilio,
                    renderer,
                    ledger,
                    poll_seconds=settings.call_poll_seconds,
                    breaker=breakers.get("phone"),
                    export=contact_export,
                    composer=composer,
                    suppressions=suppressions,
                )
                channel_worker(Channel.PHONE, phone.place_call)
        if Role.LETTER in roles:
            lob = settings.lob()
            stack.push_async_callback(lob.aclose)
            letters = LetterAgent(
                lob,
                renderer,
                ledger,
                breakers.get("letter"),
                contact_export,
                composer,
                suppressions,
            )
            worker(
                queues.letter,
                activities=[letters.send_letter],
                max_task_queue_activities_per_second=settings.letter_per_second,
                max_heartbeat_throttle_interval=SEND_HEARTBEAT_THROTTLE,
                default_heartbeat_throttle_interval=SEND_HEARTBEAT_THROTTLE,
            )
        if Role.PAYMENTS in roles:
            payments = PaymentsClient(settings.payments_base_url, settings.payments_api_key)
            stack.push_async_callback(payments.aclose)
            books = LedgerClient(settings.ledger_base_url, settings.ledger_api_key)
            stack.push_async_callback(books.aclose)
            agent = PaymentsAgent(payments, books, breakers.get("payments"), breakers.get("ledger"))
            worker(
                queues.payments,
                activities=[
                    agent.create_payment_link,
                    agent.cancel_payment_link,
                    agent.post_ledger_adjustment,
                    agent.reverse_ledger_adjustment,
                ],
            )
        if Role.EXPORT in roles:
            worker(queues.export, activities=[EventExporter(events).export_events])
            # The exporter runs beside the workers for as long as they do.
            stop = asyncio.Event()
            exporter = exporter_for(settings, events)
            task = asyncio.create_task(exporter.run(stop), name="recoup-exporter")

            async def stop_exporter() -> None:
                stop.set()
                await task

            stack.push_async_callback(stop_exporter)
        # This process reports itself on agent-metrics: started, healthy, stopped.
        stopping = asyncio.Event()
        agent_id = f"worker:{socket.gethostname()}:{os.getpid()}"
        names = [role.value for role in roles]
        reporter = asyncio.create_task(
            report_status(events, agent_id, names, stopping, settings.status_seconds)
        )

        async def stop_reporting() -> None:
            stopping.set()
            await reporter

        stack.push_async_callback(stop_reporting)
        yield built


async def run_until_stopped(
    client: Client, settings: Settings, roles: Iterable[Role], stop: asyncio.Event
) -> None:
    """Run the workers until ``stop`` is set, then shut them down gracefully."""
    async with workers(client, settings, roles) as built, AsyncExitStack() as stack:
        for w in built:
            await stack.enter_async_context(w)
        await stop.wait()
