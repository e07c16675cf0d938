"""``recoup compliance``: ask the gate about a contact, as a compliance officer would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table
from temporalio.client import Client

from bootstrap.root import Root
from cli.common import (
    EXIT_INPUT,
    EXIT_PARTIAL,
    EXIT_VIOLATIONS,
    console,
    err_console,
    fail,
    load_settings,
    print_json,
    run,
    with_client,
)
from domain.compliance.check import CheckRequest, check
from domain.errors import problems
from service.audit import AuditReport, audit_account

app = typer.Typer(help="Check contacts against Regulation F, the TCPA and state rules.")


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"{path}: {exc.strerror}", EXIT_INPUT)
    except json.JSONDecodeError as exc:
        fail(f"{path}: not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", EXIT_INPUT)


def _errors(exc: ValidationError) -> str:
    return "; ".join(str(p) for p in problems(exc))


@app.command("check")
def check_command(
    file: Annotated[
        Path | None,
        typer.Argument(help='JSON: {"account": {...}, "history": [...], "proposed": {...}}.'),
    ] = None,
    batch: Annotated[
        Path | None,
        typer.Option("--batch", help="A JSON list of such objects, each may carry an id."),
    ] = None,
) -> None:
    """Print {"allowed", "reason", "reasons", "earliest_allowed"} for a proposed contact.

    earliest_allowed is a UTC ISO-8601 instant, or null when a permanent bar applies
    (cease, attorney, dispute_hold, opted_out, no_consent). With --batch, one line per
    object, carrying its id; a malformed object gets {"id", "error"} and the rest go on.
    """
    if (file is None) == (batch is None):
        fail("give either FILE or --batch FILE", EXIT_INPUT)
    if file is not None:
        data = _load(file)
        try:
            request = CheckRequest.model_validate(data)
        except ValidationError as exc:
            fail(f"{file}: {_errors(exc)}", EXIT_INPUT)
        typer.echo(json.dumps(check(request)))
        return
    assert batch is not None
    items = _load(batch)
    if not isinstance(items, list):
        fail(f"{batch}: --batch expects a JSON list of check objects", EXIT_INPUT)
    failed = 0
    for index, item in enumerate(items):
        ident = item.get("id") if isinstance(item, dict) else None
        try:
            result = {"id": ident, **check(CheckRequest.model_validate(item))}
        except ValidationError as exc:
            failed += 1
            message = f"[{index}]: {_errors(exc)}"
            err_console.print(f"[red]{batch}{message}[/]")
            result = {"id": ident, "error": message}
        typer.echo(json.dumps(result))
    if failed:
        raise typer.Exit(EXIT_INPUT if failed == len(items) else EXIT_PARTIAL)


@app.command()
def audit(
    account_id: Annotated[str, typer.Argument(help="The account to audit.")],
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id.")] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay every contact of the account's campaigns from Temporal's history.

    Each contact is decided again with the inputs its channel agent was given, at
    the moment it was sent, and checked against every revocation received before it
    (cease, attorney, dispute, opt-out, consent withdrawn: by signal or in the
    suppression store). Exit code 4 when any contact fails.
    """
    settings = load_settings()

    async def go(client: Client) -> AuditReport:
        with Root(settings) as root:
            return await audit_account(client, tenant, account_id, root.suppressions)

    report = run(with_client(settings, go))
    if as_json:
        print_json(report)
    else:
        table = Table(
            "sent at (UTC)", "channel", "to", "rule set", "verdict",
            title=f"account {account_id}: {len(report.contacts)} contact(s) in "
            f"{report.runs} run(s)",
        )  # fmt: skip
        for c in report.contacts:
            verdict = "[green]passed[/]" if c.passed else f"[red]{'; '.join(c.findings)}[/]"
            table.add_row(
                f"{c.sent_at:%Y-%m-%d %H:%M:%S}", c.channel.value, c.to, c.ruleset, verdict
            )
        console.print(table)
    if report.violations:
        raise typer.Exit(EXIT_VIOLATIONS)
