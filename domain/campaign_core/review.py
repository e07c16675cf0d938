"""Replies the shipped model read with low confidence: a person decides what they said.

A reading by the model (``ReadBy.MODEL``) less confident than ``review_below`` is not
acted on; it becomes a ``review_reply`` approval instead: approving acts on the reading,
rejecting on the model's runner-up (``other`` when it has none). Until it is decided no
channel contacts the debtor (``steps.next_contact``: the debtor wrote and we are not sure
what they said). Nobody deciding by the deadline applies the more protective of the two
labels (``PROTECTIVE``). A stop is never held: acting on it at once is the safe thing.
Readings by the rules or the language model are acted on at once, as before.

Only what acting later needs is kept (``ReplyUnderReview``): never the reply's text.
"""

from __future__ import annotations

from domain.campaign import InboundReply, ReplyUnderReview
from domain.campaign_core.campaign import Campaign
from domain.campaign_core.status import request_approval
from domain.operator import Approval, ApprovalKind, ApprovalStatus
from domain.replies import ReplyIntent, ReplyReading
from domain.replies.reading import ReadBy, ReadReply

# Who "decides" an approval nobody answered (``approvals.expire``).
TIMEOUT = "timeout"
# Most protective first: what the deadline applies when the two labels differ. Acting on
# a protective label wrongly costs a contact; ignoring one wrongly may break the law.
PROTECTIVE = (
    ReplyIntent.ATTORNEY,
    ReplyIntent.STOP,
    ReplyIntent.DISPUTE,
    ReplyIntent.WRONG_PERSON,
)


def needs_review(c: Campaign, read: ReadReply) -> bool:
    """A model reading below the campaign's threshold, other than a stop."""
    return (
        read.read_by is ReadBy.MODEL
        and read.reading.confidence < c.inp.review_below
        and read.reading.intent is not ReplyIntent.STOP
    )


def _rank(intent: ReplyIntent) -> int:
    return PROTECTIVE.index(intent) if intent in PROTECTIVE else len(PROTECTIVE)


def safe_default(top: ReplyIntent, runner_up: ReplyIntent) -> ApprovalStatus:
    """APPROVED (the reading) unless the runner-up is the more protective label."""
    return ApprovalStatus.REJECTED if _rank(runner_up) < _rank(top) else ApprovalStatus.APPROVED


def open_review(c: Campaign, reply: InboundReply, read: ReadReply) -> Approval:
    """Hold the reply for a person: keep what acting needs, ask for the approval."""
    st = c.state
    reading = read.reading
    runner_up = read.runner_up or ReplyIntent.OTHER
    number = sum(a.kind is ApprovalKind.REVIEW_REPLY for a in st.approvals) + 1
    approval_id = f"review-{number}"
    st.reviews.append(
        ReplyUnderReview(
            approval_id=approval_id,
            reply_id=reply.reply_id,
            channel=reply.channel,
            from_address=reply.from_address,
            received_at=reply.received_at or c.now(),
            intent=reading.intent,
            runner_up=runner_up,
            confidence=reading.confidence,
            promise_date=reading.promise_date,
            promise_amount=reading.promise_amount,
        )
    )
    default = safe_default(reading.intent, runner_up)
    approval = Approval(
        approval_id=approval_id,
        kind=ApprovalKind.REVIEW_REPLY,
        # Labels and ids only: the reply's text stays where replies are stored.
        summary=(
            f"Reply {reply.reply_id} ({reply.channel.value}) was read as "
            f"'{reading.intent.value}' with confidence {reading.confidence:.2f}; the "
            f"runner-up is '{runner_up.value}'. Approve to act on '{reading.intent.value}'; "
            f"reject for '{runner_up.value}'. No contact until decided."
        )[:1000],
        requested_at=c.now(),
        subject_id=reply.reply_id,
        expires_at=c.now() + c.days(c.inp.approval_days),
        safe_default=default,
        proposal=f"read as {reading.intent.value}",
        alternative=f"read as {runner_up.value}",
    )
    request_approval(c, approval)
    c.changed = True
    return approval


def awaiting_review(c: Campaign) -> bool:
    """A reply waits for a person: nobody contacts the debtor meanwhile."""
    return bool(c.state.reviews)


def take_review(c: Campaign, approval: Approval) -> tuple[InboundReply, ReplyReading] | None:
    """The reply a decided review was about, and the reading the decision chose.

    Approved: the model's reading, with its promised date and amount; rejected: the
    runner-up, without them (the model read no date for that label). None when the
    approval is not a pending review of this campaign (decided twice, another kind).
    """
    st = c.state
    review = next((r for r in st.reviews if r.approval_id == approval.approval_id), None)
    if approval.kind is not ApprovalKind.REVIEW_REPLY or review is None:
        return None
    st.reviews.remove(review)
    reply = InboundReply(
        reply_id=review.reply_id,
        channel=review.channel,
        text="",  # never kept: acting on a reading does not need it
        from_address=review.from_address,
        received_at=review.received_at,
    )
    # A person's choice is as sure as a reading gets; the deadline's is not.
    confidence = review.confidence if approval.decided_by == TIMEOUT else 1.0
    if approval.status is ApprovalStatus.APPROVED:
        reading = ReplyReading(
            intent=review.intent,
            confidence=confidence,
            promise_date=review.promise_date,
            promise_amount=review.promise_amount,
        )
    else:
        reading = ReplyReading(intent=review.runner_up, confidence=confidence)
    return reply, reading
