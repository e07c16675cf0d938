"""``recoup audit``: prove the audit log was not altered."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bootstrap.root import Root
from cli.common import EXIT_VIOLATIONS, JsonOption, console, load_settings, print_json
from service.audit_log import verify as verify_chains

app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@app.command()
def verify(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's chain.")] = None,
    as_json: JsonOption = False,
    anchors: Annotated[
        bool, typer.Option(help="Also compare with the chain heads exported as events.")
    ] = True,
) -> None:
    """Recompute every record's HMAC chain; exit 4 if a record was altered, forged or deleted.

    With anchors (the default), each chain head the exporter put on the event stream
    must still be in the chain: a chain rewritten by someone holding the key fails here.
    """
    with Root(load_settings()) as root:
        findings = verify_chains(root, tenant, anchors)
    if as_json:
        rows = [
            {
                "tenant": f.tenant_id,
                "kind": f.kind.value,
                "position": f.position,
                "detail": f.detail,
            }
            for f in findings
        ]
        print_json({"intact": not findings, "findings": rows})
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
