"""Helpers shared by tests, so that test modules do not import each other."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle

from adapters.event_log import EventLog
from bootstrap.settings import Settings
from domain import names
from domain.campaign import AccountOutcome, CampaignSnapshot, InboundReply
from domain.channels import Channel
from domain.playbook import Playbook, Step, StopCondition
from service.campaigns import start_account_campaign
from simulators.llm import ChatMessage
from tests.api_support import eventually
from tests.campaign_support import status
from tests.conftest import TENANT, make_account

# One email now and one more in 30 days: whatever happens after the reply is its doing.
SLOW = Playbook(
    name="slow",
    steps=[
        Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(id="later", day=30, channel=Channel.EMAIL, template="reminder"),
    ],
    closing_days=1,
    stop_when=[StopCondition.PAID_IN_FULL, StopCondition.PROMISE_TO_PAY],
)


DAY = 2.0  # seconds per playbook day


async def started(client: Client, settings: Settings) -> WorkflowHandle[Any, AccountOutcome]:
    account = make_account()
    handle = await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id="replies",
        playbook=SLOW,
        account=account,
        seconds_per_day=DAY,
    )
    await eventually(lambda: status(handle), lambda s: len(s.attempts) == 1)
    return handle


async def reply(
    handle: WorkflowHandle[Any, AccountOutcome],
    text: str,
    received_at: datetime | None = None,
    channel: Channel = Channel.SMS,
) -> CampaignSnapshot:
    await handle.signal(
        names.SIGNAL_REPLY,
        InboundReply(
            reply_id=f"r-{abs(hash(text)) % 10**8}",
            channel=channel,
            text=text,
            received_at=received_at,
        ),
    )
    # Read and acted on: replies are read in the reader activity, after the signal.
    return await eventually(
        lambda: status(handle), lambda s: s.replies == 1 and s.unread_replies == 0
    )


def exported(settings: Settings, account_id: str) -> list[dict[str, Any]]:
    log = EventLog(settings.sql_url)
    try:
        rows = log.read_after(0, 1000, customer_id=account_id)
    finally:
        log.dispose()
    return [json.loads(r.record) for r in rows]


def answers(intent: str, date: str | None = None, amount: str | None = None) -> Any:
    def handler(_: list[ChatMessage]) -> dict[str, Any]:
        return {"intent": intent, "promise_date": date, "promise_amount": amount, "confidence": 0.9}

    return handler
