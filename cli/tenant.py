"""``recoup tenant``: tenants of the API and their keys (stored hashed; shown once)."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from bootstrap.root import Root
from cli.common import (
    EXIT_INPUT,
    JsonOption,
    console,
    err_console,
    fail,
    load_settings,
    print_json,
)
from domain.account import Tenant
from service.errors import TenantError
from service.tenants import ApiKeyInfo, TenantStore, stored_tenant, tenant_store

app = typer.Typer(
    help="Tenants of the HTTP and gRPC APIs, and their API keys.", no_args_is_help=True
)


def _key_json(info: ApiKeyInfo, token: str | None = None) -> dict[str, str | None]:
    body: dict[str, str | None] = {
        "tenant_id": info.tenant_id,
        "key_id": info.key_id,
        "label": info.label,
        "created_at": info.created_at.isoformat(),
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
    }
    if token is not None:
        body["api_key"] = token
    return body


def _tenant_json(tenant: Tenant) -> dict[str, object]:
    return tenant.model_dump() | {"first_party": tenant.first_party}


def _show_new_key(info: ApiKeyInfo, token: str, as_json: bool) -> None:
    if as_json:
        print_json(_key_json(info, token))
        return
    console.print(f"API key [bold]{info.key_id}[/] for tenant [bold]{info.tenant_id}[/]:")
    print(token)
    err_console.print("Keep it now: only its hash is stored, it cannot be shown again.")


_NAME_HELP = (
    "The collector, who debtors hear from: the agency, or the creditor itself when it "
    "collects its own debts."
)
_CREDITOR_HELP = (
    "Whom the debts are owed to, for portfolio rows that name no creditor of their own "
    "(an agency collecting for one creditor). Leave out when the tenant collects its own "
    "debts (first-party)."
)

_PENALTY_HELP = (
    "Reward the adaptive policy gives a contact followed within its attribution window by "
    "this harm, relative to a payment's 1 (0 to -10; 0: not counted)."
)


def _tenant(tenant_id: str, name: str, creditor: str | None) -> Tenant:
    try:
        return Tenant(tenant_id=tenant_id, name=name, creditor=creditor)
    except ValidationError as exc:
        fields = ", ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        fail(f"invalid tenant: {fields}", EXIT_INPUT)


def _stored(store: TenantStore, tenant_id: str) -> Tenant:
    try:
        return stored_tenant(store, tenant_id)
    except TenantError as exc:
        fail(f"{exc}; `recoup tenant create` makes one")


def _describe(tenant: Tenant) -> str:
    if tenant.first_party:
        return f"{tenant.name} (first-party: collects its own debts)"
    return f"{tenant.name} collecting for {tenant.creditor} (third-party)"


@app.command()
def create(
    tenant_id: Annotated[str, typer.Argument(help="Tenant id (letters, digits, . _ : -).")],
    name: Annotated[str, typer.Option("--name", help=_NAME_HELP)],
    creditor: Annotated[str | None, typer.Option("--creditor", help=_CREDITOR_HELP)] = None,
    label: Annotated[str, typer.Option(help="A note on the first key, e.g. 'crm prod'.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a tenant and its first API key (printed once).

    An agency collecting for a creditor: --name "Acme Recovery" --creditor "Northwind".
    A creditor collecting its own debts: --name "Fairview Bank" alone.
    A portfolio row's own creditor column wins over --creditor.
    """
    tenant = _tenant(tenant_id, name, creditor)
    with Root(load_settings()) as root:
        store = tenant_store(root)
        if not store.create_tenant(tenant):
            fail(f"tenant {tenant_id!r} exists; `recoup tenant keys {tenant_id} --new` adds a key")
        new = store.create_key(tenant_id, label)
    if not as_json:
        err_console.print(f"tenant {tenant_id}: {_describe(tenant)}")
    _show_new_key(new.info, new.token, as_json)


@app.command("set")
def set_names(
    tenant_id: Annotated[str, typer.Argument(help="Tenant id.")],
    name: Annotated[str | None, typer.Option("--name", help=_NAME_HELP)] = None,
    creditor: Annotated[str | None, typer.Option("--creditor", help=_CREDITOR_HELP)] = None,
    first_party: Annotated[
        bool,
        typer.Option("--first-party", help="The tenant collects its own debts: no creditor."),
    ] = False,
    opt_out_penalty: Annotated[
        float | None, typer.Option("--opt-out-penalty", min=-10, max=0, help=_PENALTY_HELP)
    ] = None,
    dispute_penalty: Annotated[
        float | None, typer.Option("--dispute-penalty", min=-10, max=0, help=_PENALTY_HELP)
    ] = None,
    complaint_penalty: Annotated[
        float | None, typer.Option("--complaint-penalty", min=-10, max=0, help=_PENALTY_HELP)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change the names debtors read, or what harm costs the adaptive policy: campaigns
    started from now on use them."""
    penalties = {
        field: value
        for field, value in (
            ("opt_out_penalty", opt_out_penalty),
            ("dispute_penalty", dispute_penalty),
            ("complaint_penalty", complaint_penalty),
        )
        if value is not None
    }
    if creditor is not None and first_party:
        fail("--creditor and --first-party contradict each other: give one", EXIT_INPUT)
    if name is None and creditor is None and not first_party and not penalties:
        fail(
            "nothing to change: give --name, --creditor, --first-party or a --*-penalty",
            EXIT_INPUT,
        )
    with Root(load_settings()) as root:
        store = tenant_store(root)
        current = _stored(store, tenant_id)
        kept = None if first_party else (creditor if creditor is not None else current.creditor)
        tenant = _tenant(tenant_id, name if name is not None else current.name, kept)
        tenant = tenant.model_copy(
            update={
                field: getattr(current, field)
                for field in ("opt_out_penalty", "dispute_penalty", "complaint_penalty")
            }
            | penalties
        )
        store.update_tenant(tenant)
    if as_json:
        print_json(_tenant_json(tenant))
        return
    console.print(f"tenant {tenant_id}: {_describe(tenant)}")
    if penalties:
        console.print(
            f"harm after a contact (adaptive policy): opt-out {tenant.opt_out_penalty:g}, "
            f"dispute {tenant.dispute_penalty:g}, complaint {tenant.complaint_penalty:g} "
            "(a payment: 1)"
        )


@app.command("list")
def list_tenants(as_json: JsonOption = False) -> None:
    """Every tenant with the names its debtors read."""
    with Root(load_settings()) as root:
        store = tenant_store(root)
        found = store.tenants()
    if as_json:
        print_json([_tenant_json(tenant) for tenant in found])
        return
    table = Table(title="tenants")
    for column in ("tenant", "collector (--name)", "creditor", "party"):
        table.add_column(column)
    for tenant in found:
        party = "first" if tenant.first_party else "third"
        table.add_row(tenant.tenant_id, tenant.name, tenant.creditor_for(None), party)
    console.print(table)


@app.command()
def keys(
    tenant_id: Annotated[str, typer.Argument(help="Tenant id.")],
    new: Annotated[bool, typer.Option("--new", help="Create another key (printed once).")] = False,
    label: Annotated[str, typer.Option(help="A note on the new key.")] = "",
    as_json: JsonOption = False,
) -> None:
    """List a tenant's keys (never their secrets), or add one with --new."""
    with Root(load_settings()) as root:
        store = tenant_store(root)
        _stored(store, tenant_id)
        if new:
            made = store.create_key(tenant_id, label)
            _show_new_key(made.info, made.token, as_json)
            return
        found = store.keys(tenant_id)
    if as_json:
        print_json([_key_json(info) for info in found])
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
    as_json: JsonOption = False,
) -> None:
    """Revoke a key at once: the next request with it gets 401."""
    with Root(load_settings()) as root:
        try:
            info = tenant_store(root).revoke(key_id)
        except TenantError as exc:
            fail(str(exc))
    if as_json:
        print_json(_key_json(info))
        return
    when = f"{info.revoked_at:%Y-%m-%d %H:%M:%S} UTC" if info.revoked_at else "now"
    console.print(f"key {info.key_id} of tenant {info.tenant_id} revoked at {when}")
