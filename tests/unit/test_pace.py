"""The launcher's pace of starts: a rate per portfolio run, and no memory of old runs."""

from __future__ import annotations

import asyncio
import time

from activities.portfolio import Paces


async def test_a_pace_spaces_its_starts_across_pages() -> None:
    paces = Paces()
    began = time.monotonic()
    for _ in range(3):  # three pages of one account each, one after the other
        await paces.of("portfolio-1", 20).wait()
    # The first start goes at once, the next two 1/20 s apart: a page of one account
    # does not restart the clock.
    assert time.monotonic() - began >= 2 / 20 * 0.9


async def test_only_the_runs_pacing_now_are_held() -> None:
    paces = Paces()
    for run in range(100):
        await paces.of(f"portfolio-{run}", 1000).wait()
    await asyncio.sleep(0.01)  # every run's next start is due
    busy = paces.of("portfolio-busy", 1)
    await busy.wait()  # its next start is a second away
    assert paces.of("portfolio-busy", 1) is busy
    assert len(paces) == 1


async def test_no_rate_is_nothing_to_remember() -> None:
    paces = Paces()
    for _ in range(100):
        await paces.of("portfolio-1", None).wait()
    assert len(paces) == 0
