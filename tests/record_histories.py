"""Record the histories of today's campaigns, for the replay test (``test_replay.py``).

Not collected by a plain ``pytest`` run (the name does not start with ``test_``): run it
on purpose, before a change to a workflow's code, and commit what it writes:

    .venv/bin/pytest tests/record_histories.py

Each scenario runs a real campaign to its end on the dev server, with the real workers
and simulators, and writes its history (payloads encrypted with the tests' codec key) to
``tests/histories/<scenario>.json``. ``test_replay.py`` then replays every file there
with the current code: a change that would break a running campaign fails it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from adapters.playbook_files import load_playbook
from bootstrap.settings import Settings
from domain import names
from domain.account import PhoneContact, PostalAddress
from domain.arrangements import ArrangementStatus
from domain.campaign import AccountOutcome, CampaignSnapshot, CollectionStatus, InboundReply
from domain.channels import Channel
from domain.compliance.facts import LegalEvent, LegalEventKind
from domain.operator import PauseRequest, ResumeRequest
from service.campaigns import arrange, launch_portfolio, start_account_campaign
from simulators.smtp import SmtpSimulator
from tests.api_support import eventually
from tests.arrangement_support import PLAYBOOK as ARRANGEMENT_PLAYBOOK
from tests.arrangement_support import pay, settlement
from tests.campaign_support import mails_to
from tests.conftest import TENANT, make_account
from tests.portfolio_support import ONE_EMAIL
from tests.reply_support import SLOW

HISTORIES = Path(__file__).parent / "histories"
PLAYBOOKS = Path(__file__).parent.parent / "playbooks"
DAY = 0.3  # seconds per playbook day


async def _status(handle: WorkflowHandle[Any, AccountOutcome]) -> CampaignSnapshot:
    snapshot: CampaignSnapshot = await handle.query(
        names.QUERY_STATUS, result_type=CampaignSnapshot
    )
    return snapshot


async def _start(
    client: Client, settings: Settings, playbook_name: str, day: float = DAY, **account: Any
) -> WorkflowHandle[Any, AccountOutcome]:
    playbook = load_playbook(playbook_name, search_dir=PLAYBOOKS)
    return await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id=f"history-{playbook.name}",
        playbook=playbook,
        account=make_account(**account),
        seconds_per_day=day,
    )


async def _save(name: str, handle: WorkflowHandle[Any, AccountOutcome]) -> AccountOutcome:
    outcome = await handle.result()
    history = await handle.fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    document = json.loads(history.to_json())
    (HISTORIES / f"{name}.json").write_text(json.dumps(document, indent=1) + "\n")
    return outcome


async def _reply(handle: WorkflowHandle[Any, AccountOutcome], reply_id: str, text: str) -> None:
    await handle.signal(
        names.SIGNAL_REPLY,
        InboundReply(
            reply_id=reply_id, channel=Channel.SMS, text=text, received_at=datetime.now(UTC)
        ),
    )


async def test_record_standard(client: Client, settings: Settings, running: object) -> None:
    """The shipped standard playbook: email, SMS, call, final email; a part payment.

    Written beside ``standard.json`` (the code that loaded the debt's history at the
    start), not over it: today's campaigns load it at the first touch
    (``history_at_first_contact``), and both paths must keep replaying."""
    handle = await _start(client, settings, "standard")
    await eventually(lambda: _status(handle), lambda s: len(s.attempts) >= 2)
    await pay(client, (await _status(handle)).account_id, "p-part", "50.00")
    outcome = await _save("standard.history-at-first-contact", handle)
    assert outcome.status is CollectionStatus.EXHAUSTED
    assert outcome.amount_collected == Decimal("50.00")


async def test_record_letter(client: Client, settings: Settings, running: object) -> None:
    """standard, for a debtor with no email: the validation notice by letter (Lob), then
    the texts and the call; no payment."""
    handle = await _start(
        client,
        settings,
        "standard",
        emails=[],
        phones=[PhoneContact(number="+14155550142", sms_consent=True, voice_consent=True)],
        address=PostalAddress(line1="185 Berry St", city="San Francisco", state="CA", zip="94107"),
    )
    outcome = await _save("letter", handle)
    assert outcome.status is CollectionStatus.EXHAUSTED
    assert outcome.contacts[Channel.LETTER] == 1


async def test_record_sms_first(client: Client, settings: Settings, running: object) -> None:
    """sms-first: a STOP reply after the first text, then email, then a full payment."""
    handle = await _start(client, settings, "sms-first")
    await eventually(lambda: _status(handle), lambda s: len(s.attempts) >= 1)
    await _reply(handle, "r-stop", "STOP")
    snapshot = await eventually(lambda: _status(handle), lambda s: len(s.attempts) >= 3)
    await pay(client, snapshot.account_id, "p-full", str(snapshot.balance))
    outcome = await _save("sms-first", handle)
    assert outcome.status is CollectionStatus.PAID


async def test_record_arrangement(
    client: Client, settings: Settings, running: object, smtp_sim: SmtpSimulator
) -> None:
    """A settlement booked through the saga, then paid: settled."""
    account = make_account()
    handle = await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id="history-arrangement",
        playbook=ARRANGEMENT_PLAYBOOK,
        account=account,
        seconds_per_day=1.0,
    )
    address = account.emails[0].address
    await eventually(
        lambda: _status(handle), lambda _: len(mails_to(smtp_sim, address)) == 1, within=30
    )
    await arrange(client, TENANT.tenant_id, account.account_id, settlement("set-history"))
    # Paid once the saga has booked it (link, ledger, confirmation): status ACTIVE.
    await eventually(
        lambda: _status(handle),
        lambda s: s.arrangement is not None and s.arrangement.status is ArrangementStatus.ACTIVE,
        within=30,
    )
    await pay(client, account.account_id, "p-settle", "150.00")
    outcome = await _save("arrangement", handle)
    assert outcome.status is CollectionStatus.SETTLED


async def test_record_approval(client: Client, settings: Settings, running: object) -> None:
    """A pause and resume, a deep settlement nobody approves in time (its safe default),
    a payment that moves the balance band, then the rest: paid. The web UI's columns
    (balance band, next action, approval deadline) are upserted all along."""
    account = make_account()
    handle = await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id="history-approval",
        playbook=ARRANGEMENT_PLAYBOOK,
        account=account,
        seconds_per_day=1.0,
    )
    await eventually(lambda: _status(handle), lambda s: len(s.attempts) == 1)
    await handle.signal(names.SIGNAL_PAUSE, PauseRequest(reason="on a call", operator="lee"))
    await eventually(lambda: _status(handle), lambda s: s.paused is not None)
    await handle.signal(names.SIGNAL_RESUME, ResumeRequest(operator="lee"))
    await eventually(lambda: _status(handle), lambda s: s.paused is None)
    deal = await arrange(client, TENANT.tenant_id, account.account_id, settlement("deep", "50.00"))
    assert deal.status is ArrangementStatus.AWAITING_APPROVAL
    await eventually(
        lambda: _status(handle),
        lambda s: s.arrangement is not None and s.arrangement.status is ArrangementStatus.REJECTED,
        within=30,
    )
    await pay(client, account.account_id, "p-most", "200.00")
    await pay(client, account.account_id, "p-rest", "50.00")
    outcome = await _save("approval", handle)
    assert outcome.status is CollectionStatus.PAID


async def test_record_dispute(client: Client, settings: Settings, running: object) -> None:
    """A dispute holds collection until verification is sent; then a cease ends it."""
    handle = await _start(client, settings, "standard", day=1.0)
    await eventually(lambda: _status(handle), lambda s: len(s.attempts) >= 1)
    await handle.signal(names.SIGNAL_LEGAL, LegalEvent(kind=LegalEventKind.DISPUTE))
    await eventually(lambda: _status(handle), lambda s: s.status is CollectionStatus.DISPUTED)
    await handle.signal(names.SIGNAL_LEGAL, LegalEvent(kind=LegalEventKind.VERIFICATION_SENT))
    await eventually(lambda: _status(handle), lambda s: len(s.attempts) >= 2, within=30)
    await handle.signal(names.SIGNAL_LEGAL, LegalEvent(kind=LegalEventKind.CEASE))
    outcome = await _save("dispute", handle)
    assert outcome.status is CollectionStatus.CEASED


async def test_record_promise(client: Client, settings: Settings, running: object) -> None:
    """A promise for tomorrow, broken (escalated, outreach resumes), then paid in full."""
    handle = await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id="history-promise",
        playbook=SLOW,
        account=make_account(),
        seconds_per_day=1.0,
    )
    await eventually(lambda: _status(handle), lambda s: len(s.attempts) == 1)
    await _reply(handle, "r-promise", "i will pay tomorrow")
    await eventually(lambda: _status(handle), lambda s: s.status is CollectionStatus.PROMISED)
    snapshot = await eventually(
        lambda: _status(handle), lambda s: s.status is CollectionStatus.ACTIVE, within=30
    )
    await pay(client, snapshot.account_id, "p-late", str(snapshot.balance))
    outcome = await _save("promise", handle)
    assert outcome.status is CollectionStatus.PAID


async def test_record_reply_reader(client: Client, settings: Settings, running: object) -> None:
    """A reply read in the reader activity (``reader_activity``, the shipped model): a
    promise for tomorrow, broken, then paid in full."""
    handle = await start_account_campaign(
        client,
        settings,
        tenant=TENANT,
        campaign_id="history-reply-reader",
        playbook=SLOW,
        account=make_account(),
        seconds_per_day=1.0,
    )
    await eventually(lambda: _status(handle), lambda s: len(s.attempts) == 1)
    await _reply(handle, "r-promise", "ok ok i'll pay it all tomorrow, promise")
    await eventually(lambda: _status(handle), lambda s: s.status is CollectionStatus.PROMISED)
    snapshot = await eventually(
        lambda: _status(handle), lambda s: s.status is CollectionStatus.ACTIVE, within=30
    )
    await pay(client, snapshot.account_id, "p-late", str(snapshot.balance))
    outcome = await _save("reply-reader", handle)
    assert outcome.status is CollectionStatus.PAID


async def test_record_portfolio(client: Client, settings: Settings, running: object) -> None:
    """A portfolio of 24 accounts, 3 starts in flight, pages of 1, with continue-as-new.

    Written as ``portfolio-census-run<n>.json`` (counted while it launches). Kept to
    replay: ``portfolio-run<n>.json``, the windowed portfolio's, recorded before the
    launcher, and ``portfolio-launcher-run<n>.json``, the launcher's before it counted
    while launching."""
    accounts = [make_account(phones=[]) for _ in range(24)]
    handle = await launch_portfolio(
        client,
        settings,
        tenant=TENANT,
        campaign_id="history-portfolio",
        playbook=ONE_EMAIL,
        accounts=accounts,
        seconds_per_day=0.3,
        starts_in_flight=3,
        page_size=1,
        max_history_events=100,
    )
    await handle.result()
    # Every run of the portfolio (continue-as-new) is its own history.
    runs = []
    async for execution in client.list_workflows(f"WorkflowId = '{handle.id}'"):
        runs.append(execution.run_id)
    assert len(runs) >= 2, "the portfolio was meant to continue-as-new"
    HISTORIES.mkdir(exist_ok=True)
    for number, run_id in enumerate(reversed(runs), start=1):
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        document = json.loads(history.to_json())
        path = HISTORIES / f"portfolio-census-run{number}.json"
        path.write_text(json.dumps(document, indent=1) + "\n")


async def test_record_cancelled_send(
    client: Client, settings: Settings, running: object, smtp_sim: SmtpSimulator
) -> None:
    """A cease while the notice waits for a retry: the send is cancelled in flight."""
    account = make_account(phones=[])
    smtp_sim.fail_next(100, code=451)  # the mail server refuses for now: the send retries
    try:
        handle = await start_account_campaign(
            client,
            settings,
            tenant=TENANT,
            campaign_id="history-cancelled",
            playbook=ONE_EMAIL,
            account=account,
            seconds_per_day=DAY,
        )

        async def retrying() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return bool(pending) and pending[0].attempt >= 2

        await eventually(retrying, bool)
        await handle.signal(names.SIGNAL_LEGAL, LegalEvent(kind=LegalEventKind.CEASE))
        outcome = await _save("cancelled-send", handle)
    finally:
        smtp_sim.clear_failures()
    assert outcome.status is CollectionStatus.CEASED
