"""Portfolio: launches one AccountCampaign per account, a bounded window at a time.

Accounts are read a page at a time from the portfolio stored at launch (the
workflow input holds a reference, never the accounts). At most ``window``
campaigns run at once; each reports its outcome by signal, which frees a slot.
Children outlive a continue-as-new of the parent (``ABANDON``), which is why
they report by signal to the portfolio's workflow id rather than by result.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.account import Account
    from domain.campaign import (
        AccountCampaignInput,
        AccountOutcome,
        WatchRequest,
        account_workflow_id,
    )
    from domain.contact import format_amount
    from domain.operator import PauseRequest, ResumeRequest
    from domain.portfolio import (
        PortfolioInput,
        PortfolioPage,
        PortfolioPageRequest,
        PortfolioProgress,
        PortfolioStatus,
    )
    from workflows import search_attributes as sa


# Starts no longer wait for the rest of their page (see ``_launch_pipelined``).
PIPELINED_LAUNCH = "portfolio-pipelined-launch"


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

    @workflow.run
    async def run(self, inp: PortfolioInput) -> PortfolioStatus:
        self._describe()
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

    @workflow.signal(name=names.SIGNAL_PAUSE)
    async def pause(self, request: PauseRequest) -> None:
        """Pause the whole campaign: no new account starts, running ones hold outreach.

        The protocol seed's broadcast route: one signal to the portfolio reaches
        every running account of it.
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

    async def _start(self, account: Account) -> None:
        inp = self._inp
        tenant_id = inp.tenant.tenant_id
        child_id = account_workflow_id(tenant_id, account.account_id)
        # Pending before the start: a child that finishes at once must find itself here.
        self._pending.add(child_id)
        try:
            await workflow.start_child_workflow(
                names.ACCOUNT_CAMPAIGN,
                AccountCampaignInput(
                    tenant=inp.tenant,
                    campaign_id=inp.campaign_id,
                    account=account,
                    playbook=inp.playbook,
                    seconds_per_day=inp.seconds_per_day,
                    queues=inp.queues,
                    retry=inp.retry,
                    parent_workflow_id=workflow.info().workflow_id,
                    max_history_events=inp.max_history_events,
                    trace_id=inp.trace_id,
                    settlement_approval_discount=inp.settlement_approval_discount,
                    approval_days=inp.approval_days,
                    llm_replies=inp.llm_replies,
                    llm_timeout_seconds=inp.llm_timeout_seconds,
                    policy=inp.policy,
                    exploration=inp.exploration,
                    research=inp.research,
                    llm_agents=inp.llm_agents,
                ),
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
                }
            )
        )

    def _describe(self) -> None:
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


def campaign_summary(playbook: str, campaign_id: str, account: Account) -> str:
    """The UI's static summary of an account campaign: ids and amounts, never PII."""
    due = format_amount(account.amount_due, account.currency)
    return (
        f"{playbook} playbook · campaign {campaign_id} · account {account.account_id} · "
        f"{due} · {account.days_past_due} days past due"
    )
