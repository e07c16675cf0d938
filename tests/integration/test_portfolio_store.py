"""Portfolio staging on SQLite and PostgreSQL: save once, count, page in file order."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from adapters.portfolio_store import PortfolioStore, PortfolioStoreError, RequestMismatch
from tests.portfolio_support import POSTGRES_URL, make_accounts


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'recoup.db'}"
    return POSTGRES_URL


@pytest.fixture
def tenant(database_url: str) -> Iterator[str]:
    """A tenant id no other test (or earlier run) uses; its rows are deleted afterwards."""
    tenant_id = f"test-{uuid.uuid4().hex[:12]}"
    yield tenant_id
    if database_url.startswith("postgresql"):  # a SQLite file dies with tmp_path
        delete_tenant(database_url, tenant_id)


def delete_tenant(database_url: str, tenant_id: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        for table in ("staged_accounts", "staged_portfolios"):
            connection.execute(text(f"DELETE FROM {table} WHERE tenant_id = :t"), {"t": tenant_id})
    engine.dispose()


@pytest.fixture
def store(database_url: str, tenant: str) -> Iterator[PortfolioStore]:
    store = PortfolioStore(database_url)
    store.create_tables()
    store.create_tables()  # idempotent: every process calls it at start
    yield store
    store.dispose()


def test_save_count_page(store: PortfolioStore, tenant: str) -> None:
    accounts = make_accounts(250)
    assert store.save(tenant, "c1", accounts) == 250
    assert store.count(tenant, "c1") == 250

    first = store.page(tenant, "c1", 0, 100)
    assert first == accounts[:100]  # round-trips every field, in file order
    assert store.page(tenant, "c1", 100, 100) == accounts[100:200]
    last = store.page(tenant, "c1", 200, 100)
    assert [a.account_id for a in last] == [f"A{i}" for i in range(200, 250)]
    assert store.page(tenant, "c1", 250, 100) == []


def test_unknown_campaign_is_empty(store: PortfolioStore, tenant: str) -> None:
    assert store.count(tenant, "never-saved") == 0
    assert store.page(tenant, "never-saved", 0, 10) == []


def test_saving_the_same_campaign_again_is_a_no_op(store: PortfolioStore, tenant: str) -> None:
    accounts = make_accounts(30)
    assert store.save(tenant, "c1", accounts) == 30
    assert store.save(tenant, "c1", accounts) == 30
    assert store.save(tenant, "c1", list(accounts)) == 30
    assert store.count(tenant, "c1") == 30
    assert store.page(tenant, "c1", 0, 100) == accounts


def test_different_accounts_under_a_saved_campaign_are_refused(
    store: PortfolioStore, tenant: str
) -> None:
    accounts = make_accounts(10)
    store.save(tenant, "c1", accounts)
    changed = [*accounts[:9], accounts[9].model_copy(update={"amount_due": Decimal("1.00")})]
    for other in (make_accounts(11), accounts[::-1], changed):
        with pytest.raises(PortfolioStoreError, match="already stored"):
            store.save(tenant, "c1", other)
    assert store.page(tenant, "c1", 0, 100) == accounts


REQUEST: dict[str, object] = {
    "playbook": "standard",
    "seconds_per_day": 600.0,
    "window": 200,
    "as_of": None,
    "default_region": "US",
    "accounts": {"records": 3, "sha256": "0" * 64},
}


def test_a_stored_request_is_what_a_replay_must_repeat(store: PortfolioStore, tenant: str) -> None:
    accounts = make_accounts(3)
    assert store.save(tenant, "c1", accounts, REQUEST) == 3
    # The same request (its fields in another order) is a replay, even when its accounts
    # parse to other days past due (a retry after midnight without as_of).
    reordered = dict(reversed(list(REQUEST.items())))
    a_day_later = [a.model_copy(update={"days_past_due": a.days_past_due + 1}) for a in accounts]
    assert store.save(tenant, "c1", a_day_later, reordered) == 3
    # Any other value is another request, named field by field.
    with pytest.raises(RequestMismatch) as caught:
        store.save(tenant, "c1", accounts, {**REQUEST, "playbook": "gentle", "window": 5})
    assert caught.value.differences == {"playbook": ("standard", "gentle"), "window": (200, 5)}
    assert store.page(tenant, "c1", 0, 10) == accounts


def test_rows_stored_without_a_request_keep_the_accounts_rule(
    store: PortfolioStore, tenant: str
) -> None:
    # Rows staged before requests were stored, and launches without one (the CLI), have
    # no request: a replay is held to the same accounts, as it always was.
    accounts = make_accounts(3)
    assert store.save(tenant, "legacy", accounts) == 3
    assert store.save(tenant, "legacy", accounts, REQUEST) == 3
    with pytest.raises(PortfolioStoreError, match="already stored"):
        store.save(tenant, "legacy", make_accounts(2), REQUEST)
    assert store.save(tenant, "api", accounts, REQUEST) == 3
    assert store.save(tenant, "api", accounts) == 3


def test_campaigns_and_tenants_are_separate(
    store: PortfolioStore, database_url: str, tenant: str
) -> None:
    other_tenant = f"{tenant}-b"
    try:
        store.save(tenant, "c1", make_accounts(5))
        store.save(tenant, "c2", make_accounts(3))  # same account ids, another campaign
        store.save(other_tenant, "c1", make_accounts(2))
        assert store.count(tenant, "c1") == 5
        assert store.count(tenant, "c2") == 3
        assert store.count(other_tenant, "c1") == 2
    finally:
        delete_tenant(database_url, other_tenant)  # the fixture cleans up `tenant` only


def test_repeated_account_ids_are_refused(store: PortfolioStore, tenant: str) -> None:
    accounts = make_accounts(3)
    with pytest.raises(PortfolioStoreError, match="A1"):
        store.save(tenant, "c1", [*accounts, accounts[1]])
    assert store.count(tenant, "c1") == 0


def test_empty_portfolio(store: PortfolioStore, tenant: str) -> None:
    assert store.save(tenant, "c1", []) == 0
    assert store.save(tenant, "c1", []) == 0
    assert store.count(tenant, "c1") == 0


def test_page_arguments(store: PortfolioStore, tenant: str) -> None:
    with pytest.raises(ValueError):
        store.page(tenant, "c1", -1, 10)
    with pytest.raises(ValueError):
        store.page(tenant, "c1", 0, 0)


def test_concurrent_saves_of_one_campaign_store_it_once(
    store: PortfolioStore, database_url: str, tenant: str
) -> None:
    accounts = make_accounts(2_000)
    other = PortfolioStore(database_url)  # as if a second CLI process
    start = threading.Barrier(2)
    results: list[int | BaseException] = []

    def save(target: PortfolioStore) -> None:
        start.wait()
        try:
            results.append(target.save(tenant, "c1", accounts))
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=save, args=(s,)) for s in (store, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.dispose()
    assert results == [2_000, 2_000]
    assert store.count(tenant, "c1") == 2_000


def test_a_large_portfolio_pages_to_its_last_account(store: PortfolioStore, tenant: str) -> None:
    # Speed is measured in bench/portfolio_store.py, never asserted here.
    one = make_accounts(1)[0]
    accounts = [one.model_copy(update={"account_id": f"L{i}"}) for i in range(20_000)]
    assert store.save(tenant, "big", accounts) == 20_000
    assert store.count(tenant, "big") == 20_000
    assert [a.account_id for a in store.page(tenant, "big", 19_990, 100)] == [
        f"L{i}" for i in range(19_990, 20_000)
    ]


def test_sqlite_uses_wal_so_the_worker_can_read_while_the_cli_writes(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    store = PortfolioStore(f"sqlite:///{path}")
    store.create_tables()
    store.dispose()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_plain_postgresql_scheme_uses_psycopg() -> None:
    tenant_id = f"test-{uuid.uuid4().hex[:12]}"
    store = PortfolioStore(POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"))
    store.create_tables()
    try:
        assert store.save(tenant_id, "c1", make_accounts(2)) == 2
    finally:
        store.dispose()
        delete_tenant(POSTGRES_URL, tenant_id)
