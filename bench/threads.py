"""A worker's CPU by thread, so that a benchmark can say where the time goes.

A Temporal Python worker spends its CPU in four kinds of thread:

- ``loop``: the asyncio event loop (async activities, the SDK's Python bridge, payload
  conversion and the codec);
- ``workflow``: the pool that runs workflow activations (the workflow code, and the
  sandbox re-importing workflow modules for each run);
- ``blocking``: the default executor behind ``asyncio.to_thread`` (Recoup's SQL: the
  contact ledger, audit chain, event log, read model, suppression store);
- ``core``: the SDK's Rust core (``tokio-rt-worker`` and its other threads: gRPC to
  the server, history and task bookkeeping).

CPython does not name its threads, so the process being measured records which of its
threads is which (``register``, ``registering``) in the file named by
``$BENCH_THREAD_REGISTRY``, and the benchmark reads ``/proc/<pid>/task`` against it
(``cpu_by_kind``). Python threads nobody registered are ``other``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

REGISTRY_ENV = "BENCH_THREAD_REGISTRY"
KINDS = ("loop", "workflow", "blocking", "core", "other")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_lock = threading.Lock()


def register(kind: str) -> None:
    """Record the calling thread as ``kind`` (nothing when no registry is set)."""
    path = os.environ.get(REGISTRY_ENV)
    if not path:
        return
    with _lock, open(path, "a") as registry:
        registry.write(f"{kind} {threading.get_native_id()}\n")


def registering(kind: str) -> Callable[[], None]:
    """An executor ``initializer`` that records each of the pool's threads as ``kind``."""
    return lambda: register(kind)


def _registered(registry: Path) -> dict[int, str]:
    if not registry.exists():
        return {}
    found: dict[int, str] = {}
    for line in registry.read_text().splitlines():
        kind, _, tid = line.partition(" ")
        found[int(tid)] = kind
    return found


def cpu_by_kind(pid: int, registry: Path) -> dict[str, float]:
    """CPU seconds (user + system) of ``pid``'s live threads, summed by kind.

    Threads that ended are gone from ``/proc``: measure while the worker runs, and
    use differences between two calls (a pool keeps its threads)."""
    kinds = _registered(registry)
    totals = dict.fromkeys(KINDS, 0.0)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # ended between the listing and the read
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rpartition(")")[2].split()
        seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        tid = int(task.name)
        kind = kinds.get(tid)
        if kind is None:
            kind = "other" if comm == "python" or comm.startswith("python") else "core"
        totals[kind] += seconds
    return totals


def difference(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: round(after.get(k, 0.0) - before.get(k, 0.0), 3) for k in KINDS}


# What a sample of the event loop was doing, by the first match in its stack (leaf to
# root is not needed: an activity's HTTP call is the activity's, whoever runs it).
_PARTS = (
    (
        "agents (activities and their adapters: HTTP, SMTP, SQL calls)",
        ("/activities/", "/adapters/"),
    ),
    ("event export (workers/export.py)", ("/workers/export.py",)),
    ("codec (compress, encrypt)", ("/bootstrap/codec.py",)),
    ("sandbox (workflow module imports)", ("/workflow_sandbox/",)),
    ("payload conversion", ("/temporalio/converter",)),
)
_IDLE_LEAVES = {"select", "poll", "get", "wait", "acquire", "sleep"}


def loop_attribution(frame_records: list[tuple[list[str], float]]) -> dict[str, float]:
    """Busy seconds of a pyinstrument session's samples by part (``_PARTS``; the SDK's
    bridge, asyncio and the rest are ``other``); idle samples are left out."""
    parts = dict.fromkeys([name for name, _ in _PARTS] + ["other (SDK bridge, asyncio)"], 0.0)
    for stack, seconds in frame_records:
        leaf = stack[-1].split("\x00")[0] if stack else ""
        if leaf.rpartition(".")[2] in _IDLE_LEAVES and "<built-in>" in stack[-1]:
            continue
        where = "other (SDK bridge, asyncio)"
        for name, markers in _PARTS:
            if any(m in frame for frame in stack for m in markers):
                where = name
                break
        parts[where] += seconds
    return {name: round(seconds, 2) for name, seconds in parts.items()}
