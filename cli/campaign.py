"""``recoup campaign``: launch a portfolio from a file, follow its progress."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer
from rich.table import Table
from temporalio.client import Client

from bootstrap.root import Root
from bootstrap.settings import Settings
from cli.common import (
    EXIT_INPUT,
    EXIT_PARTIAL,
    JsonOption,
    console,
    err_console,
    fail,
    load_settings,
    money,
    print_json,
    refuse_foreign_keys,
    run,
    tenant_profile,
    with_client,
)
from cli.operate import operate
from domain.compliance.content import validation_notice_problems
from domain.errors import FieldProblem
from domain.playbook import Playbook
from domain.portfolio import PortfolioStatus
from service.campaigns import campaign_id_for, campaign_progress, start_portfolio
from service.errors import PlaybookError, PortfolioFileError, PortfolioStoreError
from service.models import CampaignSteered, CancelIn, PauseIn, ResumeIn
from service.playbooks import load_playbook
from service.portfolios import PortfolioRejected, read_portfolio, stage_rows

app = typer.Typer(
    help="Launch portfolios, follow their campaigns, pause and resume them.", no_args_is_help=True
)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id.")]


def resolve_playbook(ref: str, settings: Settings, *, for_launch: bool = False) -> Playbook:
    try:
        book = load_playbook(ref, search_dir=settings.playbook_dir)
    except PlaybookError as exc:
        if not exc.problems:  # not found or not readable: the message says which, and
            fail(str(exc), EXIT_INPUT)  # suggests the name meant
        err_console.print(f"[bold red]error:[/] playbook {ref!r} is not valid:")
        for problem in exc.problems:
            err_console.print(f"  {problem}")
        raise typer.Exit(EXIT_INPUT) from exc
    notice = validation_notice_problems(book)
    if notice and for_launch:
        fail(f"playbook {book.name!r}: {notice[0]}", EXIT_INPUT)
    for warning in notice:
        err_console.print(f"[yellow]warning:[/] playbook {book.name!r}: {warning}")
    return book


@app.command()
def launch(
    file: Annotated[Path, typer.Argument(help="Portfolio file: .csv or .json.")],
    playbook: Annotated[
        str, typer.Option("--playbook", "-p", help="Shipped playbook name or a YAML/JSON file.")
    ],
    tenant: TenantOption = "default",
    campaign_id: Annotated[
        str | None,
        typer.Option(help="Campaign id; default: file name + content hash (relaunch attaches)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Reject the whole file if any row is bad.")
    ] = False,
    day_seconds: Annotated[
        float, typer.Option(help="Length of a playbook day in seconds (86400 = real time).")
    ] = 86_400,
    starts_in_flight: Annotated[
        int,
        typer.Option(
            "--starts-in-flight",
            "--window",
            min=1,
            max=2000,
            help="Account campaign starts in flight at once (every account is started; "
            "this bounds how fast, not how many are open).",
        ),
    ] = 64,
    starts_per_second: Annotated[
        float | None, typer.Option(min=0.001, help="At most this many starts a second.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Date days-past-due is computed at (default: today).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Validate FILE, report bad rows with their line and field, launch the good ones.

    The file is read a row at a time and its good rows staged as they are read, so
    memory stays flat however long it is; every bad row is reported as it goes by.
    """
    settings = load_settings()
    book = resolve_playbook(playbook, settings, for_launch=True)
    try:
        reference = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError:
        fail(f"--as-of: expected YYYY-MM-DD, got {as_of!r}", EXIT_INPUT)
    try:
        rows = read_portfolio(file, as_of=reference, latest_due=settings.latest_due_date())
        campaign = campaign_id or campaign_id_for(file)
    except (PortfolioFileError, OSError) as exc:
        fail(f"{file}: {exc}", EXIT_INPUT)
    # Before anything is stored: keys the workers lack would launch nothing they can read.
    refuse_foreign_keys(settings)
    profile = tenant_profile(tenant, settings)

    def report(problem: FieldProblem) -> None:
        err_console.print(f"[yellow]{file}:[/] {problem}")

    try:
        read = run(
            stage_rows(
                settings,
                tenant_id=profile.tenant_id,
                campaign_id=campaign,
                rows=rows,
                report=report,
                strict=strict,
            )
        )
    except (PortfolioFileError, OSError) as exc:
        fail(f"{file}: {exc}", EXIT_INPUT)
    except PortfolioRejected as exc:
        fail(str(exc), EXIT_INPUT)
    except PortfolioStoreError as exc:
        fail(f"campaign {campaign}: {exc}", EXIT_INPUT)

    async def go(client: Client) -> str:
        handle = await start_portfolio(
            client,
            settings,
            tenant=profile,
            campaign_id=campaign,
            playbook=book,
            total=read.staged,
            seconds_per_day=day_seconds,
            starts_in_flight=starts_in_flight,
            starts_per_second=starts_per_second,
        )
        return handle.result_run_id or ""

    run(with_client(settings, go))
    query = quote(f"RecoupCampaign = '{campaign}'")
    launched = {
        "campaign_id": campaign,
        "tenant_id": profile.tenant_id,
        "playbook": book.name,
        "accounts": read.accepted,
        "rejected": read.rejected,  # each one is on stderr, with its line and field
        "follow": f"recoup campaign status {campaign} --tenant {tenant}",
        "web_ui": f"{settings.ui_url}/workflows?query={query}",
    }
    if as_json:
        print_json(launched)
    else:
        console.print(
            f"[bold green]launched[/] campaign [bold]{campaign}[/]: "
            f"{read.accepted} account(s), {read.rejected} row(s) rejected, playbook {book.name}"
        )
        console.print(f"follow it: {launched['follow']}")
        console.print(f"web UI:    {launched['web_ui']}")
    if read.rejected:
        raise typer.Exit(EXIT_PARTIAL)


def progress_table(status: PortfolioStatus) -> Table:
    """The figures of docs/metrics.md, as every surface shows them."""
    table = Table(title=f"campaign {status.campaign_id} ({status.playbook})", show_header=False)
    table.add_row("accounts", str(status.total))
    table.add_row("started", f"{status.started} (+{status.attached} attached)")
    table.add_row("open", str(status.active))
    table.add_row("finished", str(status.finished))
    for state, count in sorted(status.by_status.items()):
        table.add_row(f"  {state.value}", str(count))
    table.add_row("promises", f"{status.promised} made, {status.promises_kept} kept")
    table.add_row("collected", money(status.collected))
    contacts = ", ".join(f"{c.value} {n}" for c, n in sorted(status.contacts.items()))
    table.add_row("contacts attempted", contacts or "none yet")
    if status.cancelled:
        table.add_row("launcher", "cancelled")
    elif status.paused is not None:
        table.add_row("launcher", f"paused ({status.paused.reason})")
    if status.counted_at is not None:
        table.add_row("counted", f"{status.counted_at:%Y-%m-%d %H:%M:%S} UTC")
    return table


@app.command()
def status(
    campaign_id: Annotated[str, typer.Argument(help="Campaign id printed by launch.")],
    tenant: TenantOption = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Progress of a campaign: accounts started, open, by status, promises, collected.

    Counted when asked, from the read model and Temporal's visibility: the same figures
    as `recoup report`, the API and the console (docs/metrics.md).
    """
    settings = load_settings()

    async def counted(client: Client) -> PortfolioStatus:
        with Root(settings, client=client) as root:
            return await campaign_progress(client, root, tenant, campaign_id)

    result = run(with_client(settings, counted))
    if as_json:
        print_json(result)
    else:
        console.print(progress_table(result))


def print_steered(steered: CampaignSteered, as_json: bool) -> None:
    if as_json:
        print(steered.model_dump_json())
        return
    launcher = steered.launcher
    line = (
        f"campaign {steered.campaign_id}: {steered.action.value} reached "
        f"{steered.reached} of {steered.selected} running account campaign(s)"
    )
    if steered.failed:
        line += f", {steered.failed} not (ended meanwhile)"
    console.print(line + f" in {steered.seconds:.1f} s")
    if launcher is not None:
        state = "cancelled" if launcher.cancelled else "paused" if launcher.paused else "running"
        console.print(
            f"launcher: {state} · {launcher.started} started · {launcher.attached} attached"
            + (" · all launched" if launcher.launching_done else "")
        )
    console.print(f"batch operation: {steered.job_id} (web UI: Batch operations)")


@app.command()
def pause(
    campaign_id: Annotated[str, typer.Argument(help="The campaign id.")],
    reason: Annotated[str, typer.Option(help="Why (shown in the web UI and events).")] = (
        "paused by an operator"
    ),
    operator: Annotated[str, typer.Option(help="Who pauses.")] = "operator",
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Pause a whole campaign: no account starts, running ones hold outreach.

    One Temporal batch operation reaches every running account; this waits for it and
    says how many it reached.
    """
    body = PauseIn(reason=reason, operator=operator)
    print_steered(
        operate(tenant, lambda s, t: s.pause_campaign(t, campaign_id, body, wait=True)), as_json
    )


@app.command()
def resume(
    campaign_id: Annotated[str, typer.Argument(help="The campaign id.")],
    operator: Annotated[str, typer.Option(help="Who resumes.")] = "operator",
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Resume a paused campaign: the launcher goes on, every running account resumes."""
    body = ResumeIn(operator=operator)
    print_steered(
        operate(tenant, lambda s, t: s.resume_campaign(t, campaign_id, body, wait=True)), as_json
    )


@app.command()
def cancel(
    campaign_id: Annotated[str, typer.Argument(help="The campaign id.")],
    reason: Annotated[str, typer.Option(help="Why (in the events and the audit log).")] = (
        "cancelled by an operator"
    ),
    operator: Annotated[str, typer.Option(help="Who cancels.")] = "operator",
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Cancel a whole campaign: no more starts; every running account ends as cancelled
    before its next contact (what was paid stays paid)."""
    body = CancelIn(reason=reason, operator=operator)
    print_steered(
        operate(tenant, lambda s, t: s.cancel_campaign(t, campaign_id, body, wait=True)), as_json
    )
