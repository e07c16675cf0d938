"""Calendar arithmetic both date readers share (``dates`` of the rules, ``promised`` of the
combined reader): their conventions differ, the calendar does not."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def last_day(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def add_months(d: date, n: int) -> date:
    """``n`` months later, on the same day or the month's last when it has fewer."""
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def next_month_first(d: date) -> date:
    return add_months(d.replace(day=1), 1)


def next_weekday(today: date, weekday: int) -> date:
    """``friday``, ``this friday``: the first such weekday strictly after ``today``."""
    return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)
