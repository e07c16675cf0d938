"""The few past contacts the temporary rules read, found in one pass over the history.

A debt's history can hold hundreds of contacts, but only those after a short
horizon (9 days for 7-in-7, 7 days and an hour for Massachusetts) can still
hold a contact back. The gate used to convert every contact to UTC and look up
its channel's row once per rule; here the history is filtered once with the
cheapest test there is (one comparison per contact), and only the survivors are
converted and sorted into what each rule needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.channels import CHANNELS, Channel
from domain.compliance.model import PastContact
from domain.compliance.rules import RollingLimit

# Channels that count in (and are held by) 7-in-7: the registry's ``call_frequency``.
CALL_CHANNELS: frozenset[Channel] = frozenset(
    row.channel for row in CHANNELS.values() if row.call_frequency
)


@dataclass(frozen=True, slots=True)
class RecentContacts:
    """What the temporary rules need from the contacts after the horizon, in UTC."""

    calls: list[datetime]  # outbound calls, in history order
    last_conversation: datetime | None  # the latest call with a conversation, either way
    limited: list[datetime]  # outbound contacts on the state limit's channels, newest first


def recent_contacts(
    history: Sequence[PastContact], horizon: datetime, limit: RollingLimit | None
) -> RecentContacts:
    """Index the contacts of ``history`` after ``horizon`` for the temporary rules."""
    # Most of a long history is older than the horizon, and walking it is memory-bound:
    # one attribute and one comparison per contact, nothing converted.
    recent = [c for c in history if c.at > horizon]
    limited_channels = limit.channels if limit else frozenset()
    calls: list[datetime] = []
    limited: list[datetime] = []
    last_conversation: datetime | None = None
    for contact in recent:
        channel = contact.channel
        call = channel in CALL_CHANNELS
        counted = channel in limited_channels
        if not (call or counted):
            continue
        # Every instant in UTC from here on, so results come out in UTC whatever the input.
        moment = contact.at.astimezone(UTC)
        outbound = contact.direction == "outbound"
        if call:
            if outbound:
                calls.append(moment)
            if contact.outcome == "conversation" and (
                last_conversation is None or moment > last_conversation
            ):
                last_conversation = moment
        if counted and outbound:
            limited.append(moment)
    limited.sort(reverse=True)
    return RecentContacts(calls=calls, last_conversation=last_conversation, limited=limited)
