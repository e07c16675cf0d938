"""Billable Temporal Actions counted from histories (``service.cost``, ``recoup cost``).

Against the real dev server: a small probe workflow whose Actions are known by hand
(https://docs.temporal.io/cloud/actions), a real account campaign, and the CLI.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bootstrap.settings import Settings
from domain.campaign import account_workflow_id
from service.campaigns import start_account_campaign
from service.cost import ActionCounts, account_cost, campaign_cost, count_history
from tests.campaign_support import cadence
from tests.cli_support import env_for, recoup
from tests.conftest import TENANT, make_account
from workflows import search_attributes as sa

DAY = 0.25  # seconds per playbook day


@activity.defn
async def flaky(name: str) -> str:
    # Fails its first attempt: the retry is one more Action.
    if activity.info().attempt == 1:
        raise RuntimeError("first attempt fails")
    return name


@activity.defn
async def steady(name: str) -> str:
    return name


_QUICK_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=3)
_TIMEOUT = timedelta(seconds=10)


@workflow.defn
class CostChild:
    @workflow.run
    async def run(self, parent_id: str) -> None:
        await workflow.execute_activity(steady, "child", start_to_close_timeout=_TIMEOUT)
        # A workflow-to-workflow signal: one Action, on the sender's side only.
        await workflow.get_external_workflow_handle(parent_id).signal(CostProbe.from_child)


@workflow.defn
class CostProbe:
    def __init__(self) -> None:
        self.signals = 0
        self.updated = False
        self.child_signalled = False

    @workflow.signal
    def poke(self) -> None:
        self.signals += 1

    @workflow.signal
    def from_child(self) -> None:
        self.child_signalled = True

    @workflow.update
    def bump(self) -> int:
        self.updated = True
        return self.signals

    @workflow.run
    async def run(self, second_run: bool) -> None:
        if second_run:
            await workflow.sleep(timedelta(milliseconds=50))
            return
        await workflow.execute_activity(
            flaky, "a", start_to_close_timeout=_TIMEOUT, retry_policy=_QUICK_RETRY
        )
        await workflow.execute_activity(steady, "b", start_to_close_timeout=_TIMEOUT)
        await workflow.sleep(timedelta(milliseconds=50))
        await workflow.wait_condition(lambda: self.signals >= 2 and self.updated)
        workflow.upsert_search_attributes([sa.STATUS.value_set("probing")])
        await workflow.execute_child_workflow(
            CostChild.run,
            workflow.info().workflow_id,
            id=f"{workflow.info().workflow_id}/child",
        )
        await workflow.wait_condition(lambda: self.child_signalled)
        await workflow.execute_local_activity(steady, "local", start_to_close_timeout=_TIMEOUT)
        workflow.continue_as_new(True)


# By hand, from the rules: client start + continue-as-new run; 2 for the child start;
# activities a, b and the child's; a's retry; one workflow task with a local-activity
# marker; a timer in each run; two client signals and the child's signal to its parent
# (the parent's Signaled event for it is not counted again); one update; one upsert.
EXPECTED = ActionCounts(
    workflow_starts=2,
    child_workflow_starts=2,
    activities=3,
    activity_retries=1,
    local_activities=1,
    timers=2,
    signals=3,
    updates=1,
    search_attribute_upserts=1,
)
# The overhead: the retry, the continue-as-new start and the upsert.
EXPECTED_OVERHEAD = ActionCounts(workflow_starts=1, activity_retries=1, search_attribute_upserts=1)


async def test_probe_workflow_costs_what_the_rules_say(client: Client) -> None:
    queue = f"cost-{uuid.uuid4().hex[:10]}"
    tenant, account_id = "cost-probe", f"P-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[CostProbe, CostChild],
        activities=[flaky, steady],
        # This module imports test helpers the sandbox would refuse; the probe is trusted.
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            CostProbe.run,
            False,
            id=account_workflow_id(tenant, account_id),
            task_queue=queue,
        )
        await handle.signal(CostProbe.poke)
        await handle.signal(CostProbe.poke)
        assert await handle.execute_update(CostProbe.bump) in (0, 1, 2)
        await handle.result()  # follows continue-as-new to the second run

    report = await account_cost(client, tenant, account_id)
    assert report.actions == EXPECTED
    assert report.actions.total == 16
    assert report.overhead == EXPECTED_OVERHEAD
    assert report.overhead.total == 3
    assert report.started_by is None
    assert sorted(r.workflow_type for r in report.runs) == ["CostChild", "CostProbe", "CostProbe"]

    # Queries leave no history: the caller says how many.
    with_queries = await account_cost(client, tenant, account_id, queries=3)
    assert with_queries.actions.queries == 3
    assert with_queries.actions.total == 19

    # The pure counter on the last run alone: its continue-as-new start and its timer.
    last = await handle.fetch_history()
    assert count_history(last.events).actions == ActionCounts(workflow_starts=1, timers=1)


def _count(events: Sequence[HistoryEvent], kind: EventType.ValueType) -> int:
    return sum(1 for e in events if e.event_type == kind)


async def test_real_account_campaign_cost_matches_its_history(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    account = make_account()
    handle = await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id=f"c-cost-{uuid.uuid4().hex[:8]}",
        playbook=cadence(),
        account=account,
        seconds_per_day=DAY,
    )
    await handle.result()

    report = await account_cost(client, TENANT.tenant_id, account.account_id)
    actions = report.actions
    assert actions.total > 0
    assert actions.total == sum(actions.categories().values())
    assert actions.workflow_starts >= 1
    scheduled = timers = 0
    for run in report.runs:
        history = await client.get_workflow_handle(
            run.workflow_id, run_id=run.run_id
        ).fetch_history()
        scheduled += _count(history.events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        timers += _count(history.events, EventType.EVENT_TYPE_TIMER_STARTED)
    assert scheduled > 0 and timers > 0
    assert actions.activities == scheduled
    assert actions.timers == timers
    # The campaign publishes its plan in search attributes: overhead, and nothing else is.
    assert report.overhead.search_attribute_upserts == actions.search_attribute_upserts > 0
    assert report.overhead.activities == report.overhead.timers == 0
    assert report.overhead.total <= actions.total


async def test_cli_prints_account_and_campaign_costs(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    campaign_id = f"c-cost-{uuid.uuid4().hex[:8]}"
    accounts = [make_account(), make_account()]
    handles = [
        await start_account_campaign(
            client,
            settings,
            tenant=TENANT,
            campaign_id=campaign_id,
            playbook=cadence(),
            account=a,
            seconds_per_day=DAY,
        )
        for a in accounts
    ]
    await asyncio.gather(*(h.result() for h in handles))
    env = env_for(settings)
    first = accounts[0].account_id

    table = await recoup("cost", first, "--tenant", TENANT.tenant_id, env=env)
    assert table.code == 0, table.err
    assert f"account {first}" in table.out
    assert "activities" in table.out and "total" in table.out and "overhead" in table.out

    as_json = await recoup("cost", first, "--tenant", TENANT.tenant_id, "--json", env=env)
    assert as_json.code == 0, as_json.err
    body = json.loads(as_json.out)
    expected = await account_cost(client, TENANT.tenant_id, first)
    assert body["actions"]["total"] == expected.actions.total > 0

    # Visibility indexes closed workflows a moment later: wait until both are listed.
    for _ in range(100):
        found = await campaign_cost(client, TENANT.tenant_id, campaign_id)
        if len(found.accounts) == 2:
            break
        await asyncio.sleep(0.1)
    assert len(found.accounts) == 2
    assert found.actions.total == sum(a.actions.total for a in found.accounts)
    assert found.per_account.min <= found.per_account.mean <= found.per_account.max

    campaign = await recoup("cost", "--campaign", campaign_id, "--tenant", "acme", env=env)
    assert campaign.code == 0, campaign.err
    assert f"campaign {campaign_id} · 2 account(s)" in campaign.out
    assert "per account" in campaign.out
    campaign_json = await recoup(
        "cost", "--campaign", campaign_id, "--tenant", "acme", "--json", env=env
    )
    assert campaign_json.code == 0, campaign_json.err
    assert json.loads(campaign_json.out)["actions"]["total"] == found.actions.total

    missing = await recoup("cost", "no-such-account", "--tenant", "acme", env=env)
    assert missing.code == 1
    assert "no campaign for account 'no-such-account'" in missing.err
    neither = await recoup("cost", env=env)
    assert neither.code == 2
