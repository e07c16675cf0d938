"""Replies read in the reader activity, and the low-confidence ones a person reviews.

The decision core without Temporal: a reply queued for the reader, the reading the
activity would return handed to ``take_reading`` (as the shell's reader does), then
decisions and time passing through ``decide.handle``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.account import Account, EmailContact, PhoneContact, PostalAddress, Tenant
from domain.campaign import (
    AccountCampaignInput,
    CampaignState,
    CollectionStatus,
    InboundReply,
    PaymentReceived,
)
from domain.campaign_core.campaign import Campaign, Effect, Upsert
from domain.campaign_core.decide import TimePassed, handle
from domain.campaign_core.replies import take_reading
from domain.campaign_core.review import safe_default
from domain.campaign_core.steps import READ_FIRST, NotNow, next_contact
from domain.channels import Channel
from domain.events import EventType, ExportRecord
from domain.operator import Approval, ApprovalDecision, ApprovalKind, ApprovalStatus
from domain.playbook import Playbook, Step
from domain.replies import ReplyIntent, ReplyReading
from domain.replies.reading import ReadBy, ReadReply
from tests.core_support import T0, Clock

PLAYBOOK = Playbook(
    name="core",
    steps=[
        Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(id="text", day=1, channel=Channel.SMS, template="reminder"),
        Step(id="call", day=2, channel=Channel.PHONE, template="call_script"),
    ],
    closing_days=1,
)
TEXT = "ugh fine maybe friday, or is this even mine?"
NUMBER = "+16175550100"
STEP = PLAYBOOK.steps[1]


@dataclass
class Harness:
    clock: Clock = field(default_factory=Clock)
    effects: list[Effect] = field(default_factory=list)

    def campaign(self, **inputs: object) -> Campaign:
        account = Account(
            account_id="A-1",
            debtor_name="Dana Debtor",
            emails=[EmailContact(address="dana@example.com")],
            phones=[PhoneContact(number=NUMBER, sms_consent=True, voice_consent=True)],
            address=PostalAddress(line1="1 Main St", city="Albany", state="NY", zip="12207"),
            amount_due=Decimal("250.00"),
            due_date=date(2026, 1, 1),
            days_past_due=150,
            timezones=["America/New_York"],
            state="NY",
        )
        fields: dict[str, object] = {
            "tenant": Tenant(tenant_id="t", name="Acme Recovery"),
            "campaign_id": "c",
            "account": account,
            "playbook": PLAYBOOK,
            "reader_activity": True,
            "review_below": 0.5,
        }
        fields.update(inputs)
        inp = AccountCampaignInput.model_validate(fields)
        state = CampaignState(balance=account.amount_due, account=account, started_at=T0)
        return Campaign(inp, state, self.clock, self.effects.append)


def received(c: Campaign, text: str = TEXT, reply_id: str = "r1") -> InboundReply:
    """A reply by SMS, queued for the reader as the signal handler queues it."""
    handle(c, InboundReply(reply_id=reply_id, channel=Channel.SMS, text=text, from_address=NUMBER))
    [reply] = c.state.unread
    return reply


def read(
    c: Campaign,
    intent: ReplyIntent,
    confidence: float,
    runner_up: ReplyIntent | None = None,
    by: ReadBy = ReadBy.MODEL,
    promise: dict[str, object] | None = None,
) -> None:
    """What the shell's reader does with the activity's result."""
    reply = c.state.unread.pop(0)
    take_reading(
        c,
        reply,
        ReadReply(
            reading=ReplyReading.model_validate(
                {"intent": intent, "confidence": confidence, **(promise or {})}
            ),
            read_by=by,
            runner_up=runner_up,
        ),
    )


def events(c: Campaign, type: EventType, status: str | None = None) -> list[ExportRecord]:
    return [
        r for r in c.state.outbox if r.type == type.value and (status is None or r.status == status)
    ]


def held(c: Campaign) -> bool:
    """No channel may contact the debtor: every one waits for the reply."""
    moves = [
        next_contact(c, STEP, Channel.SMS, NUMBER),
        next_contact(c, STEP, Channel.EMAIL, "dana@example.com"),
        next_contact(c, STEP, Channel.PHONE, NUMBER),
    ]
    return all(m == NotNow(READ_FIRST) for m in moves)


def review_of(c: Campaign) -> Approval:
    [approval] = [a for a in c.state.approvals if a.kind is ApprovalKind.REVIEW_REPLY]
    return approval


def under_review(
    h: Harness, top: ReplyIntent, runner_up: ReplyIntent | None, **reading: object
) -> Campaign:
    c = h.campaign()
    received(c)
    read(c, top, 0.31, runner_up, promise=reading)
    return c


# --- how a reply is read ------------------------------------------------------------


def test_a_reply_of_a_new_run_waits_for_the_reader_and_contact_waits_with_it() -> None:
    c = Harness().campaign()
    reply = received(c)
    assert reply.received_at == T0 and c.state.replies == 1
    assert c.state.last_reply_intent is None and not events(c, EventType.CUSTOMER_INTERACTION)
    assert held(c)


def test_a_bare_stop_is_acted_on_at_once_even_with_the_reader() -> None:
    c = Harness().campaign()
    handle(c, InboundReply(reply_id="r1", channel=Channel.SMS, text="STOP", from_address=NUMBER))
    assert not c.state.unread and c.state.last_reply_intent == "stop"
    [opt_out] = events(c, EventType.OPT_OUT, "opted_out")
    assert opt_out.metadata["channel"] == "sms"


def test_a_run_from_before_the_reader_reads_in_the_workflow() -> None:
    c = Harness().campaign(reader_activity=False, review_below=0.0)
    handle(c, InboundReply(reply_id="r1", channel=Channel.SMS, text="This is not my debt"))
    assert not c.state.unread and c.state.status is CollectionStatus.DISPUTED
    [replied] = events(c, EventType.CUSTOMER_INTERACTION, "replied")
    assert replied.metadata["readBy"] == "offline"


# --- which readings wait for a person --------------------------------------------------


def test_a_low_confidence_model_reading_opens_a_review_and_holds_contact() -> None:
    h = Harness()
    c = under_review(
        h,
        ReplyIntent.PROMISE_TO_PAY,
        ReplyIntent.DISPUTE,
        promise_date=date(2026, 6, 5),
        promise_amount=Decimal("120.00"),
    )
    approval = review_of(c)
    assert approval.status is ApprovalStatus.PENDING
    assert approval.subject_id == "r1" and approval.approval_id == "review-1"
    assert approval.proposal == "read as promise_to_pay"
    assert approval.alternative == "read as dispute"
    # Dispute is the more protective label: nobody deciding reads it so.
    assert approval.safe_default is ApprovalStatus.REJECTED
    assert approval.expires_at == T0 + timedelta(days=2)
    for part in ("r1", "sms", "promise_to_pay", "dispute", "0.31"):
        assert part in approval.summary
    assert "friday" not in approval.summary.lower() and "mine" not in approval.summary
    # Nothing acted on; no channel contacts the debtor until a person decides.
    assert c.state.status is CollectionStatus.SCHEDULED and c.state.last_reply_intent is None
    assert not events(c, EventType.PROMISE) and not events(c, EventType.DISPUTE)
    assert held(c)
    # The reply is recorded, marked for review; operators can filter on the approval.
    [replied] = events(c, EventType.CUSTOMER_INTERACTION, "replied")
    meta = replied.metadata
    assert meta["review"] is True and meta["approvalId"] == "review-1"
    assert (meta["intent"], meta["readBy"], meta["runnerUp"]) == (
        "promise_to_pay",
        "model",
        "dispute",
    )
    assert any(
        isinstance(e, Upsert) and ("RecoupAwaitingApproval", True) in e.fields for e in h.effects
    )
    # What acting later needs is kept, never the text.
    [kept] = c.state.reviews
    assert "text" not in kept.model_dump() and TEXT not in kept.model_dump_json()


def test_approving_acts_on_the_reading_with_its_date_and_amount() -> None:
    c = under_review(
        Harness(),
        ReplyIntent.PROMISE_TO_PAY,
        ReplyIntent.HARDSHIP,
        promise_date=date(2026, 6, 5),
        promise_amount=Decimal("120.00"),
    )
    assert review_of(c).safe_default is ApprovalStatus.APPROVED
    handle(c, ApprovalDecision(approval_id="review-1", approve=True, operator="ana"))
    assert review_of(c).status is ApprovalStatus.APPROVED and not c.state.reviews
    assert c.state.status is CollectionStatus.PROMISED
    assert c.state.last_reply_intent == "promise_to_pay"
    # June 2 to June 5, and the 5th itself: four days.
    assert c.state.promise_until == T0 + timedelta(days=4)
    [promise] = events(c, EventType.PROMISE, "made")
    assert promise.metadata["promisedDate"] == "2026-06-05"
    assert promise.metadata["promisedAmount"] == "120.00"
    [decided] = events(c, EventType.CAMPAIGN_PROGRESS, "approval_approved")
    assert decided.metadata["applied"] == "read as promise_to_pay"
    assert not held(c)


def test_rejecting_acts_on_the_runner_up_without_the_readings_date() -> None:
    c = under_review(
        Harness(),
        ReplyIntent.HARDSHIP,
        ReplyIntent.PROMISE_TO_PAY,
        promise_date=None,
    )
    handle(c, ApprovalDecision(approval_id="review-1", approve=False, operator="ana"))
    assert c.state.status is CollectionStatus.PROMISED
    assert c.state.last_reply_intent == "promise_to_pay"
    # No date: the playbook's grace days.
    assert c.state.promise_until == T0 + timedelta(days=PLAYBOOK.promise_grace_days)
    [promise] = events(c, EventType.PROMISE, "made")
    assert "promisedDate" not in promise.metadata and "promisedAmount" not in promise.metadata


def test_rejecting_a_promise_for_a_dispute_holds_collection() -> None:
    c = under_review(
        Harness(),
        ReplyIntent.PROMISE_TO_PAY,
        ReplyIntent.DISPUTE,
        promise_date=date(2026, 6, 5),
    )
    handle(c, ApprovalDecision(approval_id="review-1", approve=False, operator="ana"))
    assert c.state.status is CollectionStatus.DISPUTED and c.state.holds.disputed_unverified
    assert not events(c, EventType.PROMISE)
    # Deciding again changes nothing.
    handle(c, ApprovalDecision(approval_id="review-1", approve=True, operator="bo"))
    assert review_of(c).status is ApprovalStatus.REJECTED and not events(c, EventType.PROMISE)


def test_nobody_deciding_applies_the_more_protective_label() -> None:
    h = Harness()
    c = under_review(h, ReplyIntent.PROMISE_TO_PAY, ReplyIntent.ATTORNEY)
    h.clock.at = T0 + timedelta(days=1)
    handle(c, TimePassed())
    assert review_of(c).status is ApprovalStatus.PENDING and held(c)
    h.clock.at = T0 + timedelta(days=2)
    handle(c, TimePassed())
    approval = review_of(c)
    assert (approval.status, approval.decided_by) == (ApprovalStatus.REJECTED, "timeout")
    assert c.state.status is CollectionStatus.CEASED and c.state.holds.attorney


def test_nobody_deciding_keeps_the_reading_when_it_is_the_safer_one() -> None:
    h = Harness()
    c = under_review(h, ReplyIntent.CALLBACK, None)
    approval = review_of(c)
    assert approval.alternative == "read as other"
    assert approval.safe_default is ApprovalStatus.APPROVED
    h.clock.at = T0 + timedelta(days=3)
    handle(c, TimePassed())
    assert c.state.last_reply_intent == "callback" and c.state.callbacks == ["r1"]


@pytest.mark.parametrize(
    ("top", "runner_up", "default"),
    [
        (ReplyIntent.PROMISE_TO_PAY, ReplyIntent.STOP, ApprovalStatus.REJECTED),
        (ReplyIntent.DISPUTE, ReplyIntent.ATTORNEY, ApprovalStatus.REJECTED),
        (ReplyIntent.WRONG_PERSON, ReplyIntent.DISPUTE, ApprovalStatus.REJECTED),
        (ReplyIntent.DISPUTE, ReplyIntent.WRONG_PERSON, ApprovalStatus.APPROVED),
        (ReplyIntent.ATTORNEY, ReplyIntent.DISPUTE, ApprovalStatus.APPROVED),
        (ReplyIntent.PAY_NOW, ReplyIntent.HARDSHIP, ApprovalStatus.APPROVED),
        (ReplyIntent.HARDSHIP, ReplyIntent.OTHER, ApprovalStatus.APPROVED),
    ],
)
def test_the_safe_default_is_the_more_protective_label(
    top: ReplyIntent, runner_up: ReplyIntent, default: ApprovalStatus
) -> None:
    assert safe_default(top, runner_up) is default


def test_a_stop_reading_is_never_held() -> None:
    c = Harness().campaign()
    received(c, "please don't text this number again")
    read(c, ReplyIntent.STOP, 0.1, ReplyIntent.OTHER)
    assert not c.state.approvals and not c.state.reviews
    assert c.state.last_reply_intent == "stop" and events(c, EventType.OPT_OUT)
    assert next_contact(c, STEP, Channel.SMS, NUMBER) != NotNow(READ_FIRST)


@pytest.mark.parametrize("by", [ReadBy.OFFLINE, ReadBy.LLM])
def test_a_reading_by_the_rules_or_a_language_model_is_never_held(by: ReadBy) -> None:
    c = Harness().campaign()
    received(c)
    read(c, ReplyIntent.DISPUTE, 0.1, ReplyIntent.PROMISE_TO_PAY, by=by)
    assert not c.state.approvals and c.state.status is CollectionStatus.DISPUTED


@pytest.mark.parametrize(("confidence", "review_below"), [(0.5, 0.5), (0.9, 0.5), (0.01, 0.0)])
def test_a_reading_at_or_above_the_threshold_is_acted_on_at_once(
    confidence: float, review_below: float
) -> None:
    c = Harness().campaign(review_below=review_below)
    received(c)
    read(c, ReplyIntent.DISPUTE, confidence, ReplyIntent.PROMISE_TO_PAY)
    assert not c.state.approvals and c.state.status is CollectionStatus.DISPUTED
    [replied] = events(c, EventType.CUSTOMER_INTERACTION, "replied")
    assert "review" not in replied.metadata


def test_a_payment_in_full_during_a_review_leaves_nothing_to_act_on() -> None:
    c = under_review(Harness(), ReplyIntent.PROMISE_TO_PAY, ReplyIntent.DISPUTE)
    handle(c, PaymentReceived(payment_id="p1", amount=Decimal("250.00"), currency="USD"))
    assert c.state.status is CollectionStatus.PAID
    handle(c, ApprovalDecision(approval_id="review-1", approve=False, operator="ana"))
    assert c.state.status is CollectionStatus.PAID and not events(c, EventType.DISPUTE)


# --- a written request to cease all communication ends contact on every channel -----------


def test_a_written_cease_request_ends_contact_on_every_channel() -> None:
    h = Harness()
    c = h.campaign()
    reply = received(c, "I refuse to pay and request that you cease all communication.")
    c.state.unread.pop(0)
    take_reading(
        c,
        reply,
        ReadReply(
            reading=ReplyReading(intent=ReplyIntent.STOP, confidence=0.99),
            read_by=ReadBy.MODEL,
            cease=True,
        ),
    )
    assert c.state.holds.cease
    assert c.state.status is CollectionStatus.CEASED
    [audit] = events(c, EventType.COMPLIANCE_AUDIT, "legal_event")
    assert audit.metadata == {"kind": "cease", "source": "reply", "replyId": reply.reply_id}
    [replied] = events(c, EventType.CUSTOMER_INTERACTION, "replied")
    assert replied.metadata["cease"] is True


def test_a_plain_stop_ends_only_its_channel() -> None:
    h = Harness()
    c = h.campaign()
    received(c, "STOP texting me")
    read(c, ReplyIntent.STOP, 0.99)
    assert not c.state.holds.cease
    assert c.state.status is not CollectionStatus.CEASED
    assert not events(c, EventType.COMPLIANCE_AUDIT, "legal_event")
