"""``recoup reconcile``: a campaign's records against each other and the providers' own.

Real dev server, workers, simulators (their list APIs: Twilio's Messages and Calls,
the mail provider's accepted events) and SQL stores; the command runs as a process.
"""

from __future__ import annotations

import json
import uuid

from temporalio.client import Client
from temporalio.worker import Worker

from adapters.twilio import TwilioClient
from bootstrap.settings import Settings
from domain.account import PostalAddress
from domain.channels import Channel
from domain.playbook import Playbook, Step, StepCondition
from service.campaigns import start_account_campaign
from simulators.lob import LobSimulator
from simulators.twilio import TwilioSimulator
from tests.cli_support import env_for, recoup
from tests.conftest import TENANT, make_account

# Every channel once, on consecutive (short) days.
EVERY_CHANNEL = Playbook(
    name="every-channel",
    steps=[
        Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(id="text", day=1, channel=Channel.SMS, template="reminder",
             requires=[StepCondition.SMS_CONSENT]),
        Step(id="call", day=2, channel=Channel.PHONE, template="call_script",
             requires=[StepCondition.VOICE_CONSENT]),
    ],
    closing_days=0,
)  # fmt: skip


async def test_a_finished_campaign_reconciles_and_a_message_nobody_recorded_does_not(
    client: Client, settings: Settings, running: list[Worker], twilio_sim: TwilioSimulator
) -> None:
    accounts = [make_account() for _ in range(3)]
    handles = [
        await start_account_campaign(
            client, settings, tenant=TENANT, campaign_id="reconciled", playbook=EVERY_CHANNEL,
            account=account, seconds_per_day=0.3,
        )
        for account in accounts
    ]  # fmt: skip
    for handle in handles:
        outcome = await handle.result()
        assert outcome.contacts == {Channel.EMAIL: 1, Channel.SMS: 1, Channel.PHONE: 1}

    args = ("reconcile", "reconciled", "--tenant", TENANT.tenant_id, "--json")
    result = await recoup(*args, env=env_for(settings))
    assert result.code == 0, result.out + result.err
    found = json.loads(result.out)
    assert found["differences"] == [] and found["unchecked"] == []
    assert found["contacts"] == {"email": 3, "sms": 3, "phone": 3}
    assert found["compared"]["ledger entries"] == 9
    assert found["compared"]["audit chain entries"] == 9
    assert found["compared"]["sms provider records"] == 3
    assert found["compared"]["email provider records"] == 3

    # A text to one of the campaign's debtors that no agent sent: the provider has it,
    # nothing here does. Reconciliation names it and exits 5.
    stray = TwilioClient(
        twilio_sim.base_url, settings.twilio_account_sid, settings.twilio_auth_token,
        settings.twilio_from_number,
    )  # fmt: skip
    try:
        receipt = await stray.send_sms(
            accounts[0].phones[0].number, "not sent by Recoup", idempotency_key="stray-1"
        )
    finally:
        await stray.aclose()
    result = await recoup(*args, env=env_for(settings))
    assert result.code == 5, result.out + result.err
    [difference] = json.loads(result.out)["differences"]
    assert difference["kind"] == "provider_only"
    assert difference["provider_ref"] == receipt.sid
    human = await recoup("reconcile", "reconciled", "--tenant", TENANT.tenant_id,
                         env=env_for(settings))  # fmt: skip
    assert human.code == 5 and "reconciled: 1 differences" in human.out


async def test_a_letter_nobody_recorded_is_named_by_the_letter_providers_list(
    client: Client, settings: Settings, running: list[Worker], lob_sim: LobSimulator
) -> None:
    home = PostalAddress(line1=f"{uuid.uuid4().int % 9000 + 100} Ledger Ln", city="Austin",
                         state="TX", zip="78701")  # fmt: skip
    account = make_account(address=home)
    handle = await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="lettered", playbook=EVERY_CHANNEL,
        account=account, seconds_per_day=0.3,
    )  # fmt: skip
    await handle.result()
    args = ("reconcile", "lettered", "--tenant", TENANT.tenant_id, "--json")
    result = await recoup(*args, env=env_for(settings))
    assert result.code == 0, result.out + result.err
    found = json.loads(result.out)
    assert found["unchecked"] == [] and found["compared"]["letter provider records"] == 0

    # A letter to the debtor's address that no agent sent: Lob has it, nothing here does.
    async with settings.lob() as lob:
        stray = await lob.send_letter(
            home, account.debtor_name, "<p>not sent by Recoup</p>", f"stray-{uuid.uuid4()}",
            {"tenant_id": TENANT.tenant_id, "account_id": account.account_id,
             "to": home.one_line()},
        )  # fmt: skip
    result = await recoup(*args, env=env_for(settings))
    assert result.code == 5, result.out + result.err
    [difference] = json.loads(result.out)["differences"]
    assert difference["kind"] == "provider_only" and difference["channel"] == "letter"
    assert difference["provider_ref"] == stray.id
