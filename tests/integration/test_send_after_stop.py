"""Nothing goes out after a STOP, and the records never disagree with what went out.

Real dev server, workers, simulators and SQL stores. A STOP is stored (as the API and
the webhooks do) while an SMS is on its way; the provider is stalled or failing so that
the order of events is fixed, not left to timing:

- stored before the agent's last check: the SMS never reaches the provider, whether or
  not the campaign has heard of the STOP yet;
- stored in the gap between the check and the hand-over: the SMS goes out, and every
  record says it went out after a revocation (an event, an audit finding);
- arriving while the provider holds the message: it went out before the STOP, and the
  campaign, the ledger, the audit chain and the provider agree that it did.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer, Worker

from adapters.contact_ledger import ContactLedger
from adapters.event_log import EventLog
from adapters.suppressions import SuppressionStore
from bootstrap.settings import Settings
from domain import names
from domain.account import Account
from domain.campaign import AccountOutcome, CollectionStatus, OptOutRequest
from domain.channels import Channel
from domain.compliance.facts import LegalEvent, LegalEventKind
from domain.contact import ContactOutcome
from domain.playbook import Playbook, Step
from domain.revocations import Revocation
from service.audit import audit_account
from service.campaigns import start_account_campaign
from service.reconcile import reconcile
from service.revocations import Revocations
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.api_support import eventually
from tests.campaign_support import status
from tests.conftest import TENANT, make_account, serving
from workers.run import workers
from workflows import ALL_WORKFLOWS

# A text now (an email when it may not be sent), then nothing for a long time.
TEXT_NOW = Playbook(
    name="text-now",
    steps=[
        Step(id="text", day=0, channel=Channel.SMS, template="reminder", fallback=Channel.EMAIL),
        Step(id="later", day=30, channel=Channel.SMS, template="reminder"),
    ],
    closing_days=0,
)
DAY = 2.0


async def _start(
    client: Client, settings: Settings, account: Account
) -> WorkflowHandle[Any, AccountOutcome]:
    # A campaign of the test's own: its records live in the test's own database.
    return await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id=f"stop-race-{account.account_id}",
        playbook=TEXT_NOW,
        account=account,
        seconds_per_day=DAY,
    )


def _texts(sim: TwilioSimulator, number: str) -> list[str]:
    return [m.sid for m in sim.messages if m.to == number]


def _exported(settings: Settings, account_id: str) -> list[dict[str, Any]]:
    log = EventLog(settings.sql_url)
    try:
        return [json.loads(r.record) for r in log.read_after(0, 5000, customer_id=account_id)]
    finally:
        log.dispose()


def _ledger(settings: Settings, account: Account) -> list[Any]:
    ledger = ContactLedger(settings.sql_url)
    try:
        return ledger.entries(TENANT.tenant_id, [account.account_id])
    finally:
        ledger.dispose()


async def _stop(settings: Settings, account: Account, number: str) -> OptOutRequest:
    """Store a STOP as the webhook does, without telling the campaign (yet)."""
    store = SuppressionStore(settings.sql_url)
    try:
        return await Revocations(store).opt_out(
            TENANT.tenant_id,
            account.account_id,
            OptOutRequest(channel=Channel.SMS, address=number, reason="SMS keyword STOP"),
            source="webhook:twilio",
            ref="SM-test-stop",
        )
    finally:
        store.dispose()


async def test_a_stop_stored_before_the_last_check_stops_the_text(
    client: Client,
    settings: Settings,
    running: list[Worker],
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
) -> None:
    account = make_account()
    number, address = account.phones[0].number, account.emails[0].address
    twilio_sim.fail_next(1, 503)  # the first try fails: the text waits 5 s for its retry
    handle = await _start(client, settings, account)

    async def retrying() -> bool:
        pending = (await handle.describe()).raw_description.pending_activities
        return bool(pending) and pending[0].attempt >= 2

    await eventually(retrying, bool)
    # The STOP is stored; the campaign is not told: only the store can stop the retry.
    stored = await _stop(settings, account, number)
    snapshot = await eventually(
        lambda: status(handle), lambda s: any(a.channel is Channel.EMAIL for a in s.attempts)
    )
    assert _texts(twilio_sim, number) == []  # never reached the provider
    assert [m for m in smtp_sim.messages if address in m.to]  # the fallback went instead
    refusal = [d for d in snapshot.decisions if d.stage == "send" and not d.allowed]
    assert refusal and refusal[0].channel is Channel.SMS
    assert [r.value for r in refusal[0].reasons] == ["opted_out"]
    assert all(e.channel != "sms" for e in _ledger(settings, account))
    # The campaign applied the stored STOP itself; its signal, arriving now, changes nothing
    # twice: of the two opt-outs signalled next, only the email one is new.
    await handle.signal(names.SIGNAL_OPT_OUT, stored)
    await handle.signal(names.SIGNAL_OPT_OUT, OptOutRequest(channel=Channel.EMAIL, address=address))
    opt_outs = await eventually(
        lambda: asyncio.to_thread(_opt_outs, settings, account.account_id),
        lambda found: len(found) >= 2,
    )
    assert [o["channel"] for o in opt_outs] == ["sms", "email"], opt_outs
    assert "suppression store" in opt_outs[0]["reason"]


def _opt_outs(settings: Settings, account_id: str) -> list[dict[str, Any]]:
    return [
        r["body"]["event"]["metadata"]
        for r in _exported(settings, account_id)
        if r["type"] == "OptOutEvent"
    ]


class RacingStore(SuppressionStore):
    """A store in which a STOP lands right after the agent's check has read it."""

    def __init__(self, url: str, revocation: Revocation) -> None:
        super().__init__(url)
        self._pending: Revocation | None = revocation

    def for_account(self, tenant_id: str, account_id: str) -> list[Revocation]:
        found = super().for_account(tenant_id, account_id)
        if self._pending is not None and account_id == self._pending.account_id:
            self.record(self._pending.model_copy(update={"received_at": datetime.now(UTC)}))
            self._pending = None
        return found


@asynccontextmanager
async def racing_workers(
    client: Client, settings: Settings, revocation: Revocation
) -> AsyncIterator[None]:
    """Every worker role, the channel agents reading the racing store."""
    store = RacingStore(settings.sql_url, revocation)
    try:
        async with workers(client, settings, suppressions=store) as built:
            for w in built:
                await w.__aenter__()
            try:
                yield
            finally:
                for w in built:
                    await w.__aexit__(None, None, None)
    finally:
        store.dispose()


async def test_a_stop_in_the_gap_is_recorded_as_a_text_sent_after_it(
    client: Client, settings: Settings, twilio_sim: TwilioSimulator
) -> None:
    account = make_account()
    number = account.phones[0].number
    revocation = Revocation(
        revocation_id="webhook:twilio:gap-stop",
        tenant_id=TENANT.tenant_id,
        account_id=account.account_id,
        kind="opt_out",
        channel=Channel.SMS,
        address=number,
        received_at=datetime.now(UTC),
        source="webhook:twilio",
    )
    async with racing_workers(client, settings, revocation):
        handle = await _start(client, settings, account)
        snapshot = await eventually(lambda: status(handle), lambda s: len(s.attempts) >= 1)
        [attempt] = snapshot.attempts
        # It went out: the provider has it, and so does every record.
        assert attempt.outcome is ContactOutcome.SENT and attempt.channel is Channel.SMS
        assert _texts(twilio_sim, number) == [attempt.provider_ref]
        [entry] = _ledger(settings, account)
        assert entry.provider_ref == attempt.provider_ref
        # ... and says it went out after the STOP: an event, and an audit finding.
        records = await eventually(
            lambda: asyncio.to_thread(_exported, settings, account.account_id),
            lambda rs: any(r["body"]["event"]["status"] == "sent_after_revocation" for r in rs
                           if r["kind"] == "event"),
        )  # fmt: skip
        [event] = [
            r for r in records
            if r["kind"] == "event" and r["body"]["event"]["status"] == "sent_after_revocation"
        ]  # fmt: skip
        assert event["body"]["event"]["metadata"]["attemptId"] == entry.attempt_id
        store = SuppressionStore(settings.sql_url)
        try:
            report = await audit_account(client, TENANT.tenant_id, account.account_id, store)
        finally:
            store.dispose()
        [audited] = report.contacts
        assert not audited.passed
        assert "after an opt-out of sms:" in audited.findings[0]
        # The campaign applied the STOP it learnt of from the agent (no signal was sent).
        [opt_out] = _opt_outs(settings, account.account_id)
        assert opt_out["channel"] == "sms" and "suppression store" in opt_out["reason"]
        await handle.terminate("test over")


async def _cancel_requested(handle: WorkflowHandle[Any, AccountOutcome]) -> bool:
    history = await handle.fetch_history()
    return any(
        e.HasField("activity_task_cancel_requested_event_attributes") for e in history.events
    )


async def test_a_stop_while_the_provider_has_the_text_is_recorded_as_it_happened(
    client: Client,
    settings: Settings,
    running: list[Worker],
    twilio_sim: TwilioSimulator,
) -> None:
    account = make_account()
    number = account.phones[0].number
    hold = twilio_sim.hold_next()  # the provider takes the text and does not answer yet
    handle = await _start(client, settings, account)
    await asyncio.wait_for(hold.arrived.wait(), timeout=30)
    # The STOP arrives as the webhook brings it: stored, then signalled. The campaign asks
    # the agent to cancel, and waits for its answer rather than assuming one.
    stored = await _stop(settings, account, number)
    await handle.signal(names.SIGNAL_OPT_OUT, stored)
    await eventually(lambda: _cancel_requested(handle), bool)
    hold.release()
    snapshot = await eventually(lambda: status(handle), lambda s: len(s.attempts) >= 1)
    [attempt] = snapshot.attempts
    # It had left before the STOP: sent, in every record, as at the provider.
    assert attempt.outcome is ContactOutcome.SENT
    assert _texts(twilio_sim, number) == [attempt.provider_ref]
    [entry] = _ledger(settings, account)
    assert (entry.attempt_id, entry.provider_ref) == (attempt.attempt_id, attempt.provider_ref)
    audit = settings.audit_log()
    try:
        assert audit.contacts_recorded(TENANT.tenant_id, [entry.attempt_id]) == {entry.attempt_id}
    finally:
        audit.dispose()
    statuses = [
        r["body"]["event"]["status"]
        for r in _exported(settings, account.account_id)
        if r["kind"] == "event"
    ]
    assert "sent_after_revocation" not in statuses
    store = SuppressionStore(settings.sql_url)
    try:
        report = await audit_account(client, TENANT.tenant_id, account.account_id, store)
    finally:
        store.dispose()
    assert [c.passed for c in report.contacts] == [True]  # the STOP came after it left
    found = await reconcile(client, settings, TENANT.tenant_id, f"stop-race-{account.account_id}")
    assert found.differences == [] and found.unchecked == []
    await handle.terminate("test over")
    # The cancellation's history (its patch marker included) replays.
    await Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter).replay_workflow(
        await handle.fetch_history()
    )


CALL_NOW = Playbook(
    name="call-now",
    steps=[Step(id="call", day=0, channel=Channel.PHONE, template="call_script")],
    closing_days=0,
)


async def test_a_cease_while_the_phone_rings_hangs_up_and_records_the_call(
    client: Client, settings: Settings
) -> None:
    ringing = TwilioSimulator(
        settings.twilio_account_sid, settings.twilio_auth_token, ring_seconds=30.0
    )
    await ringing.start()
    slow = settings.model_copy(update={"twilio_base_url": ringing.base_url})
    try:
        async with serving(client, slow):
            account = make_account()
            number = account.phones[0].number
            handle = await start_account_campaign(
                client, slow, tenant=TENANT, campaign_id="cease-call", playbook=CALL_NOW,
                account=account, seconds_per_day=DAY,
            )  # fmt: skip

            async def rings() -> bool:
                return any(c.to == number and c.status == "ringing" for c in ringing.calls)

            await eventually(rings, bool)
            store = SuppressionStore(slow.sql_url)
            try:
                cease = await Revocations(store).legal_event(
                    TENANT.tenant_id, account.account_id, LegalEvent(kind=LegalEventKind.CEASE),
                    source="api",
                )  # fmt: skip
            finally:
                store.dispose()
            await handle.signal(names.SIGNAL_LEGAL, cease)
            outcome = await handle.result()
            snapshot = await status(handle)
            await Replayer(
                workflows=ALL_WORKFLOWS, data_converter=client.data_converter
            ).replay_workflow(await handle.fetch_history())
    finally:
        await ringing.stop()
    assert outcome.status is CollectionStatus.CEASED
    [call] = [c for c in ringing.calls if c.to == number]
    assert call.status == "canceled"  # hung up while it rang
    [attempt] = snapshot.attempts
    assert attempt.outcome is ContactOutcome.NO_ANSWER and attempt.provider_ref == call.sid
    assert "hung up" in (attempt.detail or "")
    # A call that rang is a contact: it is in the ledger (the gate counts it tomorrow).
    [entry] = _ledger(slow, account)
    assert (entry.channel, entry.outcome, entry.provider_ref) == ("phone", "no_answer", call.sid)
