"""Replies of new runs are read in the reader activity: real dev server, workers, no LLM.

The service starts campaigns with ``reader_activity``: a reply reaches the campaign by its
signal, waits in ``unread``, is read by the ``read_reply`` activity (its result recorded in
the history, so later model or rule changes never alter a replay) and is acted on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import Client
from temporalio.worker import Replayer

from bootstrap.root import Root
from bootstrap.settings import Settings
from domain import names
from domain.campaign import AccountCampaignInput, CollectionStatus
from domain.operator import Approval, ApprovalKind, ApprovalStatus
from domain.replies import ReplyIntent, ReplyReading
from domain.replies.reading import ReadBy, ReadReply, ReplyToRead
from service.models import DecisionIn
from service.operations import RecoupService
from tests.api_support import eventually
from tests.campaign_support import status
from tests.conftest import TENANT
from tests.reply_support import exported, reply, started
from workers.run import workers
from workflows import ALL_WORKFLOWS


async def test_a_reply_is_read_by_the_reader_activity_and_acted_on(
    client: Client, settings: Settings, running: object
) -> None:
    handle = await started(client, settings)
    history = await handle.fetch_history()
    first = history.events[0]
    [payload] = first.workflow_execution_started_event_attributes.input.payloads
    inp = await client.data_converter.decode([payload], [AccountCampaignInput])
    assert inp[0].reader_activity and inp[0].review_below == settings.reply_review_below

    snapshot = await reply(handle, "This is not my debt, I never had an account with you")
    assert snapshot.status is CollectionStatus.DISPUTED and snapshot.holds.disputed_unverified
    assert snapshot.last_reply_intent == "dispute"

    # Read by the activity, not in the handler: READ_REPLY was scheduled and completed.
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type is HistoryEventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled.count(names.READ_REPLY) == 1
    assert any(
        e.event_type is HistoryEventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED for e in history.events
    )

    # Without a language model the shipped model read it (beside the rules); the event
    # says how, and what it would have read otherwise.
    async def replied() -> list[dict[str, Any]]:
        return [
            r["body"]["event"]["metadata"]
            for r in exported(settings, snapshot.account_id)
            if r["type"] == "CustomerInteractionEvent" and r["body"]["event"]["status"] == "replied"
        ]

    [metadata] = await eventually(replied, lambda found: len(found) == 1)
    assert (metadata["intent"], metadata["readBy"]) == ("dispute", "model")
    assert "fallback" not in metadata and "review" not in metadata
    assert metadata["confidence"] >= settings.reply_review_below
    assert metadata["runnerUp"] in {i.value for i in ReplyIntent} - {"dispute"}

    # The reader's history replays with the current code.
    await Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter).replay_workflow(
        history
    )


# --- a reading the model is unsure of waits for a person ------------------------------


def unsure(_: ReplyToRead) -> ReadReply:
    """A deterministic stand-in for the shipped model: unsure between promise and dispute."""
    return ReadReply(
        reading=ReplyReading(intent=ReplyIntent.PROMISE_TO_PAY, confidence=0.3),
        read_by=ReadBy.MODEL,
        runner_up=ReplyIntent.DISPUTE,
    )


class UnsureRoot(Root):
    """The composition root with the stand-in as the reader activity's offline reader."""

    @property
    def reply_reader(self) -> Callable[[ReplyToRead], ReadReply] | None:
        return unsure


@asynccontextmanager
async def serving_unsure(client: Client, settings: Settings) -> AsyncIterator[None]:
    root = UnsureRoot(settings, client=client)
    try:
        async with workers(client, settings, root=root) as built:
            for w in built:
                await w.__aenter__()
            try:
                yield
            finally:
                for w in built:
                    await w.__aexit__(None, None, None)
    finally:
        await root.aclose()


async def test_an_unsure_reading_waits_for_a_person_who_decides_it_from_the_service(
    client: Client, settings: Settings
) -> None:
    service = RecoupService.build(client, settings)
    try:
        async with serving_unsure(client, settings):
            handle = await started(client, settings)
            snapshot = await reply(handle, "ok fine, or is this even mine")
            # Read, not acted on: a person decides; nobody is contacted meanwhile.
            assert snapshot.last_reply_intent is None
            assert snapshot.status is CollectionStatus.ACTIVE
            [approval] = snapshot.approvals
            assert (approval.kind, approval.status) == (
                ApprovalKind.REVIEW_REPLY,
                ApprovalStatus.PENDING,
            )
            assert approval.proposal == "read as promise_to_pay"
            assert approval.alternative == "read as dispute"
            assert approval.safe_default is ApprovalStatus.REJECTED  # dispute protects more
            assert "mine" not in approval.summary

            # Listed where operators decide (API, CLI and console share this call).
            async def listed() -> list[Approval]:
                found = await service.approvals(TENANT)
                return [p.approval for p in found.approvals if p.account_id == snapshot.account_id]

            [shown] = await eventually(listed, lambda found: len(found) == 1)
            assert shown.approval_id == approval.approval_id
            decided = await service.decide(
                TENANT,
                snapshot.account_id,
                approval.approval_id,
                DecisionIn(approve=False, operator="lee", note="they dispute it"),
            )
            assert decided.status is ApprovalStatus.REJECTED
            # Rejected: the runner-up is acted on.
            done = await eventually(
                lambda: status(handle), lambda s: s.status is CollectionStatus.DISPUTED
            )
            assert done.last_reply_intent == "dispute" and done.holds.disputed_unverified
            await Replayer(
                workflows=ALL_WORKFLOWS, data_converter=client.data_converter
            ).replay_workflow(await handle.fetch_history())
    finally:
        await service.aclose()
