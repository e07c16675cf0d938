"""``recoup approvals``: decisions campaigns wait for a person to make."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.common import JsonOption, console, print_json
from cli.operate import operate
from domain.operator import ApprovalStatus
from service.models import DecisionIn

app = typer.Typer(help="Decisions campaigns wait for a person to make.", no_args_is_help=True)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id.")]


@app.command("list")
def list_(
    tenant: TenantOption = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pending approvals of the tenant's running campaigns, oldest first."""
    found = operate(tenant, lambda s, t: s.approvals(t))
    if as_json:
        print_json(found)
        return
    table = Table(title=f"pending approvals of {tenant}")
    columns = ("account", "approval id", "kind", "requested (UTC)", "if nobody decides", "what")
    for column in columns:
        table.add_column(column, no_wrap=column != "what")
    for p in found.approvals:
        a = p.approval
        default = a.proposal if a.safe_default is ApprovalStatus.APPROVED else a.alternative
        fallback = f"{a.safe_default.value}" + (f" ({default})" if default else "")
        if a.expires_at is not None:
            fallback = f"{a.expires_at:%Y-%m-%d %H:%M}: {fallback}"
        table.add_row(
            p.account_id,
            a.approval_id,
            a.disagreement or a.kind.value,
            f"{a.requested_at:%Y-%m-%d %H:%M}",
            fallback,
            a.summary,
        )
    console.print(table)


def _decide(
    tenant: str, account_id: str, approval_id: str, body: DecisionIn, as_json: bool
) -> None:
    approval = operate(tenant, lambda s, t: s.decide(t, account_id, approval_id, body))
    if as_json:
        print_json(approval)
        return
    console.print(
        f"{account_id}: {approval.approval_id} {approval.status.value} by {approval.decided_by}"
    )


@app.command()
def approve(
    account_id: Annotated[str, typer.Argument(help="The account id.")],
    approval_id: Annotated[str, typer.Argument(help="From `recoup approvals list`.")],
    operator: Annotated[str, typer.Option(help="Who decides.")] = "operator",
    note: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Approve: the campaign goes ahead (e.g. books the settlement)."""
    body = DecisionIn(approve=True, operator=operator, note=note)
    _decide(tenant, account_id, approval_id, body, as_json)


@app.command()
def deny(
    account_id: Annotated[str, typer.Argument(help="The account id.")],
    approval_id: Annotated[str, typer.Argument(help="From `recoup approvals list`.")],
    operator: Annotated[str, typer.Option(help="Who decides.")] = "operator",
    note: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Deny: the campaign goes on as it was (a denied settlement is not booked)."""
    body = DecisionIn(approve=False, operator=operator, note=note)
    _decide(tenant, account_id, approval_id, body, as_json)
