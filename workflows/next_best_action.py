"""The adaptive contact policy inside an account campaign (``domain.next_action``).

Under ``policy: adaptive`` a playbook step keeps its day, but the next-best-action
agent chooses its channel and the debtor-local time of day, among the channels
this account may be reached on now (contact point, consent, no opt-out). The
campaign then waits for that window and contacts through the compliance gate like
any other touch: the gate still has the last word on every send.

Learning: each contact of an adaptive campaign (those the agent chose, and the
validation notice and fallbacks, under the window they happened in) is watched for
``ATTRIBUTION_DAYS`` playbook days; the best thing it led to (payment > promise >
reply > nothing) becomes its reward.
Watched contacts whose time is up are recorded with the next choice (one activity
does both) or at the end of the campaign, so learning costs one activity per
adaptive touch plus one at the end.

The first notice stays where the playbook puts it: its content and channel are the
validation notice's (12 CFR 1006.34), not something to experiment with.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain import agents
    from domain.agent_messages import AgentIdentity, MessageMode
    from domain.campaign import AccountCampaignInput, CampaignState, ChosenAction, WatchedContact
    from domain.channels import Channel
    from domain.compliance.content import VALIDATION_NOTICE_TEMPLATE
    from domain.next_action import (
        REWARDS,
        ActionChoice,
        ActionChoiceRequest,
        ActionOutcome,
        Arm,
        OutcomeKind,
        OutcomesToRecord,
        next_window_start,
        segment_of,
        window_of,
    )
    from domain.playbook import Step
    from domain.policy import ContactPolicy
    from workflows.exporting import Exporting

ATTRIBUTION_DAYS = 3
_RANK: dict[OutcomeKind, int] = {"none": 0, "reply": 1, "promise": 2, "payment": 3}
NBA_RETRY = RetryPolicy(maximum_attempts=3)


class NextBestAction(Exporting):
    """Mixed into AccountCampaign, which provides the state and the primitives."""

    _inp: AccountCampaignInput
    _state: CampaignState

    # Provided by AccountCampaign.
    def _days(self, days: float) -> timedelta:
        raise NotImplementedError

    def _address_for(self, channel: Channel) -> str | None:
        raise NotImplementedError

    def _adaptive(self, step: Step, redrive: int) -> bool:
        return (
            self._inp.policy is ContactPolicy.ADAPTIVE
            and not redrive
            and step.template != VALIDATION_NOTICE_TEMPLATE
        )

    async def _choose_action(self, step: Step) -> ChosenAction | None:
        """The agent's channel and window for ``step`` (the same one if asked again)."""
        st = self._state
        if st.action is not None and st.action.step_id == step.id:
            return st.action
        channels = [c for c in Channel if self._address_for(c) is not None]
        if not channels:
            return None
        segment = segment_of(st.account)
        info = workflow.info()
        settled = self._take_settled()
        try:
            choice: ActionChoice = await workflow.execute_activity(
                agents.CHOOSE_NEXT_ACTION,
                ActionChoiceRequest(
                    tenant_id=self._inp.tenant.tenant_id,
                    account_id=st.account.account_id,
                    segment=segment,
                    channels=channels,
                    seed=f"{info.workflow_id}/{info.first_execution_run_id}/{step.id}",
                    settled=settled,
                    exploration=self._inp.exploration,
                ),
                result_type=ActionChoice,
                task_queue=self._inp.queues.campaigns,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=NBA_RETRY,
                summary=f"next best action for step {step.id}",
            )
        except ActivityError as err:
            # The agent is down: this step goes as the playbook says; its outcomes wait.
            st.settled = settled + st.settled
            workflow.logger.warning("next best action unavailable, playbook used: %s", err)
            return None
        st.action = ChosenAction(
            step_id=step.id, arm=choice.arm, explored=choice.explored, reason=choice.reason
        )
        self._emit_agent_message(
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

    def _window_start(self, arm: Arm) -> datetime:
        zone = self._state.account.timezones[0] if self._state.account.timezones else "UTC"
        return next_window_start(arm.window, workflow.now(), zone)

    def _watch_contact(self, step_id: str, outcome_id: str, channel: Channel) -> None:
        """Under the adaptive policy every contact teaches something, chosen or not (the
        validation notice, a fallback): it counts for its channel at the local hour it
        was made."""
        st = self._state
        chosen = st.action if st.action is not None and st.action.step_id == step_id else None
        if self._inp.policy is not ContactPolicy.ADAPTIVE:
            return
        if chosen is not None and chosen.arm.channel is channel:
            self._watch(outcome_id, chosen.arm)
            return
        zone = st.account.timezones[0] if st.account.timezones else "UTC"
        window = window_of(workflow.now().astimezone(ZoneInfo(zone)).hour)
        if window is not None:
            self._watch(outcome_id, Arm(channel=channel, window=window))

    def _unwatch(self, outcome_id: str) -> None:
        """The contact did not happen after all (failed, refused at send time)."""
        st = self._state
        st.watched = [w for w in st.watched if w.outcome_id != outcome_id]

    def _watch(self, outcome_id: str, arm: Arm) -> None:
        st = self._state
        st.watched.append(
            WatchedContact(
                outcome_id=outcome_id,
                segment=segment_of(st.account),
                arm=arm,
                at=workflow.now(),
            )
        )

    def _credit(self, kind: OutcomeKind) -> None:
        """What the debtor just did counts for the latest contact still watched."""
        st = self._state
        horizon = workflow.now() - self._days(ATTRIBUTION_DAYS)
        for watched in reversed(st.watched):
            if watched.at >= horizon:
                if _RANK[kind] > _RANK[watched.best]:
                    watched.best = kind
                return

    def _settle_watched(self, everything: bool = False) -> None:
        """Contacts watched long enough (or all, at the end) become outcomes to record."""
        st = self._state
        horizon = workflow.now() - self._days(ATTRIBUTION_DAYS)
        keep: list[WatchedContact] = []
        for watched in st.watched:
            if everything or watched.at < horizon or watched.best == "payment":
                st.settled.append(
                    ActionOutcome(
                        outcome_id=watched.outcome_id,
                        tenant_id=self._inp.tenant.tenant_id,
                        segment=watched.segment,
                        arm=watched.arm,
                        reward=REWARDS[watched.best],
                        kind=watched.best,
                    )
                )
            else:
                keep.append(watched)
        st.watched = keep

    def _take_settled(self) -> list[ActionOutcome]:
        self._settle_watched()
        settled, self._state.settled = self._state.settled, []
        return settled

    async def _record_outcomes(self) -> None:
        """At the end: everything still watched is settled and recorded (one activity)."""
        self._settle_watched(everything=True)
        settled = self._take_settled()
        if not settled:
            return
        try:
            await workflow.execute_activity(
                agents.RECORD_ACTION_OUTCOMES,
                OutcomesToRecord(outcomes=settled),
                result_type=int,
                task_queue=self._inp.queues.campaigns,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=NBA_RETRY,
                summary=f"learn from {len(settled)} contact outcome(s)",
            )
        except ActivityError as err:
            # Learning is worth less than finishing the campaign: lose these, say so.
            workflow.logger.warning("%d contact outcome(s) not recorded: %s", len(settled), err)
