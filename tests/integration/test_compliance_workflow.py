"""The compliance gate inside campaigns: waits, legal events, cross-campaign history."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.email import EmailAgent
from adapters.contact_ledger import ContactLedger
from adapters.smtp import SmtpMailer
from adapters.templates import TemplateRenderer
from bootstrap.settings import Settings
from cli.demo import waiting_on_the_law
from domain import names
from domain.campaign import CampaignSnapshot, CollectionStatus, PaymentReceived
from domain.channels import Channel
from domain.compliance.audit import verify_contact
from domain.compliance.facts import LegalEvent, LegalEventKind
from domain.compliance.model import ComplianceFacts, PastContact, Reason
from domain.contact import ComplianceContext, ContactRequest, MessageContext
from domain.playbook import Playbook, Step
from domain.revocations import Revocation, RevocationKind
from service.audit import audit_account
from service.campaigns import start_account_campaign
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from simulators.zones import most_asleep
from tests.cli_support import env_for, recoup
from tests.conftest import TENANT, make_account, make_settings
from workers.run import workers

EMAIL_NOW = Playbook(
    name="email-now",
    steps=[Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice")],
    closing_days=0,
)
CALL_NOW = Playbook(
    name="call-now",
    steps=[Step(id="call", day=0, channel=Channel.PHONE, template="call_script")],
    closing_days=0,
)


async def status(client: Client, account_id: str) -> CampaignSnapshot:
    handle = client.get_workflow_handle(f"account/{TENANT.tenant_id}/{account_id}")
    snapshot: CampaignSnapshot = await handle.query(
        names.QUERY_STATUS, result_type=CampaignSnapshot
    )
    return snapshot


async def until(check: object, within: float = 20.0) -> None:
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def test_a_contact_in_quiet_hours_waits_and_goes_out_at_eight_local(
    skipping_env: WorkflowEnvironment,
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
    tmp_path: Path,
) -> None:
    zone = most_asleep(datetime.now(UTC))  # it is the middle of the night there
    account = make_account(timezones=[zone], phones=[])
    settings = make_settings(skipping_env, smtp_sim, twilio_sim, tmp_path)
    client = skipping_env.client
    async with workers(client, settings) as built:
        for w in built:
            await w.__aenter__()
        try:
            handle = await start_account_campaign(
                client, settings, tenant=TENANT, campaign_id="night",
                playbook=EMAIL_NOW, account=account,
            )  # fmt: skip
            outcome = await handle.result()
            snapshot = await handle.query(names.QUERY_STATUS, result_type=CampaignSnapshot)
        finally:
            for w in built:
                await w.__aexit__(None, None, None)
    first, *_ = snapshot.decisions
    assert not first.allowed and first.reasons == [Reason.QUIET_HOURS]
    assert first.earliest_allowed is not None
    opening = first.earliest_allowed.astimezone(ZoneInfo(zone))
    assert opening.time() == time(8, 0)
    assert outcome.contacts == {Channel.EMAIL: 1}
    sent = snapshot.attempts[0].at.astimezone(ZoneInfo(zone))
    # Out at the opening of calling hours, not before and not much after.
    assert first.earliest_allowed <= snapshot.attempts[0].at
    assert time(8, 0) <= sent.time() < time(8, 5)
    assert any(d.allowed and d.stage == "plan" for d in snapshot.decisions)


async def test_a_cease_cancels_a_contact_already_waiting(
    client: Client, settings: Settings, running: list[Worker], smtp_sim: SmtpSimulator
) -> None:
    zone = most_asleep(datetime.now(UTC))
    account = make_account(timezones=[zone], phones=[])
    handle = await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="cease", playbook=EMAIL_NOW,
        account=account,
    )  # fmt: skip

    async def waiting_on_the_gate() -> bool:
        snapshot = await status(client, account.account_id)
        return bool(snapshot.decisions) and not snapshot.decisions[0].allowed

    await until(waiting_on_the_gate)
    await handle.signal(
        names.SIGNAL_LEGAL, LegalEvent(kind=LegalEventKind.CEASE, note="letter received")
    )
    outcome = await handle.result()
    assert outcome.status is CollectionStatus.CEASED
    assert outcome.contacts == {}
    assert not [m for m in smtp_sim.messages if account.emails[0].address in m.to]
    snapshot = await status(client, account.account_id)
    assert snapshot.holds.cease


async def test_a_dispute_pauses_collection_until_verification_is_sent(
    client: Client, settings: Settings, running: list[Worker], smtp_sim: SmtpSimulator
) -> None:
    account = make_account(phones=[])
    later = Playbook(
        name="later",
        steps=[Step(id="notice", day=1, channel=Channel.EMAIL, template="first_notice")],
        closing_days=0,
    )
    handle = await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="dispute", playbook=later,
        account=account, seconds_per_day=0.3,
    )  # fmt: skip
    await handle.signal(names.SIGNAL_LEGAL, LegalEvent(kind=LegalEventKind.DISPUTE))
    await asyncio.sleep(1.0)  # well past the step's day
    snapshot = await status(client, account.account_id)
    assert snapshot.status is CollectionStatus.DISPUTED
    assert snapshot.attempts == []
    assert Reason.DISPUTE_HOLD in snapshot.decisions[-1].reasons
    await handle.signal(names.SIGNAL_LEGAL, LegalEvent(kind=LegalEventKind.VERIFICATION_SENT))
    outcome = await handle.result()
    assert outcome.contacts == {Channel.EMAIL: 1}


async def test_a_conversation_in_an_earlier_campaign_locks_calls_in_the_next(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    account = make_account()  # the simulator answers every call: a conversation
    first = await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="campaign-a", playbook=CALL_NOW,
        account=account,
    )  # fmt: skip
    assert (await first.result()).contacts == {Channel.PHONE: 1}

    second = await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="campaign-b", playbook=CALL_NOW,
        account=account,
    )  # fmt: skip

    async def gate_asked() -> bool:
        return bool((await status(client, account.account_id)).decisions)

    await until(gate_asked)
    decision = (await status(client, account.account_id)).decisions[0]
    assert decision.reasons == [Reason.POST_CONVERSATION_7DAY]
    assert decision.history_size == 1  # campaign A's call, from the contact ledger
    assert decision.earliest_allowed is not None
    assert decision.earliest_allowed - datetime.now(UTC) > timedelta(days=6)
    await second.signal(
        names.SIGNAL_PAYMENT,
        PaymentReceived(payment_id="p", amount=Decimal("250.00"), currency="USD"),
    )
    assert (await second.result()).status is CollectionStatus.PAID


CALL_TOMORROW = Playbook(
    name="call-tomorrow",
    steps=[Step(id="call", day=1, channel=Channel.PHONE, template="call_script")],
    closing_days=0,
)


async def test_the_gate_counts_the_contacts_of_the_moment_it_is_first_asked(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    """The debt's history is loaded right before the first contact, not at the start: a
    campaign started with nothing due does no work but sleep, and a contact the ledger
    received meanwhile (here a conversation) counts at the first step."""
    account = make_account()
    handle = await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="campaign-c", playbook=CALL_TOMORROW,
        account=account, seconds_per_day=4,
    )  # fmt: skip

    async def asleep() -> bool:
        return (await status(client, account.account_id)).next_action_at is not None

    await until(asleep)
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert names.LOAD_CONTACT_HISTORY not in scheduled  # nothing due: not loaded yet
    ledger = ContactLedger(settings.sql_url)
    try:
        ledger.record(
            TENANT.tenant_id,
            account.account_id,
            f"elsewhere/{account.account_id}/call",
            PastContact(
                at=datetime.now(UTC),
                channel=Channel.PHONE,
                outcome="conversation",
                to=account.phones[0].number,
            ),
        )
    finally:
        ledger.dispose()

    async def gate_asked() -> bool:
        return bool((await status(client, account.account_id)).decisions)

    await until(gate_asked)
    decision = (await status(client, account.account_id)).decisions[0]
    assert decision.reasons == [Reason.POST_CONVERSATION_7DAY]
    assert decision.history_size == 1  # the conversation recorded after the start
    await handle.signal(
        names.SIGNAL_PAYMENT,
        PaymentReceived(payment_id="p", amount=Decimal("250.00"), currency="USD"),
    )
    assert (await handle.result()).status is CollectionStatus.PAID


async def test_the_agent_refuses_a_send_the_rules_no_longer_allow(
    smtp_sim: SmtpSimulator, tmp_path: Path
) -> None:
    """A send delayed into quiet hours (or past a cease) must not go out."""
    zone = most_asleep(datetime.now(UTC))
    ledger = ContactLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.create_tables()
    agent = EmailAgent(
        SmtpMailer("127.0.0.1", smtp_sim.port, sender="c@recoup.example"),
        TemplateRenderer(Settings().template_dir),
        ledger,
    )
    address = f"late-{tmp_path.name}@example.com"
    request = ContactRequest(
        attempt_id="account/acme/late/run/notice/email",
        tenant_id="acme",
        account_id="late",
        channel=Channel.EMAIL,
        to=address,
        template="first_notice",
        message=MessageContext(
            debtor_name="Lee Late",
            account_id="late",
            creditor="Acme",
            collector="Acme",
            balance=Decimal("10.00"),
            currency="USD",
            due_date=datetime(2026, 1, 1).date(),
            days_past_due=300,
        ),
        compliance=ComplianceContext(facts=ComplianceFacts(timezones=[zone])),
    )
    try:
        with pytest.raises(ApplicationError) as refused:
            await ActivityEnvironment().run(agent.send_email, request)
        assert refused.value.type == names.COMPLIANCE_BLOCKED
        assert refused.value.non_retryable
        assert refused.value.details[0]["reasons"] == ["quiet_hours"]
        assert not [m for m in smtp_sim.messages if address in m.to]
        assert ledger.history("acme", "late", datetime(2000, 1, 1, tzinfo=UTC)) == []
    finally:
        ledger.dispose()


def test_verification_finds_a_send_in_quiet_hours_and_an_ignored_cease() -> None:
    facts = ComplianceFacts(timezones=["America/New_York"])
    night = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)  # 22:30 EDT on Mar 9
    day = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 11:00 EDT
    ok = verify_contact(
        run_id="r", attempt_id="a", channel=Channel.EMAIL, to="x@example.com",
        sent_at=day, facts=facts, history=[],
    )  # fmt: skip
    assert ok.passed and ok.findings == []
    late = verify_contact(
        run_id="r", attempt_id="a", channel=Channel.EMAIL, to="x@example.com",
        sent_at=night, facts=facts, history=[],
    )  # fmt: skip
    assert not late.passed and "quiet_hours" in late.findings[0]
    cease = _revoked(RevocationKind.CEASE, day - timedelta(hours=1))
    ignored = verify_contact(
        run_id="r", attempt_id="a", channel=Channel.EMAIL, to="x@example.com",
        sent_at=day, facts=facts, history=[], received=[cease],
    )  # fmt: skip
    assert ignored.findings == ["sent while a cease received earlier was in force"]
    lifted = [
        _revoked(RevocationKind.DISPUTE, day - timedelta(hours=2)),
        _revoked(RevocationKind.VERIFICATION_SENT, day - timedelta(hours=1)),
    ]
    after_verification = verify_contact(
        run_id="r", attempt_id="a", channel=Channel.EMAIL, to="x@example.com",
        sent_at=day, facts=facts, history=[], received=lifted,
    )  # fmt: skip
    assert after_verification.passed
    # An opt-out of that address received before the send: a finding; of another: none.
    stop = _revoked(RevocationKind.OPT_OUT, day - timedelta(minutes=1), "x@example.com")
    after_stop = verify_contact(
        run_id="r", attempt_id="a", channel=Channel.EMAIL, to="x@example.com",
        sent_at=day, facts=facts, history=[], received=[stop],
    )  # fmt: skip
    assert not after_stop.passed and "opt-out of email:x@example.com" in after_stop.findings[0]
    elsewhere = verify_contact(
        run_id="r", attempt_id="a", channel=Channel.EMAIL, to="y@example.com",
        sent_at=day, facts=facts, history=[], received=[stop],
    )  # fmt: skip
    assert elsewhere.passed
    # An opt-out received after the message left is no finding.
    later = verify_contact(
        run_id="r", attempt_id="a", channel=Channel.EMAIL, to="x@example.com",
        sent_at=day - timedelta(minutes=2), facts=facts, history=[], received=[stop],
    )  # fmt: skip
    assert later.passed


def _revoked(kind: RevocationKind, at: datetime, address: str | None = None) -> Revocation:
    return Revocation(
        revocation_id=f"{kind}-{at.isoformat()}",
        tenant_id="t",
        account_id="a",
        kind=kind,
        channel=Channel.EMAIL if address else None,
        address=address,
        received_at=at,
    )


async def test_audit_replays_every_contact_from_temporal_history(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    account = make_account()
    cadence = Playbook(
        name="three",
        steps=[
            Step(id="mail", day=0, channel=Channel.EMAIL, template="first_notice"),
            Step(id="text", day=1, channel=Channel.SMS, template="reminder"),
            Step(id="call", day=2, channel=Channel.PHONE, template="call_script"),
        ],
        closing_days=0,
    )
    handle = await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="audited", playbook=cadence,
        account=account, seconds_per_day=0.2,
    )  # fmt: skip
    await handle.result()
    report = await audit_account(client, TENANT.tenant_id, account.account_id)
    assert [c.channel for c in report.contacts] == [Channel.EMAIL, Channel.SMS, Channel.PHONE]
    assert report.violations == []
    assert all(c.ruleset.startswith("us-federal@") for c in report.contacts)

    result = await recoup(
        "compliance", "audit", account.account_id, "--tenant", TENANT.tenant_id, "--json",
        env=env_for(settings),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert len(json.loads(result.out)["contacts"]) == 3


async def test_a_cease_cancels_a_send_stuck_in_retries(
    client: Client, settings: Settings, running: list[Worker], smtp_sim: SmtpSimulator
) -> None:
    account = make_account(phones=[])
    address = account.emails[0].address
    smtp_sim.fail_next(100, code=451)  # the mail server refuses for now: the send retries
    try:
        handle = await start_account_campaign(
            client, settings, tenant=TENANT, campaign_id="stuck", playbook=EMAIL_NOW,
            account=account,
        )  # fmt: skip

        async def retrying() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return bool(pending) and pending[0].attempt >= 2

        await until(retrying)
        await handle.signal(names.SIGNAL_LEGAL, LegalEvent(kind=LegalEventKind.CEASE))
        outcome = await handle.result()
    finally:
        smtp_sim.clear_failures()
    assert outcome.status is CollectionStatus.CEASED
    assert outcome.contacts == {}
    assert not [m for m in smtp_sim.messages if address in m.to]
    snapshot = await status(client, account.account_id)
    assert "cancelled" in (snapshot.attempts[0].detail or "")
    assert any(d.stage == "legal event" and not d.allowed for d in snapshot.decisions)


async def test_the_demo_tells_campaigns_held_by_a_real_time_rule_from_busy_ones(
    client: Client, settings: Settings, running: object
) -> None:
    # The demo compresses playbook days, not the law's: a campaign the gate holds until
    # 08:00 where its debtor sleeps must not keep `recoup demo` waiting for hours.
    campaign = f"night-{uuid.uuid4().hex[:6]}"
    asleep = make_account(timezones=[most_asleep(datetime.now(UTC))], phones=[])
    await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id=campaign, playbook=EMAIL_NOW, account=asleep
    )

    async def held() -> bool:
        snapshot = await status(client, asleep.account_id)
        return (snapshot.next_action or "").startswith("compliance (quiet_hours)")

    await until(held)
    found: list[CampaignSnapshot] = []

    async def listed() -> bool:  # visibility lags the start a little
        found[:] = await waiting_on_the_law(client, TENANT.tenant_id, campaign, timedelta(0))
        return bool(found)

    await until(listed)
    assert [s.account_id for s in found] == [asleep.account_id]
    # Not beyond a horizon past the debtor's morning: the demo would keep waiting.
    assert await waiting_on_the_law(client, TENANT.tenant_id, campaign, timedelta(days=1)) == []
