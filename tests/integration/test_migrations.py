"""The alembic migrations, on SQLite and PostgreSQL: head is what the models say.

Each PostgreSQL test gets a database of its own (created and dropped here): the
shared ``test`` database outlives runs and may hold tables from before alembic.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlmodel import SQLModel
from typer.testing import CliRunner

from adapters.migrations.__main__ import main as migrations_main
from adapters.portfolio_store import PortfolioStore
from adapters.schema import (
    BASELINE,
    BASELINE_TABLES,
    LOCK_KEY,
    SchemaError,
    alembic_config,
    current_revision,
    forget,
    head_revision,
    migrate,
    table_metadata,
)
from adapters.sql import make_engine
from cli.db import app as db_app
from tests.portfolio_support import POSTGRES_URL, make_accounts

ROOT = Path(__file__).resolve().parents[2]
VERSION_TABLE = "alembic_version"

NewDatabase = Callable[[], str]


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Makes empty databases of the parameter's kind; drops them afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"recoup_mig_{uuid.uuid4().hex[:12]}"
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'{name}.db'}"
        else:
            with _admin() as admin:
                admin.execute(text(f'CREATE DATABASE "{name}"'))
            url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
        made.append(url)
        return url

    yield make
    for url in made:
        forget(url)
        if url.startswith("postgresql"):
            with _admin() as admin:
                name = url.rsplit("/", 1)[1]
                admin.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def _admin() -> Iterator[Connection]:
    """An autocommit connection to the shared database, to create and drop others."""
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


@pytest.fixture
def database(new_database: NewDatabase) -> str:
    return new_database()


def describe(url: str) -> dict[str, Any]:
    """Everything about the schema a migration must get right (alembic's table aside)."""
    engine = make_engine(url)
    try:
        found = inspect(engine)
        schema: dict[str, Any] = {}
        for table in sorted(set(found.get_table_names()) - {VERSION_TABLE}):
            schema[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                    for c in found.get_columns(table)
                ],
                "primary key": found.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in found.get_indexes(table)
                ),
                "unique": sorted(
                    (str(u["name"]), tuple(u["column_names"]))
                    for u in found.get_unique_constraints(table)
                ),
                "foreign keys": sorted(
                    (str(f["name"]), tuple(f["constrained_columns"]), f["referred_table"])
                    for f in found.get_foreign_keys(table)
                ),
            }
        return schema
    finally:
        engine.dispose()


def create_all(url: str) -> None:
    engine = make_engine(url)
    table_metadata().create_all(engine)
    engine.dispose()


def execute(url: str, *statements: str, **params: object) -> list[Any]:
    """Run statements in one transaction; the last one's rows, if it returns any."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                result = connection.execute(text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def make_legacy(url: str, keep: frozenset[str] = BASELINE_TABLES) -> None:
    """A database as ``create_all`` made it before alembic: tables, no version table.

    Built from the baseline revision rather than today's models, so that it stays a
    pre-alembic database when later revisions change the models (the baseline and
    ``create_all`` make the same schema: see the first test).
    """
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(connection)
            command.upgrade(config, BASELINE)
            for table in BASELINE_TABLES - keep:
                connection.execute(text(f"DROP TABLE {table}"))
            connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
    finally:
        engine.dispose()


def test_head_is_the_schema_create_all_makes(new_database: NewDatabase) -> None:
    migrated, created = new_database(), new_database()
    assert migrate(migrated) == head_revision()
    create_all(created)
    schema = describe(migrated)
    assert set(schema) == set(table_metadata().tables)
    assert schema == describe(created)
    assert set(BASELINE_TABLES) <= set(schema)


def test_the_models_need_no_new_revision(database: str) -> None:
    """A model changed without a revision fails here (autogenerate finds the change)."""
    migrate(database)
    engine = make_engine(database)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, table_metadata()) == []
    finally:
        engine.dispose()


def test_every_module_with_tables_is_listed() -> None:
    """A module defining tables but missing from TABLE_MODULES is invisible to autogenerate."""
    for package_name in ("adapters", "domain", "activities", "workers"):
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if not module.name.startswith("adapters.migrations"):
                importlib.import_module(module.name)
    unlisted = sorted(set(SQLModel.metadata.tables) - set(table_metadata().tables))
    assert unlisted == [], f"add their modules to adapters.schema.TABLE_MODULES: {unlisted}"


def test_migrations_check_command_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert migrations_main(["check"]) == 0
    assert f"match revision {head_revision()}" in capsys.readouterr().out


def test_a_legacy_database_is_stamped_then_upgraded_and_keeps_its_rows(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    make_legacy(database)
    assert current_revision(database) is None
    execute(
        database,
        "INSERT INTO audit_heads (tenant_id, position, hash, mac) VALUES ('t1', 3, 'h', 'm')",
        "INSERT INTO contact_ledger (attempt_id, tenant_id, account_id, at, channel, outcome,"
        " direction) VALUES ('a1', 't1', 'A-1', :at, 'sms', 'delivered', 'outbound')",
        at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    with caplog.at_level(logging.INFO, logger="adapters.schema"):
        assert migrate(database) == head_revision()
    assert "stamping" in caplog.text
    assert current_revision(database) == head_revision()
    assert execute(database, "SELECT tenant_id, position FROM audit_heads") == [("t1", 3)]
    assert execute(database, "SELECT attempt_id FROM contact_ledger") == [("a1",)]
    # And the stores work on it.
    store = PortfolioStore(database)
    try:
        store.create_tables()
        assert store.save("t1", "c1", make_accounts(3)) == 3
    finally:
        store.dispose()


def test_a_legacy_database_with_some_tables_gets_the_others(database: str) -> None:
    make_legacy(database, keep=frozenset({"dead_letters"}))
    execute(
        database,
        "INSERT INTO dead_letters (dead_letter_id, tenant_id, account_id, campaign_id, channel,"
        " status, created_at, body) VALUES ('d1', 't', 'a', 'c', 'email', 'open', :at, '{}')",
        at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert migrate(database) == head_revision()
    assert set(BASELINE_TABLES) <= set(describe(database))
    assert execute(database, "SELECT dead_letter_id FROM dead_letters") == [("d1",)]


def test_migrating_twice_changes_nothing_and_the_second_time_costs_nothing(
    database: str,
) -> None:
    assert migrate(database) == head_revision()
    before = describe(database)
    forget(database)  # as another process would: look at the database again
    assert migrate(database) == head_revision()
    assert execute(database, f"SELECT version_num FROM {VERSION_TABLE}") == [(head_revision(),)]
    assert describe(database) == before

    engine = make_engine(database)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        assert migrate(engine) == head_revision()  # known to be at head in this process
        assert migrate(database) == head_revision()
    finally:
        engine.dispose()
    assert statements == []


def test_a_database_from_a_newer_recoup_is_refused(database: str) -> None:
    migrate(database)
    execute(database, f"UPDATE {VERSION_TABLE} SET version_num = '9999'")
    forget(database)
    with pytest.raises(SchemaError, match="9999"):
        migrate(database)


def test_concurrent_migrations_of_a_fresh_database_both_succeed(database: str) -> None:
    """Two workers starting together: one migrates, the other waits and finds it done."""
    script = "import sys; from adapters.schema import migrate; print(migrate(sys.argv[1]))"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, database],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert out.strip() == head_revision()
    assert execute(database, f"SELECT version_num FROM {VERSION_TABLE}") == [(head_revision(),)]
    assert set(describe(database)) == set(table_metadata().tables)


def test_concurrent_threads_with_their_own_engines_both_succeed(database: str) -> None:
    engines = [make_engine(database) for _ in range(4)]
    start = threading.Barrier(len(engines))
    results: list[str | BaseException] = []

    def run(engine: Engine) -> None:
        start.wait()
        try:
            results.append(migrate(engine))
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert results == [head_revision()] * len(engines)


def test_migrate_waits_for_another_migration_to_finish(database: str) -> None:
    """Deterministic check of the lock: hold it as another process would, then let go."""
    holder = make_engine(database)
    connection = holder.connect()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        connection.commit()
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    done = threading.Event()
    outcome: list[str | BaseException] = []

    def run() -> None:
        try:
            outcome.append(migrate(database))
        except BaseException as exc:  # reported by the assertion below
            outcome.append(exc)
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert not done.wait(1.5), outcome  # blocked on the lock
    finally:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            connection.commit()
        else:
            connection.exec_driver_sql("COMMIT")
        connection.close()
        holder.dispose()
    thread.join(60)
    assert outcome == [head_revision()]


def test_recoup_db_upgrade_and_current(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"RECOUP_DATA_DIR": str(tmp_path), "RECOUP_DATABASE_URL": None, "COLUMNS": "200"}
    behind = runner.invoke(db_app, ["current"], env=env)
    assert behind.exit_code == 1, behind.output
    assert "(none" in behind.output and "behind" in behind.output

    upgraded = runner.invoke(db_app, ["upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert f"→ {head_revision()}" in upgraded.output
    again = runner.invoke(db_app, ["upgrade"], env=env)
    assert f"already at revision {head_revision()}" in again.output

    current = runner.invoke(db_app, ["current", "--json"], env=env)
    assert current.exit_code == 0, current.output
    assert f'"current": "{head_revision()}"' in current.output


def test_the_shared_postgresql_database_migrates() -> None:
    """The database the other tests share: legacy tables or not, it ends at head."""
    forget(POSTGRES_URL)
    assert migrate(POSTGRES_URL) == head_revision()
    assert current_revision(POSTGRES_URL) == head_revision()
