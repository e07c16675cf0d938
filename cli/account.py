"""``recoup account``: one account's campaign, and payments recorded by hand."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table
from temporalio.client import Client

from cli.common import (
    EXIT_INPUT,
    JsonOption,
    console,
    fail,
    load_settings,
    print_json,
    run,
    with_client,
)
from cli.operate import operate
from domain.arrangements import Arrangement, ArrangementKind, ArrangementRequest
from domain.campaign import CampaignSnapshot, PaymentReceived
from domain.channels import Channel
from domain.compliance.facts import LegalEvent, LegalEventKind
from domain.contact import format_amount
from domain.errors import problems
from service.campaigns import (
    ArrangementRefused,
    account_status,
    arrange,
    record_payment,
    send_legal_event,
)
from service.models import PauseIn, ResumeIn

app = typer.Typer(
    help="Inspect an account's campaign; record payments, legal events and arrangements; "
    "pause and resume it.",
    no_args_is_help=True,
)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id.")]


def snapshot_table(s: CampaignSnapshot) -> Table:
    table = Table(title=f"account {s.account_id} · campaign {s.campaign_id}", show_header=False)
    table.add_row("status", s.status.value)
    table.add_row("balance", format_amount(s.balance, s.currency))
    table.add_row("paid", format_amount(s.amount_paid, s.currency))
    table.add_row("playbook", f"{s.playbook}: {s.steps_done}/{s.steps_total} steps done")
    if s.next_action:
        when = f" at {s.next_action_at:%Y-%m-%d %H:%M:%S} UTC" if s.next_action_at else ""
        table.add_row("next", f"{s.next_action}{when}")
    if s.promise_until:
        table.add_row("promise until", f"{s.promise_until:%Y-%m-%d %H:%M} UTC")
    table.add_row("replies", str(s.replies))
    if s.arrangement:
        deal = s.arrangement
        table.add_row(
            "arrangement",
            f"{deal.request.arrangement_id}: {deal.request.kind.value} of "
            f"{format_amount(deal.request.total, s.currency)} in "
            f"{len(deal.request.instalments)} instalment(s), {deal.status.value}"
            + (f" ({deal.detail})" if deal.detail else ""),
        )
        if deal.link_url:
            table.add_row("payment link", deal.link_url)
    for a in s.attempts:
        detail = f" ({a.detail})" if a.detail else ""
        table.add_row(
            f"  {a.at:%Y-%m-%d %H:%M:%S}",
            f"{a.step_id}: {a.channel.value} {a.outcome.value}{detail}",
        )
    return table


@app.command()
def show(
    account_id: Annotated[str, typer.Argument(help="The account id from the portfolio.")],
    tenant: TenantOption = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Status, balance, next action and contact history of an account's campaign."""
    settings = load_settings()
    snapshot = run(with_client(settings, lambda c: account_status(c, tenant, account_id)))
    if as_json:
        print_json(snapshot)
    else:
        console.print(snapshot_table(snapshot))


@app.command()
def pay(
    account_id: Annotated[str, typer.Argument(help="The account id from the portfolio.")],
    amount: Annotated[str, typer.Option("--amount", help="Amount paid, e.g. 120.50.")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code.")] = "USD",
    payment_id: Annotated[
        str | None, typer.Option(help="Payment reference; resending the same one is harmless.")
    ] = None,
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Record a payment (full or partial); a full payment ends the campaign."""
    try:
        payment = PaymentReceived(
            payment_id=payment_id or f"manual-{uuid.uuid4().hex[:12]}",
            amount=Decimal(amount),
            currency=currency,
            source="cli",
        )
    except InvalidOperation:
        fail(f"--amount: not a number: {amount!r}", EXIT_INPUT)
    except ValidationError as exc:
        fail("; ".join(str(p) for p in problems(exc)), EXIT_INPUT)
    settings = load_settings()

    async def go(client: Client) -> CampaignSnapshot:
        await record_payment(client, tenant, account_id, payment)
        return await account_status(client, tenant, account_id)

    snapshot = run(with_client(settings, go))
    if as_json:
        print_json({"recorded": payment, "campaign": snapshot})
        return
    console.print(
        f"recorded {format_amount(payment.amount, payment.currency)} ({payment.payment_id}) "
        f"for {account_id}: status {snapshot.status.value}, "
        f"balance {format_amount(snapshot.balance, snapshot.currency)}"
    )


@app.command()
def legal(
    account_id: Annotated[str, typer.Argument(help="The account id from the portfolio.")],
    event: Annotated[
        LegalEventKind,
        typer.Option("--event", help="What happened (takes effect before the next contact)."),
    ],
    channel: Annotated[
        Channel | None, typer.Option(help="For consent_revoked and medium_opt_out.")
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="One address or number; default: the whole channel.")
    ] = None,
    note: Annotated[str, typer.Option(help="Free text for the record.")] = "",
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Record a cease, attorney, dispute, verification sent, consent revoked or medium opt-out."""
    if event in {LegalEventKind.CONSENT_REVOKED, LegalEventKind.MEDIUM_OPT_OUT} and not channel:
        fail(f"--channel is required for --event {event.value}", EXIT_INPUT)
    settings = load_settings()
    signal = LegalEvent(kind=event, channel=channel, address=address, note=note)

    async def go(client: Client) -> CampaignSnapshot:
        await send_legal_event(client, settings, tenant, account_id, signal)
        return await account_status(client, tenant, account_id)

    snapshot = run(with_client(settings, go))
    if as_json:
        print_json({"recorded": signal, "campaign": snapshot})
        return
    console.print(f"recorded {event.value} for {account_id}: status {snapshot.status.value}")


@app.command("arrange")
def arrange_(
    account_id: Annotated[str, typer.Argument(help="The account id from the portfolio.")],
    kind: Annotated[ArrangementKind, typer.Option("--kind", help="What the debtor accepted.")],
    instalment: Annotated[
        list[str],
        typer.Option(
            "--instalment",
            "-i",
            help="DUE_DATE:AMOUNT, e.g. 2026-12-15:120.00; repeat for a plan.",
        ),
    ],
    arrangement_id: Annotated[
        str | None, typer.Option("--id", help="Reference; resending the same one is harmless.")
    ] = None,
    note: Annotated[str, typer.Option(help="Free text for the record.")] = "",
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Book a settlement or payment plan the debtor accepted (link, ledger, confirmation)."""
    schedule = []
    for text in instalment:
        due, sep, amount = text.partition(":")
        if not sep:
            fail(f"--instalment {text!r}: expected DUE_DATE:AMOUNT", EXIT_INPUT)
        schedule.append({"due": due.strip(), "amount": amount.strip()})
    try:
        request = ArrangementRequest.model_validate(
            {
                "arrangement_id": arrangement_id or f"arr-{uuid.uuid4().hex[:10]}",
                "kind": kind,
                "instalments": schedule,
                "note": note,
            }
        )
    except ValidationError as exc:
        fail("; ".join(str(p) for p in problems(exc)), EXIT_INPUT)
    settings = load_settings()

    async def go(client: Client) -> Arrangement:
        try:
            return await arrange(client, tenant, account_id, request)
        except ArrangementRefused as exc:
            fail(f"not accepted: {exc}", EXIT_INPUT)

    accepted = run(with_client(settings, go))
    if as_json:
        print_json(accepted)
        return
    console.print(
        f"{accepted.request.arrangement_id}: {accepted.request.kind.value} accepted for "
        f"{account_id} ({accepted.status.value}); `recoup account show {account_id}` follows it"
    )


@app.command()
def pause(
    account_id: Annotated[str, typer.Argument(help="The account id.")],
    reason: Annotated[str, typer.Option(help="Why (shown in the web UI and events).")] = (
        "paused by an operator"
    ),
    operator: Annotated[str, typer.Option(help="Who pauses.")] = "operator",
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Hold outreach to an account before its next contact, until resumed."""
    body = PauseIn(reason=reason, operator=operator)
    accepted = operate(tenant, lambda s, t: s.pause_account(t, account_id, body))
    if as_json:
        print_json(accepted)
        return
    console.print(f"{account_id}: paused ({reason})")


@app.command()
def resume(
    account_id: Annotated[str, typer.Argument(help="The account id.")],
    operator: Annotated[str, typer.Option(help="Who resumes.")] = "operator",
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Resume outreach to a paused account."""
    body = ResumeIn(operator=operator)
    accepted = operate(tenant, lambda s, t: s.resume_account(t, account_id, body))
    if as_json:
        print_json(accepted)
        return
    console.print(f"{account_id}: resumed")
