"""What an account campaign does with a reply, once it is read (``domain.replies``).

- stop: that channel (the address it came from) is opted out at once; by SMS it also
  revokes TCPA consent for that number.
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
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.agent_messages import AgentIdentity, MessageMode
    from domain.arrangements import (
        Arrangement,
        ArrangementKind,
        ArrangementRequest,
        Instalment,
    )
    from domain.campaign import AccountCampaignInput, CampaignState, CollectionStatus, InboundReply
    from domain.channels import Channel
    from domain.events import EventType
    from domain.playbook import StopCondition
    from domain.replies import ReplyIntent, ReplyReading
    from workflows.arrangement_saga import arrangement_problem
    from workflows.exporting import Exporting

# A plan offered from a reply: the balance in this many monthly instalments, the first
# a week after the reply.
PLAN_INSTALMENTS = 3
PLAN_FIRST_DUE_DAYS = 7
PLAN_EVERY_DAYS = 30
_CENT = Decimal("0.01")


class ReplyActions(Exporting):
    """Mixed into AccountCampaign, which provides the state and the primitives."""

    _inp: AccountCampaignInput
    _state: CampaignState
    _legal_epoch: int

    # Provided by AccountCampaign.
    def _set_status(self, status: CollectionStatus) -> None:
        raise NotImplementedError

    def _days(self, days: float) -> timedelta:
        raise NotImplementedError

    def _opt_out(self, channel: Channel, address: str | None) -> None:
        raise NotImplementedError

    def _revoke_consent(self, channel: Channel, address: str | None) -> None:
        raise NotImplementedError

    def _address_for(self, channel: Channel) -> str | None:
        raise NotImplementedError

    def _accept_arrangement(self, request: ArrangementRequest) -> Arrangement:
        raise NotImplementedError

    # --- acting on a reading -------------------------------------------------

    def _act_on_reply(self, reply: InboundReply, reading: ReplyReading) -> None:
        st = self._state
        intent = reading.intent
        received = reply.received_at or workflow.now()
        if intent is ReplyIntent.STOP:
            self._stop_channel(reply)
        elif intent is ReplyIntent.ATTORNEY:
            st.holds.attorney = True
            self._legal_epoch += 1
            self._set_status(CollectionStatus.CEASED)
            self._tell_operator(reply, "the debtor says an attorney represents them")
        elif intent is ReplyIntent.WRONG_PERSON:
            self._set_status(CollectionStatus.CEASED)
            self._tell_operator(reply, "the reply says we reached the wrong person")
        elif intent is ReplyIntent.DISPUTE:
            st.holds.disputed_unverified = True
            self._legal_epoch += 1
            self._emit(EventType.DISPUTE, "opened", {"replyId": reply.reply_id, "source": "reply"})
            self._set_status(CollectionStatus.DISPUTED)
        elif self._inp.playbook.stops_on(StopCondition.ANY_REPLY):
            self._set_status(CollectionStatus.RESPONDED)
        elif intent is ReplyIntent.PROMISE_TO_PAY:
            self._promise(reply, reading, received)
        elif intent is ReplyIntent.PAY_NOW:
            self._promise(reply, reading, received, paid=True)
        elif intent is ReplyIntent.PAYMENT_PLAN:
            self._offer_plan(reply, received)
        elif intent is ReplyIntent.CALLBACK:
            if self._address_for(Channel.PHONE) is not None:
                st.callbacks.append(reply.reply_id)
            else:
                self._tell_operator(reply, "asked to be called, but no number may be called")
        elif intent is ReplyIntent.HARDSHIP:
            self._tell_operator(reply, "the debtor reports hardship")

    def _stop_channel(self, reply: InboundReply) -> None:
        # An opt-out revokes that channel at once (the address it came from, or the
        # whole channel when the sender is unknown); by SMS it also revokes consent.
        self._opt_out(reply.channel, reply.from_address)
        self._emit(
            EventType.OPT_OUT,
            "opted_out",
            {"channel": reply.channel.value, "reason": "stop keyword", "replyId": reply.reply_id},
        )
        if reply.channel is Channel.SMS:
            self._revoke_consent(Channel.SMS, reply.from_address)
        self._legal_epoch += 1

    def _promise(
        self, reply: InboundReply, reading: ReplyReading, received: datetime, paid: bool = False
    ) -> None:
        st = self._state
        playbook = self._inp.playbook
        if not paid and not playbook.stops_on(StopCondition.PROMISE_TO_PAY):
            return
        if reading.promise_date is not None:
            # Playbook days may be compressed: count calendar days to the promised date
            # and wait that many playbook days, plus the promised day itself.
            ahead = max(0, (reading.promise_date - received.date()).days) + 1
        else:
            ahead = playbook.promise_grace_days
        st.promise_until = received + self._days(ahead)
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
        self._emit(EventType.PROMISE, "made", meta)
        self._set_status(CollectionStatus.PROMISED)

    def _offer_plan(self, reply: InboundReply, received: datetime) -> None:
        st = self._state
        request = plan_for(f"plan-{reply.reply_id}"[:128], st.balance, received)
        problem = None if request is not None else "nothing left to spread over a plan"
        if request is not None:
            problem = arrangement_problem(request, st, workflow.now().date())
        if problem is not None or request is None:
            self._tell_operator(reply, f"asked for a payment plan; none offered: {problem}")
            return
        self._accept_arrangement(request)

    def _tell_operator(self, reply: InboundReply, why: str) -> None:
        """An ESCALATE command and a request to the supervisor: a person should look."""
        st = self._state
        facts = {"replyId": reply.reply_id, "channel": reply.channel.value, "reason": why}
        event_id = self._emit(EventType.CUSTOMER_INTERACTION, "needs_operator", facts)
        self._emit_escalation(facts)
        self._emit_agent_message(
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

    def _broken_promise(self, until: datetime) -> None:
        """Escalate a promise that passed without a payment (outreach resumes too)."""
        facts = {"promiseUntil": until.isoformat(), "reason": "promise to pay broken"}
        self._emit_escalation(facts)


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
