"""What a contact of the adaptive policy is worth when it costs the debtor relationship.

An opt-out, a dispute or a complaint within the attribution window is the contact's
outcome, with the tenant's negative reward; a payment still wins; runs started before
harms counted (``negative_outcomes`` unset) learn as they did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.action_stats import ActionStats
from domain.account import Account, EmailContact, PhoneContact, Tenant
from domain.campaign import (
    AccountCampaignInput,
    CampaignState,
    InboundReply,
    OptOutRequest,
    PaymentReceived,
    WatchedContact,
)
from domain.campaign_core.campaign import Campaign, Effect
from domain.campaign_core.decide import Event, handle
from domain.campaign_core.learning import (
    ATTRIBUTION_DAYS,
    MIN_PAYMENT_REWARD,
    choice_request,
    settle_watched,
    watch_contact,
)
from domain.channels import Channel
from domain.compliance.facts import LegalEvent, LegalEventKind
from domain.next_action import (
    ActionOutcome,
    Arm,
    ArmStats,
    OutcomeKind,
    TimeWindow,
    choose,
    reward_of,
    worse,
)
from domain.playbook import Playbook, Step
from domain.policy import ContactPolicy
from tests.core_support import T0, Clock

PLAYBOOK = Playbook(
    name="core",
    steps=[
        Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(id="text", day=1, channel=Channel.SMS, template="reminder"),
    ],
    closing_days=1,
)
SMS_EVENING = Arm(channel=Channel.SMS, window=TimeWindow.EVENING)
EMAIL_MORNING = Arm(channel=Channel.EMAIL, window=TimeWindow.MORNING)
ACME = Tenant(tenant_id="t", name="Acme Recovery")


@dataclass
class Harness:
    clock: Clock = field(default_factory=Clock)
    effects: list[Effect] = field(default_factory=list)

    def campaign(
        self, tenant: Tenant = ACME, negative_outcomes: bool = True, nba_seed: str | None = None
    ) -> Campaign:
        account = Account(
            account_id="A-1",
            debtor_name="Dana Debtor",
            emails=[EmailContact(address="dana@example.com")],
            phones=[PhoneContact(number="+16175550100", sms_consent=True, voice_consent=True)],
            amount_due=Decimal("250.00"),
            due_date=date(2026, 1, 1),
            days_past_due=150,
            timezones=["America/New_York"],
            state="NY",
        )
        inp = AccountCampaignInput(
            tenant=tenant,
            campaign_id="c",
            account=account,
            playbook=PLAYBOOK,
            policy=ContactPolicy.ADAPTIVE,
            negative_outcomes=negative_outcomes,
            nba_seed=nba_seed,
        )
        state = CampaignState(balance=account.amount_due, account=account, started_at=T0)
        c = Campaign(inp, state, self.clock, self.effects.append)
        c.state.watched.append(
            WatchedContact(outcome_id="o-1", segment="bal-250-1000:en", arm=SMS_EVENING, at=T0)
        )
        return c


def stop() -> InboundReply:
    return InboundReply(
        reply_id="r-stop", channel=Channel.SMS, text="STOP", from_address="+16175550100"
    )


def reply(text: str, reply_id: str = "r-1") -> InboundReply:
    return InboundReply(
        reply_id=reply_id, channel=Channel.SMS, text=text, from_address="+16175550100"
    )


def pay(payment_id: str = "p-1") -> PaymentReceived:
    return PaymentReceived(payment_id=payment_id, amount=Decimal("50.00"), currency="USD")


def outcome_after(h: Harness, c: Campaign, *events: Event) -> ActionOutcome:
    for event in events:
        h.clock.at += timedelta(hours=2)
        handle(c, event)
    settle_watched(c, everything=True)
    [settled] = c.state.settled
    return settled


def test_an_opt_out_within_the_window_gives_the_tenants_negative_reward() -> None:
    h = Harness()
    got = outcome_after(h, h.campaign(), stop())
    assert (got.kind, got.reward) == ("opt_out", -1.0)


def test_an_opt_out_after_a_reply_or_a_promise_is_an_opt_out() -> None:
    h = Harness()
    got = outcome_after(h, h.campaign(), reply("who is this?"), stop())
    assert (got.kind, got.reward) == ("opt_out", -1.0)
    h = Harness()
    got = outcome_after(h, h.campaign(), reply("I will pay on Friday"), stop())
    assert got.kind == "opt_out"


def test_a_dispute_reply_or_legal_event_gives_the_dispute_reward() -> None:
    h = Harness()
    got = outcome_after(h, h.campaign(), reply("I dispute this debt, it is not mine"))
    assert (got.kind, got.reward) == ("dispute", -0.5)
    h = Harness()
    event = LegalEvent(kind=LegalEventKind.DISPUTE, note="by letter", received_at=T0)
    assert outcome_after(h, h.campaign(), event).kind == "dispute"


def test_a_complaint_costs_more_than_an_opt_out_and_a_bounce_nothing() -> None:
    h = Harness()
    complaint = OptOutRequest(channel=Channel.EMAIL, reason="spam complaint (feedback loop)")
    got = outcome_after(h, h.campaign(), stop(), complaint)
    assert (got.kind, got.reward) == ("complaint", -2.0)
    h = Harness()
    bounce = OptOutRequest(channel=Channel.EMAIL, reason="hard bounce")
    assert outcome_after(h, h.campaign(), bounce).kind == "none"


def test_a_payment_still_wins() -> None:
    h = Harness()
    got = outcome_after(h, h.campaign(), stop(), pay())
    assert (got.kind, got.reward) == ("payment", 1.0)
    h = Harness()
    got = outcome_after(h, h.campaign(), pay(), reply("I dispute this debt, it is not mine"))
    assert got.kind == "payment"


def paid(amount: str, payment_id: str) -> PaymentReceived:
    return PaymentReceived(payment_id=payment_id, amount=Decimal(amount), currency="USD")


@pytest.mark.parametrize(
    ("owed", "payments", "reward"),
    [
        ("200.00", ["150.00"], 0.75),  # three quarters of the balance
        ("200.00", ["50.00", "50.00"], 0.5),  # two payments while it was watched
        ("200.00", ["150.00", "150.00"], 1.0),  # never more than the balance
        ("1000.00", ["10.00"], MIN_PAYMENT_REWARD),  # a token payment still beats a reply
    ],
)
def test_a_payment_earns_the_share_of_the_balance_it_brought_in(
    owed: str, payments: list[str], reward: float
) -> None:
    h = Harness()
    c = h.campaign()
    c.state.watched[0].owed = Decimal(owed)
    got = outcome_after(h, c, *(paid(a, f"p-{i}") for i, a in enumerate(payments)))
    assert (got.kind, got.reward) == ("payment", reward)


def test_a_contact_is_watched_with_the_balance_it_was_made_against() -> None:
    h = Harness()
    c = h.campaign()
    c.state.balance = Decimal("180.00")
    watch_contact(c, "s-2", "o-2", Channel.EMAIL)
    assert c.state.watched[-1].owed == Decimal("180.00")
    h.clock.at += timedelta(hours=2)
    handle(c, paid("90.00", "p-1"))  # credited to the latest contact
    settle_watched(c, everything=True)
    got = {o.outcome_id: (o.kind, o.reward) for o in c.state.settled}
    assert got == {"o-1": ("none", 0.0), "o-2": ("payment", 0.5)}


def test_a_contact_watched_before_amounts_counted_earns_1_for_a_payment() -> None:
    h = Harness()
    c = h.campaign()
    assert c.state.watched[0].owed is None  # as restored from a run of before
    assert outcome_after(h, c, paid("5.00", "p-1")).reward == 1.0


def test_harm_after_the_window_is_not_the_contacts() -> None:
    h = Harness()
    c = h.campaign()
    h.clock.at += timedelta(days=ATTRIBUTION_DAYS, hours=1)
    handle(c, stop())
    settle_watched(c, everything=True)
    assert [o.kind for o in c.state.settled] == ["none"]


def test_per_tenant_values_apply() -> None:
    strict = ACME.model_copy(
        update={"opt_out_penalty": -3.0, "dispute_penalty": -0.25, "complaint_penalty": -5.0}
    )
    h = Harness()
    assert outcome_after(h, h.campaign(tenant=strict), stop()).reward == -3.0
    h = Harness()
    got = outcome_after(h, h.campaign(tenant=strict), reply("I dispute this debt, it is not mine"))
    assert got.reward == -0.25
    # Priced at 0, a harm is not counted: the reply before it is the outcome.
    lenient = ACME.model_copy(update={"opt_out_penalty": 0.0})
    h = Harness()
    got = outcome_after(h, h.campaign(tenant=lenient), reply("who is this?"), stop())
    assert (got.kind, got.reward) == ("reply", 0.2)


def test_runs_from_before_harms_counted_learn_as_they_did() -> None:
    h = Harness()
    c = h.campaign(negative_outcomes=False)
    got = outcome_after(h, c, reply("who is this?"), stop())
    assert (got.kind, got.reward) == ("reply", 0.2)
    h = Harness()
    got = outcome_after(h, h.campaign(negative_outcomes=False), stop())
    assert (got.kind, got.reward) == ("none", 0.0)


@pytest.mark.parametrize(
    ("kind", "than", "expected"),
    [
        ("opt_out", "reply", True),
        ("opt_out", "promise", True),
        ("payment", "opt_out", True),
        ("complaint", "opt_out", True),
        ("opt_out", "dispute", True),
        ("dispute", "payment", False),
        ("promise", "reply", True),
        ("none", "reply", False),
    ],
)
def test_which_outcome_a_contact_keeps(
    kind: OutcomeKind, than: OutcomeKind, expected: bool
) -> None:
    assert worse(kind, than, ACME) is expected


def test_reward_of() -> None:
    assert [reward_of(k, ACME) for k in ("payment", "promise", "reply", "none")] == [
        1.0,
        0.5,
        0.2,
        0.0,
    ]
    assert [reward_of(k, ACME) for k in ("opt_out", "dispute", "complaint")] == [-1.0, -0.5, -2.0]


def test_the_seed_leaves_out_the_run_id_when_the_run_has_one() -> None:
    h = Harness()
    request = choice_request(h.campaign(nba_seed="sim-3"), PLAYBOOK.steps[1])
    assert request is not None and request.seed == "sim-3/account/t/A-1/text"
    request = choice_request(h.campaign(), PLAYBOOK.steps[1])
    assert request is not None and request.seed == "account/t/A-1/run-1/text"


# --- the agent --------------------------------------------------------------------------


def test_an_arm_that_buys_payments_with_opt_outs_loses() -> None:
    """SMS in the evening pays a little more often, but one contact in ten opts out:
    what it earns less what it costs is below email in the morning."""
    others = [
        ArmStats(arm=Arm(channel=channel, window=window), trials=200, reward=2)
        for channel in (Channel.SMS, Channel.EMAIL)
        for window in TimeWindow
    ]
    stats = [
        *others,
        ArmStats(arm=SMS_EVENING, trials=200, reward=30, harmed=20, penalty=20),
        ArmStats(arm=EMAIL_MORNING, trials=200, reward=24),
    ]
    chosen = [choose(stats, [Channel.SMS, Channel.EMAIL], f"seed-{i}", 0.0).arm for i in range(50)]
    assert chosen.count(EMAIL_MORNING) >= 45
    without_harm = [s.model_copy(update={"harmed": 0.0, "penalty": 0.0}) for s in stats]
    chosen = [
        choose(without_harm, [Channel.SMS, Channel.EMAIL], f"seed-{i}", 0.0).arm for i in range(50)
    ]
    assert chosen.count(SMS_EVENING) >= 35  # uncertain between the two: mostly
    choice = choose(stats, [Channel.SMS], "seed", 0.0)
    assert choice.expected < 0.15 and "(20 harmful)" in choice.reason


def test_the_store_keeps_harm_apart_from_reward(tmp_path: Path) -> None:
    store = ActionStats(f"sqlite:///{tmp_path / 'stats.db'}")
    store.create_tables()
    try:

        def outcome(i: int, kind: OutcomeKind) -> ActionOutcome:
            return ActionOutcome(
                outcome_id=f"o-{i}",
                tenant_id="t",
                segment="s",
                arm=SMS_EVENING,
                reward=reward_of(kind, ACME),
                kind=kind,
            )

        kinds: list[OutcomeKind] = ["payment", "opt_out", "dispute", "reply"]
        assert store.record([outcome(i, k) for i, k in enumerate(kinds)]) == 4
        [stat] = store.stats("t", "s")
        assert (stat.trials, stat.reward, stat.harmed, stat.penalty) == (4, 1.2, 2, 1.5)
        [pooled] = store.pooled("t")
        assert (pooled.harmed, pooled.penalty) == (2, 1.5)
    finally:
        store.dispose()
