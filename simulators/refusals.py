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
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable
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


class WorkflowTaskRefused(RuntimeError):
    """The test server refused a workflow task; the workflow will never go on."""


class RefusalWatch(logging.Handler):
    """Takes the Temporal core's warnings and notices a refused workflow task."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._refused = threading.Event()
        self.message = ""

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
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
