"""The ``recoup`` command end to end: real processes, real server, real workers."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from domain.campaign import CollectionStatus, portfolio_workflow_id
from domain.portfolio import PortfolioStatus
from tests.cli_support import env_for, recoup
from tests.conftest import DAYTIME_ZONE, TENANT, make_account
from tests.test_portfolio import ONE_EMAIL
from workers.campaigns import start_account_campaign
from workers.settings import Settings

HEADER = (
    "account_id,name,email,phone,amount_due,currency,due_date,timezone,state,"
    "language,sms_consent,voice_consent"
)

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
    assert missing.code == 1 and "not found" in missing.err


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
