"""The bare floor of ``bench.engine``, built from a real campaign history (``bench.floor``).

Against the real dev server and workers: a standard-playbook campaign whose debtor pays
once called, the floor plan read from its history, the floor workflow run from that plan,
and both histories counted in Actions (``service.cost``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from decimal import Decimal

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.worker import Worker

from adapters.playbook_files import load_playbook
from bench.floor import SIGNAL, FloorWorkflow, floor_worker, history_counts, plan_from_history
from bootstrap.settings import Settings
from domain import names
from domain.campaign import CollectionStatus, PaymentReceived
from service.campaigns import start_account_campaign
from service.cost import ActionCounts, account_cost, count_history
from simulators.twilio import TwilioSimulator
from tests.campaign_support import calls_to, eventually
from tests.conftest import TENANT, make_account

DAY = 0.25  # seconds per playbook day


def _count(events: Sequence[HistoryEvent], kind: EventType.ValueType) -> int:
    return sum(1 for e in events if e.event_type == kind)


def _by_hand(events: Sequence[HistoryEvent]) -> dict[str, int]:
    return {
        "activity": _count(events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        # Markers but ``workflow.patched``'s (versioning, not work).
        "local_activity": sum(
            1
            for e in events
            if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and e.marker_recorded_event_attributes.marker_name != "core_patch"
        ),
        "timer": _count(events, EventType.EVENT_TYPE_TIMER_STARTED),
        "signal": _count(events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
    }


async def test_floor_matches_a_real_campaign_and_both_are_costed(
    client: Client, settings: Settings, running: list[Worker], twilio_sim: TwilioSimulator
) -> None:
    account = make_account()
    phone = account.phones[0].number
    handle = await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id=f"c-floor-{uuid.uuid4().hex[:8]}",
        playbook=load_playbook("standard", search_dir=settings.playbook_dir),
        account=account,
        seconds_per_day=DAY,
    )
    # The debtor pays once called (the third touch): the final notice never happens.
    await eventually(lambda: calls_to(twilio_sim, phone) == 1)
    await handle.signal(
        names.SIGNAL_PAYMENT,
        PaymentReceived(payment_id="p-1", amount=Decimal("250.00"), currency="USD"),
    )
    assert (await handle.result()).status is CollectionStatus.PAID
    campaign_events = list((await handle.fetch_history()).events)

    plan = plan_from_history(campaign_events)
    expected = _by_hand(campaign_events)
    assert plan.counts() == expected
    assert expected["activity"] >= 5 and expected["signal"] == 1
    # The signal waits where it arrived: after the call was scheduled, not before.
    kinds = [s.kind for s in plan.steps]
    assert kinds.index("signal") > 2

    # The floor on its own queue; days four times longer, so none of its timers is late
    # even on a busy machine (a late timer is skipped, as in the campaign) and it has
    # exactly the campaign's activities, timers and signal.
    queue = f"floor-{uuid.uuid4().hex[:10]}"
    slow = plan.scaled(4)
    async with floor_worker(client, queue, max_activities=50, max_workflow_tasks=50):
        floor = await client.start_workflow(
            FloorWorkflow.run, slow, id=f"floor-{uuid.uuid4().hex[:10]}", task_queue=queue
        )
        began = time.monotonic()
        for at in slow.signal_offsets:
            await asyncio.sleep(max(0.0, at - (time.monotonic() - began)))
            await floor.signal(SIGNAL)
        assert await floor.result() == len(plan.steps)
    floor_events = list((await floor.fetch_history()).events)
    assert _by_hand(floor_events) == history_counts(floor_events) == expected

    # Cost: the floor pays for exactly its start, activities, timers and signal; the
    # campaign for the same plus its overhead (search-attribute upserts), no more.
    floor_cost = count_history(floor_events)
    assert floor_cost.actions == ActionCounts(
        workflow_starts=1,
        activities=expected["activity"],
        timers=expected["timer"],
        signals=1,
    )
    assert floor_cost.overhead.total == 0
    report = await account_cost(client, TENANT.tenant_id, account.account_id)
    assert report.actions.total - report.overhead.total == floor_cost.actions.total
    assert report.actions.search_attribute_upserts == report.overhead.search_attribute_upserts > 0
