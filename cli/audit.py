"""``recoup audit``: prove the audit log was not altered."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from cli.common import EXIT_VIOLATIONS, console, load_settings

app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@app.command()
def verify(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's chain.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per finding.")] = False,
) -> None:
    """Recompute every record's HMAC chain; exit 4 if a record was altered, forged or deleted."""
    log = load_settings().audit_log()
    try:
        log.create_tables()
        findings = log.verify(tenant)
    finally:
        log.dispose()
    if as_json:
        for f in findings:
            row = {"tenant": f.tenant_id, "kind": f.kind.value, "position": f.position}
            typer.echo(json.dumps({**row, "detail": f.detail}))
    elif not findings:
        console.print("audit log intact: every chain verifies")
    else:
        table = Table(title=f"{len(findings)} finding(s)")
        for column in ("tenant", "kind", "position", "detail"):
            table.add_column(column)
        for f in findings:
            table.add_row(f.tenant_id, f.kind.value, str(f.position), f.detail)
        console.print(table)
    if findings:
        raise typer.Exit(EXIT_VIOLATIONS)
