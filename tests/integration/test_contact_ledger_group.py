"""Group commit of the contact ledger and audit chain, on SQLite and PostgreSQL: many
threads recording at once leave every contact once in the ledger and once in an
unbroken chain."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.audit_log import AuditLog
from adapters.contact_ledger import ContactLedger
from adapters.sql import make_engine
from domain.compliance.model import PastContact
from tests.portfolio_support import POSTGRES_URL

KEY = b"test-audit-key"
T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
ACCOUNTS = [f"A-{n}" for n in range(8)]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return POSTGRES_URL


def open_ledger(database_url: str, *, group_commit: bool = True) -> ContactLedger:
    ledger = ContactLedger(
        database_url, AuditLog(database_url, KEY, "k1"), group_commit=group_commit
    )
    ledger.create_tables()
    return ledger


@pytest.fixture
def ledger(database_url: str) -> Iterator[ContactLedger]:
    ledger = open_ledger(database_url)
    yield ledger
    ledger.dispose()


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def contact(n: int, to: str = "+16175550100") -> PastContact:
    return PastContact(at=T0 + timedelta(seconds=n), channel="sms", outcome="delivered", to=to)


def record(ledger: ContactLedger, who: str, n: int) -> None:
    ledger.record(who, ACCOUNTS[n % len(ACCOUNTS)], f"{who}/{n}", contact(n), {"decision": "ok"})


def chain(database_url: str, who: str) -> list[tuple[int, str]]:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT position, event_id FROM audit_log WHERE tenant_id = :t ORDER BY position"),
            {"t": who},
        ).all()
    engine.dispose()
    return [(row[0], row[1]) for row in rows]


def check(ledger: ContactLedger, database_url: str, who: str, n: int) -> None:
    attempts = {f"{who}/{i}" for i in range(n)}
    rows = ledger.entries(who, ACCOUNTS)
    assert sorted(row.attempt_id for row in rows) == sorted(attempts)  # each exactly once
    records = chain(database_url, who)
    assert [position for position, _ in records] == list(range(1, n + 1))  # contiguous
    assert sorted(event_id for _, event_id in records) == sorted(f"contact:{a}" for a in attempts)


def test_many_threads_two_tenants_record_each_contact_once(
    ledger: ContactLedger, database_url: str
) -> None:
    first, second = tenant(), tenant()
    jobs = [(who, n) for n in range(150) for who in (first, second)]
    jobs += jobs[:60]  # retried activities: the same attempts again, concurrently
    with ThreadPoolExecutor(48) as pool:
        list(pool.map(lambda job: record(ledger, *job), jobs))
    for who in (first, second):
        check(ledger, database_url, who, 150)
    assert ledger._audit is not None
    assert ledger._audit.verify(first) == []
    assert ledger._audit.verify(second) == []


def test_the_same_attempt_recorded_twice_at_once_is_one_entry(
    ledger: ContactLedger, database_url: str
) -> None:
    who = tenant()
    for _ in range(5):  # several times, so both land in one group at least once
        barrier = threading.Barrier(8)

        def twice(n: int, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            record(ledger, who, n // 2)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(twice, range(8)))
    check(ledger, database_url, who, 4)
    assert ledger._audit is not None and ledger._audit.verify(who) == []


def test_two_processes_worth_of_writers_keep_one_chain(database_url: str) -> None:
    """Two ledgers (as two worker processes would have) on one tenant: their groups
    clash on the chain's positions and are written again, never lost or doubled."""
    one, other = open_ledger(database_url), open_ledger(database_url)
    who = tenant()
    try:
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda n: record(one if n % 2 else other, who, n), range(200)))
        check(one, database_url, who, 200)
        assert one._audit is not None and one._audit.verify(who) == []
    finally:
        one.dispose()
        other.dispose()


def test_one_at_a_time_path_still_records(database_url: str) -> None:
    ledger = open_ledger(database_url, group_commit=False)
    who = tenant()
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: record(ledger, who, n % 30), range(40)))
        check(ledger, database_url, who, 30)
        assert ledger._audit is not None and ledger._audit.verify(who) == []
    finally:
        ledger.dispose()


def test_a_contact_the_database_refuses_does_not_fail_its_group() -> None:
    # PostgreSQL only: SQLite does not enforce column lengths, so nothing is refused.
    ledger = open_ledger(POSTGRES_URL)
    who = tenant()
    failed: list[int] = []

    def one(n: int) -> None:
        to = "x" * 400 if n == 7 else "+16175550100"  # longer than the column allows
        try:
            ledger.record(who, ACCOUNTS[0], f"{who}/{n}", contact(n, to))
        except Exception:
            failed.append(n)

    try:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(one, range(40)))
        assert failed == [7]
        recorded = {row.attempt_id for row in ledger.entries(who, ACCOUNTS)}
        assert recorded == {f"{who}/{n}" for n in range(40) if n != 7}
        assert ledger._audit is not None and ledger._audit.verify(who) == []
    finally:
        ledger.dispose()
