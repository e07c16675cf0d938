"""The gate on letters: no quiet hours, nothing to do with 7-in-7, barred like any contact.

A letter is mailed, and delivered whenever the carrier comes: there is no moment of the
debtor's day to avoid (12 CFR 1006.6(b)(1)(i) is about when a communication reaches
them, which the sender of a letter does not choose), and it is no telephone call, so it
neither counts in nor is held by the call-frequency presumption (1006.14(b)(2)). It is
a communication in connection with the debt all the same: cease, an attorney and an
unverified dispute bar it, and so does the debtor asking for no mail at that address.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.account import Account, PostalAddress
from domain.channels import Channel
from domain.compliance.engine import decide
from domain.compliance.facts import LegalHolds, facts_for
from domain.compliance.model import ComplianceFacts, PastContact, ProposedContact, Reason
from domain.revocations import Revocation, RevocationKind, barring, live_facts

NY = "America/New_York"
PHONE = "+16175550100"
ADDRESS = PostalAddress(line1="1 Main St", line2="Apt 2", city="Boston", state="MA", zip="02110")
TO = ADDRESS.one_line()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def letter(when: str, to: str = TO) -> ProposedContact:
    return ProposedContact(at=at(when), channel=Channel.LETTER, to=to)


def sent(channel: Channel, when: datetime) -> PastContact:
    to = TO if channel is Channel.LETTER else PHONE
    outcome = "no_answer" if channel is Channel.PHONE else "delivered"
    return PastContact(at=when, channel=channel, outcome=outcome, to=to)


@pytest.mark.parametrize("clock", ["03:00", "07:59", "21:00", "23:30"])
def test_a_letter_has_no_quiet_hours(clock: str) -> None:
    facts = ComplianceFacts(timezones=[NY])
    when = f"2026-06-10T{clock}-04:00"
    assert decide(facts, [], letter(when)).allowed
    # The same moment by email is outside convenient hours.
    email = ProposedContact(at=at(when), channel=Channel.EMAIL, to="a@example.com")
    assert decide(facts, [], email).reasons == [Reason.QUIET_HOURS]


def test_a_letter_is_not_held_by_seven_calls_in_seven_days() -> None:
    facts = ComplianceFacts(timezones=[NY], voice_consent=True)
    # A call on each of the seven dates June 4 to 10: no eighth call on June 10.
    start = at("2026-06-04T10:00-04:00")
    calls = [sent(Channel.PHONE, start + timedelta(days=d)) for d in range(7)]
    now = "2026-06-10T12:00-04:00"
    assert decide(facts, calls, letter(now)).allowed
    call = ProposedContact(at=at(now), channel=Channel.PHONE, to=PHONE)
    assert Reason.CALL_FREQUENCY_7IN7 in decide(facts, calls, call).reasons


def test_letters_do_not_count_as_calls() -> None:
    facts = ComplianceFacts(timezones=[NY], voice_consent=True)
    start = at("2026-06-03T10:00-04:00")
    six_calls = [sent(Channel.PHONE, start + timedelta(days=d)) for d in range(6)]
    letters = [sent(Channel.LETTER, start + timedelta(days=d, hours=1)) for d in range(7)]
    call = ProposedContact(at=at("2026-06-09T12:00-04:00"), channel=Channel.PHONE, to=PHONE)
    assert decide(facts, six_calls + letters, call).allowed
    seventh = sent(Channel.PHONE, at("2026-06-09T10:00-04:00"))
    assert not decide(facts, [*six_calls, seventh, *letters], call).allowed


def test_massachusetts_limit_neither_counts_nor_holds_letters() -> None:
    facts = ComplianceFacts(timezones=[NY], state="MA", sms_consent=True)
    now = at("2026-06-10T12:00-04:00")
    texts = [sent(Channel.SMS, now - timedelta(hours=h)) for h in (5, 30)]
    assert decide(facts, texts, letter("2026-06-10T12:00-04:00")).allowed
    one_text = [texts[0], sent(Channel.LETTER, now - timedelta(hours=3))]
    text = ProposedContact(at=now, channel=Channel.SMS, to=PHONE)
    assert decide(facts, one_text, text).allowed
    assert decide(facts, texts, text).reasons == [Reason.STATE_FREQUENCY_LIMIT]


@pytest.mark.parametrize(
    ("hold", "reason"),
    [
        ({"cease": True}, Reason.CEASE),
        ({"attorney": True}, Reason.ATTORNEY),
        ({"disputed_unverified": True}, Reason.DISPUTE_HOLD),
    ],
)
def test_legal_holds_bar_letters_for_good(hold: dict[str, bool], reason: Reason) -> None:
    facts = ComplianceFacts(timezones=[NY], **hold)
    decision = decide(facts, [], letter("2026-06-10T12:00-04:00"))
    assert decision.reasons == [reason]
    assert decision.earliest_allowed is None


def test_an_opted_out_address_is_barred_whatever_its_case() -> None:
    for entry in (f"letter:{TO.upper()}", "letter:*"):
        facts = ComplianceFacts(timezones=[NY], opted_out=[entry])
        decision = decide(facts, [], letter("2026-06-10T12:00-04:00"))
        assert decision.reasons == [Reason.OPTED_OUT] and decision.earliest_allowed is None
    elsewhere = ComplianceFacts(timezones=[NY], opted_out=["letter:2 Elm St, Salem, MA 01970"])
    assert decide(elsewhere, [], letter("2026-06-10T12:00-04:00")).allowed


def test_the_accounts_address_opt_out_reaches_the_gate() -> None:
    account = Account(
        account_id="A-1",
        debtor_name="Dana",
        amount_due="120.00",
        due_date="2026-01-01",
        days_past_due=150,
        address=ADDRESS.model_copy(update={"opted_out": True}),
    )
    facts = facts_for(account, LegalHolds(), Channel.LETTER, TO)
    assert f"letter:{TO}" in facts.opted_out
    decision = decide(facts, [], letter("2026-06-10T12:00-04:00"))
    assert decision.reasons == [Reason.OPTED_OUT]
    # A letter needs no consent: an address that is not opted out may be written to.
    account.address = ADDRESS
    assert decide(
        facts_for(account, LegalHolds(), Channel.LETTER, TO), [], letter("2026-06-10T12:00-04:00")
    ).allowed


def test_a_stored_letter_revocation_bars_that_address_at_send_time() -> None:
    def revoked(kind: RevocationKind, address: str | None) -> Revocation:
        return Revocation(
            revocation_id=f"r-{kind}-{address}",
            tenant_id="t",
            account_id="A-1",
            kind=kind,
            channel=Channel.LETTER,
            address=address,
            received_at=at("2026-06-01T12:00+00:00"),
        )

    facts = ComplianceFacts(timezones=[NY])
    for kind in (RevocationKind.OPT_OUT, RevocationKind.CONSENT_REVOKED):
        stored = [revoked(kind, TO.lower())]
        assert barring(stored, Channel.LETTER, TO) == stored
        live = live_facts(facts, stored, Channel.LETTER, TO)
        assert decide(live, [], letter("2026-06-10T12:00-04:00")).reasons == [Reason.OPTED_OUT]
    other = [revoked(RevocationKind.OPT_OUT, "2 Elm St, Salem, MA 01970")]
    assert barring(other, Channel.LETTER, TO) == []
    assert decide(
        live_facts(facts, other, Channel.LETTER, TO), [], letter("2026-06-10T12:00-04:00")
    ).allowed
