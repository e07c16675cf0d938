"""Engine efficiency and cost: Recoup's standard campaign against the bare-Temporal floor.

Run: ``.venv/bin/python -m bench.engine [--accounts 150] [--rounds 3] [--day-seconds 0.25]
[--profile bench/results/profile-engine.txt]``

The campaign is ``playbooks/standard.yaml`` (email on day 0, SMS on day 3, a call on day 7,
a final email on day 14) with every agent on, as ``recoup worker`` runs them
(``workers.run.workers``: research, composer, reply reader, the compliance gate, the
event log and its SQL read-model export), against the simulators (SMTP, Twilio,
payments, CRM) answering at once, with days of ``--day-seconds``. Each debtor pays in
full when the call ends: the Twilio simulator's ``on_call`` hook sends the payment
signal (no polling), so the final notice never happens.

The floor is ``bench.floor``: a workflow with exactly the activities, timers and signal
that one real campaign history of this run had (no-op activities, timers due at the
same moments, the payment signal sent at the same moment after the start) and nothing
else, on the same server, with the same worker concurrency limits.

This module starts what it needs: a dev server (fast timers, its own SQLite file, a free
port), the four simulators in this process, and each worker in a child process of its
own, so that its CPU time can be read from ``/proc/<pid>/stat``; so is the server's.
After a warm-up, campaign and floor rounds of ``--accounts`` accounts alternate; each
round's rate is accounts / (first start .. last completion), and the medians are
reported. Then every history of the last rounds is costed in Temporal Cloud Actions
(``service.cost``) and checked against the floor's plan.

Prints one JSON line: ``campaign_accounts_per_s``, ``floor_accounts_per_s``, ``ratio``
(goal >= 0.7, stretch 0.8), worker and server CPU seconds per account for each, and ``cost``: the
Actions per account of both, their ratio (goal <= 1.5) and the breakdown by category,
and ``stored_per_account``: the server's state transitions (persistence writes), history
events and history bytes per account, from ``DescribeWorkflowExecution`` (the sizing in
docs/PERFORMANCE.md is built from them).

``--sandbox passthrough`` runs the campaign worker with the workflow modules passed
through the sandbox (``RECOUP_WORKFLOW_SANDBOX``; default ``strict``, the SDK's own,
which re-imports them for every run): the before/after of that option.

``--profile PATH`` runs the campaign worker under pyinstrument (event-loop thread, and
workflow activations on a one-thread pool so they can be sampled too) and writes both
reports to PATH; its rates and CPU figures are distorted by the profiler.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client

from adapters.playbook_files import load_playbook
from bench import threads
from bench.common import Child, machine, recoup_env, simulated_stack
from bench.floor import SIGNAL, FloorPlan, FloorWorkflow, history_counts, plan_from_history
from bootstrap.client import connect
from bootstrap.settings import Settings
from domain import names
from domain.account import Account, EmailContact, PhoneContact, Tenant
from domain.campaign import CollectionStatus, PaymentReceived, account_workflow_id
from service.campaigns import start_account_campaign
from service.cost import ActionCounts, account_cost, count_history, total_of
from simulators.twilio import SimulatedCall, TwilioSimulator
from simulators.zones import most_awake
from workers.run import workers

TENANT = Tenant(tenant_id="bench", name="Bench Recovery")
TWILIO_SID = "AC" + "8" * 32
TWILIO_TOKEN = "bench-auth-token"
AMOUNT = Decimal("250.00")
# Starts in flight at once (every account of a round runs at once once started).
START_CONCURRENCY = 32
# After the last completion, CPU is read this much later, for both kinds alike: what a
# worker does just after (the exporter catching up) belongs to the round.
SETTLE_SECONDS = 0.5
# The quiet rounds whose histories are costed: few accounts, days long enough for every
# step to be on time even on a busy 2-core machine (a late step skips its timer).
QUIET = 5
QUIET_DAY_SECONDS = 1.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[engine] {message}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from ``/proc/<pid>/stat``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rpartition(")")[2].split()
    # After "pid (comm)": state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def bench_accounts(count: int, zone: str, tag: str) -> list[Account]:
    """Accounts with their own address and a number consenting to SMS and calls."""
    area = 200 + int(uuid.uuid5(uuid.NAMESPACE_URL, tag).hex[:6], 16) % 800
    return [
        Account(
            account_id=f"{tag}-{i:05d}",
            debtor_name=f"Bench Debtor {i}",
            emails=[EmailContact(address=f"debtor.{i:05d}.{tag}@example.com")],
            phones=[PhoneContact(number=f"+1{area}{i:07d}", sms_consent=True, voice_consent=True)],
            amount_due=AMOUNT,
            currency="USD",
            due_date=date(2026, 6, 1),
            days_past_due=120,
            timezones=[zone],
            state="NY",
        )
        for i in range(count)
    ]


@dataclass
class Round:
    kind: str
    accounts: int
    elapsed: float
    worker_cpu: float
    server_cpu: float
    workflow_ids: list[str] = field(default_factory=list)
    # The worker's CPU seconds by thread kind (``bench.threads``).
    worker_threads: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.accounts / self.elapsed


class Bench:
    """The stack of one run: server, simulators, both workers, both clients."""

    def __init__(
        self,
        server_pid: int,
        client: Client,
        floor_client: Client,
        settings: Settings,
        twilio: TwilioSimulator,
        campaign_worker: Child,
        floor_worker: Child,
        floor_queue: str,
        day_seconds: float,
        registries: dict[int, Path],
    ) -> None:
        self.server_pid = server_pid
        self.client = client
        self.floor_client = floor_client
        self.settings = settings
        self.campaign_worker = campaign_worker
        self.floor_worker = floor_worker
        self.floor_queue = floor_queue
        self.registries = registries  # worker pid -> its thread registry
        self.day_seconds = day_seconds
        self.playbook = load_playbook("standard", search_dir=settings.playbook_dir)
        self.zone = most_awake(datetime.now(UTC))
        self.plan = FloorPlan()
        self.plan_day_seconds = day_seconds  # the day length of the plan's history
        # The phone number of each account whose call is awaited -> its workflow id.
        self._payers: dict[str, str] = {}
        self._signals: set[asyncio.Task[None]] = set()
        twilio.on_call(self._call_ended)

    def _call_ended(self, call: SimulatedCall) -> None:
        # The third touch is over: the debtor pays. A task, so the simulator answers on.
        workflow_id = self._payers.pop(call.to, None)
        if workflow_id is None:
            return
        payment = PaymentReceived(
            payment_id=f"pay-{workflow_id.rpartition('/')[2]}", amount=AMOUNT, currency="USD"
        )
        handle = self.client.get_workflow_handle(workflow_id)
        task = asyncio.create_task(handle.signal(names.SIGNAL_PAYMENT, payment))
        self._signals.add(task)
        task.add_done_callback(self._signals.discard)

    async def _measured(
        self, kind: str, n: int, worker: Child, run: Callable[[], Awaitable[list[str]]]
    ) -> Round:
        registry = self.registries[worker.pid]
        cpu0, server0 = cpu_seconds(worker.pid), cpu_seconds(self.server_pid)
        threads0 = threads.cpu_by_kind(worker.pid, registry)
        began = time.monotonic()
        ids = await run()
        elapsed = time.monotonic() - began
        await asyncio.sleep(SETTLE_SECONDS)
        return Round(
            kind,
            n,
            elapsed,
            cpu_seconds(worker.pid) - cpu0,
            cpu_seconds(self.server_pid) - server0,
            ids,
            threads.difference(threads.cpu_by_kind(worker.pid, registry), threads0),
        )

    async def campaign_round(self, n: int, day_seconds: float | None = None) -> Round:
        tag = f"e{uuid.uuid4().hex[:8]}"
        accounts = bench_accounts(n, self.zone, tag)
        starting = asyncio.Semaphore(START_CONCURRENCY)

        async def one(account: Account) -> str:
            workflow_id = account_workflow_id(TENANT.tenant_id, account.account_id)
            self._payers[account.phones[0].number] = workflow_id
            async with starting:
                handle = await start_account_campaign(
                    self.client,
                    self.settings,
                    tenant=TENANT,
                    campaign_id=tag,
                    playbook=self.playbook,
                    account=account,
                    seconds_per_day=day_seconds or self.day_seconds,
                )
            outcome = await handle.result()
            if outcome.status is not CollectionStatus.PAID:
                raise RuntimeError(f"{workflow_id} ended {outcome.status.value}, not paid")
            return workflow_id

        async def run() -> list[str]:
            return list(await asyncio.gather(*(one(a) for a in accounts)))

        return await self._measured("campaign", n, self.campaign_worker, run)

    async def floor_round(self, n: int, day_seconds: float | None = None) -> Round:
        tag = f"f{uuid.uuid4().hex[:8]}"
        plan = self.plan.scaled((day_seconds or self.day_seconds) / self.plan_day_seconds)
        offsets = plan.signal_offsets
        starting = asyncio.Semaphore(START_CONCURRENCY)

        async def one(i: int) -> str:
            workflow_id = f"bench-floor/{tag}/{i:05d}"
            async with starting:
                handle = await self.floor_client.start_workflow(
                    FloorWorkflow.run, plan, id=workflow_id, task_queue=self.floor_queue
                )
            began = time.monotonic()
            for at in offsets:
                # The payment arrives as long after the start as it did in the campaign.
                await asyncio.sleep(max(0.0, at - (time.monotonic() - began)))
                await handle.signal(SIGNAL)
            await handle.result()
            return workflow_id

        async def run() -> list[str]:
            return list(await asyncio.gather(*(one(i) for i in range(n))))

        return await self._measured("floor", n, self.floor_worker, run)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _per_account(counts: ActionCounts, n: int) -> dict[str, float]:
    return {k: round(v / n, 3) for k, v in counts.categories().items() if v} | {
        "total": round(counts.total / n, 3)
    }


async def cost_of(bench: Bench, campaign: Round, floor: Round) -> dict[str, object]:
    """Actions per account of a campaign round and a floor round, from their histories."""
    gate = asyncio.Semaphore(16)

    async def campaign_one(workflow_id: str) -> tuple[ActionCounts, dict[str, int]]:
        async with gate:
            account_id = workflow_id.rpartition("/")[2]
            report = await account_cost(bench.client, TENANT.tenant_id, account_id)
            history = await bench.client.get_workflow_handle(workflow_id).fetch_history()
            return report.actions, history_counts(list(history.events))

    async def floor_one(workflow_id: str) -> tuple[ActionCounts, dict[str, int]]:
        async with gate:
            history = await bench.floor_client.get_workflow_handle(workflow_id).fetch_history()
            events = list(history.events)
            return count_history(events).actions, history_counts(events)

    c = await asyncio.gather(*(campaign_one(w) for w in campaign.workflow_ids))
    f = await asyncio.gather(*(floor_one(w) for w in floor.workflow_ids))
    stored = {
        "campaign": await stored_per_account(bench.client, campaign.workflow_ids, gate),
        "floor": await stored_per_account(bench.floor_client, floor.workflow_ids, gate),
    }
    expected = bench.plan.counts()
    c_total, f_total = total_of(x for x, _ in c), total_of(x for x, _ in f)
    c_per, f_per = c_total.total / len(c), f_total.total / len(f)
    return {
        "campaign_actions_per_account": round(c_per, 3),
        "floor_actions_per_account": round(f_per, 3),
        "ratio": round(c_per / f_per, 4),
        "goal_ratio_max": 1.5,
        "campaign_breakdown": _per_account(c_total, len(c)),
        "floor_breakdown": _per_account(f_total, len(f)),
        # Histories whose activities, timers and signals are the floor's plan exactly.
        "campaign_histories_matching_plan": sum(1 for _, k in c if k == expected),
        "floor_histories_matching_plan": sum(1 for _, k in f if k == expected),
        "histories_costed": {"campaign": len(c), "floor": len(f)},
        "rules": "https://docs.temporal.io/cloud/actions",
        "stored_per_account": stored,
    }


async def stored_per_account(
    client: Client, workflow_ids: Sequence[str], gate: asyncio.Semaphore
) -> dict[str, float]:
    """What the server wrote and keeps per account: the figures a cluster is sized from.

    ``state_transitions`` is the server's own count of persisted mutable-state updates
    (each one a write transaction to the persistence store), ``history_events`` and
    ``history_bytes`` what the history holds (and Temporal Cloud bills as storage).
    """

    async def one(workflow_id: str) -> tuple[int, int, int]:
        async with gate:
            info = (
                await client.get_workflow_handle(workflow_id).describe()
            ).raw_description.workflow_execution_info
            return info.state_transition_count, info.history_length, info.history_size_bytes

    rows = await asyncio.gather(*(one(w) for w in workflow_ids))
    n = len(rows) or 1
    return {
        "state_transitions": round(sum(r[0] for r in rows) / n, 1),
        "history_events": round(sum(r[1] for r in rows) / n, 1),
        "history_bytes": round(sum(r[2] for r in rows) / n),
    }


async def mean_counts(client: Client, done: Round) -> dict[str, float]:
    """Activities, timers and signals per account in one round's histories."""
    gate = asyncio.Semaphore(16)

    async def one(workflow_id: str) -> dict[str, int]:
        async with gate:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            return history_counts(list(history.events))

    found = await asyncio.gather(*(one(w) for w in done.workflow_ids))
    return {k: round(sum(c[k] for c in found) / len(found), 3) for k in found[0]}


async def run_engine(
    accounts: int = 150,
    rounds: int = 3,
    day_seconds: float = 0.25,
    profile: Path | None = None,
    sandbox: str = "strict",
) -> dict[str, object]:
    """Start the stack, warm up, alternate the rounds, cost the histories: the result."""
    async with AsyncExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recoup-engine-")))
        # Calls ring, are answered and end at once: "the simulators answer instantly".
        twilio = TwilioSimulator(
            TWILIO_SID,
            TWILIO_TOKEN,
            answer_rate=1.0,
            machine_rate=0.0,
            ring_seconds=0.0,
            step_seconds=0.0,
        )
        server, settings = await simulated_stack(
            stack, root, "engine", twilio, call_poll_seconds=0.02
        )
        assert server.process.pid is not None
        client = await connect(settings)
        floor_client = await Client.connect(server.address)
        floor_queue = f"floor-{uuid.uuid4().hex[:8]}"

        campaign_args = ["-m", "bench.engine", "--serve-campaign"]
        if profile is not None:
            campaign_args += ["--profile", str(profile)]  # absolute: main() resolves it
        campaign_worker = Child(
            "campaign worker",
            campaign_args,
            {
                **recoup_env(settings),
                "RECOUP_WORKFLOW_SANDBOX": sandbox,
                threads.REGISTRY_ENV: str(root / "campaign-threads.txt"),
            },
            root / "campaign-worker.log",
            "bench worker serving",
        )
        floor_worker = Child(
            "floor worker",
            [
                "-m",
                "bench.floor",
                "--address",
                server.address,
                "--task-queue",
                floor_queue,
                "--max-activities",
                str(settings.max_concurrent_activities),
                "--max-workflow-tasks",
                str(settings.max_concurrent_workflow_tasks),
            ],
            {**os.environ, threads.REGISTRY_ENV: str(root / "floor-threads.txt")},
            root / "floor-worker.log",
            "floor worker serving",
        )
        await campaign_worker.start()
        stack.push_async_callback(campaign_worker.stop)
        await floor_worker.start()
        stack.push_async_callback(floor_worker.stop)
        bench = Bench(
            server.process.pid,
            client,
            floor_client,
            settings,
            twilio,
            campaign_worker,
            floor_worker,
            floor_queue,
            day_seconds,
            {
                campaign_worker.pid: root / "campaign-threads.txt",
                floor_worker.pid: root / "floor-threads.txt",
            },
        )

        # Warm-up: one campaign alone gives the history the floor is built from, with
        # days long enough that no step is late (the plan's timers scale with the day).
        quiet_day = max(day_seconds, QUIET_DAY_SECONDS)
        log(f"warm-up: one campaign with {quiet_day:g} s days, for the floor's plan")
        first = await bench.campaign_round(1, quiet_day)
        history = await client.get_workflow_handle(first.workflow_ids[0]).fetch_history()
        bench.plan = plan_from_history(list(history.events))
        bench.plan_day_seconds = quiet_day
        log(f"floor plan: {bench.plan.counts()} ({len(history.events)} events)")
        # A few at once, on the same long days, so that every timer is due in the future:
        # the histories whose Actions are counted.
        quiet_campaigns = await bench.campaign_round(QUIET, quiet_day)
        quiet_floors = await bench.floor_round(QUIET, quiet_day)
        await bench.campaign_round(min(accounts, 20))
        await bench.floor_round(min(accounts, 20))

        results: list[Round] = []
        for r in range(rounds):
            for kind in ("campaign", "floor"):
                done = await (
                    bench.campaign_round(accounts)
                    if kind == "campaign"
                    else bench.floor_round(accounts)
                )
                results.append(done)
                log(
                    f"round {r + 1}/{rounds} {kind}: {done.rate:.1f} accounts/s, "
                    f"worker {done.worker_cpu / accounts * 1000:.1f} ms/account, "
                    f"server {done.server_cpu / accounts * 1000:.1f} ms/account"
                )
        campaigns = [x for x in results if x.kind == "campaign"]
        floors = [x for x in results if x.kind == "floor"]
        log("costing the histories")
        cost = await cost_of(bench, quiet_campaigns, quiet_floors)
        under_load = {
            "campaign": await mean_counts(bench.client, campaigns[-1]),
            "floor": await mean_counts(bench.floor_client, floors[-1]),
        }

    def per_account(rs: Sequence[Round], what: str) -> float:
        return round(_median([getattr(x, what) / x.accounts for x in rs]), 5)

    def by_thread(rs: Sequence[Round]) -> dict[str, float]:
        return {
            kind: round(_median([x.worker_threads[kind] / x.accounts for x in rs]) * 1000, 2)
            for kind in threads.KINDS
        }

    campaign_rate = _median([x.rate for x in campaigns])
    floor_rate = _median([x.rate for x in floors])
    return {
        "benchmark": "engine",
        "campaign_accounts_per_s": round(campaign_rate, 2),
        "floor_accounts_per_s": round(floor_rate, 2),
        "ratio": round(campaign_rate / floor_rate, 4),
        "goal_ratio_min": 0.7,
        "stretch_ratio_min": 0.8,
        "worker_cpu_s_per_account": {
            "campaign": per_account(campaigns, "worker_cpu"),
            "floor": per_account(floors, "worker_cpu"),
        },
        "server_cpu_s_per_account": {
            "campaign": per_account(campaigns, "server_cpu"),
            "floor": per_account(floors, "server_cpu"),
        },
        # Where the worker's CPU goes (bench.threads): the event loop (activities, the
        # SDK's bridge, conversion, codec), workflow activations, to_thread (SQL), the
        # SDK's Rust core.
        "worker_cpu_ms_per_account_by_thread": {
            "campaign": by_thread(campaigns),
            "floor": by_thread(floors),
        },
        "round_rates": {
            "campaign": [round(x.rate, 2) for x in campaigns],
            "floor": [round(x.rate, 2) for x in floors],
        },
        "floor_plan": bench.plan.counts(),
        # What the last measured rounds' histories had, per account: a campaign late
        # under load skips a timer whose day has passed, and so does the floor.
        "history_per_account_under_load": under_load,
        "cost": cost,
        "profiled": profile is not None,
        "sandbox": sandbox,
        "accounts": accounts,
        "rounds": rounds,
        "day_seconds": day_seconds,
        "playbook": "standard",
        "max_concurrent_activities": settings.max_concurrent_activities,
        "max_concurrent_workflow_tasks": settings.max_concurrent_workflow_tasks,
        "machine": machine(),
        "cpus": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


# --- the campaign worker's child process ------------------------------------------


async def serve_campaign(profile: Path | None) -> None:
    """``recoup worker``'s roles, from RECOUP_* settings, optionally profiled.

    Its threads are registered by kind (``bench.threads``) so that the benchmark can
    split its CPU: the event loop here, workflow activations and ``asyncio.to_thread``
    work each on a pool of their own (as many threads as the SDK and asyncio would use;
    one each when profiled, so that one profiler samples each)."""
    settings = Settings()
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    threads.register("loop")
    profiled = profile is not None
    executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=1 if profiled else settings.max_concurrent_workflow_tasks,
        thread_name_prefix="temporal_workflow_",
        initializer=threads.registering("workflow"),
    )
    blocking = concurrent.futures.ThreadPoolExecutor(
        max_workers=1 if profiled else min(32, (os.cpu_count() or 1) + 4),  # asyncio's
        initializer=threads.registering("blocking"),
    )
    loop.set_default_executor(blocking)
    if profile is None:
        async with (
            workers(client, settings, workflow_task_executor=executor) as built,
            AsyncExitStack() as stack,
        ):
            for w in built:
                await stack.enter_async_context(w)
            print("bench worker serving", file=sys.stderr, flush=True)
            await stop.wait()
        return
    from pyinstrument import Profiler

    # The event loop (activities, the SDK's bridge, the codec) in this thread; workflow
    # activations, and the blocking work activities hand to threads (SQL: the contact
    # ledger, audit log, event log, read model), each on one thread with its own profiler.
    main_profiler = Profiler(async_mode="disabled")
    workflow_profiler = Profiler(async_mode="disabled")
    blocking_profiler = Profiler(async_mode="disabled")
    executor.submit(workflow_profiler.start).result()
    blocking.submit(blocking_profiler.start).result()
    main_profiler.start()
    async with (
        workers(client, settings, workflow_task_executor=executor) as built,
        AsyncExitStack() as stack,
    ):
        for w in built:
            await stack.enter_async_context(w)
        print("bench worker serving (profiled)", file=sys.stderr, flush=True)
        await stop.wait()
    main_profiler.stop()
    executor.submit(workflow_profiler.stop).result()
    blocking.submit(blocking_profiler.stop).result()
    executor.shutdown()

    def report(profiler: Profiler) -> str:
        return profiler.output_text(unicode=False, color=False, show_all=False)

    def busy(profiler: Profiler) -> str:
        session = profiler.last_session
        parts = threads.loop_attribution(session.frame_records if session else [])
        total = sum(parts.values()) or 1.0
        return "\n".join(
            f"{seconds:9.2f} s  {seconds / total:6.1%}  {name}" for name, seconds in parts.items()
        )

    write_profile(
        profile,
        "# bench.engine --profile: the campaign worker under pyinstrument\n\n"
        "## workflow activations (one thread)\n\n"
        + report(workflow_profiler)
        + "\n\n## event-loop thread (activities, SDK bridge, codec, exporter)\n\n"
        + "Busy time by part (bench.threads.loop_attribution, idle samples left out):\n\n"
        + busy(main_profiler)
        + "\n\n"
        + report(main_profiler)
        + "\n\n## blocking work in threads (asyncio.to_thread: SQL, audit log)\n\n"
        + report(blocking_profiler),
    )


def write_profile(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=150, help="accounts per round (150)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind (3)")
    parser.add_argument("--day-seconds", type=float, default=0.25, help="one playbook day (0.25)")
    parser.add_argument("--profile", type=Path, help="profile the campaign worker into this file")
    parser.add_argument(
        "--sandbox",
        choices=("strict", "passthrough"),
        default="strict",
        help="the campaign worker's RECOUP_WORKFLOW_SANDBOX (default strict)",
    )
    parser.add_argument("--serve-campaign", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_campaign:
        asyncio.run(serve_campaign(args.profile))
        return
    profile = args.profile.resolve() if args.profile else None
    result = asyncio.run(
        run_engine(args.accounts, args.rounds, args.day_seconds, profile, args.sandbox)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
