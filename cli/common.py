"""What every command shares: settings, the Temporal client, output and errors."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from pydantic_settings import SettingsError
from rich.console import Console
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from bootstrap import whereabouts as state
from bootstrap.keyring import KeyRingError
from bootstrap.root import Root
from bootstrap.settings import Settings
from bootstrap.whereabouts import Whereabouts
from domain.account import Tenant
from service.errors import NOT_FOUND
from service.tenants import tenant_profile as stored_profile

T = TypeVar("T")

# Wide enough for any row Recoup prints; a table only takes the width it needs.
PIPE_WIDTH = 10_000


def make_console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that wraps and crops only for a person.

    Piped to a file or another program, rich would otherwise assume 80 columns and fold
    table cells and URLs, or cut them with an ellipsis: a script would read half an id.
    So when the stream is not a terminal the console is as wide as any line and never
    wraps. Errors never hard-wrap, even on a terminal: scripts read them too.
    """
    console = Console(stderr=stderr, soft_wrap=stderr)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
        console.soft_wrap = True
    return console


console = make_console()
err_console = make_console(stderr=True)

# Exit codes (documented in docs/operating.md, "Exit codes").
EXIT_ERROR = 1  # the operation failed (service unreachable, no such campaign, ...)
EXIT_INPUT = 2  # the input was wrong (bad file, bad option value): nothing was done
EXIT_PARTIAL = 3  # done for the good part of the input; the bad part is listed on stderr
EXIT_VIOLATIONS = 4  # an audit found a contact that broke the rules
EXIT_DIFFERENCES = 5  # reconciliation found records that disagree


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


# Whether this command takes the state of a running `recoup dev` (bootstrap.whereabouts):
# every command does but those that run a stack of their own (set by cli.main).
_follow_dev = True
# What load_settings resolved in this process, and whether its note was printed.
_where: Whereabouts | None = None
_noted = False


def follow_dev(follow: bool) -> None:
    global _follow_dev
    _follow_dev = follow


def load_settings() -> Settings:
    """The settings from RECOUP_* variables and .env, with the data directory (and
    Temporal) of a running `recoup dev` when not told otherwise; a bad value exits 2
    naming it. Using dev's directory from elsewhere is said in one line on stderr."""
    global _where, _noted
    try:
        settings = Settings()
    except ValidationError as exc:
        fail(f"configuration: {validation_problems(exc)}", EXIT_INPUT)
    except SettingsError as exc:  # a JSON setting that does not parse, before validation
        fail(f"configuration: {unparsable_setting(exc)}", EXIT_INPUT)
    _where = state.resolve(settings, follow_dev=_follow_dev)
    note = _where.note()
    if note and not _noted:
        _noted = True
        err_console.print(f"[dim]{note}[/]", highlight=False)
    return _where.settings


def whereabouts(settings: Settings) -> Whereabouts:
    """Where ``settings``' state came from (load_settings' resolution in this process)."""
    return _where or state.resolve(settings, follow_dev=False)


def validation_problems(exc: ValidationError) -> str:
    """Each error as the variable, where inside its value, and the problem; never the
    value itself (it may be a key)."""
    found = []
    for error in exc.errors():
        path = [str(part) for part in error["loc"]]
        if not path:  # a rule across settings: its message names them
            found.append(error["msg"])
            continue
        where = f" ({'.'.join(path[1:])})" if path[1:] else ""
        found.append(f"RECOUP_{path[0].upper()}{where}: {error['msg']}")
    return "; ".join(found)


# pydantic-settings names the field and the source only in its message.
_UNPARSABLE = re.compile(r'field "(?P<field>\w+)" from source "(?P<source>\w+)"')


def unparsable_setting(exc: SettingsError) -> str:
    """'RECOUP_RETRY: not valid JSON (...)' for a complex setting that does not parse.

    The JSON error's text gives the line and column, never the value."""
    match = _UNPARSABLE.search(str(exc))
    if match is None:
        return str(exc)
    name = f"RECOUP_{match['field'].upper()}"
    if match["source"].startswith("DotEnv"):
        name += " (in .env)"
    cause = exc.__cause__
    reason = f"not valid JSON ({cause})" if isinstance(cause, json.JSONDecodeError) else cause
    return f"{name}: {reason or 'cannot be read'}"


def tenant_for(tenant_id: str, settings: Settings) -> Tenant:
    """The tenant for operations that use only its id (pause, pay, ...)."""
    return settings.tenant(tenant_id)


def tenant_profile(tenant_id: str, settings: Settings) -> Tenant:
    """The tenant as debtors will read of it: its own names when ``recoup tenant create``
    stored it (as the API does), else RECOUP_COLLECTOR_NAME and RECOUP_CREDITOR_NAME."""
    with Root(settings) as root:
        return stored_profile(root, tenant_id)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def refuse_foreign_keys(settings: Settings) -> None:
    """Exit 2 when what this command sends could not be read by the running workers: it
    would make a key ring of its own, or encrypt with a key `recoup dev`'s lack."""
    try:
        refusal = state.key_refusal(whereabouts(settings), settings)
    except KeyRingError as exc:
        fail(f"payload encryption keys: {exc}", EXIT_INPUT)
    if refusal is not None:
        fail(refusal, EXIT_INPUT)


async def with_client(settings: Settings, action: Callable[[Client], Awaitable[T]]) -> T:
    refuse_foreign_keys(settings)
    # Never creates a key ring: the workers' ring is the one to use (checked above).
    root = Root(settings, create_keys=False)
    try:
        client = await root.client()
    except KeyRingError as exc:  # codec keys that do not fit: a setting, as in `recoup worker`
        fail(f"payload encryption keys: {exc}", EXIT_INPUT)
    except RuntimeError as exc:
        fail(f"{exc}; is `recoup dev` running, or RECOUP_TEMPORAL_ADDRESS set?")
    try:
        return await action(client)
    except NOT_FOUND as exc:  # an id that names nothing: exit 1 as documented, in our words
        fail(str(exc))
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            fail(f"not found: {exc.message}")
        fail(f"Temporal refused the request: {exc.message}")
    finally:
        await root.aclose()


# Every command that reports something takes it; the document is the human output's facts.
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead.")]


def print_json(
    data: BaseModel | Mapping[str, Any] | Sequence[BaseModel] | Sequence[Mapping[str, Any]],
) -> None:
    """``--json``: one JSON document on stdout, whatever the command found, so a script
    can always parse it (an empty list is ``[]``, never no output)."""
    console.print_json(to_json(data).decode())


def money(amounts: dict[str, Decimal]) -> str:
    if not amounts:
        return "0.00"
    return ", ".join(f"{v:,.2f} {c}" for c, v in sorted(amounts.items()))
