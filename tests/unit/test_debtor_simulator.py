"""The debtor-behaviour simulator: deterministic, plausible, never overpaying."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import phonenumbers
import pytest

from adapters.portfolio_file import parse_portfolio
from domain.account import Account, EmailContact, PhoneContact
from domain.channels import Channel
from domain.portfolio import PORTFOLIO_COLUMNS
from domain.replies import ReplyIntent, read_reply
from simulators.debtors import (
    DebtorMix,
    DebtorSimulator,
    Persona,
    Reaction,
    ReactionKind,
    sample_portfolio_rows,
    with_letter_only_debtors,
    write_portfolio_csv,
)

AS_OF = date(2025, 6, 30)
# accounts_with() picks debtors by their persona under this seed.
SEED = 7
CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.PHONE)


def account(account_id: str, amount: str = "1000.00", language: str = "en") -> Account:
    return Account(
        account_id=account_id,
        debtor_name="Test Debtor",
        amount_due=Decimal(amount),
        due_date=date(2025, 1, 1),
        days_past_due=180,
        language=language,
    )


def campaign(sim: DebtorSimulator, acct: Account, contacts: int = 6) -> list[Reaction | None]:
    """What the debtor does over ``contacts`` contacts cycling through the channels."""
    return [sim.react(acct, CHANNELS[(n - 1) % len(CHANNELS)], n) for n in range(1, contacts + 1)]


def accounts_with(persona: Persona, count: int, language: str = "en") -> list[Account]:
    sim = DebtorSimulator(seed=SEED)
    found = []
    for i in range(10_000):
        if sim.persona(f"P-{i}") is persona:
            found.append(account(f"P-{i}", "987.65", language))
            if len(found) == count:
                return found
    raise AssertionError(f"no {persona} found")


def test_same_seed_gives_the_same_story_in_a_new_instance() -> None:
    accounts = [account(f"D-{i}", f"{100 + i}.37") for i in range(300)]
    first = [campaign(DebtorSimulator(seed=42), a) for a in accounts]
    second = [campaign(DebtorSimulator(seed=42), a) for a in accounts]
    other_seed = [campaign(DebtorSimulator(seed=43), a) for a in accounts]

    assert first == second
    assert first != other_seed
    assert any(r is not None for story in first for r in story)


def test_asking_twice_about_one_contact_answers_the_same_and_pays_once() -> None:
    sim = DebtorSimulator(seed=SEED)
    payer = accounts_with(Persona.PAYER, 1)[0]
    story = campaign(sim, payer, 3)
    again = [sim.react(payer, Channel.EMAIL, n) for n in (1, 2, 3)]

    assert again == story
    paid = [r.amount for r in story if r is not None and r.amount is not None]
    assert paid == [payer.amount_due]


def test_mix_shares_are_roughly_respected() -> None:
    sim = DebtorSimulator(seed=3)
    counts = Counter(sim.persona(f"ACC-{i:06d}") for i in range(2_000))
    mix = DebtorMix()
    for persona in Persona:
        assert counts[persona] / 2_000 == pytest.approx(mix.share(persona), abs=0.03), persona


def test_a_custom_mix_is_normalised_and_may_exclude_personas() -> None:
    sim = DebtorSimulator(
        seed=3, mix=DebtorMix(payer=3, partial=0, promiser=0, opt_out=0, replier=0, silent=1)
    )
    counts = Counter(sim.persona(f"A{i}") for i in range(2_000))
    assert set(counts) == {Persona.PAYER, Persona.SILENT}
    assert counts[Persona.PAYER] / 2_000 == pytest.approx(0.75, abs=0.03)
    with pytest.raises(ValueError, match="positive share"):
        DebtorMix(payer=0, partial=0, promiser=0, opt_out=0, replier=0, silent=0)


def test_payments_never_exceed_the_balance_and_are_in_cents() -> None:
    sim = DebtorSimulator(seed=5)
    amounts = ["0.01", "0.02", "0.99", "50.00", "1234.56", "4999.99"]
    for i in range(2_000):
        acct = account(f"B-{i}", amounts[i % len(amounts)])
        payments = [r.amount for r in campaign(sim, acct, 8) if r and r.amount is not None]
        assert sum(payments, Decimal(0)) <= acct.amount_due
        for amount in payments:
            assert amount > 0
            assert amount == amount.quantize(Decimal("0.01"))


def test_every_persona_behaves_as_described() -> None:
    sim = DebtorSimulator(seed=SEED)
    for acct in accounts_with(Persona.PAYER, 30):
        pays = [r for r in campaign(sim, acct) if r is not None]
        assert [r.amount for r in pays] == [acct.amount_due]
    for acct in accounts_with(Persona.PARTIAL, 30):
        pays = [r for r in campaign(sim, acct) if r is not None]
        assert 1 <= len(pays) <= 2 and all(r.kind is ReactionKind.PAY for r in pays)
        assert pays[0].amount is not None
        assert Decimal("0.29") * acct.amount_due <= pays[0].amount
        assert pays[0].amount <= Decimal("0.61") * acct.amount_due
    for acct in accounts_with(Persona.SILENT, 30):
        assert campaign(sim, acct) == [None] * 6
    for acct in accounts_with(Persona.REPLIER, 30):
        replies = [r for r in campaign(sim, acct) if r is not None]
        assert len(replies) == 1 and replies[0].text is not None
        # A question: it never reads as a payment, a promise, an opt-out or a dispute.
        assert read_reply(replies[0].text) in {
            ReplyIntent.OTHER,
            ReplyIntent.CALLBACK,
            ReplyIntent.PAYMENT_PLAN,
        }


def test_reactions_come_one_to_two_days_later_on_the_right_channel() -> None:
    for acct in accounts_with(Persona.REPLIER, 20) + accounts_with(Persona.PROMISER, 20):
        for channel in CHANNELS:
            # Contact 2 is at or after every debtor's first reaction.
            reaction = DebtorSimulator(seed=SEED).react(acct, channel, 2)
            assert reaction is not None and reaction.kind is ReactionKind.REPLY
            expected = Channel.SMS if channel is Channel.PHONE else channel
            assert reaction.channel is expected
            assert 0.1 <= reaction.delay_days <= 2.0


def test_no_reaction_after_opt_out() -> None:
    sim = DebtorSimulator(seed=SEED)
    for acct in accounts_with(Persona.OPT_OUT, 30):
        story = campaign(sim, acct, 8)
        reactions = [(n, r) for n, r in enumerate(story, 1) if r is not None]
        assert len(reactions) == 1
        n, stop = reactions[0]
        assert stop.text is not None and read_reply(stop.text) is ReplyIntent.STOP
        assert story[n:] == [None] * (8 - n)


def test_no_reaction_after_full_payment() -> None:
    sim = DebtorSimulator(seed=SEED)
    followers = accounts_with(Persona.PROMISER, 60) + accounts_with(Persona.PARTIAL, 60)
    completed = 0
    for acct in followers:
        story = campaign(sim, acct, 10)
        paid = Decimal(0)
        for n, reaction in enumerate(story, 1):
            if reaction is not None and reaction.amount is not None:
                paid += reaction.amount
            if paid == acct.amount_due:
                assert story[n:] == [None] * (10 - n)
                completed += 1
                break
    # Some partial payers pay the rest and some promisers keep their promise.
    assert 0 < completed < len(followers)


@pytest.mark.parametrize(
    ("language", "sample"), [("en", "I will pay on Friday."), ("es", "Voy a pagar el viernes.")]
)
def test_promises_are_in_the_debtors_language(language: str, sample: str) -> None:
    texts = set()
    for acct in accounts_with(Persona.PROMISER, 40, language):
        story = campaign(DebtorSimulator(seed=SEED), acct)
        first = next(r for r in story if r is not None)
        assert first.kind is ReactionKind.REPLY and first.text is not None
        assert read_reply(first.text) is ReplyIntent.PROMISE_TO_PAY
        texts.add(first.text)
    assert sample in texts
    assert all(("pagar" in t.lower() or "pagaré" in t.lower()) == (language == "es") for t in texts)


def test_sample_rows_are_deterministic_and_valid_accounts(tmp_path: Path) -> None:
    rows = sample_portfolio_rows(1_000, seed=9, as_of=AS_OF)
    assert rows == sample_portfolio_rows(1_000, seed=9, as_of=AS_OF)
    assert rows != sample_portfolio_rows(1_000, seed=10, as_of=AS_OF)
    assert len({r["account_id"] for r in rows}) == 1_000

    for row in rows:
        assert tuple(row) == PORTFOLIO_COLUMNS
        number = phonenumbers.parse(row["phone"])
        assert phonenumbers.is_valid_number(number), row["phone"]
        assert row["phone"][5:10] == "55501"  # the fictional range: reaches nobody
        assert row["email"].split("@")[1] in {"example.com", "example.org"}
        amount = Decimal(row["amount_due"])
        assert Decimal("50.00") <= amount <= Decimal("5000.00")
        due = date.fromisoformat(row["due_date"])
        assert 30 <= (AS_OF - due).days <= 400
        consents = {row["sms_consent"], row["voice_consent"]}
        assert consents <= {"true", "false"}
        Account(
            account_id=row["account_id"],
            debtor_name=row["name"],
            emails=[EmailContact(address=row["email"])],
            phones=[
                PhoneContact(
                    number=row["phone"],
                    sms_consent=row["sms_consent"] == "true",
                    voice_consent=row["voice_consent"] == "true",
                )
            ],
            amount_due=amount,
            currency=row["currency"],
            due_date=due,
            days_past_due=(AS_OF - due).days,
            timezones=[row["timezone"]],
            state=row["state"],
            language=row["language"],
        )

    spanish = sum(r["language"] == "es" for r in rows) / len(rows)
    assert spanish == pytest.approx(0.15, abs=0.04)
    for flag in ("sms_consent", "voice_consent"):
        share = sum(r[flag] == "true" for r in rows) / len(rows)
        assert 0.3 < share < 0.8

    path = tmp_path / "portfolio.csv"
    write_portfolio_csv(rows, path)
    with path.open(encoding="utf-8", newline="") as f:
        assert list(csv.DictReader(f)) == rows


def test_post_only_debtors_load_through_the_address_columns(tmp_path: Path) -> None:
    rows = with_letter_only_debtors(sample_portfolio_rows(500, seed=9, as_of=AS_OF), seed=9)
    path = tmp_path / "portfolio.csv"
    write_portfolio_csv(rows, path)
    loaded = parse_portfolio(path, as_of=AS_OF)
    assert not loaded.problems and len(loaded.accounts) == 500
    post_only = [a for a in loaded.accounts if a.address is not None]
    # About 4 %, each reachable by post alone, in its own state.
    assert 5 <= len(post_only) <= 40
    by_id = {r["account_id"]: r for r in rows}
    for a in post_only:
        assert a.address is not None
        assert not a.emails and not a.phones and a.has_contact_point
        assert a.address.state == by_id[a.account_id]["address_state"]
    assert all(a.emails for a in loaded.accounts if a.address is None)
