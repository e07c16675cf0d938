"""``bench.latency``: its figures, one small run end to end, and the fix it led to.

The end-to-end run starts its own dev server, simulators, ``recoup worker`` and
``recoup api`` (as the benchmark does) and takes a few samples of every path: every
webhook must be accepted and every state change seen. No latency is asserted: the
figures depend on the machine.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from temporalio.client import Client

from bench.latency import compare, percentile, run_latency, summary
from bootstrap.settings import Settings
from service.operations import InvalidInput, RecoupService


def test_percentiles_interpolate_between_closest_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0) == 1
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7
    figures = summary([30.0, 10.0, 20.0])  # unsorted in, sorted inside
    assert figures == {"n": 3, "mean": 20.0, "p50": 20.0, "p95": 29.0, "p99": 29.8, "max": 30.0}
    assert summary([]) == {"n": 0}


def test_the_ratio_is_the_floor_p95_over_recoup_p95() -> None:
    result = compare([40.0] * 10, [10.0] * 10)
    assert result["ratio"] == 0.25
    assert result["overhead_p95_ms"] == 30.0
    assert "ratio" not in compare([], [10.0])  # nothing measured: no ratio


async def test_a_small_run_measures_every_path_with_no_timeout() -> None:
    result = await run_latency(samples=3, day_seconds=120.0, poll_ms=5.0)
    assert result["timeouts"] == {} and result["skipped_not_waiting"] == {}
    start = result["start"]
    assert start["recoup_ms"]["n"] == start["floor_ms"]["n"] == 3
    assert start["start_confirmed_ms"]["n"] == 3
    assert result["payment"]["recoup_ms"]["n"] == result["payment"]["floor_ms"]["n"] == 3
    for kind in ("stop", "promise"):
        reply = result["reply"][kind]
        assert reply["recoup_ms"]["n"] == reply["floor_ms"]["n"] == 3
        assert reply["ratio"] > 0
    assert result["cpus"] and result["machine"] and result["python"]


async def test_an_edited_playbook_is_read_again_by_the_next_start(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    # The API keeps parsed playbooks (bench.latency found parsing dominated a start);
    # an operator's edit on disk must still reach the next campaign.
    books = tmp_path / "playbooks"
    books.mkdir()
    shutil.copy(settings.playbook_dir / "standard.yaml", books / "standard.yaml")
    service = RecoupService.build(client, settings.model_copy(update={"playbook_dir": books}))
    try:
        first = service._playbook("standard")
        assert service._playbook("standard") is first  # parsed once
        text = (books / "standard.yaml").read_text()
        edited = text.replace("promise_grace_days: 7", "promise_grace_days: 10")
        (books / "standard.yaml").write_text(edited)
        assert service._playbook("standard").promise_grace_days == 10
        (books / "standard.yaml").unlink()
        with pytest.raises(InvalidInput):
            service._playbook("standard")  # gone: not served from the cache
    finally:
        service.close()
