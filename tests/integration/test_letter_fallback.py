"""The validation notice goes by letter when no email address can be used.

The shipped standard playbook, in real days on the time-skipping server, for a debtor
with no email but a mailing address (and a phone that may be texted): the notice is a
``send_letter`` activity on the letter queue, ahead of the SMS fallback.

The letter agent here is a stand-in registered under the real activity name on the real
queue: it records the request it gets and exports the campaign's pending records as a
channel agent does (activities.export.ContactExport), then answers "sent". The real one
(``activities/letter.py``, Lob's API) is another part of the letter channel.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.export import ContactExport
from adapters.event_log import EventLog
from adapters.playbook_files import load_playbook
from bootstrap.settings import Settings
from domain import names
from domain.account import PhoneContact, PostalAddress
from domain.campaign import CampaignSnapshot
from domain.channels import Channel
from domain.contact import ContactOutcome, ContactRequest, ContactResult
from domain.events import RecordKind
from service.campaigns import start_account_campaign
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.conftest import TENANT, make_account, make_settings
from workers.run import workers

ADDRESS = PostalAddress(
    line1="185 Berry St", line2="Suite 6100", city="San Francisco", state="CA", zip="94107"
)


class LetterStandIn:
    """Records each letter request; exports what the campaign handed it; says sent."""

    def __init__(self, export: ContactExport) -> None:
        self.export = export
        self.requests: list[ContactRequest] = []

    @activity.defn(name=names.SEND_LETTER)
    async def send_letter(self, request: ContactRequest) -> ContactResult:
        started = self.export.started()
        self.requests.append(request)
        result = ContactResult(
            outcome=ContactOutcome.SENT,
            provider_ref=f"ltr_{len(self.requests)}",
            sent_at=datetime.now(UTC),
        )
        return await self.export.finished(request, result, started)


async def test_no_usable_email_sends_the_validation_notice_by_letter(
    skipping_env: WorkflowEnvironment,
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
    tmp_path: Path,
) -> None:
    settings: Settings = make_settings(skipping_env, smtp_sim, twilio_sim, tmp_path)
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
    letters = LetterStandIn(ContactExport(log))
    client = skipping_env.client
    try:
        async with workers(client, settings) as built:
            built.append(
                Worker(client, task_queue=settings.queues.letter, activities=[letters.send_letter])
            )
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

    # One letter: the validation notice, to the account's address, before any text.
    [request] = letters.requests
    assert request.channel is Channel.LETTER
    assert request.template == "first_notice"
    assert request.postal == ADDRESS
    assert request.to == ADDRESS.one_line() == "185 Berry St, Suite 6100, San Francisco, CA 94107"
    assert request.attempt_id.endswith("/first-notice/letter")
    assert request.attempt_id.startswith(handle.id)
    assert request.message.debtor_name == account.debtor_name
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
    assert context["attemptId"] == request.attempt_id
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
