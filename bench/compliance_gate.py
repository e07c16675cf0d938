"""Decisions per second of the compliance gate on one core.

Run: ``.venv/bin/python -m bench.compliance_gate [--seconds 3]``

Issue 17's goal is 10,000 decisions per second per core on histories of 200
contacts. Three loads over the same proposed contacts and facts: a baseline with
an empty history, the goal's load where each debt has 200 past contacts spread
over the 90 days before the proposed contact, and a heavier one with 300 (the
figure reported before the goal was set). The mix covers every channel, known
single and multiple zones as well as an unknown location (all eight US zones),
and Massachusetts and other states. The gate keeps nothing between decisions, so
every decision reads its whole history, and the 64 debts are decided in turn, so
a history is seldom still in the CPU cache when its debt comes round again (as
in a worker, where each decision builds its history afresh). The machine is
noisy, so after a warm-up the loads alternate in short rounds and the median
round rate of each is reported. Prints exactly one JSON line:
``decisions_per_s`` (200 contacts), ``goal_decisions_per_s``, ``meets_goal``,
the same-run baseline and ``ratio`` to it, and the 300-contact figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bench.common import machine
from domain.channels import Channel
from domain.compliance.engine import decide
from domain.compliance.model import (
    ComplianceFacts,
    PastContact,
    PastOutcome,
    ProposedContact,
)

HISTORY_SIZE = 200  # the goal's load (issue 17)
HEAVY_HISTORY_SIZE = 300  # the load reported before the goal
GOAL_DECISIONS_PER_S = 10_000
HISTORY_DAYS = 90
SCENARIOS = 64
ROUNDS = 6
SEED = 20260610

ZONE_CHOICES: tuple[tuple[str, ...], ...] = (
    ("America/New_York",),
    ("America/Chicago",),
    ("America/Los_Angeles",),
    ("America/Phoenix",),
    ("Pacific/Honolulu",),
    ("America/New_York", "America/Los_Angeles"),
    ("America/Denver", "America/Anchorage", "America/Puerto_Rico"),
    (),  # unknown location: all eight US zones
    (),
)
CHANNELS = (Channel.PHONE, Channel.PHONE, Channel.PHONE, Channel.SMS, Channel.SMS, Channel.EMAIL)
PHONE_OUTCOMES: tuple[PastOutcome, ...] = ("no_answer", "no_answer", "voicemail", "conversation")

Scenario = tuple[ComplianceFacts, list[PastContact], ProposedContact]


def _address(channel: Channel) -> str:
    return "debtor@example.com" if channel is Channel.EMAIL else "+16175550100"


def _past(rng: random.Random, before: datetime) -> PastContact:
    at = before - timedelta(seconds=rng.randint(1, HISTORY_DAYS * 86400))
    channel = rng.choice(CHANNELS)
    if channel is Channel.PHONE:
        outcome = rng.choice(PHONE_OUTCOMES)
        inbound = outcome == "conversation" and rng.random() < 0.3
        return PastContact(
            at=at,
            channel=channel,
            outcome=outcome,
            to=_address(channel),
            direction="inbound" if inbound else "outbound",
        )
    return PastContact(at=at, channel=channel, outcome="delivered", to=_address(channel))


def scenarios(rng: random.Random, sizes: Sequence[int]) -> list[list[Scenario]]:
    """Per size, the same debts and proposals, each with that many past contacts over the
    90 days before the proposal."""
    debts: list[tuple[ComplianceFacts, ProposedContact]] = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(SCENARIOS):
        facts = ComplianceFacts(
            timezones=list(rng.choice(ZONE_CHOICES)),
            state=rng.choice(("MA", "MA", "NY", "CA", None)),
            sms_consent=rng.random() < 0.9,
            voice_consent=rng.random() < 0.9,
        )
        at = start + timedelta(seconds=rng.randint(HISTORY_DAYS * 86400, 365 * 86400))
        channel = rng.choice(CHANNELS)
        debts.append((facts, ProposedContact(at=at, channel=channel, to=_address(channel))))
    return [
        [(facts, sorted((_past(rng, p.at) for _ in range(size)), key=_at), p) for facts, p in debts]
        for size in sizes
    ]


def _at(contact: PastContact) -> datetime:
    return contact.at


def _rate(load: Sequence[Scenario], seconds: float) -> float:
    """Decisions per second over ``load``, repeated for at least ``seconds``."""
    done = 0
    begin = time.perf_counter()
    deadline = begin + seconds
    while True:
        for facts, history, proposed in load:
            decide(facts, history, proposed)
        done += len(load)
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - begin)


def _pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per load (default 3)")
    args = parser.parse_args(argv)

    _pin_to_one_core()
    loaded, heavy = scenarios(random.Random(SEED), (HISTORY_SIZE, HEAVY_HISTORY_SIZE))
    baseline: list[Scenario] = [(facts, [], proposed) for facts, _, proposed in loaded]
    loads = (baseline, loaded, heavy)

    slice_ = args.seconds / ROUNDS
    for load in loads:  # warm-up
        _rate(load, min(0.5, slice_))
    rates: list[list[float]] = [[] for _ in loads]
    for _ in range(ROUNDS):
        for load, measured in zip(loads, rates, strict=True):
            measured.append(_rate(load, slice_))

    base, rate, heavy_rate = (statistics.median(measured) for measured in rates)
    result = {
        "benchmark": "compliance_gate",
        "decisions_per_s": round(rate, 1),
        "goal_decisions_per_s": GOAL_DECISIONS_PER_S,
        "meets_goal": rate >= GOAL_DECISIONS_PER_S,
        "baseline_decisions_per_s": round(base, 1),
        "ratio": round(rate / base, 4),
        "history_size": HISTORY_SIZE,
        "heavy_decisions_per_s": round(heavy_rate, 1),
        "heavy_ratio": round(heavy_rate / base, 4),
        "heavy_history_size": HEAVY_HISTORY_SIZE,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
