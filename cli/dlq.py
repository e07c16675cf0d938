"""``recoup dlq``: contact commands that failed after every retry and fallback."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from temporalio.client import Client

from bootstrap.root import Root
from cli.common import (
    EXIT_ERROR,
    EXIT_INPUT,
    JsonOption,
    console,
    err_console,
    fail,
    load_settings,
    print_json,
    run,
    with_client,
)
from domain.channels import Channel
from domain.dead_letters import DeadLetter, DeadLetterStatus
from service.dead_letters import DeadLetterStore, RedriveRefused, dead_letter_store, redrive

app = typer.Typer(
    help="Dead letters: list, read and redrive contacts that failed for good.",
    no_args_is_help=True,
)


@app.command("list")
def list_(
    channel: Annotated[Channel | None, typer.Option(help="Only this channel.")] = None,
    status: Annotated[
        DeadLetterStatus | None, typer.Option(help="open or redriven (default: both).")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON list ([] when there are none).")
    ] = False,
) -> None:
    """Dead letters, oldest first."""
    with Root(load_settings()) as root:
        letters = dead_letter_store(root).list(tenant_id=tenant, channel=channel, status=status)
    if as_json:
        print_json(letters)
        return
    table = Table(title=f"{len(letters)} dead letter(s)")
    for column in ("id", "created (UTC)", "status", "tenant", "account", "step"):
        table.add_column(column, no_wrap=True)  # ids are copied into `dlq show`: keep whole
    table.add_column("last error", overflow="fold")
    for letter in letters:
        table.add_row(
            letter.dead_letter_id,
            f"{letter.created_at:%Y-%m-%d %H:%M:%S}",
            letter.status.value,
            letter.tenant_id,
            letter.account_id,
            letter.step_id,
            letter.last_error[:90],
        )
    console.print(table)


def _get(store: DeadLetterStore, dead_letter_id: str) -> DeadLetter:
    letter = store.get(dead_letter_id)
    if letter is None:
        fail(f"no dead letter {dead_letter_id!r} (see `recoup dlq list`)", EXIT_INPUT)
    return letter


@app.command()
def show(
    dead_letter_id: Annotated[str, typer.Argument(help="The id from `recoup dlq list`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One dead letter: its command, every failure and its last error."""
    with Root(load_settings()) as root:
        letter = _get(dead_letter_store(root), dead_letter_id)
    if as_json:
        print_json(letter)
        return
    table = Table(title=f"dead letter {letter.dead_letter_id}", show_header=False)
    table.add_row("status", letter.status.value)
    table.add_row("created", f"{letter.created_at:%Y-%m-%d %H:%M:%S} UTC")
    if letter.redriven_at:
        table.add_row("redriven", f"{letter.redriven_at:%Y-%m-%d %H:%M:%S} UTC")
    table.add_row("campaign", f"{letter.campaign_id} ({letter.workflow_id})")
    table.add_row("account", f"{letter.tenant_id}/{letter.account_id}")
    table.add_row("step", f"{letter.step_id} · template {letter.template}")
    for failure in letter.failures:
        tries = f"{failure.attempts} {'try' if failure.attempts == 1 else 'tries'}"
        table.add_row(
            f"  {failure.channel.value} → {failure.to}",
            f"{failure.error_type} after {tries}: {failure.error}",
        )
    console.print(table)


def _say_redriven(letter: DeadLetter, as_json: bool) -> None:
    if not as_json:  # with --json, the one document at the end says it
        console.print(
            f"{letter.dead_letter_id}: redriven into {letter.workflow_id} (step {letter.step_id})"
        )


def _redriven_json(letter: DeadLetter) -> dict[str, str]:
    return {
        "dead_letter_id": letter.dead_letter_id,
        "workflow_id": letter.workflow_id,
        "step_id": letter.step_id,
    }


@app.command("redrive")
def redrive_(
    dead_letter_id: Annotated[
        str | None, typer.Argument(help="The id from `recoup dlq list`; or use --all.")
    ] = None,
    all_open: Annotated[bool, typer.Option("--all", help="Every open dead letter.")] = False,
    channel: Annotated[Channel | None, typer.Option(help="With --all: only this channel.")] = None,
    tenant: Annotated[str | None, typer.Option(help="With --all: only this tenant.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Send dead letters back to their campaigns, which ask the compliance gate again."""
    if (dead_letter_id is None) == (not all_open):
        fail("give one dead letter id or --all", EXIT_INPUT)
    with Root(load_settings()) as root:
        store = dead_letter_store(root)
        if dead_letter_id is not None:
            letters = [_get(store, dead_letter_id)]
        else:
            letters = store.list(tenant_id=tenant, channel=channel, status=DeadLetterStatus.OPEN)

        async def go(client: Client) -> tuple[list[DeadLetter], dict[str, str]]:
            sent: list[DeadLetter] = []
            refused: dict[str, str] = {}  # dead letter id -> why
            for letter in letters:
                try:
                    await redrive(client, store, letter)
                except RedriveRefused as exc:
                    refused[letter.dead_letter_id] = str(exc)
                    err_console.print(f"[yellow]{letter.dead_letter_id}[/]: not redriven: {exc}")
                else:
                    sent.append(letter)
                    _say_redriven(letter, as_json)
            return sent, refused

        sent, refused = run(with_client(load_settings(), go)) if letters else ([], {})
    if as_json:
        print_json(
            {
                "redriven": [_redriven_json(letter) for letter in sent],
                "refused": [{"dead_letter_id": i, "reason": r} for i, r in refused.items()],
            }
        )
    else:
        console.print(f"{len(sent)} redriven, {len(refused)} refused")
    if refused:
        raise typer.Exit(EXIT_ERROR)
