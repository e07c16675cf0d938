"""One way to open a SQL database, shared by every store.

SQLite is the embedded default; PostgreSQL is the production store. A bare
``postgresql://`` URL means psycopg2, which is not installed, so it is mapped
to psycopg 3. SQLite runs in WAL mode so a worker reads while the CLI writes.

``database_url_problem`` says what is wrong with a URL before anything is opened
(the settings refuse it), and ``check_database`` whether the database answers (a
worker refuses to start when it does not); both say it in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import create_engine

from adapters.errors import AdapterError

_SQLITE_BUSY_MS = 30_000


class DatabaseUnavailable(AdapterError):
    """The database did not answer: not reachable, refusing the login, or not there."""


def _url(database_url: str) -> URL:
    url = make_url(database_url)
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    return url


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def make_engine(database_url: str, *, connect_timeout: int | None = None) -> Engine:
    """An engine for ``database_url``; ``connect_timeout`` (seconds) bounds a PostgreSQL
    connection attempt, which otherwise waits as long as the operating system does."""
    url = _url(database_url)
    if (file := _sqlite_file(url)) is not None:
        # A command run before anything was stored (`recoup dlq list` in a fresh
        # directory) must find an empty store, not fail to open the file. This is
        # for the default database in the data directory: a database URL someone
        # typed is checked first (``database_url_problem``, by the settings), so a
        # typo in it cannot start a new empty database in a new directory.
        file.parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict[str, Any] = {}
    if connect_timeout is not None and url.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = connect_timeout
    # pre_ping: a long-lived worker must survive a database restart.
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def database_url_problem(database_url: str) -> str | None:
    """What makes ``database_url`` unusable before connecting, or None.

    Never quotes the URL: it may hold a password.
    """
    try:
        url = _url(database_url)
    except (ArgumentError, ValueError):
        return "not a database URL (e.g. postgresql+psycopg://user@host/db, sqlite:///path/file.db)"
    try:
        url.get_dialect().import_dbapi()
    except (ImportError, SQLAlchemyError) as exc:
        return f"no installed driver for {url.drivername!r} ({one_line(exc)})"
    file = _sqlite_file(url)
    if file is not None and not file.parent.is_dir():
        # An existing file is opened and a new one created, but only in a directory
        # that exists: a wrong path must not quietly become a new, empty database.
        return f"the SQLite file's directory {file.parent} does not exist"
    if file is not None and file.is_dir():
        return f"{file} is a directory, not a SQLite file"
    return None


def check_database(database_url: str, timeout_seconds: int = 10) -> None:
    """Connect and run ``SELECT 1``; raise ``DatabaseUnavailable`` with the reason."""
    # A server that swallows packets must not hold a worker's start for minutes.
    engine = make_engine(database_url, connect_timeout=timeout_seconds)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(one_line(getattr(exc, "orig", None) or exc)) from exc
    finally:
        engine.dispose()


def one_line(exc: BaseException) -> str:
    """A driver's message on one line (psycopg's span several, with tabs)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The busy timeout makes a writer wait for another writer instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough under WAL, much faster
    cursor.close()
