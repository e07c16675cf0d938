"""The test server's refused workflow task (``simulators.refusals``), on the real server.

A workflow whose short timers are cancelled by signals that arrive while its (slowed)
workflow task runs is what wedges the time-skipping test server; the watch must turn
that endless wait into ``WorkflowTaskRefused``. If a future test server stops refusing
(the bug fixed), the first test fails and says so: the retry in ``recoup simulate`` can
then go.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import cli.simulate as simulate_module
from bootstrap.devserver import time_skipping_server_binary
from simulators.refusals import ClockStalled, RefusalWatch, WorkflowTaskRefused


@workflow.defn(sandboxed=False)
class ShortTimersCancelledBySignals:
    def __init__(self) -> None:
        self._changed = False

    @workflow.signal
    def poke(self) -> None:
        time.sleep(0.05)  # a workflow task as slow as on a loaded machine
        self._changed = True

    @workflow.run
    async def run(self) -> int:
        woken = 0
        for _ in range(400):
            self._changed = False
            try:
                await workflow.wait_condition(
                    lambda: self._changed, timeout=timedelta(milliseconds=40)
                )
                woken += 1
            except TimeoutError:
                pass
        return woken


async def test_a_refused_workflow_task_ends_the_wait_instead_of_hanging() -> None:
    watch = RefusalWatch()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_server_binary()), runtime=watch.runtime()
    )
    async with env:
        queue = f"refusals-{uuid.uuid4().hex}"
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[ShortTimersCancelledBySignals],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            handle = await env.client.start_workflow(
                ShortTimersCancelledBySignals.run,
                id=f"refusals-{uuid.uuid4().hex}",
                task_queue=queue,
            )

            async def poke() -> None:
                while True:
                    await asyncio.sleep(0.1)
                    await handle.signal(ShortTimersCancelledBySignals.poke)

            poker = asyncio.create_task(poke())
            try:
                with pytest.raises(WorkflowTaskRefused, match="sdk-java#3088"):
                    await asyncio.wait_for(watch.guard(handle.result()), 120)
            finally:
                poker.cancel()
                await asyncio.gather(poker, return_exceptions=True)
            assert watch.refused
            # The server has given up on it: still open, nothing in flight.
            described = await handle.describe()
            assert described.status is not None and described.status.name == "RUNNING"
            await handle.terminate("test over")


@activity.defn
async def stand_still() -> None:
    # While an activity runs, the test server does not skip time.
    await asyncio.sleep(60)


@workflow.defn(sandboxed=False)
class WaitsOnTheClock:
    @workflow.run
    async def run(self, hold: bool) -> None:
        if hold:
            await workflow.execute_activity(
                stand_still, start_to_close_timeout=timedelta(minutes=5)
            )
        await workflow.sleep(timedelta(days=7))


@pytest.mark.parametrize("hold", [True, False], ids=["clock held", "clock moving"])
async def test_a_clock_that_stands_still_ends_the_wait(hold: bool) -> None:
    watch = RefusalWatch(stall_after_s=2)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_server_binary()), runtime=watch.runtime()
    )
    async with env:
        watch.watch_clock(env.get_current_time)
        queue = f"stalls-{uuid.uuid4().hex}"
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[WaitsOnTheClock],
            activities=[stand_still],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            handle = await env.client.start_workflow(
                WaitsOnTheClock.run, hold, id=f"stalls-{uuid.uuid4().hex}", task_queue=queue
            )
            if hold:
                with pytest.raises(ClockStalled, match="has not skipped time"):
                    await asyncio.wait_for(watch.guard(handle.result()), 50)
                await handle.terminate("test over")
            else:
                # Seven simulated days go by: the clock moves, the wait returns.
                await asyncio.wait_for(watch.guard(handle.result()), 50)
    assert not watch.refused


async def test_a_guarded_wait_returns_what_it_awaited_when_nothing_is_refused() -> None:
    watch = RefusalWatch()

    async def answer() -> int:
        await asyncio.sleep(0.01)
        return 42

    assert await watch.guard(answer()) == 42
    assert not watch.refused


async def test_simulate_runs_again_after_a_refusal_and_gives_up_after_three(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    said: list[str] = []

    async def refused_twice(*_: Any, **__: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) < 3:
            raise WorkflowTaskRefused("refused")
        return {"accounts": 1}

    monkeypatch.setattr(simulate_module, "_attempt", refused_twice)
    run = simulate_module.simulate(
        None,  # type: ignore[arg-type]  # _attempt is replaced: nothing reads them
        playbook=None,  # type: ignore[arg-type]
        base=object(),  # type: ignore[arg-type]
        log=said.append,
    )
    assert await run == {"accounts": 1}
    assert len(calls) == 3
    assert [m.endswith(f"({n}/3)") for n, m in zip((2, 3), said, strict=True)] == [True, True]

    async def always_refused(*_: Any, **__: Any) -> dict[str, Any]:
        calls.append(1)
        raise WorkflowTaskRefused("refused")

    calls.clear()
    monkeypatch.setattr(simulate_module, "_attempt", always_refused)
    with pytest.raises(WorkflowTaskRefused):
        await simulate_module.simulate(
            None,  # type: ignore[arg-type]
            playbook=None,  # type: ignore[arg-type]
            base=object(),  # type: ignore[arg-type]
        )
    assert len(calls) == simulate_module.ATTEMPTS
