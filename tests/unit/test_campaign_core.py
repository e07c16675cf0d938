"""The campaign's decision core, without Temporal: events in, state and effects out.

Hypothesis drives a campaign with random sequences of what happens to one (payments,
replies, opt-outs, legal events, operators' pauses, time passing) and asks it, between
events, what it would do about contacting the debtor on every channel. Whatever the
sequence: once paid in full or ceased it never sends again, and every send it decides
is one the compliance gate allowed at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.account import Account, EmailContact, PhoneContact, PostalAddress, Tenant
from domain.campaign import (
    AccountCampaignInput,
    CampaignState,
    CollectionStatus,
    InboundReply,
    OptOutRequest,
    PaymentReceived,
)
from domain.campaign_core.campaign import Campaign, Describe, Effect, Upsert
from domain.campaign_core.contacts import request as contact_request
from domain.campaign_core.decide import Event, TimePassed, decide, handle
from domain.campaign_core.learning import choice_request
from domain.campaign_core.steps import (
    Barred,
    NotNow,
    Send,
    WaitFor,
    address_for,
    ask_gate,
    next_contact,
    options,
)
from domain.channels import Channel, spec
from domain.compliance.engine import decide as gate
from domain.compliance.facts import LegalEvent, LegalEventKind
from domain.compliance.model import Reason
from domain.contact import ContactAttempt, ContactOutcome
from domain.events import RecordKind
from domain.next_action import Arm
from domain.operator import PauseRequest, ResumeRequest
from domain.playbook import Playbook, Step, StepCondition
from tests.core_support import T0, Clock

PLAYBOOK = Playbook(
    name="core",
    steps=[
        Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(id="text", day=1, channel=Channel.SMS, template="reminder"),
        Step(id="call", day=2, channel=Channel.PHONE, template="call_script"),
        Step(id="letter", day=3, channel=Channel.LETTER, template="final_notice"),
    ],
    closing_days=1,
)


@dataclass
class Harness:
    clock: Clock = field(default_factory=Clock)
    effects: list[Effect] = field(default_factory=list)

    def campaign(self, balance: Decimal = Decimal("250.00")) -> Campaign:
        account = Account(
            account_id="A-1",
            debtor_name="Dana Debtor",
            emails=[EmailContact(address="dana@example.com")],
            phones=[PhoneContact(number="+16175550100", sms_consent=True, voice_consent=True)],
            address=PostalAddress(line1="1 Main St", city="Albany", state="NY", zip="12207"),
            amount_due=balance,
            due_date=date(2026, 1, 1),
            days_past_due=150,
            timezones=["America/New_York"],
            state="NY",
        )
        inp = AccountCampaignInput(
            tenant=Tenant(tenant_id="t", name="Acme Recovery"),
            campaign_id="c",
            account=account,
            playbook=PLAYBOOK,
            seconds_per_day=86_400,
        )
        state = CampaignState(balance=balance, account=account, started_at=T0)
        return Campaign(inp, state, self.clock, self.effects.append)


def test_a_payment_lowers_the_balance_and_a_full_one_ends_the_campaign() -> None:
    h = Harness()
    c = h.campaign()
    handle(c, PaymentReceived(payment_id="p1", amount=Decimal("100.00"), currency="USD"))
    handle(c, PaymentReceived(payment_id="p1", amount=Decimal("100.00"), currency="USD"))
    assert (c.state.balance, c.state.status) == (Decimal("150.00"), CollectionStatus.SCHEDULED)
    assert c.changed
    handle(c, PaymentReceived(payment_id="p2", amount=Decimal("150.00"), currency="USD"))
    assert c.state.status is CollectionStatus.PAID
    # The status change is an effect the shell carries out: one upsert of RecoupStatus,
    # with the list's columns that changed with it.
    paid = (("RecoupStatus", "paid"), ("RecoupBalanceBand", "0"), ("RecoupNextAction", "done"))
    assert Upsert(paid) in h.effects
    assert isinstance(h.effects[-1], Describe) and "campaign finished" in h.effects[-1].text
    # The outbox holds what leaves: two payments, then the status.
    types = [(r.type, r.body["event"]["status"]) for r in c.state.outbox]
    assert types == [
        ("PaymentEvent", "received"),
        ("PaymentEvent", "received"),
        ("CampaignProgressEvent", "paid"),
    ]
    assert isinstance(next_contact(c, PLAYBOOK.steps[0], Channel.EMAIL, "dana@example.com"), NotNow)


def test_a_payment_in_another_currency_is_logged_not_booked() -> None:
    h = Harness()
    state, effects = decide(
        h.campaign().inp,
        h.campaign().state,
        PaymentReceived(payment_id="p1", amount=Decimal("10.00"), currency="EUR"),
        h.clock,
    )
    assert state.balance == Decimal("250.00") and state.payment_ids == []
    assert [type(e).__name__ for e in effects] == ["Log"]


def test_the_gate_decides_every_contact_and_waits_out_quiet_hours() -> None:
    h = Harness()
    c = h.campaign()
    move = next_contact(c, PLAYBOOK.steps[1], Channel.SMS, "+16175550100")
    assert isinstance(move, Send) and move.decision.allowed
    assert c.state.status is CollectionStatus.ACTIVE  # the first contact starts it
    assert c.state.decisions[-1].allowed and c.state.decisions[-1].stage == "plan"
    h.clock.at = datetime(2026, 6, 3, 2, 0, tzinfo=UTC)  # 22:00 in New York
    move = next_contact(c, PLAYBOOK.steps[1], Channel.SMS, "+16175550100")
    assert isinstance(move, WaitFor) and "quiet_hours" in move.because
    assert move.until == datetime(2026, 6, 3, 12, 0, tzinfo=UTC)  # 08:00 local


def test_a_stop_reply_opts_the_number_out_and_a_cease_bars_everything() -> None:
    h = Harness()
    c = h.campaign()
    handle(c, InboundReply(reply_id="r1", channel=Channel.SMS, text="STOP"))
    assert address_for(c, Channel.SMS) is None
    assert address_for(c, Channel.PHONE) == "+16175550100"  # calls are another channel
    assert c.legal_epoch == 1
    move = next_contact(c, PLAYBOOK.steps[1], Channel.SMS, "+16175550100")
    assert isinstance(move, Barred) and [r.value for r in move.decision.reasons] == [
        "opted_out",
        "no_consent",
    ]
    handle(c, LegalEvent(kind=LegalEventKind.CEASE))
    assert c.state.status is CollectionStatus.CEASED
    move = next_contact(c, PLAYBOOK.steps[0], Channel.EMAIL, "dana@example.com")
    assert isinstance(move, NotNow)


def test_a_stored_revocation_applies_once_whichever_way_it_arrives_first() -> None:
    h = Harness()
    c = h.campaign()
    request = OptOutRequest(channel=Channel.EMAIL, address="dana@example.com", revocation_id="x")
    handle(c, request)
    handle(c, request)  # the same revocation again (its signal after the agent's refusal)
    opt_outs = [r for r in c.state.outbox if r.type == "OptOutEvent"]
    assert len(opt_outs) == 1 and c.state.revocations_applied == ["x"]


def test_a_broken_promise_resumes_outreach_and_is_escalated() -> None:
    h = Harness()
    c = h.campaign()
    handle(c, InboundReply(reply_id="r1", channel=Channel.SMS, text="I will pay tomorrow",
                           received_at=T0))  # fmt: skip
    assert c.state.status is CollectionStatus.PROMISED and c.state.promise_until is not None
    until = c.state.promise_until
    assert isinstance(next_contact(c, PLAYBOOK.steps[1], Channel.SMS, "+16175550100"), NotNow)
    handle(c, TimePassed(promise_until=until))  # too early: nothing changes
    assert c.state.status is CollectionStatus.PROMISED
    h.clock.at = until + timedelta(minutes=1)
    handle(c, TimePassed(promise_until=until))
    assert _status(c) is CollectionStatus.ACTIVE
    assert [r.type for r in c.state.outbox][-3:] == [
        "PromiseEvent",
        "ESCALATE",
        "CampaignProgressEvent",
    ]


def test_pause_and_resume() -> None:
    h = Harness()
    c = h.campaign()
    handle(c, PauseRequest(reason="on a call", operator="ann"))
    handle(c, PauseRequest(reason="again", operator="bob"))  # already paused: ignored
    assert c.state.paused is not None and c.state.paused.operator == "ann"
    handle(c, ResumeRequest(operator="ann"))
    assert c.state.paused is None
    assert [r.body["event"]["status"] for r in c.state.outbox] == ["paused", "resumed"]


# --- properties ------------------------------------------------------------------------

REPLIES = [
    "STOP",
    "I'll pay $50 on Friday",
    "This is not my debt",
    "My attorney handles this",
    "wrong number",
    "ok thanks",
    "can you call me",
]
LEGAL = [
    LegalEventKind.DISPUTE,
    LegalEventKind.VERIFICATION_SENT,
    LegalEventKind.CEASE,
    LegalEventKind.ATTORNEY,
]


@st.composite
def events(draw: st.DrawFn) -> list[tuple[int, Event]]:
    """(minutes to let pass first, event), a campaign's worth."""
    found: list[tuple[int, Event]] = []
    for n in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["pay", "reply", "legal", "optout", "pause", "resume", "time"]))
        wait = draw(st.integers(0, 3 * 24 * 60))
        event: Event
        if kind == "pay":
            cents = draw(st.integers(1, 30_000))
            event = PaymentReceived(payment_id=f"p{n}", amount=Decimal(cents) / 100, currency="USD")
        elif kind == "reply":
            channel = draw(st.sampled_from([Channel.SMS, Channel.EMAIL]))
            event = InboundReply(
                reply_id=f"r{n}", channel=channel, text=draw(st.sampled_from(REPLIES))
            )
        elif kind == "legal":
            event = LegalEvent(kind=draw(st.sampled_from(LEGAL)))
        elif kind == "optout":
            channel = draw(st.sampled_from(list(Channel)))
            event = OptOutRequest(channel=channel, address=None)
        elif kind == "pause":
            event = PauseRequest(reason="r", operator="op")
        elif kind == "resume":
            event = ResumeRequest(operator="op")
        else:
            event = TimePassed()
        found.append((wait, event))
    return found


def _try_every_channel(c: Campaign, sent: list[tuple[datetime, Send]]) -> None:
    """Ask what the campaign would do on each channel now; a send 'happens'."""
    for step in PLAYBOOK.steps:
        to = address_for(c, step.channel)
        if to is None:
            continue
        move = next_contact(c, step, step.channel, to)
        if isinstance(move, Send):
            sent.append((c.now(), move))
            c.state.attempts.append(
                ContactAttempt(
                    attempt_id=f"a{len(sent)}", step_id=step.id, channel=step.channel, to=to,
                    at=c.now(), outcome=ContactOutcome.DELIVERED
                    if step.channel is not Channel.PHONE else ContactOutcome.VOICEMAIL,
                )
            )  # fmt: skip


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(events())
def test_no_contact_after_paid_or_ceased_and_every_send_passed_the_gate(
    sequence: list[tuple[int, Event]],
) -> None:
    h = Harness()
    c = h.campaign()
    sent: list[tuple[datetime, Send]] = []
    ended = False
    for minutes, event in sequence:
        h.clock.at += timedelta(minutes=minutes)
        handle(c, event)
        ended = ended or c.state.status in {CollectionStatus.PAID, CollectionStatus.CEASED}
        before = len(sent)
        _try_every_channel(c, sent)
        # Paid or ceased: never another contact, whatever happens next.
        assert not (ended and len(sent) > before), sent[before:]
    for at, move in sent:
        # Every send is one the gate allowed, then, on the facts and history it saw.
        assert move.decision.allowed and move.proposed.at == at
        assert gate(move.facts, move.history, move.proposed).allowed


def _status(c: Campaign) -> CollectionStatus:
    return c.state.status


# --- letters ------------------------------------------------------------------------------

VALIDATION = Step(
    id="first-notice",
    day=0,
    channel=Channel.EMAIL,
    template="first_notice",
    fallback=[Channel.LETTER, Channel.SMS],
)


def test_a_step_tries_its_fallbacks_in_order_and_a_letter_goes_to_the_address() -> None:
    c = Harness().campaign()
    assert [(ch, allowed) for ch, _, allowed in options(c, VALIDATION)] == [
        (Channel.EMAIL, True),
        (Channel.LETTER, True),
        (Channel.SMS, True),
    ]
    address = c.state.account.address
    assert address is not None
    assert address_for(c, Channel.LETTER) == "1 Main St, Albany, NY 12207"
    decision, facts, history = ask_gate(c, VALIDATION, Channel.LETTER, address.one_line(), "plan")
    assert decision.allowed
    request, export = contact_request(
        c, VALIDATION, Channel.LETTER, "first_notice", address.one_line(), facts, history
    )
    assert (request.channel, request.postal, request.to) == (
        Channel.LETTER,
        address,
        address.one_line(),
    )
    assert request.attempt_id == "account/t/A-1/run-1/first-notice/letter"
    assert request.retry == spec(Channel.LETTER).retry
    # Other channels carry no postal address.
    email, _ = contact_request(
        c, VALIDATION, Channel.EMAIL, "first_notice", "dana@example.com", facts, history
    )
    assert email.postal is None
    # The exported commands are the registry's, the letter's to the letter agent.
    commands = [r for r in c.state.outbox if r.kind is RecordKind.COMMAND]
    assert [(r.type, r.target) for r in commands] == [
        ("SEND_LETTER", "letter-agent"),
        ("SEND_EMAIL", "email-agent"),
    ]
    assert export.command_id == commands[0].message_id


def test_an_opted_out_address_is_never_written_to_again() -> None:
    c = Harness().campaign()
    address = c.state.account.address
    assert address is not None
    # A returned letter or the debtor asking: the address is retired, whatever the case.
    handle(c, OptOutRequest(channel=Channel.LETTER, address=address.one_line().upper()))
    assert address_for(c, Channel.LETTER) is None
    assert c.state.account.address is not None and c.state.account.address.opted_out
    assert address_for(c, Channel.EMAIL) == "dana@example.com"  # other channels untouched
    move = next_contact(c, VALIDATION, Channel.LETTER, address.one_line())
    assert isinstance(move, Barred) and move.decision.reasons == [Reason.OPTED_OUT]


def test_the_phones_default_fallback_and_the_agents_channels_come_from_the_registry() -> None:
    c = Harness().campaign()
    call = Step(id="call", day=2, channel=Channel.PHONE, template="call_script")
    assert [ch for ch, _, _ in options(c, call)] == [Channel.PHONE, Channel.SMS]
    c.state.account.phones[0].sms_opted_out = True
    assert [ch for ch, _, _ in options(c, call)] == [Channel.PHONE, Channel.EMAIL]
    # The next-best-action agent chooses among times of day: never a letter.
    asked = choice_request(c, call)
    assert asked is not None and Channel.LETTER not in asked.channels
    assert set(asked.channels) == {Channel.EMAIL, Channel.PHONE}


def test_the_agent_starts_from_the_channel_the_playbook_would_fall_back_to() -> None:
    c = Harness().campaign()
    text = Step(
        id="text",
        day=3,
        channel=Channel.SMS,
        template="reminder",
        requires=[StepCondition.SMS_CONSENT],
        fallback=Channel.EMAIL,
    )
    asked = choice_request(c, text)
    assert asked is not None and asked.playbook_arm is not None
    assert asked.playbook_arm.channel is Channel.SMS
    # Without SMS consent the fixed cadence sends the reminder by email: that is the
    # arm every other must beat, not no arm at all (any hour a guess).
    c.state.account.phones[0].sms_consent = False
    without = choice_request(c, text)
    assert without is not None and Channel.SMS not in without.channels
    assert without.playbook_arm is not None
    assert without.playbook_arm.channel is Channel.EMAIL
    assert without.playbook_arm.window is asked.playbook_arm.window
    # Neither consent: the playbook would not call or text at all; the agent's default
    # is still the playbook's hour, on the channel it may use.
    c.state.account.phones[0].voice_consent = False
    call = Step(id="call", day=7, channel=Channel.PHONE, template="call_script")
    silent = choice_request(c, call)
    assert silent is not None and silent.channels == [Channel.EMAIL]
    assert silent.playbook_arm == Arm(channel=Channel.EMAIL, window=asked.playbook_arm.window)
