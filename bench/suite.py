"""Run every benchmark and keep its JSON line: what ``bench/run`` executes.

Run: ``bench/run [--quick] [--only NAME ...] [--skip NAME ...] [--results-dir DIR]``

Each benchmark runs in a process of its own (``python -m bench.<name>``), one after
the other so they do not compete for the machine's cores, with the arguments in
``BENCHMARKS`` (``--quick``: smaller ones, for a smoke run). Its progress goes to
this terminal; its one JSON line is appended, wrapped with what is needed to
compare runs later (commit, start time, duration, exit status, command), to
``<results-dir>/<UTC date>.jsonl`` (default ``bench/results``). A benchmark that
fails or prints no JSON line is recorded as failed and the suite goes on; the
exit status is 1 when any failed. A summary table goes to stderr at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
# A benchmark that runs longer than this is stopped and recorded as failed.
TIMEOUT_S = 45 * 60


@dataclass(frozen=True)
class Benchmark:
    name: str
    what: str
    args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ()


# In the order of the issue: the engine and its floor first, the broker-free parts last.
BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("engine", "standard campaign vs bare-workflow floor; actions per account", (),
              ("--accounts", "40", "--rounds", "1")),
    Benchmark("latency", "trigger, payment and reply latencies vs raw Temporal round trips", (),
              ("--samples", "10")),
    Benchmark("scale", "a portfolio from a CSV file: launch rate, RSS, window, histories", (),
              ("--accounts", "200", "--baseline", "300")),
    Benchmark("launch", "recoup campaign launch of a 100,000-row CSV: peak RSS, time vs 1,000 rows",
              (), ("--rows", "5000", "--baseline-rows", "500")),
    Benchmark("export", "messages/s through each broker sink vs the raw client", (),
              ("--messages", "2000", "--rounds", "2")),
    Benchmark("compliance_gate", "gate decisions/s, 200 (and 300) past contacts vs empty", (),
              ("--seconds", "1")),
    Benchmark("ledger", "contacts/s into ledger + audit chain: group commit vs one at a time",
              (), ("--contacts", "300", "--rounds", "1")),
    Benchmark("payloads", "a campaign's activity inputs, deflated: what references could save",
              (), ()),
    Benchmark("send_gap", "last suppression-store check → provider call, vs scheduling snapshot",
              (), ("--accounts", "30")),
    Benchmark("chaos", "SIGKILLed workers: exactly-once contacts, throughput kept", (),
              ("--accounts", "100", "--kills", "2")),
    Benchmark("replies", "recoup classify --in on one core: combined reader vs rules, RSS, size",
              (), ("--replies", "2000", "--rounds", "1")),
    Benchmark("policy", "adaptive vs fixed cadence, recovered per contact",
              ("--accounts", "100", "--seeds", "1,2,3"), ("--accounts", "100", "--seed", "2")),
)  # fmt: skip
NAMES = tuple(b.name for b in BENCHMARKS)


def commit() -> str | None:
    """The checkout's commit, with ``+dirty`` when it has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+dirty" if dirty else head


def last_json_line(stdout: str) -> dict[str, Any] | None:
    """The benchmark's result: the last stdout line that is a JSON object."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(parsed, dict):
                return parsed
    return None


# What a benchmark given ``--budget S`` may take beyond S: set-up, the baseline, reading
# histories afterwards.
BUDGET_MARGIN_S = 30 * 60


def timeout_for(args: Sequence[str], timeout: float) -> float:
    """``timeout``, or more when the benchmark's own ``--budget`` says it runs longer: a
    budget of two hours must not be cut at the suite's 45 minutes, losing its figures."""
    budgets = [float(b) for a, b in itertools.pairwise(args) if a == "--budget"]
    budgets += [float(a.split("=", 1)[1]) for a in args if a.startswith("--budget=")]
    return max([timeout, *(b + BUDGET_MARGIN_S for b in budgets)])


# How long a benchmark stopped at its time limit has to clean up after itself (stop its
# servers and workers, drop its database) before all its processes are killed.
STOP_GRACE_S = 60.0


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_stopping_all(command: Sequence[str], timeout: float) -> tuple[int | None, str]:
    """Run ``command``; its exit code (None: stopped at ``timeout``) and stdout.

    The benchmark runs in a process group of its own, so that stopping it stops what it
    started too: a dev server and a worker left running would load the machine under the
    next benchmark. It is first interrupted (SIGINT: its own clean-up runs), and what is
    left of the group is killed ``STOP_GRACE_S`` later. stderr is inherited: the
    benchmark's progress shows as it runs.
    """
    with subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # A suite started in the background inherits SIGINT ignored, and so would the
        # benchmark, which could then not be interrupted to clean up.
        preexec_fn=_interruptible,
    ) as process:
        try:
            out, _ = process.communicate(timeout=timeout)
            return process.returncode, out
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            # The process, not its stdout: what it started may hold that open.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_GRACE_S)
            _kill_group(process)
            out, _ = process.communicate()  # with what was read before the limit
            return None, out
        except BaseException:  # Ctrl-C on the suite: the benchmark is not in its group
            process.send_signal(signal.SIGINT)
            raise
        finally:
            _kill_group(process)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run_one(bench: Benchmark, args: Sequence[str], timeout: float) -> dict[str, Any]:
    command = [sys.executable, "-m", f"bench.{bench.name}", *args]
    started = datetime.now(UTC)
    # What runs is the checkout as the benchmark starts: commits made while it runs (it
    # can take half an hour) are not in its figures.
    ran = commit()
    t0 = time.perf_counter()
    error: str | None = None
    exit_code, out = run_stopping_all(command, timeout)
    if exit_code is None:
        error = f"stopped after {timeout:g} s"
    result = last_json_line(out)
    if error is None and exit_code != 0:
        error = f"exited with status {exit_code}"
    if error is None and result is None:
        error = "printed no JSON line"
    return {
        "benchmark": bench.name,
        "started_at": started.isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - t0, 1),
        "commit": ran,
        "command": shlex.join(["python", *command[1:]]),
        "exit_code": exit_code,
        "ok": error is None,
        "error": error,
        "result": result,
    }


def ratios(result: dict[str, Any] | None) -> str:
    """The top-level ratios of a result, which is what each benchmark is judged by."""
    if not result:
        return ""
    found = [
        f"{key}={value:g}"
        for key, value in result.items()
        if "ratio" in key
        and not key.startswith("goal")  # the target, not a figure
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ]
    return ", ".join(found)


def summary(records: Sequence[dict[str, Any]], path: Path) -> Table:
    table = Table(title=f"benchmarks → {path}")
    # Only the ratios may wrap: a failure's reason must read whole at 80 columns.
    for column in ("benchmark", "ok", "seconds"):
        table.add_column(column, no_wrap=True)
    table.add_column("ratios")
    for r in records:
        ok = "yes" if r["ok"] else f"[red]no: {r['error']}[/red]"
        table.add_row(r["benchmark"], ok, f"{r['elapsed_s']:g}", ratios(r["result"]))
    return table


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    listing = "\n".join(f"  {b.name:16} {b.what}" for b in BENCHMARKS)
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog=f"benchmarks, in the order they run:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME", help="run only these")
    parser.add_argument("--skip", nargs="+", choices=NAMES, metavar="NAME", default=[])
    parser.add_argument(
        "--args",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="extra arguments for one benchmark, e.g. --args 'scale=--accounts 100000'",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per benchmark")
    args = parser.parse_args(argv)
    extra: dict[str, list[str]] = {}
    for item in args.args:
        name, sep, rest = item.partition("=")
        if not sep or name not in NAMES:
            parser.error(f"--args {item!r}: expected NAME=ARGS with NAME one of {', '.join(NAMES)}")
        extra.setdefault(name, []).extend(shlex.split(rest))
    args.extra = extra
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    chosen = [
        b
        for b in BENCHMARKS
        if (args.only is None or b.name in args.only) and b.name not in args.skip
    ]
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"{datetime.now(UTC).date().isoformat()}.jsonl"
    console = Console(stderr=True)
    records = []
    for bench in chosen:
        bench_args = [
            *(bench.quick_args if args.quick else bench.args),
            *args.extra.get(bench.name, []),
        ]
        console.rule(f"bench.{bench.name} {shlex.join(bench_args)}")
        record = run_one(bench, bench_args, timeout_for(bench_args, args.timeout))
        records.append(record)
        # Appended as each finishes, so an interrupted suite keeps what it measured.
        with path.open("a") as out:
            out.write(json.dumps(record) + "\n")
    console.print(summary(records, path))
    return 0 if all(r["ok"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
