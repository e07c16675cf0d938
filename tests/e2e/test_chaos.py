"""Workers killed with SIGKILL mid-run: no duplicate contact, no lost contact.

The scenario lives in ``bench/chaos.py`` (the benchmark runs it at a larger size):
a 300-account portfolio whose only worker is ``recoup worker`` in a child process,
SIGKILLed three times while messages are going out and restarted each time. After a
kill, the activities that were running in it are retried only when their
start-to-close timeout expires (email 60 s, SMS 30 s), so this test takes a couple
of minutes.

"Exactly once" is what the debtor receives: one SMS per planned text, and one email
per planned email in the mailbox. A kill between the relay's 250 and the sent-ledger
write makes the retry send the email again under the same Message-ID, which the
mailbox keeps once; those SMTP-level resends are counted apart (``Verdict.resent``),
and a second send decision would fail this test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from bench.chaos import run_scenario
from bootstrap.settings import Settings
from domain.campaign import CollectionStatus
from domain.channels import Channel
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.cli_support import env_for
from tests.conftest import DAYTIME_ZONE

ACCOUNTS = 300
KILLS = 3


@pytest.mark.timeout(900)
async def test_sigkilled_workers_neither_duplicate_nor_lose_a_contact(
    client: Client,
    settings: Settings,
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
    tmp_path: Path,
) -> None:
    # The child worker reads the same SQLite file (RECOUP_DATA_DIR) and serves the same
    # task queues (RECOUP_TASK_QUEUE_SUFFIX) as this test; run_scenario kills it in a
    # finally whatever happens.
    worker_env = {
        **env_for(settings),
        "RECOUP_TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "RECOUP_TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
    }
    report = await run_scenario(
        client,
        settings,
        smtp_sim,
        twilio_sim,
        worker_env=worker_env,
        accounts=ACCOUNTS,
        kills=KILLS,
        zone=DAYTIME_ZONE,
        seconds_per_day=2.0,
        within=600.0,
        log_path=tmp_path / "worker.log",
    )
    status, found = report.status, report.verdict
    assert status is not None and found is not None
    # Everything that went wrong at once: a chaos run is too slow to learn it one by one.
    problems: list[str] = []
    if len(report.kills) != KILLS:
        problems.append(f"{len(report.kills)} kill(s) instead of {KILLS}: {report.kills}")
    if not (status.total == status.finished == ACCOUNTS and status.active == 0):
        problems.append(
            f"portfolio: total {status.total}, finished {status.finished}, "
            f"active {status.active} (want {ACCOUNTS} finished, none active)"
        )
    if report.still_running:
        problems.append(f"still running: {report.still_running[:10]}")
    if status.by_status != {CollectionStatus.EXHAUSTED: ACCOUNTS}:
        problems.append(f"outcomes: {status.by_status} (want every account exhausted)")
    # What the workflows believe they sent, next to what the simulators received.
    if status.contacts != {Channel.EMAIL: 2 * ACCOUNTS, Channel.SMS: ACCOUNTS}:
        problems.append(f"contacts counted by the campaigns: {status.contacts}")
    if not found.exactly_once:
        problems.append(found.explain())
    # Every record agrees with the others and with the providers (recoup reconcile).
    reconciled = report.reconciliation
    if reconciled is None or reconciled.differences or reconciled.unchecked:
        problems.append(f"reconciliation: {reconciled}")
    assert not problems, f"kills at (s, delivered): {report.kills}\n" + "\n".join(problems)
