"""Replies per second of ``recoup classify --in`` on one core: the combined reader vs the rules.

Run: ``.venv/bin/python -m bench.replies [--replies 20000]``

Every labelled reply in the repository, repeated to ``--replies`` lines, is read by the
real command in a child process pinned to one core (``taskset -c 0``), once with the
combined reader (the default: the shipped model under the rules' precedence) and once with
``--reader rules`` (the first edition, the same-run baseline), in alternating rounds; the
median round of each is reported. A one-line run of each measures the start-up (imports,
loading the model), which is reported apart and taken out of the steady rate. Also: the
peak RSS of each child, and what the model adds to an install (the wheels' files on
disk: wordllama, tokenizers, safetensors, numpy, the weights). Issue 19's goal is 2,000
replies/s on one core. Prints exactly one JSON line.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from bench.common import machine
from bootstrap.settings import REPO_ROOT

GOAL_PER_S = 2000
CHANNELS = {"sms", "email", "phone"}
# What the reader adds to an install: these distributions' files, and the weights.
ADDED = ("wordllama", "tokenizers", "safetensors", "numpy", "numpy.libs", "toml")


def _corpus(lines: int, into: Path) -> None:
    fixtures = REPO_ROOT / "tests" / "fixtures"
    files = [*sorted(fixtures.glob("replies-*/*.jsonl")), fixtures / "replies-train.jsonl"]
    rows = [json.loads(line) for f in files for line in f.read_text("utf-8").splitlines() if line]
    with into.open("w", encoding="utf-8") as out:
        for n in range(lines):
            row = rows[n % len(rows)]
            line = {k: row[k] for k in ("id", "text", "received_at")}
            if row.get("channel") in CHANNELS:  # the training file also has "call"
                line["channel"] = row["channel"]
            out.write(json.dumps(line))
            out.write("\n")


def _run(source: Path, reader: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one ``recoup classify --in`` on one core."""
    recoup = str(Path(sys.executable).with_name("recoup"))
    command = [recoup, "classify", "--in", str(source), "--out", os.devnull, "--reader", reader]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed: {child.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
    return wall, usage.ru_maxrss / 1024


def _site_bytes() -> dict[str, int]:
    site = Path(typer.__file__).resolve().parents[1]
    sizes = {}
    for name in ADDED:
        path = site / name
        if path.exists():
            sizes[name] = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    weights = REPO_ROOT / "adapters" / "reply_model.npz"
    sizes["reply_model.npz"] = weights.stat().st_size
    return sizes


def main(
    replies: Annotated[int, typer.Option(help="Lines in the file read per round.")] = 20000,
    rounds: Annotated[int, typer.Option(help="Alternating rounds of each reader.")] = 3,
) -> None:
    """Replies/s of recoup classify --in, combined reader vs rules, one JSON line."""
    with tempfile.TemporaryDirectory() as tmp:
        big, one = Path(tmp) / "replies.jsonl", Path(tmp) / "one.jsonl"
        _corpus(replies, big)
        _corpus(1, one)
        results: dict[str, dict[str, Any]] = {}
        for reader in ("combined", "rules"):
            _run(one, reader)  # warm the file cache
            startup = statistics.median(_run(one, reader)[0] for _ in range(3))
            results[reader] = {"startup_s": round(startup, 3), "walls": [], "rss": 0.0}
        for _ in range(rounds):
            for reader in ("combined", "rules"):
                wall, rss = _run(big, reader)
                results[reader]["walls"].append(wall)
                results[reader]["rss"] = max(results[reader]["rss"], rss)
    figures: dict[str, Any] = {}
    for reader, r in results.items():
        wall = statistics.median(r["walls"])
        steady = max(1e-9, wall - r["startup_s"])
        figures[reader] = {
            "replies_per_s": round(replies / steady, 1),
            "replies_per_s_with_startup": round(replies / wall, 1),
            "startup_s": r["startup_s"],
            "peak_rss_mib": round(r["rss"], 1),
        }
    added = _site_bytes()
    rate = figures["combined"]["replies_per_s"]
    print(
        json.dumps(
            {
                "benchmark": "replies",
                "machine": machine(),
                "replies": replies,
                "rounds": rounds,
                "one_core": bool(shutil.which("taskset")),
                "combined": figures["combined"],
                "rules": figures["rules"],
                "ratio": round(rate / figures["rules"]["replies_per_s"], 3),
                "goal_replies_per_s": GOAL_PER_S,
                "meets_goal": rate >= GOAL_PER_S,
                "install_added_mib": round(sum(added.values()) / 2**20, 1),
                "install_added": {k: round(v / 2**20, 1) for k, v in added.items()},
            }
        )
    )


if __name__ == "__main__":
    typer.run(main)
