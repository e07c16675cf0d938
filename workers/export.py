"""The exporter: feeds every sink from the event log, in order, at least once.

One loop per sink reads the log forward from that sink's cursor, publishes a
batch, and moves the cursor only when the broker confirmed the whole batch. A
broker that is down makes its loop back off (0.5 s doubling to 30 s) and retry
the same batch: campaigns never wait for it, nothing is skipped, and the backlog
drains in log order (so in order per customer) once it is back. A retried batch
may reach a consumer twice; consumers drop duplicates by message id.

The ``sql`` sink is the read model: its batch is projected in the same
transaction that moves its cursor, so it is applied exactly once.

Positions can have gaps (PostgreSQL assigns them before commit). A loop stops at
a gap until it fills or ``gap_wait`` passes: a transaction still committing is
waited for, a rolled-back one is not waited for forever.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from adapters.audit_log import AuditLog
from adapters.breakers import BreakerSnapshot
from adapters.event_log import EventLog, EventRow
from adapters.read_model import project
from adapters.sinks.base import OutboundMessage, Sink, SinkUnavailable
from adapters.telemetry import EXPORT_LAG
from bootstrap.root import build_sinks
from bootstrap.settings import SQL_SINK, Settings
from domain.events import EventType, ExportRecord, Origin, event_record, message_id
from domain.messages import Performance
from service.audit_log import ANCHOR_STATUS

log = logging.getLogger("recoup.export")

KeyFor = Callable[[str], tuple[bytes, str]]
Wants = Callable[[str, str], bool]  # (sink, tenant) -> export it there?


@dataclass
class SinkProgress:
    """What one sink's loop has done, for ``recoup events status`` and tests."""

    published: int = 0
    batches: int = 0
    failures: int = 0
    last_error: str | None = None
    backoff: float = 0.0


@dataclass
class Exporter:
    events: EventLog
    sinks: Mapping[str, Sink]
    key_for: KeyFor
    wants: Wants = lambda _sink, _tenant: True
    project_sql: bool = True
    batch_size: int = 500
    idle_seconds: float = 0.2
    gap_wait: float = 5.0
    max_backoff: float = 30.0
    audit: AuditLog | None = None
    anchor_seconds: float = 10.0
    progress: dict[str, SinkProgress] = field(default_factory=dict)
    _gaps: dict[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return ([SQL_SINK] if self.project_sql else []) + list(self.sinks)

    async def run(self, stop: asyncio.Event) -> None:
        """Export until ``stop`` is set (each sink independently)."""
        for sink in self.sinks.values():
            try:
                await sink.start()
            except SinkUnavailable as err:  # it will be retried by its loop
                log.warning("sink %s not available at start: %s", sink.name, err)
        try:
            async with asyncio.TaskGroup() as group:
                for name in self.names:
                    group.create_task(self._loop(name, stop))
                if self.audit is not None:
                    group.create_task(self._anchor_loop(stop))
        finally:
            for sink in self.sinks.values():
                await sink.close()

    async def _loop(self, name: str, stop: asyncio.Event) -> None:
        progress = self.progress.setdefault(name, SinkProgress())
        while not stop.is_set():
            try:
                moved = await self.drain_once(name)
            except Exception as err:  # a sink or the database is down: back off, retry
                progress.failures += 1
                progress.last_error = str(err)[:300]
                progress.backoff = min(self.max_backoff, max(0.5, progress.backoff * 2))
                log.warning("export to %s failed (retry in %.1fs): %r", name, progress.backoff, err)
                await _sleep(stop, progress.backoff)
                continue
            progress.backoff = 0.0
            if not moved:
                await _sleep(stop, self.idle_seconds)

    async def _anchor_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.anchor_audit_heads)
            except Exception as err:  # the database is down: try at the next tick
                log.warning("anchoring audit heads failed: %r", err)
            await _sleep(stop, self.anchor_seconds)

    def anchor_audit_heads(self) -> int:
        """Put each tenant's audit chain head into the event log (so onto audit-logs).

        Idempotent: a head already anchored has the same message id.
        """
        assert self.audit is not None
        records = [
            event_record(
                Origin(tenant_id=head.tenant_id, agent_id="audit-log"),
                message_id("audit-head", head.tenant_id, str(head.position), head.hash),
                EventType.COMPLIANCE_AUDIT,
                ANCHOR_STATUS,
                datetime.now(UTC),
                {"position": head.position, "hash": head.hash},
            )
            for head in self.audit.heads()
        ]
        return self.events.append(records)

    async def drain_once(self, name: str) -> int:
        """Publish the next batch to sink ``name``; returns how many records it covered."""
        cursor = await asyncio.to_thread(self.events.cursor, name)
        rows = await asyncio.to_thread(self.events.read_after, cursor, self.batch_size)
        head = await self._head(rows, cursor)
        EXPORT_LAG.labels(sink=name).set(head - cursor)
        rows = self._contiguous(name, cursor, rows)
        if not rows:
            return 0
        last = rows[-1].position
        assert last is not None
        records = [r.export_record() for r in rows]
        chosen = [r for r in records if self.wants(name, r.tenant_id)]
        if name == SQL_SINK:
            moved = await asyncio.to_thread(self._project, chosen, cursor, last)
        else:
            if chosen:
                await self.sinks[name].publish(self._outbound(chosen))
            moved = await asyncio.to_thread(self.events.advance, name, cursor, last)
        progress = self.progress.setdefault(name, SinkProgress())
        if moved:
            progress.published += len(chosen)
            progress.batches += 1
            EXPORT_LAG.labels(sink=name).set(head - last)
        return len(rows)

    async def _head(self, rows: list[EventRow], cursor: int) -> int:
        """The log's last position, for the lag gauge: the batch's own last row unless
        the batch is full (only then is the log asked)."""
        if len(rows) >= self.batch_size:
            return await asyncio.to_thread(self.events.last_position)
        newest = rows[-1].position if rows else None
        return max(cursor, newest or 0)

    def _outbound(self, records: Sequence[ExportRecord]) -> list[OutboundMessage]:
        messages = []
        for record in records:
            key, key_id = self.key_for(record.tenant_id)
            messages.append(OutboundMessage.of(record, key, key_id))
        return messages

    def _project(self, records: list[ExportRecord], cursor: int, last: int) -> bool:
        """Apply a batch to the read model and move the cursor, in one transaction.

        The cursor moves first: a second exporter on the same batch then waits for
        the row lock (or SQLite's write lock), finds the cursor moved, and backs out
        without applying anything.
        """
        try:
            with Session(self.events.engine) as session:
                if not self.events.advance(SQL_SINK, cursor, last, session=session):
                    session.rollback()
                    return False
                project(session, records)
                session.commit()
                return True
        except (IntegrityError, OperationalError) as err:
            log.info("read model: another exporter applied this batch first (%s)", err)
            return False

    def _contiguous(self, name: str, cursor: int, rows: list[EventRow]) -> list[EventRow]:
        """The rows up to the first gap that may still fill."""
        expected = cursor + 1
        for i, row in enumerate(rows):
            assert row.position is not None
            if row.position != expected:
                first_seen = self._gaps.get(name)
                now = time.monotonic()
                if first_seen is None or first_seen[0] != expected:
                    self._gaps[name] = (expected, now)
                    return rows[:i]
                if now - first_seen[1] < self.gap_wait:
                    return rows[:i]
                log.info(
                    "export to %s: skipping positions %d..%d", name, expected, row.position - 1
                )
            expected = row.position + 1
        return rows


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return


def exporter_for(settings: Settings, events: EventLog) -> Exporter:
    """The exporter a worker runs, from settings: its sinks, keys and tenant choices."""
    return Exporter(
        events=events,
        sinks=build_sinks(settings),
        key_for=settings.export_key_for,
        wants=lambda sink, tenant: sink in settings.sinks_for(tenant),
        project_sql=SQL_SINK in settings.all_sinks,
        batch_size=settings.export_batch_size,
        audit=settings.audit_log(),
    )


SYSTEM_TENANT = "system"


def breaker_events(events: EventLog) -> Callable[[BreakerSnapshot], None]:
    """An ``on_change`` that exports each breaker transition this process made."""
    pending: set[asyncio.Task[int]] = set()

    def on_change(snapshot: BreakerSnapshot) -> None:
        at = snapshot.changed_at or datetime.now(UTC)
        origin = Origin(tenant_id=SYSTEM_TENANT, agent_id=f"{snapshot.name}-breaker")
        metadata: dict[str, object] = {
            "breaker": snapshot.name,
            "failures": snapshot.failures,
            "successes": snapshot.successes,
        }
        if snapshot.opened_until is not None:
            metadata["openedUntil"] = snapshot.opened_until.isoformat()
        record = event_record(
            origin,
            message_id("breaker", snapshot.name, snapshot.state.value, at.isoformat()),
            EventType.BREAKER_CHANGE,
            snapshot.state.value,
            at,
            metadata,
        )
        # Off the caller's path: a breaker must not wait for the database.
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(events.append, [record]))
        pending.add(task)
        task.add_done_callback(pending.discard)

    return on_change


def both(*callbacks: Callable[[BreakerSnapshot], None]) -> Callable[[BreakerSnapshot], None]:
    def on_change(snapshot: BreakerSnapshot) -> None:
        for callback in callbacks:
            callback(snapshot)

    return on_change


def agent_status(agent_id: str, status: str, roles: Sequence[str]) -> ExportRecord:
    """An AgentStatusEvent for this worker process, with the seed's performance figures
    (peak resident memory in bytes, CPU seconds used so far)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    at = datetime.now(UTC)
    return event_record(
        Origin(tenant_id=SYSTEM_TENANT, agent_id=agent_id),
        message_id("agent-status", agent_id, status, at.isoformat()),
        EventType.AGENT_STATUS,
        status,
        at,
        {"agentId": agent_id, "roles": sorted(roles), "pid": os.getpid()},
        performance=Performance(
            memory_usage=usage.ru_maxrss * 1024, cpu_usage=usage.ru_utime + usage.ru_stime
        ),
    )


async def report_status(
    events: EventLog, agent_id: str, roles: Sequence[str], stop: asyncio.Event, every: float
) -> None:
    """``started``, ``healthy`` every ``every`` seconds, ``stopped``: onto agent-metrics."""
    status = "started"
    while True:
        try:
            await asyncio.to_thread(events.append, [agent_status(agent_id, status, roles)])
        except Exception as err:  # the database is down: the next report will tell
            log.warning("agent status not recorded: %r", err)
        if status == "stopped":
            return
        await _sleep(stop, every)
        status = "stopped" if stop.is_set() else "healthy"
