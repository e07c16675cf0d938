"""Portfolio fan-out: a bounded window of children, continue-as-new, progress."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer, Worker

from activities.portfolio import PortfolioLoader
from adapters.portfolio_store import PortfolioStore
from bootstrap.settings import Settings
from domain import names
from domain.campaign import CollectionStatus, PaymentReceived
from domain.channels import Channel
from domain.portfolio import PortfolioInput, PortfolioPageRequest, PortfolioStatus
from service.campaigns import (
    launch_portfolio,
    portfolio_progress,
    record_payment,
    start_account_campaign,
)
from tests.conftest import TENANT, make_account
from tests.portfolio_support import ONE_EMAIL
from workflows import ALL_WORKFLOWS


async def test_portfolio_larger_than_window_survives_continue_as_new(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    accounts = [make_account(phones=[]) for _ in range(40)]
    window = 6
    handle = await launch_portfolio(
        client,
        settings,
        tenant=TENANT,
        campaign_id="fanout",
        playbook=ONE_EMAIL,
        accounts=accounts,
        seconds_per_day=0.3,
        window=window,
        page_size=5,
        max_history_events=120,  # small: it must continue-as-new several times
    )
    # Pay three accounts as soon as they are running.
    paid = accounts[:3]
    peak = 0
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
        peak = max(peak, progress.active)
        for account in paid:
            if account.account_id in payments_sent or progress.started < 3:
                continue
            try:
                await record_payment(
                    client,
                    TENANT.tenant_id,
                    account.account_id,
                    PaymentReceived(payment_id="p", amount=Decimal("250.00"), currency="USD"),
                )
                payments_sent.add(account.account_id)
            except Exception:
                pass
        await asyncio.sleep(0.05)

    result: PortfolioStatus = await client.get_workflow_handle(
        handle.id, result_type=PortfolioStatus
    ).result()
    assert peak <= window
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
    await Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter).replay_workflow(
        await first_run.fetch_history()
    )


async def test_pipelined_launch_never_holds_more_children_than_the_window(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    """Pages are smaller than the window, so starts of several pages are in flight at once
    (no barrier between pages): the window must hold across pages and continue-as-new,
    counted from the histories (every start, every finished signal), not from samples."""
    accounts = [make_account(phones=[]) for _ in range(25)]
    window = 4
    handle = await launch_portfolio(
        client,
        settings,
        tenant=TENANT,
        campaign_id="pipelined",
        playbook=ONE_EMAIL,
        accounts=accounts,
        seconds_per_day=0.2,
        window=window,
        page_size=3,
        max_history_events=100,
    )
    result: PortfolioStatus = await client.get_workflow_handle(
        handle.id, result_type=PortfolioStatus
    ).result()
    assert result.total == result.started == result.finished == 25

    runs = [w.run_id async for w in client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) > 1  # it continued as new while launching
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter)
    started: list[str] = []
    for run_id in runs:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        events = list(history.events)
        first = events[0].workflow_execution_started_event_attributes
        [inp] = await client.data_converter.decode(first.input.payloads, [PortfolioInput])
        assert isinstance(inp, PortfolioInput)
        pending = peak = len(inp.pending)
        for event in events:
            if event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
                started.append(
                    event.start_child_workflow_execution_initiated_event_attributes.workflow_id
                )
                pending += 1
                peak = max(peak, pending)
            elif (
                event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
                and event.workflow_execution_signaled_event_attributes.signal_name
                == names.SIGNAL_ACCOUNT_FINISHED
            ):
                pending -= 1
        assert peak <= window, f"run {run_id}: {peak} children pending, window {window}"
        await replayer.replay_workflow(history)
    # Each account started once, across every run: none lost or repeated at a page or
    # continue-as-new boundary.
    assert sorted(started) == sorted(f"account/{TENANT.tenant_id}/{a.account_id}" for a in accounts)


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
        window=10,
    )
    result = await handle.result()
    assert result.started == 2
    assert result.attached == 1
    assert result.finished == 3
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
