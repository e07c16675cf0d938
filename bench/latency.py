"""Latency: HTTP trigger, payment webhook and inbound reply, against the bare-Temporal floor.

Run: ``.venv/bin/python -m bench.latency [--samples 100] [--day-seconds 120] [--poll-ms 5]
[--profile-api PATH]``

Three paths, each timed on the wall clock of this process, one sample at a time:

a. **start**: ``POST /v1/accounts`` (the standard playbook) until its 202 answer. The
   route answers once Temporal has accepted the start (``client.start_workflow`` has
   returned), so the answer is the moment the workflow is started; every one is then
   confirmed RUNNING with ``describe`` (``start_confirmed_ms`` includes that call).
   Target: P95 < 100 ms.
b. **payment**: a campaign has sent its first notice and waits (compressed days) for its
   next touch; the Stripe-signed ``checkout.session.completed`` event the payment link
   would send is posted to ``/v1/webhooks/{tenant}/payments``, and the account's
   ``status`` query is polled every ``--poll-ms`` until it shows PAID and no next
   action. Target: < 500 ms (judged on P95).
c. **reply**: a Twilio-signed inbound SMS to ``/v1/webhooks/{tenant}/twilio/sms/inbound``,
   polled the same way until the workflow shows its intent acted on: ``stop`` (an
   SMS-only debtor texts STOP: the campaign is OPTED_OUT, nothing is scheduled) and
   ``promise`` ("I'll pay friday": PROMISED, with the promise date and the follow-up
   planned at it).

Each path has its floor, measured in the same run, interleaved sample by sample with
it: (a) a bare ``client.start_workflow`` of a trivial workflow, (b)/(c) a bare signal to
a trivial running workflow and the same query polling until the query reflects it. The
trivial workflow runs on a worker of its own in a child process, with the same
concurrency limits, on the same server. ``ratio`` = floor P95 / Recoup P95 (1.0: Recoup
adds nothing), ``overhead_p95_ms`` = Recoup P95 - floor P95.

This module starts what it needs: a dev server (fast timers, its own SQLite file, a free
port), the SMTP, Twilio, payments and CRM simulators in this process, and three child
processes: ``recoup worker`` (every role), ``recoup api`` (HTTP only, on a free port) and
the floor worker. Recoup's read model, tenant and key live in SQLite in a temporary
directory. Prints one JSON line; progress goes to stderr.

``--profile-api PATH`` runs the API under pyinstrument and writes its report to PATH when
the run ends (the API's figures are then distorted by the profiler).

What was found with it: parsing the playbook's YAML on every start was the largest part
of the API's own work on (a); ``RecoupService`` now keeps parsed playbooks (re-read when
the file changes). On a busy machine each thread hop (``asyncio.to_thread``: the key
lookup, the inbound index, the webhook's tenant lookup and receipt) waits for a core;
single-record parsing is now inline and a webhook's tenant is looked up once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bench.common import Child, machine, recoup_env, simulated_stack
from bench.fixtures import checkout_completed, new_tenant, sms_in
from bootstrap.client import connect
from bootstrap.devserver import free_port
from bootstrap.settings import Settings
from domain import names
from domain.account import Tenant
from domain.campaign import CampaignSnapshot, CollectionStatus, account_workflow_id
from simulators.payments import stripe_signature
from simulators.twilio import TwilioSimulator, twilio_signature
from simulators.zones import most_awake

TWILIO_SID = "AC" + "9" * 32
TWILIO_TOKEN = "latency-auth-token"
AMOUNT_MINOR = 25_000  # the accounts owe 250.00 USD
PROMISE_TEXT = "no problem, I'll pay friday"
TARGET_START_P95_MS = 100.0
TARGET_PAYMENT_MS = 500.0
# Campaigns set up for (b) and (c) start this many at a time (set-up, not measured).
SETUP_CONCURRENCY = 8
# A sample whose condition is not reached in this long counts as a timeout.
SAMPLE_TIMEOUT_S = 15.0
# Samples of each kind made and dropped first (connections, caches, first imports).
WARMUP = 5


def log(message: str) -> None:
    print(f"[latency] {message}", file=sys.stderr, flush=True)


# --- the floor: a trivial workflow, its signal and its query -------------------------


@workflow.defn(name="LatencyFloor")
class LatencyFloor:
    """Runs until closed; a signal stores a mark, the query returns it. Nothing else."""

    def __init__(self) -> None:
        self._mark = ""
        self._closed = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._closed)

    @workflow.signal(name="mark")
    def mark(self, value: str) -> None:
        self._mark = value

    @workflow.signal(name="close")
    def close(self) -> None:
        self._closed = True

    @workflow.query(name="mark")
    def current(self) -> str:
        return self._mark


async def serve_floor(address: str, task_queue: str, activities: int, tasks: int) -> None:
    """The floor's worker (a child process), until SIGTERM."""
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # This module is passed through: the sandbox must not re-import the benchmark's
    # whole import graph for a workflow that uses none of it.
    # Under ``python -m`` this module is ``__main__``: serve the class of ``bench.latency``.
    from bench.latency import LatencyFloor as floor_workflow

    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("bench")
    )
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[floor_workflow],
        workflow_runner=runner,
        max_concurrent_activities=activities,
        max_concurrent_workflow_tasks=tasks,
    ):
        print("floor worker serving", file=sys.stderr, flush=True)
        await stop.wait()


# --- figures ---------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), interpolated between the closest ranks."""
    if not sorted_values:
        return math.nan
    rank = (len(sorted_values) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def summary(values_ms: Sequence[float]) -> dict[str, float | int]:
    """n, mean, P50/P95/P99 and max of a list of milliseconds."""
    ordered = sorted(values_ms)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "mean": round(statistics.fmean(ordered), 2),
        "p50": round(percentile(ordered, 50), 2),
        "p95": round(percentile(ordered, 95), 2),
        "p99": round(percentile(ordered, 99), 2),
        "max": round(ordered[-1], 2),
    }


def compare(recoup: Sequence[float], floor: Sequence[float]) -> dict[str, Any]:
    """A path's figures next to its floor's: the ratio of the P95s and the overhead."""
    mine, base = summary(recoup), summary(floor)
    result: dict[str, Any] = {"recoup_ms": mine, "floor_ms": base}
    if mine.get("n") and base.get("n"):
        result["ratio"] = round(float(base["p95"]) / float(mine["p95"]), 4)
        result["overhead_p95_ms"] = round(float(mine["p95"]) - float(base["p95"]), 2)
        result["overhead_p50_ms"] = round(float(mine["p50"]) - float(base["p50"]), 2)
    return result


# --- processes --------------------------------------------------------------------------


def api_env(settings: Settings) -> dict[str, str]:
    """The environment of ``recoup worker`` and ``recoup api`` serving ``settings``."""
    return {
        **recoup_env(settings),
        "RECOUP_API_HOST": settings.api_host,
        "RECOUP_API_PORT": str(settings.api_port),
        "RECOUP_API_RATE_PER_SECOND": str(settings.api_rate_per_second),
        "RECOUP_API_BURST": str(settings.api_burst),
    }


# --- the benchmark ------------------------------------------------------------------------


class Latency:
    """The running stack, and one sample of each path and of its floor."""

    def __init__(
        self,
        settings: Settings,
        client: Client,
        floor_client: Client,
        floor_queue: str,
        http: httpx.AsyncClient,
        tenant: Tenant,
        token: str,
        day_seconds: float,
        poll_s: float,
    ) -> None:
        self.settings = settings
        self.client = client
        self.floor_client = floor_client
        self.floor_queue = floor_queue
        self.http = http
        self.tenant = tenant
        self.token = token
        self.day_seconds = day_seconds
        self.poll_s = poll_s
        self.zone = most_awake(datetime.now(UTC))
        self.tag = uuid.uuid4().hex[:6]
        self._serial = 0
        self.timeouts: dict[str, int] = {}
        self.skipped: dict[str, int] = {}

    # --- accounts and campaigns

    def record(self, *, sms_only: bool = False) -> dict[str, Any]:
        """A flat account record with its own email and number (what a CRM sends)."""
        self._serial += 1
        i = self._serial
        return {
            "account_id": f"L{self.tag}-{i:05d}",
            "name": f"Latency Debtor {i}",
            "email": "" if sms_only else f"debtor.{i:05d}.{self.tag}@example.com",
            # The run has its own inbound index (SQLite in its temporary directory).
            "phone": f"+1415{201 + i // 10_000}{i % 10_000:04d}",
            "sms_consent": True,
            "voice_consent": not sms_only,
            "amount_due": "250.00",
            "currency": "USD",
            "due_date": "2026-06-01",
            "timezone": self.zone,
            "state": "NY",
        }

    def _start_body(self, record: dict[str, Any]) -> dict[str, Any]:
        return {
            "campaign_id": f"lat-{self.tag}",
            "playbook": "standard",
            "account": record,
            "seconds_per_day": self.day_seconds,
        }

    async def _post_start(self, record: dict[str, Any]) -> httpx.Response:
        response = await self.http.post(
            "/v1/accounts",
            json=self._start_body(record),
            headers={"Authorization": f"Bearer {self.token}"},
        )
        if response.status_code != 202:
            raise RuntimeError(f"start answered {response.status_code}: {response.text}")
        return response

    def account(self, account_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(
            account_workflow_id(self.tenant.tenant_id, account_id)
        )

    async def snapshot(self, account_id: str) -> CampaignSnapshot:
        snap: CampaignSnapshot = await self.account(account_id).query(
            names.QUERY_STATUS, result_type=CampaignSnapshot
        )
        return snap

    async def setup_campaigns(self, count: int, *, sms_only: bool) -> list[dict[str, Any]]:
        """Start ``count`` campaigns through the API (not timed)."""
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def one() -> dict[str, Any]:
            record = self.record(sms_only=sms_only)
            async with gate:
                await self._post_start(record)
            return record

        return list(await asyncio.gather(*(one() for _ in range(count))))

    async def until_waiting(self, records: Sequence[dict[str, Any]], within: float) -> None:
        """Until every campaign has made its first touch and waits for the next one."""
        deadline = time.monotonic() + within
        pending = [r["account_id"] for r in records]
        while pending:
            snaps = await asyncio.gather(*(self.snapshot(a) for a in pending))
            pending = [a for a, s in zip(pending, snaps, strict=True) if not _waiting(s)]
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} campaign(s) not waiting after {within:.0f} s")
            await asyncio.sleep(0.25)

    # --- polling

    async def _until(
        self, kind: str, probe: Callable[[], Awaitable[bool]], began: float
    ) -> float | None:
        """Poll ``probe`` every ``poll_s`` until it holds: milliseconds since ``began``."""
        while True:
            if await probe():
                return (time.perf_counter() - began) * 1000
            if time.perf_counter() - began > SAMPLE_TIMEOUT_S:
                self.timeouts[kind] = self.timeouts.get(kind, 0) + 1
                return None
            await asyncio.sleep(self.poll_s)

    # --- (a) start

    async def start_sample(self, record: dict[str, Any]) -> tuple[float, float]:
        """ms until the API answered the start, and until describe confirmed it running."""
        began = time.perf_counter()
        response = await self._post_start(record)
        answered = (time.perf_counter() - began) * 1000
        description = await self.client.get_workflow_handle(
            response.json()["workflow_id"]
        ).describe()
        confirmed = (time.perf_counter() - began) * 1000
        if description.status is not WorkflowExecutionStatus.RUNNING:
            raise RuntimeError(f"{response.json()['workflow_id']} is {description.status}")
        return answered, confirmed

    async def floor_start_sample(self) -> tuple[float, WorkflowHandle[Any, Any]]:
        began = time.perf_counter()
        handle = await self.floor_client.start_workflow(
            LatencyFloor.run,
            id=f"latency-floor/{self.tag}/{uuid.uuid4().hex[:12]}",
            task_queue=self.floor_queue,
        )
        return (time.perf_counter() - began) * 1000, handle

    # --- (b) payment

    async def payment_sample(self, record: dict[str, Any]) -> tuple[float | None, float] | None:
        """ms until the query shows PAID and nothing scheduled; and the webhook's answer."""
        account_id = record["account_id"]
        if not _waiting(await self.snapshot(account_id)):
            self.skipped["payment"] = self.skipped.get("payment", 0) + 1
            return None
        body = json.dumps(
            checkout_completed(self.tenant.tenant_id, account_id, AMOUNT_MINOR),
            separators=(",", ":"),
        ).encode()
        secret = self.settings.payments_webhook_secret.get_secret_value()
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": stripe_signature(secret, body, int(time.time())),
        }
        url = f"/v1/webhooks/{self.tenant.tenant_id}/payments"
        began = time.perf_counter()
        response = await self.http.post(url, content=body, headers=headers)
        answered = (time.perf_counter() - began) * 1000
        if response.status_code != 200 or response.json().get("outcome") != "signalled":
            raise RuntimeError(f"payment webhook answered {response.status_code}: {response.text}")

        async def paid() -> bool:
            snap = await self.snapshot(account_id)
            return (
                snap.status is CollectionStatus.PAID
                and snap.next_action is None
                and snap.next_action_at is None
            )

        return await self._until("payment", paid, began), answered

    # --- (c) replies

    async def reply_sample(
        self, kind: str, record: dict[str, Any]
    ) -> tuple[float | None, float] | None:
        """ms until the reply's intent shows in the query; and the webhook's answer."""
        account_id = record["account_id"]
        if not _waiting(await self.snapshot(account_id)):
            self.skipped[kind] = self.skipped.get(kind, 0) + 1
            return None
        url = f"{self.settings.api_url}/v1/webhooks/{self.tenant.tenant_id}/twilio/sms/inbound"
        params = sms_in(
            record["phone"],
            "STOP" if kind == "stop" else PROMISE_TEXT,
            account_sid=TWILIO_SID,
        )
        headers = {"X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, params)}
        began = time.perf_counter()
        response = await self.http.post(url, data=params, headers=headers)
        answered = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"SMS webhook answered {response.status_code}: {response.text}")

        async def acted() -> bool:
            snap = await self.snapshot(account_id)
            if kind == "stop":
                return snap.status is CollectionStatus.OPTED_OUT and snap.next_action is None
            return (
                snap.status is CollectionStatus.PROMISED
                and snap.promise_until is not None
                and snap.next_action_at == snap.promise_until
            )

        return await self._until(kind, acted, began), answered

    # --- (b)/(c) floor

    async def floor_signal_sample(
        self, kind: str, handle: WorkflowHandle[Any, Any]
    ) -> float | None:
        mark = uuid.uuid4().hex
        began = time.perf_counter()
        await handle.signal("mark", mark)

        async def seen() -> bool:
            current: str = await handle.query("mark", result_type=str)
            return current == mark

        return await self._until(f"floor_{kind}", seen, began)


def _waiting(snap: CampaignSnapshot) -> bool:
    """First touch made, next one planned later: the state the webhooks are sent in."""
    return (
        snap.status is CollectionStatus.ACTIVE
        and snap.steps_done >= 1
        and snap.next_action_at is not None
        and snap.next_action_at > datetime.now(UTC) + timedelta(seconds=2)
    )


async def measure(bench: Latency, samples: int) -> dict[str, Any]:
    """Warm up, then the three paths, each sample interleaved with one of its floor."""
    total = samples + WARMUP
    start_ms: list[float] = []
    confirmed_ms: list[float] = []
    floor_start_ms: list[float] = []
    floors: list[WorkflowHandle[Any, Any]] = []
    started: list[dict[str, Any]] = []
    log(f"(a) start: {total} samples (first {WARMUP} dropped)")
    for i in range(total):
        record = bench.record()
        # Which goes first alternates: neither gets the other's wake-up or warm cache.
        if i % 2:
            floor_ms, handle = await bench.floor_start_sample()
            answered, confirmed = await bench.start_sample(record)
        else:
            answered, confirmed = await bench.start_sample(record)
            floor_ms, handle = await bench.floor_start_sample()
        started.append(record)
        floors.append(handle)
        if i >= WARMUP:
            start_ms.append(answered)
            confirmed_ms.append(confirmed)
            floor_start_ms.append(floor_ms)

    log(f"setting up {2 * total} campaigns for (c)")
    stoppers = await bench.setup_campaigns(total, sms_only=True)
    promisers = await bench.setup_campaigns(total, sms_only=False)
    log("waiting until every campaign has made its first touch")
    await bench.until_waiting(started + stoppers + promisers, within=120)

    paths: dict[str, dict[str, list[float]]] = {}
    for kind, records in (("payment", started), ("stop", stoppers), ("promise", promisers)):
        log(f"({'b' if kind == 'payment' else 'c'}) {kind}: {total} samples")
        found: dict[str, list[float]] = {"recoup": [], "floor": [], "http": []}
        for i, (record, handle) in enumerate(zip(records, floors, strict=True)):
            floor: float | None = None
            floor_first = i % 2 == 1
            if floor_first:
                floor = await bench.floor_signal_sample(kind, handle)
            result = await (
                bench.payment_sample(record)
                if kind == "payment"
                else bench.reply_sample(kind, record)
            )
            if not floor_first:
                floor = await bench.floor_signal_sample(kind, handle)
            if i < WARMUP or result is None:
                continue
            latency, answered = result
            found["http"].append(answered)
            if latency is not None:
                found["recoup"].append(latency)
            if floor is not None:
                found["floor"].append(floor)
        paths[kind] = found

    for handle in floors:
        await handle.signal("close")
    start = compare(start_ms, floor_start_ms)
    start["start_confirmed_ms"] = summary(confirmed_ms)
    start["target_p95_ms"] = TARGET_START_P95_MS
    start["target_met"] = float(start["recoup_ms"]["p95"]) < TARGET_START_P95_MS
    payment = compare(paths["payment"]["recoup"], paths["payment"]["floor"])
    payment["webhook_answer_ms"] = summary(paths["payment"]["http"])
    payment["target_ms"] = TARGET_PAYMENT_MS
    payment["target_met"] = float(payment["recoup_ms"].get("p95", math.inf)) < TARGET_PAYMENT_MS
    replies: dict[str, Any] = {}
    for kind in ("stop", "promise"):
        replies[kind] = compare(paths[kind]["recoup"], paths[kind]["floor"])
        replies[kind]["webhook_answer_ms"] = summary(paths[kind]["http"])
    return {"start": start, "payment": payment, "reply": replies}


def _api_args(profile: Path | None) -> list[str]:
    """``recoup api`` (HTTP only), or the same under pyinstrument (``serve_api_profiled``)."""
    if profile is None:
        return ["-m", "cli.main", "api", "--no-grpc"]
    return ["-m", "bench.latency", "--serve-api-profiled", str(profile.resolve())]


def serve_api_profiled(path: Path) -> None:
    """``recoup api --no-grpc`` under pyinstrument; the report is written when it stops.

    Not ``python -m pyinstrument -m cli.main``: ``cli.main`` leaves with ``os._exit``,
    before a profiler wrapped around it could write anything.
    """
    from pyinstrument import Profiler

    from cli.api import api

    profiler = Profiler(async_mode="disabled")
    profiler.start()
    try:
        api(host=None, port=None, grpc_port=None, grpc=False, openapi=False)
    finally:
        profiler.stop()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))


async def run_latency(
    samples: int = 100,
    day_seconds: float = 120.0,
    poll_ms: float = 5.0,
    profile_api: Path | None = None,
) -> dict[str, Any]:
    """Start the stack, measure every path and its floor: the result."""
    began = time.monotonic()
    async with AsyncExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recoup-latency-")))
        twilio = TwilioSimulator(
            TWILIO_SID, TWILIO_TOKEN, answer_rate=1.0, machine_rate=0.0, ring_seconds=0.0
        )
        server, settings = await simulated_stack(
            stack,
            root,
            "latency",
            twilio,
            call_poll_seconds=0.05,
            api_port=free_port(),
            # One client, one sample at a time: the tenant's rate limit is not what is measured.
            api_rate_per_second=10_000,
            api_burst=10_000,
        )
        client = await connect(settings)  # also makes the key ring the children read
        floor_client = await Client.connect(server.address)
        tenant, token = new_tenant(settings, "latency")

        floor_queue = f"latency-floor-{uuid.uuid4().hex[:8]}"
        env = api_env(settings)
        children = [
            Child(
                "recoup worker",
                ["-m", "cli.main", "worker"],
                env,
                root / "worker.log",
                "worker serving",
            ),
            Child(
                "recoup api",
                _api_args(profile_api),
                env,
                root / "api.log",
                "HTTP API on",
            ),
            Child(
                "floor worker",
                [
                    "-m",
                    "bench.latency",
                    "--serve-floor",
                    "--address",
                    server.address,
                    "--task-queue",
                    floor_queue,
                    "--max-activities",
                    str(settings.max_concurrent_activities),
                    "--max-workflow-tasks",
                    str(settings.max_concurrent_workflow_tasks),
                ],
                dict(os.environ),
                root / "floor.log",
                "floor worker serving",
            ),
        ]
        for child in children:
            await child.start()
            stack.push_async_callback(child.stop)
        log(f"stack up in {time.monotonic() - began:.1f} s: server, 4 simulators, worker, api")
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=settings.api_url, trust_env=False, timeout=30)
        )
        bench = Latency(
            settings,
            client,
            floor_client,
            floor_queue,
            http,
            tenant,
            token,
            day_seconds,
            poll_ms / 1000,
        )
        figures = await measure(bench, samples)
    return {
        "benchmark": "latency",
        **figures,
        "timeouts": bench.timeouts,
        "skipped_not_waiting": bench.skipped,
        "samples": samples,
        "warmup": WARMUP,
        "day_seconds": day_seconds,
        "poll_ms": poll_ms,
        "profiled_api": profile_api is not None,
        "playbook": "standard",
        "elapsed_s": round(time.monotonic() - began, 1),
        "machine": machine(),
        "cpus": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=100, help="samples per path (100)")
    parser.add_argument(
        "--day-seconds", type=float, default=120.0, help="one playbook day, seconds (120)"
    )
    parser.add_argument("--poll-ms", type=float, default=5.0, help="query polling interval (5)")
    parser.add_argument(
        "--profile-api", type=Path, help="run the API under pyinstrument; its report goes here"
    )
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-api-profiled", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--task-queue", help=argparse.SUPPRESS)
    parser.add_argument("--max-activities", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--max-workflow-tasks", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_api_profiled is not None:
        serve_api_profiled(args.serve_api_profiled)
        return
    if args.serve_floor:
        asyncio.run(
            serve_floor(args.address, args.task_queue, args.max_activities, args.max_workflow_tasks)
        )
        return
    result = asyncio.run(
        run_latency(args.samples, args.day_seconds, args.poll_ms, args.profile_api)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
