"""Time zones where it is daytime now: so simulations never wait for the debtor's morning.

The compliance gate contacts a debtor only between 08:00 and 21:00 their local
time, on the real clock. A demo or a test that compresses playbook days into
seconds still runs at the real time of day, so it places its simulated debtors
where that time is inside calling hours.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

# One zone per hour of offset, so at any instant several are mid-day.
WORLD = (
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Puerto_Rico",
    "America/Sao_Paulo",
    "Atlantic/South_Georgia",
    "Atlantic/Azores",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Athens",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Pacific/Guam",
    "Pacific/Noumea",
    "Pacific/Auckland",
)


def awake(zone: str, at: datetime, start: time = time(8, 30), end: time = time(20, 0)) -> bool:
    """Whether local time in ``zone`` at ``at`` is within [start, end) (a margin inside 08-21)."""
    return start <= at.astimezone(ZoneInfo(zone)).time() < end


def most_awake(at: datetime, zones: tuple[str, ...] = WORLD) -> str:
    """The zone whose local time at ``at`` is closest to 13:00."""
    return closest_to(at, 13, zones)


def most_asleep(at: datetime, zones: tuple[str, ...] = WORLD) -> str:
    """The zone whose local time at ``at`` is closest to 03:00 (deep in quiet hours)."""
    return closest_to(at, 3, zones)


def closest_to(at: datetime, hour: int, zones: tuple[str, ...] = WORLD) -> str:
    def distance(zone: str) -> timedelta:
        local = at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        target = local.replace(hour=hour, minute=0, second=0, microsecond=0)
        return min(abs(local - target + timedelta(days=d)) for d in (-1, 0, 1))

    return min(zones, key=distance)
