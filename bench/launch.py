"""Launch: the memory and time of ``recoup campaign launch`` at N rows against a small file.

Run: ``.venv/bin/python -m bench.launch [--rows 100000] [--baseline-rows 1000]
[--bad-every 0] [--sqlite]``

The launch command as an operator types it, in a child process: parse and validate a
CSV file, stage its accounts in SQL, index their contacts, start the ``Portfolio``
workflow (no worker runs: the launch ends once the workflow is started). It runs twice
in the same run, on the same dev server and database: on a ``--baseline-rows`` file
and on a ``--rows`` file, both written like ``bench.scale``'s portfolio file
(``--bad-every K`` makes every K-th row bad, so the error path is measured too).

Peak RSS is the child's own ``ru_maxrss`` (``wait4``), exact rather than sampled.
Prints one JSON line: ``peak_rss_mib`` and ``launch_s`` at ``--rows``, the same at the
baseline, ``rss_ratio`` (a launch that streams keeps memory flat in the number of rows,
so the ratio is near 1), ``goal_rss_mib_max`` (300, issue 17) and ``meets_goal``.

It starts what it needs: a dev server (its own SQLite file, a free port) and a fresh
PostgreSQL database on 127.0.0.1:5432, dropped afterwards (``--sqlite``: the staging
store in the temp directory instead).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import sys
import tempfile
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime
from pathlib import Path

from bench.common import create_database, drop_database, machine, recoup_env, run_command
from bench.scale import playbook_yaml, write_csv
from bootstrap.client import connect
from bootstrap.devserver import free_port, start_dev_server
from bootstrap.settings import Settings
from cli.common import EXIT_PARTIAL
from simulators.zones import most_awake

TENANT = "launch"
GOAL_RSS_MIB = 300


def log(message: str) -> None:
    print(f"[launch] {message}", file=sys.stderr, flush=True)


def spoil(path: Path, every: int) -> int:
    """Make every ``every``-th data row bad (an amount that is not a number); returns how
    many. Rewritten line by line, so the benchmark itself stays small too."""
    spoiled = path.with_suffix(".tmp")
    bad = 0
    with path.open(newline="") as src, spoiled.open("w", newline="") as out:
        reader, writer = csv.reader(src), csv.writer(out)
        writer.writerow(next(reader))
        for number, row in enumerate(reader, start=1):
            if number % every == 0:
                row[3] = "twelve"  # amount_due
                bad += 1
            writer.writerow(row)
    spoiled.replace(path)
    return bad


def launch(csv_path: Path, playbook: Path, env: dict[str, str], log_path: Path) -> dict[str, float]:
    """``recoup campaign launch FILE``; its wall time and peak RSS (the child's own)."""
    run = run_command(
        [
            "cli.main",
            "campaign",
            "launch",
            str(csv_path),
            "--playbook",
            str(playbook),
            "--tenant",
            TENANT,
            "--day-seconds",
            "60",
            "--as-of",
            date.today().isoformat(),
        ],
        env,
        log_path,
        # EXIT_PARTIAL: launched, some rows rejected (--bad-every); anything else failed.
        ok=(0, EXIT_PARTIAL),
    )
    return {
        "launch_s": run["seconds"],
        "peak_rss_mib": run["peak_rss_mib"],
        "cpu_s": run["cpu_s"],
        "exit_code": run["exit_code"],
    }


async def run_launch(args: argparse.Namespace) -> dict[str, object]:
    async with AsyncExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recoup-launch-")))
        server = await start_dev_server(
            port=free_port(), ui_port=None, db_file=root / "temporal.db", log_file=root / "t.log"
        )
        stack.push_async_callback(server.stop)
        database_url: str | None = None
        if not args.sqlite:
            name, database_url = await asyncio.to_thread(create_database, "recoup_launch")
            stack.push_async_callback(asyncio.to_thread, drop_database, name)
        settings = Settings(
            temporal_address=server.address,
            task_queue_suffix=f"-launch-{uuid.uuid4().hex[:8]}",
            data_dir=root / "recoup",
            database_url=database_url,
        )
        settings.data_dir.mkdir(parents=True)
        await connect(settings)  # makes the key ring the launch command then shares
        env = {**recoup_env(settings), "PYTHONUNBUFFERED": "1"}
        playbook = root / "launch.yaml"
        playbook.write_text(playbook_yaml())
        zone = most_awake(datetime.now(UTC))

        figures: dict[str, dict[str, float]] = {}
        for label, rows in (("baseline", args.baseline_rows), ("rows", args.rows)):
            tag = f"l{uuid.uuid4().hex[:6]}"
            path = root / f"portfolio-{tag}.csv"
            write_csv(path, rows, tag, zone)
            bad = spoil(path, args.bad_every) if args.bad_every else 0
            log(f"launching {rows} rows ({bad} bad, {path.stat().st_size} bytes of CSV)")
            figure = await asyncio.to_thread(launch, path, playbook, env, root / "launch.log")
            figure["bad_rows"] = bad
            figure["bytes"] = path.stat().st_size
            path.unlink()
            log(f"{label}: {figure}")
            figures[label] = figure

    big, small = figures["rows"], figures["baseline"]
    return {
        "rows": args.rows,
        "peak_rss_mib": big["peak_rss_mib"],
        "launch_s": big["launch_s"],
        "cpu_s": big["cpu_s"],
        "rows_per_s": round(args.rows / big["launch_s"], 1),
        "bad_rows": big["bad_rows"],
        "file_bytes": big["bytes"],
        "baseline_rows": args.baseline_rows,
        "baseline_peak_rss_mib": small["peak_rss_mib"],
        "baseline_launch_s": small["launch_s"],
        "rss_ratio": round(big["peak_rss_mib"] / small["peak_rss_mib"], 3),
        "goal_rss_mib_max": GOAL_RSS_MIB,
        "meets_goal": big["peak_rss_mib"] < GOAL_RSS_MIB,
        "store": "sqlite" if args.sqlite else "postgresql",
        "machine": machine(),
        "cpus": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the big file (100000)")
    parser.add_argument(
        "--baseline-rows", type=int, default=1_000, help="rows of the small file (1000)"
    )
    parser.add_argument(
        "--bad-every", type=int, default=0, help="make every K-th row bad (0: none)"
    )
    parser.add_argument("--sqlite", action="store_true", help="stage in SQLite")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run_launch(args))))


if __name__ == "__main__":
    main()
