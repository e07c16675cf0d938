"""Reading the event log: the live stream, ``recoup events`` and the read model's progress.

``EventRow`` (one stored record) and ``MAX_POSITION`` (the largest position a cursor
may name) are the event log's own, re-exported here unchanged for the entry points.
"""

from __future__ import annotations

from adapters.event_log import MAX_POSITION, EventLog, EventRow
from bootstrap.root import Root

__all__ = ["MAX_POSITION", "EventLog", "EventRow", "event_log", "start_position"]


def event_log(root: Root) -> EventLog:
    """The root's event log, its tables created (a fresh database can be read at once)."""
    events = root.events
    events.create_tables()
    return events


def start_position(
    events: EventLog, last: int, tenant: str | None, campaign: str | None, types: list[str]
) -> int:
    """The position just before the last ``last`` matching records."""
    if last <= 0:
        return events.last_position()
    position = 0
    window: list[EventRow] = []
    while rows := events.read_after(position, 5000, tenant, campaign, types):
        window = (window + rows)[-last:]
        position = rows[-1].position or position
    return (window[0].position or 1) - 1 if window else position
