"""``recoup reconcile CAMPAIGN``: do the campaign's records agree with what went out?"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.common import (
    EXIT_DIFFERENCES,
    console,
    fail,
    load_settings,
    run,
    with_client,
)
from service.reconcile import Reconciliation, reconcile


def reconcile_command(
    campaign: Annotated[str, typer.Argument(help="Campaign id (as given at launch).")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")] = "default",
    wait: Annotated[
        float,
        typer.Option(min=0, max=3600, help="Seconds to wait for the exporter to catch up."),
    ] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="The result as one JSON object.")] = False,
) -> None:
    """Compare the campaign's histories, contact ledger, audit chain, exported events, dead
    letters and totals with each other and with the providers' own records.

    Every contact that went out must be in all of them, and nothing may be in one that is
    not in the others. Exit code 5 when any difference is found.
    """
    settings = load_settings()
    found = run(with_client(settings, lambda c: reconcile(c, settings, tenant, campaign, wait)))
    if not found.runs:
        fail(f"no account campaign of campaign {campaign!r} for tenant {tenant!r}")
    if as_json:
        typer.echo(found.model_dump_json())
    else:
        print_reconciliation(found)
    if found.differences:
        raise typer.Exit(EXIT_DIFFERENCES)


def print_reconciliation(found: Reconciliation) -> None:
    sources = Table(
        title=f"campaign {found.campaign_id}: {found.accounts} account(s), {found.runs} run(s)",
        show_header=False,
    )
    sources.add_column("source", no_wrap=True)
    sources.add_column("records", justify="right")
    for name, count in found.compared.items():
        sources.add_row(name, str(count))
    console.print(sources)
    for note in found.unchecked:
        console.print(f"[yellow]not checked:[/] {note}")
    if found.differences:
        table = Table("kind", "channel", "account", "attempt / provider ref", "detail")
        for d in found.differences:
            table.add_row(
                d.kind.value,
                d.channel.value if d.channel else "",
                d.account_id or "",
                d.attempt_id or d.provider_ref or "",
                d.detail,
            )
        console.print(table)
    colour = "red" if found.differences else "green"
    console.print(f"[bold {colour}]reconciled: {len(found.differences)} differences[/]")
