"""``recoup temporal setup``: register Recoup's namespace and search attributes on a cluster."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from bootstrap.cluster import ClusterError, Connection, SetupReport, State, setup_cluster
from cli.common import EXIT_ERROR, console, err_console, fail, load_settings, run

app = typer.Typer(help="The Temporal cluster Recoup runs on.", no_args_is_help=True)

_MARK = {
    State.CREATED: "[green]created[/]",
    State.EXISTS: "exists ",
    State.ERROR: "[red]error[/]  ",
}


@app.command()
def setup(
    address: Annotated[
        str | None,
        typer.Option(help="HOST:PORT of the frontend; default: RECOUP_TEMPORAL_ADDRESS."),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(help="Namespace to use; default: RECOUP_TEMPORAL_NAMESPACE."),
    ] = None,
    retention_days: Annotated[
        int,
        typer.Option(min=1, help="Closed workflows' retention when the namespace is created."),
    ] = 30,
    create_namespace: Annotated[
        bool,
        typer.Option(
            "--create-namespace/--no-create-namespace",
            help="Register the namespace if missing (Temporal Cloud: create it there first).",
        ),
    ] = True,
    tls: Annotated[
        bool, typer.Option("--tls", help="Use TLS with the system's root certificates.")
    ] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="Client certificate (PEM) for mTLS; with --tls-key."
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Client private key (PEM) for mTLS."),
    ] = None,
    tls_ca: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="CA certificate (PEM) of the server."),
    ] = None,
    tls_server_name: Annotated[
        str | None, typer.Option(help="Server name to verify, when it differs from HOST.")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="RECOUP_TEMPORAL_API_KEY",
            help="API key (Temporal Cloud); switches TLS on. Prefer the environment variable.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create the namespace and Recoup's search attributes where missing; safe to run again.

    What exists is left alone. A wrong-typed attribute or an unreachable cluster: exit 1.
    """
    settings = load_settings()
    connection = Connection(
        address=address or settings.temporal_address,
        # Unset options fall back to the settings every worker connects with.
        tls=tls or settings.temporal_tls,
        tls_cert=tls_cert or settings.temporal_tls_cert,
        tls_key=tls_key or settings.temporal_tls_key,
        tls_ca=tls_ca or settings.temporal_tls_ca,
        tls_server_name=tls_server_name or settings.temporal_tls_server_name,
        api_key=api_key or None,
    )
    target = namespace or settings.temporal_namespace
    try:
        report = run(
            setup_cluster(
                connection,
                target,
                retention=timedelta(days=retention_days),
                create_namespace=create_namespace,
            )
        )
    except ClusterError as exc:
        fail(f"{exc}; check the address (and --tls / --api-key for a secured cluster)")
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


def _print(report: SetupReport) -> None:
    console.print(f"Temporal {report.address}, namespace {report.namespace}", highlight=False)
    for item in report.items:
        line = f"  {_MARK[item.state]} {item.kind} {item.name}: {item.detail}"
        if item.state is State.ERROR:
            err_console.print(line, highlight=False)
        else:
            console.print(line, highlight=False)
    summary = (
        f"{len(report.created)} created, {len(report.existing)} already there, "
        f"{len(report.errors)} error(s)"
    )
    if report.ok:
        console.print(summary, highlight=False)
    else:
        err_console.print(f"[bold red]error:[/] {summary}", highlight=False)
