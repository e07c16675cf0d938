"""``recoup playbook``: the shipped playbooks and the playbook format."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.campaign import resolve_playbook
from cli.common import JsonOption, console, load_settings, print_json
from domain.playbook import Playbook
from service.playbooks import list_playbooks, playbook_json_schema

app = typer.Typer(help="List, show and validate playbooks.", no_args_is_help=True)


@app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """The playbooks shipped in the playbook folder."""
    settings = load_settings()
    books = [resolve_playbook(name, settings) for name in list_playbooks(settings.playbook_dir)]
    if as_json:
        print_json([_listed(book) for book in books])
        return
    table = Table("name", "steps", "days", "description")
    for book in books:
        table.add_row(book.name, str(len(book.steps)), str(book.total_days), book.description)
    console.print(table)


def _listed(book: Playbook) -> dict[str, object]:
    return {
        "name": book.name,
        "steps": len(book.steps),
        "total_days": book.total_days,
        "description": book.description,
    }


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="A playbook name or a YAML/JSON file.")],
    as_json: JsonOption = False,
) -> None:
    """Validate a playbook and print its steps (errors name the step and field)."""
    book = resolve_playbook(ref, load_settings())
    if as_json:
        print_json(book)
        return
    table = Table("day", "step", "channel", "template", "requires", "fallback", title=book.name)
    for step in book.steps:
        table.add_row(
            str(step.day),
            step.id,
            step.channel.value,
            step.template,
            ", ".join(c.value for c in step.requires) or "-",
            ", ".join(step.fallbacks) or "-",
        )
    console.print(table)
    stops = ", ".join(s.value for s in book.stop_when)
    console.print(
        f"stops on: {stops} · promise pause {book.promise_grace_days} d · "
        f"closing {book.closing_days} d"
    )


@app.command()
def schema() -> None:
    """Print the playbook JSON Schema (the copy in docs/ is generated from this)."""
    typer.echo(playbook_json_schema(), nl=False)
