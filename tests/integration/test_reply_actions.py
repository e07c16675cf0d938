"""A campaign acts on what a reply says: real dev server, workers and simulators."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio.client import Client

from bootstrap.settings import Settings
from domain.arrangements import ArrangementKind
from domain.campaign import CollectionStatus
from domain.channels import Channel
from simulators.twilio import TwilioSimulator
from tests.api_support import eventually
from tests.campaign_support import status
from tests.reply_support import DAY, exported, reply, started


async def escalated(settings: Settings, account_id: str, reason: str) -> list[dict[str, Any]]:
    async def commands() -> list[dict[str, Any]]:
        return [
            r
            for r in exported(settings, account_id)
            if r["type"] == "ESCALATE" and reason in json.dumps(r["body"])
        ]

    return await eventually(commands, lambda found: len(found) == 1)


async def test_an_attorney_reply_ends_contact_and_tells_an_operator(
    client: Client, settings: Settings, running: object
) -> None:
    handle = await started(client, settings)
    await reply(handle, "My lawyer is handling this, talk to her, stop texting me")
    outcome = await handle.result()
    assert outcome.status is CollectionStatus.CEASED
    snapshot = await status(handle)
    assert snapshot.holds.attorney and snapshot.last_reply_intent == "attorney"
    await escalated(settings, outcome.account_id, "attorney represents them")
    messages = [r for r in exported(settings, outcome.account_id) if r["type"] == "review_reply"]
    assert messages and messages[0]["routing"] == "role" and messages[0]["body"]["to"]


async def test_a_wrong_person_reply_ends_contact(
    client: Client, settings: Settings, running: object
) -> None:
    handle = await started(client, settings)
    await reply(handle, "wrong number, I don't know anyone by that name")
    outcome = await handle.result()
    assert outcome.status is CollectionStatus.CEASED
    await escalated(settings, outcome.account_id, "wrong person")


async def test_a_disputing_reply_pauses_collection(
    client: Client, settings: Settings, running: object
) -> None:
    handle = await started(client, settings)
    snapshot = await reply(handle, "This is not my debt, I never had an account with you")
    assert snapshot.status is CollectionStatus.DISPUTED
    assert snapshot.holds.disputed_unverified


async def test_a_promise_for_friday_pauses_outreach_until_the_day_after(
    client: Client, settings: Settings, running: object
) -> None:
    handle = await started(client, settings)
    received = datetime.now(UTC)
    friday = received.date() + timedelta(days=(4 - received.weekday()) % 7 or 7)
    snapshot = await reply(handle, "I'll pay $120 on Friday", received)
    assert snapshot.status is CollectionStatus.PROMISED
    # The days to Friday and Friday itself, in playbook days.
    ahead = (friday - received.date()).days + 1
    assert snapshot.promise_until == received + timedelta(seconds=ahead * DAY)
    account_id = snapshot.account_id
    promise = await eventually(
        lambda: _first(settings, account_id, "PromiseEvent"), lambda r: r is not None
    )
    assert promise is not None
    metadata = promise["body"]["event"]["metadata"]
    assert (metadata["promisedDate"], metadata["promisedAmount"]) == (friday.isoformat(), "120.00")


async def test_a_broken_promise_is_escalated(
    client: Client, settings: Settings, running: object
) -> None:
    handle = await started(client, settings)
    snapshot = await reply(handle, "i will pay tomorrow", datetime.now(UTC))
    assert snapshot.status is CollectionStatus.PROMISED
    # Tomorrow + the day itself: two playbook days (4 s), then outreach resumes.
    await escalated(settings, snapshot.account_id, "promise to pay broken")
    assert (await status(handle)).status is CollectionStatus.ACTIVE


async def test_a_request_for_a_plan_books_three_instalments_through_the_saga(
    client: Client, settings: Settings, running: object
) -> None:
    handle = await started(client, settings)
    await reply(handle, "Can I set up a payment plan? I can't pay it all at once")
    snapshot = await eventually(
        lambda: status(handle),
        lambda s: s.arrangement is not None and s.arrangement.status.value == "active",
    )
    assert snapshot.arrangement is not None
    request = snapshot.arrangement.request
    assert request.kind is ArrangementKind.PAYMENT_PLAN
    assert [i.amount for i in request.instalments] == [
        Decimal("83.33"),
        Decimal("83.33"),
        Decimal("83.34"),
    ]
    assert snapshot.status is CollectionStatus.ARRANGED


async def test_a_callback_request_places_a_call(
    client: Client, settings: Settings, running: object, twilio_sim: TwilioSimulator
) -> None:
    handle = await started(client, settings)
    await reply(handle, "Can someone call me back this afternoon?")
    snapshot = await eventually(
        lambda: status(handle), lambda s: any(a.channel is Channel.PHONE for a in s.attempts)
    )
    [call] = [a for a in snapshot.attempts if a.channel is Channel.PHONE]
    assert call.step_id.startswith("callback-") and call.to is not None
    assert any(c.to == call.to for c in twilio_sim.calls)


async def test_hardship_tells_an_operator_and_outreach_goes_on(
    client: Client, settings: Settings, running: object
) -> None:
    handle = await started(client, settings)
    snapshot = await reply(handle, "I lost my job last month and can barely pay rent")
    assert snapshot.status is CollectionStatus.ACTIVE
    assert snapshot.last_reply_intent == "hardship"
    await escalated(settings, snapshot.account_id, "hardship")


async def _first(settings: Settings, account_id: str, type_: str) -> dict[str, Any] | None:
    return next((r for r in exported(settings, account_id) if r["type"] == type_), None)
