"""Contacts recorded per second in the contact ledger and audit chain: group commit
against one transaction pair per contact.

Run: ``.venv/bin/python -m bench.ledger [--contacts 2000] [--threads 64] [--rounds 3]``

What a worker does when many sends of one tenant finish at once: ``--threads``
threads call ``ContactLedger.record`` for ``--contacts`` contacts of one tenant, each
appended to the tenant's hash-chained audit log and inserted in the ledger, on the
machine's PostgreSQL (127.0.0.1:5432, a fresh database, dropped afterwards). The
baseline, in the same run and database: the same load through the one-at-a-time path
(``group_commit=False``: an audit transaction, then a ledger transaction, each
contact reading the chain's last record and retrying on a position clash). Each
round records a fresh tenant with each path, the order alternating between rounds
(other benchmarks may share the cores); the median round of each is reported. At the
end every chain is verified. Prints one JSON line: ``contacts_per_s`` and
``cpu_ms_per_contact`` (this process's CPU; the database server's is not counted) of
group commit and of the baseline, their ``ratio`` (throughput) and ``cpu_ratio``,
the IntegrityError ``retries`` of each (summed over rounds), contacts that failed
(contention never resolved), and the verification's findings.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.audit_log import AuditLog
from adapters.contact_ledger import ContactLedger
from bench.common import create_database, drop_database, machine
from domain.compliance.model import PastContact

KEY = b"bench-audit-key"
T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def one_run(url: str, group_commit: bool, contacts: int, threads: int) -> dict[str, Any]:
    """Record ``contacts`` contacts of a fresh tenant from ``threads`` threads."""
    ledger = ContactLedger(url, AuditLog(url, KEY, "bench"), group_commit=group_commit)
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    failed = 0

    def record(n: int) -> None:
        nonlocal failed
        contact = PastContact(
            at=T0 + timedelta(milliseconds=n), channel="sms", outcome="delivered", to="+16175550100"
        )
        audit: dict[str, object] = {"decision": "allowed", "rule_set": "us-federal@2026.1"}
        try:
            ledger.record(tenant, f"A-{n % 500}", f"{tenant}/{n}", contact, audit, f"SM{n}")
        except Exception as exc:  # contention never resolved: counted, the run goes on
            failed += 1
            print(f"  {type(exc).__name__}: {exc}", file=sys.stderr)

    try:
        with ThreadPoolExecutor(threads) as pool:
            pool.submit(lambda: None).result()  # the pool's first thread, before timing
            cpu0, t0 = time.process_time(), time.perf_counter()
            list(pool.map(record, range(contacts)))
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        return {
            "contacts_per_s": contacts / wall,
            "cpu_ms_per_contact": cpu * 1000 / contacts,
            "retries": ledger.retries,
            "failed": failed,
        }
    finally:
        ledger.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=2000, help="per path per round")
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    name, url = create_database("recoup_ledger")
    try:
        ContactLedger(url, AuditLog(url, KEY, "bench")).create_tables()
        one_run(url, True, 50, 4)  # warm-up: connections, statement caches
        one_run(url, False, 50, 4)
        runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        for n in range(args.rounds):
            for group_commit in (False, True) if n % 2 == 0 else (True, False):
                run = one_run(url, group_commit, args.contacts, args.threads)
                runs[group_commit].append(run)
                label = "group" if group_commit else "baseline"
                print(f"round {n + 1} {label}: {json.dumps(run)}", file=sys.stderr)
        audit = AuditLog(url, KEY, "bench")
        findings = len(audit.verify())
        audit.dispose()
    finally:
        drop_database(name)

    def median(group_commit: bool, key: str) -> float:
        return float(statistics.median(float(run[key]) for run in runs[group_commit]))

    def total(group_commit: bool, key: str) -> int:
        return sum(int(run[key]) for run in runs[group_commit])

    result = {
        "benchmark": "ledger",
        "contacts_per_s": round(median(True, "contacts_per_s"), 1),
        "cpu_ms_per_contact": round(median(True, "cpu_ms_per_contact"), 3),
        "retries": total(True, "retries"),
        "failed": total(True, "failed"),
        "baseline_contacts_per_s": round(median(False, "contacts_per_s"), 1),
        "baseline_cpu_ms_per_contact": round(median(False, "cpu_ms_per_contact"), 3),
        "baseline_retries": total(False, "retries"),
        "baseline_failed": total(False, "failed"),
        "ratio": round(median(True, "contacts_per_s") / median(False, "contacts_per_s"), 3),
        "cpu_ratio": round(
            median(True, "cpu_ms_per_contact") / median(False, "cpu_ms_per_contact"), 3
        ),
        "chain_findings": findings,
        "contacts": args.contacts,
        "threads": args.threads,
        "rounds": args.rounds,
        "database": "postgresql",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
