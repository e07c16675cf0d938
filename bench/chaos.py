"""No duplicate contact, no lost contact: campaigns whose worker is SIGKILLed mid-run.

Run: ``.venv/bin/python -m bench.chaos [--accounts 1000] [--kills 5] [--day-seconds 2]``

The scenario (shared with ``tests/e2e/test_chaos.py``): a portfolio of accounts, each with
its own email address and SMS-consenting phone, on a three-step playbook (email on
day 0, SMS on day 1, email on day 2, no fallbacks). The only worker is ``recoup worker``
in a child process. Whenever the simulators have recorded another ``1/(kills+1)`` of
the planned messages, the worker is killed with SIGKILL (no graceful shutdown: no
activity gets to finish, report or clean up) and started again, until the Portfolio
workflow completes. Then every planned message (account, step, channel) must have
reached the debtor exactly once: one SMS (the Twilio simulator honours the attempt's
Idempotency-Key), one email in the debtor's mailbox. SMTP takes no idempotency key:
a worker killed after the relay answered 250 and before its sent-ledger write leaves
an attempt the retry cannot tell from an unsent one, and it sends again with the same
Message-ID, which the mailbox keeps once (``SmtpSimulator.mailbox``). Those raw
resends are counted apart (``smtp_resends``); a second send decision (another
attempt id or Message-ID) or a second SMS is a duplicate.

This module starts what it needs itself: a Temporal dev server (fast timers, its
own SQLite file, a free port), the SMTP and Twilio simulators on free ports, and
Recoup's SQLite read model in a temporary directory. It runs the scenario twice in
the same invocation and on the same stack: once without kills (the baseline) and
once with them, each with fresh accounts and task queues, and prints one JSON line:

- ``planned``/``delivered``/``duplicates``/``missing``/``unexpected`` — of the run
  with kills: messages the playbook plans, raw deliveries the simulators recorded,
  surplus messages the debtor received, planned messages never delivered, and
  deliveries that match no planned message (wrong recipient, unknown step);
- ``smtp_resends`` — raw SMTP deliveries of an email already delivered, with the same
  attempt and Message-ID (the mailbox shows one);
- ``reconciled_differences`` — what ``recoup reconcile`` found between the campaign's
  histories, ledger, audit chain, exported events, dead letters, totals and the
  providers' own records (0 when every record agrees with what went out);
- ``elapsed_s``/``accounts_per_s`` — launch to Portfolio completion, with kills;
- ``elapsed_no_kills_s``/``accounts_per_s_no_kills`` — the same for the baseline;
- ``ratio_vs_no_kills`` = ``elapsed_no_kills_s / elapsed_s``: the share of the
  undisturbed throughput the campaign keeps when its worker is killed ``kills``
  times (1.0 = kills cost nothing). It is dominated by Temporal's start-to-close
  timeouts, not by Recoup's recovery work: an activity that was running in a killed
  worker is only retried when its timeout expires (email 60 s, SMS 30 s), so the
  ratio says how long a crash delays the contacts it interrupted, at this size.

Kills, restarts and the ratio depend on the machine (its core count bounds how many
activities are in flight when the kill lands). The exit status is 1 when the
exactly-once property failed (any duplicate, missing or unexpected delivery, or an
account left unfinished), so a CI job can run the benchmark as a check too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO

from temporalio.client import Client

from bench.common import machine, recoup_env
from bootstrap.client import connect
from bootstrap.devserver import free_port, start_dev_server
from bootstrap.settings import REPO_ROOT, Settings
from domain.account import Account, EmailContact, PhoneContact, Tenant
from domain.campaign import CollectionStatus
from domain.channels import Channel
from domain.playbook import Playbook, Step, StepCondition
from domain.portfolio import PortfolioStatus
from service.campaigns import launch_portfolio
from service.reconcile import Reconciliation, reconcile
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from simulators.zones import most_awake

TENANT = Tenant(tenant_id="chaos", name="Chaos Recovery")

# Three touches on two channels, no fallbacks: every account has exactly three
# planned messages, so "exactly once" is a count per (account, step, channel).
PLAYBOOK = Playbook(
    name="chaos",
    steps=[
        Step(id="first-notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(
            id="sms-reminder",
            day=1,
            channel=Channel.SMS,
            template="reminder",
            requires=[StepCondition.SMS_CONSENT],
        ),
        Step(id="final-notice", day=2, channel=Channel.EMAIL, template="final_notice"),
    ],
    closing_days=1,
)

TWILIO_SID = "AC" + "7" * 32
TWILIO_TOKEN = "chaos-auth-token"

# A key of one planned message: (account id, step id, channel).
PlannedKey = tuple[str, str, Channel]


def chaos_accounts(count: int, zone: str, tag: str) -> list[Account]:
    """``count`` accounts with unique ids, addresses and numbers, all reachable now.

    ``zone`` must be a time zone where it is daytime (the compliance gate runs on the
    real clock even when playbook days last seconds); ``tag`` keeps the ids, and so
    the workflow ids and addresses, of one run apart from every other run.
    """
    # One area code per run, so runs sharing a simulator never share a number.
    area = 200 + int(uuid.uuid5(uuid.NAMESPACE_URL, tag).hex[:6], 16) % 800
    return [
        Account(
            account_id=f"{tag}-{i:05d}",
            debtor_name=f"Chaos Debtor {i}",
            emails=[EmailContact(address=f"debtor.{i:05d}.{tag}@example.com")],
            phones=[PhoneContact(number=f"+1{area}{i:07d}", sms_consent=True)],
            amount_due=Decimal("250.00"),
            currency="USD",
            due_date=date(2026, 6, 1),
            days_past_due=120,
            timezones=[zone],
            state="NY",
        )
        for i in range(count)
    ]


def planned_messages(accounts: Sequence[Account]) -> dict[PlannedKey, str]:
    """Every message the playbook plans, with the recipient it must reach."""
    planned: dict[PlannedKey, str] = {}
    for account in accounts:
        for step in PLAYBOOK.steps:
            to = (
                account.emails[0].address
                if step.channel is Channel.EMAIL
                else account.phones[0].number
            )
            planned[(account.account_id, step.id, step.channel)] = to
    return planned


@dataclass(frozen=True)
class Delivery:
    """One message a simulator recorded, raw: a resend is a second Delivery."""

    attempt_id: str
    channel: Channel
    to: str
    message_id: str | None  # email only: the Message-ID header


def _owner(attempt_id: str) -> tuple[str, str] | None:
    """(account id, step id) of an attempt id ``account/{tenant}/{account}/{run}/{step}/…``."""
    parts = attempt_id.split("/")
    if len(parts) < 6 or parts[0] != "account":
        return None
    return parts[2], parts[4]


class Tally:
    """Reads the simulators' records incrementally and keeps this run's deliveries."""

    def __init__(self, smtp: SmtpSimulator, twilio: TwilioSimulator, accounts: set[str]) -> None:
        self._smtp = smtp
        self._twilio = twilio
        self._accounts = accounts
        self._smtp_seen = len(smtp.messages)  # a shared simulator holds other runs' mail
        self._sms_seen = len(twilio.messages)
        self.deliveries: list[Delivery] = []

    def refresh(self) -> int:
        """Take in what the simulators recorded since the last call; return the total."""
        mails = self._smtp.messages[self._smtp_seen :]
        self._smtp_seen += len(mails)
        for mail in mails:
            attempt = mail.headers.get("X-Recoup-Attempt", "")
            for to in mail.to:
                self._keep(Delivery(attempt, Channel.EMAIL, to, mail.message_id))
        texts = self._twilio.messages[self._sms_seen :]
        self._sms_seen += len(texts)
        for text in texts:
            self._keep(Delivery(text.idempotency_key or "", Channel.SMS, text.to, None))
        return len(self.deliveries)

    def _keep(self, delivery: Delivery) -> None:
        owner = _owner(delivery.attempt_id)
        if owner is not None and owner[0] in self._accounts:
            self.deliveries.append(delivery)


@dataclass
class Verdict:
    """Deliveries compared with the plan."""

    planned: int
    delivered: int
    duplicates: dict[PlannedKey, list[Delivery]]
    """Planned messages the debtor received more than once, with every record of them."""
    resent: dict[PlannedKey, list[Delivery]]
    """Emails delivered again with the same attempt and Message-ID (one in the mailbox)."""
    missing: list[PlannedKey]
    unexpected: list[Delivery]
    """Records of this run that match no planned message or reached the wrong recipient."""
    shared_message_ids: list[str]
    """Accounts whose two emails carry the same (or no) Message-ID."""

    @property
    def surplus(self) -> int:
        return sum(len(records) - 1 for records in self.duplicates.values())

    @property
    def resends(self) -> int:
        return sum(len(records) - 1 for records in self.resent.values())

    @property
    def exactly_once(self) -> bool:
        return not (self.duplicates or self.missing or self.unexpected or self.shared_message_ids)

    def explain(self) -> str:
        """What went wrong, for an assertion message: duplicates and missing apart."""
        lines = [
            f"planned {self.planned}, delivered {self.delivered} (raw), "
            f"{self.resends} SMTP resend(s) of the same Message-ID"
        ]
        if self.duplicates:
            lines.append(
                f"DUPLICATES (received twice): {len(self.duplicates)} message(s): "
                + "; ".join(
                    f"{k[0]}/{k[1]}/{k[2]}: "
                    + ", ".join(sorted({f"{d.attempt_id} {d.message_id or ''}" for d in v}))
                    for k, v in sorted(self.duplicates.items())[:10]
                )
            )
        if self.missing:
            lines.append(
                f"MISSING: {len(self.missing)} message(s): "
                + ", ".join(f"{k[0]}/{k[1]}/{k[2]}" for k in sorted(self.missing)[:20])
            )
        if self.unexpected:
            lines.append(
                f"UNEXPECTED: {len(self.unexpected)} record(s): "
                + ", ".join(f"{d.attempt_id} -> {d.to}" for d in self.unexpected[:10])
            )
        if self.shared_message_ids:
            lines.append(
                "EMAILS WITHOUT DISTINCT MESSAGE-IDS: " + ", ".join(self.shared_message_ids[:20])
            )
        return "\n".join(lines)


def _same_message(records: Sequence[Delivery]) -> bool:
    """Email records of one attempt under one Message-ID: the mailbox shows one."""
    first = records[0]
    return first.channel is Channel.EMAIL and all(
        r.attempt_id == first.attempt_id
        and r.message_id is not None
        and r.message_id == first.message_id
        for r in records
    )


def verdict(planned: Mapping[PlannedKey, str], deliveries: Sequence[Delivery]) -> Verdict:
    """Count each planned message's records; anything else is unexpected."""
    records: dict[PlannedKey, list[Delivery]] = {}
    unexpected: list[Delivery] = []
    for delivery in deliveries:
        owner = _owner(delivery.attempt_id)
        key = None if owner is None else (owner[0], owner[1], delivery.channel)
        if key is None or planned.get(key) != delivery.to:
            unexpected.append(delivery)
            continue
        records.setdefault(key, []).append(delivery)
    message_ids: dict[str, set[str | None]] = {}
    email_keys: Counter[str] = Counter()
    for (account, _step, channel), found in records.items():
        if channel is Channel.EMAIL:
            email_keys[account] += 1
            message_ids.setdefault(account, set()).update(d.message_id for d in found)
    shared = sorted(
        account
        for account, ids in message_ids.items()
        if None in ids or len(ids) < email_keys[account]
    )
    repeated = {k: v for k, v in records.items() if len(v) > 1}
    return Verdict(
        planned=len(planned),
        delivered=len(deliveries),
        duplicates={k: v for k, v in repeated.items() if not _same_message(v)},
        resent={k: v for k, v in repeated.items() if _same_message(v)},
        missing=sorted(k for k in planned if k not in records),
        unexpected=unexpected,
        shared_message_ids=shared,
    )


class WorkerProcess:
    """``recoup worker`` (every task queue) in a child process that can be SIGKILLed."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self._env = {**env, "PYTHONUNBUFFERED": "1"}
        self._log_path = log_path
        self._log: IO[bytes] | None = None
        self._process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self, ready_within: float = 60.0) -> None:
        """Start it and return once it says it serves its task queues."""
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self._log_path.stat().st_size if self._log_path.exists() else 0
        if self._log is None:
            self._log = self._log_path.open("ab")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cli.main",
            "worker",
            stdout=self._log,
            stderr=self._log,
            stdin=asyncio.subprocess.DEVNULL,
            env=self._env,
            cwd=REPO_ROOT,
            # Its own session: a Ctrl-C meant for the test or benchmark does not reach it.
            start_new_session=True,
        )
        self.starts += 1
        deadline = time.monotonic() + ready_within
        while True:
            if self._process.returncode is not None:
                raise RuntimeError(
                    f"recoup worker exited with {self._process.returncode}:\n"
                    + self._log_path.read_text(errors="replace")[offset:][-3000:]
                )
            if "worker serving" in self._log_path.read_text(errors="replace")[offset:]:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"recoup worker did not come up; see {self._log_path}")
            await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish, report or clean up anything."""
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()

    async def close(self) -> None:
        await self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class ChaosReport:
    """One scenario run: when the worker was killed, and what the debtors received."""

    accounts: int
    campaign_id: str
    kills: list[tuple[float, int]] = field(default_factory=list)
    """(seconds since launch, deliveries recorded by then) of every SIGKILL."""
    elapsed: float = 0.0
    status: PortfolioStatus | None = None
    still_running: list[str] = field(default_factory=list)
    verdict: Verdict | None = None
    reconciliation: Reconciliation | None = None
    """``recoup reconcile`` of the campaign: its records against each other and the providers."""


async def running_campaigns(client: Client, campaign_id: str) -> list[str]:
    """Workflow ids of the campaign still running (visibility is eventually consistent)."""
    query = f"RecoupCampaign = '{campaign_id}' AND ExecutionStatus = 'Running'"
    ids: list[str] = []
    for _ in range(20):
        ids = sorted([w.id async for w in client.list_workflows(query)])
        if not ids:
            break
        await asyncio.sleep(0.5)
    return ids


async def run_scenario(
    client: Client,
    settings: Settings,
    smtp: SmtpSimulator,
    twilio: TwilioSimulator,
    *,
    worker_env: Mapping[str, str],
    accounts: int,
    kills: int,
    zone: str,
    seconds_per_day: float = 2.0,
    min_gap: float = 5.0,
    within: float = 900.0,
    log_path: Path | None = None,
) -> ChaosReport:
    """Launch a portfolio served only by a child worker; SIGKILL it ``kills`` times.

    ``worker_env`` must point the child at the same Temporal server, task queue suffix,
    SQLite file and simulators as ``settings``. Kill ``i`` (1-based) lands once the
    simulators recorded ``i/(kills+1)`` of the planned messages, and at least
    ``min_gap`` seconds and one delivery after the previous restart, so that every kill
    interrupts a worker that is busy sending rather than one still starting up.
    """
    tag = f"c{uuid.uuid4().hex[:8]}"
    campaign_id = f"chaos-{tag}"
    debtors = chaos_accounts(accounts, zone, tag)
    planned = planned_messages(debtors)
    tally = Tally(smtp, twilio, {a.account_id for a in debtors})
    report = ChaosReport(accounts=accounts, campaign_id=campaign_id)
    worker = WorkerProcess(worker_env, log_path or settings.data_dir / f"worker-{tag}.log")
    thresholds = [len(planned) * (i + 1) / (kills + 1) for i in range(kills)]
    try:
        await worker.start()
        began = time.monotonic()
        handle = await launch_portfolio(
            client,
            settings,
            tenant=TENANT,
            campaign_id=campaign_id,
            playbook=PLAYBOOK,
            accounts=debtors,
            seconds_per_day=seconds_per_day,
        )
        result = asyncio.ensure_future(handle.result())
        restarted_at, delivered_at_restart = began, 0
        while not result.done():
            delivered = tally.refresh()
            due = len(report.kills) < kills and delivered >= thresholds[len(report.kills)]
            if (
                due
                and time.monotonic() - restarted_at >= min_gap
                and delivered > delivered_at_restart
            ):
                await worker.kill()
                report.kills.append((round(time.monotonic() - began, 2), delivered))
                await worker.start()
                restarted_at, delivered_at_restart = time.monotonic(), tally.refresh()
            if time.monotonic() - began > within:
                result.cancel()
                raise TimeoutError(
                    f"portfolio {campaign_id} not done after {within:.0f} s: "
                    f"{tally.refresh()} of {len(planned)} messages delivered"
                )
            await asyncio.wait({result}, timeout=0.1)
        report.status = result.result()
        report.elapsed = time.monotonic() - began
        # Asked while the worker still runs: a child reports its outcome to the
        # portfolio just before it completes, so the last ones need the worker too.
        report.still_running = await running_campaigns(client, campaign_id)
        # While the worker (and its exporter) still runs: the read model catches up.
        report.reconciliation = await reconcile(client, settings, TENANT.tenant_id, campaign_id)
    finally:
        await worker.close()
    tally.refresh()
    report.verdict = verdict(planned, tally.deliveries)
    return report


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment of a ``recoup worker`` that serves what ``settings`` point at."""
    return recoup_env(settings)


def healthy(report: ChaosReport) -> bool:
    """Every account finished and every planned message was delivered exactly once."""
    status, found = report.status, report.verdict
    return (
        status is not None
        and found is not None
        and status.finished == status.total == report.accounts
        and not report.still_running
        and found.exactly_once
        and report.reconciliation is not None
        and not report.reconciliation.differences
    )


def _summary(report: ChaosReport) -> dict[str, object]:
    found = report.verdict
    assert found is not None and report.status is not None
    return {
        "accounts": report.accounts,
        "kills": len(report.kills),
        "planned": found.planned,
        "delivered": found.delivered,
        "duplicates": found.surplus,
        "smtp_resends": found.resends,
        "missing": len(found.missing),
        "unexpected": len(found.unexpected),
        "finished": report.status.finished,
        "still_running": len(report.still_running),
        "reconciled_differences": len(report.reconciliation.differences)
        if report.reconciliation
        else None,
        "exhausted": report.status.by_status.get(CollectionStatus.EXHAUSTED, 0),
        "elapsed_s": round(report.elapsed, 2),
        "accounts_per_s": round(report.accounts / report.elapsed, 2),
    }


async def bench(
    accounts: int, kills: int, seconds_per_day: float
) -> tuple[dict[str, object], bool]:
    with tempfile.TemporaryDirectory(prefix="recoup-chaos-") as tmp:
        root = Path(tmp)
        server = await start_dev_server(
            port=free_port(),
            ui_port=None,
            db_file=root / "temporal.db",
            log_file=root / "temporal.log",
        )
        smtp = SmtpSimulator()
        twilio = TwilioSimulator(TWILIO_SID, TWILIO_TOKEN, answer_rate=1.0, machine_rate=0.0)
        try:
            await smtp.start()
            await smtp.start_api()
            await twilio.start()
            # A SIGKILL cuts the worker's requests to the Twilio simulator, which uvicorn
            # logs with a traceback each: expected here, and noise around the JSON line.
            # (Set after start: uvicorn configures its loggers when it starts.)
            logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
            zone = most_awake(datetime.now(UTC))
            reports: list[ChaosReport] = []
            for run, run_kills in (("baseline", 0), ("chaos", kills)):
                settings = Settings(
                    temporal_address=server.address,
                    task_queue_suffix=f"-{run}-{uuid.uuid4().hex[:8]}",
                    data_dir=root / run,
                    database_url=None,
                    smtp_port=smtp.port,
                    mail_events_url=smtp.api_url,
                    twilio_base_url=twilio.base_url,
                    twilio_account_sid=TWILIO_SID,
                    twilio_auth_token=TWILIO_TOKEN,
                )
                settings.data_dir.mkdir(parents=True)
                client = await connect(settings)
                reports.append(
                    await run_scenario(
                        client,
                        settings,
                        smtp,
                        twilio,
                        worker_env=worker_env(settings),
                        accounts=accounts,
                        kills=run_kills,
                        zone=zone,
                        seconds_per_day=seconds_per_day,
                    )
                )
        finally:
            await twilio.stop()
            await smtp.stop()
            await server.stop()
    baseline, chaos = reports
    result: dict[str, object] = {"benchmark": "chaos", **_summary(chaos)}
    result.update(
        kill_moments=[{"at_s": at, "delivered": delivered} for at, delivered in chaos.kills],
        elapsed_no_kills_s=round(baseline.elapsed, 2),
        accounts_per_s_no_kills=round(accounts / baseline.elapsed, 2),
        ratio_vs_no_kills=round(baseline.elapsed / chaos.elapsed, 4),
        baseline_exactly_once=healthy(baseline),
        seconds_per_day=seconds_per_day,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        machine=machine(),
        cpus=os.cpu_count(),
    )
    return result, healthy(baseline) and healthy(chaos)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=1000, help="accounts (default 1000)")
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs of the worker (default 5)")
    parser.add_argument(
        "--day-seconds", type=float, default=2.0, help="length of a playbook day (default 2)"
    )
    args = parser.parse_args(argv)
    result, ok = asyncio.run(bench(args.accounts, args.kills, args.day_seconds))
    print(json.dumps(result))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
