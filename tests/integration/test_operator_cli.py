"""The operator's commands: tenants and keys, pausing, approvals; as a user runs them."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

from temporalio.client import Client

from adapters.tenants import TenantStore
from bootstrap.settings import Settings
from domain.arrangements import ArrangementStatus
from domain.campaign import CampaignSnapshot
from service.campaigns import account_status, arrange, start_account_campaign
from tests.api_support import eventually
from tests.arrangement_support import settlement
from tests.campaign_support import cadence
from tests.cli_support import env_for, recoup
from tests.conftest import TENANT, make_account


async def test_tenant_keys_are_shown_once_listed_without_secrets_and_revoked(
    settings: Settings,
) -> None:
    env = env_for(settings)
    tenant_id = f"cli-{uuid.uuid4().hex[:8]}"
    made = await recoup("tenant", "create", tenant_id, "--name", "Acme Recovery", "--json", env=env)
    assert made.code == 0, made.err
    key = json.loads(made.out)
    token = key["api_key"]
    assert token.startswith(f"rk_{key['key_id']}_")

    store = TenantStore(settings.sql_url)
    try:
        tenant = store.authenticate(token)
        assert tenant is not None and (tenant.tenant_id, tenant.name) == (
            tenant_id,
            "Acme Recovery",
        )
    finally:
        store.dispose()

    again = await recoup("tenant", "create", tenant_id, "--name", "Other", env=env)
    assert again.code == 1 and "exists" in again.err

    second = await recoup("tenant", "keys", tenant_id, "--new", "--label", "crm", "--json", env=env)
    listed = await recoup("tenant", "keys", tenant_id, "--json", env=env)
    rows = json.loads(listed.out)
    assert [r["key_id"] for r in rows] == [key["key_id"], json.loads(second.out)["key_id"]]
    assert all("api_key" not in r for r in rows) and token not in listed.out

    revoked = await recoup("tenant", "revoke", key["key_id"], env=env)
    assert revoked.code == 0 and "revoked" in revoked.out
    store = TenantStore(settings.sql_url)
    try:
        assert store.authenticate(token) is None
    finally:
        store.dispose()
    unknown = await recoup("tenant", "revoke", "nope", env=env)
    assert unknown.code == 1 and "no API key 'nope'" in unknown.err


async def test_an_operator_pauses_resumes_and_approves_from_the_cli(
    client: Client, settings: Settings, running: object
) -> None:
    env = env_for(settings)
    account = make_account()
    await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="ops", playbook=cadence(), account=account
    )
    account_id = account.account_id

    async def snapshot() -> CampaignSnapshot:
        return await account_status(client, TENANT.tenant_id, account_id)

    await eventually(snapshot, lambda s: len(s.attempts) >= 1)
    paused = await recoup(
        "account", "pause", account_id, "--tenant", "acme", "--reason", "on a call", env=env
    )
    assert paused.code == 0, paused.err
    held = await eventually(snapshot, lambda s: s.paused is not None)
    assert held.paused is not None and held.paused.reason == "on a call"
    resumed = await recoup("account", "resume", account_id, "--tenant", "acme", env=env)
    assert resumed.code == 0, resumed.err
    await eventually(snapshot, lambda s: s.paused is None)

    deal = await arrange(client, TENANT.tenant_id, account_id, settlement("cli-deep", "50.00"))
    assert deal.status is ArrangementStatus.AWAITING_APPROVAL
    listed = await eventually(
        lambda: recoup("approvals", "list", "--tenant", "acme", "--json", env=env),
        lambda r: account_id in r.out,
    )
    approval = next(
        p["approval"] for p in json.loads(listed.out)["approvals"] if p["account_id"] == account_id
    )
    assert "80%" in approval["summary"]
    # The supervisor's recommendation comes with the request (80 % is far past 50 %).
    assert "Supervisor recommends reject" in approval["summary"]
    table = await recoup("approvals", "list", "--tenant", "acme", env=env)
    assert approval["approval_id"] in table.out and "if nobody decides" in table.out
    assert ": rejected" in table.out  # the deadline's safe default
    rejected = await recoup(
        "approvals", "deny", account_id, approval["approval_id"], "--tenant", "acme",
        "--operator", "lee", "--note", "too deep", env=env,
    )  # fmt: skip
    assert rejected.code == 0 and "rejected by lee" in rejected.out, rejected.err
    after = await snapshot()
    assert after.arrangement is not None
    assert after.arrangement.status is ArrangementStatus.REJECTED
    assert after.balance == Decimal("250.00")  # nothing forgiven

    missing = await recoup("account", "pause", "A-nobody", "--tenant", "acme", env=env)
    assert missing.code == 1 and "no campaign for account 'A-nobody'" in missing.err
