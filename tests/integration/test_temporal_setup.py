"""``recoup temporal setup`` against a real dev server that knows none of Recoup's attributes.

The server is started here (not the suite's ``env``, which registers the attributes at
start-up), and every test uses a namespace of its own, so each one sees setup create it.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.common import TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from bootstrap.cluster import (
    ClusterError,
    Connection,
    State,
    ensure_namespace,
    setup_cluster,
)
from bootstrap.devserver import free_port, temporal_binary
from tests.cli_support import recoup
from workflows import search_attributes as sa

NAMES = [key.name for key in sa.ALL]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def bare_server() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server with no custom search attributes registered anywhere."""
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()), search_attributes=[]
    )
    async with environment:
        yield environment


@pytest.fixture
def address(bare_server: WorkflowEnvironment) -> str:
    return bare_server.client.service_client.config.target_host


@pytest.fixture
def namespace() -> str:
    return f"recoup-setup-{uuid.uuid4().hex[:10]}"


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", **extra})
    return env


async def custom_attributes(client: Client, namespace: str) -> dict[str, int]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return dict(listed.custom_attributes)


async def test_setup_creates_the_namespace_and_every_attribute_then_finds_them(
    bare_server: WorkflowEnvironment, address: str, namespace: str
) -> None:
    client = bare_server.client
    assert not set(NAMES) & set(await custom_attributes(client, "default"))

    first = await setup_cluster(Connection(address), namespace, retention=timedelta(days=7))

    assert first.ok, first.errors
    assert [(i.kind, i.name) for i in first.created] == [
        ("namespace", namespace),
        *(("search attribute", name) for name in NAMES),
    ]
    assert first.existing == []
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    assert described.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=7)
    registered = await custom_attributes(client, namespace)
    for key in sa.ALL:
        assert registered[key.name] == int(key.indexed_value_type), key.name

    second = await setup_cluster(Connection(address), namespace)

    assert second.ok
    assert second.created == []
    assert [i.name for i in second.existing] == [namespace, *NAMES]
    # An existing namespace keeps its retention; the report says so.
    assert "retention 7 days" in second.existing[0].detail
    assert "left as it is" in second.existing[0].detail


async def test_the_attributes_are_usable_by_a_workflow_start_and_a_visibility_query(
    address: str, namespace: str
) -> None:
    assert (await setup_cluster(Connection(address), namespace)).ok
    client = await Client.connect(address, namespace=namespace)
    campaign = f"c-{uuid.uuid4().hex[:6]}"
    handle = await client.start_workflow(
        "NoWorkerNeeded",
        id=f"portfolio/acme/{campaign}",
        task_queue=f"nobody-{campaign}",
        search_attributes=sa.for_portfolio(tenant_id="acme", campaign_id=campaign, status="x"),
    )
    try:
        query = f"RecoupCampaign = '{campaign}' AND RecoupTenant = 'acme'"
        for _ in range(40):
            found = [w.id async for w in client.list_workflows(query)]
            if found:
                break
            await asyncio.sleep(0.25)
        assert found == [handle.id]
        described = await handle.describe()
        typed: TypedSearchAttributes = described.typed_search_attributes
        assert typed.get(sa.CAMPAIGN) == campaign
    finally:
        await handle.terminate()


async def test_an_attribute_with_another_type_is_an_error_naming_it(
    bare_server: WorkflowEnvironment, address: str, namespace: str
) -> None:
    client = bare_server.client
    assert (await ensure_namespace(client, namespace)).state is State.CREATED
    wrong = AddSearchAttributesRequest(
        namespace=namespace,
        search_attributes={"RecoupAmountDue": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
    )
    for _ in range(60):  # a namespace registered a moment ago takes a moment to be known
        try:
            await client.operator_service.add_search_attributes(wrong)
            break
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            await asyncio.sleep(0.5)

    report = await setup_cluster(Connection(address), namespace)

    assert not report.ok
    [error] = report.errors
    assert error.name == "RecoupAmountDue"
    assert "exists as Keyword, Recoup needs Double" in error.detail
    # Everything else is still set up, and the wrong attribute is left alone.
    assert {i.name for i in report.created} == set(NAMES) - {"RecoupAmountDue"}
    registered = await custom_attributes(client, namespace)
    assert registered["RecoupAmountDue"] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD

    result = await recoup(
        "temporal", "setup", "--address", address, "--namespace", namespace, env=cli_env()
    )
    assert result.code == 1, result
    assert "RecoupAmountDue: exists as Keyword, Recoup needs Double" in result.err
    assert "1 error(s)" in result.err


async def test_an_unreachable_address_fails_clearly() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(ClusterError, match=f"cannot reach Temporal at 127.0.0.1:{port}"):
        await setup_cluster(Connection(f"127.0.0.1:{port}"), "default")

    result = await recoup("temporal", "setup", "--address", f"127.0.0.1:{port}", env=cli_env())

    assert result.code == 1
    assert f"error: cannot reach Temporal at 127.0.0.1:{port}" in result.err
    assert "Traceback" not in result.err


async def test_a_client_certificate_needs_its_key(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("not really a certificate")
    with pytest.raises(ClusterError, match="--tls-cert and --tls-key together"):
        await setup_cluster(Connection("127.0.0.1:7233", tls_cert=cert), "default")


async def test_cli_end_to_end_from_the_environment_then_json(
    bare_server: WorkflowEnvironment, address: str, namespace: str
) -> None:
    env = cli_env(RECOUP_TEMPORAL_ADDRESS=address, RECOUP_TEMPORAL_NAMESPACE=namespace)

    first = await recoup("temporal", "setup", "--retention-days", "3", env=env)

    assert first.code == 0, first
    assert f"Temporal {address}, namespace {namespace}" in first.out
    assert f"created namespace {namespace}: retention 3 days" in first.out
    assert "created search attribute RecoupNextActionAt: Datetime" in first.out
    assert f"{len(NAMES) + 1} created, 0 already there, 0 error(s)" in first.out
    described = await bare_server.client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    assert described.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=3)

    again = await recoup("temporal", "setup", "--json", env=env)

    assert again.code == 0, again
    payload = json.loads(again.out)
    assert payload["ok"] is True
    assert payload["namespace"] == namespace
    assert {item["state"] for item in payload["items"]} == {"exists"}
    assert [item["name"] for item in payload["items"]] == [namespace, *NAMES]
