"""``decide(state, event) -> (state, effects)``: the core as one function, for what is not
a workflow (tests, a replay of events, a what-if).

The workflow calls the same functions from its handlers; here an event is dispatched to
the one that handles it, and the effects are collected instead of carried out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.arrangements import ArrangementRequest, InstalmentReminder
from domain.campaign import (
    AccountCampaignInput,
    CampaignState,
    InboundReply,
    OptOutRequest,
    PaymentReceived,
)
from domain.campaign_core import approvals, arrangements, legal, promises, replies
from domain.campaign_core.campaign import Campaign, Effect, Host
from domain.campaign_core.payments import on_payment
from domain.compliance.facts import LegalEvent
from domain.operator import ApprovalDecision, PauseRequest, ResumeRequest


@dataclass(frozen=True)
class TimePassed:
    """A timer fired: approvals past their deadline take their safe default, and a promise
    kept open until ``promise_until`` is broken if nothing was paid."""

    promise_until: datetime | None = None


Event = (
    PaymentReceived
    | InboundReply
    | OptOutRequest
    | LegalEvent
    | PauseRequest
    | ResumeRequest
    | ApprovalDecision
    | ArrangementRequest
    | InstalmentReminder
    | TimePassed
)


def handle(c: Campaign, event: Event) -> None:
    """Route ``event`` to the core function that decides on it."""
    if isinstance(event, PaymentReceived):
        on_payment(c, event)
    elif isinstance(event, InboundReply):
        replies.on_reply(c, event)
    elif isinstance(event, OptOutRequest):
        legal.on_opt_out(c, event)
    elif isinstance(event, LegalEvent):
        legal.on_legal_event(c, event)
    elif isinstance(event, PauseRequest):
        approvals.on_pause(c, event)
    elif isinstance(event, ResumeRequest):
        approvals.on_resume(c, event)
    elif isinstance(event, ApprovalDecision):
        if approvals.validate_decision(c, event) is None:
            approvals.on_decision(c, event)
    elif isinstance(event, ArrangementRequest):
        if arrangements.validate_arrange(c, event) is None:
            arrangements.on_arrange(c, event)
    elif isinstance(event, InstalmentReminder):
        arrangements.on_instalment_reminder(c, event)
    else:
        approvals.expire(c)
        if event.promise_until is not None:
            promises.check(c, event.promise_until)


def decide(
    inp: AccountCampaignInput, state: CampaignState, event: Event, host: Host
) -> tuple[CampaignState, list[Effect]]:
    """The campaign's state after ``event``, and the effects it decided, in order."""
    effects: list[Effect] = []
    handle(Campaign(inp, state, host, effects.append), event)
    return state, effects
