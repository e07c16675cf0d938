"""``recoup brokers setup``: create the topics, exchanges, queues and streams Recoup uses."""

from __future__ import annotations

from typing import Annotated

import typer

from bootstrap.root import Root
from bootstrap.settings import SQL_SINK
from cli.common import EXIT_ERROR, EXIT_INPUT, console, err_console, fail, load_settings, run
from service.errors import SinkUnavailable

app = typer.Typer(help="The message brokers events are exported to.", no_args_is_help=True)

BROKERS = ("kafka", "rabbitmq", "redis")


@app.command()
def setup(
    sink: Annotated[
        list[str] | None,
        typer.Option(help="kafka, rabbitmq or redis (repeatable); default: the configured ones."),
    ] = None,
) -> None:
    """Create (or check) each broker's topology; safe to run again.

    Recoup also creates what it needs on first use; run this ahead of time when the
    workers' broker users may not create topics or exchanges (production).
    """
    settings = load_settings()
    names = set(sink) if sink else settings.all_sinks - {SQL_SINK}
    unknown = names - set(BROKERS)
    if unknown:
        fail(
            f"--sink: unknown broker(s) {', '.join(sorted(unknown))}; use {', '.join(BROKERS)}",
            EXIT_INPUT,
        )
    if not names:
        fail("no broker sink configured (RECOUP_SINKS); name one with --sink", EXIT_INPUT)
    try:
        sinks = Root(settings).sinks(names)
    except ValueError as exc:
        fail(str(exc), EXIT_INPUT)

    async def main() -> int:
        failed = 0
        for name, built in sorted(sinks.items()):
            try:
                lines = await built.setup()
            except SinkUnavailable as exc:
                err_console.print(f"[bold red]{name}:[/] {exc}")
                failed += 1
                continue
            finally:
                await built.close()
            console.print(f"[bold]{name}[/]")
            for line in lines:
                console.print(f"  {line}", highlight=False)
        return failed

    if run(main()):
        raise typer.Exit(EXIT_ERROR)
