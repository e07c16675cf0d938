"""The campaign chart's geometry: collected amount (bars) and contacts (a line) per time
bucket, laid out in SVG user units for the template (``templates/chart.html.j2``).

Rendered on the server: the page needs no chart library and no script to show it. Each
series has its own scale (amounts and counts do not share a unit); the axes are labelled
with each series' largest bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from service.console import Timeline

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 70, 50, 16, 34  # margins: axis labels live there


@dataclass(frozen=True)
class Bar:
    start: datetime
    end: datetime
    collected: Decimal
    contacts: int
    x: float
    y: float
    width: float
    height: float
    point: tuple[float, float]  # the contacts line's vertex over this bucket


@dataclass(frozen=True)
class Chart:
    currency: str
    bars: list[Bar]
    seconds: float
    max_collected: Decimal
    max_contacts: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def points(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in (b.point for b in self.bars))

    @property
    def bucket_label(self) -> str:
        """The width of a bucket in words (``per 5 min``)."""
        seconds = self.seconds
        for unit, size in (("day", 86_400), ("h", 3600), ("min", 60)):
            if seconds >= size:
                return (
                    f"per {seconds / size:,.0f} {unit}"
                    if seconds % size == 0
                    else (f"per {seconds / size:,.1f} {unit}")
                )
        return f"per {seconds:,.0f} s"


def chart(timeline: Timeline, currency: str) -> Chart | None:
    """The chart of ``timeline`` in ``currency``; None when there is nothing to draw."""
    if not timeline.buckets:
        return None
    amounts = [b.collected.get(currency, Decimal(0)) for b in timeline.buckets]
    top_amount = max(amounts)
    top_contacts = max(b.contacts for b in timeline.buckets)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / len(timeline.buckets)
    bars = []
    for i, (bucket, amount) in enumerate(zip(timeline.buckets, amounts, strict=True)):
        height = float(amount / top_amount) * plot_height if top_amount > 0 else 0.0
        line_y = (
            HEIGHT - BOTTOM - (bucket.contacts / top_contacts * plot_height if top_contacts else 0)
        )
        x = LEFT + i * slot
        bars.append(
            Bar(
                start=bucket.start,
                end=bucket.end,
                collected=amount,
                contacts=bucket.contacts,
                x=x + slot * 0.15,
                y=HEIGHT - BOTTOM - height,
                width=slot * 0.7,
                height=height,
                point=(x + slot / 2, line_y),
            )
        )
    return Chart(
        currency=currency,
        bars=bars,
        seconds=timeline.seconds,
        max_collected=top_amount,
        max_contacts=top_contacts,
    )
