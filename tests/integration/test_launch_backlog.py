"""Back-pressure for a launch: starts wait while the campaigns' queue is backed up.

Against the suite's dev server: workflows started on a queue nobody polls make a real
workflow task backlog; the gate holds while it is over the limit, and lets go once a
worker has drained it.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from adapters.task_queue_backlog import BacklogGate
from bootstrap.client import queue_backlog
from tests.api_support import eventually

QUEUED = 6


@workflow.defn(name="BacklogProbe")
class BacklogProbe:
    @workflow.run
    async def run(self) -> None:
        return None


async def test_starts_are_held_while_the_queue_is_backed_up_and_go_once_it_drains(
    client: Client,
) -> None:
    queue = f"backlog-{uuid.uuid4().hex[:10]}"
    held: list[int] = []
    gate = BacklogGate(queue_backlog(client), queue, limit=2, every=0.1, on_hold=held.append)
    for i in range(QUEUED):
        await client.start_workflow(BacklogProbe.run, id=f"{queue}-{i}", task_queue=queue)

    assert await eventually(gate.backlog, lambda n: n >= QUEUED - 1) <= QUEUED
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(gate.wait(), timeout=1.0)
    assert held and min(held) > 2  # it held, and said how long the queue was

    # This module imports test helpers the sandbox would refuse; the probe is trusted.
    drainer = Worker(
        client,
        task_queue=queue,
        workflows=[BacklogProbe],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with drainer:
        await asyncio.wait_for(gate.wait(), timeout=30.0)
    assert await gate.backlog() <= 2


async def test_a_queue_with_nothing_waiting_never_holds(client: Client) -> None:
    gate = BacklogGate(queue_backlog(client), f"empty-{uuid.uuid4().hex[:10]}", limit=0, every=0.1)
    await asyncio.wait_for(gate.wait(), timeout=5.0)
    assert await gate.backlog() == 0
