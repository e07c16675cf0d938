"""The next-best-action agent: chooses a contact's channel and time of day, and learns.

``choose`` first records the outcomes the workflow has settled since its last
choice (one activity instead of two), then draws from the segment's statistics
(``domain.next_action.choose``). The draw is seeded by the request, so a retry
after the recording went through chooses the same arm, and the recording itself
is idempotent by outcome id.

Contacts count from the moment they are made: the channel agent opens each one's
trial (``ActionStats.open``), a trial with no reward until its outcome is recorded.

``daily`` (simulations): outcomes count from the next (server-clock) day on, and a
choice sees the statistics as they were when its day began (and the trials opened
before then). Many accounts choose at the same simulated moment, and which of them
records first would otherwise change what the others see: with it, a simulation
gives the same result when run again.
The held outcomes live in this worker's memory, which is why a real deployment
does not use it.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, date, datetime, time, timedelta

from temporalio import activity

from adapters.action_stats import ActionStats
from domain import names
from domain.next_action import (
    ActionChoice,
    ActionChoiceRequest,
    ActionOutcome,
    ArmStats,
    OutcomesToRecord,
    choose,
)

# Where a simulated day begins: 00:00:30 UTC, away from the whole minutes at which
# simulated contacts, replies and payments happen (a few seconds late at most).
DAY_BEGINS = timedelta(seconds=30)


def day_of(instant: datetime) -> date:
    return (instant - DAY_BEGINS).date()


class NextActionAgent:
    def __init__(self, stats: ActionStats, *, daily: bool = False) -> None:
        self._stats = stats
        self._daily = daily
        self._held: dict[str, tuple[date, ActionOutcome]] = {}
        self._lock = threading.Lock()

    @activity.defn(name=names.CHOOSE_NEXT_ACTION)
    async def choose(self, request: ActionChoiceRequest) -> ActionChoice:
        # The server's clock, by which the channel agents open trials.
        now = activity.info().current_attempt_scheduled_time
        if self._daily:
            stats, pooled = await asyncio.to_thread(self._as_the_day_began, request, day_of(now))
        else:
            if request.settled:
                await asyncio.to_thread(self._stats.record, request.settled)
            stats = await asyncio.to_thread(
                self._stats.stats, request.tenant_id, request.segment, now
            )
            pooled = await asyncio.to_thread(self._stats.pooled, request.tenant_id, now)
        return choose(
            stats,
            request.channels,
            request.seed,
            request.exploration,
            segment=request.segment,
            prior=pooled,
            playbook_arm=request.playbook_arm,
        )

    @activity.defn(name=names.RECORD_ACTION_OUTCOMES)
    async def record(self, request: OutcomesToRecord) -> int:
        """Apply the outcomes; how many were new (a retry finds them applied: 0)."""
        if self._daily:
            day = day_of(activity.info().scheduled_time)
            return await asyncio.to_thread(self._hold, request.outcomes, day)
        return await asyncio.to_thread(self._stats.record, request.outcomes)

    def _hold(self, outcomes: list[ActionOutcome], day: date) -> int:
        with self._lock:
            new = [o for o in outcomes if o.outcome_id not in self._held]
            for outcome in new:
                self._held[outcome.outcome_id] = (day, outcome)
            return len(new)

    def _as_the_day_began(
        self, request: ActionChoiceRequest, today: date
    ) -> tuple[list[ArmStats], list[ArmStats]]:
        """Hold the request's outcomes; apply those of earlier days (in one batch, by
        id: the same sums every run); the statistics then."""
        self._hold(request.settled, today)
        with self._lock:
            due = sorted((outcome_id for outcome_id, (day, _) in self._held.items() if day < today))
            if due:
                # The store applies an id once: a retry that holds one again adds nothing.
                self._stats.record([self._held.pop(outcome_id)[1] for outcome_id in due])
            began = datetime.combine(today, time(), UTC) + DAY_BEGINS
            return (
                self._stats.stats(request.tenant_id, request.segment, began),
                self._stats.pooled(request.tenant_id, began),
            )
