"""``recoup simulate``: a generated portfolio against a debtor population, in simulated time.

Everything runs in this process on free ports: Temporal's time-skipping test server,
the SMTP, SMS/voice, payments and CRM simulators, SQLite in a temporary directory,
every worker role, and a small worker for the debtors' delayed actions
(:mod:`simulators.population`). The real playbook days are used: the test server
skips the time in which nothing happens, and the compliance gate sees real local
hours on the simulated clock.

The simulated clock is first moved to the next Monday, 14:00 UTC (09:00 or 10:00
in New York), so a run does not depend on the time of day it is started at.

It prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bootstrap.codec import data_converter
from bootstrap.devserver import DevServerError, time_skipping_server_binary
from bootstrap.root import Root
from bootstrap.settings import Settings
from bootstrap.tracing import client_interceptors
from cli.campaign import resolve_playbook
from cli.common import EXIT_INPUT, err_console, fail, load_settings, run
from domain.account import Account
from domain.campaign import AccountOutcome, account_workflow_id
from domain.channels import Channel
from domain.compliance.model import PastContact
from domain.playbook import Playbook
from domain.policy import ContactPolicy
from service.campaigns import launch_portfolio, portfolio_progress
from service.errors import NoSuchCampaign
from simulators.crm import CrmSimulator
from simulators.payments import PaymentsSimulator
from simulators.population import (
    ADVANCE_CLOCK,
    CLOCK_HELD,
    DEBTOR_ACTIONS,
    HOLD_CLOCK,
    AdvanceClockWorkflow,
    DebtorActionsWorkflow,
    DebtorPlan,
    HoldClockWorkflow,
    Population,
    PopulationDebtors,
    PopulationError,
    ReactionKind,
    generate_debtors,
    replay_compliance,
)
from simulators.refusals import RefusalWatch, WorkflowTaskRefused
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from workers.run import workers
from workflows import search_attributes as sa

TENANT_ID = "sim"
# Calls: who picks up is fixed per number by the SMS/voice simulator; a person or a
# machine. Whether the person then reacts is the population's business.
ANSWER_RATE = 0.8
MACHINE_RATE = 0.2

Log = Callable[[str], None]
# How long before the measured portfolio a warm-up portfolio starts: the standard
# playbook's 14 days, its closing week and a promise's grace fit in it.
WARM_UP_WEEKS = 4
# Runs of one simulation before a test-server refusal (``simulators.refusals``) is an error.
ATTEMPTS = 3


class PolicyName(StrEnum):
    FIXED = "fixed"
    ADAPTIVE = "adaptive"


def simulation_start(now: datetime) -> datetime:
    """The first Monday 14:00 UTC strictly after ``now``: the same weekday and hour every run."""
    start = now.astimezone(UTC).replace(hour=14, minute=0, second=0, microsecond=0)
    start += timedelta(days=(7 - start.weekday()) % 7)
    while start <= now:
        start += timedelta(days=7)
    return start


async def simulate(
    population: Population,
    *,
    playbook: Playbook,
    policy: ContactPolicy = ContactPolicy.FIXED,
    accounts: int = 200,
    seed: int = 1,
    window: int = 64,
    warm_up: int = 0,
    base: Settings | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """Run one simulation and return the JSON-ready summary (see ``docs/populations.md``).

    ``warm_up`` accounts (more of the population, never the measured ones) are the
    tenant's earlier portfolio: under the adaptive policy they are launched
    ``WARM_UP_WEEKS`` before the measured portfolio, so the agent starts from what
    they taught it, as a tenant's second portfolio does. The fixed cadence learns
    nothing, so for it they are not run; either way the measured portfolio starts at the
    same simulated instant, and the figures are the measured accounts' alone.

    A run that the test server wedges (``simulators.refusals``) is run again from the
    start, on a fresh server and fresh simulators: a run is the same for a seed, so the
    summary is the one an unhindered run gives.
    """
    say: Log = log or (lambda _: None)
    began = time.monotonic()
    base = base or Settings()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await _attempt(
                population,
                playbook=playbook,
                policy=policy,
                accounts=accounts,
                seed=seed,
                window=window,
                warm_up=warm_up,
                base=base,
                say=say,
                began=began,
            )
        except WorkflowTaskRefused as exc:
            if attempt == ATTEMPTS:
                raise
            say(f"{exc}; running the simulation again from the start ({attempt + 1}/{ATTEMPTS})")
    raise AssertionError("unreachable")


async def _attempt(
    population: Population,
    *,
    playbook: Playbook,
    policy: ContactPolicy,
    accounts: int,
    seed: int,
    window: int,
    warm_up: int,
    base: Settings,
    say: Log,
    began: float,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="recoup-simulate-") as tmp:
        work = Path(tmp)
        smtp = SmtpSimulator()
        twilio = TwilioSimulator(
            base.twilio_account_sid,
            base.twilio_auth_token,
            seed=seed,
            answer_rate=ANSWER_RATE,
            machine_rate=MACHINE_RATE,
        )
        payments = PaymentsSimulator(base.payments_api_key)
        crm = CrmSimulator(base.ledger_api_key)
        await smtp.start()
        try:
            await twilio.start()
            try:
                await payments.start()
                try:
                    await crm.start()
                    try:
                        settings = base.model_copy(
                            update={
                                "data_dir": work,
                                "database_url": None,
                                "task_queue_suffix": "",
                                "smtp_host": "127.0.0.1",
                                "smtp_port": smtp.port,
                                "smtp_username": None,
                                "smtp_password": None,
                                "smtp_use_tls": False,
                                "smtp_start_tls": False,
                                "twilio_base_url": twilio.base_url,
                                "twilio_status_callback_url": None,
                                "payments_base_url": payments.base_url,
                                "ledger_base_url": crm.base_url,
                                "call_poll_seconds": 0.05,
                                "contact_policy": policy,
                                "nba_seed": f"sim-{seed}",
                                "redis_url": None,
                                "sinks": ["sql"],
                                "tenant_sinks": {},
                                "llm_base_url": None,
                                "otlp_endpoint": None,
                                "metrics_bind": None,
                            }
                        )
                        return await _run(
                            settings,
                            population,
                            playbook,
                            accounts=accounts,
                            seed=seed,
                            window=window,
                            warm_up=warm_up,
                            smtp=smtp,
                            twilio=twilio,
                            say=say,
                            began=began,
                        )
                    finally:
                        await crm.stop()
                finally:
                    await payments.stop()
            finally:
                await twilio.stop()
        finally:
            await smtp.stop()


async def _run(
    settings: Settings,
    population: Population,
    playbook: Playbook,
    *,
    accounts: int,
    seed: int,
    window: int,
    warm_up: int,
    smtp: SmtpSimulator,
    twilio: TwilioSimulator,
    say: Log,
    began: float,
) -> dict[str, Any]:
    watch = RefusalWatch()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_server_binary()),
        data_converter=data_converter(settings),
        interceptors=client_interceptors(settings),
        runtime=watch.runtime(),
    )
    async with env:
        watch.watch_clock(env.get_current_time)
        client = env.client
        settings = settings.model_copy(
            update={"temporal_address": client.service_client.config.target_host}
        )
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={
                    key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in sa.ALL
                },
            )
        )

        queue = f"simulated-debtors{settings.task_queue_suffix}"
        tenant = settings.tenant(TENANT_ID)
        campaign_id = f"sim-{population.name}-{seed}"
        hold = _ClockHold()
        # The agent learns day by day, seeded by the run's seed: the same run twice.
        async with workers(client, settings, nba_daily=True) as built:
            built.append(
                Worker(
                    client,
                    task_queue=queue,
                    workflows=[DebtorActionsWorkflow, AdvanceClockWorkflow, HoldClockWorkflow],
                    activities=[hold.held],
                )
            )
            for w in built:
                await w.__aenter__()
            try:
                now = await env.get_current_time()
                start = simulation_start(now)
                clock = await client.start_workflow(
                    ADVANCE_CLOCK,
                    start.isoformat(),
                    id="sim-clock",
                    task_queue=queue,
                )
                await watch.guard(clock.result())
                start = first_start = await env.get_current_time()
                say(f"simulated clock at {start.isoformat(timespec='seconds')}")
                # The warm-up's debtors follow the measured ones in one generation, so the
                # measured portfolio is the same with or without a warm-up.
                debtors = generate_debtors(
                    population, accounts + warm_up, seed=seed, as_of=start.date()
                )
                account_list = [d.account for d in debtors[:accounts]]
                earlier = [d.account for d in debtors[accounts:]]
                sim = PopulationDebtors(population, debtors, seed=seed, tenant_id=TENANT_ID)

                async def dispatch(plan: DebtorPlan) -> None:
                    await client.start_workflow(
                        DEBTOR_ACTIONS, plan, id=plan.plan_id, task_queue=queue, result_type=int
                    )

                hooks = sim.bind(env.get_current_time, dispatch)
                smtp.on_message(hooks.on_mail)
                twilio.on_message(hooks.on_sms)
                twilio.on_answer(hooks.on_answer)
                warming = None
                held: asyncio.Future[Any] | None = None
                prior = 0
                if earlier:
                    until = start + timedelta(weeks=WARM_UP_WEEKS)
                    clock = await client.start_workflow(
                        HOLD_CLOCK, until.isoformat(), id="sim-clock-warm-up", task_queue=queue
                    )
                    if settings.contact_policy is ContactPolicy.ADAPTIVE:
                        say(f"warm-up: {len(earlier)} accounts, {WARM_UP_WEEKS} weeks earlier")
                        warming = await launch_portfolio(
                            client,
                            settings,
                            tenant=tenant,
                            campaign_id=f"{campaign_id}-warm-up",
                            playbook=playbook,
                            accounts=earlier,
                            starts_in_flight=window,
                        )
                    # Time skips while the clock's result is awaited, up to ``until``, where
                    # the hold stops it until the measured portfolio is launched.
                    held = asyncio.ensure_future(clock.result())
                    await watch.guard(hold.reached.wait())
                    start = await env.get_current_time()
                    prior = await asyncio.to_thread(_contacts_learnt, settings, start)
                    say(f"the agent starts from {prior} contacts' outcomes")
                say(
                    f"{len(account_list)} accounts from population {population.name}, playbook "
                    f"{playbook.name}, policy {settings.contact_policy.value}, seed {seed}"
                )
                handle = await launch_portfolio(
                    client,
                    settings,
                    tenant=tenant,
                    campaign_id=campaign_id,
                    playbook=playbook,
                    accounts=account_list,
                    starts_in_flight=window,
                )
                if held is not None:
                    hold.release.set()
                    await watch.guard(held)
                reporter = asyncio.create_task(_report_progress(client, campaign_id, say))
                try:
                    await watch.guard(handle.result())
                    if warming is not None:  # its last campaigns may outlast the start
                        await watch.guard(warming.result())
                finally:
                    reporter.cancel()
                    await asyncio.gather(reporter, return_exceptions=True)
                ended = await watch.guard(
                    asyncio.gather(*(_outcome(client, a.account_id) for a in account_list))
                )
                outcomes = [outcome for outcome, _ in ended]
                # The last account's end, not the portfolio's: the portfolio closes at its
                # next count after that, which depends on how fast the machine ran.
                end = max(
                    (closed for _, closed in ended if closed is not None),
                    default=await env.get_current_time(),
                )
            finally:
                for w in reversed(built):
                    await w.__aexit__(None, None, None)
        contacts = await asyncio.to_thread(_ledger_contacts, settings, account_list, start)
        # The warm-up's contacts too, for the compliance check alone (bars are per account).
        if warming is not None:
            contacts |= await asyncio.to_thread(_ledger_contacts, settings, earlier, first_start)

    violations = replay_compliance(account_list + earlier, contacts, sim.barred)
    for violation in violations[:10]:
        say(f"compliance violation: {violation}")
    measured = {a.account_id for a in account_list}
    outbound = [
        c
        for account_id, history in contacts.items()
        if account_id in measured
        for c in history
        if c.direction == "outbound"
    ]
    reactions = sim.reactions_of(measured)
    by_channel = Counter(c.channel.value for c in outbound)
    recovered = sum((o.amount_collected for o in outcomes), Decimal(0))
    due = sum((a.amount_due for a in account_list), Decimal(0))
    recovered_accounts = sum(1 for o in outcomes if o.amount_collected > 0)
    n_contacts = len(outbound)
    return {
        "population": population.name,
        "playbook": playbook.name,
        "policy": settings.contact_policy.value,
        "accounts": len(account_list),
        "seed": seed,
        "currency": population.currency,
        "recovered": float(recovered),
        "due": float(due),
        "recovery_rate": round(float(recovered / due), 4) if due else 0.0,
        "contacts": n_contacts,
        "contacts_by_channel": {c.value: by_channel.get(c.value, 0) for c in Channel},
        "recovered_per_contact": round(float(recovered / n_contacts), 2) if n_contacts else 0.0,
        "contacts_per_account_recovered": (
            round(n_contacts / recovered_accounts, 2) if recovered_accounts else None
        ),
        "accounts_recovered": recovered_accounts,
        "accounts_paid_in_full": sum(1 for o in outcomes if o.balance <= 0),
        "opt_outs": reactions[ReactionKind.OPT_OUT],
        "disputes": reactions[ReactionKind.DISPUTE],
        "complaints": reactions[ReactionKind.COMPLAINT],
        # Per account: what the policy cost the debtor relationship, beside what it won.
        "opt_out_rate": round(reactions[ReactionKind.OPT_OUT] / len(account_list), 4),
        "dispute_rate": round(reactions[ReactionKind.DISPUTE] / len(account_list), 4),
        "complaint_rate": round(reactions[ReactionKind.COMPLAINT] / len(account_list), 4),
        "promises": sum(o.promises for o in outcomes),
        "compliance_violations": len(violations),
        # Accounts of the earlier portfolio the adaptive agent learnt from first (0: none).
        "warm_up_accounts": len(earlier) if warming is not None else 0,
        # Contacts in the agent's statistics when the measured portfolio started.
        "learnt_from_contacts": prior,
        "simulated_days": round((end - start) / timedelta(days=1), 2),
        "wall_seconds": round(time.monotonic() - began, 1),
    }


async def _report_progress(client: Client, campaign_id: str, say: Log) -> None:
    while True:
        await asyncio.sleep(5)
        try:
            status = await portfolio_progress(client, TENANT_ID, campaign_id)
        except (RPCError, NoSuchCampaign):  # not started yet, or between two runs
            continue
        say(f"{status.finished}/{status.total} campaigns finished, {status.active} active")


async def _outcome(client: Client, account_id: str) -> tuple[AccountOutcome, datetime | None]:
    """An account campaign's outcome and when it closed."""
    handle = client.get_workflow_handle(
        account_workflow_id(TENANT_ID, account_id), result_type=AccountOutcome
    )
    outcome: AccountOutcome = await handle.result()
    return outcome, (await handle.describe()).close_time


class _ClockHold:
    """``HoldClockWorkflow``'s activity: says the clock has come, returns when released."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    @activity.defn(name=CLOCK_HELD)
    async def held(self) -> None:
        self.reached.set()
        await self.release.wait()


def _contacts_learnt(settings: Settings, at: datetime) -> int:
    """How many contacts the tenant's arm statistics hold at ``at``."""
    with Root(settings) as root:
        return round(sum(arm.trials for arm in root.action_stats.pooled(TENANT_ID, at)))


def _ledger_contacts(
    settings: Settings, accounts: list[Account], start: datetime
) -> dict[str, list[PastContact]]:
    with Root(settings) as root:
        ledger = root.contact_ledger
        since = start - timedelta(days=1)
        return {a.account_id: ledger.history(TENANT_ID, a.account_id, since) for a in accounts}


def simulate_command(
    population: Annotated[
        Path,
        typer.Option(
            "--population", help="Population file (YAML; see docs/populations.md).", dir_okay=False
        ),
    ],
    playbook: Annotated[str, typer.Option(help="Playbook name or file.")] = "standard",
    policy: Annotated[
        PolicyName, typer.Option(help="fixed: the playbook as written; adaptive: learned.")
    ] = PolicyName.FIXED,
    accounts: Annotated[int, typer.Option(min=1, help="Accounts to generate.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed for the portfolio and the debtors.")] = 1,
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
    warm_up: Annotated[
        int,
        typer.Option(
            min=0,
            help=(
                "Accounts of an earlier portfolio the adaptive agent learns from first "
                f"({WARM_UP_WEEKS} weeks before; not counted). The fixed cadence learns "
                "nothing and skips them."
            ),
        ),
    ] = 0,
) -> None:
    """Run a generated portfolio against a debtor population in simulated time; print JSON."""
    try:
        loaded = Population.load(population)
    except PopulationError as exc:
        fail(str(exc), EXIT_INPUT)
    base = load_settings()
    book = resolve_playbook(playbook, base)

    def say(message: str) -> None:
        err_console.print(f"[dim]simulate:[/] {message}")

    try:
        result = run(
            simulate(
                loaded,
                playbook=book,
                policy=ContactPolicy(policy.value),
                accounts=accounts,
                seed=seed,
                window=window,
                warm_up=warm_up,
                base=base,
                log=say,
            )
        )
    except DevServerError as exc:
        fail(str(exc))
    except WorkflowFailureError as exc:
        fail(f"the simulated portfolio failed: {exc.cause or exc}")
    except WorkflowTaskRefused as exc:
        fail(f"{exc} ({ATTEMPTS} runs in a row)")
    print(json.dumps(result), flush=True)
