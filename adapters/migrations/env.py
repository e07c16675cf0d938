"""Alembic's environment for Recoup: migrates the connection ``adapters.schema`` passes in.

There is no alembic.ini: ``adapters.schema.alembic_config()`` builds the
configuration (script location: this directory) and puts the connection to
migrate in ``config.attributes["connection"]``, already inside a transaction and
under the migration lock; this file only configures the context and runs the
revisions. Without a connection it opens ``sqlalchemy.url`` itself (offline
``--sql`` mode renders SQL for that URL's dialect).

``target_metadata`` is every table module's models (``adapters.schema.TABLE_MODULES``),
which autogenerate compares with a database at head. To write a revision::

    .venv/bin/python -m adapters.migrations revision -m "add the read model"

See README.md in this directory.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlmodel.sql.sqltypes import AutoString

from adapters.schema import table_metadata
from adapters.sql import make_engine

config = context.config
target_metadata = table_metadata()


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Write SQLModel's ``AutoString(n)`` as ``sa.String(length=n)``: the same DDL, and a
    revision that does not depend on sqlmodel's internals."""
    if type_ == "type" and isinstance(obj, AutoString):
        return "sa.String()" if obj.length is None else f"sa.String(length={obj.length})"
    return False


def _options(dialect: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "render_item": render_item,
        "compare_type": True,
        # SQLite alters a table by copying it; batch mode works on PostgreSQL too.
        "render_as_batch": dialect == "sqlite",
    }


def run_migrations_online(connection: Connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline(url: str) -> None:
    parsed = make_url(url)
    context.configure(
        url=parsed,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_options(parsed.get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "no connection to migrate: use adapters.schema.migrate(), or set sqlalchemy.url"
        )
    return url


def main() -> None:
    if context.is_offline_mode():
        run_migrations_offline(_url())
        return
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        run_migrations_online(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as own:
            run_migrations_online(own)
            own.commit()
    finally:
        engine.dispose()


main()
