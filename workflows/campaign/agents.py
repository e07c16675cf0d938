"""The agents an account campaign asks (activities): research, the next best action, the
supervisor and the reply reader. What their answers mean is decided by the core."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.campaign import ChosenAction, InboundReply
    from domain.campaign_core import learning, research, supervision
    from domain.campaign_core.replies import read_offline, take_reading, to_read
    from domain.channels import Channel
    from domain.next_action import ActionChoice, OutcomesToRecord
    from domain.playbook import Step
    from domain.replies.reading import ReadReply
    from domain.research import ResearchBrief
    from domain.supervision import Disagreement, DisagreementKind, Ruling, offline_ruling
    from workflows.campaign.shell import Shell

RESEARCH_RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1))
NBA_RETRY = RetryPolicy(maximum_attempts=3)
# The reply reader's errors that another try cannot fix (see activities.replies).
LLM_PERMANENT_ERRORS = ["LlmRejected", "LlmRefused", "LlmMalformed"]
# Without a language model the reader is local (rules and the shipped model): a read
# that takes longer than this is stuck, and another try (or the rules here) is better.
OFFLINE_READ_TIMEOUT = timedelta(seconds=30)


async def brief(sh: Shell, for_channel: Channel | None) -> None:
    """Brief again if anything happened since the last brief (or never briefed)."""
    c = sh.core
    if not research.needs_brief(c):
        return
    try:
        result: ResearchBrief = await workflow.execute_activity(
            names.RESEARCH_ACCOUNT,
            research.request(c),
            result_type=ResearchBrief,
            task_queue=sh.inp.queues.campaigns,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RESEARCH_RETRY,
            summary="research: brief the agents on this account",
        )
    except ActivityError as err:
        workflow.logger.warning("research unavailable, touch goes without a new brief: %s", err)
        research.unavailable(c)
        return
    research.briefed(c, result, for_channel)


async def choose_action(sh: Shell, step: Step) -> ChosenAction | None:
    """The agent's channel and window for ``step`` (the same one if asked again)."""
    c = sh.core
    chosen = learning.chosen_for(c, step)
    if chosen is not None:
        return chosen
    request = learning.choice_request(c, step)
    if request is None:
        return None
    try:
        choice: ActionChoice = await workflow.execute_activity(
            names.CHOOSE_NEXT_ACTION,
            request,
            result_type=ActionChoice,
            task_queue=sh.inp.queues.campaigns,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=NBA_RETRY,
            summary=f"next best action for step {step.id}",
        )
    except ActivityError as err:
        learning.choice_unavailable(c, request)
        workflow.logger.warning("next best action unavailable, playbook used: %s", err)
        return None
    return learning.chose(c, step, choice)


async def record_outcomes(sh: Shell) -> None:
    """At the end: everything still watched is settled and recorded (one activity)."""
    c = sh.core
    learning.settle_watched(c, everything=True)
    settled = learning.take_settled(c)
    if not settled:
        return
    try:
        await workflow.execute_activity(
            names.RECORD_ACTION_OUTCOMES,
            OutcomesToRecord(outcomes=settled),
            result_type=int,
            task_queue=sh.inp.queues.campaigns,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=NBA_RETRY,
            summary=f"learn from {len(settled)} contact outcome(s)",
        )
    except ActivityError as err:
        # Learning is worth less than finishing the campaign: lose these, say so.
        workflow.logger.warning("%d contact outcome(s) not recorded: %s", len(settled), err)


async def supervise(sh: Shell) -> None:
    """Disagreements queued since the last touch: peers, then the supervisor, then a person."""
    c, st = sh.core, sh.state
    while st.disagreements and not st.status.terminal:
        disagreement = st.disagreements[0]
        if disagreement.kind is DisagreementKind.DISPUTE_VS_PROMISE:
            # The research agent looks again, now that the reply is in the conversation.
            st.research_stale = True
            await brief(sh, None)
            disagreement = supervision.peers_agreed(c, disagreement)
        st.disagreements.pop(0)
        if disagreement.peer_rounds < 0:
            continue  # the peers agreed
        supervision.put_to_person(c, disagreement, await _rule(sh, disagreement))


async def _rule(sh: Shell, d: Disagreement) -> Ruling:
    """The supervisor's ruling: its rules here, or the supervisor agent with a model."""
    if not sh.inp.llm_agents:
        return offline_ruling(d)  # pure and deterministic: no activity needed
    try:
        ruling: Ruling = await workflow.execute_activity(
            names.SUPERVISE,
            d,
            result_type=Ruling,
            task_queue=sh.inp.queues.campaigns,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=3),
            summary=f"supervisor: rule on {d.kind.value}",
        )
    except ActivityError as err:
        return offline_ruling(d).model_copy(
            update={"fallback": f"supervisor agent unavailable: {err}"[:300]}
        )
    return ruling


async def read_replies(sh: Shell) -> None:
    """Read unread replies in the reader activity, oldest first, until told to stop and none
    is left.

    It runs beside the main loop, so a reply is read at once whatever the campaign is
    waiting for; its reading then acts like a signal.
    """
    c, st = sh.core, sh.state
    while True:
        await workflow.wait_condition(lambda: bool(st.unread) or sh.stop_reading)
        if not st.unread:
            return
        sh.reading = True
        reply = st.unread[0]
        read = await _read_in_activity(sh, reply)
        st.unread.pop(0)
        sh.reading = False
        take_reading(c, reply, read)
        c.changed = True


async def _read_in_activity(sh: Shell, reply: InboundReply) -> ReadReply:
    """The reply reader's reading; the rules' (here) when it keeps failing or is rejected."""
    timeout = (
        timedelta(seconds=sh.inp.llm_timeout_seconds + 10)
        if sh.inp.llm_replies
        else OFFLINE_READ_TIMEOUT
    )
    try:
        read: ReadReply = await workflow.execute_activity(
            names.READ_REPLY,
            to_read(sh.core, reply),
            result_type=ReadReply,
            task_queue=sh.inp.queues.campaigns,
            start_to_close_timeout=timeout,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=2,
                maximum_interval=timedelta(seconds=30),
                maximum_attempts=3,
                non_retryable_error_types=LLM_PERMANENT_ERRORS,
            ),
            summary=f"read reply {reply.reply_id} ({reply.channel})",
        )
    except ActivityError as err:
        cause = err.cause
        kind = cause.type if isinstance(cause, ApplicationError) else None
        workflow.logger.warning(
            "reply %s read offline: %s", reply.reply_id, kind or type(cause or err).__name__
        )
        return read_offline(sh.core, reply, kind)
    return read


async def stop_reader(sh: Shell) -> None:
    """Read what is left, then stop the reader (the campaign is about to finish)."""
    sh.stop_reading = True
    if sh.reader is not None:
        await sh.reader
