"""Noticing the workflow task that Temporal's time-skipping test server refuses.

``recoup simulate`` runs on the time-skipping test server. That server refuses a
workflow task's completion when the task cancels a timer that fired while the task was
running, and from then on never gives that workflow another task: it stays open,
waiting for nothing, and so does whoever waits for it (temporalio/sdk-java#3088 and
#2606; a real Temporal server records the cancel and goes on). A campaign cancels a timer
each time a signal wakes it before its wait is over, so a simulated debtor's action that
falls due within one workflow task's time of a campaign's own timer is enough; on a
loaded machine, where a task takes longer, it happens more often.

The SDK's core logs a warning when the server refuses a completion. ``RefusalWatch``
takes the core's warnings (on a logger of its own: nothing is printed) and notices that
one; ``RefusalWatch.guard`` then ends a wait at once with ``WorkflowTaskRefused`` instead
of waiting forever, so that the simulation can be run again from the start.

The server can also wedge without that warning: it stops skipping time (no task
pending, no activity running, every workflow waiting on a timer days away; seen once in
a ``bench.policy`` run, 15 minutes with no CPU used). Given the server's clock
(``watch_clock``), a guarded wait during which the server has not skipped time for
``STALL_AFTER_S`` seconds (its clock went no faster than the wall clock) ends with
``ClockStalled``, a kind of ``WorkflowTaskRefused``: a simulation's activities all finish
in seconds, and time skips whenever none runs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

T = TypeVar("T")

# What the SDK core's warning says when the server refused a workflow task's completion.
REFUSED = "invalid history builder state for action"
# How often a guarded wait looks whether a refusal was seen (core logs reach Python
# from another thread, a few milliseconds late).
_LOOK_EVERY_S = 0.5
# How long simulated time may stand still while a guarded wait goes on, and how often
# the server's clock is read meanwhile.
STALL_AFTER_S = 600.0
_CLOCK_EVERY_S = 10.0
# More simulated than wall time between two reads of the clock: time was skipped.
_SKIPPED_S = 1.0


class WorkflowTaskRefused(RuntimeError):
    """The test server refused a workflow task; the workflow will never go on."""


class ClockStalled(WorkflowTaskRefused):
    """The test server's clock stopped: no workflow will go on."""


class RefusalWatch(logging.Handler):
    """Takes the Temporal core's warnings and notices a refused workflow task."""

    def __init__(self, stall_after_s: float = STALL_AFTER_S) -> None:
        super().__init__(logging.WARNING)
        self._refused = threading.Event()
        self.message = ""
        self._stall_after_s = stall_after_s
        self._clock: Callable[[], Awaitable[datetime]] | None = None

    def watch_clock(self, clock: Callable[[], Awaitable[datetime]]) -> None:
        """Read the server's simulated time during guarded waits (``ClockStalled``)."""
        self._clock = clock

    @property
    def refused(self) -> bool:
        return self._refused.is_set()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if REFUSED in text and not self._refused.is_set():
            self.message = text[:400]
            self._refused.set()

    def runtime(self) -> Runtime:
        """A Temporal runtime whose core warnings come here and nowhere else (the test
        server lacks features the SDK warns about on every worker: noise for a user)."""
        logger = logging.Logger("recoup.simulate.temporal-core", logging.WARNING)  # unshared
        logger.propagate = False
        logger.addHandler(self)
        forwarding = LogForwardingConfig(logger=logger, append_target_to_name=False)
        return Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                    forwarding=forwarding,
                )
            )
        )

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """``await awaitable``; ``WorkflowTaskRefused`` as soon as a refusal is seen."""
        task = asyncio.ensure_future(awaitable)
        # The simulated time last read, when, and when it last skipped ahead.
        simulated_then: datetime | None = None
        since = looked = time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=_LOOK_EVERY_S)
                if done:
                    return task.result()
                if self.refused:
                    raise WorkflowTaskRefused(
                        "Temporal's time-skipping test server refused a workflow task and will "
                        "not run that workflow again (temporalio/sdk-java#3088): "
                        f"{self.message}"
                    )
                now = time.monotonic()
                if self._clock is None or now - looked < min(_CLOCK_EVERY_S, self._stall_after_s):
                    continue
                simulated = await self._clock()
                # Not skipping, the server's clock goes at the wall clock's pace.
                if simulated_then is None or (simulated - simulated_then).total_seconds() > (
                    now - looked + _SKIPPED_S
                ):
                    since = now
                elif now - since >= self._stall_after_s:
                    raise ClockStalled(
                        "Temporal's time-skipping test server has not skipped time for "
                        f"{now - since:.0f} s (its clock at "
                        f"{simulated.isoformat(timespec='seconds')}) while a workflow was awaited"
                    )
                simulated_then, looked = simulated, now
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
