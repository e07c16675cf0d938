"""Starting and steering campaigns: the operations the CLI (and later the APIs) offer.

Starts are idempotent through Temporal itself: the workflow id is derived from
the tenant and the account (or campaign), and ``USE_EXISTING`` makes a second
start return the running workflow instead of creating another.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from opentelemetry import trace
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from adapters.campaign_count import count_campaign
from adapters.event_log import EventLog
from adapters.inbound import InboundStore
from adapters.portfolio_store import PortfolioStore
from bootstrap.client import visibility_count
from bootstrap.root import Root, scoped
from bootstrap.settings import SQL_SINK, Settings
from bootstrap.tracing import current_trace_id
from domain import names
from domain.account import Account, Tenant
from domain.arrangements import Arrangement, ArrangementRequest
from domain.campaign import (
    AccountCampaignInput,
    AccountOutcome,
    CampaignSnapshot,
    PaymentReceived,
    account_workflow_id,
    portfolio_workflow_id,
)
from domain.compliance.facts import LegalEvent
from domain.playbook import Playbook
from domain.portfolio import CensusRequest, PortfolioInput, PortfolioStatus, campaign_summary
from service.errors import AccountCampaignEnded, NoAccountCampaign, NoSuchCampaign
from service.revocations import Revocations
from workflows import search_attributes as sa

_tracer = trace.get_tracer("recoup.campaigns")


async def index_contacts(
    settings: Settings,
    tenant_id: str,
    accounts: Sequence[Account],
    store: InboundStore | None = None,
) -> None:
    """Remember whose numbers and addresses these are, so provider webhooks (an inbound
    SMS, an email bounce) find the account. Only HMACs of the addresses are stored.

    A long-lived process passes its ``store``; without one, a store (and its database
    engine) is made for this call and disposed of.
    """
    if store is not None:
        await asyncio.to_thread(store.index, tenant_id, _contacts(accounts))
        return
    async with scoped(settings) as root:
        await asyncio.to_thread(root.inbound.index, tenant_id, _contacts(accounts))


def _contacts(accounts: Iterable[Account]) -> Iterator[tuple[str, list[str]]]:
    for a in accounts:
        yield a.account_id, [e.address for e in a.emails] + [p.number for p in a.phones]


def _index_staged(
    portfolios: PortfolioStore, inbound: InboundStore, tenant_id: str, campaign_id: str
) -> None:
    """Index the contacts of a staged campaign, a page at a time: what was stored (not
    what a caller passed, which may be a generator already read), never all at once."""
    for page in portfolios.pages(tenant_id, campaign_id):
        inbound.index(tenant_id, _contacts(page))


def campaign_id_for(path: Path) -> str:
    """A campaign id stable for a file's content: relaunching the same file attaches."""
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").hexdigest()[:10]  # read in chunks
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in path.stem)[:40] or "portfolio"
    return f"{stem}-{digest}"


async def stage_portfolio(
    settings: Settings,
    tenant_id: str,
    campaign_id: str,
    accounts: Iterable[Account],
    request: Mapping[str, object] | None = None,
    root: Root | None = None,
) -> int:
    """Store the campaign's accounts and index their contacts; how many it holds.

    ``accounts`` may be a generator over a file: it is read once, as it is stored, and
    whatever it raises stores nothing (``PortfolioStore.save``). A campaign already
    stored is a replay (``request`` as for ``launch_portfolio``). The contacts are then
    indexed from what was stored, a page at a time.
    """
    async with scoped(settings, root) as stores:
        store = stores.portfolios
        await asyncio.to_thread(store.create_tables)
        total = await asyncio.to_thread(store.save, tenant_id, campaign_id, accounts, request)
        await asyncio.to_thread(_index_staged, store, stores.inbound, tenant_id, campaign_id)
    return total


async def launch_portfolio(
    client: Client,
    settings: Settings,
    *,
    tenant: Tenant,
    campaign_id: str,
    playbook: Playbook,
    accounts: Iterable[Account],
    seconds_per_day: float = 86_400,
    starts_in_flight: int = 64,
    starts_per_second: float | None = None,
    page_size: int = 500,
    max_history_events: int = 10_000,
    trace_id: str | None = None,
    request: Mapping[str, object] | None = None,
    root: Root | None = None,
) -> WorkflowHandle[object, PortfolioStatus]:
    """Store the accounts, then start (or attach to) the campaign's Portfolio workflow.

    Every account's campaign is started; ``starts_in_flight`` and ``starts_per_second``
    bound how fast, never how many are open.

    ``request``: the normalized start request a replay must repeat (the API's
    Idempotency-Key); ``PortfolioStore.save`` raises ``RequestMismatch`` when the
    campaign was started by another one. ``root``: the caller's stores (the API keeps
    them open); default: a root for this call.
    """
    total = await stage_portfolio(
        settings, tenant.tenant_id, campaign_id, accounts, request=request, root=root
    )
    return await start_portfolio(
        client,
        settings,
        tenant=tenant,
        campaign_id=campaign_id,
        playbook=playbook,
        total=total,
        seconds_per_day=seconds_per_day,
        starts_in_flight=starts_in_flight,
        starts_per_second=starts_per_second,
        page_size=page_size,
        max_history_events=max_history_events,
        trace_id=trace_id,
    )


async def start_portfolio(
    client: Client,
    settings: Settings,
    *,
    tenant: Tenant,
    campaign_id: str,
    playbook: Playbook,
    total: int,
    seconds_per_day: float = 86_400,
    starts_in_flight: int = 64,
    starts_per_second: float | None = None,
    page_size: int = 500,
    max_history_events: int = 10_000,
    trace_id: str | None = None,
) -> WorkflowHandle[object, PortfolioStatus]:
    """Start (or attach to) the Portfolio workflow of a campaign staged with ``total``
    accounts (``stage_portfolio``)."""
    # A span of our own when the caller has none (the CLI), so that the workflow's
    # trace and the events' X-Trace-ID are one trace however the campaign started.
    with _tracer.start_as_current_span("launch portfolio"):
        return await client.start_workflow(
            names.PORTFOLIO,
            PortfolioInput(
                tenant=tenant,
                campaign_id=campaign_id,
                playbook=playbook,
                total_accounts=total,
                starts_in_flight=starts_in_flight,
                starts_per_second=starts_per_second,
                page_size=page_size,
                seconds_per_day=seconds_per_day,
                queues=settings.queues,
                retry=settings.retry_rules(tenant.tenant_id),
                max_history_events=max_history_events,
                trace_id=trace_id or current_trace_id(),
                settlement_approval_discount=settings.settlement_approval_for(tenant.tenant_id),
                approval_days=settings.approval_days,
                llm_replies=bool((settings.llm_base_url or "").strip()),
                llm_timeout_seconds=settings.llm_timeout_seconds,
                review_below=settings.reply_review_below,
                policy=settings.contact_policy,
                exploration=settings.nba_exploration,
                nba_seed=settings.nba_seed,
                research=settings.research_enabled,
                llm_agents=bool((settings.llm_base_url or "").strip()),
            ),
            id=portfolio_workflow_id(tenant.tenant_id, campaign_id),
            # Its own queue: at 100,000 accounts the campaigns queue holds tens of
            # thousands of the campaigns' workflow tasks, and the launcher must not
            # wait behind the very campaigns it started.
            task_queue=settings.queues.portfolios,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            result_type=PortfolioStatus,
            search_attributes=sa.for_portfolio(
                tenant_id=tenant.tenant_id, campaign_id=campaign_id, status="active"
            ),
            static_summary=(
                f"Portfolio · campaign {campaign_id} · {total} accounts · {playbook.name} playbook"
            ),
        )


async def start_account_campaign(
    client: Client,
    settings: Settings,
    *,
    tenant: Tenant,
    campaign_id: str,
    playbook: Playbook,
    account: Account,
    seconds_per_day: float = 86_400,
    trace_id: str | None = None,
    inbound: InboundStore | None = None,
) -> WorkflowHandle[object, AccountOutcome]:
    """Start one account's campaign, or return the one already running for it.

    ``inbound``: the caller's address index (the API keeps one open); default: a new one.
    """
    await index_contacts(settings, tenant.tenant_id, [account], inbound)
    with _tracer.start_as_current_span("start account campaign"):
        trace_id = trace_id or current_trace_id()
        return await _start_account(
            client, settings, tenant, campaign_id, playbook, account, seconds_per_day, trace_id
        )


async def _start_account(
    client: Client,
    settings: Settings,
    tenant: Tenant,
    campaign_id: str,
    playbook: Playbook,
    account: Account,
    seconds_per_day: float,
    trace_id: str | None,
) -> WorkflowHandle[object, AccountOutcome]:
    return await client.start_workflow(
        names.ACCOUNT_CAMPAIGN,
        AccountCampaignInput(
            tenant=tenant,
            campaign_id=campaign_id,
            account=account,
            playbook=playbook,
            seconds_per_day=seconds_per_day,
            queues=settings.queues,
            retry=settings.retry_rules(tenant.tenant_id),
            trace_id=trace_id,
            settlement_approval_discount=settings.settlement_approval_for(tenant.tenant_id),
            approval_days=settings.approval_days,
            llm_replies=bool((settings.llm_base_url or "").strip()),
            llm_timeout_seconds=settings.llm_timeout_seconds,
            policy=settings.contact_policy,
            exploration=settings.nba_exploration,
            research=settings.research_enabled,
            llm_agents=bool((settings.llm_base_url or "").strip()),
            web_ui_columns=True,
            reader_activity=True,
            negative_outcomes=True,
            history_at_first_contact=True,
            nba_seed=settings.nba_seed,
            review_below=settings.reply_review_below,
        ),
        id=account_workflow_id(tenant.tenant_id, account.account_id),
        task_queue=settings.queues.campaigns,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        result_type=AccountOutcome,
        search_attributes=sa.for_account(tenant.tenant_id, campaign_id, account),
        static_summary=campaign_summary(playbook.name, campaign_id, account),
    )


async def portfolio_progress(client: Client, tenant_id: str, campaign_id: str) -> PortfolioStatus:
    """The portfolio's progress; ``NoSuchCampaign`` when the tenant launched none of that id."""
    handle = client.get_workflow_handle(portfolio_workflow_id(tenant_id, campaign_id))
    try:
        status: PortfolioStatus = await handle.query(
            names.QUERY_PROGRESS, result_type=PortfolioStatus
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise NoSuchCampaign(f"no campaign {campaign_id!r} in tenant {tenant_id!r}") from exc
        raise
    return status


async def campaign_progress(
    client: Client, root: Root, tenant_id: str, campaign_id: str
) -> PortfolioStatus:
    """The campaign's progress as every surface shows it (docs/metrics.md).

    ``NoSuchCampaign`` when the tenant launched none of that id.
    """
    status = await portfolio_progress(client, tenant_id, campaign_id)
    return await counted_now(client, root.settings, root.events, status)


async def counted_now(
    client: Client, settings: Settings, events: EventLog, status: PortfolioStatus
) -> PortfolioStatus:
    """``status`` (the portfolio's launch counters: started, attached, paused) with every
    other figure counted now where counting scales (``count_campaign``: visibility and the
    read model), rather than as of the portfolio's last periodic count."""
    if SQL_SINK not in settings.all_sinks:
        return status  # no read model to count from: the workflow's own figures
    await asyncio.to_thread(events.create_tables)
    tenant, campaign = status.tenant_id, status.campaign_id
    census = await count_campaign(
        visibility_count(client),
        events.engine,
        CensusRequest(tenant_id=tenant, campaign_id=campaign, started=status.started),
        running=sa.campaign_accounts_query(tenant, campaign, running=True),
        every=sa.campaign_accounts_query(tenant, campaign, running=False),
        projected=True,
    )
    return status.counted(census, datetime.now(UTC))


async def account_status(client: Client, tenant_id: str, account_id: str) -> CampaignSnapshot:
    """The account campaign's state; ``NoAccountCampaign`` when there is none."""
    handle = client.get_workflow_handle(account_workflow_id(tenant_id, account_id))
    with _account_lookup(tenant_id, account_id):
        snapshot: CampaignSnapshot = await handle.query(
            names.QUERY_STATUS, result_type=CampaignSnapshot
        )
    return snapshot


@contextmanager
def _account_lookup(tenant_id: str, account_id: str) -> Iterator[None]:
    """Temporal's "workflow not found" said in Recoup's words: the account has no campaign
    (``NoAccountCampaign``), or it has ended and takes no more signals or updates
    (``AccountCampaignEnded``). Other errors pass through unchanged."""
    try:
        yield
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
        # Temporal answers a signal or update to a closed workflow NOT_FOUND too, with
        # "workflow execution already completed" as its only distinction.
        if "completed" in exc.message or "closed" in exc.message:
            raise AccountCampaignEnded(tenant_id, account_id) from exc
        raise NoAccountCampaign(tenant_id, account_id) from exc


async def send_legal_event(
    client: Client,
    settings: Settings,
    tenant_id: str,
    account_id: str,
    event: LegalEvent,
    source: str = "cli",
) -> None:
    """Store the event in the suppression store, then tell the account's campaign."""
    async with scoped(settings) as root:
        store = root.suppressions
        await asyncio.to_thread(store.create_tables)
        stored = await Revocations(store).legal_event(tenant_id, account_id, event, source=source)
    handle = client.get_workflow_handle(account_workflow_id(tenant_id, account_id))
    with _account_lookup(tenant_id, account_id):
        await handle.signal(names.SIGNAL_LEGAL, stored)


async def record_payment(
    client: Client, tenant_id: str, account_id: str, payment: PaymentReceived
) -> None:
    handle = client.get_workflow_handle(account_workflow_id(tenant_id, account_id))
    with _account_lookup(tenant_id, account_id):
        await handle.signal(names.SIGNAL_PAYMENT, payment)


class ArrangementRefused(Exception):
    """The campaign would not accept the arrangement; the message says why."""


async def arrange(
    client: Client, tenant_id: str, account_id: str, request: ArrangementRequest
) -> Arrangement:
    """Accept a settlement or payment plan for the account (idempotent by arrangement id)."""
    handle = client.get_workflow_handle(account_workflow_id(tenant_id, account_id))
    try:
        with _account_lookup(tenant_id, account_id):
            arrangement: Arrangement = await handle.execute_update(
                names.UPDATE_ARRANGE, request, result_type=Arrangement
            )
    except WorkflowUpdateFailedError as exc:
        raise ArrangementRefused(str(exc.cause or exc)) from exc
    return arrangement
