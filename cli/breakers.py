"""``recoup breakers``: every provider's circuit breaker, as all workers share it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from bootstrap.announcement import IN_PROCESS
from bootstrap.root import Root
from bootstrap.settings import Settings
from cli.common import (
    EXIT_ERROR,
    EXIT_INPUT,
    JsonOption,
    console,
    fail,
    load_settings,
    print_json,
    run,
    whereabouts,
)
from service import breakers as use
from service.breakers import BreakerSnapshot, BreakerState
from service.errors import BreakerStoreUnavailable

app = typer.Typer(
    help="Circuit breakers per provider: state, failure window, time until they close.",
    invoke_without_command=True,
)

_STYLE = {BreakerState.CLOSED: "green", BreakerState.HALF_OPEN: "yellow", BreakerState.OPEN: "red"}


def _root(settings: Settings) -> Root:
    """The root over the shared breakers: RECOUP_REDIS_URL, else the running `recoup
    dev`'s Redis (load_settings took it from the announcement)."""
    dev = whereabouts(settings).dev
    if not settings.redis_url and dev is not None and dev.breakers == IN_PROCESS:
        fail(
            f"the breakers live inside the `recoup dev` process (pid {dev.pid}): it found no "
            "Redis when it started, so only its own workers see them. To see them here, "
            "start Redis (redis://127.0.0.1:6379/0, which `recoup dev` then uses by itself) "
            "and restart `recoup dev`, or give it and this command the same RECOUP_REDIS_URL.",
            EXIT_ERROR,
        )
    if not settings.redis_url and dev is not None and dev.redis_password_omitted:
        fail(
            f"`recoup dev` (pid {dev.pid}) shares the breakers in Redis at {dev.breakers}, "
            "whose password it does not announce: set RECOUP_REDIS_URL (with RECOUP_REDIS_PREFIX "
            f"{dev.redis_prefix}) for this command.",
            EXIT_ERROR,
        )
    if not settings.redis_url:
        fail(
            "breakers are shared through Redis, and RECOUP_REDIS_URL is not set: each worker "
            "keeps its own in memory. Set it (e.g. redis://127.0.0.1:6379/0) for the workers "
            "and this command.",
            EXIT_ERROR,
        )
    return Root(settings)


def _redis_setting(settings: Settings) -> str:
    """Which setting named the Redis, for messages."""
    dev = whereabouts(settings).dev
    if dev is not None and settings.redis_url == dev.breakers:
        return f"the Redis `recoup dev` pid {dev.pid} shares them in, or RECOUP_REDIS_URL"
    return "RECOUP_REDIS_URL"


async def _snapshots(settings: Settings) -> list[BreakerSnapshot]:
    async with _root(settings) as root:
        try:
            return await use.snapshots(root)
        except BreakerStoreUnavailable as exc:
            fail(f"{exc} ({_redis_setting(settings)})")


@app.callback()
def breakers(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show every breaker (run `recoup breakers reset NAME` to close one by hand).

    They are read from RECOUP_REDIS_URL, else from the Redis the running `recoup dev`
    shares them in; `recoup dev` without Redis keeps them in its own process, which
    this says. --json prints one list ([] when there is none).
    """
    if ctx.invoked_subcommand is not None:
        return
    snapshots = run(_snapshots(load_settings()))
    if as_json:
        print_json(snapshots)
        return
    now = datetime.now(UTC)
    table = Table(title="circuit breakers")
    for column in ("breaker", "state", "window (failed/calls)", "opens at", "closes in", "probes"):
        table.add_column(column)
    for s in snapshots:
        calls = s.failures + s.successes
        threshold = f"{s.config.failure_ratio:.0%} of ≥{s.config.min_calls}"
        closes = (
            f"{max(0.0, (s.opened_until - now).total_seconds()):.0f} s"
            if s.state is BreakerState.OPEN and s.opened_until
            else "-"
        )
        probes = (
            f"{s.probe_successes}/{s.config.half_open_probes} ok, {s.probes_in_flight} running"
            if s.state is BreakerState.HALF_OPEN
            else "-"
        )
        style = _STYLE[s.state]
        table.add_row(
            s.name,
            f"[{style}]{s.state.value}[/]",
            f"{s.failures}/{calls}",
            threshold,
            closes,
            probes,
        )
    console.print(table)


@app.command()
def reset(name: Annotated[str, typer.Argument(help="The breaker, e.g. email.")]) -> None:
    """Close a breaker now with a fresh window (after fixing the provider by hand)."""
    settings = load_settings()
    if name not in settings.breakers:
        fail(f"no breaker {name!r} (known: {', '.join(sorted(settings.breakers))})", EXIT_INPUT)

    async def go() -> None:
        async with _root(settings) as root:
            try:
                await use.reset(root, name)
            except BreakerStoreUnavailable as exc:
                fail(f"{exc} ({_redis_setting(settings)})")

    run(go())
    console.print(f"{name}: closed")
