"""``recoup demo``: a whole portfolio, end to end, on the embedded stack.

It generates a sample portfolio, launches it through the same path as
``recoup campaign launch``, and lets simulated debtors react to what they
actually receive (mail at the SMTP simulator, texts and calls at the
SMS/voice simulator; letters at the letter simulator): some pay, some promise, some opt
out. A few debtors can be reached by post only. Playbook days are
compressed into seconds so the whole campaign fits in about a minute.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client
from temporalio.service import RPCError

from api.server import running_apis
from bootstrap.devserver import free_port
from bootstrap.root import Root
from bootstrap.settings import SQL_SINK
from cli.common import EXIT_DIFFERENCES, console, fail, load_settings, money
from cli.reconcile import print_reconciliation
from cli.report import print_report
from cli.stack import PLAINTEXT_TEMPORAL, embedded_stack, run_or_fail, stop_event
from domain import names
from domain.account import Account
from domain.campaign import (
    CampaignSnapshot,
    CollectionStatus,
    InboundReply,
    PaymentReceived,
    account_workflow_id,
)
from domain.channels import Channel
from domain.portfolio import PortfolioStatus
from service.campaigns import campaign_progress, launch_portfolio
from service.errors import NoSuchCampaign
from service.operations import RecoupService
from service.playbooks import load_playbook
from service.portfolios import parse_portfolio
from service.reconcile import reconcile
from service.reports import CampaignReport, campaign_report
from service.revocations import Revocations
from simulators.debtors import (
    DebtorSimulator,
    Reaction,
    ReactionKind,
    sample_portfolio_rows,
    with_letter_only_debtors,
    write_portfolio_csv,
)
from simulators.lob import LobSimulator
from simulators.smtp import ReceivedMail
from simulators.twilio import SimulatedCall, SimulatedMessage, TwilioSimulator

# The demo looks for campaigns held by a real-time rule only when this few are left.
WAITING_CHECK_MAX = 20


class Debtors:
    """Routes each delivered contact to the simulated debtor it reached."""

    def __init__(
        self,
        client: Client,
        sim: DebtorSimulator,
        accounts: list[Account],
        tenant_id: str,
        seconds_per_day: float,
        revocations: Revocations,
    ) -> None:
        self._client = client
        self._revocations = revocations
        self._sim = sim
        self._tenant_id = tenant_id
        self._day = seconds_per_day
        self._by_email = {e.address.lower(): a for a in accounts for e in a.emails}
        self._by_phone = {p.number: a for a in accounts for p in a.phones}
        self._contacts: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self.reactions: Counter[ReactionKind] = Counter()

    def on_mail(self, mail: ReceivedMail) -> None:
        for address in mail.to:
            account = self._by_email.get(address.lower())
            if account:
                self._contacted(account, Channel.EMAIL)

    def on_sms(self, message: SimulatedMessage) -> None:
        account = self._by_phone.get(message.to)
        if account:
            self._contacted(account, Channel.SMS)

    def on_call(self, call: SimulatedCall) -> None:
        account = self._by_phone.get(call.to)
        if account and call.status == "completed" and call.answered_by == "human":
            self._contacted(account, Channel.PHONE)

    def _contacted(self, account: Account, channel: Channel) -> None:
        self._contacts[account.account_id] += 1
        reaction = self._sim.react(account, channel, self._contacts[account.account_id])
        if reaction is not None:
            task = asyncio.create_task(self._deliver(account, reaction))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, account: Account, reaction: Reaction) -> None:
        await asyncio.sleep(reaction.delay_days * self._day)
        handle = self._client.get_workflow_handle(
            account_workflow_id(self._tenant_id, account.account_id)
        )
        ref = uuid.uuid4().hex[:12]
        try:
            if reaction.kind is ReactionKind.PAY and reaction.amount is not None:
                await handle.signal(
                    names.SIGNAL_PAYMENT,
                    PaymentReceived(
                        payment_id=f"sim-{ref}",
                        amount=reaction.amount,
                        currency=account.currency,
                        source="debtor-simulator",
                    ),
                )
            elif reaction.text is not None:
                reply = InboundReply(
                    reply_id=f"sim-{ref}",
                    channel=reaction.channel,
                    text=reaction.text,
                    received_at=datetime.now(UTC),
                )
                # As the webhooks do: a STOP is stored before the campaign hears of it.
                await self._revocations.reply(
                    self._tenant_id, account.account_id, reply, source="demo-debtor"
                )
                await handle.signal(names.SIGNAL_REPLY, reply)
            self.reactions[reaction.kind] += 1
        except RPCError:
            pass  # the campaign already ended: a late reaction changes nothing

    async def drain(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# Every status an account can be in, in the words of the summary (docs/metrics.md).
STATUS_LABELS = {
    CollectionStatus.PAID: "paid in full",
    CollectionStatus.SETTLED: "settled",
    CollectionStatus.PROMISED: "ended on an open promise",
    CollectionStatus.ARRANGED: "on a payment plan",
    CollectionStatus.OPTED_OUT: "opted out of every channel",
    CollectionStatus.RESPONDED: "replied (handed to an agent)",
    CollectionStatus.DISPUTED: "disputed",
    CollectionStatus.CEASED: "ceased (no further contact)",
    CollectionStatus.EXHAUSTED: "playbook done, balance left",
    CollectionStatus.CANCELLED: "cancelled",
    CollectionStatus.SCHEDULED: "still running: first touch due",
    CollectionStatus.ACTIVE: "still running",
}


def summary_table(status: PortfolioStatus, report: CampaignReport, sims: Counter[str]) -> Table:
    """The demo's outcome, in the figures every surface shows (docs/metrics.md): the
    campaign's progress and its report, both from the read model once the exporter has
    caught up. ``sims``: what the simulated providers received, beside Recoup's count."""
    table = Table(title=f"Demo campaign {status.campaign_id} · {status.playbook} playbook")
    table.add_column("outcome")
    table.add_column("accounts", justify="right")
    for state, label in STATUS_LABELS.items():
        count = status.by_status.get(state, 0)
        if count or state in {CollectionStatus.PAID, CollectionStatus.EXHAUSTED}:
            table.add_row(label, str(count))
    table.add_section()
    table.add_row("accounts", f"{status.total} ({status.finished} finished)")
    table.add_row("promises to pay", f"{status.promised} made, {status.promises_kept} kept")
    table.add_row("amount collected", money(status.collected))
    table.add_row("amount due at launch", money(report.opening_balance))
    recovery = ", ".join(f"{v:.1%} ({c})" for c, v in sorted(report.recovery_rate.items()))
    table.add_row("recovery rate", recovery or "n/a")
    table.add_section()
    for channel in Channel:
        table.add_row(
            f"{channel.value} contacts attempted",
            f"{status.contacts.get(channel, 0)} (provider received {sims[channel.value]})",
        )
    return table


def demo(
    accounts: Annotated[int, typer.Option(help="Accounts in the sample portfolio.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed for the portfolio and the debtors.")] = 7,
    day_seconds: Annotated[float, typer.Option(help="Seconds per playbook day.")] = 2.0,
    window: Annotated[
        int,
        typer.Option(
            "--starts-in-flight",
            "--window",
            min=1,
            max=2000,
            help="Account campaign starts in flight at once (all accounts are started).",
        ),
    ] = 64,
    playbook: Annotated[str, typer.Option(help="Playbook name or file.")] = "demo",
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the stack (and web UI) up until Ctrl-C.")
    ] = False,
) -> None:
    """Generate a portfolio, run its campaigns with simulated debtors, print a summary."""
    base = load_settings()
    book = load_playbook(playbook, search_dir=base.playbook_dir)
    with tempfile.TemporaryDirectory(prefix="recoup-demo-") as tmp:
        work = Path(tmp)
        settings = base.model_copy(
            update={
                **PLAINTEXT_TEMPORAL,
                # Simulators bind port 0 and the stack's settings say where they are.
                "temporal_address": f"127.0.0.1:{free_port()}",
                "temporal_ui_port": free_port(),
                "data_dir": work,
                "database_url": None,
                "smtp_host": "127.0.0.1",
                "smtp_port": 0,
                "mail_events_url": "http://127.0.0.1:0",
                "twilio_base_url": "http://127.0.0.1:0",
                "payments_base_url": "http://127.0.0.1:0",
                "ledger_base_url": "http://127.0.0.1:0",
                "lob_base_url": "http://127.0.0.1:0",
                "call_poll_seconds": 0.1,
                "api_host": "127.0.0.1",
                "api_port": free_port(),
                "api_public_url": None,
            }
        )
        today = date.today()
        csv_path = work / "demo-portfolio.csv"
        # Days last seconds, but the compliance gate keeps real local calling hours:
        # place the sample debtors where it is daytime now.
        rows = sample_portfolio_rows(accounts, seed=seed, as_of=today, awake_at=datetime.now(UTC))
        # A few debtors without email or phone: their validation notice goes by post.
        rows = with_letter_only_debtors(rows, seed=seed)
        write_portfolio_csv(rows, csv_path)
        zones = sorted({row["timezone"] for row in rows})
        parsed = parse_portfolio(csv_path, as_of=today, latest_due=settings.latest_due_date())
        if parsed.problems:  # the generator only writes valid rows; say so loudly if not
            fail("; ".join(str(p) for p in parsed.problems[:5]))
        portfolio = parsed.accounts
        tenant = settings.tenant("demo")

        async def main() -> int:
            twilio = TwilioSimulator(
                settings.twilio_account_sid,
                settings.twilio_auth_token,
                seed=seed,
                answer_rate=0.6,
                machine_rate=0.3,
            )
            # The post takes playbook days too (a letter arrives about five days later).
            lob = LobSimulator(
                settings.lob_api_key.get_secret_value(), seed=seed, day_seconds=day_seconds
            )
            async with (
                embedded_stack(
                    settings, db_file=work / "temporal.db", twilio=twilio, lob=lob
                ) as stack,
                running_apis(stack.settings, stack.client, grpc_enabled=False) as apis,
            ):
                service: RecoupService = apis.app.state.service
                # The console shows this run as it goes: its tenant and a key for it, both
                # gone with the run's temporary data directory.
                service.tenants.create_tenant(tenant)
                key = service.tenants.create_key(tenant.tenant_id, "console (recoup demo)")
                console.print(
                    f"[bold]recoup demo[/]: {len(portfolio)} accounts, playbook "
                    f"{book.name}, one day = {day_seconds:g} s · web UI: {settings.ui_url}"
                )
                console.print(
                    f"console: {apis.http_url}/console (API key {key.token}, this run only)"
                )
                console.print(
                    "debtors placed where it is daytime now (calling hours are real): "
                    + ", ".join(zones)
                )
                stores = Root(stack.settings)
                suppressions = stores.suppressions
                debtors = Debtors(
                    stack.client,
                    DebtorSimulator(seed=seed),
                    portfolio,
                    tenant.tenant_id,
                    day_seconds,
                    Revocations(suppressions),
                )
                stack.smtp.on_message(debtors.on_mail)
                stack.twilio.on_message(debtors.on_sms)
                stack.twilio.on_call(debtors.on_call)
                started = time.monotonic()
                handle = await launch_portfolio(
                    stack.client,
                    stack.settings,
                    tenant=tenant,
                    campaign_id=f"demo-{seed}",
                    playbook=book,
                    accounts=portfolio,
                    seconds_per_day=day_seconds,
                    starts_in_flight=window,
                )
                campaign_id = f"demo-{seed}"
                status, waiting = await follow(
                    stack.client, stores, tenant.tenant_id, campaign_id, day_seconds
                )
                if not waiting:
                    await handle.result()
                elapsed = time.monotonic() - started
                await debtors.drain()
                # The summary, the report and the console read the read model: once the
                # exporter has projected every event, they all show the same figures.
                exported_events = await exported(stores)
                status = await campaign_progress(
                    stack.client, stores, tenant.tenant_id, campaign_id
                )
                report = await asyncio.to_thread(
                    campaign_report, stores, campaign_id, tenant.tenant_id
                )
                stores.close()
                seen: Counter[str] = Counter(
                    email=len(stack.smtp.messages),
                    sms=len(stack.twilio.messages),
                    phone=len(stack.twilio.calls),
                    # A debtor's answer to a letter would come by post: not simulated.
                    letter=len(stack.lob.letters),
                )
                # Every record of what went out, against each other and the providers.
                found = await reconcile(stack.client, stack.settings, tenant.tenant_id, campaign_id)
                console.print(summary_table(status, report, seen))
                console.print(f"finished in {elapsed:.1f} s")
                if waiting:
                    console.print(
                        f"{len(waiting)} campaign(s) still wait for a rule that counts real "
                        "days (the demo compresses the playbook's days, not the law's):"
                    )
                    for snap in waiting:
                        assert snap.next_action_at is not None  # see waiting_on_the_law
                        console.print(
                            f"  {snap.account_id}: {snap.next_action} at "
                            f"{snap.next_action_at:%Y-%m-%d %H:%M} UTC"
                        )
                print_report(report)
                console.print(
                    f"{exported_events} events in the event log (`recoup events tail` follows them)"
                )
                print_reconciliation(found)
                if keep:
                    console.print(
                        f"web UI still up at {settings.ui_url}, console at "
                        f"{apis.http_url}/console — Ctrl-C to stop"
                    )
                    await stop_event().wait()
                return len(found.differences)

        differences = run_or_fail(main())
    if differences:
        raise typer.Exit(EXIT_DIFFERENCES)


async def follow(
    client: Client, root: Root, tenant_id: str, campaign_id: str, day_seconds: float
) -> tuple[PortfolioStatus, list[CampaignSnapshot]]:
    """A live progress bar until every account campaign has finished, or until every one
    still running waits for the compliance gate beyond the demo's horizon (those
    campaigns are returned: a post-conversation or state limit counts real days)."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    # Further away than any compressed step of a demo playbook could be.
    horizon = timedelta(seconds=max(60.0, 20 * day_seconds))
    checked = time.monotonic()
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("campaigns", total=None, detail="launching")
        while True:
            try:
                status = await campaign_progress(client, root, tenant_id, campaign_id)
            except (RPCError, NoSuchCampaign):
                await asyncio.sleep(0.2)  # between two runs of a continue-as-new
                continue
            paid = status.by_status.get(CollectionStatus.PAID, 0)
            bar.update(
                task,
                total=status.total,
                completed=status.finished,
                detail=f"{status.active} active · {paid} paid · {money(status.collected)}",
            )
            if status.launching_done and status.finished >= status.total:
                return status, []
            # Only near the end, and every few seconds: it queries each running campaign.
            if (
                status.launching_done
                and status.total - status.finished <= WAITING_CHECK_MAX
                and time.monotonic() - checked > 2.0
            ):
                checked = time.monotonic()
                waiting = await waiting_on_the_law(client, tenant_id, campaign_id, horizon)
                if waiting:
                    return status, waiting
            await asyncio.sleep(0.25)


async def waiting_on_the_law(
    client: Client, tenant_id: str, campaign_id: str, horizon: timedelta
) -> list[CampaignSnapshot]:
    """The campaign's running account campaigns if every one of them waits for the
    compliance gate until later than ``horizon`` from now; else (or if none) nothing."""
    query = (
        f"WorkflowType = '{names.ACCOUNT_CAMPAIGN}' AND ExecutionStatus = 'Running' "
        f"AND RecoupTenant = '{tenant_id}' AND RecoupCampaign = '{campaign_id}'"
    )
    later = datetime.now(UTC) + horizon
    waiting: list[CampaignSnapshot] = []
    async for execution in client.list_workflows(query):
        try:
            snap = await client.get_workflow_handle(execution.id).query(
                names.QUERY_STATUS, result_type=CampaignSnapshot
            )
        except RPCError:
            return []  # finished since the listing (visibility lags): not waiting
        due = snap.next_action_at
        if not (snap.next_action or "").startswith("compliance") or due is None or due < later:
            return []
        waiting.append(snap)
    return waiting


async def exported(root: Root) -> int:
    """Wait (up to half a minute) until the exporter has projected the whole event log into
    the read model; the number of events in the log."""
    events = root.events
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        head, done = await asyncio.to_thread(
            lambda: (events.last_position(), events.cursor(SQL_SINK))
        )
        if done >= head:
            break
        await asyncio.sleep(0.2)
    return sum((await asyncio.to_thread(events.counts_by_kind)).values())
