"""The ``recoup`` command."""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import InterfaceError, OperationalError

from cli import (
    account,
    approvals,
    audit,
    breakers,
    brokers,
    campaign,
    compliance,
    db,
    dlq,
    events,
    keys,
    playbook,
    schemas,
    temporal_setup,
    tenant,
)
from cli.api import api
from cli.channels import channels
from cli.classify import classify
from cli.common import EXIT_ERROR, err_console, follow_dev, load_settings
from cli.cost import cost
from cli.demo import demo
from cli.dev import dev, worker
from cli.reconcile import reconcile_command
from cli.report import report
from cli.simulate import simulate_command
from cli.where import where
from service.schema import database_error
from workers.run import database_setting

app = typer.Typer(
    name="recoup",
    help="Recoup: durable, compliant collection campaigns on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"recoup {package_version()}")
        raise typer.Exit()


def package_version() -> str:
    """The installed package's version (pyproject.toml), as pip and bug reports see it."""
    try:
        return version("recoup")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


# Commands that run a stack of their own: they never take a running `recoup dev`'s state.
OWN_STACK = frozenset({"dev", "demo", "simulate"})


@app.callback()
def _options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where state and the codec key ring are (sets RECOUP_DATA_DIR); default: "
            "RECOUP_DATA_DIR, else the running `recoup dev`'s, else ./.recoup.",
        ),
    ] = None,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print Recoup's version and exit.",
            callback=_print_version,
            is_eager=True,  # before any command is required
        ),
    ] = False,
) -> None:
    """Recoup: durable, compliant collection campaigns on Temporal."""
    if data_dir is not None:
        # The one place every command reads it from, as if exported for this process.
        os.environ["RECOUP_DATA_DIR"] = str(data_dir)
    follow_dev(ctx.invoked_subcommand not in OWN_STACK)


app.command()(dev)
app.command()(demo)
app.command()(worker)
app.add_typer(campaign.app, name="campaign")
app.add_typer(account.app, name="account")
app.add_typer(playbook.app, name="playbook")
app.add_typer(compliance.app, name="compliance")
app.add_typer(dlq.app, name="dlq")
app.add_typer(breakers.app, name="breakers")
app.add_typer(audit.app, name="audit")
app.add_typer(events.app, name="events")
app.command()(report)
app.command(name="reconcile")(reconcile_command)
app.add_typer(brokers.app, name="brokers")
app.add_typer(db.app, name="db")
app.add_typer(schemas.app, name="schemas")
app.add_typer(keys.app, name="keys")
app.command()(api)
app.add_typer(tenant.app, name="tenant")
app.add_typer(approvals.app, name="approvals")
app.add_typer(temporal_setup.app, name="temporal")
app.command()(classify)
app.command()(cost)
app.command("simulate")(simulate_command)
app.command()(channels)
app.command()(where)


def run() -> None:
    """Entry point with reliable exit codes.

    The Temporal client's Rust runtime keeps threads that can abort the
    interpreter during finalization (temporalio/sdk-python#300), turning a
    successful command into exit code 134. So we flush and leave with
    ``os._exit`` once the command has finished, skipping that teardown.
    """
    code = 0
    try:
        # Without standalone mode click returns an Exit's code instead of raising it.
        returned = app(standalone_mode=False)
        code = returned if isinstance(returned, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        code = 130
    except KeyboardInterrupt:
        code = 130
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        code = _report(exc)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _report(exc: Exception) -> int:
    """Usage errors print as click would (exit 2); a database that does not answer is one
    line naming it (exit 1); anything else is a bug: traceback, exit 1."""
    show = getattr(exc, "show", None)
    if isinstance(exc, typer.TyperException) and callable(show):
        show()
        return int(getattr(exc, "exit_code", 1))
    if isinstance(exc, OperationalError | InterfaceError):
        # Any command's first store meets it (`recoup dlq list`, `recoup api`, ...): the
        # setting and the driver's reason say what to fix; a traceback says nothing more.
        settings = load_settings()
        err_console.print(
            f"[bold red]error:[/] the database does not answer ({database_setting(settings)}): "
            f"{database_error(exc.orig or exc)}"
        )
        return EXIT_ERROR
    import traceback

    traceback.print_exception(exc)
    return 1


if __name__ == "__main__":
    run()
