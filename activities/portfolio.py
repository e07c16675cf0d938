"""A portfolio's activities: read its accounts a page at a time, start their campaigns,
count the campaign.

The accounts were stored at launch; the portfolio workflow passes offsets, never
accounts.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from adapters.campaign_count import VisibilityCount, count_campaign
from adapters.portfolio_store import PortfolioStore
from adapters.task_queue_backlog import BacklogGate, QueueBacklog
from domain import names
from domain.account import Account
from domain.campaign import account_workflow_id
from domain.portfolio import (
    Census,
    CensusRequest,
    PageStarted,
    PortfolioInput,
    PortfolioPage,
    PortfolioPageRequest,
    StartPageRequest,
    account_campaign_input,
    campaign_summary,
)
from workflows import search_attributes as sa


class PortfolioLoader:
    def __init__(self, store: PortfolioStore, where: str) -> None:
        self._store = store
        self._where = where

    @activity.defn(name=names.LOAD_PORTFOLIO_PAGE)
    async def load_portfolio_page(self, request: PortfolioPageRequest) -> PortfolioPage:
        accounts = await self.page(
            request.tenant_id, request.campaign_id, request.offset, request.limit
        )
        return PortfolioPage(
            accounts=accounts,
            next_offset=request.offset + len(accounts),
            exhausted=len(accounts) < request.limit,
        )

    async def page(
        self, tenant_id: str, campaign_id: str, offset: int, limit: int
    ) -> list[Account]:
        accounts = await asyncio.to_thread(self._store.page, tenant_id, campaign_id, offset, limit)
        if not accounts and offset == 0:
            # Launched into another store than this worker reads: say so, and keep
            # retrying (visible in the UI) until the configuration is fixed.
            raise ApplicationError(
                f"portfolio {tenant_id}/{campaign_id} is not in the store "
                f"this worker reads ({self._where}); launch and worker must share "
                "RECOUP_DATABASE_URL (or RECOUP_DATA_DIR)",
                type="PortfolioNotFound",
            )
        return accounts


class PortfolioLauncher:
    """Starts account campaigns through the client, and counts a campaign.

    ``client`` should be the one the campaigns worker of this process polls with: starts
    then ask for eager dispatch, and the first workflow task runs here without a trip
    through the task queue.
    """

    def __init__(
        self,
        client: Client,
        loader: PortfolioLoader,
        read_model: Engine,
        visible: VisibilityCount,
        backlog_of: QueueBacklog,
        *,
        projected: bool,
        max_backlog: int | None = None,
    ) -> None:
        """``visible``: Temporal visibility's count of a query (``count_campaign``).
        ``projected``: whether the exporter fills the read model (the ``sql`` sink).
        ``backlog_of``: a queue's workflow task backlog (``bootstrap.client.queue_backlog``).
        ``max_backlog``: hold starts while the campaigns' workflow task queue has more
        tasks waiting than this (``adapters.task_queue_backlog``; None: never hold)."""
        self._client = client
        self._loader = loader
        self._read_model = read_model
        self._visible = visible
        self._backlog_of = backlog_of
        self._projected = projected
        self._max_backlog = max_backlog
        self._gates: dict[str, BacklogGate] = {}
        # One pace per portfolio run, kept across its pages: a page of one account would
        # otherwise start at once, whatever starts_per_second says.
        self._paces = Paces()

    def _gate(self, queue: str) -> BacklogGate | None:
        """One gate per campaigns queue, shared by every page this worker runs."""
        if self._max_backlog is None:
            return None
        gate = self._gates.get(queue)
        if gate is None:
            gate = self._gates[queue] = BacklogGate(
                self._backlog_of, queue, self._max_backlog, on_hold=_held
            )
        return gate

    @activity.defn(name=names.START_PORTFOLIO_PAGE)
    async def start_portfolio_page(self, request: StartPageRequest) -> PageStarted:
        """Start the campaign of every account of the page; report started and attached.

        A retried attempt starts the page again: a campaign an earlier attempt started
        is found running with this campaign id and counted as started, once.
        """
        inp = request.portfolio
        tenant_id = inp.tenant.tenant_id
        accounts = await self._loader.page(
            tenant_id, inp.campaign_id, request.offset, request.limit
        )
        pace = self._paces.of(activity.info().workflow_id or "", inp.starts_per_second)
        gate = self._gate(inp.queues.campaigns)
        slots = asyncio.Semaphore(inp.starts_in_flight)
        attached = 0

        async def start(account: Account) -> None:
            nonlocal attached
            async with slots:
                await pace.wait()
                if gate is not None:
                    await gate.wait()
                if not await self._start(inp, account):
                    attached += 1
                activity.heartbeat()

        await asyncio.gather(*(start(a) for a in accounts))
        return PageStarted(
            started=len(accounts) - attached,
            attached=attached,
            next_offset=request.offset + len(accounts),
            exhausted=len(accounts) < request.limit,
        )

    async def _start(self, inp: PortfolioInput, account: Account) -> bool:
        """Start one account's campaign; False when one of another campaign runs for it
        (the portfolio attaches to it: an account never has two campaigns at once)."""
        tenant_id = inp.tenant.tenant_id
        workflow_id = account_workflow_id(tenant_id, account.account_id)
        try:
            await self._client.start_workflow(
                names.ACCOUNT_CAMPAIGN,
                account_campaign_input(inp, account, None),
                id=workflow_id,
                task_queue=inp.queues.campaigns,
                search_attributes=sa.for_account(tenant_id, inp.campaign_id, account),
                static_summary=campaign_summary(inp.playbook.name, inp.campaign_id, account),
                # No eager start: it would hand every campaign's first task, and then its
                # sticky queue, to the one worker running this page; a portfolio's
                # campaigns must spread over every worker on the queue.
            )
            return True
        except WorkflowAlreadyStartedError:
            running = await self._client.get_workflow_handle(workflow_id).describe()
            return running.typed_search_attributes.get(sa.CAMPAIGN) == inp.campaign_id

    @activity.defn(name=names.COUNT_CAMPAIGN)
    async def count_campaign(self, request: CensusRequest) -> Census:
        """Open and indexed account campaigns from visibility; the rest from the read model."""
        tenant, campaign = request.tenant_id, request.campaign_id
        return await count_campaign(
            self._visible,
            self._read_model,
            request,
            running=sa.campaign_accounts_query(tenant, campaign, running=True),
            every=sa.campaign_accounts_query(tenant, campaign, running=False),
            projected=self._projected,
        )


def _held(backlog: int) -> None:
    # Heartbeats while held, so the page's heartbeat timeout measures a stuck worker,
    # not a busy queue.
    activity.heartbeat()
    activity.logger.debug("starts held: %d campaign workflow tasks queued", backlog)


class Paces:
    """The pace of each portfolio run that is pacing its starts now.

    A pace whose next start is already due behaves exactly as a new one, so it is
    dropped: a worker that launches portfolios for months holds the paces of the runs
    starting accounts at this moment, not one per run it ever served.
    """

    def __init__(self) -> None:
        self._paces: dict[tuple[str, float], Pace] = {}

    def of(self, portfolio: str, per_second: float | None) -> Pace:
        if not per_second:
            return Pace(None)
        now = time.monotonic()
        self._paces = {key: pace for key, pace in self._paces.items() if not pace.idle(now)}
        key = (portfolio, per_second)
        pace = self._paces.get(key)
        if pace is None:
            pace = self._paces[key] = Pace(per_second)
        return pace

    def __len__(self) -> int:
        return len(self._paces)


class Pace:
    """At most ``per_second`` calls of ``wait`` return a second (None: no limit)."""

    def __init__(self, per_second: float | None) -> None:
        self._gap = 1 / per_second if per_second else 0.0
        self._next = time.monotonic()

    def idle(self, now: float) -> bool:
        """Whether the next call would return at once, as a new pace's first would."""
        return self._next <= now

    async def wait(self) -> None:
        if not self._gap:
            return
        now = time.monotonic()
        at, self._next = max(now, self._next), max(now, self._next) + self._gap
        if at > now:
            await asyncio.sleep(at - now)
