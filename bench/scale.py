"""Scale: a large portfolio launched from a CSV file, against raw client starts.

Run: ``.venv/bin/python -m bench.scale [--accounts 1500] [--starts-in-flight 64]
[--day-seconds 1] [--baseline 1000] [--sqlite] [--launch-only --budget 900]``

The operator's path, end to end: an ``--accounts``-row CSV file is written to a temp
directory and launched with ``recoup campaign launch FILE`` in a child process (parse
and validate the file, stage the accounts in SQL, index the contacts, start the
``Portfolio`` workflow), served by ``recoup worker`` in another child process. The
portfolio's launcher starts every account's campaign (``--starts-in-flight`` at once);
nothing bounds how many are open. The playbook is one email on day 0 (the validation
notice) and a one-day close, with days of ``--day-seconds``: with long days every
campaign is open at once.

This module starts what it needs: a dev server (its own SQLite file with the WAL
pragmas, fast timers, a free port), the SMTP and CRM simulators, and the read model in
a fresh PostgreSQL database on 127.0.0.1:5432 (dropped afterwards; ``--sqlite`` keeps
it in the temp directory). The baseline, in the same run and on the same server: the raw
start rate, ``--baseline`` trivial workflows started by ``client.start_workflow`` with
``--starts-in-flight`` starts in flight, served by an in-process worker.

Prints one JSON line: ``launch_accounts_per_s`` (accounts started per second, from the
launch command to the moment the portfolio counted every account started) against
``bare_starts_per_s`` and their ``ratio`` (goal >= 0.5); ``all_started_s``,
``first_touch_all_s`` (every account's email received by the SMTP server) and
``max_open_observed`` (running account campaigns, counted by visibility);
``launch_command_s``; peak RSS of the worker (goal < 1 GiB) and the server (VmHWM),
and of the launch command (goal < 300 MiB; its own ``ru_maxrss``); the largest history
among the portfolio's runs and a sample of account workflows against Temporal's limits;
worker and server CPU per account; ``end_to_end_accounts_per_s``. ``--launch-only``
stops once every account has started and got its first email (or ``--touch-wait``
seconds after the last start, 120 by default), or after ``--budget`` seconds (the
figures then cover what happened by then; ``first_touches`` counts the emails).
``--first-touch-day 1`` with long days measures the launch alone: every campaign
starts, plans and sleeps, and no touch competes with the starts for the CPU.
``--pause`` then pauses the whole campaign as ``recoup campaign pause`` does (launcher
held, one batch operation over the open accounts) and reports ``pause``: seconds until
the batch reached every open campaign, how many, and a sample asked if paused.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.common import (
    Child,
    create_database,
    drop_database,
    machine,
    recoup_env,
    run_command,
)
from bench.engine import cpu_seconds
from bootstrap.client import connect
from bootstrap.devserver import free_port, start_dev_server
from bootstrap.settings import Settings
from domain import names
from domain.campaign import CampaignSnapshot, account_workflow_id, portfolio_workflow_id
from domain.operator import LaunchAction, PauseRequest
from domain.portfolio import PortfolioStatus
from service.steering import steer_campaign
from simulators.crm import CrmSimulator
from simulators.smtp import SmtpSimulator
from simulators.zones import most_awake
from workflows.search_attributes import campaign_accounts_query

TENANT = "scale"
CRM_KEY = "crm_scale_bench"
# Temporal's hard limits on one history, and where it starts warning.
EVENT_LIMIT, EVENT_WARN = 51_200, 10_240
BYTES_LIMIT, BYTES_WARN = 50 * 1024 * 1024, 10 * 1024 * 1024
# The portfolio's progress is sampled this often (a query each time).
SAMPLE_SECONDS = 0.25
# Open account campaigns are counted (visibility) this often.
COUNT_SECONDS = 2.0
ACCOUNT_HISTORY_SAMPLE = 20


# The one-email playbook every account runs (the first touch is the validation notice).
def playbook_yaml(day: int = 0) -> str:
    """The benchmark's playbook: one email on ``day``, then a one-day close."""
    return f"""\
name: scale
version: 1
description: One validation notice by email, then a one-day close.
steps:
  - id: first-notice
    day: {day}
    channel: email
    template: first_notice
closing_days: 1
"""


def log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MiB; 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_csv(path: Path, count: int, tag: str, zone: str) -> list[str]:
    """A portfolio file of ``count`` valid rows; returns the account ids in file order."""
    ids = [f"{tag}-{i:06d}" for i in range(count)]
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "account_id",
                "name",
                "email",
                "amount_due",
                "currency",
                "due_date",
                "timezone",
                "state",
            ]
        )
        for i, account_id in enumerate(ids):
            writer.writerow(
                [
                    account_id,
                    f"Scale Debtor {i}",
                    f"debtor.{i:06d}.{tag}@example.com",
                    f"{100 + i % 900}.{i % 100:02d}",
                    "USD",
                    "2026-06-01",
                    zone,
                    "NY",
                ]
            )
    return ids


@workflow.defn(name="ScaleBare", sandboxed=False)
class BareWorkflow:
    """The least a start can cost: one workflow task, no activity."""

    @workflow.run
    async def run(self) -> None:
        return None


async def bare_start_rate(client: Client, count: int, concurrency: int) -> dict[str, object]:
    """The floor of the launch on this server: ``count`` trivial workflows started by
    ``client.start_workflow``, ``concurrency`` at a time (what the launcher does, minus
    Recoup)."""
    queue = f"scale-bare-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:8]
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await client.start_workflow(BareWorkflow.run, id=f"bare/{tag}/{i}", task_queue=queue)

    async with Worker(
        client,
        task_queue=queue,
        workflows=[BareWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        began = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(count)))
        elapsed = time.monotonic() - began
    return {"starts": count, "elapsed_s": round(elapsed, 2), "per_s": round(count / elapsed, 1)}


@dataclass
class Samples:
    """What the sampler saw while the portfolio ran."""

    max_open: int = 0
    all_started_at: float | None = None
    first_touch_all_at: float | None = None
    touched: int = 0
    last: PortfolioStatus | None = None
    query_errors: int = 0
    worker_rss: list[tuple[float, float]] = field(default_factory=list)
    # (seconds since launch, started, first emails received), one per progress line: a
    # launch that stalls shows as a flat stretch, not only as a low average.
    progress: list[tuple[int, int, int]] = field(default_factory=list)


async def sample(
    client: Client,
    workflow_id: str,
    open_query: str,
    smtp: SmtpSimulator,
    accounts: int,
    began: float,
    worker_pid: int,
    samples: Samples,
) -> None:
    """Follow the portfolio until cancelled: its counters (query), the open account
    campaigns (visibility), the emails received; note peaks and when all were started
    and touched."""
    handle = client.get_workflow_handle(workflow_id)
    next_rss = next_count = 0.0
    while True:
        now = time.monotonic() - began
        try:
            status: PortfolioStatus = await handle.query(
                names.QUERY_PROGRESS, result_type=PortfolioStatus
            )
        except Exception:
            samples.query_errors += 1  # not started yet, or between two runs
        else:
            samples.last = status
            if (
                samples.all_started_at is None
                and status.total
                and status.started + status.attached >= status.total
            ):
                samples.all_started_at = now
        samples.touched = len(smtp.messages)
        if samples.first_touch_all_at is None and samples.touched >= accounts:
            samples.first_touch_all_at = now
        if now >= next_count:
            # A count over the visibility store: not every tick at 100,000 accounts.
            with suppress(Exception):
                counted = await client.count_workflows(open_query)
                samples.max_open = max(samples.max_open, counted.count)
            next_count = now + COUNT_SECONDS
        if now >= next_rss:
            samples.worker_rss.append((round(now, 1), round(peak_rss_mib(worker_pid), 1)))
            next_rss = now + 10
        await asyncio.sleep(SAMPLE_SECONDS)


def history_size(events: Sequence[Any]) -> int:
    return sum(e.ByteSize() for e in events)


async def portfolio_histories(client: Client, workflow_id: str) -> dict[str, Any]:
    """Every run of the portfolio: events, bytes, and the continue-as-new input's size
    (counters only: it must not grow with the portfolio)."""
    run_ids = [w.run_id async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    runs: list[dict[str, Any]] = []
    for run_id in run_ids:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        events = list(history.events)
        started = events[0].workflow_execution_started_event_attributes
        runs.append(
            {
                "events": len(events),
                "bytes": history_size(events),
                "input_bytes": sum(p.ByteSize() for p in started.input.payloads),
            }
        )
    return {
        "runs": len(runs),
        "max_events": max((r["events"] for r in runs), default=0),
        "max_bytes": max((r["bytes"] for r in runs), default=0),
        "max_input_bytes": max((r["input_bytes"] for r in runs), default=0),
    }


async def account_histories(client: Client, workflow_ids: Sequence[str]) -> dict[str, int]:
    sizes: list[tuple[int, int]] = []
    for workflow_id in workflow_ids:
        try:
            events = list((await client.get_workflow_handle(workflow_id).fetch_history()).events)
        except Exception:  # not started (a --launch-only run that stopped early)
            continue
        sizes.append((len(events), history_size(events)))
    return {
        "sampled": len(sizes),
        "max_events": max((e for e, _ in sizes), default=0),
        "max_bytes": max((b for _, b in sizes), default=0),
    }


async def pause_all(client: Client, campaign_id: str, ids: Sequence[str]) -> dict[str, Any]:
    """``recoup campaign pause`` of the whole campaign, as an operator runs it: the
    launcher held, then one batch operation signalling every open account; seconds until
    the batch reports every one reached, and a sample of accounts asked if paused."""
    log("pausing the whole campaign")
    steered = await steer_campaign(
        client, TENANT, campaign_id, LaunchAction.PAUSE, PauseRequest(reason="bench")
    )
    sample_ids = random.Random(1).sample(list(ids), min(ACCOUNT_HISTORY_SAMPLE, len(ids)))
    paused = 0
    for account_id in sample_ids:
        # Not started (a run cut short), or its signal's task still queued behind the
        # others: a query waits for that task, so it is given up on after a while.
        with suppress(Exception):
            snapshot = await client.get_workflow_handle(
                account_workflow_id(TENANT, account_id)
            ).query(
                names.QUERY_STATUS,
                result_type=CampaignSnapshot,
                rpc_timeout=timedelta(seconds=5),
            )
            paused += snapshot.paused is not None
    log(f"paused {steered.reached}/{steered.selected} in {steered.seconds} s")
    return {
        "seconds": steered.seconds,
        "selected": steered.selected,
        "reached": steered.reached,
        "failed": steered.failed,
        "per_s": round(steered.reached / steered.seconds, 1) if steered.seconds else None,
        "sample_paused": f"{paused}/{len(sample_ids)}",
    }


def limits_verdict(events: int, size: int) -> str:
    if events >= EVENT_LIMIT or size >= BYTES_LIMIT:
        return "over limit"
    if events >= EVENT_WARN or size >= BYTES_WARN:
        return "warn"
    return "ok"


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of ``recoup`` commands that use what ``settings`` point at."""
    return {**recoup_env(settings), "PYTHONUNBUFFERED": "1"}


async def launch(
    csv_path: Path,
    playbook: Path,
    args: argparse.Namespace,
    env: dict[str, str],
    campaign_id: str,
    log_path: Path,
) -> tuple[float, float]:
    """``recoup campaign launch`` as an operator types it; (seconds, peak RSS MiB)."""
    run = await asyncio.to_thread(
        run_command,
        [
            "cli.main",
            "campaign",
            "launch",
            str(csv_path),
            "--playbook",
            str(playbook),
            "--tenant",
            TENANT,
            "--campaign-id",
            campaign_id,
            "--day-seconds",
            str(args.day_seconds),
            "--starts-in-flight",
            str(args.starts_in_flight),
            "--as-of",
            date.today().isoformat(),
        ],
        env,
        log_path,
    )
    return run["seconds"], run["peak_rss_mib"]


async def run_scale(args: argparse.Namespace) -> dict[str, object]:
    """Start the stack, measure the bare start rate, launch the portfolio, follow it."""
    async with AsyncExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recoup-scale-")))
        server = await start_dev_server(
            port=free_port(), ui_port=None, db_file=root / "temporal.db", log_file=root / "t.log"
        )
        stack.push_async_callback(server.stop)
        server_pid = server.process.pid
        assert server_pid is not None
        smtp = SmtpSimulator()
        await smtp.start()
        stack.push_async_callback(smtp.stop)
        # The research agent reads the CRM before each first touch: without one, every
        # account's research retries an outage before it writes its brief offline.
        crm = CrmSimulator(CRM_KEY)
        await crm.start()
        stack.push_async_callback(crm.stop)
        database_url: str | None = None
        if not args.sqlite:
            name, database_url = await asyncio.to_thread(create_database, "recoup_scale")
            stack.push_async_callback(asyncio.to_thread, drop_database, name)
        settings = Settings(
            temporal_address=server.address,
            task_queue_suffix=f"-scale-{uuid.uuid4().hex[:8]}",
            data_dir=root / "recoup",
            database_url=database_url,
            smtp_port=smtp.port,
            ledger_base_url=crm.base_url,
            ledger_api_key=CRM_KEY,
        )
        settings.data_dir.mkdir(parents=True)
        client = await connect(settings)  # makes the key ring the children then share
        env = child_env(settings)

        log(
            f"bare start rate: {args.baseline} trivial workflows, {args.starts_in_flight} in flight"
        )
        bare = await bare_start_rate(client, args.baseline, args.starts_in_flight)
        log(f"bare: {bare['per_s']} starts/s")

        worker = Child(
            "recoup worker",
            ["-m", "cli.main", "worker"],
            env,
            root / "worker.log",
            "worker serving",
        )
        await worker.start()
        stack.push_async_callback(worker.stop)

        tag = f"s{uuid.uuid4().hex[:6]}"
        csv_path = root / f"portfolio-{tag}.csv"
        ids = write_csv(csv_path, args.accounts, tag, most_awake(datetime.now(UTC)))
        playbook = root / "scale.yaml"
        playbook.write_text(playbook_yaml(args.first_touch_day))
        campaign_id = f"scale-{tag}"
        workflow_id = portfolio_workflow_id(TENANT, campaign_id)
        log(f"launching {args.accounts} accounts ({csv_path.stat().st_size} bytes of CSV)")

        samples = Samples()
        began = time.monotonic()
        cpu0 = {"worker": cpu_seconds(worker.pid), "server": cpu_seconds(server_pid)}
        open_query = campaign_accounts_query(TENANT, campaign_id, running=True)
        sampler = asyncio.create_task(
            sample(client, workflow_id, open_query, smtp, args.accounts, began, worker.pid, samples)
        )
        launch_s, launch_rss = await launch(
            csv_path, playbook, args, env, campaign_id, root / "launch.log"
        )
        log(f"launch command done in {launch_s:.1f} s (peak RSS {launch_rss:.0f} MiB)")
        handle = client.get_workflow_handle(workflow_id, result_type=PortfolioStatus)
        result = asyncio.ensure_future(handle.result())
        completed = True
        next_log = time.monotonic() + 15
        while not result.done():
            now = time.monotonic() - began
            all_in = samples.all_started_at is not None and (
                args.first_touch_day > 0
                or samples.first_touch_all_at is not None
                or now - samples.all_started_at > args.touch_wait
            )
            if args.launch_only and (now > args.budget or all_in):
                # Every account started and touched (or --touch-wait past the last start): the
                # launch is measured; what remains is the playbook's days.
                completed = False
                result.cancel()
                break
            await asyncio.wait({result}, timeout=1.0)
            if time.monotonic() > next_log and samples.last is not None:
                s = samples.last
                at = time.monotonic() - began
                samples.progress.append((round(at), s.started, samples.touched))
                log(
                    f"{at:.0f} s: {s.started}/{s.total} started, {s.active} open, "
                    f"{samples.touched} first emails, {s.finished} finished, worker peak "
                    f"{peak_rss_mib(worker.pid):.0f} MiB"
                )
                next_log = time.monotonic() + 15
        elapsed = time.monotonic() - began
        cpu = {
            "worker": cpu_seconds(worker.pid) - cpu0["worker"],
            "server": cpu_seconds(server_pid) - cpu0["server"],
        }
        sampler.cancel()
        final: PortfolioStatus | None = result.result() if completed else samples.last
        paused = await pause_all(client, campaign_id, ids) if args.pause else None
        worker_peak = peak_rss_mib(worker.pid)
        server_peak = peak_rss_mib(server_pid)
        log("reading histories")
        portfolio = await portfolio_histories(client, workflow_id)
        # Accounts start in file order: sample among those started.
        begun = ids[: (samples.last.started if samples.last else 0) or len(ids)]
        sample_ids = random.Random(0).sample(begun, min(ACCOUNT_HISTORY_SAMPLE, len(begun)))
        accounts_h = await account_histories(
            client, [account_workflow_id(TENANT, a) for a in sample_ids]
        )

    started = (final.started + final.attached) if final else 0
    finished = final.finished if final else 0
    all_started = samples.all_started_at
    e2e_rate = args.accounts / elapsed if completed else finished / elapsed
    costed = finished if completed else started
    launch_rate = started / (all_started if all_started else elapsed)
    largest_events = max(portfolio["max_events"], accounts_h["max_events"])
    largest_bytes = max(portfolio["max_bytes"], accounts_h["max_bytes"])
    bare_per_s = float(bare["per_s"])  # type: ignore[arg-type]
    first_touch = samples.first_touch_all_at
    return {
        "benchmark": "scale",
        "launch_accounts_per_s": round(launch_rate, 2),
        "bare_starts_per_s": bare_per_s,
        "ratio": round(launch_rate / bare_per_s, 4),
        "goal_ratio_min": 0.5,
        "bare": bare,
        "launch_command_s": round(launch_s, 2),
        "all_started_s": round(all_started, 2) if all_started else None,
        "first_touch_all_s": round(first_touch, 2) if first_touch else None,
        "first_touches": samples.touched,
        "max_open_observed": samples.max_open,
        "all_open_at_once": samples.max_open >= args.accounts,
        "started": started,
        "completed": completed,
        "finished": finished,
        "elapsed_s": round(elapsed, 2),
        "end_to_end_accounts_per_s": round(e2e_rate, 2),
        "extrapolated_100k_end_to_end_h": round(100_000 / e2e_rate / 3600, 2) if e2e_rate else None,
        # Per account finished; a launch-only run stopped early: per account started.
        "worker_cpu_ms_per_account": round(cpu["worker"] / max(costed, 1) * 1000, 1),
        "server_cpu_ms_per_account": round(cpu["server"] / max(costed, 1) * 1000, 1),
        "worker_peak_rss_mib": round(worker_peak, 1),
        "goal_worker_rss_mib_max": 1024,
        "worker_rss_timeline_mib": samples.worker_rss[-12:],
        # At most 24 points, evenly spread: the launch's pace over its whole length.
        "progress_s_started_touched": samples.progress[:: max(1, len(samples.progress) // 24)],
        "launch_command_peak_rss_mib": round(launch_rss, 1),
        "server_peak_rss_mib": round(server_peak, 1),
        "starts_in_flight": args.starts_in_flight,
        "goal_launch_command_rss_mib_max": 300,
        "portfolio_history": portfolio,
        "account_history_sample": accounts_h,
        "largest_history": {
            "events": largest_events,
            "bytes": largest_bytes,
            "verdict": limits_verdict(largest_events, largest_bytes),
            "limits": {"events": EVENT_LIMIT, "bytes": BYTES_LIMIT},
            "warn": {"events": EVENT_WARN, "bytes": BYTES_WARN},
        },
        "pause": paused,
        "query_errors": samples.query_errors,
        "accounts": args.accounts,
        "day_seconds": args.day_seconds,
        "baseline_starts": args.baseline,
        "read_model": "sqlite" if args.sqlite else "postgresql",
        "playbook": f"one email on day {args.first_touch_day}, closing_days 1",
        "first_touch_day": args.first_touch_day,
        "launch_only": args.launch_only,
        "machine": machine(),
        "cpus": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


async def scale(
    accounts: int = 1500,
    starts_in_flight: int = 64,
    day_seconds: float = 1.0,
    baseline: int = 1000,
    sqlite: bool = False,
    launch_only: bool = False,
    budget: float = 900.0,
    pause: bool = False,
    first_touch_day: int = 0,
    touch_wait: float = 120.0,
) -> dict[str, object]:
    """The benchmark's result for a runner that calls it in-process."""
    return await run_scale(
        argparse.Namespace(
            accounts=accounts,
            starts_in_flight=starts_in_flight,
            day_seconds=day_seconds,
            baseline=baseline,
            sqlite=sqlite,
            launch_only=launch_only,
            budget=budget,
            pause=pause,
            first_touch_day=first_touch_day,
            touch_wait=touch_wait,
        )
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=1500, help="portfolio size (1500)")
    parser.add_argument(
        "--starts-in-flight",
        "--window",
        dest="starts_in_flight",
        type=int,
        default=64,
        help="account campaign starts in flight at once (64)",
    )
    parser.add_argument("--day-seconds", type=float, default=1.0, help="one playbook day (1)")
    parser.add_argument("--baseline", type=int, default=1000, help="bare starts (1000)")
    parser.add_argument("--sqlite", action="store_true", help="read model in SQLite")
    parser.add_argument(
        "--launch-only", action="store_true", help="stop after --budget s if not done"
    )
    parser.add_argument("--budget", type=float, default=900.0, help="seconds (900)")
    parser.add_argument(
        "--first-touch-day",
        type=int,
        default=0,
        help="the email's playbook day (0); 1 with long days: the launch alone, no touch",
    )
    parser.add_argument(
        "--touch-wait",
        type=float,
        default=120.0,
        help="with --launch-only: how long past the last start to wait for every first "
        "email (120 s)",
    )
    parser.add_argument(
        "--pause",
        action="store_true",
        help="then pause the whole campaign by batch operation and time it",
    )
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run_scale(args))))


if __name__ == "__main__":
    main()
