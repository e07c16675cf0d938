"""A playbook step: may it go, on which channels, to which address, and does the law allow it.

Every contact is decided by the compliance gate (``domain.compliance``) with the facts of
the one address it goes to and the debt's whole recent history; each decision is kept
(the evidence a compliance officer reads) and exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.agent_messages import AgentIdentity, MessageMode
from domain.campaign import CollectionStatus
from domain.campaign_core.campaign import Campaign
from domain.campaign_core.outbox import emit, emit_agent_message
from domain.campaign_core.review import awaiting_review
from domain.campaign_core.status import set_status
from domain.channels import Channel, spec
from domain.compliance.engine import decide
from domain.compliance.facts import GateRecord, facts_for, recent_history
from domain.compliance.model import ComplianceFacts, Decision, PastContact, ProposedContact
from domain.contact import ContactAttempt, ContactOutcome
from domain.events import EventType
from domain.playbook import Step, StepCondition

# Gate decisions carried across continue-as-new (earlier ones stay in earlier runs).
MAX_DECISIONS_CARRIED = 300

# (channel, template, whether the step's conditions allow it)
Option = tuple[Channel, str, bool]


def conditions_hold(c: Campaign, step: Step, consents: bool = True) -> bool:
    """Whether ``step`` may go; without ``consents``, only what is not about a channel
    (the next-best-action agent only offers channels that may be used)."""
    st = c.state
    account = st.account
    checks = {
        StepCondition.SMS_CONSENT: any(p.sms_usable for p in account.phones),
        StepCondition.VOICE_CONSENT: any(p.voice_usable for p in account.phones),
        StepCondition.EMAIL_AVAILABLE: any(e.usable for e in account.emails),
        StepCondition.NO_REPLY_YET: st.replies == 0,
        StepCondition.NO_PAYMENT_YET: st.amount_paid == 0,
    }
    if not consents:
        for channel_condition in (
            StepCondition.SMS_CONSENT,
            StepCondition.VOICE_CONSENT,
            StepCondition.EMAIL_AVAILABLE,
        ):
            checks[channel_condition] = True
    return all(checks[cond] for cond in step.requires)


def address_for(c: Campaign, channel: Channel) -> str | None:
    """Where ``channel`` would reach the debtor (its registry row's consent rule)."""
    if channel in c.state.holds.medium_opt_outs:
        return None
    return spec(channel).address_of(c.state.account)


def any_channel_usable(c: Campaign) -> bool:
    return any(address_for(c, ch) is not None for ch in Channel)


def options(c: Campaign, step: Step) -> list[Option]:
    """The step's channel, then its fallbacks in order. A step that names none takes its
    channel's (the registry's): a call that fails goes to SMS where texting is allowed,
    else to email, even without a fallback in the playbook (the seed's rule)."""
    found: list[Option] = [(step.channel, step.template, conditions_hold(c, step))]
    fallbacks = step.fallbacks
    if not fallbacks:
        defaults = spec(step.channel).fallback
        usable = [ch for ch in defaults if address_for(c, ch)]
        fallbacks = (usable or list(defaults[-1:]))[:1]
    template = step.fallback_template or step.template
    found += [(fallback, template, True) for fallback in fallbacks]
    return found


def record_skip(c: Campaign, step: Step, channel: Channel, why: str) -> None:
    emit(
        c,
        EventType.CUSTOMER_INTERACTION,
        "skipped",
        {"stepId": step.id, "channel": channel.value, "reason": why[:300]},
    )
    c.state.attempts.append(
        ContactAttempt(
            attempt_id=f"{c.host.workflow_id}/{step.id}/skipped",
            step_id=step.id,
            channel=channel,
            at=c.now(),
            outcome=ContactOutcome.SKIPPED,
            detail=why[:300],
        )
    )


def ask_gate(
    c: Campaign, step: Step, channel: Channel, to: str, stage: str
) -> tuple[Decision, ComplianceFacts, list[PastContact]]:
    """The gate's decision on contacting ``to`` on ``channel`` now, recorded."""
    st = c.state
    now = c.now()
    facts = facts_for(st.account, st.holds, channel, to)
    history = recent_history(st.prior_contacts, st.attempts, now)
    decision = decide(facts, history, ProposedContact(at=now, channel=channel, to=to))
    record_decision(c, decision, step, channel, to, facts, len(history), stage)
    return decision, facts, history


def record_decision(
    c: Campaign,
    decision: Decision,
    step: Step,
    channel: Channel,
    to: str,
    facts: ComplianceFacts,
    history_size: int,
    stage: str,
) -> None:
    decisions = c.state.decisions
    decisions.append(
        GateRecord(
            at=c.now(),
            stage=stage,
            step_id=step.id,
            channel=channel,
            to=to,
            allowed=decision.allowed,
            reasons=decision.reasons,
            earliest_allowed=decision.earliest_allowed,
            ruleset=decision.ruleset,
            facts=facts,
            history_size=history_size,
        )
    )
    # Older decisions stay in the histories of earlier runs; carry a bounded tail.
    del decisions[:-MAX_DECISIONS_CARRIED]
    metadata: dict[str, Any] = {
        "stage": stage,
        "stepId": step.id,
        "channel": channel.value,
        "reasons": [r.value for r in decision.reasons],
        "ruleset": decision.ruleset,
        "historySize": history_size,
    }
    if decision.earliest_allowed is not None:
        metadata["earliestAllowed"] = decision.earliest_allowed.isoformat()
    emit(c, EventType.COMPLIANCE_AUDIT, "allowed" if decision.allowed else "denied", metadata)


def hand_off(c: Campaign, step: Step, source: Channel, target: Channel, why: str) -> None:
    """The failed channel's agent hands the step to the fallback channel's agent."""
    emit_agent_message(
        c,
        from_agent=AgentIdentity(agent_id=spec(source).agent, role=source.value),
        to=target.value,
        routing="role",
        kind="request",
        action="task_handoff",
        content=(
            f"Step {step.id} could not reach the debtor by {source} ({why}). "
            f"Please contact them by {target} instead."
        ),
        mode=MessageMode.ASYNC,
    )


@dataclass(frozen=True)
class Send:
    """The gate allows the contact now: send it, with what the gate decided on."""

    decision: Decision
    facts: ComplianceFacts
    history: list[PastContact]
    proposed: ProposedContact


@dataclass(frozen=True)
class WaitFor:
    """Not yet: ask again at ``until`` (the gate's earliest allowed moment)."""

    until: datetime
    because: str


@dataclass(frozen=True)
class Barred:
    """A permanent bar (cease, attorney, dispute hold, opted out, no consent)."""

    decision: Decision


@dataclass(frozen=True)
class NotNow:
    """No contact: the campaign ended, a promise pauses outreach, or a reply waits to be
    read, or for a person to say what it said, first (``why``)."""

    why: str


ContactMove = Send | WaitFor | Barred | NotNow
ENDED = "campaign ended"
PROMISED = "paused by a promise to pay"
READ_FIRST = "read the debtor's reply first"


def next_contact(c: Campaign, step: Step, channel: Channel, to: str) -> ContactMove:
    """What to do about contacting ``to`` on ``channel`` for ``step`` now.

    Nothing is sent but through here: every ``Send`` is a contact the compliance gate
    allowed at this moment, recorded in the campaign's decisions.
    """
    st = c.state
    if st.status.terminal:
        return NotNow(ENDED)
    if st.status is CollectionStatus.PROMISED:
        return NotNow(PROMISED)
    if st.unread or awaiting_review(c):
        # The debtor just wrote: know what they said before contacting them again.
        return NotNow(READ_FIRST)
    decision, facts, history = ask_gate(c, step, channel, to, "plan")
    if not decision.allowed:
        if decision.earliest_allowed is None:
            return Barred(decision)
        return WaitFor(decision.earliest_allowed, ", ".join(r.value for r in decision.reasons))
    if st.status is CollectionStatus.SCHEDULED:
        set_status(c, CollectionStatus.ACTIVE)
    return Send(decision, facts, history, ProposedContact(at=c.now(), channel=channel, to=to))
