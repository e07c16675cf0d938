"""What a campaign does with a reply, once it is read (``domain.replies``).

- stop: that channel (the address it came from) is opted out at once; by SMS it also
  revokes TCPA consent for that number. A stop the reader found written as a request to
  cease all communication (15 U.S.C. 1692c(c), ``ReadReply.cease``) also sets the cease
  hold: contact ends on every channel.
- attorney: the debtor is represented: contact stops (12 CFR 1006.6(b)(2)) and an
  operator is told.
- wrong person: contact stops and an operator is told (it may be a wrong number).
- dispute: collection pauses until verification is sent (1006.34(c)(3), 1006.38(d)).
- promise to pay: outreach pauses until the day after the promised date (or the
  playbook's grace days when no date was given); a promise broken is escalated.
- pay now: outreach pauses for the playbook's grace days while the payment posts.
- payment plan: the balance in three monthly instalments goes through the saga
  (link, ledger, confirmation); if the campaign cannot take one, an operator is told.
- callback: a call is queued (through the gate, like every contact); without a
  number that may be called, an operator is told.
- hardship: an operator is told; outreach goes on unless a person pauses it.

Those that end or pause contact act on every playbook; otherwise a playbook that
stops on any reply hands the account to a person (``responded``).

How a reply is read: a bare STOP keyword is acted on at once, right here in the handler,
before anything else is sent. Any other reply of a run started with ``reader_activity``
(every run started now) or ``llm_replies`` waits in ``unread`` for the shell's reader,
which reads it in the ``read_reply`` activity (the language model when one is configured,
otherwise the offline reader the worker was given): the reading is recorded in the
history, so a new model or new rules never change how a running campaign replays. Runs
that began before ``reader_activity`` read here with the rules of ``domain.replies``.
While a reply is unread no channel contacts the debtor (``steps.READ_FIRST``).

A reading by the shipped model (``ReadBy.MODEL``) less confident than the campaign's
``review_below`` (``RECOUP_REPLY_REVIEW_BELOW``) is put to a person as a
``review_reply`` approval (``review``): approving acts on the reading, rejecting on the
model's runner-up; contact waits until it is decided, and the deadline applies the more
protective label (attorney, stop, dispute, wrong person, then the reading). A stop is
never held.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from domain.agent_messages import AgentIdentity, MessageMode
from domain.arrangements import ArrangementKind, ArrangementRequest, Instalment
from domain.campaign import CollectionStatus, InboundReply
from domain.campaign_core.arrangements import accept, arrangement_problem
from domain.campaign_core.campaign import Campaign
from domain.campaign_core.learning import credit
from domain.campaign_core.legal import opt_out_address, revoke_consent
from domain.campaign_core.outbox import emit, emit_agent_message, emit_escalation
from domain.campaign_core.research import exchange
from domain.campaign_core.review import needs_review, open_review, take_review
from domain.campaign_core.status import set_status
from domain.campaign_core.steps import address_for
from domain.campaign_core.supervision import check_promise_against_research
from domain.channels import Channel
from domain.events import EventType
from domain.operator import Approval
from domain.playbook import StopCondition
from domain.replies import ReplyIntent, ReplyReading, classify, is_stop_keyword
from domain.replies.reading import ReadBy, ReadReply, ReplyToRead

# Replies that commit to paying: the contact before them earned a promise's reward.
PROMISING = frozenset({ReplyIntent.PROMISE_TO_PAY, ReplyIntent.PAY_NOW, ReplyIntent.PAYMENT_PLAN})
# A plan offered from a reply: the balance in this many monthly instalments, the first
# a week after the reply.
PLAN_INSTALMENTS = 3
PLAN_FIRST_DUE_DAYS = 7
PLAN_EVERY_DAYS = 30
_CENT = Decimal("0.01")


def on_reply(c: Campaign, reply: InboundReply) -> None:
    st = c.state
    if reply.reply_id in st.reply_ids or st.status.terminal:
        return
    st.reply_ids.append(reply.reply_id)
    st.replies += 1
    if (c.inp.llm_replies or c.inp.reader_activity) and not is_stop_keyword(reply.text):
        # Read in the shell's reader (an activity, recorded in the history); a bare STOP
        # needs no reader and takes effect before anything else is sent.
        if reply.received_at is None:
            reply = reply.model_copy(update={"received_at": c.now()})
        st.unread.append(reply)
        c.changed = True
        return
    reading = classify(reply.text, reply.received_at or c.now(), reply.channel)
    take_reading(c, reply, ReadReply(reading=reading, read_by=ReadBy.OFFLINE))
    c.changed = True


def to_read(c: Campaign, reply: InboundReply) -> ReplyToRead:
    """What the language model is sent: never the debtor's name."""
    return ReplyToRead(
        reply_id=reply.reply_id,
        tenant_id=c.inp.tenant.tenant_id,
        text=reply.text,
        channel=reply.channel,
        received_at=reply.received_at or c.now(),
        language=c.state.account.language,
    )


def read_offline(c: Campaign, reply: InboundReply, kind: str | None) -> ReadReply:
    """The reader activity kept failing (or the model rejected the request): the rules'
    reading, in the workflow."""
    reading = classify(reply.text, reply.received_at or c.now(), reply.channel)
    if kind == "LlmRejected":
        why = "model rejected the request"
    elif c.inp.llm_replies:
        why = "model unavailable"
    else:
        why = "reader unavailable"
    return ReadReply(reading=reading, read_by=ReadBy.OFFLINE, fallback=why)


def take_reading(c: Campaign, reply: InboundReply, read: ReadReply) -> None:
    """Record a reply's reading (and how it was read), then act on it, or hold it for a
    person when the model was unsure (``review``)."""
    reading = read.reading
    meta: dict[str, Any] = {
        "replyId": reply.reply_id,
        "channel": reply.channel.value,
        "direction": "inbound",
        "intent": reading.intent.value,
        "confidence": round(reading.confidence, 2),
        "readBy": read.read_by.value,
    }
    if read.fallback is not None:
        meta["fallback"] = read.fallback
    if read.runner_up is not None:  # the model's second choice (only the model gives one)
        meta["runnerUp"] = read.runner_up.value
    if needs_review(c, read) and not c.state.status.terminal:
        approval = open_review(c, reply, read)
        meta |= {"review": True, "approvalId": approval.approval_id}
        emit(c, EventType.CUSTOMER_INTERACTION, "replied", meta)
        exchange(c, "in", reply.channel, "reply: unclear, a person reviews it")
        return
    if read.cease:
        meta["cease"] = True
    emit(c, EventType.CUSTOMER_INTERACTION, "replied", meta)
    _act(c, reply, reading)
    if read.cease and reading.intent is ReplyIntent.STOP:
        cease_all(c, reply)


def cease_all(c: Campaign, reply: InboundReply) -> None:
    """A written request to cease all communication (15 U.S.C. 1692c(c)): beyond the
    channel it came by, contact ends on every channel, as a cease legal event ends it."""
    st = c.state
    if st.holds.cease:
        return
    st.holds.cease = True
    c.legal_epoch += 1
    meta = {"kind": "cease", "source": "reply", "replyId": reply.reply_id}
    emit(c, EventType.COMPLIANCE_AUDIT, "legal_event", meta)
    if not st.status.terminal:
        set_status(c, CollectionStatus.CEASED)


def on_reviewed(c: Campaign, approval: Approval) -> None:
    """A person (or the deadline) decided what a held reply said: act on that reading."""
    taken = take_review(c, approval)
    if taken is not None:
        _act(c, *taken)


def _act(c: Campaign, reply: InboundReply, reading: ReplyReading) -> None:
    st = c.state
    st.last_reply_intent = reading.intent.value
    what = f"reply: {reading.intent.value}"
    if reading.promise_date is not None:
        what += f" {reading.promise_date.isoformat()}"
    exchange(c, "in", reply.channel, what)
    if reading.intent is ReplyIntent.STOP:
        credit(c, "opt_out")  # counts only in runs that count harms (negative_outcomes)
    elif reading.intent is ReplyIntent.DISPUTE:
        credit(c, "reply")
        credit(c, "dispute")
    else:
        credit(c, "promise" if reading.intent in PROMISING else "reply")
    if not st.status.terminal:  # read after the campaign ended: recorded only
        act_on_reply(c, reply, reading)
        if reading.intent is ReplyIntent.PROMISE_TO_PAY and st.status is CollectionStatus.PROMISED:
            check_promise_against_research(
                c, reply.reply_id, f"{what} (confidence {reading.confidence:.2f})"
            )


def act_on_reply(c: Campaign, reply: InboundReply, reading: ReplyReading) -> None:
    st = c.state
    intent = reading.intent
    received = reply.received_at or c.now()
    if intent is ReplyIntent.STOP:
        _stop_channel(c, reply)
    elif intent is ReplyIntent.ATTORNEY:
        st.holds.attorney = True
        c.legal_epoch += 1
        set_status(c, CollectionStatus.CEASED)
        tell_operator(c, reply, "the debtor says an attorney represents them")
    elif intent is ReplyIntent.WRONG_PERSON:
        set_status(c, CollectionStatus.CEASED)
        tell_operator(c, reply, "the reply says we reached the wrong person")
    elif intent is ReplyIntent.DISPUTE:
        st.holds.disputed_unverified = True
        c.legal_epoch += 1
        emit(c, EventType.DISPUTE, "opened", {"replyId": reply.reply_id, "source": "reply"})
        set_status(c, CollectionStatus.DISPUTED)
    elif c.inp.playbook.stops_on(StopCondition.ANY_REPLY):
        set_status(c, CollectionStatus.RESPONDED)
    elif intent is ReplyIntent.PROMISE_TO_PAY:
        _promise(c, reply, reading, received)
    elif intent is ReplyIntent.PAY_NOW:
        _promise(c, reply, reading, received, paid=True)
    elif intent is ReplyIntent.PAYMENT_PLAN:
        _offer_plan(c, reply, received)
    elif intent is ReplyIntent.CALLBACK:
        if address_for(c, Channel.PHONE) is not None:
            st.callbacks.append(reply.reply_id)
        else:
            tell_operator(c, reply, "asked to be called, but no number may be called")
    elif intent is ReplyIntent.HARDSHIP:
        tell_operator(c, reply, "the debtor reports hardship")


def _stop_channel(c: Campaign, reply: InboundReply) -> None:
    # An opt-out revokes that channel at once (the address it came from, or the whole
    # channel when the sender is unknown); by SMS it also revokes consent.
    opt_out_address(c, reply.channel, reply.from_address)
    emit(
        c,
        EventType.OPT_OUT,
        "opted_out",
        {"channel": reply.channel.value, "reason": "stop keyword", "replyId": reply.reply_id},
    )
    if reply.channel is Channel.SMS:
        revoke_consent(c, Channel.SMS, reply.from_address)
    c.legal_epoch += 1


def _promise(
    c: Campaign, reply: InboundReply, reading: ReplyReading, received: datetime, paid: bool = False
) -> None:
    st = c.state
    playbook = c.inp.playbook
    if not paid and not playbook.stops_on(StopCondition.PROMISE_TO_PAY):
        return
    if reading.promise_date is not None:
        # Playbook days may be compressed: count calendar days to the promised date and
        # wait that many playbook days, plus the promised day itself.
        ahead = max(0, (reading.promise_date - received.date()).days) + 1
    else:
        ahead = playbook.promise_grace_days
    st.promise_until = received + c.days(ahead)
    st.promises += 1
    meta: dict[str, object] = {
        "replyId": reply.reply_id,
        "promiseUntil": st.promise_until.isoformat(),
        "kind": "paid" if paid else "promise",
    }
    if reading.promise_date is not None:
        meta["promisedDate"] = reading.promise_date.isoformat()
    if reading.promise_amount is not None:
        meta["promisedAmount"] = str(reading.promise_amount)
    emit(c, EventType.PROMISE, "made", meta)
    set_status(c, CollectionStatus.PROMISED)


def _offer_plan(c: Campaign, reply: InboundReply, received: datetime) -> None:
    st = c.state
    request = plan_for(f"plan-{reply.reply_id}"[:128], st.balance, received)
    problem = None if request is not None else "nothing left to spread over a plan"
    if request is not None:
        problem = arrangement_problem(request, st, c.now().date())
    if problem is not None or request is None:
        tell_operator(c, reply, f"asked for a payment plan; none offered: {problem}")
        return
    accept(c, request)


def tell_operator(c: Campaign, reply: InboundReply, why: str) -> None:
    """An ESCALATE command and a request to the supervisor: a person should look."""
    st = c.state
    facts = {"replyId": reply.reply_id, "channel": reply.channel.value, "reason": why}
    event_id = emit(c, EventType.CUSTOMER_INTERACTION, "needs_operator", facts)
    emit_escalation(c, facts)
    emit_agent_message(
        c,
        from_agent=AgentIdentity(agent_id="reply-reader", role="agent"),
        to="supervisor",
        routing="role",
        kind="request",
        action="review_reply",
        priority="high",
        content=f"Account {st.account.account_id}: {why} (reply {reply.reply_id}).",
        mode=MessageMode.ASYNC,
        requires_response=True,
        correlation_id=event_id,
    )


def broken_promise(c: Campaign, until: datetime) -> None:
    """Escalate a promise that passed without a payment (outreach resumes too)."""
    emit_escalation(c, {"promiseUntil": until.isoformat(), "reason": "promise to pay broken"})


def plan_for(
    arrangement_id: str, balance: Decimal, received: datetime
) -> ArrangementRequest | None:
    """The balance in ``PLAN_INSTALMENTS`` monthly instalments (the last takes the cents)."""
    if balance < PLAN_INSTALMENTS * _CENT:
        return None
    share = (balance / PLAN_INSTALMENTS).quantize(_CENT, rounding=ROUND_DOWN)
    amounts = [share] * (PLAN_INSTALMENTS - 1) + [balance - share * (PLAN_INSTALMENTS - 1)]
    first = received.date() + timedelta(days=PLAN_FIRST_DUE_DAYS)
    return ArrangementRequest(
        arrangement_id=arrangement_id,
        kind=ArrangementKind.PAYMENT_PLAN,
        instalments=[
            Instalment(due=first + timedelta(days=PLAN_EVERY_DAYS * i), amount=amount)
            for i, amount in enumerate(amounts)
        ],
        note="offered after the debtor asked for a payment plan",
    )
