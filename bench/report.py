"""The table of latest figures in docs/PERFORMANCE.md, from ``bench/results/*.jsonl``.

Run: ``.venv/bin/python -m bench.report [FILE.jsonl ...]`` (default: every results file)

For each benchmark, the last successful record wins; its headline figures are printed
as Markdown rows (figure, Recoup, baseline, ratio, goal), with the commit, date and
machine each came from, so the document can be regenerated rather than retyped.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.suite import RESULTS_DIR

Row = tuple[str, str, str, str, str]
Record = dict[str, Any]


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _ms(seconds: Any) -> str:
    return "–" if seconds is None else f"{float(seconds) * 1000:.0f} ms"


def engine(r: Record) -> list[Row]:
    cost = r.get("cost", {})
    worker, server = r["worker_cpu_s_per_account"], r["server_cpu_s_per_account"]
    return [
        (
            "standard campaign, accounts/s",
            _n(r["campaign_accounts_per_s"], 2),
            f"{_n(r['floor_accounts_per_s'], 2)} (bare floor)",
            _n(r["ratio"], 2),
            "≥ 0.7 (stretch 0.8)",
        ),
        (
            "worker CPU per account",
            _ms(worker["campaign"]),
            _ms(worker["floor"]),
            _n(worker["campaign"] / worker["floor"], 1),
            "≤ 2×",
        ),
        (
            "server CPU per account",
            _ms(server["campaign"]),
            _ms(server["floor"]),
            _n(server["campaign"] / server["floor"], 1),
            "≤ 1.4×",
        ),
        (
            "Temporal actions per account",
            _n(cost.get("campaign_actions_per_account")),
            _n(cost.get("floor_actions_per_account")),
            _n(cost.get("ratio"), 2),
            "≤ 1.5",
        ),
        *_stored(cost.get("stored_per_account")),
    ]


def _stored(stored: dict[str, dict[str, float]] | None) -> list[Row]:
    """What the server wrote and keeps per account (records before 2026-12-06 lack it)."""
    if not stored:
        return []
    campaign, floor = stored["campaign"], stored["floor"]
    return [
        (
            "state transitions (persistence writes) per account",
            _n(campaign["state_transitions"]),
            _n(floor["state_transitions"]),
            _n(campaign["state_transitions"] / floor["state_transitions"], 2),
            "",
        ),
        (
            "history per account: events, KB",
            f"{_n(campaign['history_events'], 0)}, {campaign['history_bytes'] / 1000:.1f}",
            f"{_n(floor['history_events'], 0)}, {floor['history_bytes'] / 1000:.1f}",
            "",
            "≤ 25 KB " + ("✓" if campaign["history_bytes"] <= 25_000 else "✗"),
        ),
    ]


def latency(r: Record) -> list[Row]:
    paths = [
        ("HTTP start → workflow started", r.get("start"), "P95 < 100 ms"),
        ("payment webhook → PAID, nothing scheduled", r.get("payment"), "< 500 ms"),
        ("inbound STOP → SMS opted out", r.get("reply", {}).get("stop"), ""),
        ("inbound promise → follow-up planned", r.get("reply", {}).get("promise"), ""),
    ]
    rows: list[Row] = []
    for name, figures, goal in paths:
        if not figures or not figures.get("recoup_ms", {}).get("n"):
            continue
        mine, base = figures["recoup_ms"], figures["floor_ms"]
        met = figures.get("target_met")
        rows.append(
            (
                f"{name}: P50 / P95 / P99 ms",
                f"{mine['p50']:.0f} / {mine['p95']:.0f} / {mine['p99']:.0f}",
                f"{base['p50']:.0f} / {base['p95']:.0f} / {base['p99']:.0f} (raw Temporal)",
                _n(figures.get("ratio"), 2),
                goal + ("" if met is None else (" ✓" if met else " ✗")),
            )
        )
    return rows


def scale(r: Record) -> list[Row]:
    progress: list[Row]
    if r.get("launch_only") and "max_open_observed" in r:
        progress = _launcher_launch(r)
    elif r.get("launch_only"):
        # Stopped after its budget: what was started by then, and the extrapolation.
        progress = [
            (
                f"{r['accounts']:,} accounts from CSV: parse, stage, index, start the portfolio",
                f"{_n(r['launch_command_s'])} s, {_n(r['launch_command_peak_rss_mib'], 0)} MiB",
                "",
                "",
                "",
            ),
            (
                f"accounts started / finished in {_n(r['elapsed_s'], 0)} s",
                f"{_n(r['started'])} / {_n(r['finished'])}",
                f"{_n(r['bare_starts_per_s'], 1)} bare starts/s",
                "",
                "",
            ),
            (
                "end to end, accounts/s (all of them: extrapolated)",
                _n(r["end_to_end_accounts_per_s"], 2),
                "",
                "",
                f"{_n(r.get('extrapolated_100k_end_to_end_h'))} h for 100,000",
            ),
        ]
    else:
        progress = [
            (
                f"{r['accounts']:,}-account portfolio: launch, accounts/s",
                _n(r["launch_accounts_per_s"], 2),
                f"{_n(r['bare_starts_per_s'], 1)} (bare client starts)",
                _n(r["ratio"], 3),
                "",
            ),
            ("until all started", f"{_n(r.get('all_started_s'))} s", "", "", ""),
            ("until every first email", f"{_n(r.get('first_touch_all_s'))} s", "", "", ""),
            ("end to end, accounts/s", _n(r["end_to_end_accounts_per_s"], 2), "", "", ""),
        ]
    largest = r.get("largest_history", {})
    return [
        *progress,
        ("worker peak RSS", f"{_n(r['worker_peak_rss_mib'], 0)} MiB", "", "", "< 1024 MiB"),
        _open_row(r),
        (
            "largest history",
            f"{_n(largest.get('events'))} events, {largest.get('bytes', 0) / 1e6:.1f} MB",
            "limit 50,000 events, 50 MB",
            "",
            str(largest.get("verdict", "")),
        ),
    ]


def _launcher_launch(r: Record) -> list[Row]:
    """A launch-only run of the launcher: how fast every account started and was
    touched, and (``--pause``) how fast the whole campaign was paused."""
    started_s = r.get("all_started_s")
    touched_s = r.get("first_touch_all_s")
    rows: list[Row] = [
        (
            f"{r['accounts']:,} accounts from CSV: parse, stage, index, start the portfolio",
            f"{_n(r['launch_command_s'])} s, {_n(r['launch_command_peak_rss_mib'], 0)} MiB",
            "",
            "",
            "< 300 MiB",
        ),
        (
            f"{r['accounts']:,} accounts, day-{r.get('first_touch_day', 0)} email: "
            "started, accounts/s",
            _n(r["launch_accounts_per_s"], 2),
            f"{_n(r['bare_starts_per_s'], 1)} (raw client starts)",
            _n(r["ratio"], 2),
            "≥ 0.5",
        ),
        (
            "until all started / every first email",
            f"{_n(started_s)} s / " + (f"{_n(touched_s)} s" if touched_s else "not by the end"),
            "",
            "",
            "",
        )
        if not r.get("first_touch_day")
        else ("until all started (no touch due yet)", f"{_n(started_s)} s", "", "", ""),
        ("server peak RSS", f"{_n(r.get('server_peak_rss_mib'), 0)} MiB", "", "", ""),
    ]
    pause = r.get("pause")
    if pause:
        rows.append(
            (
                "pause the whole campaign (one batch operation)",
                f"{_n(pause['reached'])} reached in {_n(pause['seconds'])} s",
                "",
                "",
                f"sample paused {pause['sample_paused']}",
            )
        )
    return rows


def launch(r: Record) -> list[Row]:
    rows = f"{r['rows']:,} CSV rows"
    goal = f"< {r['goal_rss_mib_max']} MiB {'✓' if r['meets_goal'] else '✗'}"
    return [
        (
            f"`recoup campaign launch`, {rows}: peak RSS",
            f"{_n(r['peak_rss_mib'], 0)} MiB",
            f"{_n(r['baseline_peak_rss_mib'], 0)} MiB ({r['baseline_rows']:,} rows)",
            _n(r["rss_ratio"], 2),
            goal,
        ),
        (
            f"`recoup campaign launch`, {rows}: parse, stage, index, start",
            f"{_n(r['launch_s'])} s",
            f"{_n(r['baseline_launch_s'])} s ({r['baseline_rows']:,} rows)",
            "",
            "",
        ),
    ]


def _open_row(r: Record) -> Row:
    if "max_open_observed" in r:  # the launcher: nothing bounds open campaigns
        return (
            "most account campaigns open at once",
            f"{r['max_open_observed']:,} of {r['accounts']:,}",
            "",
            "",
            "all, with long days",
        )
    # Records of the windowed portfolio (before the launcher).
    return (
        "most pending children / window",
        f"{r.get('max_pending_from_history', 0):,} / {r.get('window', 0):,}",
        "",
        "",
        "≤ window",
    )


def ledger(r: Record) -> list[Row]:
    return [
        (
            f"contacts recorded (ledger + audit chain), {r['threads']} threads, contacts/s",
            _n(r["contacts_per_s"], 0),
            f"{_n(r['baseline_contacts_per_s'], 0)} (one transaction per contact)",
            _n(r["ratio"], 1),
            "",
        ),
        (
            "CPU per contact; retries; contacts that failed",
            f"{r['cpu_ms_per_contact']:.2f} ms; {r['retries']}; {r['failed']}",
            f"{r['baseline_cpu_ms_per_contact']:.1f} ms; {r['baseline_retries']:,}; "
            f"{r['baseline_failed']}",
            "",
            "0 failed",
        ),
    ]


def payloads(r: Record) -> list[Row]:
    base = f"{r['inputs_deflated_bytes']:,} B (all activity inputs, deflated)"
    return [
        (
            "per campaign: export records in the contact inputs",
            f"{r['records_deflated_bytes']:,} B",
            base,
            _n(r["records_ratio"], 2),
            "",
        ),
        (
            "per campaign: the gate's facts and the message context (audit evidence)",
            f"{r['facts_and_message_deflated_bytes']:,} B",
            base,
            _n(r["facts_and_message_ratio"], 2),
            "",
        ),
    ]


def export(r: Record) -> list[Row]:
    rows: list[Row] = []
    for sink, figures in r.get("sinks", {}).items():
        goal = figures.get("goal_ratio")
        met = " ✓" if figures.get("meets_goal") else " ✗"
        rows.append(
            (
                f"export to {sink}, messages/s",
                _n(figures.get("sink_per_s"), 0),
                f"{_n(figures.get('raw_per_s'), 0)} (raw client)",
                _n(figures.get("ratio"), 2),
                f"≥ {_n(goal)}{met}" if goal is not None else "",
            )
        )
        if figures.get("raw_batch_per_s") is not None:  # Kafka: the record-batch API too
            rows.append(
                (
                    f"export to {sink}, against raw record batches",
                    _n(figures.get("sink_per_s"), 0),
                    f"{_n(figures['raw_batch_per_s'], 0)} (raw create_batch/send_batch)",
                    _n(figures.get("ratio_to_raw_batch"), 2),
                    "",
                )
            )
    return rows


def compliance_gate(r: Record) -> list[Row]:
    # One row (the e2e suite test reads it); the heavier load, when recorded, in its label.
    heavy = r.get("heavy_decisions_per_s")
    also = f"; {_n(heavy, 0)} at {r['heavy_history_size']}" if heavy is not None else ""
    goal = r.get("goal_decisions_per_s")
    return [
        (
            f"gate decisions/s ({r['history_size']} past contacts{also})",
            _n(r["decisions_per_s"], 0),
            f"{_n(r['baseline_decisions_per_s'], 0)} (empty history)",
            _n(r["ratio"], 2),
            f"≥ {_n(goal)}" if goal is not None else "",
        )
    ]


def chaos(r: Record) -> list[Row]:
    return [
        (
            f"{r['accounts']} accounts, worker SIGKILLed {r['kills']}×: duplicates / missing",
            f"{r['duplicates']} / {r['missing']}",
            "",
            "",
            "0 / 0",
        ),
        (
            "recoup reconcile: records that disagree (histories, ledger, audit chain, "
            "events, providers)",
            _n(r.get("reconciled_differences")),
            "",
            "",
            "0",
        ),
        (
            "throughput kept through the kills",
            f"{_n(r['accounts_per_s'], 2)} accounts/s",
            f"{_n(r['accounts_per_s_no_kills'], 2)} (no kills)",
            _n(r["ratio_vs_no_kills"], 2),
            "",
        ),
    ]


# Populations where the playbook is already right: there adaptive should lose at most 5 %.
CONTROLS = frozenset({"by-the-book"})


def policy(r: Record) -> list[Row]:
    rows: list[Row] = []
    warm_up = r.get("warm_up")
    for population, p in r.get("populations", {}).items():
        per_contact = p.get("recovered_per_contact", {})
        control = population in CONTROLS
        name = f"{population} after a {warm_up}-account warm-up" if warm_up else population
        rows.append(
            (
                f"{name}: recovered per contact, adaptive",
                _n(per_contact.get("adaptive"), 2),
                f"{_n(per_contact.get('fixed'), 2)} (fixed cadence)",
                _n(p.get("ratio"), 2),
                "≥ 0.95 (control)" if control else "≥ 1.3",
            )
        )
        ratios = p.get("ratio_spread")
        if ratios:
            rows.append(
                (
                    f"{name}: adaptive / fixed per seed, min / median / max",
                    f"{_n(ratios['min'], 2)} / {_n(ratios['median'], 2)} / {_n(ratios['max'], 2)}",
                    "",
                    "",
                    "≥ 0.95 at every seed" if control else "≥ 1.3 at every seed",
                )
            )
        for key, label in (
            ("opt_out_rate", "opt-outs"),
            ("dispute_rate", "disputes"),
            ("complaint_rate", "complaints"),
        ):
            rate = p.get(key, {})
            adaptive, fixed = rate.get("adaptive"), rate.get("fixed")
            if adaptive and fixed:
                rows.append(
                    (
                        f"{name}: {label} per account, adaptive (median over seeds)",
                        _n(adaptive["median"], 3),
                        f"{_n(fixed['median'], 3)} (fixed cadence)",
                        "",
                        "≤ fixed",
                    )
                )
    return rows


def replies(r: Record) -> list[Row]:
    combined, rules = r["combined"], r["rules"]
    return [
        (
            "recoup classify --in, replies/s on one core (combined reader)",
            _n(combined["replies_per_s"], 0),
            f"{_n(rules['replies_per_s'], 0)} (rules alone)",
            _n(r["ratio"], 2),
            f"≥ {_n(r['goal_replies_per_s'])}",
        ),
        (
            "reply reader: peak RSS MiB / start-up s / install added MB",
            f"{_n(combined['peak_rss_mib'], 0)} / {combined['startup_s']:.1f} / "
            f"{_n(r['install_added_mib'], 0)}",
            f"{_n(rules['peak_rss_mib'], 0)} / {rules['startup_s']:.1f} (rules alone)",
            "",
            "",
        ),
    ]


def send_gap(r: Record) -> list[Row]:
    gap, window, wire = r["check_to_call_ms"], r["scheduled_to_call_ms"], r["call_to_provider_ms"]
    return [
        (
            f"{r['sends']} texts at once: last store check → provider call, P50 / P95 / P99 ms",
            f"{gap['p50']:.0f} / {gap['p95']:.0f} / {gap['p99']:.0f}",
            f"{window['p50']:.0f} / {window['p95']:.0f} / {window['p99']:.0f} "
            "(scheduling snapshot → call)",
            _n(r["ratio_p99"], 3),
            "",
        ),
        (
            "provider call → message at the provider, P50 / P95 / P99 ms",
            f"{wire['p50']:.0f} / {wire['p95']:.0f} / {wire['p99']:.0f}",
            "",
            "",
            "",
        ),
    ]


ROWS: dict[str, Callable[[Record], list[Row]]] = {
    "engine": engine,
    "latency": latency,
    "scale": scale,
    "scale_launch_only": scale,
    "scale_launch_alone": scale,
    "launch": launch,
    "ledger": ledger,
    "payloads": payloads,
    "export": export,
    "compliance_gate": compliance_gate,
    "chaos": chaos,
    "policy": policy,
    "policy_warm": policy,
    "send_gap": send_gap,
    "replies": replies,
}


class ResultsError(ValueError):
    """A results file that cannot be read, or a line of it that is not a JSON object."""


def _variant(result: object) -> str:
    """A scale run cut short after the launch, and one with no touch during the launch
    (``--first-touch-day``), sit beside a complete one; a policy run after a warm-up (a
    tenant's second portfolio) beside a cold start."""
    if isinstance(result, dict) and result.get("warm_up"):
        return "_warm"
    if not isinstance(result, dict) or not result.get("launch_only"):
        return ""
    return "_launch_alone" if result.get("first_touch_day") else "_launch_only"


def latest(paths: Iterable[Path]) -> dict[str, Record]:
    """The last successful record of each benchmark, in file and line order.

    Raises ResultsError naming the file (and line) that cannot be read.
    """
    found: dict[str, Record] = {}
    for path in sorted(paths):
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise ResultsError(f"{path}: {exc.strerror or exc}") from exc
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ResultsError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise ResultsError(f"{path}:{number}: not a JSON object")
            result = record.get("result")
            if record.get("ok") and result:
                found[record["benchmark"] + _variant(result)] = record
    return found


def table(records: dict[str, Record]) -> str:
    lines = [
        "| benchmark | figure | Recoup | baseline (same run) | ratio | goal |",
        "|---|---|---|---|---|---|",
    ]
    sources = []
    for name, rows_of in ROWS.items():
        record = records.get(name)
        if record is None:
            continue
        try:
            rows = rows_of(record["result"])
        except (KeyError, TypeError) as exc:  # an older record's shape: say so, go on
            rows = [("(record not understood)", repr(exc), "", "", "")]
        for figure, mine, base, ratio, goal in rows:
            label = record["benchmark"]
            lines.append(f"| `{label}` | {figure} | {mine} | {base} | {ratio} | {goal} |")
        sources.append(
            f"`{name}`: {record['started_at']}, commit {record.get('commit')}, "
            f"`{record['command']}`"
        )
    machines = sorted({str(r["result"].get("machine")) for r in records.values()})
    return "\n".join(
        [
            *lines,
            "",
            "Machine: " + "; ".join(machines) + ".",
            "",
            *(f"- {s}" for s in sources),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("files", nargs="*", type=Path, help="results files (default: all)")
    args = parser.parse_args(argv)
    files = args.files or list(RESULTS_DIR.glob("*.jsonl"))
    try:
        records = latest(files)
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not records:
        print("no successful benchmark records in " + ", ".join(map(str, files)), file=sys.stderr)
        return 1
    print(table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
