"""Decisions per second of the compliance gate on one core.

Run: ``.venv/bin/python -m bench.compliance_gate [--seconds 3]``

Two loads over the same proposed contacts and facts: a baseline with an empty
history, and a realistic one where each debt has 300 past contacts spread over
the 90 days before the proposed contact. The mix covers every channel, known
single and multiple zones as well as an unknown location (all eight US zones),
and Massachusetts and other states. The machine is noisy, so after a warm-up
the two loads alternate in short rounds and the median round rate of each is
reported. Prints exactly one JSON line.
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

HISTORY_SIZE = 300
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


def scenarios(rng: random.Random) -> list[Scenario]:
    """Realistic load: per debt, 300 past contacts over the 90 days before the proposal."""
    out: list[Scenario] = []
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
        proposed = ProposedContact(at=at, channel=channel, to=_address(channel))
        history = sorted(
            (_past(rng, at) for _ in range(HISTORY_SIZE)), key=lambda contact: contact.at
        )
        out.append((facts, history, proposed))
    return out


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
    loaded = scenarios(random.Random(SEED))
    baseline: list[Scenario] = [(facts, [], proposed) for facts, _, proposed in loaded]

    slice_ = args.seconds / ROUNDS
    _rate(baseline, min(0.5, slice_))  # warm-up
    _rate(loaded, min(0.5, slice_))
    base_rates: list[float] = []
    loaded_rates: list[float] = []
    for _ in range(ROUNDS):
        base_rates.append(_rate(baseline, slice_))
        loaded_rates.append(_rate(loaded, slice_))

    base = statistics.median(base_rates)
    rate = statistics.median(loaded_rates)
    result = {
        "benchmark": "compliance_gate",
        "decisions_per_s": round(rate, 1),
        "baseline_decisions_per_s": round(base, 1),
        "ratio": round(rate / base, 4),
        "history_size": HISTORY_SIZE,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
