"""Events leave a campaign: the event log, the read model, the report, at little Temporal cost."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer, Worker

from adapters.event_log import EventLog
from adapters.read_model import RmAgentMessage
from adapters.report import campaign_report
from bootstrap.settings import Settings
from domain import names
from domain.account import Account
from domain.campaign import (
    AccountOutcome,
    CampaignSnapshot,
    CollectionStatus,
    InboundReply,
    OptOutRequest,
    PaymentReceived,
)
from domain.channels import Channel
from domain.compliance.facts import LegalEvent, LegalEventKind
from domain.events import ExportRecord, RecordKind
from domain.playbook import Playbook, Step
from domain.resilience import Backoff, RetryOverrides, RetryRule
from service.campaigns import start_account_campaign
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.campaign_support import replies_read
from tests.cli_support import env_for, recoup
from tests.conftest import TENANT, make_account
from workflows import ALL_WORKFLOWS

DAY = 0.25
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
SEED = {
    RecordKind.EVENT: SCHEMAS / "seed" / "agent-event.schema.json",
    RecordKind.COMMAND: SCHEMAS / "seed" / "agent-command.schema.json",
}
OURS = {
    RecordKind.EVENT: SCHEMAS / "event-message.schema.json",
    RecordKind.COMMAND: SCHEMAS / "command-message.schema.json",
    RecordKind.AGENT_MESSAGE: SCHEMAS / "agent-message.schema.json",
}


def validator(path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def three_touches() -> Playbook:
    """The standard campaign: email, SMS, call on days 0-2; then wait for payment."""
    return Playbook(
        name="standard",
        steps=[
            Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
            Step(id="text", day=1, channel=Channel.SMS, template="reminder"),
            Step(id="call", day=2, channel=Channel.PHONE, template="call_script"),
        ],
        closing_days=20,
    )


async def start(
    client: Client, settings: Settings, account: Account, campaign_id: str, playbook: Playbook
) -> WorkflowHandle[object, AccountOutcome]:
    return await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id=campaign_id,
        playbook=playbook,
        account=account,
        seconds_per_day=DAY,
    )


async def attempts(handle: WorkflowHandle[object, AccountOutcome]) -> int:
    snapshot: CampaignSnapshot = await handle.query(
        names.QUERY_STATUS, result_type=CampaignSnapshot
    )
    return len(snapshot.attempts)


def records(settings: Settings, campaign_id: str) -> list[ExportRecord]:
    log = EventLog(settings.sql_url)
    try:
        return [row.export_record() for row in log.read_after(0, 10_000, campaign_id=campaign_id)]
    finally:
        log.dispose()


def scheduled_activities(history: Any, name: str) -> int:
    kind = HistoryEventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    return sum(
        1
        for e in history.events
        if e.event_type == kind
        and e.activity_task_scheduled_event_attributes.activity_type.name == name
    )


async def until(check: Any, within: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while not (found := check()):
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.1)
    return found


async def test_a_campaign_exports_every_decision_in_order_with_one_extra_activity(
    client: Client, settings: Settings, running: list[Worker], twilio_sim: TwilioSimulator
) -> None:
    account = make_account()
    twilio_sim.force_call_outcome(account.phones[0].number, "completed", "human")
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    handle = await start(client, settings, account, campaign, three_touches())
    deadline = asyncio.get_running_loop().time() + 30
    while await attempts(handle) < 3:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    await handle.signal(
        names.SIGNAL_PAYMENT,
        PaymentReceived(payment_id=f"p-{campaign}", amount=Decimal("250.00"), currency="USD"),
    )
    outcome = await handle.result()
    assert outcome.status is CollectionStatus.PAID

    found = records(settings, campaign)
    kinds = [(r.kind, r.type, r.status) for r in found]
    # The story, in log order.
    assert kinds[0] == (RecordKind.EVENT, "CampaignProgressEvent", "started")
    assert kinds[-1] == (RecordKind.EVENT, "CampaignProgressEvent", "completed")
    commands = [r for r in found if r.kind is RecordKind.COMMAND]
    assert [c.type for c in commands] == ["SEND_EMAIL", "SEND_SMS", "MAKE_CALL"]
    assert [c.target for c in commands] == ["email-agent", "sms-agent", "phone-agent"]
    touches = [r for r in found if r.type == "CustomerInteractionEvent"]
    assert [t.status for t in touches] == ["sent", "sent", "conversation"]
    # Each outcome answers its command, and comes after it.
    position = {r.message_id: i for i, r in enumerate(found)}
    for command, touch in zip(commands, touches, strict=True):
        assert touch.body["correlation"]["originalCommandId"] == command.message_id
        assert position[command.message_id] < position[touch.message_id]
        assert touch.body["event"]["performance"]["responseTime"] >= 0
    audits = [r for r in found if r.type == "ComplianceAuditEvent"]
    assert [a.status for a in audits if a.metadata["stage"] == "plan"] == ["allowed"] * 3
    assert all(a.metadata["ruleset"].startswith("us-federal@") for a in audits)
    payment = next(r for r in found if r.type == "PaymentEvent")
    assert payment.metadata["amount"] == "250.00" and payment.metadata["balance"] == "0.00"
    assert ("CampaignProgressEvent", "paid") in [(r.type, r.status) for r in found]
    assert position[payment.message_id] < max(position.values())
    # Stable, unique ids; one trace id and conversation for the whole campaign.
    assert len({r.message_id for r in found}) == len(found)
    [trace_id] = {r.trace_id for r in found}
    assert trace_id is not None and len(trace_id) == 32
    assert {r.conversation_id for r in found} == {handle.id}
    assert {r.customer_id for r in found} == {account.account_id}

    # Every message is valid under the seed's schema and ours (formats checked).
    for record in found:
        if record.kind in SEED:
            validator(SEED[record.kind]).validate(record.body)
        validator(OURS[record.kind]).validate(record.body)
        assert "null" not in json.dumps(record.body)

    # Cost: the contacts carried their records out; only the end needed an export.
    history = await handle.fetch_history()
    assert scheduled_activities(history, names.EXPORT_EVENTS) == 1
    # Replaying makes the same decisions (and so the same message ids).
    await Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter).replay_workflow(
        history
    )

    # The exporter projects it into the read model; the report reads it.
    log = EventLog(settings.sql_url)
    try:
        report = await until(
            lambda: (r := campaign_report(log.engine, campaign)).finished == 1 and r
        )
    finally:
        log.dispose()
    assert report.accounts == 1 and report.statuses == {"paid": 1}
    assert report.collected == {"USD": Decimal("250.00")}
    assert report.recovery_rate == {"USD": 1.0}
    assert report.contact_rate == 1.0 and report.right_party_rate == 1.0
    assert report.opt_out_rate == 0.0 and report.promises_made == 0
    assert {c: (b.attempts, b.reached) for c, b in report.by_channel.items()} == {
        "email": (1, 1),
        "sms": (1, 1),
        "phone": (1, 1),
    }
    # The payment is credited to the last contact that reached the debtor: the call.
    assert report.by_step["call"].collected == Decimal("250.00")
    assert report.by_step["notice"].collected == Decimal("0")

    # The operator's view: the live stream, the exporter's progress, the report.
    env = env_for(settings)
    tail = await recoup("events", "tail", "--campaign", campaign, "--no-follow", "--json", env=env)
    assert tail.code == 0, tail.err
    assert [json.loads(line)["message_id"] for line in tail.out.splitlines()] == [
        r.message_id for r in found
    ]
    payments = await recoup(
        "events", "tail", "--type", "PaymentEvent", "--campaign", campaign, "--no-follow", env=env
    )
    assert payments.code == 0 and payments.out.count("PaymentEvent received") == 1, payments
    progress = await recoup("events", "status", env=env)
    assert progress.code == 0 and "sql" in progress.out, progress.err
    shown = await recoup("report", campaign, env=env)
    assert shown.code == 0, shown.err
    for expected in ("recovery rate", "100.0% (USD)", "right-party contact rate", "call"):
        assert expected in shown.out, shown.out
    as_json = await recoup("report", campaign, "--json", env=env)
    assert json.loads(as_json.out)["collected"] == {"USD": "250.00"}
    missing = await recoup("report", "no-such-campaign", env=env)
    assert missing.code == 1 and "no campaign 'no-such-campaign'" in missing.err


FAST = RetryOverrides(
    email=RetryRule(max_attempts=3, backoff=Backoff.EXPONENTIAL, initial_seconds=0.1),
    sms=RetryRule(max_attempts=3, backoff=Backoff.LINEAR, initial_seconds=0.1),
    phone=RetryRule(max_attempts=2, backoff=Backoff.FIXED, initial_seconds=0.1),
)


async def test_handoffs_and_dead_letters_are_agent_messages_for_the_supervisor(
    client: Client,
    settings: Settings,
    running: list[Worker],
    twilio_sim: TwilioSimulator,
    smtp_sim: SmtpSimulator,
) -> None:
    fast = settings.model_copy(update={"tenant_retry": {TENANT.tenant_id: FAST}})
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    # A call that fails twice is handed to the SMS agent (the seed's phone fallback).
    twilio_sim.fail_next(2, status=503)
    calling = make_account()
    playbook = Playbook(
        name="one",
        steps=[Step(id="touch", day=0, channel=Channel.PHONE, template="reminder")],
        closing_days=0,
    )
    await (await start(client, fast, calling, campaign, playbook)).result()
    # An email whose every try and fallback fails becomes a dead letter.
    smtp_sim.fail_next(3, code=451)
    twilio_sim.fail_next(3, status=500)
    failing = make_account()
    playbook = Playbook(
        name="one",
        steps=[
            Step(
                id="touch", day=0, channel=Channel.EMAIL, template="reminder", fallback=Channel.SMS
            )
        ],
        closing_days=0,
    )
    await (await start(client, fast, failing, campaign, playbook)).result()

    found = records(settings, campaign)
    handoff = next(
        r
        for r in found
        if r.kind is RecordKind.AGENT_MESSAGE
        and r.customer_id == calling.account_id
        and r.type == "task_handoff"
    )
    assert handoff.type == "task_handoff" and handoff.routing == "role" and handoff.target == "@sms"
    assert handoff.body["from_agent"]["agent_id"] == "phone-agent"
    assert handoff.body["mode"] == "async" and "by sms" in handoff.body["content"]
    mine = [r for r in found if r.customer_id == failing.account_id]
    statuses = [(r.type, r.status) for r in mine if r.kind is RecordKind.EVENT]
    assert statuses.count(("CustomerInteractionEvent", "failed")) == 2  # email, then SMS
    letter = next(r for r in mine if r.type == "DeadLetterEvent")
    escalate = next(r for r in mine if r.type == "ESCALATE")
    assert escalate.target == "escalation-agent"
    assert escalate.body["command"]["context"]["deadLetterId"] == letter.metadata["deadLetterId"]
    guidance = next(r for r in mine if r.type == "request_guidance")
    assert guidance.target == "@supervisor" and guidance.body["requires_response"] is True
    assert guidance.body["correlation_id"] == letter.message_id
    assert letter.metadata["deadLetterId"] in guidance.body["content"]
    for record in found:
        if record.kind in SEED:
            validator(SEED[record.kind]).validate(record.body)
        validator(OURS[record.kind]).validate(record.body)

    # Every envelope is kept in the read model, for audit: both handoffs (the call to
    # SMS, the email to its SMS fallback), the request for guidance, and each account's
    # research brief.
    log = EventLog(settings.sql_url)
    try:
        stored = await until(lambda: len(found := _agent_messages(log, campaign)) == 5 and found)
    finally:
        log.dispose()
    assert sorted(m.action for m in stored) == [
        "context_brief",
        "context_brief",
        "request_guidance",
        "task_handoff",
        "task_handoff",
    ]
    assert {m.id for m in stored} == {
        r.message_id for r in found if r.kind is RecordKind.AGENT_MESSAGE
    }


def _agent_messages(log: EventLog, campaign: str) -> list[RmAgentMessage]:
    with Session(log.engine) as session:
        query = select(RmAgentMessage).where(RmAgentMessage.campaign_id == campaign)
        return list(session.exec(query).all())


async def test_replies_promises_disputes_and_opt_outs_reach_the_report(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    later = Playbook(
        name="later",
        steps=[Step(id="later", day=300, channel=Channel.EMAIL, template="reminder")],
        closing_days=0,
        promise_grace_days=90,
    )
    promiser, disputer, stopper = make_account(), make_account(), make_account()
    handles = [
        await start(client, settings, a, campaign, later) for a in (promiser, disputer, stopper)
    ]
    await handles[0].signal(
        names.SIGNAL_REPLY,
        InboundReply(reply_id="r-1", channel=Channel.SMS, text="I will pay on Friday"),
    )
    # Read (in the reader activity) before the payment: a payment first ends the campaign
    # and the promise would be recorded only.
    await replies_read(handles[0])
    await handles[1].signal(names.SIGNAL_LEGAL, LegalEvent(kind=LegalEventKind.DISPUTE))
    await handles[2].signal(
        names.SIGNAL_OPT_OUT, OptOutRequest(channel=Channel.EMAIL, reason="asked by phone")
    )
    await handles[0].signal(
        names.SIGNAL_PAYMENT,
        PaymentReceived(payment_id=f"p-{campaign}", amount=Decimal("250.00"), currency="USD"),
    )
    await handles[0].result()
    for handle in handles[1:]:
        await handle.terminate("test over")

    log = EventLog(settings.sql_url)
    try:
        report = await until(
            lambda: (
                (r := campaign_report(log.engine, campaign)).disputes == 1
                and r.opt_out_rate
                and r.promises_kept == 1
                and r
            )
        )
    finally:
        log.dispose()
    assert report.accounts == 3
    assert report.promises_made == 1 and report.promises_kept == 1
    assert report.opt_out_rate == 1 / 3
    assert report.right_party_rate == 2 / 3  # the reply and the dispute; not the opt-out
    assert report.contact_rate == 0.0  # nobody was contacted yet
    assert report.collected == {"USD": Decimal("250.00")}
    types = [(r.type, r.status) for r in records(settings, campaign)]
    for expected in [
        ("CustomerInteractionEvent", "replied"),
        ("PromiseEvent", "made"),
        ("PromiseEvent", "kept"),
        ("DisputeEvent", "opened"),
        ("ComplianceAuditEvent", "legal_event"),
        ("OptOutEvent", "opted_out"),
        ("CampaignProgressEvent", "disputed"),
    ]:
        assert expected in types, expected
