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
from activities.portfolio import PortfolioLauncher, PortfolioLoader
from activities.replies import ReplyReader
from activities.research import ResearchAgent
from activities.sms import SmsAgent
from activities.supervisor import Supervisor
from adapters.breakers import BreakerStore, BreakerStoreUnavailable
from adapters.sql import DatabaseUnavailable, check_database
from adapters.suppressions import SuppressionStore
from bootstrap.client import queue_backlog, visibility_count
from bootstrap.metrics import breaker_metrics
from bootstrap.root import Root
from bootstrap.settings import SQL_SINK, Settings
from bootstrap.undecodable import quiet_undecodable_logs
from domain.channels import Channel
from domain.replies.reading import ReadReply, ReplyToRead
from workers.export import both, breaker_events, exporter_for, report_status
from workflows import ALL_WORKFLOWS, Portfolio

SEND_HEARTBEAT_THROTTLE = timedelta(seconds=1)


async def _loaded(
    reader: Callable[[ReplyToRead], ReadReply] | None,
) -> Callable[[ReplyToRead], ReadReply] | None:
    """The offline reply reader with its model loaded now, not on the first reply: a reply
    is then read in milliseconds (a slow first read would hold that campaign's contact, and
    on a time-skipping server may outlast the activity's timeout), and a model that cannot
    load stops the worker at start instead of failing replies."""
    if reader is not None:
        from adapters.reply_model import shipped

        await asyncio.to_thread(shipped)
    return reader


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
    root: Root | None = None,
    nba_daily: bool = False,
) -> AsyncIterator[list[Worker]]:
    """Build the workers for ``roles`` and the adapters they need; close them on exit.

    The adapters come from ``root`` (the composition root, ``bootstrap/root.py``); by
    default one of the settings, made and closed here. A root passed in stays open.

    ``workflow_task_executor``: where the campaigns worker runs workflow activations
    (default: the SDK's own pool); ``bench.engine --profile`` passes a one-thread pool
    it can profile. ``suppressions``: the store the channel agents check before each
    send (default: the settings' database); ``bench.send_gap`` passes one it times.
    ``nba_daily``: the next-best-action agent learns day by day (``recoup simulate``:
    the same result for the same seed; see ``activities.next_action``).
    """
    roles = set(roles)
    queues = settings.queues
    built: list[Worker] = []
    # Refuse to start (StoreUnavailable) rather than start and fail every task: an
    # unreachable Redis would otherwise surface as refused sends, a database as a
    # traceback from the first store. The codec key was loaded by the client already.
    await check_database_answers(settings)
    # A payload encrypted with a key this worker lacks fails each of its tasks by name
    # (bootstrap.undecodable); its log says so once per key id, not a traceback a task.
    quiet_undecodable_logs()
    async with AsyncExitStack() as stack:
        # Closed last: everything below is stopped before the adapters it uses.
        if root is None:
            root = Root(settings, client=client)
            stack.push_async_callback(root.aclose)
        renderer = root.renderer
        # Every role reads or writes the debt's contact ledger (the gate's memory).
        # Every contact also goes into the tenant's hash-chained audit log.
        ledger = root.contact_ledger
        await asyncio.to_thread(ledger.create_tables)
        # Every decision goes into the event log, from which the exporter feeds the sinks.
        events = root.events
        # ... and a contact of an adaptive campaign opens its trial in the statistics.
        contact_export = ContactExport(events, trials=root.action_stats)
        # Every revocation, read by the channel agents right before each send.
        if suppressions is None:
            suppressions = root.suppressions
        # One breaker per provider, shared with every other worker through Redis.
        runtime = client.service_client.config.runtime or Runtime.default()
        await check_breaker_store(root.breaker_store)
        breakers = root.breakers(on_change=both(breaker_metrics(runtime), breaker_events(events)))

        # Replies are read, and messages written, by the language model when one is
        # configured, else offline and from templates; one client serves both.
        llm = root.llm
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
            portfolios = root.portfolios
            dead_letters = root.dead_letters
            await asyncio.to_thread(dead_letters.create_tables)
            # The research agent reads the CRM record and the read model's history.
            crm = root.crm
            history = root.account_history
            await asyncio.to_thread(history.create_tables)
            # The next-best-action agent's statistics, per tenant and segment.
            action_stats = root.action_stats
            await asyncio.to_thread(action_stats.create_tables)
            next_action = NextActionAgent(action_stats, daily=nba_daily)
            loader = PortfolioLoader(portfolios, redact(settings.sql_url))
            # Starts through this very client, so that they are dispatched eagerly here.
            launcher = PortfolioLauncher(
                client,
                loader,
                events.engine,
                visibility_count(client),
                queue_backlog(client),
                projected=SQL_SINK in settings.all_sinks,
                max_backlog=settings.launch_max_backlog or None,
            )
            worker(
                queues.campaigns,
                workflows=ALL_WORKFLOWS,
                workflow_runner=workflow_runner(settings),
                workflow_task_executor=workflow_task_executor,
                activities=[
                    # Still served here for the tasks portfolios scheduled on this queue
                    # before the launcher had its own (workflows.portfolio.LAUNCHER_QUEUE).
                    loader.load_portfolio_page,
                    launcher.start_portfolio_page,
                    launcher.count_campaign,
                    HistoryLoader(ledger).load_contact_history,
                    DeadLetterRecorder(dead_letters).record_dead_letter,
                    # Without a model the root's offline reader reads (the shipped model
                    # beside the rules, wired in bootstrap/root.py); None: the rules.
                    ReplyReader(llm, await _loaded(root.reply_reader)).read_reply,
                    ResearchAgent(crm, history, llm).research,
                    Supervisor(llm).supervise,
                    next_action.choose,
                    next_action.record,
                ],
            )
            # Portfolios on a queue of their own: the launcher's workflow tasks, starts
            # and counts never wait behind the campaigns' (tens of thousands of them
            # when 100,000 first touches are due at once). The campaigns queue still
            # runs the portfolios started there before.
            worker(
                queues.portfolios,
                workflows=[Portfolio],
                workflow_runner=workflow_runner(settings),
                workflow_task_executor=workflow_task_executor,
                activities=[
                    loader.load_portfolio_page,
                    launcher.start_portfolio_page,
                    launcher.count_campaign,
                ],
            )
        if Role.EMAIL in roles:
            mailer = root.mailer
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
            twilio = root.twilio
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
            letters = LetterAgent(
                root.lob,
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
            payments = root.payments
            books = root.books
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
