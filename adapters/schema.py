"""The SQL schema, managed by alembic: ``migrate`` brings a database to the latest revision.

Every store's ``create_tables()`` calls ``migrate``, so whichever process starts
first (a worker, ``recoup campaign launch``, ``recoup dlq list``) upgrades the
database, and ``recoup db upgrade`` does it on purpose. The revisions live in
``adapters/migrations/versions``; ``adapters/migrations/README.md`` says how to
write the next one.

- Several processes may start together against a fresh database: the upgrade
  runs under a lock (a PostgreSQL advisory lock; on SQLite the database's own
  write lock, taken with ``BEGIN IMMEDIATE``), and whoever waited finds the
  schema at head and does nothing.
- A database already at head costs one query, once per process and URL.
- A database made by ``create_all`` before alembic (tables, no ``alembic_version``)
  is stamped at the baseline, then upgraded. One holding only some of the
  baseline tables gets the missing ones from the baseline revision, which skips
  tables that exist.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, MetaData, Table, inspect, text
from sqlmodel import SQLModel

from adapters.errors import AdapterError
from adapters.sql import make_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Every module that defines tables (``SQLModel, table=True``). A new one goes here, so
# that autogenerate (env.py) and the schema tests see its tables; a test fails while a
# module with tables is missing from this list.
TABLE_MODULES = (
    "adapters.audit_log",
    "adapters.contact_ledger",
    "adapters.dead_letter_store",
    "adapters.portfolio_store",
    "adapters.event_log",
    "adapters.read_model",
    "adapters.tenants",
    "adapters.inbound",
    "adapters.action_stats",
    "adapters.suppressions",
)

BASELINE = "0001"
# What ``create_all`` made before alembic: finding these without a version table
# means a legacy database, to be stamped at the baseline.
BASELINE_TABLES = frozenset(
    {
        "audit_heads",
        "audit_log",
        "contact_ledger",
        "dead_letters",
        "staged_accounts",
        "staged_portfolios",
    }
)

# PostgreSQL advisory lock id held while migrating (a fixed 64-bit number; advisory
# locks are per database, so it only has to differ from other users' locks there).
LOCK_KEY = 0x5245_434F_5550_0001  # "RECOUP" + 1

_at_head: set[str] = set()  # URLs found or brought to head by this process
_url_locks: dict[str, threading.Lock] = {}
_url_locks_guard = threading.Lock()


class SchemaError(AdapterError):
    """The database's schema cannot be brought to this version's head."""


def table_metadata() -> MetaData:
    """The models' schema: the tables of ``TABLE_MODULES``, what head must match.

    A copy holding only those: ``SQLModel.metadata`` also holds whatever else the
    process imported (a module not listed yet, a test's model), which no revision
    makes.
    """
    metadata = MetaData(naming_convention=SQLModel.metadata.naming_convention)
    for module_name in TABLE_MODULES:
        module = importlib.import_module(module_name)
        for table in _tables_of(module):
            if table.key not in metadata.tables:
                table.to_metadata(metadata)
    return metadata


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic configuration without an ini file; env.py migrates ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Sequential revision ids name the files: versions/0002_add_read_model.py
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The latest revision this version of Recoup knows (the files are read once)."""
    head = _scripts().get_current_head()
    if head is None:  # pragma: no cover - the baseline always exists
        raise SchemaError(f"no revisions in {MIGRATIONS_DIR / 'versions'}")
    return head


def current_revision(engine_or_url: Engine | str) -> str | None:
    """The database's revision; None for a database alembic never touched."""
    with _engine(engine_or_url) as engine, engine.connect() as connection:
        return _current(connection)


def migrate(engine_or_url: Engine | str) -> str:
    """Upgrade the database to head (creating it from nothing if need be); returns head.

    Safe to call from every process at start, concurrently: see the module docstring.
    """
    head = head_revision()
    if isinstance(engine_or_url, str) and engine_or_url in _at_head:
        return head
    with _engine(engine_or_url) as engine:
        key = _cache_key(engine)
        if key is not None and key in _at_head:
            return head
        with _process_lock(key):
            if key is not None and key in _at_head:
                return head
            with engine.connect() as connection:
                current = _current(connection)
            if current != head:
                _check_known(current)
                with engine.connect() as connection, _serialised(connection):
                    current = _upgrade(connection)
            if current != head:  # pragma: no cover - alembic upgraded to head or raised
                raise SchemaError(f"upgrade left the database at {current}, not {head}")
            if key is not None:
                _at_head.add(key)
                if isinstance(engine_or_url, str):
                    _at_head.add(engine_or_url)  # next time, not even an engine
    return head


def forget(engine_or_url: Engine | str | None = None) -> None:
    """Drop what this process remembers: that a database (or any) is at head, and, with
    no argument, the revision files too."""
    if engine_or_url is None:
        _at_head.clear()
        _scripts.cache_clear()
        return
    if isinstance(engine_or_url, str):
        _at_head.discard(engine_or_url)
    with _engine(engine_or_url) as engine:
        key = _cache_key(engine)
    if key is not None:
        _at_head.discard(key)


# --- internals -----------------------------------------------------------------------


@contextmanager
def _engine(engine_or_url: Engine | str) -> Iterator[Engine]:
    if isinstance(engine_or_url, Engine):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _cache_key(engine: Engine) -> str | None:
    """The URL, or None for an in-memory SQLite database (each engine has its own)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    return url.render_as_string(hide_password=False)


@contextmanager
def _process_lock(key: str | None) -> Iterator[None]:
    """One migration per URL at a time in this process (the stores start in threads)."""
    if key is None:
        yield
        return
    with _url_locks_guard:
        lock = _url_locks.setdefault(key, threading.Lock())
    with lock:
        yield


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _tables_of(module: ModuleType) -> Iterator[Table]:
    """The tables a module defines: its table models' and its Core ``Table`` objects."""
    for value in vars(module).values():
        if isinstance(value, Table) and value.metadata is SQLModel.metadata:
            yield value
        elif (
            isinstance(value, type)
            and issubclass(value, SQLModel)
            and value.__module__ == module.__name__
        ):
            table = getattr(value, "__table__", None)  # only ``table=True`` models have one
            if isinstance(table, Table):
                yield table


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def is_known(revision: str) -> bool:
    """Whether ``revision`` is one of this version's (False: a newer Recoup migrated it)."""
    try:
        _scripts().get_revision(revision)
    except CommandError:
        return False
    return True


def _check_known(revision: str | None) -> None:
    if revision is not None and not is_known(revision):
        raise SchemaError(
            f"the database is at schema revision {revision!r}, which this version of "
            "Recoup does not know (was it migrated by a newer one?)"
        )


@contextmanager
def _serialised(connection: Connection) -> Iterator[None]:
    """Hold the database's migration lock; the body runs in one transaction.

    PostgreSQL: a session advisory lock (released by the server if the process
    dies), so a revision may even commit part-way (``autocommit_block``) and still
    hold it. SQLite: ``BEGIN IMMEDIATE`` takes the write lock at once; a second
    process waits for it (the engine's busy timeout) and then sees the schema.
    """
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        connection.commit()
        try:
            with connection.begin():
                yield
        finally:
            if not connection.invalidated:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                connection.commit()
    elif dialect == "sqlite":
        with connection.begin():
            # pysqlite opens no transaction for DDL on its own: open one ourselves.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        with connection.begin():
            yield


def _upgrade(connection: Connection) -> str | None:
    """Under the lock: stamp a legacy database, upgrade to head; the revision after."""
    current = _current(connection)  # again: another process may have migrated meanwhile
    _check_known(current)
    config = alembic_config(connection)
    if current is None:
        tables = set(inspect(connection).get_table_names())
        legacy = tables & BASELINE_TABLES
        if legacy == BASELINE_TABLES:
            log.info("stamping a database made before alembic at the baseline (%s)", BASELINE)
            command.stamp(config, BASELINE)
        elif legacy:
            log.info(
                "a database made before alembic holds %s: the baseline adds the rest",
                ", ".join(sorted(legacy)),
            )
    command.upgrade(config, "head")
    revision = _current(connection)
    log.info("database schema at revision %s", revision)
    return revision
