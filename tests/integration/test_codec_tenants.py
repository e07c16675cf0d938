"""A tenant's key reads that tenant's payloads and no other's through the codec server.

Every payload of a tenant's workflow (portfolio, account campaign, payment plan) is
bound to the tenant its workflow id names: a ``recoup-tenant`` label that AES-GCM
authenticates. Against the real dev server, workers and simulators, with the HTTP
API's real key authentication in front of the codec server.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Self

import httpx
import pytest
import pytest_asyncio
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    NexusSerializationContext,
    SerializationContext,
    WorkflowSerializationContext,
)
from temporalio.worker import Replayer

from api.app import create_app
from bootstrap import keyring
from bootstrap.codec import (
    ENCODING,
    TENANT_LABEL,
    CodecKeyError,
    EncryptionCodec,
    bound_tenant,
    data_converter,
    tenant_of,
)
from bootstrap.settings import Settings
from domain.account import Tenant
from domain.campaign import (
    AccountOutcome,
    CollectionStatus,
    PaymentReceived,
    account_workflow_id,
    plan_workflow_id,
    portfolio_workflow_id,
    tenant_of_workflow_id,
)
from domain.channels import Channel
from domain.playbook import Playbook, Step
from domain.portfolio import PortfolioStatus
from service.campaigns import arrange, launch_portfolio, record_payment, start_account_campaign
from simulators.smtp import SmtpSimulator
from tests.api_support import auth, new_tenant
from tests.arrangement_support import plan
from tests.campaign_support import eventually, mails_to
from tests.codec_support import NOT_CODEC, payloads_in, raw_history
from tests.conftest import codec_settings, make_account, serving
from workflows import ALL_WORKFLOWS

DAY = 1.0  # seconds per playbook day: the final notice (day 30) never comes in a test
# Day 0 notice; the final notice is far off (the plan pauses it anyway).
PLAYBOOK = Playbook(
    name="codec-tenants",
    steps=[
        Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(id="final", day=30, channel=Channel.EMAIL, template="final_notice"),
    ],
    closing_days=2,
    instalment_reminder_days=1,
    instalment_grace_days=2,
)

# Written by bootstrap.codec before payloads were bound to tenants (commit 6272eaf), with
# the tests' key (conftest.CODEC_KEY): {"debtor_name": "Ottilie Vandersloot", "email":
# "ottilie@example.com", "amount_due": "1234.56"}.
LEGACY_PAYLOAD = {
    "metadata": {"encryption-key-id": "dGVzdC0x", "encoding": "YmluYXJ5L2VuY3J5cHRlZA=="},
    "data": "KaghOnD/lI6r6EcpmiLSXdNpKaDDbeI1ErbJZSu/EVLQBEeFdypu16pL//Ngy0jAGO3FW3nmhwU2qsdF"
    "3HjqgTHBKYbUuZd0AT25MRdCtNCpu1+Hvbs18+1z344WgxZfqfPFc9BMaCATPSLm4iVfRW+H1ytd/zCBiMK4x"
    "ERRljnNOQULJTMf0wFYC0D+BDDg",
}
LEGACY_VALUE = {
    "debtor_name": "Ottilie Vandersloot",
    "email": "ottilie@example.com",
    "amount_due": "1234.56",
}


# --- which payloads belong to which tenant ----------------------------------------------


def test_the_tenant_comes_from_the_workflow_id_of_the_serialization_context() -> None:
    assert tenant_of_workflow_id(account_workflow_id("acme", "A-1")) == "acme"
    assert tenant_of_workflow_id(portfolio_workflow_id("acme", "c-1")) == "acme"
    assert tenant_of_workflow_id(plan_workflow_id("acme", "A-1", "arr-1")) == "acme"
    # Workflows of no tenant: the simulators', the benchmarks', anything malformed.
    for workflow_id in (
        "sim-clock",
        "sim-debtor/A-1/email-1",
        "bare/run-1/3",
        "account/acme",
        "account//A-1",
        "account/a b/A-1",
        "campaign/acme/c-1",
    ):
        assert tenant_of_workflow_id(workflow_id) is None, workflow_id

    workflow = WorkflowSerializationContext(namespace="default", workflow_id="account/acme/A-1")
    activity = ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="send_email",
        activity_task_queue="email-tasks",
        workflow_id="plan/acme/A-1/arr-1",
        workflow_type="PaymentPlan",
        is_local=False,
    )
    standalone = dataclasses.replace(activity, workflow_id=None, workflow_type=None)
    nexus = NexusSerializationContext(endpoint="e", service="s", operation="o")
    contexts: list[tuple[SerializationContext, str | None]] = [
        (workflow, "acme"),
        (activity, "acme"),
        (standalone, None),
        (nexus, None),
    ]
    for context, tenant in contexts:
        assert tenant_of(context) == tenant, context

    codec = EncryptionCodec(keyring.from_settings(Settings(**codec_settings())))
    assert codec.tenant is None
    bound = codec.with_context(workflow)
    assert bound.tenant == "acme" and codec.tenant is None  # a copy; the original is unbound
    assert bound.with_context(activity) is bound  # same tenant: no new object
    assert bound.with_context(nexus).tenant is None


# --- two tenants' real campaigns --------------------------------------------------------


@dataclass
class TenantCampaign:
    """A finished portfolio of one account that went through a payment plan."""

    tenant: Tenant
    token: str  # an API key of the tenant
    name: str  # the debtor's
    workflow_ids: list[str]  # portfolio, account, plan


async def paid_through_a_plan(
    client: Client, settings: Settings, smtp_sim: SmtpSimulator, name: str
) -> TenantCampaign:
    """A new tenant's portfolio whose one account is paid in full through a payment plan:
    every kind of tenant workflow (portfolio, account campaign, plan child)."""
    tenant, token = new_tenant(settings, prefix="codec")
    account = make_account(debtor_name=name)
    address = account.emails[0].address
    campaign_id = f"c-{account.account_id}"
    portfolio = await launch_portfolio(
        client, settings, tenant=tenant, campaign_id=campaign_id, playbook=PLAYBOOK,
        accounts=[account], seconds_per_day=DAY,
    )  # fmt: skip
    await eventually(lambda: len(mails_to(smtp_sim, address)) == 1, within=60)
    arrangement_id = f"plan-{account.account_id}"
    # Instalments due on days 20 and 23: the payments below come long before any
    # deadline, however loaded the machine.
    request = plan(arrangement_id, due_in=(20, 23))
    await arrange(client, tenant.tenant_id, account.account_id, request)
    await eventually(
        lambda: any("confirms the payment plan" in t for t in mails_to(smtp_sim, address))
    )
    for n in (1, 2):
        payment = PaymentReceived(
            payment_id=f"p{n}-{account.account_id}", amount=Decimal("125.00"), currency="USD"
        )
        await record_payment(client, tenant.tenant_id, account.account_id, payment)
    account_id = account_workflow_id(tenant.tenant_id, account.account_id)
    outcome = await client.get_workflow_handle(account_id, result_type=AccountOutcome).result()
    assert outcome.status is CollectionStatus.PAID
    status = await portfolio.result()
    assert isinstance(status, PortfolioStatus) and status.finished == 1
    ids = [
        portfolio_workflow_id(tenant.tenant_id, campaign_id),
        account_id,
        plan_workflow_id(tenant.tenant_id, account.account_id, arrangement_id),
    ]
    return TenantCampaign(tenant, token, name, ids)


@pytest_asyncio.fixture
async def two_tenants(
    client: Client, settings: Settings, running: object, smtp_sim: SmtpSimulator
) -> tuple[TenantCampaign, TenantCampaign]:
    first, second = await asyncio.gather(
        paid_through_a_plan(client, settings, smtp_sim, "Ottilie Vandersloot"),
        paid_through_a_plan(client, settings, smtp_sim, "Bartholomew Quackenbush"),
    )
    return first, second


@pytest_asyncio.fixture
async def api(client: Client, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP API (the codec server behind the API's own tenant keys), over ASGI."""
    app = create_app(settings, client)
    await app.state.service.prepare()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://recoup.test") as http:
        yield http
    app.state.service.close()


async def started_input(client: Client, workflow_id: str) -> Payload:
    """The workflow's input as stored (an account's: the debtor's name, email, phone)."""
    fetched = await client.get_workflow_handle(workflow_id).fetch_history()
    started = fetched.events[0].workflow_execution_started_event_attributes
    payload: Payload = started.input.payloads[0]
    return payload


PATCH_MARKER = "core_patch"  # `workflow.patched` markers: the SDK's core writes them itself


async def codec_payloads(client: Client, workflow_id: str) -> list[Payload]:
    """Every payload the codec wrote in the workflow's history, as stored.

    Not the patch markers' (a patch id in plain JSON; no codec sees them).
    """
    fetched = await client.get_workflow_handle(workflow_id).fetch_history()
    events = [
        e for e in fetched.events if e.marker_recorded_event_attributes.marker_name != PATCH_MARKER
    ]
    return list(payloads_in(raw_history(events), NOT_CODEC))


def as_json(payloads: list[Payload]) -> dict[str, Any]:
    document: dict[str, Any] = json_format.MessageToDict(Payloads(payloads=payloads))
    return document


def plaintext(response: httpx.Response) -> bytes:
    """Everything the codec server answered, with the payloads' data base64-decoded."""
    if response.status_code != 200:
        return response.content
    decoded = json_format.ParseDict(response.json(), Payloads())
    return b"\n".join(p.SerializeToString() for p in decoded.payloads)


async def decode(
    api: httpx.AsyncClient, token: str, payloads: list[Payload], *, in_path: bool = False
) -> httpx.Response:
    """``POST /codec/decode`` as the CLI calls it, or (``in_path``) as the web UI does."""
    if in_path:
        return await api.post(f"/codec/key/{token}/decode", json=as_json(payloads))
    return await api.post("/codec/decode", json=as_json(payloads), headers=auth(token))


async def test_every_payload_of_a_tenants_workflows_is_bound_to_that_tenant(
    client: Client, two_tenants: tuple[TenantCampaign, TenantCampaign]
) -> None:
    for campaign in two_tenants:
        for workflow_id in campaign.workflow_ids:
            payloads = await codec_payloads(client, workflow_id)
            assert len(payloads) >= 2, workflow_id
            assert {p.metadata["encoding"] for p in payloads} == {ENCODING}, workflow_id
            # Inputs, results, signals, updates, activities, the child's input and
            # result in the parent, signals between parent and child: all of them.
            assert {bound_tenant(p) for p in payloads} == {campaign.tenant.tenant_id}, workflow_id


async def test_a_tenants_key_decodes_its_own_payloads_and_is_refused_anothers_both_ways(
    client: Client, api: httpx.AsyncClient, two_tenants: tuple[TenantCampaign, TenantCampaign]
) -> None:
    first, second = two_tenants
    for reader, owner in ((first, second), (second, first)):
        for workflow_id in owner.workflow_ids:
            payloads = await codec_payloads(client, workflow_id)
            for in_path in (False, True):
                own = await decode(api, owner.token, payloads, in_path=in_path)
                assert own.status_code == 200, own.text
                theirs = await decode(api, reader.token, payloads, in_path=in_path)
                assert theirs.status_code == 403, theirs.text
                problem = theirs.json()
                assert "belong to another tenant's workflows" in problem["detail"]
                assert f"tenant {reader.tenant.tenant_id!r}" in problem["detail"]
                assert "none of the" in problem["detail"]
                # Nothing of the owner: not a value, not even who the owner is.
                assert owner.tenant.tenant_id not in theirs.text
                assert owner.name not in theirs.text
        # The owner's key reads the debtor's name in the account's input.
        answer = await decode(
            api, owner.token, [await started_input(client, owner.workflow_ids[1])]
        )
        assert owner.name.encode() in plaintext(answer)
        assert reader.name.encode() not in plaintext(answer)

    # A batch that mixes the caller's payloads with another tenant's is refused whole:
    # the caller's own payloads are not answered either.
    mine = await codec_payloads(client, first.workflow_ids[1])
    other = await codec_payloads(client, second.workflow_ids[1])
    mixed = await decode(api, first.token, [*mine[:3], other[0], *mine[3:]])
    assert mixed.status_code == 403
    assert "payload(s) 3 belong to another tenant's workflows" in mixed.json()["detail"]
    assert first.name not in mixed.text and second.name not in mixed.text

    # Encoding binds the caller's tenant: what one tenant encodes, another cannot read.
    [plain] = pydantic_data_converter.payload_converter.to_payloads([{"note": first.name}])
    encoded = await api.post("/codec/encode", json=as_json([plain]), headers=auth(first.token))
    assert encoded.status_code == 200, encoded.text
    [sealed] = json_format.ParseDict(encoded.json(), Payloads()).payloads
    assert bound_tenant(sealed) == first.tenant.tenant_id
    assert (await decode(api, second.token, [sealed])).status_code == 403
    assert (await decode(api, first.token, [sealed])).status_code == 200


def relabelled(payload: Payload, tenant: str | None) -> Payload:
    """``payload`` with its tenant label changed (or removed: None), ciphertext untouched."""
    edited = Payload()
    edited.CopyFrom(payload)
    if tenant is None:
        del edited.metadata[TENANT_LABEL]
    else:
        edited.metadata[TENANT_LABEL] = tenant.encode()
    return edited


async def test_a_tenant_label_that_was_edited_does_not_decrypt(
    client: Client, api: httpx.AsyncClient, two_tenants: tuple[TenantCampaign, TenantCampaign]
) -> None:
    first, second = two_tenants
    worker_codec = client.data_converter.payload_codec
    assert isinstance(worker_codec, EncryptionCodec)
    for victim, thief in ((first, second), (second, first)):
        # The account's input: the debtor's name, email, phone, amount.
        started = await started_input(client, victim.workflow_ids[1])
        assert victim.name.encode() in worker_codec.decrypt([started])[0].data

        # Moved to the thief's tenant: the label is what the codec server checks, but
        # AES-GCM authenticates it, so the payload no longer decrypts for anyone.
        moved = relabelled(started, thief.tenant.tenant_id)
        stolen = await decode(api, thief.token, [moved])
        assert stolen.status_code == 400, stolen.text
        assert "label was altered" in stolen.json()["detail"]
        assert victim.name not in stolen.text
        with pytest.raises(CodecKeyError, match="label was altered"):
            worker_codec.decrypt([moved])

        # Label removed (to pass as a payload written before tenant binding): refused
        # by the codec server as bound to no tenant, and it does not decrypt either.
        unlabelled = relabelled(started, None)
        refused = await decode(api, thief.token, [unlabelled])
        assert refused.status_code == 403 and "bound to no tenant" in refused.json()["detail"]
        with pytest.raises(CodecKeyError, match="label was altered"):
            worker_codec.decrypt([unlabelled])

        # The victim's own key reads the original and nothing else.
        assert (await decode(api, victim.token, [started])).status_code == 200
        assert (await decode(api, victim.token, [unlabelled])).status_code == 403


# --- payloads written before tenant binding ---------------------------------------------


class PreTenantCodec(EncryptionCodec):
    """The codec as it was before tenant binding: blind to the serialization context."""

    def with_context(self, context: SerializationContext) -> Self:
        return self


def pre_tenant_converter(settings: Settings) -> DataConverter:
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=PreTenantCodec(keyring.from_settings(settings)),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def test_a_payload_written_before_tenant_binding_decodes_in_workers_only(
    client: Client, api: httpx.AsyncClient, settings: Settings
) -> None:
    legacy = json_format.ParseDict(LEGACY_PAYLOAD, Payload())
    assert bound_tenant(legacy) is None
    # Workers (every client and worker) read it as they always did.
    assert await client.data_converter.decode([legacy]) == [LEGACY_VALUE]
    assert await data_converter(settings).decode([legacy]) == [LEGACY_VALUE]
    # The codec server cannot tell whose it is, so no tenant's key reads it.
    _, token = new_tenant(settings, prefix="codec")
    refused = await decode(api, token, [legacy])
    assert refused.status_code == 403, refused.text
    detail = refused.json()["detail"]
    assert "payload(s) 0 are bound to no tenant" in detail
    assert "encrypted before payloads were bound to tenants" in detail
    assert "Ottilie" not in refused.text
    # A label added to claim it does not make it decrypt.
    claimed = await decode(api, token, [relabelled(legacy, "codec-anyone")])
    assert claimed.status_code == 403  # another tenant's label: refused before decrypting
    with pytest.raises(CodecKeyError, match="label was altered"):
        await client.data_converter.decode([relabelled(legacy, "codec-anyone")])


async def test_a_campaign_begun_before_tenant_binding_replays_and_finishes(
    client: Client, api: httpx.AsyncClient, settings: Settings, smtp_sim: SmtpSimulator
) -> None:
    tenant, token = new_tenant(settings, prefix="codec")
    account = make_account(debtor_name="Ottilie Vandersloot")
    address = account.emails[0].address
    # Before the upgrade: client and workers write payloads bound to no tenant.
    config = client.config()
    config["data_converter"] = pre_tenant_converter(settings)
    before = Client(**config)
    async with serving(before, settings):
        handle = await start_account_campaign(
            before, settings, tenant=tenant, campaign_id="c-legacy", playbook=PLAYBOOK,
            account=account, seconds_per_day=DAY,
        )  # fmt: skip
        await eventually(lambda: len(mails_to(smtp_sim, address)) == 1, within=60)
    # After: upgraded workers take the running campaign over (they have none of it
    # cached, so they replay its history from the start) and finish it.
    async with serving(client, settings):
        payment = PaymentReceived(
            payment_id=f"p-{account.account_id}", amount=Decimal("250.00"), currency="USD"
        )
        await record_payment(client, tenant.tenant_id, account.account_id, payment)
        outcome = await client.get_workflow_handle(handle.id, result_type=AccountOutcome).result()
    assert outcome.status is CollectionStatus.PAID

    history = await client.get_workflow_handle(handle.id).fetch_history()
    payloads = list(payloads_in(raw_history(history.events), NOT_CODEC))
    unbound = [p for p in payloads if bound_tenant(p) is None]
    bound = [p for p in payloads if bound_tenant(p) == tenant.tenant_id]
    assert unbound and bound and len(unbound) + len(bound) == len(payloads)
    started = history.events[0].workflow_execution_started_event_attributes
    assert bound_tenant(started.input.payloads[0]) is None  # written before
    # The whole history, half before and half after, replays with today's converter.
    await Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter).replay_workflow(
        history
    )
    # Through the codec server the tenant reads what was written since, not before.
    assert (await decode(api, token, bound)).status_code == 200
    before_upgrade = await decode(api, token, unbound)
    assert before_upgrade.status_code == 403
    assert "bound to no tenant" in before_upgrade.json()["detail"]
    assert base64.b64encode(b"Ottilie").decode() not in before_upgrade.text
