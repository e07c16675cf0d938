"""The next-best-action agent: chooses a contact's channel and time of day, and learns.

``choose`` first records the outcomes the workflow has settled since its last
choice (one activity instead of two), then draws from the segment's statistics
(``domain.next_action.choose``). The draw is seeded by the request, so a retry
after the recording went through chooses the same arm, and the recording itself
is idempotent by outcome id.
"""

from __future__ import annotations

import asyncio

from temporalio import activity

from adapters.action_stats import ActionStats
from domain import names
from domain.next_action import ActionChoice, ActionChoiceRequest, OutcomesToRecord, choose


class NextActionAgent:
    def __init__(self, stats: ActionStats) -> None:
        self._stats = stats

    @activity.defn(name=names.CHOOSE_NEXT_ACTION)
    async def choose(self, request: ActionChoiceRequest) -> ActionChoice:
        if request.settled:
            await asyncio.to_thread(self._stats.record, request.settled)
        stats = await asyncio.to_thread(self._stats.stats, request.tenant_id, request.segment)
        pooled = await asyncio.to_thread(self._stats.pooled, request.tenant_id)
        return choose(
            stats,
            request.channels,
            request.seed,
            request.exploration,
            segment=request.segment,
            prior=pooled,
        )

    @activity.defn(name=names.RECORD_ACTION_OUTCOMES)
    async def record(self, request: OutcomesToRecord) -> int:
        """Apply the outcomes; how many were new (a retry finds them applied: 0)."""
        return await asyncio.to_thread(self._stats.record, request.outcomes)
