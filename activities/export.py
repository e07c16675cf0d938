"""The export duty: put records into the event log, from which every sink is fed.

Two ways in, both idempotent by message id:

- ``export_events``: the workflow's pending records, when it is about to wait
  (one activity for everything it decided since its last export);
- ``ContactExport``: a channel agent writes the workflow's pending records and its
  own outcome in the same activity that made the contact, so a touch costs no
  extra Temporal action. A contact of an adaptive campaign (``ContactRequest.trial``)
  also opens its trial in the next-best-action statistics there, when it went out.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from temporalio import activity

from adapters.action_stats import ActionStats
from adapters.event_log import EventLog
from adapters.telemetry import count_exported
from domain import names
from domain.contact import ContactOutcome, ContactRequest, ContactResult
from domain.events import EventBatch, interaction_record


class EventExporter:
    def __init__(self, log: EventLog) -> None:
        self._log = log

    @activity.defn(name=names.EXPORT_EVENTS)
    async def export_events(self, batch: EventBatch) -> int:
        """Append the batch to the event log; returns how many records were new."""
        added = await asyncio.to_thread(self._log.append, batch.records)
        if added:  # a retried batch already in the log is not counted again
            count_exported(batch.records)
        return added


class ContactExport:
    """What a channel agent exports when its contact ended with a result."""

    def __init__(self, log: EventLog | None, trials: ActionStats | None = None) -> None:
        self._log = log
        self._trials = trials

    def started(self) -> float:
        return time.monotonic()

    async def finished(
        self, request: ContactRequest, result: ContactResult, started: float
    ) -> ContactResult:
        trial = request.trial
        # A failed contact is no trial: the campaign stops watching it.
        if (
            self._trials is not None
            and trial is not None
            and result.outcome is not ContactOutcome.FAILED
        ):
            # The server's clock, by which the agent's choices read the trials
            # (simulated days under time skipping).
            opened_at = activity.info().current_attempt_scheduled_time
            await asyncio.to_thread(self._trials.open, trial, opened_at)
        context = request.export
        if self._log is None or context is None:
            return result
        outcome = interaction_record(
            context,
            request.attempt_id,
            request.channel.value,
            result.outcome.value,
            result.sent_at or datetime.now(UTC),
            provider_ref=result.provider_ref,
            detail=result.detail,
            response_ms=round((time.monotonic() - started) * 1000, 1),
            composed_by=result.composed_by,
            compose_fallback=result.compose_fallback,
        )
        records = [*context.pending, outcome]
        if await asyncio.to_thread(self._log.append, records):
            count_exported(records)
        return result
