"""Portfolio: every account started, counted without ids, steered by batch operations,
continue-as-new that replays."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer, Worker

from activities.portfolio import PortfolioLoader
from adapters.portfolio_store import PortfolioStore
from bootstrap.settings import Settings
from domain import names
from domain.campaign import (
    CampaignSnapshot,
    CollectionStatus,
    PaymentReceived,
    account_workflow_id,
)
from domain.channels import Channel
from domain.operator import (
    CancelRequest,
    LaunchAction,
    LaunchControl,
    LaunchState,
    PauseRequest,
    ResumeRequest,
)
from domain.portfolio import PortfolioInput, PortfolioPageRequest, PortfolioStatus
from service.campaigns import (
    launch_portfolio,
    portfolio_progress,
    record_payment,
    start_account_campaign,
)
from service.errors import NoSuchCampaign
from service.steering import steer_campaign
from tests.api_support import eventually
from tests.conftest import TENANT, make_account
from tests.portfolio_support import ONE_EMAIL
from workflows import ALL_WORKFLOWS
from workflows import search_attributes as sa


async def test_portfolio_progress_is_exact_across_continue_as_new(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    accounts = [make_account(phones=[]) for _ in range(40)]
    handle = await launch_portfolio(
        client,
        settings,
        tenant=TENANT,
        campaign_id="fanout",
        playbook=ONE_EMAIL,
        accounts=accounts,
        seconds_per_day=0.3,
        starts_in_flight=3,
        page_size=2,  # twenty pages: with so small a limit it must continue-as-new
        max_history_events=100,
    )
    # Pay three accounts as soon as they are running.
    paid = accounts[:3]
    payments_sent: set[str] = set()
    while True:
        latest = client.get_workflow_handle(handle.id)
        desc = await latest.describe()
        if desc.status is not None and desc.status.name != "RUNNING":
            break
        try:
            progress = await portfolio_progress(client, TENANT.tenant_id, "fanout")
        except Exception:
            await asyncio.sleep(0.05)
            continue
        for account in paid:
            if account.account_id in payments_sent or progress.started < 3:
                continue
            try:
                await record_payment(
                    client,
                    TENANT.tenant_id,
                    account.account_id,
                    PaymentReceived(
                        payment_id=f"p-{account.account_id}",
                        amount=Decimal("250.00"),
                        currency="USD",
                    ),
                )
                payments_sent.add(account.account_id)
            except Exception:
                pass
        await asyncio.sleep(0.05)

    result: PortfolioStatus = await client.get_workflow_handle(
        handle.id, result_type=PortfolioStatus
    ).result()
    assert result.total == result.started == result.finished == 40
    assert result.active == 0
    assert result.by_status[CollectionStatus.PAID] == len(payments_sent) == 3
    assert result.by_status[CollectionStatus.EXHAUSTED] == 37
    assert result.collected == {"USD": Decimal("750.00")}
    # Every unpaid account got its email; a paid one may have paid before its turn.
    assert 37 <= result.contacts[Channel.EMAIL] <= 40
    latest_desc = await client.get_workflow_handle(handle.id).describe()
    assert latest_desc.run_id != handle.first_execution_run_id  # continued as new
    # The first run (ended by continue-as-new) replays with the current code.
    first_run = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    history = await first_run.fetch_history()
    await Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter).replay_workflow(
        history
    )
    # The portfolio, its starts and its counts ran on their own queue, not behind the
    # campaigns'.
    assert latest_desc.task_queue == settings.queues.portfolios
    launcher_queues = {
        (a.activity_type.name, a.task_queue.name)
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        for a in [e.activity_task_scheduled_event_attributes]
    }
    assert launcher_queues == {
        (names.START_PORTFOLIO_PAGE, settings.queues.portfolios),
        (names.COUNT_CAMPAIGN, settings.queues.portfolios),
    }


async def test_every_account_is_open_at_once_and_steered_by_batch(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    """More accounts than starts in flight or a page: all open together (nothing bounds
    open campaigns), then pause, resume and cancel reach every one of them."""
    accounts = [make_account(phones=[]) for _ in range(45)]
    handle = await launch_portfolio(
        client,
        settings,
        tenant=TENANT,
        campaign_id="all-open",
        playbook=ONE_EMAIL,
        accounts=accounts,
        seconds_per_day=30,  # the closing day keeps every campaign open meanwhile
        starts_in_flight=4,
        page_size=7,
        max_history_events=100,
    )
    every = sa.campaign_accounts_query(TENANT.tenant_id, "all-open", running=True)
    progress = await eventually(
        lambda: portfolio_progress(client, TENANT.tenant_id, "all-open"),
        lambda p: p.launching_done,
    )
    assert progress.started == 45 and progress.attached == 0
    assert (
        await eventually(lambda: client.count_workflows(every), lambda c: c.count == 45)
    ).count == 45

    paused = await steer_campaign(
        client, TENANT.tenant_id, "all-open", LaunchAction.PAUSE, PauseRequest(reason="audit")
    )
    assert (paused.selected, paused.reached, paused.failed) == (45, 45, 0)
    assert paused.launcher is not None and paused.launcher.paused
    snapshots = [await _snapshot(client, a.account_id) for a in accounts]
    assert all(s.paused is not None and s.paused.reason == "audit" for s in snapshots)

    resumed = await steer_campaign(
        client, TENANT.tenant_id, "all-open", LaunchAction.RESUME, ResumeRequest()
    )
    assert resumed.reached == 45
    snapshots = [await _snapshot(client, a.account_id) for a in accounts]
    assert all(s.paused is None for s in snapshots)

    cancelled = await steer_campaign(
        client, TENANT.tenant_id, "all-open", LaunchAction.CANCEL, CancelRequest(reason="recall")
    )
    assert cancelled.reached == 45
    result: PortfolioStatus = await client.get_workflow_handle(
        handle.id, result_type=PortfolioStatus
    ).result()
    assert result.started == result.finished == 45 and result.active == 0
    assert result.by_status == {CollectionStatus.CANCELLED: 45}
    assert result.cancelled

    # Counters only: every run's history stays small, and replays with this code.
    runs = [w.run_id async for w in client.list_workflows(f"WorkflowId = '{handle.id}'")]
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter)
    for run_id in runs:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        assert len(history.events) <= 100 + 20
        await replayer.replay_workflow(history)


async def test_a_launch_is_counted_while_it_starts_and_a_stop_outlives_continue_as_new(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    """Open campaigns are counted before the last account has started, and a launcher
    stopped mid-way starts nothing more, in this run or any run it continues as."""
    accounts = [make_account(phones=[]) for _ in range(40)]
    handle = await launch_portfolio(
        client,
        settings,
        tenant=TENANT,
        campaign_id="counted-early",
        # A count a second; each campaign open for 12 s: after the stop, the counts
        # alone fill the run's history, so it continues as new while stopped.
        playbook=ONE_EMAIL.model_copy(update={"closing_days": 3}),
        accounts=accounts,
        seconds_per_day=4,
        starts_in_flight=1,
        starts_per_second=1,  # 40 s to start them all: counts come well before the end
        page_size=1,
        max_history_events=100,  # continues as new every dozen pages or counts
    )
    early = await eventually(
        lambda: portfolio_progress(client, TENANT.tenant_id, "counted-early"),
        lambda p: p.active > 0 and not p.launching_done,
        within=40,  # a loaded machine: the counts queue with the campaigns' activities
    )
    assert early.started < 40

    stopped: LaunchState = await client.get_workflow_handle(handle.id).execute_update(
        names.UPDATE_STEER_LAUNCH,
        LaunchControl(action=LaunchAction.CANCEL, reason="recall"),
        result_type=LaunchState,
    )
    assert stopped.cancelled and not stopped.launching_done and stopped.started < 40

    result: PortfolioStatus = await client.get_workflow_handle(
        handle.id, result_type=PortfolioStatus
    ).result()
    assert result.cancelled and result.started == stopped.started
    assert result.finished == stopped.started and result.active == 0
    everyone = sa.campaign_accounts_query(TENANT.tenant_id, "counted-early", running=False)
    assert (await client.count_workflows(everyone)).count == stopped.started
    # The last run began after the stop, and knew it.
    last = await client.get_workflow_handle(handle.id).fetch_history()
    [carried] = await client.data_converter.decode(
        last.events[0].workflow_execution_started_event_attributes.input.payloads,
        [PortfolioInput],
    )
    assert carried.cancelled and carried.offset == stopped.started
    for account in accounts[stopped.started :]:  # started in file order
        with pytest.raises(RPCError):
            await client.get_workflow_handle(
                account_workflow_id(TENANT.tenant_id, account.account_id)
            ).describe()


async def test_a_launcher_held_for_long_continues_as_new_and_stays_held(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    """The counts go on while the launcher is held: its run fills up and continues as
    new, still held, and starts the rest once released."""
    accounts = [make_account(phones=[]) for _ in range(12)]
    handle = await launch_portfolio(
        client,
        settings,
        tenant=TENANT,
        campaign_id="held-long",
        playbook=ONE_EMAIL,
        accounts=accounts,
        seconds_per_day=4,  # a count a second
        starts_in_flight=1,
        starts_per_second=2,
        page_size=2,
        max_history_events=100,
    )
    await eventually(
        lambda: portfolio_progress(client, TENANT.tenant_id, "held-long"),
        lambda p: p.started >= 2,
    )
    held: LaunchState = await client.get_workflow_handle(handle.id).execute_update(
        names.UPDATE_STEER_LAUNCH,
        LaunchControl(action=LaunchAction.PAUSE, reason="hold"),
        result_type=LaunchState,
    )
    assert held.paused and held.started < 12
    first_run = (await client.get_workflow_handle(handle.id).describe()).run_id

    async def run_id() -> str | None:
        return (await client.get_workflow_handle(handle.id).describe()).run_id

    await eventually(run_id, lambda r: r != first_run, within=60)
    still = await portfolio_progress(client, TENANT.tenant_id, "held-long")
    assert still.paused is not None and still.started == held.started

    await client.get_workflow_handle(handle.id).execute_update(
        names.UPDATE_STEER_LAUNCH,
        LaunchControl(action=LaunchAction.RESUME),
        result_type=LaunchState,
    )
    result: PortfolioStatus = await client.get_workflow_handle(
        handle.id, result_type=PortfolioStatus
    ).result()
    assert result.started == 12 and result.paused is None


async def test_steering_a_campaign_nobody_runs_says_so(client: Client, running: object) -> None:
    with pytest.raises(NoSuchCampaign, match="no running campaign 'nowhere'"):
        await steer_campaign(
            client, TENANT.tenant_id, "nowhere", LaunchAction.PAUSE, PauseRequest()
        )


async def _snapshot(client: Client, account_id: str) -> CampaignSnapshot:
    handle = client.get_workflow_handle(account_workflow_id(TENANT.tenant_id, account_id))
    snapshot: CampaignSnapshot = await handle.query(
        names.QUERY_STATUS, result_type=CampaignSnapshot
    )
    return snapshot


async def test_portfolio_attaches_to_an_account_already_running(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    accounts = [make_account(phones=[]) for _ in range(3)]
    solo = await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id="solo",
        playbook=ONE_EMAIL,
        account=accounts[0],
        seconds_per_day=1.0,
    )
    handle = await launch_portfolio(
        client,
        settings,
        tenant=TENANT,
        campaign_id="attach",
        playbook=ONE_EMAIL,
        accounts=accounts,
        seconds_per_day=0.3,
    )
    result = await handle.result()
    assert result.started == 2
    assert result.attached == 1
    # The attached account is counted under the campaign that runs it, not twice.
    assert result.finished == 2
    # The attached account kept its own single run.
    assert (await solo.describe()).run_id == solo.result_run_id


async def test_a_portfolio_the_worker_cannot_find_fails_loudly(tmp_path: Path) -> None:
    """Launch and worker reading different stores must not look like an empty portfolio."""
    store = PortfolioStore(f"sqlite:///{tmp_path / 'empty.db'}")
    store.create_tables()
    loader = PortfolioLoader(store, "sqlite:///empty.db")
    try:
        with pytest.raises(ApplicationError) as raised:
            await ActivityEnvironment().run(
                loader.load_portfolio_page,
                PortfolioPageRequest(tenant_id="acme", campaign_id="misplaced", offset=0, limit=10),
            )
    finally:
        store.dispose()
    assert "acme/misplaced is not in the store this worker reads" in raised.value.message
    assert "RECOUP_DATABASE_URL" in raised.value.message
    assert not raised.value.non_retryable  # fixing the configuration lets it go on
