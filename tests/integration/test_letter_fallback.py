"""The validation notice goes by letter when no email address can be used.

The shipped standard playbook, in real days on the time-skipping server, for a debtor
with no email but a mailing address (and a phone that may be texted): the notice is a
``send_letter`` activity on the letter queue, ahead of the SMS fallback.

Every worker is the real one, the letter agent included (``activities/letter.py``): the
letter reaches the Lob simulator over its HTTP API, and the test reads it back there.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from adapters.event_log import EventLog
from adapters.playbook_files import load_playbook
from bootstrap.settings import Settings
from domain import names
from domain.account import PhoneContact, PostalAddress
from domain.campaign import CampaignSnapshot
from domain.channels import Channel
from domain.contact import ContactOutcome
from domain.events import RecordKind
from service.campaigns import start_account_campaign
from simulators.lob import LobSimulator
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.conftest import LOB_KEY, TENANT, make_account, make_settings
from workers.run import workers

ADDRESS = PostalAddress(
    line1="185 Berry St", line2="Suite 6100", city="San Francisco", state="CA", zip="94107"
)


async def test_no_usable_email_sends_the_validation_notice_by_letter(
    skipping_env: WorkflowEnvironment,
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
    lob_sim: LobSimulator,
    tmp_path: Path,
) -> None:
    settings: Settings = make_settings(skipping_env, smtp_sim, twilio_sim, tmp_path).model_copy(
        update={"lob_base_url": lob_sim.base_url, "lob_api_key": SecretStr(LOB_KEY)}
    )
    playbook = load_playbook("standard", search_dir=settings.playbook_dir)
    unique = uuid.uuid4().hex[:8]
    number = f"+1415556{int(unique[:4], 16) % 10000:04d}"
    account = make_account(
        emails=[],
        phones=[PhoneContact(number=number, sms_consent=True, voice_consent=True)],
        address=ADDRESS,
    )
    campaign = f"letters-{unique}"
    log = EventLog(settings.sql_url)
    client = skipping_env.client
    try:
        async with workers(client, settings) as built:
            for w in built:
                await w.__aenter__()
            try:
                handle = await start_account_campaign(
                    client,
                    settings,
                    tenant=TENANT,
                    campaign_id=campaign,
                    playbook=playbook,
                    account=account,
                )
                outcome = await handle.result()
                snapshot = await handle.query(names.QUERY_STATUS, result_type=CampaignSnapshot)
            finally:
                for w in built:
                    await w.__aexit__(None, None, None)
        found = [r.export_record() for r in log.read_after(0, 10_000, campaign_id=campaign)]
    finally:
        log.dispose()

    # One letter at Lob: the validation notice, to the account's address, before any text.
    [letter_at_lob] = [
        ltr for ltr in lob_sim.letters if ltr.metadata.get("account_id") == account.account_id
    ]
    attempt = letter_at_lob.metadata["attempt_id"]
    assert attempt.endswith("/first-notice/letter")
    assert attempt.startswith(handle.id)
    to = letter_at_lob.to
    assert (to["address_line1"], to["address_line2"], to["address_city"]) == (
        "185 Berry St",
        "Suite 6100",
        "San Francisco",
    )
    assert (to["address_state"], to["address_zip"], to["name"]) == (
        "CA",
        "94107",
        account.debtor_name,
    )
    assert letter_at_lob.metadata["to"] == ADDRESS.one_line()
    assert letter_at_lob.use_type == "operational"
    first = snapshot.attempts[0]
    assert (first.step_id, first.channel, first.outcome) == (
        "first-notice",
        Channel.LETTER,
        ContactOutcome.SENT,
    )
    assert outcome.contacts[Channel.LETTER] == 1
    # Later steps went on as before: the reminder by text, no more letters.
    assert outcome.contacts[Channel.SMS] >= 1
    # The gate decided on the letter like any contact, and allowed it.
    letter_decisions = [d for d in snapshot.decisions if d.channel is Channel.LETTER]
    assert letter_decisions and all(d.allowed for d in letter_decisions)
    assert {d.to for d in letter_decisions} == {ADDRESS.one_line()}

    # Exported: the SEND_LETTER command to the letter agent, and the outcome answering it.
    commands = [r for r in found if r.kind is RecordKind.COMMAND]
    [letter] = [c for c in commands if c.type == "SEND_LETTER"]
    assert letter.target == "letter-agent"
    context = letter.body["command"]["context"]
    assert context["attemptId"] == attempt
    assert (context["channel"], context["template"]) == ("letter", "first_notice")
    assert letter.body["command"]["retryPolicy"] == {
        "maxRetries": 2,
        "backoffStrategy": "EXPONENTIAL",
    }
    [sent] = [
        r
        for r in found
        if r.type == "CustomerInteractionEvent"
        and r.body["correlation"].get("originalCommandId") == letter.message_id
    ]
    assert sent.status == "sent"
    # The email agent handed the step to the letter agent: it had no address to use.
    handoffs = [r for r in found if r.kind is RecordKind.AGENT_MESSAGE]
    assert any("by letter instead" in h.body.get("content", "") for h in handoffs)
