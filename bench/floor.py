"""The bare-Temporal floor of a campaign: the same activities, timers and signals, nothing else.

``plan_from_history`` reads one real ``AccountCampaign`` history and keeps, in order, what
the server had to do for it: each scheduled activity, each timer (with the moment it was
due, counted from the workflow's start), each local activity and each client signal.
``FloorWorkflow`` replays that plan with no-op activities, the same timers and a wait for
the same signal, and nothing else: no search-attribute upserts, no state, no codec, no
agents. Its throughput on the same server is what Recoup's engine is measured against
(``bench.engine``), and its Actions are the floor of ``service.cost``'s count.

Serve the floor (what ``bench.engine`` starts as a child process)::

    .venv/bin/python -m bench.floor --address 127.0.0.1:7233 --task-queue floor \\
        --max-activities 200 --max-workflow-tasks 100

It prints ``floor worker serving`` once polling, and stops on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import signal
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.worker import Worker

from bench import threads

StepKind = Literal["activity", "local_activity", "timer", "signal"]
SIGNAL = "payment"
_TIMEOUT = timedelta(seconds=30)


@dataclass
class FloorStep:
    kind: StepKind
    # A timer: when it was due, in seconds after the workflow started (the campaign's
    # waits aim at "day N after the start", not at a fixed length).
    # A signal: when it arrived after the start (the driver sends it then).
    at_seconds: float = 0.0


@dataclass
class FloorPlan:
    steps: list[FloorStep] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many of each kind: what a floor history must match."""
        found = Counter(s.kind for s in self.steps)
        return {
            kind: found.get(kind, 0) for kind in ("activity", "local_activity", "timer", "signal")
        }

    def scaled(self, factor: float) -> FloorPlan:
        """The same plan with every moment ``factor`` times later (days of another length)."""
        return FloorPlan([FloorStep(s.kind, s.at_seconds * factor) for s in self.steps])

    @property
    def signal_offsets(self) -> list[float]:
        return [s.at_seconds for s in self.steps if s.kind == "signal"]


def history_counts(events: Sequence[HistoryEvent]) -> dict[str, int]:
    """Activities, local activities (markers), timers and client signals in a history."""
    return plan_from_history(events).counts()


def plan_from_history(events: Sequence[HistoryEvent]) -> FloorPlan:
    """The floor of one run: its activities, timers, local activities and client signals.

    A signal becomes a wait at the point of the history where it arrived (after the
    activity or timer begun before it), so the floor consumes it no earlier than the
    campaign did.
    """
    if not events:
        return FloorPlan()
    started = events[0].event_time.ToDatetime()
    steps: list[FloorStep] = []
    for e in events:
        t = e.event_type
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            steps.append(FloorStep("activity"))
        elif t == EventType.EVENT_TYPE_MARKER_RECORDED:
            # A ``workflow.patched`` marker is versioning, not work: the floor has none.
            if e.marker_recorded_event_attributes.marker_name != "core_patch":
                steps.append(FloorStep("local_activity"))
        elif t == EventType.EVENT_TYPE_TIMER_STARTED:
            a = e.timer_started_event_attributes
            due = e.event_time.ToDatetime() + a.start_to_fire_timeout.ToTimedelta()
            steps.append(FloorStep("timer", (due - started).total_seconds()))
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED and not (
            e.workflow_execution_signaled_event_attributes.HasField("external_workflow_execution")
        ):
            at = (e.event_time.ToDatetime() - started).total_seconds()
            steps.append(FloorStep("signal", at))
    return FloorPlan(steps)


@activity.defn(name="floor_touch")
async def touch(step: int) -> int:
    """A no-op: the floor pays for scheduling an activity, not for any work in it."""
    return step


@workflow.defn(name="BenchFloor")
class FloorWorkflow:
    def __init__(self) -> None:
        self._signals = 0

    @workflow.signal(name=SIGNAL)
    def signalled(self) -> None:
        self._signals += 1

    def _received(self, n: int) -> Callable[[], bool]:
        return lambda: self._signals >= n

    @workflow.run
    async def run(self, plan: FloorPlan) -> int:
        started = workflow.now()
        waited = 0
        for i, step in enumerate(plan.steps):
            if step.kind == "activity":
                await workflow.execute_activity(touch, i, start_to_close_timeout=_TIMEOUT)
            elif step.kind == "local_activity":
                await workflow.execute_local_activity(touch, i, start_to_close_timeout=_TIMEOUT)
            elif step.kind == "timer":
                # Due at the same moment after the start as the campaign's timer, and,
                # as there, no timer when that moment has passed already (under load).
                left = started + timedelta(seconds=step.at_seconds) - workflow.now()
                if left > timedelta(0):
                    await workflow.sleep(left)
            else:
                waited += 1
                await workflow.wait_condition(self._received(waited))
        return len(plan.steps)


def floor_worker(
    client: Client, task_queue: str, *, max_activities: int, max_workflow_tasks: int
) -> Worker:
    """The floor's worker, with the campaign worker's concurrency limits (and the SDK's
    workflow pool, its threads registered for ``bench.threads``)."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[FloorWorkflow],
        activities=[touch],
        max_concurrent_activities=max_activities,
        max_concurrent_workflow_tasks=max_workflow_tasks,
        workflow_task_executor=concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workflow_tasks,
            thread_name_prefix="temporal_workflow_",
            initializer=threads.registering("workflow"),
        ),
    )


async def serve(
    address: str, task_queue: str, max_activities: int, max_workflow_tasks: int
) -> None:
    threads.register("loop")
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = floor_worker(
        client, task_queue, max_activities=max_activities, max_workflow_tasks=max_workflow_tasks
    )
    async with worker:
        print(f"floor worker serving {task_queue} on {address}", file=sys.stderr, flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the bare floor workflow.")
    parser.add_argument("--address", required=True, help="Temporal frontend host:port")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--max-activities", type=int, default=200)
    parser.add_argument("--max-workflow-tasks", type=int, default=100)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.address, args.task_queue, args.max_activities, args.max_workflow_tasks))


if __name__ == "__main__":
    main()
