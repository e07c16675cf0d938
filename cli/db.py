"""``recoup db``: the SQL database's schema (alembic revisions)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cli.common import EXIT_ERROR, console, fail, load_settings
from service.errors import SchemaError
from service.schema import current_revision, head_revision, is_known, migrate

app = typer.Typer(
    help="The SQL database's schema: upgrade it, or see its revision.",
    no_args_is_help=True,
)


def _where(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@app.command()
def upgrade() -> None:
    """Migrate the configured database to the latest schema revision (workers do it too)."""
    url = load_settings().sql_url
    try:
        before = current_revision(url)
        after = migrate(url)
    except SchemaError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"cannot migrate {_where(url)}: {exc}")
    if before == after:
        console.print(f"{_where(url)}: already at revision {after}")
    else:
        console.print(f"{_where(url)}: revision {before or '(none)'} → {after}")


@app.command()
def current(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The database's schema revision and the latest; exit 1 if it is behind."""
    url = load_settings().sql_url
    try:
        revision = current_revision(url)
    except SQLAlchemyError as exc:
        fail(f"cannot read {_where(url)}: {exc}")
    head = head_revision()
    if as_json:
        typer.echo(json.dumps({"database": _where(url), "current": revision, "head": head}))
    else:
        console.print(f"database  {_where(url)}")
        console.print(f"current   {revision or '(none: not migrated yet)'}")
        console.print(f"head      {head}")
    if revision == head:
        return
    if not as_json:
        if revision is not None and not is_known(revision):
            console.print("ahead: a newer version of Recoup migrated this database")
        else:
            console.print("behind: run `recoup db upgrade` (or start a worker)")
    raise typer.Exit(EXIT_ERROR)
