"""The adaptive contact policy's side of a campaign (``domain.next_action``).

Under ``policy: adaptive`` a step keeps its day, but the next-best-action agent chooses
its channel and the debtor-local time of day among the channels that may be used now;
the gate still has the last word on every send. Each contact of an adaptive campaign is
watched for ``ATTRIBUTION_DAYS`` playbook days; what it led to becomes its reward,
recorded with the next choice or at the end (until then the contact counts as a trial
with no reward, opened by the channel agent that makes it: ``trial_of``): a payment
wins over everything, and earns the share of the balance it brought in (at least
``MIN_PAYMENT_REWARD``; 1.0 for a contact watched before rewards counted the amount);
then harm to the debtor relationship, an opt-out, a dispute or a complaint, whose reward is
negative and the tenant's (``Tenant.opt_out_penalty``, ``dispute_penalty``,
``complaint_penalty``; by default -1, -0.5, -2), the costlier harm first, so an opt-out
after a reply is an opt-out; then a promise (0.5), a reply (0.2), nothing (0). Runs
started before harms counted (``AccountCampaignInput.negative_outcomes`` unset) keep
payment > promise > reply > nothing, so that their histories replay. The validation
notice stays where the playbook puts it (12 CFR 1006.34).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from domain.agent_messages import AgentIdentity, MessageMode
from domain.campaign import ChosenAction, WatchedContact
from domain.campaign_core.campaign import Campaign
from domain.campaign_core.outbox import emit_agent_message
from domain.campaign_core.steps import address_for, options
from domain.channels import Channel, spec
from domain.compliance.content import VALIDATION_NOTICE_TEMPLATE
from domain.next_action import (
    HARMS,
    REWARDS,
    ActionChoice,
    ActionChoiceRequest,
    ActionOutcome,
    ActionTrial,
    Arm,
    OutcomeKind,
    TimeWindow,
    next_window_start,
    reward_of,
    segment_of,
    window_of,
    worse,
)
from domain.playbook import Step
from domain.policy import ContactPolicy

ATTRIBUTION_DAYS = 3
# A payment of any size shows that the contact reached someone who pays: it earns at
# least this, more than a reply (0.2).
MIN_PAYMENT_REWARD = 0.25
_RANK: dict[OutcomeKind, int] = {"none": 0, "reply": 1, "promise": 2, "payment": 3}


def adaptive(c: Campaign, step: Step, redrive: int) -> bool:
    return (
        c.inp.policy is ContactPolicy.ADAPTIVE
        and not redrive
        and step.template != VALIDATION_NOTICE_TEMPLATE
    )


def chosen_for(c: Campaign, step: Step) -> ChosenAction | None:
    """The choice already made for ``step`` (asked again, it stays the same)."""
    action = c.state.action
    return action if action is not None and action.step_id == step.id else None


def choice_request(c: Campaign, step: Step) -> ActionChoiceRequest | None:
    """What to ask the agent for ``step``; None when no channel may be used. Takes the
    outcomes settled so far along (the agent records them with its choice)."""
    st = c.state
    # Only channels whose registry row lets the agent choose them (its arms are times of
    # day, which a letter has not).
    channels = [ch for ch in Channel if spec(ch).adaptive and address_for(c, ch) is not None]
    if not channels:
        return None
    # A run started with ``nba_seed`` (a simulation) draws the same arms when run again;
    # any other run's draws differ from its earlier runs' (the run id).
    seed = (
        f"{c.inp.nba_seed}/{c.host.workflow_id}/{step.id}"
        if c.inp.nba_seed is not None
        else f"{c.host.workflow_id}/{c.host.first_execution_run_id}/{step.id}"
    )
    return ActionChoiceRequest(
        tenant_id=c.inp.tenant.tenant_id,
        account_id=st.account.account_id,
        segment=segment_of(st.account),
        channels=channels,
        seed=seed,
        settled=take_settled(c),
        exploration=c.inp.exploration,
        playbook_arm=playbook_arm(c, step, channels),
    )


def playbook_arm(c: Campaign, step: Step, channels: list[Channel]) -> Arm | None:
    """What the fixed cadence would do now: the step's channel, or the fallback it would
    take (the first the agent may choose: a debtor without SMS consent gets the day-3
    reminder by email), in the window of the debtor's local time (the morning, when it
    is outside the convenient hours: the gate would hold the contact until then). When
    the playbook would not contact at all (a call step for a debtor with neither voice
    nor SMS consent), the first channel the agent may use, at the playbook's hour.

    Without it every arm is a guess and Thompson sampling picks any hour: a fifth of a
    control portfolio's choices (no consent for the text or the call) went out in the
    evening, where its debtors read least."""
    if not channels:
        return None
    usable = (ch for ch, _, ok in options(c, step) if ok and ch in channels)
    channel = next(usable, channels[0])
    window = window_of(_local_hour(c)) or TimeWindow.MORNING
    return Arm(channel=channel, window=window)


def choice_unavailable(c: Campaign, request: ActionChoiceRequest) -> None:
    """The agent is down: the step goes as the playbook says; its outcomes wait."""
    c.state.settled = request.settled + c.state.settled


def chose(c: Campaign, step: Step, choice: ActionChoice) -> ChosenAction:
    st = c.state
    st.action = ChosenAction(
        step_id=step.id, arm=choice.arm, explored=choice.explored, reason=choice.reason
    )
    emit_agent_message(
        c,
        from_agent=AgentIdentity(agent_id="next-best-action", role="planner"),
        to=choice.arm.channel.value,
        routing="role",
        kind="request",
        action="contact",
        content=f"Step {step.id}: contact by {choice.arm.channel} in the debtor's "
        f"{choice.arm.window} ({choice.reason}).",
        mode=MessageMode.ASYNC,
    )
    return st.action


def window_start(c: Campaign, arm: Arm) -> datetime:
    return next_window_start(arm.window, c.now(), _zone(c))


def _zone(c: Campaign) -> str:
    """The debtor's time zone (the account's first; UTC when it gives none)."""
    zones = c.state.account.timezones
    return zones[0] if zones else "UTC"


def _local_hour(c: Campaign) -> int:
    return c.now().astimezone(ZoneInfo(_zone(c))).hour


def watch_contact(c: Campaign, step_id: str, outcome_id: str, channel: Channel) -> None:
    """Under the adaptive policy every contact teaches something, chosen or not (the
    validation notice, a fallback): it counts for its channel at the local hour it was
    made."""
    st = c.state
    chosen = st.action if st.action is not None and st.action.step_id == step_id else None
    if c.inp.policy is not ContactPolicy.ADAPTIVE:
        return
    if chosen is not None and chosen.arm.channel is channel:
        _watch(c, outcome_id, chosen.arm)
        return
    window = window_of(_local_hour(c))
    if window is not None:
        _watch(c, outcome_id, Arm(channel=channel, window=window))


def trial_of(c: Campaign, outcome_id: str) -> ActionTrial | None:
    """What the channel agent opens in the statistics when the watched contact goes
    out (so it counts before its outcome is known); None when it is not watched."""
    for watched in c.state.watched:
        if watched.outcome_id == outcome_id:
            return ActionTrial(
                outcome_id=outcome_id,
                tenant_id=c.inp.tenant.tenant_id,
                segment=watched.segment,
                arm=watched.arm,
            )
    return None


def unwatch(c: Campaign, outcome_id: str) -> None:
    """The contact did not happen after all (failed, refused at send time)."""
    st = c.state
    st.watched = [w for w in st.watched if w.outcome_id != outcome_id]


def _watch(c: Campaign, outcome_id: str, arm: Arm) -> None:
    st = c.state
    st.watched.append(
        WatchedContact(
            outcome_id=outcome_id,
            segment=segment_of(st.account),
            arm=arm,
            at=c.now(),
            owed=st.balance,
        )
    )


def credit(c: Campaign, kind: OutcomeKind, paid: Decimal = Decimal(0)) -> None:
    """What the debtor just did counts for the latest contact still watched (see the
    module's docstring for which of two outcomes a contact keeps); ``paid``: how much,
    for a payment."""
    if kind in HARMS and not c.inp.negative_outcomes:
        return  # a run from before harms counted
    horizon = c.now() - c.days(ATTRIBUTION_DAYS)
    for watched in reversed(c.state.watched):
        if watched.at >= horizon:
            if _worse(c, kind, watched.best):
                watched.best = kind
            watched.paid += paid
            return


def _reward(c: Campaign, watched: WatchedContact) -> float:
    """A payment earns the share of the balance it brought in (what the contact was
    worth), never less than ``MIN_PAYMENT_REWARD``; the rest, ``reward_of``."""
    if watched.best == "payment" and watched.owed is not None and watched.owed > 0:
        share = float(min(Decimal(1), watched.paid / watched.owed))
        return max(MIN_PAYMENT_REWARD, share)
    if c.inp.negative_outcomes:
        return reward_of(watched.best, c.inp.tenant)
    return REWARDS[watched.best]


def _worse(c: Campaign, kind: OutcomeKind, than: OutcomeKind) -> bool:
    if c.inp.negative_outcomes:
        return worse(kind, than, c.inp.tenant)
    return _RANK[kind] > _RANK[than]


def settle_watched(c: Campaign, everything: bool = False) -> None:
    """Contacts watched long enough (or all, at the end) become outcomes to record."""
    st = c.state
    horizon = c.now() - c.days(ATTRIBUTION_DAYS)
    keep: list[WatchedContact] = []
    for watched in st.watched:
        if everything or watched.at < horizon or watched.best == "payment":
            st.settled.append(
                ActionOutcome(
                    outcome_id=watched.outcome_id,
                    tenant_id=c.inp.tenant.tenant_id,
                    segment=watched.segment,
                    arm=watched.arm,
                    reward=_reward(c, watched),
                    kind=watched.best,
                )
            )
        else:
            keep.append(watched)
    st.watched = keep


def take_settled(c: Campaign) -> list[ActionOutcome]:
    settle_watched(c)
    settled, c.state.settled = c.state.settled, []
    return settled
