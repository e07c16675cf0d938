"""The ``recoup`` command end to end: real processes, real server, real workers."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from adapters.tenants import TenantStore
from bootstrap.devserver import free_port
from bootstrap.settings import Settings
from domain.account import Tenant
from domain.campaign import CollectionStatus, portfolio_workflow_id
from domain.portfolio import PortfolioStatus
from service.campaigns import start_account_campaign
from simulators.smtp import SmtpSimulator
from tests.cli_support import HEADER, ROOT, Result, env_for, recoup
from tests.conftest import DAYTIME_ZONE, TENANT, make_account
from tests.portfolio_support import ONE_EMAIL, POSTGRES_URL

QUICK_PLAYBOOK = """\
name: quick
steps:
  - id: notice
    day: 0
    channel: email
    template: first_notice
closing_days: 1
"""


def portfolio_csv(path: Path, prefix: str, zone: str = DAYTIME_ZONE) -> Path:
    rows = [
        HEADER,
        f"{prefix}-1,Ann Lee,ann@example.com,(415) 555-0101,120.00,USD,2026-05-01,"
        f"{zone},CA,en,yes,no",
        f"{prefix}-2,Bo Diaz,bo@example.com,,80.50,USD,2026-04-01,{zone},TX,es,,",
        f"{prefix}-3,Cy Moss,cy@example.com,not-a-phone,99.00,USD,2026-04-01,,NY,en,no,no",
        f"{prefix}-4,Di Park,di@example.com,,-5.00,USD,2026-04-01,,NY,en,no,no",
        f"{prefix}-5,Ed Roy,ed@example.com,,10.00,USD,2026-04-01,Mars/Olympus,NY,en,no,no",
        f"{prefix}-1,Fay Wu,fay@example.com,,10.00,USD,2026-04-01,,NY,en,no,no",
        f"{prefix}-7,Gus Hay,gus@example.com,,15.00,USD,2026-04-01,{zone},NY,en,no,no",
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def quick_playbook(tmp_path: Path) -> Path:
    path = tmp_path / "quick.yaml"
    path.write_text(QUICK_PLAYBOOK)
    return path


async def test_launch_reports_each_bad_row_and_launches_the_good_ones(
    client: Client,
    settings: Settings,
    running: list[Worker],
    tmp_path: Path,
    quick_playbook: Path,
) -> None:
    prefix = uuid.uuid4().hex[:6]
    csv = portfolio_csv(tmp_path / "portfolio.csv", prefix)
    env = env_for(settings)
    launched = await recoup(
        "campaign", "launch", str(csv), "--playbook", str(quick_playbook),
        "--tenant", "acme", "--campaign-id", f"cli-{prefix}", "--day-seconds", "0.3",
        env=env,
    )  # fmt: skip
    assert launched.code == 3, launched.err  # launched, with rejected rows
    err = launched.err
    assert "line 4: phone:" in err
    assert "line 5: amount_due:" in err
    assert "line 6: timezone:" in err and "Mars/Olympus" in err
    assert "line 7: account_id:" in err and "line 2" in err  # duplicate of line 2
    assert "3 account(s), 4 row(s) rejected" in launched.out
    assert f"RecoupCampaign%20%3D%20%27cli-{prefix}%27" in launched.out

    handle = client.get_workflow_handle(
        portfolio_workflow_id("acme", f"cli-{prefix}"), result_type=PortfolioStatus
    )
    result = await handle.result()
    assert result.total == result.finished == 3
    assert result.by_status == {CollectionStatus.EXHAUSTED: 3}

    shown = await recoup("campaign", "status", f"cli-{prefix}", "--tenant", "acme", "--json",
                         env=env)  # fmt: skip
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["finished"] == 3

    # The same file and campaign again attaches to what exists: nothing is duplicated.
    again = await recoup(
        "campaign", "launch", str(csv), "--playbook", str(quick_playbook),
        "--tenant", "acme", "--campaign-id", f"cli-{prefix}", env=env,
    )  # fmt: skip
    assert again.code == 3
    found = [w async for w in client.list_workflows(f"RecoupCampaign = 'cli-{prefix}'")]
    assert len({w.id for w in found}) == 4  # the portfolio and its three accounts


async def test_strict_launch_rejects_the_whole_file(
    client: Client, settings: Settings, tmp_path: Path, quick_playbook: Path
) -> None:
    prefix = uuid.uuid4().hex[:6]
    csv = portfolio_csv(tmp_path / "portfolio.csv", prefix)
    result = await recoup(
        "campaign", "launch", str(csv), "--playbook", str(quick_playbook), "--strict",
        "--campaign-id", f"strict-{prefix}", env=env_for(settings),
    )  # fmt: skip
    assert result.code == 2
    assert "nothing launched (--strict)" in result.err
    with pytest.raises(RPCError):
        await client.get_workflow_handle(
            portfolio_workflow_id("default", f"strict-{prefix}")
        ).describe()


async def test_unknown_column_is_an_error_naming_it(
    settings: Settings, tmp_path: Path, quick_playbook: Path
) -> None:
    csv = tmp_path / "odd.csv"
    csv.write_text("account_id,name,amount_due,due_date,email,nickname\n")
    result = await recoup(
        "campaign", "launch", str(csv), "--playbook", str(quick_playbook),
        env=env_for(settings),
    )  # fmt: skip
    assert result.code == 2
    assert "nickname" in result.err


async def test_a_bad_playbook_names_the_step_and_field(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nsteps:\n  - id: hello\n    day: 0\n    channel: fax\n"
        "    template: first_notice\n"
    )
    result = await recoup("playbook", "show", str(bad), env=env_for(settings))
    assert result.code == 2
    assert "steps[0] (id 'hello').channel" in result.err


async def test_account_show_and_pay(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    account = make_account(phones=[])
    await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="cli-pay", playbook=ONE_EMAIL,
        account=account, seconds_per_day=30,
    )  # fmt: skip
    env = env_for(settings)
    paid = await recoup("account", "pay", account.account_id, "--amount", "100",
                        "--tenant", "acme", env=env)  # fmt: skip
    assert paid.code == 0, paid.err
    assert "balance 150.00 USD" in paid.out

    shown = await recoup("account", "show", account.account_id, "--tenant", "acme", "--json",
                         env=env)  # fmt: skip
    assert shown.code == 0, shown.err
    snapshot = json.loads(shown.out)
    assert Decimal(snapshot["balance"]) == Decimal("150.00")
    assert snapshot["status"] in {"active", "scheduled"}

    table = await recoup("account", "show", account.account_id, "--tenant", "acme", env=env)
    assert "balance" in table.out and "150.00 USD" in table.out

    rest = await recoup("account", "pay", account.account_id, "--amount", "150.00",
                        "--tenant", "acme", "--payment-id", "final", env=env)  # fmt: skip
    assert rest.code == 0, rest.err
    assert "status paid" in rest.out

    needs_channel = await recoup(
        "account", "legal", account.account_id, "--event", "medium_opt_out", env=env
    )
    assert needs_channel.code == 2 and "--channel" in needs_channel.err

    bad = await recoup("account", "pay", account.account_id, "--amount", "-3", env=env)
    assert bad.code == 2 and "amount" in bad.err

    missing = await recoup("account", "show", "no-such-account", "--tenant", "acme", env=env)
    assert missing.code == 1, missing.err
    assert "no campaign for account 'no-such-account' in tenant 'acme'" in missing.err


async def test_account_legal_records_a_cease(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    account = make_account(phones=[])
    handle = await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="cli-legal", playbook=ONE_EMAIL,
        account=account, seconds_per_day=30,
    )  # fmt: skip
    result = await recoup(
        "account", "legal", account.account_id, "--event", "cease", "--note", "letter",
        "--tenant", "acme", env=env_for(settings),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "status ceased" in result.out
    assert (await handle.result()).status is CollectionStatus.CEASED


async def test_unreachable_temporal_is_a_clear_error(settings: Settings) -> None:
    env = env_for(settings)
    env["RECOUP_TEMPORAL_ADDRESS"] = "127.0.0.1:1"
    result = await recoup("campaign", "status", "anything", env=env)
    assert result.code == 1
    assert "cannot reach Temporal at 127.0.0.1:1" in result.err


async def test_help_lists_every_command(settings: Settings) -> None:
    result = await recoup("--help", env=env_for(settings))
    assert result.code == 0
    for command in ("dev", "demo", "worker", "campaign", "account", "playbook"):
        assert command in result.out
    await asyncio.sleep(0)


# --- A worker checks its stores before it starts ---------------------------------------------


async def worker_until_serving(env: dict[str, str], within: float = 60) -> Result:
    """``recoup worker`` until it says it serves, then Ctrl-C; or until it exits by itself."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "worker",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL, env=env, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    out: list[bytes] = []
    async with asyncio.timeout(within):
        while line := await process.stdout.readline():
            out.append(line)
            if b"worker serving" in line:
                process.send_signal(signal.SIGINT)
                break
        rest, err = await process.communicate()
    assert process.returncode is not None
    return Result(process.returncode, (b"".join(out) + rest).decode(), err.decode())


def one_error_line(result: Result) -> str:
    """The refusal: exactly one line on stderr, and no traceback."""
    assert "Traceback" not in result.err, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "worker serving" not in result.out
    return lines[0]


@pytest.fixture
def own_postgres() -> Iterator[str]:
    """A PostgreSQL database of this test's own: the shared one may be at another
    branch's schema."""
    name = f"recoup_cli_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def test_a_worker_starts_when_every_store_answers(
    settings: Settings, own_postgres: str
) -> None:
    env = env_for(settings) | {
        "RECOUP_DATABASE_URL": own_postgres,
        "RECOUP_REDIS_URL": "redis://127.0.0.1:6379/0",
        "RECOUP_REDIS_PREFIX": f"recoup-test-{uuid.uuid4().hex[:8]}:",
        "RECOUP_TASK_QUEUE_SUFFIX": f"-{uuid.uuid4().hex[:10]}",  # no other test's tasks
    }
    result = await worker_until_serving(env)
    assert result.code == 0, result.err
    assert "worker serving" in result.out


async def test_a_worker_refuses_an_unreachable_redis(settings: Settings) -> None:
    port = free_port()  # nothing listens there
    env = env_for(settings) | {"RECOUP_REDIS_URL": f"redis://:hunter2@127.0.0.1:{port}/0"}
    result = await worker_until_serving(env)
    assert result.code == 1
    line = one_error_line(result)
    assert f"RECOUP_REDIS_URL: circuit breaker store Redis 127.0.0.1:{port}/0 is unavailable" in (
        line
    )
    assert "hunter2" not in line


async def test_a_worker_refuses_an_unreachable_or_wrong_postgresql(settings: Settings) -> None:
    port = free_port()
    unreachable = f"postgresql+psycopg://postgres:hunter2@127.0.0.1:{port}/test"
    result = await worker_until_serving(env_for(settings) | {"RECOUP_DATABASE_URL": unreachable})
    assert result.code == 1
    line = one_error_line(result)
    assert "the database does not answer (RECOUP_DATABASE_URL: " in line
    assert f"postgresql+psycopg://postgres:***@127.0.0.1:{port}/test" in line
    assert "Connection refused" in line and "hunter2" not in line

    missing = POSTGRES_URL.rsplit("/", 1)[0] + "/no_such_database"
    result = await worker_until_serving(env_for(settings) | {"RECOUP_DATABASE_URL": missing})
    assert result.code == 1
    assert 'database "no_such_database" does not exist' in one_error_line(result)

    # Any other command meets the same database the same way: one line, exit 1.
    listed = await recoup("dlq", "list", env=env_for(settings) | {"RECOUP_DATABASE_URL": missing})
    assert listed.code == 1
    assert 'database "no_such_database" does not exist' in one_error_line(listed)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "not a database URL"),
        ("mysql://user@127.0.0.1/recoup", "no installed driver for 'mysql'"),
    ],
)
async def test_a_worker_refuses_a_database_url_that_cannot_work(
    settings: Settings, url: str, problem: str
) -> None:
    result = await worker_until_serving(env_for(settings) | {"RECOUP_DATABASE_URL": url})
    assert result.code == 2
    line = one_error_line(result)
    assert "RECOUP_DATABASE_URL" in line and problem in line


async def test_a_worker_refuses_a_sqlite_file_in_a_missing_directory(
    settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "recoup.db"
    env = env_for(settings) | {"RECOUP_DATABASE_URL": f"sqlite:///{missing}"}
    result = await worker_until_serving(env)
    assert result.code == 2
    line = one_error_line(result)
    assert f"RECOUP_DATABASE_URL: Value error, the SQLite file's directory {missing.parent}" in line
    assert not missing.parent.exists()  # no new, empty database somewhere unexpected


async def test_a_worker_refuses_a_malformed_redis_url(settings: Settings) -> None:
    result = await worker_until_serving(env_for(settings) | {"RECOUP_REDIS_URL": "http://x:1"})
    assert result.code == 2
    assert "RECOUP_REDIS_URL: Value error, not a Redis URL" in one_error_line(result)


async def test_a_worker_refuses_a_missing_codec_key(settings: Settings) -> None:
    env = env_for(settings) | {"RECOUP_CODEC_KEY_ID": "not-there"}
    result = await worker_until_serving(env)
    assert result.code == 2
    line = one_error_line(result)
    assert "RECOUP_CODEC_KEY_ID is 'not-there', which RECOUP_CODEC_KEYS does not hold" in line


# --- Tenants: who the debtor hears from, and whom the debt is owed to ------------------------


def test_the_tenant_store_keeps_both_names(tmp_path: Path) -> None:
    store = TenantStore(f"sqlite:///{tmp_path / 'tenants.db'}")
    store.create_tables()
    try:
        agency = Tenant(tenant_id="agency", name="Acme Recovery", creditor="Northwind Health")
        assert store.create_tenant(agency)
        token = store.create_key("agency").token
        assert store.get_tenant("agency") == agency
        assert store.authenticate(token) == agency  # what the API's campaigns start with
        assert store.update_tenant(Tenant(tenant_id="agency", name="Fairview Bank"))
        bank = store.get_tenant("agency")
        assert bank is not None and bank.first_party and bank.creditor_for(None) == "Fairview Bank"
        assert not store.update_tenant(Tenant(tenant_id="nobody", name="Nobody"))
        assert [t.tenant_id for t in store.tenants()] == ["agency"]
    finally:
        store.dispose()


def test_the_deployments_names_for_unstored_tenants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOUP_COLLECTOR_NAME", "Acme Recovery")
    monkeypatch.setenv("RECOUP_CREDITOR_NAME", "Northwind Health")
    assert Settings().tenant("t").creditor_for(None) == "Northwind Health"
    monkeypatch.setenv("RECOUP_CREDITOR_NAME", " ")  # blank in a .env file: not set
    assert Settings().tenant("t").first_party


async def test_recoup_tenant_create_set_and_list(settings: Settings) -> None:
    env = env_for(settings)
    made = await recoup(
        "tenant", "create", "agency", "--name", "Acme Recovery", "--creditor", "Northwind Health",
        env=env,
    )  # fmt: skip
    assert made.code == 0, made.err
    assert "Acme Recovery collecting for Northwind Health (third-party)" in made.err
    listed = await recoup("tenant", "list", "--json", env=env)
    assert json.loads(listed.out) == [
        {
            "tenant_id": "agency",
            "name": "Acme Recovery",
            "creditor": "Northwind Health",
            "opt_out_penalty": -1.0,
            "dispute_penalty": -0.5,
            "complaint_penalty": -2.0,
            "first_party": False,
        }
    ]
    both = await recoup("tenant", "set", "agency", "--creditor", "X", "--first-party", env=env)
    assert both.code == 2 and "contradict" in both.err
    nothing = await recoup("tenant", "set", "agency", env=env)
    assert nothing.code == 2 and "nothing to change" in nothing.err
    unknown = await recoup("tenant", "set", "nobody", "--first-party", env=env)
    assert unknown.code == 1 and "unknown tenant 'nobody'" in unknown.err
    blank = await recoup("tenant", "set", "agency", "--creditor", "  ", env=env)
    assert blank.code == 2 and "creditor" in blank.err
    changed = await recoup(
        "tenant", "set", "agency", "--name", "Fairview Bank", "--first-party", env=env
    )
    assert changed.code == 0, changed.err
    assert "Fairview Bank (first-party: collects its own debts)" in changed.out
    table = await recoup("tenant", "list", env=env)
    assert re.search(r"agency\s+│\s+Fairview Bank\s+│\s+Fairview Bank\s+│\s+first", table.out)
    # What harm costs the adaptive policy: set per tenant, kept when the names change.
    priced = await recoup(
        "tenant", "set", "agency", "--opt-out-penalty", "-1.5", "--complaint-penalty", "-3",
        "--json", env=env,
    )  # fmt: skip
    assert priced.code == 0, priced.err
    assert json.loads(priced.out)["opt_out_penalty"] == -1.5
    renamed = await recoup("tenant", "set", "agency", "--name", "Fairview", "--json", env=env)
    kept = json.loads(renamed.out)
    assert (kept["opt_out_penalty"], kept["dispute_penalty"], kept["complaint_penalty"]) == (
        -1.5,
        -0.5,
        -3.0,
    )
    too_much = await recoup("tenant", "set", "agency", "--dispute-penalty", "-11", env=env)
    assert too_much.code == 2


async def test_launched_campaigns_name_the_creditor_and_the_collector(
    settings: Settings, running: list[Worker], smtp_sim: SmtpSimulator, tmp_path: Path,
    quick_playbook: Path,
) -> None:  # fmt: skip
    env = env_for(settings)
    made = await recoup(
        "tenant", "create", "agency", "--name", "Acme Recovery", "--creditor", "Northwind Health",
        env=env,
    )  # fmt: skip
    assert made.code == 0, made.err

    async def first_notices(tenant: str, run_env: dict[str, str]) -> list[str]:
        """Launch two accounts for ``tenant``: the second row names its own creditor."""
        prefix = uuid.uuid4().hex[:6]
        addresses = [f"ann.{prefix}@example.com", f"bo.{prefix}@example.com"]
        csv = tmp_path / f"names-{prefix}.csv"
        csv.write_text(
            "account_id,name,email,amount_due,due_date,timezone,creditor\n"
            f"{prefix}-1,Ann Lee,{addresses[0]},120.00,2026-05-01,{DAYTIME_ZONE},\n"
            f"{prefix}-2,Bo Diaz,{addresses[1]},80.50,2026-04-01,{DAYTIME_ZONE},Kestrel Power\n"
        )
        launched = await recoup(
            "campaign", "launch", str(csv), "--playbook", str(quick_playbook),
            "--tenant", tenant, "--campaign-id", f"names-{prefix}", "--day-seconds", "0.3",
            env=run_env,
        )  # fmt: skip
        assert launched.code == 0, launched.err
        mails: list[list[str]] = []
        for _ in range(300):
            mails = [[m.text for m in smtp_sim.messages if a in m.to] for a in addresses]
            if all(len(m) == 1 for m in mails):
                return [m[0] for m in mails]
            await asyncio.sleep(0.1)
        raise AssertionError(f"the first notices did not arrive: {mails}")

    # The stored tenant: an agency; the second row names its own creditor.
    tenant_row, own_row = await first_notices("agency", env)
    assert "Northwind Health has asked Acme Recovery to collect the unpaid balance" in tenant_row
    assert "Kestrel Power has asked Acme Recovery to collect the unpaid balance" in own_row

    # A tenant only the deployment's settings describe: a creditor collecting its own.
    bank_env = env | {"RECOUP_COLLECTOR_NAME": "Fairview Bank"}
    tenant_row, own_row = await first_notices("bank", bank_env)
    assert "We, Fairview Bank, are writing to you about the unpaid balance" in tenant_row
    assert "has asked" not in tenant_row
    assert "Kestrel Power has asked Fairview Bank to collect the unpaid balance" in own_row
