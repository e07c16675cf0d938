"""``recoup cost``: what an account's or a campaign's workflows cost in Temporal Cloud Actions.

Counted from the workflow histories with Temporal's published rules
(https://docs.temporal.io/cloud/actions; the counting is ``service.cost``), next to the
overhead: the part of them the same work would not need (retries, continue-as-new
restarts, search-attribute upserts). Queries, heartbeats and rejected updates leave no
history and are not counted. What a campaign costs against a bare workflow doing the
same activities, timers and signals is measured by ``bench.engine``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from temporalio.client import Client

from cli.common import EXIT_INPUT, console, fail, load_settings, print_json, run, with_client
from service.cost import (
    ActionCounts,
    CampaignCostReport,
    CostNotFound,
    CostReport,
    account_cost,
    campaign_cost,
)


def cost(
    account_id: Annotated[
        str | None,
        typer.Argument(
            metavar="ACCOUNT_ID", help="Account id (or give --campaign).", show_default=False
        ),
    ] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="Cost a whole campaign instead.")
    ] = None,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id.")] = "default",
    queries: Annotated[
        int,
        typer.Option(
            min=0, help="Queries sent to the account, if known (histories do not record them)."
        ),
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="The report as one JSON object.")] = False,
) -> None:
    """Billable Temporal Actions of an account's campaign, or of a whole campaign.

    Counted from the histories of every run (continue-as-new included) and of child
    workflows, by category, next to the overhead: retries, continue-as-new restarts and
    search-attribute upserts, which the same work would not need.
    """
    if (account_id is None) == (campaign is None):
        fail("give an ACCOUNT_ID or --campaign CAMPAIGN_ID (one of them)", EXIT_INPUT)
    settings = load_settings()

    async def fetch(client: Client) -> CostReport | CampaignCostReport:
        try:
            if campaign is not None:
                return await campaign_cost(client, tenant, campaign)
            assert account_id is not None
            return await account_cost(client, tenant, account_id, queries=queries)
        except CostNotFound as exc:
            fail(str(exc))

    report = run(with_client(settings, fetch))
    if as_json:
        print_json(report)
    elif isinstance(report, CostReport):
        print_account(report)
    else:
        print_campaign(report)


def _breakdown(title: str, columns: list[tuple[str, ActionCounts]]) -> Table:
    table = Table(title=title)
    table.add_column("actions", no_wrap=True)
    for name, _ in columns:
        table.add_column(name, justify="right")
    for category in ActionCounts.model_fields:
        values = [c.categories()[category] for _, c in columns]
        if any(values):
            table.add_row(category.replace("_", " "), *(str(v) for v in values))
    table.add_row("[bold]total[/]", *(f"[bold]{c.total}[/]" for _, c in columns))
    return table


def print_account(r: CostReport) -> None:
    runs = len({x.run_id for x in r.runs if x.workflow_id == r.workflow_id})
    children = len({x.workflow_id for x in r.runs if x.workflow_id != r.workflow_id})
    title = f"account {r.account_id} · {runs} run(s), {children} child workflow(s)"
    console.print(_breakdown(title, [("counted", r.actions), ("overhead", r.overhead)]))
    if r.started_by:
        console.print(f"started by {r.started_by}: its 2 start actions are included")


def print_campaign(r: CampaignCostReport) -> None:
    title = f"campaign {r.campaign_id} · {len(r.accounts)} account(s)"
    console.print(
        _breakdown(
            title,
            [
                ("counted", r.actions),
                ("overhead", r.overhead),
                ("portfolio", r.portfolio_actions),
            ],
        )
    )
    spread = Table(title="per account", show_header=True)
    spread.add_column("", no_wrap=True)
    spread.add_column("mean", justify="right")
    spread.add_column("min", justify="right")
    spread.add_column("max", justify="right")
    for name, s in [("counted", r.per_account), ("overhead", r.per_account_overhead)]:
        spread.add_row(name, f"{s.mean:.1f}", str(s.min), str(s.max))
    console.print(spread)
