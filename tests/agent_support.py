"""Helpers shared by tests, so that test modules do not import each other."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle

from bootstrap.settings import Settings
from domain.account import Account
from domain.campaign import AccountOutcome
from domain.playbook import Playbook
from service.campaigns import start_account_campaign
from tests.conftest import TENANT
from tests.reply_support import DAY, SLOW


async def start(
    client: Client, settings: Settings, account: Account, playbook: Playbook = SLOW
) -> WorkflowHandle[Any, AccountOutcome]:
    return await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id="judgment",
        playbook=playbook,
        account=account,
        seconds_per_day=DAY,
    )
