"""``recoup reconcile``: gather a campaign's six accounts of its contacts and compare them.

What it reads (``domain.reconciliation`` says why six):

- Temporal: every run of every account campaign of the campaign (visibility on
  ``RecoupTenant``/``RecoupCampaign``), each contact activity's request and what its
  agent reported, and what the campaign counted (its result, or its status query);
- the contact ledger, the audit chain, the dead letters and the read model (after the
  exporter has caught up with the event log);
- the providers' own lists, over their APIs: the SMS/voice provider's messages and
  calls, the letter provider's (Lob's) letters, the mail provider's accepted-message
  events (when ``RECOUP_MAIL_EVENTS_URL`` is set; otherwise email is reported as not
  checked against its provider).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field
from sqlmodel import Session, select
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.converter import DataConverter
from temporalio.service import RPCError

from adapters.errors import ProviderError
from adapters.read_model import RmContactAttempt
from adapters.report import campaign_report
from bootstrap.root import Root
from bootstrap.settings import SQL_SINK, Settings
from domain import names
from domain.campaign import AccountCampaignInput, AccountOutcome, CampaignSnapshot
from domain.channels import Channel, by_activity
from domain.contact import ContactRequest, ContactResult
from domain.reconciliation import (
    REACHED,
    Attempt,
    Difference,
    LedgerRecord,
    ProviderRecord,
    Sources,
    differences,
)

_CONTACT_ACTIVITIES = by_activity()
# Provider calls that never rang are no contact, and the ledger rightly lacks them.
_CALLS_THAT_RANG = frozenset({"completed", "no-answer", "canceled", "in-progress", "ringing"})


class Reconciliation(BaseModel):
    tenant_id: str
    campaign_id: str
    accounts: int
    runs: int
    contacts: dict[Channel, int] = Field(
        description="Contacts that reached the debtor's side, by channel, from the histories."
    )
    compared: dict[str, int] = Field(description="How many records each source gave.")
    unchecked: list[str] = Field(description="What could not be compared, and why.")
    differences: list[Difference]


class _Run(BaseModel):
    workflow_id: str
    run_id: str
    status: str
    started: datetime


async def _history_of(
    client: Client, run: _Run, sources: Sources, addresses: set[str]
) -> AccountOutcome | None:
    """Add the run's contact attempts to ``sources``; return its result if it completed."""
    convert: DataConverter = client.data_converter
    handle = client.get_workflow_handle(run.workflow_id, run_id=run.run_id)
    history = await handle.fetch_history()
    requests: dict[int, ContactRequest] = {}
    outcome: AccountOutcome | None = None
    for event in history.events:
        if event.HasField("workflow_execution_started_event_attributes"):
            started = event.workflow_execution_started_event_attributes
            [inp] = await convert.decode(started.input.payloads, [AccountCampaignInput])
            addresses.update(e.address.lower() for e in inp.account.emails)
            addresses.update(p.number for p in inp.account.phones)
            if inp.account.address is not None:
                addresses.add(inp.account.address.one_line())
        elif event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name in _CONTACT_ACTIVITIES:
                [request] = await convert.decode(scheduled.input.payloads, [ContactRequest])
                requests[event.event_id] = request
                addresses.add(request.to.lower() if "@" in request.to else request.to)
        elif event.HasField("workflow_execution_completed_event_attributes"):
            done = event.workflow_execution_completed_event_attributes
            [outcome] = await convert.decode(done.result.payloads, [AccountOutcome])
        else:
            attempt = await _ended(convert, event, requests)
            if attempt is not None:
                sources.attempts.append(attempt)
    return outcome


async def _ended(
    convert: DataConverter, event: HistoryEvent, requests: dict[int, ContactRequest]
) -> Attempt | None:
    """A contact activity's end as an attempt (None for other events)."""
    if event.HasField("activity_task_completed_event_attributes"):
        attrs = event.activity_task_completed_event_attributes
        request = requests.get(attrs.scheduled_event_id)
        if request is None:
            return None
        [result] = await convert.decode(attrs.result.payloads, [ContactResult])
        outcome, ref, at = result.outcome.value, result.provider_ref, result.sent_at
    elif event.HasField("activity_task_failed_event_attributes"):
        attrs_f = event.activity_task_failed_event_attributes
        request = requests.get(attrs_f.scheduled_event_id)
        if request is None:
            return None
        failure = attrs_f.failure.application_failure_info.type
        outcome = "refused" if failure == names.COMPLIANCE_BLOCKED else "failed"
        ref, at = None, None
    elif event.HasField("activity_task_canceled_event_attributes"):
        request = requests.get(event.activity_task_canceled_event_attributes.scheduled_event_id)
        if request is None:
            return None
        outcome, ref, at = "cancelled", None, None
    elif event.HasField("activity_task_timed_out_event_attributes"):
        request = requests.get(event.activity_task_timed_out_event_attributes.scheduled_event_id)
        if request is None:
            return None
        outcome, ref, at = "failed", None, None
    else:
        return None
    return Attempt(
        attempt_id=request.attempt_id,
        account_id=request.account_id,
        channel=request.channel,
        to=request.to,
        outcome=outcome,
        provider_ref=ref,
        at=at,
    )


async def _campaign_count(client: Client, run: _Run) -> dict[Channel, int] | None:
    """What a running campaign counts now (its status query); None if nobody answers."""
    handle = client.get_workflow_handle(run.workflow_id, run_id=run.run_id)
    try:
        snapshot: CampaignSnapshot = await handle.query(
            names.QUERY_STATUS,
            result_type=CampaignSnapshot,
            rpc_timeout=timedelta(seconds=10),
        )
    except RPCError:
        return None
    counted: dict[Channel, int] = {}
    for attempt in snapshot.attempts:
        if attempt.outcome.reached:
            counted[attempt.channel] = counted.get(attempt.channel, 0) + 1
    return counted


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def gather(
    client: Client, settings: Settings, tenant_id: str, campaign_id: str, wait_seconds: float
) -> tuple[Sources, Reconciliation]:
    query = (
        f"WorkflowType = '{names.ACCOUNT_CAMPAIGN}' AND RecoupTenant = {_quoted(tenant_id)} "
        f"AND RecoupCampaign = {_quoted(campaign_id)}"
    )
    runs = [
        _Run(
            workflow_id=e.id,
            run_id=e.run_id,
            status=e.status.name if e.status else "UNKNOWN",
            started=e.start_time,
        )
        async for e in client.list_workflows(query)
    ]
    sources = Sources()
    unchecked: list[str] = []
    addresses: set[str] = set()
    for run in sorted(runs, key=lambda r: r.started):
        outcome = await _history_of(client, run, sources, addresses)
        account_id = run.workflow_id.rsplit("/", 1)[-1]
        if outcome is not None:
            sources.campaign_counts[outcome.account_id] = dict(outcome.contacts)
        elif run.status == WorkflowExecutionStatus.RUNNING.name:
            counted = await _campaign_count(client, run)
            if counted is None:
                unchecked.append(f"{account_id}: the running campaign did not answer its query")
            else:
                sources.campaign_counts[account_id] = counted
    accounts = sorted({a.account_id for a in sources.attempts} | set(sources.campaign_counts))
    await _stores(settings, tenant_id, campaign_id, accounts, sources, wait_seconds, unchecked)
    since = min((r.started for r in runs), default=datetime.now(UTC)) - timedelta(minutes=1)
    await _providers(settings, sources, addresses, since, unchecked)
    report = Reconciliation(
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        accounts=len(accounts),
        runs=len(runs),
        contacts=_reached(sources),
        compared={
            "history attempts": len(sources.attempts),
            "ledger entries": len(sources.ledger),
            "audit chain entries": len(sources.audit_chain),
            "exported attempts": len(sources.exported),
            **{f"{c} provider records": len(r) for c, r in sources.provider.items()},
        },
        unchecked=unchecked,
        differences=[],
    )
    return sources, report


def _reached(sources: Sources) -> dict[Channel, int]:
    latest = {a.attempt_id: a for a in sources.attempts}
    counted: dict[Channel, int] = {}
    for a in latest.values():
        if a.outcome in REACHED:
            counted[a.channel] = counted.get(a.channel, 0) + 1
    return counted


async def reconcile(
    client: Client,
    settings: Settings,
    tenant_id: str,
    campaign_id: str,
    wait_seconds: float = 30.0,
) -> Reconciliation:
    sources, report = await gather(client, settings, tenant_id, campaign_id, wait_seconds)
    return report.model_copy(update={"differences": differences(sources)})


async def _stores(
    settings: Settings,
    tenant_id: str,
    campaign_id: str,
    accounts: list[str],
    sources: Sources,
    wait_seconds: float,
    unchecked: list[str],
) -> None:
    def read() -> None:
        with Root(settings) as root:
            ledger, audit, events, dead = (
                root.contact_ledger,
                root.audit_log,
                root.events,
                root.dead_letters,
            )
            ledger.create_tables()
            entries = ledger.entries(tenant_id, accounts)
            sources.ledger = [
                LedgerRecord(
                    attempt_id=e.attempt_id,
                    account_id=e.account_id,
                    channel=Channel(e.channel),
                    outcome=e.outcome,
                    provider_ref=e.provider_ref,
                )
                for e in entries
            ]
            ids = {e.attempt_id for e in entries} | {a.attempt_id for a in sources.attempts}
            sources.audit_chain = audit.contacts_recorded(tenant_id, sorted(ids))
            deadline = time.monotonic() + wait_seconds
            while events.cursor(SQL_SINK) < events.last_position():
                if time.monotonic() > deadline:
                    unchecked.append("the read model is behind the event log (exporter running?)")
                    break
                time.sleep(0.2)
            with Session(events.engine) as session:
                rows = session.exec(
                    select(RmContactAttempt).where(
                        RmContactAttempt.tenant_id == tenant_id,
                        RmContactAttempt.campaign_id == campaign_id,
                    )
                ).all()
            sources.exported = {r.attempt_id: r.outcome for r in rows}
            found = campaign_report(events.engine, campaign_id, tenant_id)
            known = {c.value for c in Channel}
            sources.report_reached = {
                Channel(c): b.reached for c, b in found.by_channel.items() if c in known
            }
            for letter in dead.list(tenant_id=tenant_id, limit=1_000_000):
                if letter.campaign_id == campaign_id:
                    for failure in letter.failures:
                        sources.dead_lettered[failure.attempt_id] = letter.dead_letter_id

    await asyncio.to_thread(read)


async def _providers(
    settings: Settings,
    sources: Sources,
    addresses: set[str],
    since: datetime,
    unchecked: list[str],
) -> None:
    async with Root(settings) as root:
        await _provider_records(root, sources, addresses, since, unchecked)
    await asyncio.to_thread(_foreign, settings, sources)


async def _provider_records(
    root: Root, sources: Sources, addresses: set[str], since: datetime, unchecked: list[str]
) -> None:
    twilio = root.twilio
    try:
        messages = await twilio.list_messages(sent_after=since)
        calls = await twilio.list_calls(started_after=since)
    except ProviderError as exc:
        unchecked.append(f"sms and phone: the provider's records could not be read: {exc}")
    else:
        sources.provider[Channel.SMS] = [
            ProviderRecord(
                channel=Channel.SMS,
                provider_ref=m.sid,
                to=m.to,
                at=m.date_created,
                status=m.status,
            )
            for m in messages
            if m.to in addresses
        ]
        sources.provider[Channel.PHONE] = [
            ProviderRecord(
                channel=Channel.PHONE,
                provider_ref=c.sid,
                to=c.to,
                at=c.date_created,
                status=c.status,
            )
            for c in calls
            if c.to in addresses and c.status in _CALLS_THAT_RANG
        ]
    await _letters(root, sources, addresses, since, unchecked)
    mail = root.mail_events
    if mail is None:
        unchecked.append("email: no RECOUP_MAIL_EVENTS_URL, the mail provider was not asked")
    else:
        try:
            accepted = await mail.accepted(since=since)
        except ProviderError as exc:
            unchecked.append(f"email: the mail provider's records could not be read: {exc}")
        else:
            sources.provider[Channel.EMAIL] = [
                ProviderRecord(
                    channel=Channel.EMAIL,
                    provider_ref=m.message_id,
                    to=m.recipient,
                    at=m.timestamp,
                    status="accepted",
                )
                for m in accepted
                if m.recipient.lower() in addresses
            ]


async def _letters(
    root: Root,
    sources: Sources,
    addresses: set[str],
    since: datetime,
    unchecked: list[str],
) -> None:
    """The letter provider's letters to the campaign's addresses (as the ledger keys them)."""
    try:
        letters = await root.lob.list_letters(created_after=since)
    except ProviderError as exc:
        unchecked.append(f"letter: the provider's records could not be read: {exc}")
    else:
        found = []
        for letter in letters:
            # Recoup's letters carry the ledger's key for their address; Lob may show the
            # address itself standardised.
            to = letter.metadata.get("to") or letter.to
            if to in addresses:
                found.append(
                    ProviderRecord(
                        channel=Channel.LETTER,
                        provider_ref=letter.id,
                        to=to,
                        at=letter.date_created,
                        status=letter.status,
                    )
                )
        sources.provider[Channel.LETTER] = found


def _foreign(settings: Settings, sources: Sources) -> None:
    """Provider refs no record here explains may belong to another campaign's account."""
    ours = {r.provider_ref for r in sources.ledger} | {a.provider_ref for a in sources.attempts}
    unknown = {r.provider_ref for rs in sources.provider.values() for r in rs} - ours
    if not unknown:
        return
    with Root(settings) as root:
        sources.foreign_refs = root.contact_ledger.known_refs(sorted(unknown))
