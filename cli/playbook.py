"""``recoup playbook``: the shipped playbooks and the playbook format."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.campaign import resolve_playbook
from cli.common import console, load_settings
from service.playbooks import list_playbooks, playbook_json_schema

app = typer.Typer(help="List, show and validate playbooks.", no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """The playbooks shipped in the playbook folder."""
    settings = load_settings()
    table = Table("name", "steps", "days", "description")
    for name in list_playbooks(settings.playbook_dir):
        book = resolve_playbook(name, settings)
        table.add_row(name, str(len(book.steps)), str(book.total_days), book.description)
    console.print(table)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="A playbook name or a YAML/JSON file.")],
) -> None:
    """Validate a playbook and print its steps (errors name the step and field)."""
    book = resolve_playbook(ref, load_settings())
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
