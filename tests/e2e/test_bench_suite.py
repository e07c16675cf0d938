"""``bench/run``: every benchmark's JSON line is kept, and a failing one does not stop the rest."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.report import latest, table
from bench.report import main as report_main
from bench.suite import BUDGET_MARGIN_S, ROOT, last_json_line, run_stopping_all, timeout_for


def run_suite(*args: str, results: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "bench" / "run"), *args, "--results-dir", str(results)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def records(results: Path) -> list[dict[str, object]]:
    (path,) = results.glob("*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_benchmark_result_is_appended_with_what_identifies_the_run(tmp_path: Path) -> None:
    done = run_suite("--only", "compliance_gate", "--quick", results=tmp_path)
    assert done.returncode == 0, done.stderr
    (record,) = records(tmp_path)
    assert record["benchmark"] == "compliance_gate"
    assert record["ok"] is True and record["exit_code"] == 0
    assert record["command"] == "python -m bench.compliance_gate --seconds 1"
    result = record["result"]
    assert isinstance(result, dict)
    assert result["decisions_per_s"] > 0
    # A second run the same day appends to the same file.
    assert run_suite("--only", "compliance_gate", "--quick", results=tmp_path).returncode == 0
    assert len(records(tmp_path)) == 2
    # docs/PERFORMANCE.md's table is made from the last successful record.
    newest = records(tmp_path)[-1]["result"]
    assert isinstance(newest, dict)
    markdown = table(latest(tmp_path.glob("*.jsonl")))
    (row,) = [line for line in markdown.splitlines() if line.startswith("| `compliance_gate`")]
    assert f"| {newest['decisions_per_s']:,.0f} |" in row
    assert f"| {newest['ratio']:,.2f} |" in row
    assert "`python -m bench.compliance_gate --seconds 1`" in markdown


def test_a_failing_benchmark_is_recorded_and_the_suite_goes_on_and_fails(tmp_path: Path) -> None:
    # export runs before compliance_gate (the suite's order), and fails on its arguments.
    done = run_suite(
        "--only", "compliance_gate", "export", "--quick",
        "--args", "export=--messages nope",
        results=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    failed, second = records(tmp_path)
    assert failed["benchmark"] == "export"
    assert failed["ok"] is False and failed["exit_code"] == 2
    assert failed["error"] == "exited with status 2" and failed["result"] is None
    assert second["benchmark"] == "compliance_gate" and second["ok"] is True
    assert "no: exited with status 2" in done.stderr  # the summary table names the failure


def test_unknown_benchmark_names_are_refused_before_anything_runs(tmp_path: Path) -> None:
    done = run_suite("--args", "nope=--x 1", results=tmp_path)
    assert done.returncode == 2
    assert "NAME one of engine" in done.stderr
    assert not list(tmp_path.glob("*.jsonl"))


def test_the_result_is_the_last_json_object_printed() -> None:
    out = 'warming up\n{"a": 1}\nnot json {\n{"b": 2}\n[1, 2]\n'
    assert last_json_line(out) == {"b": 2}
    assert last_json_line("no result\n") is None


def test_a_results_file_that_cannot_be_read_is_named_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "2026-12-03.jsonl"
    broken.write_text('{"benchmark": "engine", "ok": false, "result": null}\n{"truncated\n')
    assert report_main([str(broken)]) == 2
    assert f"{broken}:2: not JSON" in capsys.readouterr().err
    assert report_main([str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: No such file or directory" in capsys.readouterr().err


def test_a_policy_run_after_a_warm_up_sits_beside_a_cold_one(tmp_path: Path) -> None:
    def policy_record(warm_up: int, adaptive: float) -> str:
        population = {
            "recovered_per_contact": {"fixed": 100.0, "adaptive": adaptive},
            "ratio": adaptive / 100,
        }
        result = {"benchmark": "policy", "warm_up": warm_up, "populations": {"cards": population}}
        record = {"benchmark": "policy", "ok": True, "command": "c", "started_at": "t"}
        return json.dumps({**record, "result": result})

    (tmp_path / "2026-12-07.jsonl").write_text(
        "\n".join([policy_record(0, 90.0), policy_record(100, 140.0), policy_record(0, 95.0)])
    )
    found = latest(tmp_path.glob("*.jsonl"))
    assert set(found) == {"policy", "policy_warm"}
    rows = [line for line in table(found).splitlines() if "recovered per contact" in line]
    assert any("| cards: recovered per contact, adaptive | 95.00 |" in row for row in rows)
    warm = "| cards after a 100-account warm-up: recovered per contact, adaptive | 140.00 |"
    assert any(warm in row for row in rows)


def test_a_benchmark_with_a_longer_budget_is_given_the_time_for_it() -> None:
    assert timeout_for(["--accounts", "10"], 2700) == 2700
    assert timeout_for(["--budget", "4800"], 2700) == 4800 + BUDGET_MARGIN_S
    assert timeout_for(["--budget=600"], 2700) == 2700


def test_a_benchmark_stopped_at_its_limit_takes_what_it_started_with_it() -> None:
    """A benchmark's dev server and worker must not outlive it and load the next one."""
    spawns = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    began = time.monotonic()
    exit_code, out = run_stopping_all([sys.executable, "-c", spawns], timeout=2)
    assert exit_code is None
    assert time.monotonic() - began < 30  # interrupted, not waited for
    child = int(out.split()[0])
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)


def alive(pid: int) -> bool:
    """Running: not gone and not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status
