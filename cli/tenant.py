"""``recoup tenant``: tenants of the API and their keys (stored hashed; shown once)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from adapters.tenants import ApiKeyInfo, TenantError, TenantStore
from cli.common import EXIT_INPUT, console, err_console, fail, load_settings
from domain.account import Tenant

app = typer.Typer(
    help="Tenants of the HTTP and gRPC APIs, and their API keys.", no_args_is_help=True
)


def _store() -> TenantStore:
    store = TenantStore(load_settings().sql_url)
    store.create_tables()
    return store


def _key_json(info: ApiKeyInfo, token: str | None = None) -> str:
    body = {
        "tenant_id": info.tenant_id,
        "key_id": info.key_id,
        "label": info.label,
        "created_at": info.created_at.isoformat(),
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
    }
    if token is not None:
        body["api_key"] = token
    return json.dumps(body)


def _show_new_key(info: ApiKeyInfo, token: str, as_json: bool) -> None:
    if as_json:
        print(_key_json(info, token))
        return
    console.print(f"API key [bold]{info.key_id}[/] for tenant [bold]{info.tenant_id}[/]:")
    print(token)
    err_console.print("Keep it now: only its hash is stored, it cannot be shown again.")


@app.command()
def create(
    tenant_id: Annotated[str, typer.Argument(help="Tenant id (letters, digits, . _ : -).")],
    name: Annotated[str, typer.Option("--name", help="The creditor's name, shown to debtors.")],
    label: Annotated[str, typer.Option(help="A note on the first key, e.g. 'crm prod'.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a tenant and its first API key (printed once)."""
    try:
        tenant = Tenant(tenant_id=tenant_id, name=name)
    except ValidationError as exc:
        fields = ", ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        fail(f"invalid tenant: {fields}", EXIT_INPUT)
    store = _store()
    try:
        if not store.create_tenant(tenant):
            fail(f"tenant {tenant_id!r} exists; `recoup tenant keys {tenant_id} --new` adds a key")
        new = store.create_key(tenant_id, label)
    finally:
        store.dispose()
    _show_new_key(new.info, new.token, as_json)


@app.command()
def keys(
    tenant_id: Annotated[str, typer.Argument(help="Tenant id.")],
    new: Annotated[bool, typer.Option("--new", help="Create another key (printed once).")] = False,
    label: Annotated[str, typer.Option(help="A note on the new key.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List a tenant's keys (never their secrets), or add one with --new."""
    store = _store()
    try:
        if store.get_tenant(tenant_id) is None:
            fail(f"no tenant {tenant_id!r}; `recoup tenant create` makes one")
        if new:
            made = store.create_key(tenant_id, label)
            _show_new_key(made.info, made.token, as_json)
            return
        found = store.keys(tenant_id)
    finally:
        store.dispose()
    if as_json:
        for info in found:
            print(_key_json(info))
        return
    table = Table(title=f"API keys of {tenant_id}")
    table.add_column("key id", no_wrap=True)
    table.add_column("label")
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for info in found:
        state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
        table.add_row(info.key_id, info.label, f"{info.created_at:%Y-%m-%d %H:%M}", state)
    console.print(table)


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (`recoup tenant keys` lists them).")],
) -> None:
    """Revoke a key at once: the next request with it gets 401."""
    store = _store()
    try:
        info = store.revoke(key_id)
    except TenantError as exc:
        fail(str(exc))
    finally:
        store.dispose()
    when = f"{info.revoked_at:%Y-%m-%d %H:%M:%S} UTC" if info.revoked_at else "now"
    console.print(f"key {info.key_id} of tenant {info.tenant_id} revoked at {when}")
