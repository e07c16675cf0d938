"""``recoup report CAMPAIGN``: a campaign's KPIs from the SQL read model."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from rich.table import Table

from bootstrap.root import Root
from cli.common import console, fail, load_settings
from service.reports import Breakdown, CampaignReport, campaign_report


def report(
    campaign: Annotated[str, typer.Argument(help="Campaign id (as given at launch).")],
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's accounts.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as one JSON object.")] = False,
) -> None:
    """A campaign's KPIs from the read model: collected, recovery and contact rates, ...

    Amount collected and recovery rate, contact and right-party contact rates,
    promises made and kept, opt-out rate, and results per channel and per step.
    """
    with Root(load_settings()) as root:
        found = campaign_report(root, campaign, tenant)
    if not found.accounts:
        # Exit 1, as every lookup of an id that names nothing (docs/operating.md).
        where = f" in tenant {tenant!r}" if tenant else ""
        fail(
            f"no campaign {campaign!r}{where} in the read model (is the exporter running? "
            "`recoup events status` shows its progress)"
        )
    if as_json:
        typer.echo(found.model_dump_json())
        return
    print_report(found)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _money(amounts: dict[str, Decimal]) -> str:
    return ", ".join(f"{v:,.2f} {c}" for c, v in sorted(amounts.items())) or "0.00"


def print_report(r: CampaignReport) -> None:
    kpis = Table(title=f"campaign {r.campaign_id}", show_header=False)
    kpis.add_column("kpi", no_wrap=True)
    kpis.add_column("value")
    recovery = ", ".join(f"{v:.1%} ({c})" for c, v in sorted(r.recovery_rate.items())) or "-"
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(r.statuses.items()))
    for name, value in [
        ("accounts", f"{r.accounts} ({r.finished} finished)"),
        ("statuses", statuses),
        ("opening balance", _money(r.opening_balance)),
        ("collected", f"{_money(r.collected)} in {r.payments} payment(s)"),
        ("recovery rate", recovery),
        ("contact rate", _pct(r.contact_rate)),
        ("right-party contact rate", _pct(r.right_party_rate)),
        (
            "promises",
            f"{r.promises_made} made, {r.promises_kept} kept, {r.promises_broken} broken",
        ),
        ("opt-out rate", _pct(r.opt_out_rate)),
        ("disputes", str(r.disputes)),
    ]:
        kpis.add_row(name, value)
    console.print(kpis)
    _breakdown("by channel", r.by_channel)
    _breakdown("by playbook step", r.by_step)


def _breakdown(title: str, rows: dict[str, Breakdown]) -> None:
    table = Table(title=title)
    for column in ("", "attempts", "reached", "failed", "skipped", "reach rate", "collected"):
        table.add_column(column, no_wrap=True)
    for name, b in sorted(rows.items()):
        table.add_row(
            name,
            str(b.attempts),
            str(b.reached),
            str(b.failed),
            str(b.skipped),
            _pct(b.reach_rate),
            f"{b.collected:,.2f}",
        )
    console.print(table)
