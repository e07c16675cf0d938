"""Scaling out: several ``recoup worker`` processes on the same task queues share a portfolio.

Three workers, each ``recoup worker`` (every role) in a child process, serve one set of
task queues on the suite's dev server, with Recoup's database on PostgreSQL (a database
of this test's own, dropped afterwards). A portfolio of accounts runs the chaos
scenario's three-step playbook (email, SMS, email; ``bench/chaos.py``) with
one-second days. Then:

- every account finished (the Portfolio workflow completed, none still running, every
  campaign exhausted its playbook);
- every planned message reached its debtor exactly once, as the SMTP and Twilio
  simulators recorded it (no duplicate, none missing, not even an SMTP-level resend),
  and the contact ledger the compliance gate reads holds one entry per message;
- the work was shared: Temporal records the identity of the worker (``pid@host``) on
  every WorkflowTaskCompleted and ActivityTaskStarted event, and the accounts'
  histories name more than one of the three processes for each.

Run: ``.venv/bin/pytest tests/e2e/test_scale_out.py``
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from adapters.schema import forget
from adapters.sql import make_engine
from bench.chaos import (
    PLAYBOOK,
    TENANT,
    Tally,
    WorkerProcess,
    chaos_accounts,
    planned_messages,
    running_campaigns,
    verdict,
    worker_env,
)
from bootstrap.settings import Settings
from domain.campaign import CollectionStatus
from domain.channels import Channel
from service.campaigns import launch_portfolio
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.conftest import DAYTIME_ZONE
from tests.portfolio_support import POSTGRES_URL

ACCOUNTS = 30
WORKERS = 3
DAY_SECONDS = 1.0
WITHIN = 120.0  # seconds for the portfolio to complete before the test gives up


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of this test's own (parallel runs never share one)."""
    name = f"recoup_scaleout_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        forget(url)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def worker_identities(client: Client, campaign_id: str) -> tuple[Counter[str], Counter[str]]:
    """Per worker identity: workflow tasks completed, and activity tasks started, across
    every workflow of the campaign (the Portfolio and each account's campaign)."""
    query = f"RecoupCampaign = '{campaign_id}'"
    ids = [w.id async for w in client.list_workflows(query)]
    workflow_tasks: Counter[str] = Counter()
    activities: Counter[str] = Counter()
    for workflow_id in ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                workflow_tasks[event.workflow_task_completed_event_attributes.identity] += 1
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                activities[event.activity_task_started_event_attributes.identity] += 1
    return workflow_tasks, activities


def ledger_rows(database_url: str) -> list[tuple[str, str]]:
    """(account id, channel) of every outbound contact in the gate's contact ledger."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT account_id, channel FROM contact_ledger "
                    "WHERE tenant_id = :tenant AND direction = 'outbound'"
                ),
                {"tenant": TENANT.tenant_id},
            )
            return [(row[0], row[1]) for row in rows]
    finally:
        engine.dispose()


@pytest.mark.timeout(300)
async def test_worker_processes_share_a_portfolio_without_duplicate_or_lost_contact(
    client: Client,
    settings: Settings,
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
    postgres_database: str,
    tmp_path: Path,
) -> None:
    settings = settings.model_copy(update={"database_url": postgres_database})
    # What bench.chaos gives its worker, plus the database and the suite's codec keys
    # (every process must read the others' payloads).
    env = {
        **worker_env(settings),
        "RECOUP_DATABASE_URL": postgres_database,
        "RECOUP_CODEC_KEYS": json.dumps(
            {k: v.get_secret_value() for k, v in settings.codec_keys.items()}
        ),
        "RECOUP_CODEC_KEY_ID": settings.codec_key_id or "",
        "RECOUP_LEDGER_BASE_URL": settings.ledger_base_url,
        "RECOUP_LEDGER_API_KEY": settings.ledger_api_key,
        "RECOUP_PAYMENTS_BASE_URL": settings.payments_base_url,
        "RECOUP_PAYMENTS_API_KEY": settings.payments_api_key,
    }
    tag = f"s{uuid.uuid4().hex[:8]}"
    campaign_id = f"scale-{tag}"
    debtors = chaos_accounts(ACCOUNTS, DAYTIME_ZONE, tag)
    planned = planned_messages(debtors)
    tally = Tally(smtp_sim, twilio_sim, {a.account_id for a in debtors})
    workers = [WorkerProcess(env, tmp_path / f"worker-{i}.log") for i in range(WORKERS)]

    async with AsyncExitStack() as stack:
        for worker in workers:
            stack.push_async_callback(worker.close)  # SIGKILL whatever happens
        # Every worker polls before the first task exists, so each can get a share.
        await asyncio.gather(*(worker.start(ready_within=90) for worker in workers))
        began = time.monotonic()
        handle = await launch_portfolio(
            client,
            settings,
            tenant=TENANT,
            campaign_id=campaign_id,
            playbook=PLAYBOOK,
            accounts=debtors,
            seconds_per_day=DAY_SECONDS,
        )
        try:
            status = await asyncio.wait_for(handle.result(), WITHIN)
        except TimeoutError:
            raise AssertionError(
                f"portfolio not done after {WITHIN:.0f} s: {tally.refresh()} of "
                f"{len(planned)} messages delivered"
            ) from None
        elapsed = time.monotonic() - began
        # Asked while the workers run: a child reports to the portfolio just before it ends.
        still_running = await running_campaigns(client, campaign_id)
        workflow_tasks, activities = await worker_identities(client, campaign_id)

    tally.refresh()
    found = verdict(planned, tally.deliveries)
    ledger = Counter(ledger_rows(postgres_database))
    # Everything that went wrong at once: a multi-process run is slow to learn it piecemeal.
    problems: list[str] = []
    if not (status.total == status.finished == ACCOUNTS and status.active == 0):
        problems.append(
            f"portfolio: total {status.total}, finished {status.finished}, "
            f"active {status.active} (want {ACCOUNTS} finished, none active)"
        )
    if still_running:
        problems.append(f"still running: {still_running[:10]}")
    if status.by_status != {CollectionStatus.EXHAUSTED: ACCOUNTS}:
        problems.append(f"outcomes: {status.by_status} (want every account exhausted)")
    if status.contacts != {Channel.EMAIL: 2 * ACCOUNTS, Channel.SMS: ACCOUNTS}:
        problems.append(f"contacts counted by the campaigns: {status.contacts}")
    if not found.exactly_once or found.resends:
        problems.append(found.explain())
    want_ledger = Counter({(a.account_id, c.value): n for a in debtors for c, n in _per_channel()})
    if ledger != want_ledger:
        problems.append(
            f"contact ledger (PostgreSQL): {sum(ledger.values())} outbound rows, "
            f"want {len(planned)}; differing: {sorted((ledger - want_ledger).items())[:5]} "
            f"extra, {sorted((want_ledger - ledger).items())[:5]} missing"
        )
    # The share of each process: pid@host, never this test process (it runs no worker).
    own = f"{os.getpid()}@"
    for kind, counts in (("workflow tasks", workflow_tasks), ("activities", activities)):
        if len(counts) < 2 or any(identity.startswith(own) for identity in counts):
            problems.append(f"{kind} by worker identity: {dict(counts)} (want >= 2 workers)")
    summary = (
        f"{ACCOUNTS} accounts, {WORKERS} workers, {elapsed:.1f} s; workflow tasks "
        f"{dict(workflow_tasks)}, activities {dict(activities)}"
    )
    print(summary)  # shown with -rP: how the load was shared
    assert not problems, summary + "\n" + "\n".join(problems)


def _per_channel() -> list[tuple[Channel, int]]:
    """How many messages of each channel the playbook sends an account."""
    return sorted(Counter(step.channel for step in PLAYBOOK.steps).items())
