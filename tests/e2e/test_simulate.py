"""Debtor populations and ``recoup simulate``: file validation, behaviour, a real run."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import yaml

from adapters.playbook_files import load_playbook
from adapters.reply_reader import read_texts
from bootstrap.settings import Settings
from cli.simulate import simulate, simulation_start
from domain.account import Account, EmailContact, PhoneContact
from domain.channels import Channel
from domain.compliance.model import PastContact
from domain.policy import ContactPolicy
from domain.replies import ReplyIntent
from domain.replies.combined import ReplyText
from simulators import population as pop
from simulators.population import (
    BarredSince,
    Population,
    PopulationDebtors,
    PopulationError,
    ReactionKind,
    Segment,
    generate_debtors,
    population_json_schema,
    replay_compliance,
    window_of,
)
from tests.cli_support import ROOT
from tests.conftest import codec_settings
from tests.population_support import AS_OF, local, segment

HARMED = (ReactionKind.OPT_OUT, ReactionKind.COMPLAINT)

CARDS = ROOT / "populations" / "consumer-cards.yaml"
UTILITIES = ROOT / "populations" / "utilities.yaml"
BY_THE_BOOK = ROOT / "populations" / "by-the-book.yaml"


# --- the file -----------------------------------------------------------------------


def best_slot(s: Segment) -> tuple[Channel, pop.HourWindow]:
    slots = [(c, w) for c in Channel for w in pop.HourWindow]
    return max(slots, key=lambda cw: s.channels.of(cw[0]) * s.hours.of(cw[1]))


def band(amount: Decimal) -> int:
    """The adaptive policy's balance bands: < 250, 250-1,000, 1,000-3,000, >= 3,000."""
    return sum(amount >= edge for edge in (250, 1000, 3000))


def test_shipped_populations_load_and_their_segments_differ() -> None:
    schema = json.loads(population_json_schema())
    for path in (CARDS, UTILITIES):
        assert path.read_text().startswith("# yaml-language-server: $schema=")
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
        population = Population.load(path)
        assert len(population.segments) >= 3
        # Each segment has its own best channel and time of day ...
        assert len({best_slot(s) for s in population.segments}) == len(population.segments)
        # ... and its own balance bands.
        bands = [
            set(range(band(s.balance.min), band(s.balance.max) + 1)) for s in population.segments
        ]
        for i, mine in enumerate(bands):
            assert not mine & set().union(*(b for k, b in enumerate(bands) if k != i))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "x", "segments": [segment(channels={"email": 1.5, "sms": 0, "phone": 0})]},
         "segments[0].channels.email"),
        ({"name": "x", "segments": [segment(balance={"min": 500, "max": 100})]},
         "segments[0].balance"),
        ({"name": "x", "segments": [segment(), segment(name="two", propensity=0.3)]},
         "segments[1].propensity"),
        ({"name": "x", "segments": [segment(propensity_to_pay=0.9)]}, "segments[0]"),
        ({"name": "x", "segments": [segment(hours={"morning": 1, "midday": 1})]},
         "segments[0].hours.afternoon"),
        ({"name": "x", "segments": []}, "segments"),
        ({"segments": [segment()]}, "name"),
    ],
)  # fmt: skip
def test_population_errors_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(PopulationError) as caught:
        Population.parse(data, source="pop.yaml")
    message = str(caught.value)
    assert message.startswith("pop.yaml: ")
    assert f" {field}" in message or f": {field}:" in message, message


def test_population_file_problems_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsegments: [\n")
    with pytest.raises(PopulationError, match=r"bad\.yaml: not valid YAML"):
        Population.load(bad)
    with pytest.raises(PopulationError, match="cannot read"):
        Population.load(tmp_path / "missing.yaml")


def test_generated_accounts_follow_their_segments() -> None:
    population = Population.load(UTILITIES)
    debtors = generate_debtors(population, 300, seed=4, as_of=AS_OF)
    assert debtors == generate_debtors(population, 300, seed=4, as_of=AS_OF)
    counts = {s.name: 0 for s in population.segments}
    for d in debtors:
        s = population.segment(d.segment)
        counts[d.segment] += 1
        assert s.balance.min <= d.account.amount_due <= s.balance.max
        assert d.account.language in s.language
    for s in population.segments:
        assert abs(counts[s.name] / 300 - s.share) < 0.1
    numbers = [p.number for d in debtors for p in d.account.phones]
    addresses = [e.address.lower() for d in debtors for e in d.account.emails]
    assert len(set(numbers)) == len(numbers) and len(set(addresses)) == len(addresses)


# --- behaviour ------------------------------------------------------------------------


def test_reactions_are_deterministic_per_seed() -> None:
    population = Population.load(CARDS)
    debtors = generate_debtors(population, 60, seed=1, as_of=AS_OF)

    def run(seed: int) -> list[tuple[str, int, str, list[str]]]:
        sim = PopulationDebtors(population, debtors, seed=seed)
        out = []
        for day, channel, hour in (
            (0, Channel.EMAIL, 9),
            (3, Channel.SMS, 19),
            (7, Channel.PHONE, 12),
        ):
            for d in debtors:
                r = sim.react(d.account.account_id, channel, local(d.account, hour, day))
                if r is not None:
                    actions = [a.model_dump_json() for a in r.actions]
                    out.append((r.account_id, r.contact, r.kind.value, actions))
        return out

    first = run(1)
    assert first and first == run(1)
    assert first != run(2)


def test_evening_sms_moves_young_card_holders_more_than_morning_email() -> None:
    population = Population.load(CARDS)
    young = [
        d
        for d in generate_debtors(population, 600, seed=3, as_of=AS_OF)
        if d.segment == "young-mobile"
    ]
    assert len(young) > 150

    def reactions(channel: Channel, hour: int) -> Counter[bool]:
        """Reactions by whether they harmed (an opt-out or a complaint) or not."""
        sim = PopulationDebtors(population, young, seed=3)
        reacted = (sim.react(d.account.account_id, channel, local(d.account, hour)) for d in young)
        return Counter(r.kind in HARMED for r in reacted if r is not None)

    evening_sms, morning_email = reactions(Channel.SMS, 19), reactions(Channel.EMAIL, 9)
    assert evening_sms.total() > 5 * max(morning_email.total(), 1)
    # At 23:00 (outside 08-21) nobody answers, but a text then annoys some.
    late = reactions(Channel.SMS, 23)
    assert late[False] == 0 and late[True] > 0


def test_hour_windows() -> None:
    assert window_of(time(7, 59)) is None
    assert window_of(time(8)) is pop.HourWindow.MORNING
    assert window_of(time(13, 59)) is pop.HourWindow.MIDDAY
    assert window_of(time(14)) is pop.HourWindow.AFTERNOON
    assert window_of(time(20, 59)) is pop.HourWindow.EVENING
    assert window_of(time(21)) is None


def test_debtor_texts_are_read_as_intended() -> None:
    received = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # a Monday
    expected: list[tuple[dict[str, tuple[str, ...]], ReplyIntent]] = [
        (pop._PROMISES, ReplyIntent.PROMISE_TO_PAY),
        (pop._DISPUTES, ReplyIntent.DISPUTE),
        (pop._QUESTIONS, ReplyIntent.CALLBACK),
        ({"en": (pop.STOP_TEXT,)}, ReplyIntent.STOP),
    ]
    for texts, intent in expected:
        for language, variants in texts.items():
            for text in variants:
                for channel in Channel:
                    # As campaigns read them: the combined reader, in the reader activity.
                    read = read_texts([ReplyText(text, received, channel)])[0]
                    reading = read.reading
                    assert reading.intent is intent, (language, text, channel, reading)
                    assert reading.confidence >= Settings().reply_review_below, (text, reading)
                    if intent is ReplyIntent.PROMISE_TO_PAY:
                        assert reading.promise_date is not None
                        assert reading.promise_date > received.date()


def test_kept_promises_pay_on_the_promised_day_and_disputes_get_verified() -> None:
    population = Population.parse(
        {
            "name": "promisers",
            "segments": [
                segment(
                    channels={"email": 1, "sms": 1, "phone": 1},
                    propensity_to_pay=0,
                    promise_rate=0.5,
                    promise_keeping=1,
                    opt_out_rate=0,
                    dispute_rate=0.5,
                )
            ],
        }
    )
    debtors = generate_debtors(population, 40, seed=5, as_of=AS_OF)
    sim = PopulationDebtors(population, debtors, seed=5)
    kinds = set()
    for d in debtors:
        at = local(d.account, 10)
        r = sim.react(d.account.account_id, Channel.EMAIL, at)
        assert r is not None
        kinds.add(r.kind)
        first, second = r.actions
        assert first.reply is not None and first.at > at
        if r.kind is ReactionKind.PROMISE:
            assert second.payment is not None
            assert second.payment.amount == d.account.amount_due
            promised = read_texts([ReplyText(first.reply.text, first.at)])[0].reading.promise_date
            zone = ZoneInfo(d.account.timezones[0])
            assert second.at.astimezone(zone).date() == promised
        else:
            assert r.kind is ReactionKind.DISPUTE
            assert second.legal is not None and second.at == first.at + pop.VERIFICATION_DELAY
        # Nothing more once paid (promised and kept) or disputed.
        assert sim.react(d.account.account_id, Channel.SMS, at + timedelta(days=1)) is None
    assert kinds == {ReactionKind.PROMISE, ReactionKind.DISPUTE}


def test_replay_counts_contacts_the_rules_deny() -> None:
    account = Account(
        account_id="A-1",
        debtor_name="Pat Doe",
        emails=[EmailContact(address="pat@example.com")],
        phones=[PhoneContact(number="+12125550100", sms_consent=True, voice_consent=False)],
        amount_due=Decimal("100.00"),
        due_date=date(2025, 1, 1),
        days_past_due=400,
        timezones=["America/New_York"],
        state="NY",
    )

    def contact(channel: Channel, hour: int, day: int = 0) -> PastContact:
        to = "pat@example.com" if channel is Channel.EMAIL else "+12125550100"
        outcome = "conversation" if channel is Channel.PHONE else "delivered"
        return PastContact(at=local(account, hour, day), channel=channel, outcome=outcome, to=to)

    stop = BarredSince("A-1", Channel.SMS, "+12125550100", local(account, 12, 1), "STOP")
    history = [
        contact(Channel.EMAIL, 10),  # fine
        contact(Channel.SMS, 22),  # quiet hours
        contact(Channel.PHONE, 11, 1),  # no voice consent
        contact(Channel.SMS, 13, 2),  # after STOP
        contact(Channel.EMAIL, 13, 2),  # fine
    ]
    found = replay_compliance([account], {"A-1": history}, [stop])
    assert [(v.contact.channel, v.reasons[0]) for v in found] == [
        (Channel.SMS, "quiet_hours"),
        (Channel.PHONE, "no_consent"),
        (Channel.SMS, "opted_out"),
    ]


def test_the_simulation_starts_on_a_monday_afternoon_utc() -> None:
    now = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)  # a Wednesday
    assert simulation_start(now) == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    monday = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    assert simulation_start(monday) == monday + timedelta(days=7)
    assert simulation_start(monday - timedelta(minutes=1)) == monday


# --- real runs --------------------------------------------------------------------------


def check_summary(result: dict[str, Any], accounts: int) -> None:
    assert result["accounts"] == accounts
    assert result["compliance_violations"] == 0
    assert result["contacts"] > 0
    assert result["recovered"] > 0
    assert 0 < result["recovery_rate"] <= 1
    assert sum(result["contacts_by_channel"].values()) == result["contacts"]
    assert result["simulated_days"] >= 14  # the standard playbook's last step
    assert result["recovered_per_contact"] == pytest.approx(
        result["recovered"] / result["contacts"], abs=0.01
    )


async def test_simulate_runs_the_real_campaigns_in_simulated_time() -> None:
    base = Settings(**codec_settings())
    result = await simulate(
        Population.load(CARDS),
        playbook=load_playbook("standard", search_dir=base.playbook_dir),
        accounts=30,
        seed=2,
        base=base,
    )
    check_summary(result, 30)
    assert result["population"] == "consumer-cards" and result["policy"] == "fixed"


async def test_the_adaptive_policy_breaks_no_rule() -> None:
    """The next-best-action agent picks hours and channels: the gate still holds."""
    base = Settings(**codec_settings())
    result = await simulate(
        Population.load(CARDS),
        playbook=load_playbook("standard", search_dir=base.playbook_dir),
        policy=ContactPolicy.ADAPTIVE,
        accounts=30,
        seed=4,
        base=base,
    )
    check_summary(result, 30)
    assert result["policy"] == "adaptive"


async def test_where_the_playbook_is_right_the_agent_costs_at_most_5_percent() -> None:
    """The control population (``by-the-book``): everyone reacts best when the fixed
    cadence already writes, on the channel it uses. Adaptive recovers at least 0.95 of
    fixed per contact, with no more opt-outs or disputes. Seed 2 is the one where, before
    a segment's own contacts stopped counting twice and untried arms stopped passing for
    harmless, one paid afternoon call moved a whole day's calls to the afternoon (0.946)."""
    base = Settings(**codec_settings())
    population = Population.load(BY_THE_BOOK)
    book = load_playbook("standard", search_dir=base.playbook_dir)
    fixed, adaptive = [
        await simulate(population, playbook=book, policy=policy, accounts=100, seed=2, base=base)
        for policy in (ContactPolicy.FIXED, ContactPolicy.ADAPTIVE)
    ]
    assert adaptive["compliance_violations"] == 0
    assert adaptive["recovered_per_contact"] >= 0.95 * fixed["recovered_per_contact"]
    assert adaptive["opt_outs"] <= fixed["opt_outs"]
    assert adaptive["disputes"] <= fixed["disputes"]


async def test_a_complaint_closes_its_channel_in_the_real_campaign() -> None:
    """Debtors who complain at every contact (the provider's spam report, not a reply):
    each campaign closes the channel and never uses it again, and counts it as harm."""
    base = Settings(**codec_settings())
    hating = segment(
        consent={"sms": 1, "voice": 0},
        hours={"morning": 0, "midday": 0, "afternoon": 0, "evening": 0},
        pressure={"bad_timing": 1, "complaint_share": 1},
    )
    result = await simulate(
        Population.parse({"name": "complainers", "segments": [hating]}),
        playbook=load_playbook("standard", search_dir=base.playbook_dir),
        accounts=8,
        seed=6,
        base=base,
    )
    assert result["compliance_violations"] == 0
    assert result["opt_outs"] == 0 and result["recovered"] == 0
    # Every contact that reached a debtor was complained of: at most one per channel.
    assert result["complaints"] == result["contacts"] > 8
    assert result["contacts_by_channel"]["email"] <= 8 and result["contacts_by_channel"]["sms"] <= 8
    assert result["complaint_rate"] == round(result["complaints"] / 8, 4)


async def test_the_same_seed_gives_the_same_run() -> None:
    base = Settings(**codec_settings())
    population = Population.load(UTILITIES)
    book = load_playbook("standard", search_dir=base.playbook_dir)
    runs = [
        await simulate(population, playbook=book, accounts=20, seed=9, base=base) for _ in range(2)
    ]
    for run in runs:
        del run["wall_seconds"]
    assert runs[0] == runs[1]


async def test_the_same_seed_gives_the_same_adaptive_run() -> None:
    """The agent's statistics start empty in every run, its draws are seeded by the run's
    seed, and it learns day by day: which account records first changes nothing."""
    base = Settings(**codec_settings())
    population = Population.load(CARDS)
    book = load_playbook("standard", search_dir=base.playbook_dir)
    runs = [
        await simulate(
            population,
            playbook=book,
            policy=ContactPolicy.ADAPTIVE,
            accounts=10,
            seed=5,
            base=base,
        )
        for _ in range(2)
    ]
    for run in runs:
        del run["wall_seconds"]
    assert runs[0] == runs[1]
    assert runs[0]["policy"] == "adaptive"
    assert {"opt_out_rate", "dispute_rate"} <= set(runs[0])
    assert runs[0]["opt_out_rate"] == round(runs[0]["opt_outs"] / 10, 4)


async def test_a_warm_up_portfolio_teaches_the_agent_and_is_not_counted() -> None:
    """A tenant's second portfolio: the adaptive agent starts from the statistics an
    earlier portfolio left, and the figures are the measured accounts' alone; the fixed
    cadence, which learns nothing, skips the warm-up. Debtors who complain of every
    contact make the count exact: a complaint per contact, the measured ones only."""
    base = Settings(**codec_settings())
    hating = segment(
        consent={"sms": 1, "voice": 0},
        hours={"morning": 0, "midday": 0, "afternoon": 0, "evening": 0},
        pressure={"bad_timing": 1, "complaint_share": 1},
    )
    population = Population.parse({"name": "complainers", "segments": [hating]})
    book = load_playbook("standard", search_dir=base.playbook_dir)
    runs = {
        policy: await simulate(
            population, playbook=book, policy=policy, accounts=6, warm_up=5, seed=3, base=base
        )
        for policy in (ContactPolicy.FIXED, ContactPolicy.ADAPTIVE)
    }
    fixed, adaptive = runs[ContactPolicy.FIXED], runs[ContactPolicy.ADAPTIVE]
    assert fixed["warm_up_accounts"] == 0 and fixed["learnt_from_contacts"] == 0
    assert adaptive["warm_up_accounts"] == 5
    # Every warm-up account got its first notice at least, and the agent counted it.
    assert adaptive["learnt_from_contacts"] >= 5
    for run in runs.values():
        assert run["accounts"] == 6 and run["compliance_violations"] == 0
        assert run["complaints"] == run["contacts"] > 6
        assert run["complaint_rate"] == round(run["complaints"] / 6, 4)


async def test_recoup_simulate_prints_one_json_object() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env.update({"NO_COLOR": "1", "COLUMNS": "200"})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "simulate",
        "--population",
        str(UTILITIES),
        "--accounts",
        "25",
        "--seed",
        "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, err.decode()
    lines = out.decode().strip().splitlines()
    assert len(lines) == 1, out.decode()
    result = json.loads(lines[0])
    check_summary(result, 25)
    assert result["population"] == "utilities" and result["playbook"] == "standard"
    assert "simulate:" in err.decode()  # progress goes to stderr


async def test_recoup_simulate_rejects_a_bad_population(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsegments:\n  - name: s\n    share: 1\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "simulate",
        "--population",
        str(bad),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert out == b""
    assert "segments[0].balance" in err.decode()
