"""Back-pressure for a launch: hold new campaigns while the campaigns' queue is backed up.

A portfolio can start accounts far faster than the workers can run their first touches.
Past that point every start only lengthens the campaigns' workflow task queue: the
workers' cache of running campaigns can no longer hold the ones whose next task is
queued, each task then replays its campaign's whole history, and throughput collapses
(measured on 2 cores with 100,000 first emails due at once: 68,000 workflow tasks
queued, served at 5 a second instead of about 35). ``BacklogGate.wait`` holds a start
while Temporal's approximate backlog of that queue is above a limit, so the launch
goes as fast as the campaigns are served and no faster. It reads the backlog from the
server through ``backlog_of`` (``bootstrap.client.queue_backlog``: ``DescribeTaskQueue``
with stats), so every worker process sees the same queue, at most once per ``every``
seconds however many starts wait. No Temporal import here: the adapters layer talks to
Temporal only through what the composition root gives it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# A workflow task queue's approximate backlog, or None where the server keeps no queue
# stats (the time-skipping test server of ``recoup simulate``).
QueueBacklog = Callable[[str], Awaitable[int | None]]


class BacklogGate:
    """Waits while ``queue``'s workflow task backlog is above ``limit``."""

    def __init__(
        self,
        backlog_of: QueueBacklog,
        queue: str,
        limit: int,
        *,
        every: float = 1.0,
        on_hold: Callable[[int], None] | None = None,
    ) -> None:
        """``on_hold(backlog)`` is called each time a check finds the queue too long
        (the launch heartbeats there)."""
        self._backlog_of = backlog_of
        self._queue = queue
        self._limit = limit
        self._every = every
        self._on_hold = on_hold
        self._lock = asyncio.Lock()
        self._checked_at = -float("inf")
        self._backlog = 0
        self._supported = True

    async def backlog(self) -> int:
        """The queue's approximate workflow task backlog, read at most every ``every`` s."""
        async with self._lock:
            if self._supported and time.monotonic() - self._checked_at >= self._every:
                self._backlog = await self._read()
                self._checked_at = time.monotonic()
            return self._backlog

    async def wait(self) -> None:
        """Return once the backlog is at or under the limit."""
        while (backlog := await self.backlog()) > self._limit:
            if self._on_hold is not None:
                self._on_hold(backlog)
            await asyncio.sleep(self._every)

    async def _read(self) -> int:
        backlog = await self._backlog_of(self._queue)
        if backlog is None:  # no queue stats on this server: never hold
            self._supported = False
            return 0
        return backlog
