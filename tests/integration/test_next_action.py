"""The next-best-action agent: its choice, its learning (SQLite and PostgreSQL), its send times."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from temporalio.testing import ActivityEnvironment

from activities.next_action import NextActionAgent
from adapters.action_stats import ATTRIBUTION, OPEN_TRIAL_DAYS, ActionStats
from domain.channels import Channel
from domain.next_action import (
    REWARDS,
    ActionChoiceRequest,
    ActionOutcome,
    ActionTrial,
    Arm,
    ArmStats,
    OutcomesToRecord,
    TimeWindow,
    choose,
    next_window_start,
    segment_of,
    window_of,
)
from tests.conftest import make_account
from tests.portfolio_support import POSTGRES_URL

SEGMENT = "bal-250-1000:en"
ALL = [Channel.EMAIL, Channel.SMS, Channel.PHONE]
SMS_EVENING = Arm(channel=Channel.SMS, window=TimeWindow.EVENING)
EMAIL_MORNING = Arm(channel=Channel.EMAIL, window=TimeWindow.MORNING)


# --- the store ----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'recoup.db'}"
    return POSTGRES_URL


@pytest.fixture
def tenant(database_url: str) -> Iterator[str]:
    """A tenant id no other test (or earlier run) uses; its rows (and those of tenants
    whose id starts with it) are deleted afterwards."""
    tenant_id = f"test-{uuid.uuid4().hex[:12]}"
    yield tenant_id
    if database_url.startswith("postgresql"):  # a SQLite file dies with tmp_path
        engine = create_engine(database_url)
        with engine.begin() as connection:
            for table in ("nba_arm_stats", "nba_outcomes", "nba_trials"):
                connection.execute(
                    text(f"DELETE FROM {table} WHERE tenant_id LIKE :t"), {"t": f"{tenant_id}%"}
                )
        engine.dispose()


@pytest.fixture
def store(database_url: str, tenant: str) -> Iterator[ActionStats]:
    store = ActionStats(database_url)
    store.create_tables()
    yield store
    store.dispose()


def outcome(
    tenant: str, arm: Arm, kind: str, segment: str = SEGMENT, outcome_id: str | None = None
) -> ActionOutcome:
    return ActionOutcome(
        outcome_id=outcome_id or f"{tenant}:{uuid.uuid4().hex}",
        tenant_id=tenant,
        segment=segment,
        arm=arm,
        reward=REWARDS[kind],
        kind=kind,
    )


def by_key(stats: list[ArmStats]) -> dict[str, tuple[float, float]]:
    return {s.arm.key: (s.trials, round(s.reward, 9)) for s in stats}  # float sums


def test_recording_adds_up_per_arm_and_twice_counts_once(store: ActionStats, tenant: str) -> None:
    paid = outcome(tenant, SMS_EVENING, "payment")
    batch = [paid, outcome(tenant, SMS_EVENING, "reply"), outcome(tenant, EMAIL_MORNING, "none")]
    assert store.record(batch) == 3
    assert store.record(batch) == 0  # an activity retry
    assert store.record([paid, paid, outcome(tenant, SMS_EVENING, "promise")]) == 1
    assert by_key(store.stats(tenant, SEGMENT)) == {
        "email@morning": (1.0, 0.0),
        "sms@evening": (3.0, 1.7),
    }
    assert store.record([]) == 0


def test_stats_persist_across_instances(database_url: str, store: ActionStats, tenant: str) -> None:
    first = outcome(tenant, SMS_EVENING, "payment")
    store.record([first])
    again = ActionStats(database_url)  # another campaign, another worker
    try:
        again.create_tables()
        assert by_key(again.stats(tenant, SEGMENT)) == {"sms@evening": (1.0, 1.0)}
        assert again.record([first]) == 0
    finally:
        again.dispose()


def test_segments_and_tenants_are_isolated(store: ActionStats, tenant: str) -> None:
    other_tenant = f"{tenant}-b"  # deleted with ``tenant`` (same prefix)
    store.record(
        [
            outcome(tenant, SMS_EVENING, "payment"),
            outcome(tenant, EMAIL_MORNING, "reply", segment="bal-3000-plus:es"),
            outcome(other_tenant, SMS_EVENING, "none"),
        ]
    )
    assert by_key(store.stats(tenant, SEGMENT)) == {"sms@evening": (1.0, 1.0)}
    assert by_key(store.stats(tenant, "bal-3000-plus:es")) == {"email@morning": (1.0, 0.2)}
    assert by_key(store.stats(other_tenant, SEGMENT)) == {"sms@evening": (1.0, 0.0)}
    assert store.stats(tenant, "bal-0-250:en") == []


def test_concurrent_workers_recording_the_same_outcomes_count_each_once(
    database_url: str, store: ActionStats, tenant: str
) -> None:
    batch = [outcome(tenant, SMS_EVENING, "payment") for _ in range(20)]
    batch += [outcome(tenant, EMAIL_MORNING, "reply") for _ in range(20)]
    stores = [ActionStats(database_url) for _ in range(4)]
    applied: list[int] = []
    errors: list[BaseException] = []

    def work(worker: ActionStats, index: int) -> None:
        try:  # each worker sees the batch in its own order
            applied.append(worker.record(batch[index:] + batch[:index]))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [
        threading.Thread(target=work, args=(worker, 10 * i)) for i, worker in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker in stores:
        worker.dispose()
    assert errors == []
    assert sum(applied) == 40
    assert by_key(store.stats(tenant, SEGMENT)) == {
        "email@morning": (20.0, 4.0),
        "sms@evening": (20.0, 20.0),
    }


def trial_of(made: ActionOutcome) -> ActionTrial:
    """The trial the channel agent opened when it made the contact ``made`` is the outcome of."""
    return ActionTrial(
        outcome_id=made.outcome_id, tenant_id=made.tenant_id, segment=made.segment, arm=made.arm
    )


NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def test_a_contact_counts_from_the_moment_it_is_made_and_once(
    store: ActionStats, tenant: str
) -> None:
    paid = outcome(tenant, SMS_EVENING, "payment")
    nothing = outcome(tenant, EMAIL_MORNING, "none")
    assert store.open(trial_of(paid), NOW - timedelta(days=4))
    assert store.open(trial_of(nothing), NOW - timedelta(days=3))
    assert not store.open(trial_of(paid), NOW - timedelta(days=3))  # an activity retry
    # Open: a trial each (their attribution windows have passed), with no reward yet; in
    # the segment and in the tenant's prior.
    assert by_key(store.stats(tenant, SEGMENT, NOW)) == {
        "email@morning": (1.0, 0.0),
        "sms@evening": (1.0, 0.0),
    }
    assert by_key(store.pooled(tenant, NOW)) == by_key(store.stats(tenant, SEGMENT, NOW))
    # Its outcome replaces the open trial: still one contact, now with its reward.
    assert store.record([paid]) == 1
    assert by_key(store.stats(tenant, SEGMENT, NOW)) == {
        "email@morning": (1.0, 0.0),
        "sms@evening": (1.0, 1.0),
    }
    # Recorded already: a late retry of the send does not open it again.
    assert not store.open(trial_of(paid), NOW)
    assert store.record([paid, nothing]) == 1
    assert by_key(store.stats(tenant, SEGMENT, NOW)) == {
        "email@morning": (1.0, 0.0),
        "sms@evening": (1.0, 1.0),
    }


def test_a_young_trial_counts_for_the_share_of_its_window_that_has_passed(
    store: ActionStats, tenant: str
) -> None:
    """Most of a contact's outcome may be still to come a few hours after it was made:
    counted as a whole trial that earned nothing, it would make the arm used last look
    worse than it is."""
    made = [outcome(tenant, SMS_EVENING, "none") for _ in range(3)]
    store.open(trial_of(made[0]), NOW - ATTRIBUTION / 3)
    store.open(trial_of(made[1]), NOW - ATTRIBUTION / 2)
    store.open(trial_of(made[2]), NOW - 2 * ATTRIBUTION)
    [arm] = store.stats(tenant, SEGMENT, NOW)
    assert arm.trials == pytest.approx(1 / 3 + 1 / 2 + 1)
    assert store.pooled(tenant, NOW)[0].trials == pytest.approx(arm.trials)
    # Nothing has passed of a window that opens now.
    assert store.stats(tenant, SEGMENT, NOW - 2 * ATTRIBUTION + timedelta(microseconds=1))[
        0
    ].trials == pytest.approx(0, abs=1e-3)


def test_open_trials_count_as_of_a_moment_and_not_for_ever(store: ActionStats, tenant: str) -> None:
    made = [outcome(tenant, SMS_EVENING, "none") for _ in range(3)]
    earlier = NOW - timedelta(days=OPEN_TRIAL_DAYS)
    abandoned = earlier - timedelta(hours=1)  # its campaign was terminated
    store.open(trial_of(made[0]), abandoned)
    assert by_key(store.stats(tenant, SEGMENT, abandoned + ATTRIBUTION)) == {
        "sms@evening": (1.0, 0.0)
    }
    assert store.stats(tenant, SEGMENT, NOW) == []  # too old to count any more
    store.open(trial_of(made[1]), NOW - ATTRIBUTION)
    store.open(trial_of(made[2]), NOW + timedelta(hours=1))  # after the moment asked about
    assert by_key(store.stats(tenant, SEGMENT, NOW)) == {"sms@evening": (1.0, 0.0)}
    later = NOW + timedelta(hours=1) + ATTRIBUTION
    assert by_key(store.stats(tenant, SEGMENT, later)) == {"sms@evening": (2.0, 0.0)}
    # The tenant's next trial opened deleted the abandoned one.
    assert store.stats(tenant, SEGMENT, abandoned + ATTRIBUTION) == []
    # Other tenants' and segments' trials are theirs.
    other = outcome(f"{tenant}-b", SMS_EVENING, "none", segment="bal-3000-plus:es")
    store.open(trial_of(other), NOW - ATTRIBUTION)
    assert by_key(store.stats(tenant, SEGMENT, NOW)) == {"sms@evening": (1.0, 0.0)}
    assert store.stats(tenant, "bal-3000-plus:es", NOW) == []
    assert by_key(store.stats(f"{tenant}-b", "bal-3000-plus:es", NOW)) == {
        "sms@evening": (1.0, 0.0)
    }


# --- the agent (activities, real database) -----------------------------------------


async def test_the_agent_learns_which_arm_pays(store: ActionStats, tenant: str) -> None:
    agent = NextActionAgent(store)
    env = ActivityEnvironment()
    # Every arm tried; SMS in the evening pays far more often than anything else.
    history: list[ActionOutcome] = []
    for channel in ALL:
        for window in TimeWindow:
            arm = Arm(channel=channel, window=window)
            good = ["promise", "payment"] * 15
            bad = ["reply"] * 3 + ["none"] * 27
            for kind in good if arm == SMS_EVENING else bad:
                history.append(outcome(tenant, arm, kind))
    assert await env.run(agent.record, OutcomesToRecord(outcomes=history)) == len(history)
    assert await env.run(agent.record, OutcomesToRecord(outcomes=history)) == 0

    choices = [
        await env.run(
            agent.choose,
            ActionChoiceRequest(
                tenant_id=tenant,
                account_id="A-1",
                segment=SEGMENT,
                channels=ALL,
                seed=f"A-1:step-{i}",
                exploration=0.1,
            ),
        )
        for i in range(200)
    ]
    chosen = sum(c.arm == SMS_EVENING for c in choices)
    assert chosen >= 0.8 * len(choices)
    exploited = [c for c in choices if not c.explored]
    assert all(c.arm == SMS_EVENING for c in exploited)
    best = next(c for c in exploited)
    # The segment's own results alone: the tenant's other segments, the prior, have none
    # (the tenant's arms hold the same contacts, which must not count twice).
    assert best.expected == pytest.approx((1 + 22.5) / (1 + 3 + 30))
    assert best.reason.startswith("sms@evening: 0.69 expected reward over 30 contacts")
    assert SEGMENT in best.reason


def email_choice(tenant: str, settled: list[ActionOutcome]) -> ActionChoiceRequest:
    """A greedy choice among email's windows that first records ``settled``."""
    return ActionChoiceRequest(
        tenant_id=tenant,
        account_id="A-1",
        segment=SEGMENT,
        channels=[Channel.EMAIL],
        seed="A-1:step-3",
        settled=settled,
        exploration=0.0,
    )


async def test_choose_records_the_settled_outcomes_first_and_once(
    store: ActionStats, tenant: str
) -> None:
    agent = NextActionAgent(store)
    settled = [outcome(tenant, EMAIL_MORNING, "payment") for _ in range(5)]
    request = email_choice(tenant, settled)
    first = await ActivityEnvironment().run(agent.choose, request)
    retried = await ActivityEnvironment().run(agent.choose, request)  # the same attempt again
    assert retried == first
    assert first.arm.channel is Channel.EMAIL
    assert by_key(store.stats(tenant, SEGMENT)) == {"email@morning": (5.0, 5.0)}


async def test_a_choice_counts_the_trials_opened_before_it(store: ActionStats, tenant: str) -> None:
    """Early payers are not all there is: the contacts still open weigh against them."""
    agent = NextActionAgent(store)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, current_attempt_scheduled_time=NOW)
    paid = [outcome(tenant, EMAIL_MORNING, "payment") for _ in range(2)]
    pending = [outcome(tenant, EMAIL_MORNING, "none") for _ in range(38)]
    for made in paid + pending:
        store.open(trial_of(made), NOW - ATTRIBUTION)
    # The other windows were tried before and led nowhere.
    store.record(
        [
            outcome(tenant, Arm(channel=Channel.EMAIL, window=window), "none")
            for window in TimeWindow
            if window is not TimeWindow.MORNING
            for _ in range(40)
        ]
    )
    choice = await env.run(agent.choose, email_choice(tenant, paid))
    # Two payments over forty contacts, not over two.
    assert choice.arm == EMAIL_MORNING
    assert "over 40 contacts" in choice.reason
    assert choice.expected < 0.15


# --- the choice (pure) ---------------------------------------------------------------


def learnt(arm: Arm, trials: float, reward: float) -> ArmStats:
    return ArmStats(arm=arm, trials=trials, reward=reward)


def test_the_same_seed_chooses_the_same_arm() -> None:
    stats = [learnt(SMS_EVENING, 10, 3), learnt(EMAIL_MORNING, 10, 2)]
    for i in range(50):
        seed = f"acct:{i}"
        assert choose(stats, ALL, seed, 0.3) == choose(list(stats), list(ALL), seed, 0.3)
    assert len({choose(stats, ALL, f"acct:{i}", 0.3).arm for i in range(50)}) > 1


def test_only_allowed_channels_are_chosen() -> None:
    # Phone pays best, but the debtor gave no voice consent.
    phone = Arm(channel=Channel.PHONE, window=TimeWindow.MIDDAY)
    stats = [learnt(phone, 100, 90), learnt(SMS_EVENING, 100, 5)]
    for i in range(300):
        choice = choose(stats, [Channel.EMAIL, Channel.SMS], f"s{i}", 0.5)
        assert choice.arm.channel in {Channel.EMAIL, Channel.SMS}
    assert {choose(stats, [Channel.SMS], f"s{i}", 1.0).arm.channel for i in range(50)} == {
        Channel.SMS
    }


def test_exploration_is_bounded() -> None:
    stats = [learnt(SMS_EVENING, 50, 40)]
    n = 4000
    for rate in (0.05, 0.1, 0.3):
        explored = sum(choose(stats, ALL, f"seed-{i}", rate).explored for i in range(n))
        assert abs(explored / n - rate) < 4 * (rate * (1 - rate) / n) ** 0.5 + 0.005
    assert not any(choose(stats, ALL, f"seed-{i}", 0.0).explored for i in range(n))
    explored_choice = next(
        c for c in (choose(stats, ALL, f"x{i}", 0.5) for i in range(100)) if c.explored
    )
    assert "explored" in explored_choice.reason


def test_without_data_every_allowed_arm_gets_a_chance() -> None:
    arms = {choose([], ALL, f"fresh-{i}", 0.0).arm for i in range(2000)}
    assert len(arms) == len(ALL) * len(TimeWindow)
    fresh = choose([], ALL, "fresh-0", 0.0)
    assert fresh.expected == 0.25  # the prior of an arm nobody tried
    assert "over 0 contacts" in fresh.reason


SMS_MORNING = Arm(channel=Channel.SMS, window=TimeWindow.MORNING)


def test_the_playbooks_arm_is_kept_until_another_is_better_with_confidence() -> None:
    # Nothing learnt: every arm is a guess, and the playbook's is what the campaign does.
    fresh = [choose([], ALL, f"p{i}", 0.0, playbook_arm=SMS_MORNING) for i in range(300)]
    assert {c.arm for c in fresh} == {SMS_MORNING}
    kept = next(c for c in fresh if c.kept_playbook)
    assert "the playbook's, kept" in kept.reason and "probability" in kept.reason
    # A little evidence for the evening is not enough...
    weak = [learnt(SMS_EVENING, 6, 2), learnt(SMS_MORNING, 6, 1)]
    chosen = [choose(weak, ALL, f"w{i}", 0.0, playbook_arm=SMS_MORNING).arm for i in range(300)]
    assert chosen.count(SMS_MORNING) > 0.9 * len(chosen)
    # ...much is: the agent departs from the playbook where the playbook is wrong.
    every = [Arm(channel=ch, window=w) for ch in ALL for w in TimeWindow]
    strong = [learnt(a, 200, 60 if a == SMS_EVENING else 8) for a in every]
    chosen = [choose(strong, ALL, f"s{i}", 0.0, playbook_arm=SMS_MORNING).arm for i in range(300)]
    assert chosen.count(SMS_EVENING) > 0.9 * len(chosen)
    # Where the playbook is right, only the uniform share goes elsewhere.
    right = [learnt(SMS_MORNING, 200, 60), learnt(SMS_EVENING, 200, 8)]
    n = 2000
    elsewhere = sum(
        choose(right, ALL, f"r{i}", 0.05, playbook_arm=SMS_MORNING).arm != SMS_MORNING
        for i in range(n)
    )
    assert elsewhere / n < 0.06


def test_an_arm_nobody_tried_is_as_good_as_the_playbooks_not_better() -> None:
    """The playbook's arm has been tried and earns little, as most arms do: an untried
    arm is not preferred for being unknown (from a prior of 0.25 it would be, about four
    times in five), and once tried and better, it is."""
    tried = [learnt(SMS_MORNING, 40, 2)]
    chosen = [choose(tried, ALL, f"t{i}", 0.0, playbook_arm=SMS_MORNING) for i in range(300)]
    assert sum(c.arm == SMS_MORNING for c in chosen) > 0.95 * len(chosen)
    assert all(c.expected < 0.1 for c in chosen if c.arm == SMS_MORNING)
    better = [*tried, learnt(SMS_EVENING, 40, 8)]
    chosen = [choose(better, ALL, f"b{i}", 0.0, playbook_arm=SMS_MORNING) for i in range(300)]
    assert sum(c.arm == SMS_EVENING for c in chosen) > 0.8 * len(chosen)


PHONE_MORNING = Arm(channel=Channel.PHONE, window=TimeWindow.MORNING)
PHONE_AFTERNOON = Arm(channel=Channel.PHONE, window=TimeWindow.AFTERNOON)


def test_a_segments_one_lucky_contact_counts_once() -> None:
    """The tenant's arms (the prior) hold the segment's own contacts. One call in the
    afternoon that was paid, against one in the playbook's morning that was not, is one
    contact's evidence: counted again as the prior, it moved every call of a control
    portfolio's day to the afternoon, where its debtors answer a third as often."""
    segment = [learnt(PHONE_AFTERNOON, 1, 1), learnt(PHONE_MORNING, 1, 0)]
    chosen = [
        choose(segment, ALL, f"l{i}", 0.0, prior=segment, playbook_arm=PHONE_MORNING).arm
        for i in range(300)
    ]
    assert chosen.count(PHONE_MORNING) > 0.9 * len(chosen)
    # The same contacts made in another segment are a prior worth what they are.
    elsewhere = [learnt(PHONE_AFTERNOON, 40, 12), learnt(PHONE_MORNING, 40, 2)]
    pooled = [*elsewhere, *segment]
    chosen = [
        choose(segment, ALL, f"e{i}", 0.0, prior=pooled, playbook_arm=PHONE_MORNING).arm
        for i in range(300)
    ]
    assert chosen.count(PHONE_AFTERNOON) > 0.5 * len(chosen)


def test_an_arm_nobody_tried_is_no_less_harmful_than_the_playbooks() -> None:
    """One opt-out in the playbook's first five contacts says little about its harm rate,
    and nothing about the other arms': they start from the playbook's (as for reward), not
    from harmless, so the playbook's arm is kept. Judging only the arm that had done harm
    sent four choices in five to arms nobody had tried."""
    opted_out = [ArmStats(arm=PHONE_MORNING, trials=5, reward=0.5, harmed=1, penalty=1)]
    chosen = [
        choose(opted_out, ALL, f"h{i}", 0.0, playbook_arm=PHONE_MORNING).arm for i in range(300)
    ]
    assert chosen.count(PHONE_MORNING) > 0.9 * len(chosen)
    # Harm that is known still decides: an arm that opts out one contact in ten loses.
    harmful = [
        ArmStats(arm=PHONE_MORNING, trials=200, reward=30, harmed=20, penalty=20),
        learnt(PHONE_AFTERNOON, 200, 24),
    ]
    chosen = [
        choose(harmful, [Channel.PHONE], f"k{i}", 0.0, playbook_arm=PHONE_MORNING).arm
        for i in range(300)
    ]
    assert chosen.count(PHONE_AFTERNOON) > 0.9 * len(chosen)


def test_the_playbooks_arm_binds_only_when_its_channel_is_allowed() -> None:
    phone = Arm(channel=Channel.PHONE, window=TimeWindow.MORNING)
    for i in range(100):
        choice = choose([], [Channel.EMAIL, Channel.SMS], f"n{i}", 0.0, playbook_arm=phone)
        assert choice.arm.channel in {Channel.EMAIL, Channel.SMS} and not choice.kept_playbook
    # And the same seed still makes the same choice.
    assert choose([], ALL, "same", 0.0, playbook_arm=phone) == choose(
        [], ALL, "same", 0.0, playbook_arm=phone
    )


def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError):
        choose([], [], "s", 0.1)
    with pytest.raises(ValueError):
        choose([], ALL, "s", 1.5)
    with pytest.raises(ValueError):
        ActionChoiceRequest(tenant_id="t", account_id="a", segment=SEGMENT, channels=[], seed="s")
    with pytest.raises(ValueError):
        ActionOutcome(
            outcome_id="o", tenant_id="t", segment=SEGMENT, arm=SMS_EVENING, reward=2, kind="none"
        )


# --- segments and windows ------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "language", "segment"),
    [
        ("10.00", "en", "bal-0-250:en"),
        ("249.99", "en", "bal-0-250:en"),
        ("250.00", "es", "bal-250-1000:es"),
        ("999.99", "en", "bal-250-1000:en"),
        ("1000.00", "en", "bal-1000-3000:en"),
        ("3000.00", "fr", "bal-3000-plus:fr"),
        ("125000.00", "en", "bal-3000-plus:en"),
    ],
)
def test_segment_of(amount: str, language: str, segment: str) -> None:
    account = make_account(amount_due=Decimal(amount), language=language)
    assert segment_of(account) == segment


def test_window_of_and_hours() -> None:
    assert [window_of(h) for h in (7, 8, 10, 11, 13, 14, 16, 17, 20, 21, 23, 0)] == [
        None,
        TimeWindow.MORNING,
        TimeWindow.MORNING,
        TimeWindow.MIDDAY,
        TimeWindow.MIDDAY,
        TimeWindow.AFTERNOON,
        TimeWindow.AFTERNOON,
        TimeWindow.EVENING,
        TimeWindow.EVENING,
        None,
        None,
        None,
    ]
    assert TimeWindow.EVENING.hours() == (17, 21)
    assert SMS_EVENING.key == "sms@evening"


NY = "America/New_York"


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "now", "zone", "expected"),
    [
        # 10:30 in New York (EST, UTC-5): already in the morning window.
        (TimeWindow.MORNING, utc(2026, 1, 15, 15, 30), NY, utc(2026, 1, 15, 15, 30)),
        # 10:30: the afternoon starts at 14:00 the same day.
        (TimeWindow.AFTERNOON, utc(2026, 1, 15, 15, 30), NY, utc(2026, 1, 15, 19, 0)),
        # 11:00 sharp is the end of the morning: tomorrow's.
        (TimeWindow.MORNING, utc(2026, 1, 15, 16, 0), NY, utc(2026, 1, 16, 13, 0)),
        # 22:00 local, across midnight (and the UTC date changed first).
        (TimeWindow.MORNING, utc(2026, 1, 16, 3, 0), NY, utc(2026, 1, 16, 13, 0)),
        # 23:30 in Tokyo (UTC+9), the next local day is another UTC day.
        (TimeWindow.EVENING, utc(2026, 1, 15, 14, 30), "Asia/Tokyo", utc(2026, 1, 16, 8, 0)),
        # Spring forward (8 March 2026, 02:00 EST -> 03:00 EDT): Saturday 22:00 EST to
        # Sunday 08:00 EDT is 9 hours, not 10.
        (TimeWindow.MORNING, utc(2026, 3, 8, 3, 0), NY, utc(2026, 3, 8, 12, 0)),
        # Fall back (1 November 2026): Saturday 22:00 EDT to Sunday 08:00 EST is 11 hours.
        (TimeWindow.MORNING, utc(2026, 11, 1, 2, 0), NY, utc(2026, 11, 1, 13, 0)),
        # Half-hour zone and a DST change at 02:00 (Lord Howe, +10:30 -> +11 in October).
        (
            TimeWindow.MORNING,
            utc(2026, 10, 3, 12, 0),
            "Australia/Lord_Howe",
            utc(2026, 10, 3, 21, 0),
        ),
    ],
)
def test_next_window_start(
    window: TimeWindow, now: datetime, zone: str, expected: datetime
) -> None:
    start = next_window_start(window, now, zone)
    assert start == expected
    assert start.tzinfo is not None and start.utcoffset() == timedelta(0)


def test_next_window_start_when_the_zone_skips_a_day() -> None:
    # Samoa skipped 30 December 2011 entirely, the morning after 29 December is the 31st's.
    start = next_window_start(TimeWindow.MORNING, utc(2011, 12, 29, 22, 0), "Pacific/Apia")
    local = start.astimezone(ZoneInfo("Pacific/Apia"))
    assert (local.date().isoformat(), local.hour, local.minute) == ("2011-12-31", 8, 0)


def test_next_window_start_needs_an_aware_now() -> None:
    with pytest.raises(ValueError):
        next_window_start(TimeWindow.MORNING, datetime(2026, 1, 1, 12), NY)


ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Pacific/Kiritimati",
    "UTC",
]


@settings(max_examples=300, deadline=None)
@given(
    window=st.sampled_from(list(TimeWindow)),
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES),
)
def test_next_window_start_is_the_next_instant_inside_the_window(
    window: TimeWindow, now: datetime, zone: str
) -> None:
    start = next_window_start(window, now, zone)
    assert now <= start < now + timedelta(hours=25)
    assert window_of(start.astimezone(ZoneInfo(zone)).hour) is window
    # The earliest such instant: a minute before, it was not yet inside (or before now).
    before = start - timedelta(minutes=1)
    assert start == now or window_of(before.astimezone(ZoneInfo(zone)).hour) is not window


async def test_a_new_segment_starts_from_what_works_for_the_tenant(
    store: ActionStats, tenant: str
) -> None:
    """Empirical Bayes: a segment never seen leans on the other segments' results."""
    agent = NextActionAgent(store)
    env = ActivityEnvironment()
    history = [
        outcome(tenant, Arm(channel=channel, window=window), kind)
        for channel in ALL
        for window in TimeWindow
        for kind in (
            ["payment"] * 20
            if (channel, window) == (SMS_EVENING.channel, SMS_EVENING.window)
            else ["none"] * 20
        )
    ]
    await env.run(agent.record, OutcomesToRecord(outcomes=history))
    fresh = [
        await env.run(
            agent.choose,
            ActionChoiceRequest(
                tenant_id=tenant,
                account_id="A-2",
                segment="bal-3000-plus:es",
                channels=ALL,
                seed=f"A-2:{i}",
                exploration=0.0,
            ),
        )
        for i in range(100)
    ]
    # Without the prior each of the 12 arms would win about 1 in 12 draws.
    assert sum(c.arm == SMS_EVENING for c in fresh) >= 40
