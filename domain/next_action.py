"""The next-best-action agent's decision: which channel, at which local time of day.

An arm is a channel and a debtor-local time window; each account segment has its
own statistics per arm (contacts made, reward earned, harm done), learnt from what
contacts led to within N days: a payment (1), a promise (0.5), a reply (0.2) or
nothing (0); or harm that costs the debtor relationship, an opt-out, a dispute or a
complaint, whose reward is negative and set per tenant (``reward_of``; by default
-1, -0.5 and -2: an opt-out loses what a payment earns). ``choose`` draws an arm by
Thompson sampling over the arms the campaign may use now (what an arm earns, less
what it costs), with a bounded share of purely exploratory choices.
``next_window_start`` turns the chosen window into the instant to send, in the
debtor's time zone.

Pure and deterministic (workflows import it): no I/O, no clock, and randomness only
from a generator seeded by the caller's seed, so a retried activity or a replayed
workflow draws the same arm.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from domain.account import Account, Tenant
from domain.channels import Channel


class TimeWindow(StrEnum):
    """A part of the debtor's local day, within the convenient hours (08:00–21:00)."""

    MORNING = "morning"  # 08:00–11:00
    MIDDAY = "midday"  # 11:00–14:00
    AFTERNOON = "afternoon"  # 14:00–17:00
    EVENING = "evening"  # 17:00–21:00: 21:00 ends FDCPA / Reg F convenient hours

    def hours(self) -> tuple[int, int]:
        """(start hour, end hour), local time: the window is [start:00, end:00)."""
        return _HOURS[self]


_HOURS: dict[TimeWindow, tuple[int, int]] = {
    TimeWindow.MORNING: (8, 11),
    TimeWindow.MIDDAY: (11, 14),
    TimeWindow.AFTERNOON: (14, 17),
    TimeWindow.EVENING: (17, 21),
}


class Arm(BaseModel):
    """One choice the agent can make: a channel in a time window."""

    model_config = ConfigDict(frozen=True)

    channel: Channel
    window: TimeWindow

    @property
    def key(self) -> str:
        return f"{self.channel.value}@{self.window.value}"


# Balance bands (account currency): (upper bound exclusive, label); the last is open.
_BANDS: tuple[tuple[Decimal, str], ...] = (
    (Decimal(250), "bal-0-250"),
    (Decimal(1000), "bal-250-1000"),
    (Decimal(3000), "bal-1000-3000"),
)
_TOP_BAND = "bal-3000-plus"


def segment_of(account: Account) -> str:
    """The account's segment, e.g. ``bal-250-1000:en``.

    Only features the creditor gave us and the debtor can see on the letter
    (balance band, language): nothing inferred about the person, so two debtors
    are treated differently only for what their accounts say.
    """
    band = next((label for bound, label in _BANDS if account.amount_due < bound), _TOP_BAND)
    return f"{band}:{account.language}"


def window_of(local_hour: int) -> TimeWindow | None:
    """The window holding ``local_hour`` (0–23); None outside the convenient hours."""
    for window, (start, end) in _HOURS.items():
        if start <= local_hour < end:
            return window
    return None


# How far ahead next_window_start looks: a window starts within 24 h of local time,
# plus a DST change (or a skipped day, as Samoa did in 2011).
_HORIZON = timedelta(hours=50)
_STEP = timedelta(hours=1)


def next_window_start(window: TimeWindow, now: datetime, zone: str) -> datetime:
    """The earliest instant (UTC) at or after ``now`` when local time in ``zone`` is in
    ``window``: ``now`` itself if it already is.

    Exact across DST changes: the span ahead is cut where the zone's UTC offset
    changes, and within each piece local time is UTC plus one offset. So a window
    start that falls in a spring-forward gap begins when the clocks jump, and one
    repeated by a fall-back begins the first time it comes.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    tz = ZoneInfo(zone)
    start_hour, end_hour = window.hours()
    now = now.astimezone(UTC)
    # Pieces [a, b) of constant offset, from now to the horizon.
    cuts = [now]
    probe = now
    while probe < now + _HORIZON:
        following = probe + _STEP
        if _offset(following, tz) != _offset(probe, tz):
            cuts.append(_change_between(probe, following, tz))
        probe = following
    cuts.append(probe)
    for a, b in itertools.pairwise(cuts):
        if a >= b:
            continue
        offset = _offset(a, tz)
        local = (a + offset).replace(tzinfo=None)
        if start_hour <= local.hour < end_hour:
            return a
        day: date = local.date() if local.hour < start_hour else local.date() + timedelta(days=1)
        start = datetime.combine(day, time(start_hour)).replace(tzinfo=UTC) - offset
        if start < b:
            return start
    raise ValueError(f"{zone} never enters {window} within {_HORIZON}")  # pragma: no cover


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _change_between(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (before, after] with ``after``'s offset (one change between)."""
    low, high = before, after
    target = _offset(after, tz)
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if _offset(middle, tz) == target:
            high = middle
        else:
            low = middle
    return high


class ArmStats(BaseModel):
    """What an arm has done in one segment: contacts made, the sum of their positive
    rewards, and the harm done: how many contacts led to an opt-out, a dispute or a
    complaint (``harmed``) and the sum of their negative rewards, as a positive number
    (``penalty``)."""

    arm: Arm
    trials: float = Field(ge=0)
    reward: float = Field(ge=0)  # the sum of positive rewards, each in [0, 1]
    harmed: float = Field(default=0, ge=0)
    penalty: float = Field(default=0, ge=0)


OutcomeKind = Literal["payment", "promise", "reply", "none", "opt_out", "dispute", "complaint"]
# What costs the debtor relationship: a channel closed for good, a dispute, a complaint.
HARMS: frozenset[str] = frozenset({"opt_out", "dispute", "complaint"})

# What a contact led to within N days, worth most when money came in. A promise is
# worth half (many are kept, not all); a reply shows the channel and hour reached
# the debtor, a weak signal but a frequent one. Harms are the tenant's (``reward_of``).
REWARDS: dict[str, float] = {"payment": 1.0, "promise": 0.5, "reply": 0.2, "none": 0.0}
# The most a harm may cost, in payments: a Tenant's penalties are bounded by it.
MAX_PENALTY = 10.0


def reward_of(kind: OutcomeKind, tenant: Tenant) -> float:
    """A contact's reward for what it led to: ``REWARDS``, or the tenant's (negative)
    reward for an opt-out, a dispute or a complaint."""
    if kind == "opt_out":
        return tenant.opt_out_penalty
    if kind == "dispute":
        return tenant.dispute_penalty
    if kind == "complaint":
        return tenant.complaint_penalty
    return REWARDS[kind]


def worse(kind: OutcomeKind, than: OutcomeKind, tenant: Tenant) -> bool:
    """Whether ``kind`` is what a contact that led to both should count as.

    A payment wins over everything (money came in); below it, harm wins over a promise
    or a reply (an opt-out after a reply is an opt-out), the costlier harm over the
    other; then promise > reply > nothing. A harm the tenant prices at 0 is not counted.
    """
    return _rank(kind, tenant) > _rank(than, tenant)


def _rank(kind: OutcomeKind, tenant: Tenant) -> float:
    if kind == "payment":
        return MAX_PENALTY + 10
    if kind in HARMS:
        cost = -reward_of(kind, tenant)
        return 3 + cost if cost > 0 else -1
    return {"none": 0, "reply": 1, "promise": 2}[kind]


class ActionOutcome(BaseModel):
    """One contact's result, to learn from."""

    outcome_id: str = Field(min_length=1, max_length=300)  # one per contact: recorded once
    tenant_id: str
    segment: str = Field(min_length=1, max_length=128)
    arm: Arm
    # reward_of(kind), unless the caller weighs otherwise; negative for a harm.
    reward: float = Field(ge=-MAX_PENALTY, le=1)
    kind: OutcomeKind


class ActionTrial(BaseModel):
    """A contact just made, whose outcome is not known yet (``ActionOutcome`` later).

    The channel agent opens it when the contact went out, and it counts as a trial
    with no reward until its outcome is recorded (by the same id): so the statistics
    hold every contact from the moment it is made, not only the early payers whose
    outcome is known first, and a non-outcome counts from the start instead of only
    once its attribution window has run out.
    """

    outcome_id: str = Field(min_length=1, max_length=300)
    tenant_id: str
    segment: str = Field(min_length=1, max_length=128)
    arm: Arm


class ActionChoiceRequest(BaseModel):
    """The input of the ``choose_next_action`` activity."""

    tenant_id: str
    account_id: str
    segment: str
    # Channels allowed now (consent, a contact point, not opted out): never empty.
    channels: list[Channel] = Field(min_length=1)
    # Same seed, same choice: an activity retry or a workflow replay draws the same arm.
    seed: str
    # Outcomes to record before choosing: saves the workflow an activity.
    settled: list[ActionOutcome] = Field(default_factory=list)
    exploration: float = Field(default=0.1, ge=0, le=1)
    # What the fixed cadence would do now (the step's channel, the window it would go
    # in): kept unless another arm is better with confidence (``choose``). None: no such
    # arm among ``channels`` (and requests from before it).
    playbook_arm: Arm | None = None


class ActionChoice(BaseModel):
    arm: Arm
    explored: bool  # drawn uniformly at random, not from what has worked
    kept_playbook: bool = False  # Thompson sampling preferred another arm, without confidence
    expected: float  # the chosen arm's posterior mean reward
    reason: str


class OutcomesToRecord(BaseModel):
    """The input of the ``record_action_outcomes`` activity."""

    outcomes: list[ActionOutcome]


def choose(
    stats: list[ArmStats],
    channels: list[Channel],
    seed: str,
    exploration: float,
    *,
    segment: str | None = None,
    prior: list[ArmStats] | None = None,
    playbook_arm: Arm | None = None,
) -> ActionChoice:
    """Draw an arm among ``channels`` × every window.

    With probability ``exploration``, an arm uniformly at random (``explored``);
    otherwise Thompson sampling: one draw from each arm's Beta(1 + reward,
    3 + trials - reward) posterior, less what the arm costs, the highest wins. Thompson
    sampling explores on its own while arms are uncertain, and less as they are learnt;
    the uniform share keeps every allowed arm tried now and then (a channel's results
    can change), and is never more than ``exploration``. ``segment`` only goes into the
    reason.

    Once any arm of the tenant has done harm (contacts that led to an opt-out, a dispute
    or a complaint), every arm's score costs a second draw, from the posterior of its
    harm rate (Beta(1 + harmed, 3 + trials - harmed) for the playbook's arm; the others
    start from the playbook's, as for reward), times the mean penalty of a harm: so an
    arm's score is, on average, what a contact by it earns less what it costs, and an
    arm that buys payments with opt-outs loses to one that gets fewer payments without
    them, while an arm nobody tried is not taken for harmless.

    ``prior`` (the tenant's arms over every segment, this one's included) shrinks a
    segment's arms toward what the arm does in the other segments, worth at most
    ``PRIOR_WEIGHT`` contacts: a new segment starts from what works for everyone, not
    from a coin toss, and its own results take over as they accumulate (empirical
    Bayes). The segment's own contacts are taken out of it, so none counts twice.

    ``playbook_arm`` (what the fixed cadence would do now) is the default, and the
    prior: every other arm starts from what the playbook's earns (worth as many
    contacts as the default Beta(1, 3)), so an arm nobody tried is as good a guess as
    the playbook's, not better. Only an arm that beats the playbook's with probability
    ``SWITCH_CONFIDENCE`` or more (``SWITCH_DRAWS`` paired draws of both scores, from a
    generator of their own) may replace it, and among those Thompson sampling chooses
    (the arms drawn above the playbook's are judged, highest draw first). Early on, when
    every arm is a guess, the campaign therefore does what the playbook says rather
    than follow noise; where the playbook is already right the agent costs only its
    uniform share; where another arm is clearly better, an arm little tried that
    happens to draw higher does not hide it.
    """
    if not channels:
        raise ValueError("no channel allowed: nothing to choose")
    if not 0 <= exploration <= 1:
        raise ValueError(f"exploration must be in [0, 1], got {exploration}")
    allowed = list(dict.fromkeys(channels))  # deduplicated, in the caller's order
    arms = [Arm(channel=channel, window=window) for channel in allowed for window in TimeWindow]
    known = _add_up(stats)
    # The tenant's arms hold the segment's own contacts: the prior is what the arm did in
    # the other segments, or a segment's one lucky contact would count twice (as its own
    # and again as the prior) and move its arm as far as two.
    tenant = _add_up(prior or [])
    pooled = {arm: _less(sums, known.get(arm, _NONE)) for arm, sums in tenant.items()}

    def shrunk(alpha: float, beta: float, trials: float, successes: float) -> tuple[float, float]:
        if trials > 0:
            weight = min(trials, PRIOR_WEIGHT)
            mean = max(0.0, min(1.0, successes / trials))
            alpha, beta = alpha + weight * mean, beta + weight * (1 - mean)
        return alpha, beta

    def posterior_from(arm: Arm, prior: tuple[float, float]) -> tuple[float, float]:
        own, elsewhere = known.get(arm, _NONE), pooled.get(arm, _NONE)
        return shrunk(
            *_posterior(own.trials, own.reward, prior), elsewhere.trials, elsewhere.reward
        )

    # Every other arm starts from what the playbook's earns, worth as many contacts as the
    # default prior: an arm nobody tried is a guess as good as the playbook's, not better,
    # so Thompson sampling leaves the playbook for evidence, not for hope.
    default = (PRIOR_ALPHA, PRIOR_BETA)
    start = default
    if playbook_arm is not None and playbook_arm in arms:
        a, b = posterior_from(playbook_arm, default)
        w = PLAYBOOK_PRIOR_WEIGHT / (a + b)
        start = a * w, b * w

    def posterior(arm: Arm) -> tuple[float, float]:
        return posterior_from(arm, default if arm == playbook_arm else start)

    # Harm is judged like reward: once any arm has done harm, every arm's harm rate has a
    # posterior, and an arm nobody tried starts from the playbook's (worth as many
    # contacts as the default prior), not from harmless. Judging only the arms that had
    # done harm made one early opt-out on the playbook's arm (a harm in five contacts)
    # send four choices in five to arms never tried, whose harm was simply not known yet.
    harmful = [s for s in (tenant or known).values() if s.harmed > 0 and s.penalty > 0]
    mean_penalty = (
        sum(s.penalty for s in harmful) / sum(s.harmed for s in harmful) if harmful else None
    )

    def harm_from(arm: Arm, prior: tuple[float, float]) -> tuple[float, float]:
        own, elsewhere = known.get(arm, _NONE), pooled.get(arm, _NONE)
        return shrunk(
            *_posterior(own.trials, own.harmed, prior), elsewhere.trials, elsewhere.harmed
        )

    harm_start = default
    if playbook_arm is not None and playbook_arm in arms:
        a, b = harm_from(playbook_arm, default)
        w = PLAYBOOK_PRIOR_WEIGHT / (a + b)
        harm_start = a * w, b * w

    def harm(arm: Arm) -> tuple[float, float, float] | None:
        """The harm rate's posterior and the mean penalty of a harm; None: no arm has
        done harm yet."""
        if mean_penalty is None:
            return None
        # The arm's mean penalty over the tenant's segments where it has done harm, else
        # the tenant's over every arm.
        seen = tenant.get(arm, _NONE)
        per_harm = seen.penalty / seen.harmed if seen.harmed > 0 and seen.penalty > 0 else None
        alpha, beta = harm_from(arm, default if arm == playbook_arm else harm_start)
        return alpha, beta, per_harm if per_harm is not None else mean_penalty

    def score(arm: Arm, rng: random.Random) -> float:
        value = rng.betavariate(*posterior(arm))
        cost = harm(arm)
        if cost is not None:
            value -= rng.betavariate(cost[0], cost[1]) * cost[2]
        return value

    def better(arm: Arm, than: Arm) -> float:
        """How likely ``arm`` scores more than ``than`` (paired draws, seeded apart)."""
        paired = random.Random(_seed_of(f"{seed}/switch"))
        wins = sum(score(arm, paired) > score(than, paired) for _ in range(SWITCH_DRAWS))
        return wins / SWITCH_DRAWS

    rng = random.Random(_seed_of(seed))
    explored = rng.random() < exploration
    preferred: Arm | None = None  # what Thompson sampling chose, when the playbook's was kept
    confidence = 0.0
    if explored:
        arm = rng.choice(arms)
    else:
        draws = [score(a, rng) for a in arms]
        arm = arms[max(range(len(arms)), key=draws.__getitem__)]  # first of equals
        if playbook_arm is not None and playbook_arm in arms and arm != playbook_arm:
            # Only an arm known to beat the playbook's may replace it; Thompson sampling
            # chooses among those. Judging only the draw's winner would let an arm little
            # tried (a wide posterior, often the highest draw) hide one clearly better.
            # So the arms drawn above the playbook's are judged, highest draw first.
            winner, winner_odds = arm, 0.0
            arm = playbook_arm
            for i in sorted(range(len(arms)), key=lambda i: (-draws[i], i)):
                if arms[i] == playbook_arm:
                    break
                odds = better(arms[i], playbook_arm)
                if arms[i] == winner:
                    winner_odds = odds
                if odds >= SWITCH_CONFIDENCE:
                    arm, confidence = arms[i], odds
                    break
            if arm == playbook_arm:
                preferred, confidence = winner, winner_odds

    mine = known.get(arm, _NONE)
    alpha, beta = posterior(arm)
    expected = alpha / (alpha + beta)
    cost = harm(arm)
    if cost is not None:
        expected -= cost[0] / (cost[0] + cost[1]) * cost[2]
    over = f"{expected:.2f} expected reward over {mine.trials:g} contacts"
    if mine.harmed:
        over += f" ({mine.harmed:g} harmful)"
    if segment is not None:
        over += f" in segment {segment}"
    if explored:
        reason = (
            f"{arm.key}: explored (uniform among {len(arms)} allowed arms, "
            f"{exploration:.0%} of choices); {over}"
        )
    elif preferred is not None:
        reason = (
            f"{arm.key}: the playbook's, kept ({preferred.key} better with probability "
            f"{confidence:.2f} only, under {SWITCH_CONFIDENCE:.2f}); {over}"
        )
    else:
        reason = f"{arm.key}: {over}"
    return ActionChoice(
        arm=arm,
        explored=explored,
        kept_playbook=preferred is not None,
        expected=expected,
        reason=reason,
    )


class _Sums(BaseModel):
    trials: float = 0.0
    reward: float = 0.0
    harmed: float = 0.0
    penalty: float = 0.0


_NONE = _Sums()


def _less(sums: _Sums, part: _Sums) -> _Sums:
    """``sums`` without ``part`` (which it holds), never below zero."""
    return _Sums(
        trials=max(0.0, sums.trials - part.trials),
        reward=max(0.0, sums.reward - part.reward),
        harmed=max(0.0, sums.harmed - part.harmed),
        penalty=max(0.0, sums.penalty - part.penalty),
    )


def _add_up(stats: list[ArmStats]) -> dict[Arm, _Sums]:
    sums: dict[Arm, _Sums] = {}
    for stat in stats:
        was = sums.get(stat.arm, _NONE)
        sums[stat.arm] = _Sums(
            trials=was.trials + stat.trials,
            reward=was.reward + stat.reward,
            harmed=was.harmed + stat.harmed,
            penalty=was.penalty + stat.penalty,
        )
    return sums


# How many contacts' worth the tenant-wide prior weighs at most in a segment's arm.
PRIOR_WEIGHT = 4.0
# How sure the agent must be that an arm beats the playbook's before it departs from the
# playbook, and with how many paired draws it finds out (``choose``).
SWITCH_CONFIDENCE = 0.8
SWITCH_DRAWS = 200
# How many contacts' worth the playbook's arm weighs as the prior of every other arm.
PLAYBOOK_PRIOR_WEIGHT = 4.0


# The prior of an arm nobody tried: Beta(1, 3), a mean reward of 0.25. Contacts earn
# far less than 0.5 on average, and a uniform Beta(1, 1) would make every untried arm
# look better than any arm that works, so the first contacts would all be spent on
# exploring.
PRIOR_ALPHA, PRIOR_BETA = 1.0, 3.0


def _posterior(
    trials: float, reward: float, prior: tuple[float, float] = (PRIOR_ALPHA, PRIOR_BETA)
) -> tuple[float, float]:
    # Rewards are in [0, 1], so reward <= trials; clamp anyway, a Beta needs both > 0.
    reward = max(0.0, reward)
    return prior[0] + reward, prior[1] + max(0.0, trials - reward)


def _seed_of(seed: str) -> int:
    # hashlib, not hash(): str hashes differ between processes (PYTHONHASHSEED).
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
