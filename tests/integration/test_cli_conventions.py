"""The ``recoup`` command's conventions (issue 18, item 5): its version, JSON output,
whole lines when piped, exit codes for bad settings, Recoup's own words for what does
not exist, and suggestions for mistyped names.

Each test runs the real command in a process of its own with its output piped, as a
script would.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from bootstrap.settings import Settings
from service.campaigns import start_account_campaign
from tests.api_support import eventually
from tests.cli_support import ROOT, env_for, plain_env, recoup
from tests.conftest import TENANT, make_account
from tests.portfolio_support import ONE_EMAIL

EXAMPLE = ROOT / "examples" / "portfolio.csv"


async def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = await recoup("--version", env=plain_env(tmp_path))
    assert result.code == 0, result.err
    assert result.out.strip() == f"recoup {version('recoup')}"


async def test_piped_tables_keep_long_cells_whole(tmp_path: Path) -> None:
    # A description far wider than 80 columns, with a URL: rich would fold or cut both.
    url = "https://collections.example.com/" + "/".join(f"segment-{n}" for n in range(12))
    description = f"A playbook whose description is long on purpose; see {url} for more."
    books = tmp_path / "playbooks"
    books.mkdir()
    (books / "wide.yaml").write_text(
        f"name: wide\ndescription: {description}\nsteps:\n"
        "  - id: notice\n    day: 0\n    channel: email\n    template: first_notice\n"
    )
    env = plain_env(tmp_path) | {"RECOUP_PLAYBOOK_DIR": str(books)}
    result = await recoup("playbook", "list", env=env)
    assert result.code == 0, result.err
    assert any(description in line for line in result.out.splitlines()), result.out


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RECOUP_RETRY", "{bad", "RECOUP_RETRY: not valid JSON (Expecting property name"),
        ("RECOUP_SINKS", "[kafka", "RECOUP_SINKS: not valid JSON"),
        ("RECOUP_RETRY", '{"email": 5}', "RECOUP_RETRY (email): Input should be"),
        ("RECOUP_SMTP_PORT", "abc", "RECOUP_SMTP_PORT: Input should be a valid integer"),
    ],
)
async def test_a_malformed_setting_exits_2_with_one_line_naming_it(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    result = await recoup("playbook", "list", env=plain_env(tmp_path) | {variable: value})
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: configuration: ") and expected in lines[0]


# --- names: a typo gets the closest known name -----------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("playbook", "show", "standrd"),
        ("campaign", "launch", str(EXAMPLE), "--playbook", "standrd"),
    ],
)
async def test_a_mistyped_playbook_gets_did_you_mean(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = await recoup(*command, env=plain_env(tmp_path))
    assert result.code == 2, result.err
    assert result.err.startswith(
        "error: unknown playbook 'standrd'; did you mean 'standard'? (known in "
    ), result.err
    assert "demo, gentle, sms-first, standard" in result.err
    assert result.out == ""  # nothing launched


async def test_a_mistyped_tenant_gets_did_you_mean(tmp_path: Path) -> None:
    env = plain_env(tmp_path)
    made = await recoup("tenant", "create", "acme", "--name", "Acme Recovery", env=env)
    assert made.code == 0, made.err
    for command in (("tenant", "set", "acem", "--name", "Acme"), ("tenant", "keys", "acem")):
        result = await recoup(*command, env=env)
        assert result.code == 1, result.err
        assert result.err.strip() == (
            "error: unknown tenant 'acem'; did you mean 'acme'? (known: acme); "
            "`recoup tenant create` makes one"
        )


# --- --json: one JSON document on stdout, for every command that reports ---------------------


async def test_listing_commands_print_json_even_when_empty(tmp_path: Path) -> None:
    env = plain_env(tmp_path)
    dead = await recoup("dlq", "list", "--json", env=env)
    assert dead.code == 0, dead.err
    assert json.loads(dead.out) == []  # not an empty output a script cannot parse
    redriven = await recoup("dlq", "redrive", "--all", "--json", env=env)
    assert redriven.code == 0, redriven.err
    assert json.loads(redriven.out) == {"redriven": [], "refused": []}

    books = await recoup("playbook", "list", "--json", env=env)
    assert books.code == 0, books.err
    listed = {book["name"]: book for book in json.loads(books.out)}
    assert set(listed) == {"demo", "gentle", "sms-first", "standard"}
    assert listed["standard"]["steps"] == 4 and listed["standard"]["total_days"] == 21

    shown = await recoup("playbook", "show", "standard", "--json", env=env)
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["steps"][0]["id"] == "first-notice"

    tenants = await recoup("tenant", "list", "--json", env=env)
    assert tenants.code == 0, tenants.err
    assert json.loads(tenants.out) == []

    audit = await recoup("audit", "verify", "--json", env=env)
    assert audit.code == 0, audit.err
    assert json.loads(audit.out) == {"intact": True, "findings": []}  # was: no output at all

    status = await recoup("events", "status", "--json", env=env)
    assert status.code == 0, status.err
    assert json.loads(status.out) == {
        "records": 0,
        "by_kind": {},
        "last_position": 0,
        "sinks": [{"sink": "sql", "enabled": True, "position": 0, "behind": 0}],
    }


async def test_operator_commands_print_json_and_unknown_ids_in_recoups_words(
    settings: Settings, running: list[Worker]
) -> None:
    env = env_for(settings)
    tenant = f"json-{uuid.uuid4().hex[:6]}"  # the sample's account ids, in a tenant of its own
    launched = await recoup(
        "campaign", "launch", str(EXAMPLE), "--playbook", "standard", "--tenant", tenant,
        "--campaign-id", "sample", "--day-seconds", "3600", "--json", env=env,
    )  # fmt: skip
    assert launched.code == 0, launched.err
    report = json.loads(launched.out)
    assert report["campaign_id"] == "sample" and report["tenant_id"] == tenant
    assert (report["accounts"], report["rejected"], report["playbook"]) == (5, 0, "standard")
    assert report["web_ui"].endswith("/workflows?query=RecoupCampaign%20%3D%20%27sample%27")

    def on(account: str, *args: str) -> tuple[str, ...]:
        return ("account", *args[:1], account, *args[1:], "--tenant", tenant, "--json")

    # The portfolio starts its accounts after launch returns: wait for the first.
    await eventually(lambda: recoup(*on("A-1001", "show"), env=env), lambda r: r.code == 0)
    paid = await recoup(*on("A-1001", "pay", "--amount", "100.00"), env=env)
    assert paid.code == 0, paid.err
    document = json.loads(paid.out)
    assert document["recorded"]["amount"] == "100.00"
    assert document["campaign"]["account_id"] == "A-1001"

    await eventually(lambda: recoup(*on("A-1003", "show"), env=env), lambda r: r.code == 0)
    disputed = await recoup(*on("A-1003", "legal", "--event", "dispute"), env=env)
    assert disputed.code == 0, disputed.err
    assert json.loads(disputed.out)["recorded"]["kind"] == "dispute"

    await eventually(lambda: recoup(*on("A-1002", "show"), env=env), lambda r: r.code == 0)
    first, second = (datetime.now(UTC).date() + timedelta(days=d) for d in (7, 14))
    plan = await recoup(
        *on("A-1002", "arrange", "--kind", "payment_plan", "--id", "p1"),
        *("-i", f"{first}:625.00", "-i", f"{second}:625.75"),
        env=env,
    )
    assert plan.code == 0, plan.err
    assert json.loads(plan.out)["request"]["arrangement_id"] == "p1"

    paused = await recoup(*on("A-1002", "pause"), env=env)
    assert paused.code == 0, paused.err
    assert json.loads(paused.out)["accepted"] is True


async def test_tenant_commands_print_json(tmp_path: Path) -> None:
    env = plain_env(tmp_path)
    made = await recoup("tenant", "create", "acme", "--name", "Acme Recovery", "--json", env=env)
    assert made.code == 0, made.err
    key = json.loads(made.out)
    renamed = await recoup("tenant", "set", "acme", "--name", "Acme Two", "--json", env=env)
    assert renamed.code == 0, renamed.err
    assert json.loads(renamed.out) == {
        "tenant_id": "acme", "name": "Acme Two", "creditor": None, "first_party": True,
        # What the adaptive policy counts against a contact (the defaults, docs/populations.md).
        "opt_out_penalty": -1.0, "dispute_penalty": -0.5, "complaint_penalty": -2.0,
    }  # fmt: skip
    keys = await recoup("tenant", "keys", "acme", "--json", env=env)
    assert [k["key_id"] for k in json.loads(keys.out)] == [key["key_id"]]
    revoked = await recoup("tenant", "revoke", key["key_id"], "--json", env=env)
    assert revoked.code == 0, revoked.err
    assert json.loads(revoked.out)["revoked_at"] is not None


# --- Recoup's words for ids that name nothing --------------------------------------------------


async def test_unknown_accounts_and_campaigns_in_recoups_words(settings: Settings) -> None:
    env = env_for(settings)
    tenant = f"nobody-{uuid.uuid4().hex[:6]}"
    for command, words in [
        (("account", "show", "A-9999"), f"no campaign for account 'A-9999' in tenant '{tenant}'"),
        (("account", "pay", "A-9999", "--amount", "1"), "no campaign for account 'A-9999'"),
        (("account", "pause", "A-9999"), f"no campaign for account 'A-9999' in tenant '{tenant}'"),
        (("campaign", "status", "nowhere"), f"no campaign 'nowhere' in tenant '{tenant}'"),
    ]:
        missing = await recoup(*command, "--tenant", tenant, env=env)
        assert missing.code == 1, missing.err  # the documented "not found"
        assert words in missing.err, missing.err
        assert "workflow not found" not in missing.err


async def test_a_payment_to_an_ended_campaign_says_it_has_ended(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    account = make_account(phones=[])
    handle = await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="ended", playbook=ONE_EMAIL,
        account=account, seconds_per_day=30,
    )  # fmt: skip
    env = env_for(settings)
    on = ("--tenant", TENANT.tenant_id)
    ceased = await recoup("account", "legal", account.account_id, "--event", "cease", *on, env=env)
    assert ceased.code == 0, ceased.err
    await handle.result()
    paid = await recoup("account", "pay", account.account_id, "--amount", "1", *on, env=env)
    assert paid.code == 1, paid.err
    assert (
        f"the campaign of account {account.account_id!r} in tenant {TENANT.tenant_id!r} has ended"
    ) in paid.err
