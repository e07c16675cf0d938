"""One way to open a SQL database, shared by every store.

SQLite is the embedded default; PostgreSQL is the production store. A bare
``postgresql://`` URL means psycopg2, which is not installed, so it is mapped
to psycopg 3. SQLite runs in WAL mode so a worker reads while the CLI writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import create_engine

_SQLITE_BUSY_MS = 30_000


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        # A command run before anything was stored (`recoup dlq list` in a fresh
        # directory) must find an empty store, not fail to open the file.
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # pre_ping: a long-lived worker must survive a database restart.
    engine = create_engine(url, pool_pre_ping=True)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The busy timeout makes a writer wait for another writer instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough under WAL, much faster
    cursor.close()
