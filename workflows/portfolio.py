"""Portfolio: starts one AccountCampaign per account, and counts them until all end.

Accounts are read a page at a time from the portfolio stored at launch (the
workflow input holds a reference, never the accounts).

Since ``PORTFOLIO_LAUNCHER`` every account's campaign is started, whatever the
portfolio's size: an activity starts one page of them through the client, at most
``starts_in_flight`` at once and ``starts_per_second`` a second, so what is bounded is
the rate of starts, never how many campaigns are open. The portfolio keeps counters
only (no ids, no signal per finished account): its history and continue-as-new input
stay the same size for 100 or 100,000 accounts. It then counts the campaign where
counting scales (``count_campaign``: Temporal visibility and the SQL read model) until
no account campaign of it is open.

Runs begun before that kept a window of at most ``window`` running children, each
reporting its end by signal; that code stays so that their histories replay.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.account import Account
    from domain.campaign import (
        AccountOutcome,
        WatchRequest,
        account_workflow_id,
    )
    from domain.contact import format_amount
    from domain.operator import (
        LaunchAction,
        LaunchControl,
        LaunchState,
        PauseRequest,
        ResumeRequest,
    )
    from domain.portfolio import (
        Census,
        CensusRequest,
        PageStarted,
        PortfolioInput,
        PortfolioPage,
        PortfolioPageRequest,
        PortfolioProgress,
        PortfolioStatus,
        StartPageRequest,
        account_campaign_input,
        campaign_summary,
    )
    from workflows import search_attributes as sa


# Starts no longer wait for the rest of their page (see ``_launch_pipelined``).
PIPELINED_LAUNCH = "portfolio-pipelined-launch"
# Every account started by activities, no window, progress counted (``_launch``).
PORTFOLIO_LAUNCHER = "portfolio-launcher"
# The campaign is counted while its accounts start, not only once all have started.
CENSUS_WHILE_LAUNCHING = "portfolio-census-while-launching"
# The launcher's activities on a task queue of their own (``TaskQueues.portfolios``).
LAUNCHER_QUEUE = "portfolio-launcher-queue"


@workflow.defn(name=names.PORTFOLIO)
class Portfolio:
    @workflow.init
    def __init__(self, inp: PortfolioInput) -> None:
        self._inp = inp
        self._offset = inp.offset
        self._pending: set[str] = set(inp.pending)
        self._progress: PortfolioProgress = inp.progress.model_copy(deep=True)
        self._progress.total = inp.total_accounts
        self._loading_done = inp.offset >= inp.total_accounts
        self._paused: PauseRequest | None = inp.paused
        self._census: Census | None = inp.census
        self._counted_at: datetime | None = None
        self._cancelled = inp.cancelled
        self._launcher = False
        self._launcher_queue = inp.queues.campaigns
        self._page_in_flight = False
        self._counted_while_launching = False

    @workflow.run
    async def run(self, inp: PortfolioInput) -> PortfolioStatus:
        self._describe()
        if workflow.patched(PORTFOLIO_LAUNCHER):
            self._launcher = True
            self._pending.clear()  # carried from a windowed run: counted like the others
            if workflow.patched(LAUNCHER_QUEUE):
                # Starting accounts and counting them must not wait in the campaigns
                # queue behind the research and history loads of the very campaigns
                # they started (at 100,000 accounts with a touch on day 0, thousands).
                self._launcher_queue = inp.queues.portfolios
            if workflow.patched(CENSUS_WHILE_LAUNCHING):
                # A launch of 100,000 accounts takes a while: progress (open, finished,
                # collected) must not read zero until the last page has started.
                self._counted_while_launching = True
                counting = asyncio.create_task(self._count_until_all_ended(inp))
                await self._launch(inp)
                await counting
            else:
                await self._launch(inp)
                await self._count_until_all_ended(inp)
            self._describe()
            return self.progress()
        if workflow.patched(PIPELINED_LAUNCH):
            await self._launch_pipelined(inp)
        else:
            await self._launch_page_by_page(inp)

        while self._pending:
            await workflow.wait_condition(
                lambda: not self._pending or self._should_continue_as_new()
            )
            self._describe()
            await self._continue_as_new_if_needed()
        self._describe()
        return self.progress()

    @workflow.signal(name=names.SIGNAL_ACCOUNT_FINISHED)
    def account_finished(self, outcome: AccountOutcome) -> None:
        # Membership makes a repeated signal harmless.
        if outcome.workflow_id in self._pending:
            self._pending.discard(outcome.workflow_id)
            self._progress.record(outcome)

    @workflow.update(name=names.UPDATE_STEER_LAUNCH)
    async def steer_launch(self, control: LaunchControl) -> LaunchState:
        """Hold, release or stop the launcher; answers once no page of starts is in flight,
        so that a batch operation selecting the campaign's accounts after it misses none.

        (Running account campaigns are steered by that batch operation, see
        ``service/steering.py``; a windowed run still passes pause and resume on.)
        """
        if control.action is LaunchAction.RESUME:
            await self.resume(ResumeRequest(operator=control.operator, note=control.reason))
        elif control.action is LaunchAction.PAUSE:
            await self.pause(PauseRequest(reason=control.reason, operator=control.operator))
        else:
            self._cancelled = True
            self._describe()
        await workflow.wait_condition(lambda: not self._page_in_flight)
        return LaunchState(
            started=self._progress.started,
            attached=self._progress.attached,
            launching_done=self._loading_done,
            paused=self._paused is not None,
            cancelled=self._cancelled,
        )

    @workflow.signal(name=names.SIGNAL_PAUSE)
    async def pause(self, request: PauseRequest) -> None:
        """Pause the whole campaign: no new account starts, running ones hold outreach.

        A windowed run (before ``PORTFOLIO_LAUNCHER``) signals each running account;
        a launcher run holds its starts only (the batch operation reaches the accounts).
        """
        if self._paused is not None:
            return
        self._paused = request
        self._describe()
        await self._broadcast(names.SIGNAL_PAUSE, request)

    @workflow.signal(name=names.SIGNAL_RESUME)
    async def resume(self, request: ResumeRequest) -> None:
        if self._paused is None:
            return
        self._paused = None
        self._describe()
        await self._broadcast(names.SIGNAL_RESUME, request)

    async def _broadcast(self, signal: str, arg: PauseRequest | ResumeRequest) -> None:
        children = sorted(self._pending)
        await asyncio.gather(*(self._broadcast_to(c, signal, arg) for c in children))

    async def _broadcast_to(
        self, child_id: str, signal: str, arg: PauseRequest | ResumeRequest
    ) -> None:
        try:
            await workflow.get_external_workflow_handle(child_id).signal(signal, arg)
        except FailureError as err:  # finished (or not yet started) meanwhile
            workflow.logger.info("%s not delivered to %s: %s", signal, child_id, err)

    @workflow.query(name=names.QUERY_PROGRESS)
    def progress(self) -> PortfolioStatus:
        if self._launcher:
            return self._counted_progress()
        p = self._progress
        return PortfolioStatus(
            campaign_id=self._inp.campaign_id,
            tenant_id=self._inp.tenant.tenant_id,
            playbook=self._inp.playbook.name,
            total=p.total,
            started=p.started,
            attached=p.attached,
            active=len(self._pending),
            finished=p.finished,
            by_status=dict(p.by_status),
            promised=p.promised,
            promises_kept=p.promises_kept,
            collected=dict(p.collected),
            contacts=dict(p.contacts),
            launching_done=self._loading_done,
            paused=self._paused,
        )

    def _counted_progress(self) -> PortfolioStatus:
        """Launch counters of this workflow, the rest as last counted (``count_campaign``)."""
        p = self._progress
        return PortfolioStatus(
            campaign_id=self._inp.campaign_id,
            tenant_id=self._inp.tenant.tenant_id,
            playbook=self._inp.playbook.name,
            total=p.total,
            started=p.started,
            attached=p.attached,
            active=0,
            finished=0,
            by_status={},
            promised=0,
            promises_kept=0,
            collected={},
            contacts={},
            launching_done=self._loading_done,
            paused=self._paused,
            cancelled=self._cancelled,
        ).counted(self._census or Census(), self._counted_at)

    async def _launch(self, inp: PortfolioInput) -> None:
        """Start every account, one page per activity, one page at a time.

        The activity bounds the starts in flight and their rate; between pages the
        launcher holds while paused and stops for good once cancelled.
        """
        template = inp.model_copy(
            update={"offset": 0, "pending": [], "progress": PortfolioProgress(), "census": None}
        )
        while not self._loading_done:
            await workflow.wait_condition(
                lambda: self._paused is None or self._cancelled or self._held_too_long()
            )
            if self._cancelled:
                return
            if self._paused is not None:
                # Held for long: the counts meanwhile filled the history, and only the
                # launcher continues as new while accounts remain to start.
                await self._continue_as_new_if_needed()
                continue
            self._page_in_flight = True
            try:
                page: PageStarted = await workflow.execute_activity(
                    names.START_PORTFOLIO_PAGE,
                    StartPageRequest(portfolio=template, offset=self._offset, limit=inp.page_size),
                    result_type=PageStarted,
                    task_queue=self._launcher_queue,
                    start_to_close_timeout=timedelta(minutes=30),
                    heartbeat_timeout=timedelta(minutes=1),
                    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
                    summary=f"start accounts from #{self._offset + 1}",
                )
            finally:
                self._page_in_flight = False
            self._progress.started += page.started
            self._progress.attached += page.attached
            self._offset = page.next_offset
            self._loading_done = page.exhausted
            self._describe()
            await self._continue_as_new_if_needed()

    async def _count_until_all_ended(self, inp: PortfolioInput) -> None:
        """Count the campaign every ``census_interval`` until none of its accounts is open.

        Visibility is eventually consistent: it must have indexed every campaign this
        portfolio started before "none open" can be believed. The read model lags the
        campaigns by the exporter's batch: the final figures wait for every started
        campaign's end to be projected, or for three counts in a row with none open (a
        campaign terminated by hand never reports its end).

        While the launcher still starts accounts, the count only reports: it never ends
        the run, and only the launcher continues as new (never with a page in flight).
        """
        quiet = 0
        while True:
            launching = not (self._loading_done or self._cancelled)
            if launching:
                # Counted often while accounts start, so that progress moves with the
                # launch (a day's quarter, up to ten minutes, is for sleeping campaigns).
                await workflow.sleep(timedelta(seconds=inp.launch_census_interval()))
            self._census = await workflow.execute_activity(
                names.COUNT_CAMPAIGN,
                CensusRequest(
                    tenant_id=inp.tenant.tenant_id,
                    campaign_id=inp.campaign_id,
                    started=self._progress.started,
                ),
                result_type=Census,
                task_queue=self._launcher_queue,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
                summary="count the campaign's accounts",
            )
            self._counted_at = workflow.now()
            self._describe()
            if launching:
                continue  # counted again at once if the launch ended meanwhile
            census, started = self._census, self._progress.started
            ended = census.open == 0 and census.indexed >= started
            quiet = quiet + 1 if ended else 0
            projected = not census.read_model or census.finished >= started
            if (quiet and projected) or quiet >= 3:
                return
            await workflow.sleep(timedelta(seconds=inp.census_interval()))
            await self._continue_as_new_if_needed()

    async def _start(self, account: Account) -> None:
        inp = self._inp
        tenant_id = inp.tenant.tenant_id
        child_id = account_workflow_id(tenant_id, account.account_id)
        # Pending before the start: a child that finishes at once must find itself here.
        self._pending.add(child_id)
        try:
            await workflow.start_child_workflow(
                names.ACCOUNT_CAMPAIGN,
                account_campaign_input(inp, account, workflow.info().workflow_id),
                id=child_id,
                task_queue=inp.queues.campaigns,
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=sa.for_account(tenant_id, inp.campaign_id, account),
                static_summary=campaign_summary(inp.playbook.name, inp.campaign_id, account),
            )
            self._progress.started += 1
            if self._paused is not None:
                # Paused while this start was in flight: the broadcast may have missed it.
                await self._broadcast_to(child_id, names.SIGNAL_PAUSE, self._paused)
        except WorkflowAlreadyStartedError:
            # The account already has a running campaign: attach to it, never duplicate.
            try:
                await workflow.get_external_workflow_handle(child_id).signal(
                    names.SIGNAL_WATCH, WatchRequest(workflow_id=workflow.info().workflow_id)
                )
                self._progress.attached += 1
            except FailureError as err:
                # It closed between our start and our signal: nothing left to wait for.
                workflow.logger.warning("could not attach to %s: %s", child_id, err)
                self._pending.discard(child_id)

    async def _launch_page_by_page(self, inp: PortfolioInput) -> None:
        """Before ``PIPELINED_LAUNCH``: each page's starts all finished before the next load.

        Kept so that histories written by it still replay.
        """
        while not self._loading_done:
            page = await self._load_page(self._offset)
            starts = []
            for account in page.accounts:
                # Starts issued between two waits go out in one workflow task.
                await workflow.wait_condition(
                    lambda: len(self._pending) < inp.window and self._paused is None
                )
                starts.append(asyncio.create_task(self._start(account)))
            await asyncio.gather(*starts)
            self._offset = page.next_offset
            if page.exhausted or not page.accounts:
                self._loading_done = True
            self._describe()
            await self._continue_as_new_if_needed()

    async def _launch_pipelined(self, inp: PortfolioInput) -> None:
        """Start every account, ``window`` at most pending, with no barrier between pages.

        The next page loads while this one's starts go out, and a start only waits for a
        free slot in the window, never for the rest of its page: with a barrier, the
        window drained while the slowest start of a page was still in flight (in a
        100,000-account run it ran half empty).
        """
        starts: set[asyncio.Task[None]] = set()
        loading: asyncio.Future[PortfolioPage] = self._load_page(self._offset)
        while not self._loading_done:
            page = await loading
            last = page.exhausted or not page.accounts
            if not last:
                loading = self._load_page(page.next_offset)
            for account in page.accounts:
                await workflow.wait_condition(
                    lambda: len(self._pending) < inp.window and self._paused is None
                )
                # Pending now, not when the task first runs: the next wait must see it.
                self._pending.add(account_workflow_id(inp.tenant.tenant_id, account.account_id))
                task = asyncio.create_task(self._start(account))
                starts.add(task)
                task.add_done_callback(starts.discard)
            self._offset = page.next_offset
            self._loading_done = last
            self._describe()
            if self._should_continue_as_new():
                # The next run starts from self._offset: let the starts in flight land
                # (their children are then in the carried pending set) and the
                # prefetched page come back (its accounts are loaded again there).
                await asyncio.gather(*starts)
                if not last:
                    await loading
                await self._continue_as_new_if_needed()
        await asyncio.gather(*starts)

    def _load_page(self, offset: int) -> asyncio.Future[PortfolioPage]:
        inp = self._inp
        return workflow.start_activity(
            names.LOAD_PORTFOLIO_PAGE,
            PortfolioPageRequest(
                tenant_id=inp.tenant.tenant_id,
                campaign_id=inp.campaign_id,
                offset=offset,
                limit=inp.page_size,
            ),
            result_type=PortfolioPage,
            task_queue=inp.queues.campaigns,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            summary=f"load accounts from #{offset + 1}",
        )

    def _held_too_long(self) -> bool:
        """A held launcher's run is full (only when counted while launching: before,
        nothing added to a held launcher's history)."""
        return self._counted_while_launching and self._should_continue_as_new()

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self._inp.max_history_events
        )

    async def _continue_as_new_if_needed(self) -> None:
        if not self._should_continue_as_new():
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            self._inp.model_copy(
                update={
                    "offset": self._offset,
                    "pending": sorted(self._pending),
                    "progress": self._progress,
                    "paused": self._paused,
                    "census": self._census,
                    "cancelled": self._cancelled,
                }
            )
        )

    def _describe(self) -> None:
        if self._launcher:
            self._describe_counted()
            return
        p = self._progress
        collected = ", ".join(format_amount(v, c) for c, v in sorted(p.collected.items()))
        phase = "launching" if not self._loading_done else "waiting for campaigns"
        if self._paused is not None:
            phase = f"paused ({self._paused.reason})"
        workflow.set_current_details(
            f"**{phase}** · {p.started + p.attached}/{p.total} started · "
            f"{len(self._pending)} active (window {self._inp.window}) · "
            f"{p.finished} finished · collected {collected or '0'}"
        )

    def _describe_counted(self) -> None:
        p, census = self._progress, self._census
        phase = "launching" if not self._loading_done else "waiting for campaigns"
        if self._cancelled:
            phase = "cancelled: no more starts"
        elif self._paused is not None:
            phase = f"paused ({self._paused.reason})"
        line = f"**{phase}** · {p.started + p.attached}/{p.total} started"
        if p.attached:
            line += f" ({p.attached} attached to campaigns already running)"
        if census is not None:
            collected = ", ".join(format_amount(v, c) for c, v in sorted(census.collected.items()))
            line += (
                f" · {census.open} open · {census.finished} finished · collected {collected or '0'}"
            )
            if self._counted_at is not None:
                # Counted every few minutes, not live: say when (`recoup campaign status`
                # counts afresh each time it is asked).
                line += f" · counted {self._counted_at:%Y-%m-%d %H:%M:%S} UTC"
        workflow.set_current_details(line)
