"""Simulated debtors that behave like people: fatigue, pressure, language, content.

Each property is measured as a person would see it: many debtors of one segment get
the same contacts, once in a way that should matter and once in a way that should
not, and the reactions are counted.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.templates import TemplateRenderer
from domain.campaign_core.legal import harm_of
from domain.channels import Channel
from simulators.population import (
    MessageTraits,
    Population,
    PopulationDebtors,
    PopulationError,
    ReactionKind,
    SimulatedDebtor,
    generate_debtors,
    population_json_schema,
    traits_of,
)
from simulators.population import _spoken as spoken
from tests.population_support import AS_OF, local, segment
from tests.template_support import TEMPLATES, message_context

N = 300
# Every reaction a question: a debtor who reacts stays in the campaign, so the next
# contact's chance of a reaction is what is measured.
ASKING = {"propensity_to_pay": 0, "promise_rate": 0, "opt_out_rate": 0, "dispute_rate": 0}


def population(**overrides: Any) -> tuple[Population, list[SimulatedDebtor]]:
    made = Population.parse({"name": "people", "segments": [segment(**overrides)]})
    return made, generate_debtors(made, N, seed=11, as_of=AS_OF)


def contacts(
    overrides: dict[str, Any],
    days: list[int],
    *,
    hour: int = 10,
    channel: Channel = Channel.EMAIL,
    message: MessageTraits | None = None,
) -> list[Counter[ReactionKind]]:
    """Reactions to each of ``days``' contacts, counted over the ``N`` debtors."""
    made, debtors = population(**overrides)
    sim = PopulationDebtors(made, debtors, seed=11)
    counts: list[Counter[ReactionKind]] = [Counter() for _ in days]
    for d in debtors:
        for i, day in enumerate(days):
            at = local(d.account, hour, day)
            reaction = sim.react(d.account.account_id, channel, at, message)
            if reaction is not None:
                counts[i][reaction.kind] += 1
    return counts


def test_contacts_close_together_tire_the_debtor() -> None:
    tiring = {**ASKING, "channels": {"email": 0.8, "sms": 0, "phone": 0}}
    tiring["fatigue"] = {"per_contact": 0.5, "days": 7}
    crowded = contacts(tiring, [0, 1, 2, 3])
    spaced = contacts(tiring, [0, 8, 16, 24])
    assert crowded[0].total() == spaced[0].total()  # the first contact: nothing before it
    # Three contacts in the week before: 0.8 * 0.5**3 = 0.1 against 0.8.
    assert crowded[3].total() < 0.25 * spaced[3].total()
    # Without fatigue, crowding changes nothing on average.
    fresh = contacts({**tiring, "fatigue": {"per_contact": 0}}, [0, 1, 2, 3])
    assert fresh[3].total() > 0.8 * spaced[3].total()


def test_the_machines_timing_on_a_window_edge_does_not_decide_a_reaction() -> None:
    # A playbook's steps a week apart put the first exactly on the edge of a 7-day
    # fatigue window; the seconds a loaded machine adds either side must not decide
    # whether it counts, or one seed gives two different runs.
    tiring = {**ASKING, "channels": {"email": 0.8, "sms": 0, "phone": 0}}
    made, debtors = population(**tiring, fatigue={"per_contact": 0.9, "days": 7})

    def reactions(first_late: int, second_late: int) -> list[ReactionKind | None]:
        sim = PopulationDebtors(made, debtors, seed=11)
        kinds: list[ReactionKind | None] = []
        for d in debtors:
            start = local(d.account, 10)
            for at in (
                start + timedelta(seconds=first_late),
                start + timedelta(days=7, seconds=second_late),
            ):
                reaction = sim.react(d.account.account_id, Channel.EMAIL, at)
                kinds.append(reaction.kind if reaction else None)
        return kinds

    on_time = reactions(0, 0)
    assert reactions(3, 0) == on_time == reactions(0, 3)
    # A week apart is not within the week: the second contact is not tired (0.8 against
    # 0.08 if the first counted).
    second = on_time[1::2]
    assert sum(k is not None for k in second) > 0.6 * N


def test_frequent_contact_provokes_opt_outs_without_any_reaction() -> None:
    # Nobody reacts to anything; only pressure can make them opt out.
    silent = {**ASKING, "channels": {"email": 0, "sms": 0, "phone": 0}}
    silent["pressure"] = {"tolerated": 2, "per_contact": 0.2}
    daily = contacts(silent, [0, 1, 2, 3, 4, 5])
    weekly = contacts(silent, [0, 8, 16, 24, 32, 40])
    assert sum(c[ReactionKind.OPT_OUT] for c in weekly) == 0
    opted = [c[ReactionKind.OPT_OUT] for c in daily]
    assert opted[:2] == [0, 0]  # within what is tolerated
    # Of those still reachable, the third contact in a week is one too many (0.2 opt
    # out), the sixth four too many (0.8).
    left = [N - sum(opted[:i]) for i in range(len(opted))]
    assert 0.12 < opted[2] / left[2] < 0.28
    assert 0.65 < opted[5] / left[5] <= 0.95


def test_contacts_at_hours_the_debtor_dislikes_provoke_opt_outs() -> None:
    night_owls = {
        **ASKING,
        "channels": {"email": 0, "sms": 0.1, "phone": 0},
        "hours": {"morning": 0.2, "midday": 1, "afternoon": 1, "evening": 2},
        "pressure": {"bad_timing": 0.5},
    }
    morning = contacts(night_owls, [0], hour=9, channel=Channel.SMS)[0]
    evening = contacts(night_owls, [0], hour=19, channel=Channel.SMS)[0]
    assert evening[ReactionKind.OPT_OUT] == 0
    # 0.5 * (1 - 0.2) = 0.4 of the morning's debtors.
    assert 0.3 * N < morning[ReactionKind.OPT_OUT] < 0.5 * N


def test_complaints_are_opt_outs_the_campaign_counts_as_complaints() -> None:
    complaining = {
        **ASKING,
        "opt_out_rate": 1,
        "channels": {"email": 1, "sms": 1, "phone": 1},
        "pressure": {"complaint_share": 0.5},
    }
    made, debtors = population(**complaining)
    sim = PopulationDebtors(made, debtors, seed=11)
    kinds: Counter[ReactionKind] = Counter()
    for d in debtors:
        for channel in (Channel.EMAIL, Channel.SMS):
            reaction = sim.react(d.account.account_id, channel, local(d.account, 10))
            assert reaction is not None
            kinds[reaction.kind] += 1
            if reaction.kind is ReactionKind.COMPLAINT:
                [action] = reaction.actions
                assert action.opt_out is not None and action.opt_out.channel is channel
                # The campaign's reading of the provider's report: a complaint, not an opt-out.
                assert harm_of(action.opt_out.reason) == "complaint"
            else:
                assert reaction.kind is ReactionKind.OPT_OUT
        # The channel is closed either way, and its contacts after this break the rules.
        assert sim.react(d.account.account_id, Channel.EMAIL, local(d.account, 10, 1)) is None
    assert 0.4 * 2 * N < kinds[ReactionKind.COMPLAINT] < 0.6 * 2 * N
    assert kinds[ReactionKind.OPT_OUT] + kinds[ReactionKind.COMPLAINT] == 2 * N
    barred = Counter(b.why for b in sim.barred)
    assert barred["complained (spam report)"] == kinds[ReactionKind.COMPLAINT]


def test_a_message_not_in_the_debtors_language_moves_fewer_of_them() -> None:
    spanish = {
        **ASKING,
        "language": {"es": 1},
        "channels": {"email": 0.6, "sms": 0, "phone": 0},
        "language_mismatch": 0.25,
    }
    in_spanish = contacts(spanish, [0], message=MessageTraits(language="es"))[0].total()
    in_english = contacts(spanish, [0], message=MessageTraits(language="en"))[0].total()
    unknown = contacts(spanish, [0], message=MessageTraits(language=None))[0].total()
    assert unknown == in_spanish  # a text that does not tell is given the benefit
    assert in_english < 0.45 * in_spanish


def test_a_payment_link_or_an_offer_turns_more_reactions_into_payments() -> None:
    payers = {
        **ASKING,
        "propensity_to_pay": 0.2,
        "channels": {"email": 1, "sms": 0, "phone": 0},
        "content": {"payment_link": 2.5, "settlement_offer": 0.5},
    }
    plain = contacts(payers, [0], message=MessageTraits())[0]
    linked = contacts(payers, [0], message=MessageTraits(payment_link=True))[0]
    offered = contacts(payers, [0], message=MessageTraits(settlement_offer=True))[0]
    assert plain.total() == linked.total() == N  # content changes what, not whether
    assert linked[ReactionKind.PAY] > 1.8 * plain[ReactionKind.PAY]
    assert offered[ReactionKind.PAY] < 0.7 * plain[ReactionKind.PAY]
    # A boost takes from the questions only: never more payments than reactions.
    greedy = {**payers, "promise_rate": 0.5, "content": {"payment_link": 10}}
    capped = contacts(greedy, [0], message=MessageTraits(payment_link=True))[0]
    assert capped[ReactionKind.PROMISE] > 0.35 * N
    assert capped[ReactionKind.QUESTION] == 0


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS, Channel.PHONE])
@pytest.mark.parametrize("name", ["first_notice", "reminder", "call_script", "final_notice"])
def test_the_shipped_messages_are_read_in_their_language_and_offer_nothing(
    name: str, channel: Channel, language: str
) -> None:
    message = TemplateRenderer(TEMPLATES).render(name, channel, language, message_context())
    traits = traits_of(f"{message.subject or ''}\n{message.text}")
    assert traits == MessageTraits(language=language)


def test_links_offers_and_calls_are_read_from_what_is_said() -> None:
    assert traits_of("Pay now: https://buy.stripe.com/test_abc").payment_link
    assert not traits_of("Our privacy policy: https://example.com/privacy").payment_link
    assert traits_of("We will accept $300 in full settlement of the balance.").settlement_offer
    assert traits_of("Take 20% off if you pay this week.").settlement_offer
    assert traits_of("Aceptamos 300 USD como liquidación total del saldo.").settlement_offer
    assert not traits_of("We would like to help you settle this.").settlement_offer
    call = '<Response><Say language="es-MX">Hola, le llamamos de Recoup.</Say></Response>'
    assert spoken(call).language == "es"
    assert spoken("<Response><Say>Your balance is due.</Say></Response>").language == "en"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"fatigue": {"per_contact": 1.5}}, "fatigue.per_contact"),
        ({"pressure": {"tolerated": -1}}, "pressure.tolerated"),
        ({"pressure": {"bad_timing": 2}}, "pressure.bad_timing"),
        ({"language_mismatch": 1.2}, "language_mismatch"),
        ({"content": {"payment_link": -1}}, "content.payment_link"),
        ({"content": {"banner": 2}}, "content.banner"),
    ],
)
def test_behaviour_errors_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(PopulationError, match=rf"segments\[0\]\.{field}"):
        Population.parse({"name": "bad", "segments": [segment(**overrides)]})


def test_the_published_schema_is_the_one_the_loader_uses() -> None:
    published = Path(__file__).resolve().parents[2] / "docs" / "population.schema.json"
    assert published.read_text(encoding="utf-8") == population_json_schema(), "make schemas"
