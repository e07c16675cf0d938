"""Helpers shared by tests, so that test modules do not import each other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio.client import Client, WorkflowHandle

from bootstrap.settings import Settings
from domain import names
from domain.account import Account
from domain.campaign import (
    AccountOutcome,
    CampaignSnapshot,
)
from domain.channels import Channel
from domain.playbook import Playbook, Step, StepCondition
from service.campaigns import start_account_campaign
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.conftest import TENANT

DAY = 0.25  # seconds per playbook day


def cadence(**overrides: object) -> Playbook:
    """Email, SMS, call, email on days 0-3, with fallbacks, one day of closing."""
    fields: dict[str, object] = {
        "name": "test",
        "steps": [
            Step(
                id="notice",
                day=0,
                channel=Channel.EMAIL,
                template="first_notice",
                fallback=Channel.SMS,
            ),
            Step(
                id="text",
                day=1,
                channel=Channel.SMS,
                template="reminder",
                requires=[StepCondition.SMS_CONSENT],
                fallback=Channel.EMAIL,
            ),
            Step(
                id="call",
                day=2,
                channel=Channel.PHONE,
                template="call_script",
                requires=[StepCondition.VOICE_CONSENT],
                fallback=Channel.SMS,
            ),
            Step(id="final", day=3, channel=Channel.EMAIL, template="final_notice"),
        ],
        "closing_days": 1,
        "promise_grace_days": 2,
    }
    fields.update(overrides)
    return Playbook.model_validate(fields)


async def start(
    client: Client, settings: Settings, account: Account, playbook: Playbook | None = None
) -> WorkflowHandle[object, AccountOutcome]:
    return await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id="c-test",
        playbook=playbook or cadence(),
        account=account,
        seconds_per_day=DAY,
    )


async def status(handle: WorkflowHandle[object, AccountOutcome]) -> CampaignSnapshot:
    snapshot: CampaignSnapshot = await handle.query(
        names.QUERY_STATUS, result_type=CampaignSnapshot
    )
    return snapshot


async def eventually(check: Callable[[], bool], within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def replies_read(
    handle: WorkflowHandle[object, AccountOutcome], replies: int = 1, within: float = 20.0
) -> CampaignSnapshot:
    """The snapshot once ``replies`` replies have reached the campaign and none is left
    unread (replies are read in the reader activity, after their signal; a query may also
    run before the signal's workflow task, when the reply is not even queued yet)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        snapshot = await status(handle)
        done = snapshot.replies >= replies and snapshot.unread_replies == 0
        if done or asyncio.get_running_loop().time() > deadline:
            return snapshot
        await asyncio.sleep(0.05)


def mails_to(sim: SmtpSimulator, address: str) -> list[str]:
    return [m.text for m in sim.messages if address in m.to]


def texts_to(sim: TwilioSimulator, number: str) -> list[str]:
    return [m.body for m in sim.messages if m.to == number]


def calls_to(sim: TwilioSimulator, number: str) -> int:
    return sum(1 for c in sim.calls if c.to == number)
