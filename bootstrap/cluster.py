"""Prepare a Temporal cluster for Recoup: its namespace and its custom search attributes.

``recoup dev`` starts a dev server that registers the search attributes itself
(``bootstrap.devserver``). A real cluster (self-hosted, or the dev server started by
hand) needs them registered once, which ``recoup temporal setup`` does with this
module. Every step is idempotent: what is already there is reported and left alone;
an attribute that exists with another type is an error naming it (Recoup's
workflows would fail to upsert it), never changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from workflows import search_attributes as sa

T = TypeVar("T")

DEFAULT_RETENTION = timedelta(days=30)
CONNECT_TIMEOUT = timedelta(seconds=10)
# A namespace just registered may take a moment to be known to every service
# (the namespace registry refreshes on an interval, 10 s by default).
NAMESPACE_PROPAGATION_SECONDS = 30.0

# Temporal CLI / web UI spelling of each type.
_TYPE_NAMES: dict[int, str] = {
    IndexedValueType.INDEXED_VALUE_TYPE_TEXT: "Text",
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
    IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
    IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE: "Double",
    IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
}


def type_name(value: int) -> str:
    return _TYPE_NAMES.get(value, f"type {value}")


class ClusterError(RuntimeError):
    """The cluster could not be reached, or refused a request we cannot work around."""


class State(StrEnum):
    CREATED = "created"
    EXISTS = "exists"
    ERROR = "error"


@dataclass(frozen=True)
class Item:
    """One thing setup looked after: the namespace or one search attribute."""

    kind: str  # "namespace" | "search attribute"
    name: str
    state: State
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "state": self.state.value,
            "detail": self.detail,
        }


@dataclass
class SetupReport:
    address: str
    namespace: str
    items: list[Item] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def created(self) -> list[Item]:
        return [i for i in self.items if i.state is State.CREATED]

    @property
    def existing(self) -> list[Item]:
        return [i for i in self.items if i.state is State.EXISTS]

    @property
    def errors(self) -> list[Item]:
        return [i for i in self.items if i.state is State.ERROR]

    def as_dict(self) -> dict[str, object]:
        return {
            "address": self.address,
            "namespace": self.namespace,
            "ok": self.ok,
            "items": [i.as_dict() for i in self.items],
        }


@dataclass(frozen=True)
class Connection:
    """How to reach the cluster: plain gRPC, mTLS (self-hosted or Cloud) or an API key."""

    address: str
    tls: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    tls_server_name: str | None = None
    api_key: str | None = None

    def tls_config(self) -> TLSConfig | bool | None:
        """The SDK's ``tls`` argument; None lets an API key switch TLS on by itself."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ClusterError("give --tls-cert and --tls-key together (a client certificate)")
        if self.tls_cert or self.tls_key or self.tls_ca or self.tls_server_name:
            try:
                return TLSConfig(
                    client_cert=self.tls_cert.read_bytes() if self.tls_cert else None,
                    client_private_key=self.tls_key.read_bytes() if self.tls_key else None,
                    server_root_ca_cert=self.tls_ca.read_bytes() if self.tls_ca else None,
                    domain=self.tls_server_name,
                )
            except OSError as exc:
                raise ClusterError(f"cannot read TLS file: {exc}") from exc
        return True if self.tls else None


async def connect(connection: Connection, namespace: str) -> Client:
    """A plain client (no codec: setup sends no payloads); ClusterError if unreachable."""
    try:
        return await Client.connect(
            connection.address,
            namespace=namespace,
            tls=connection.tls_config(),
            api_key=connection.api_key,
            connect_timeout=CONNECT_TIMEOUT,
        )
    except ClusterError:
        raise
    except (RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot reach Temporal at {connection.address}: {exc}") from exc


async def ensure_namespace(
    client: Client, namespace: str, retention: timedelta = DEFAULT_RETENTION
) -> Item:
    """Register ``namespace`` with ``retention`` unless it exists (then leave it as it is)."""
    service = client.workflow_service
    try:
        described = await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            return Item("namespace", namespace, State.ERROR, f"cannot describe it: {exc.message}")
    else:
        kept = described.config.workflow_execution_retention_ttl.ToTimedelta()
        note = f"retention {_days(kept)}"
        if kept != retention:
            note += f" (left as it is; --retention-days asked for {_days(retention)})"
        return Item("namespace", namespace, State.EXISTS, note)
    period = Duration()
    period.FromTimedelta(retention)
    try:
        await service.register_namespace(
            RegisterNamespaceRequest(
                namespace=namespace,
                description="Recoup collection campaigns",
                workflow_execution_retention_period=period,
            )
        )
    except RPCError as err:
        if err.status is RPCStatusCode.ALREADY_EXISTS:  # registered meanwhile by someone else
            return Item("namespace", namespace, State.EXISTS, "registered concurrently")
        hint = (
            " (on Temporal Cloud, create namespaces in the web console or with tcld)"
            if err.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED)
            else ""
        )
        return Item("namespace", namespace, State.ERROR, f"cannot register it: {err.message}{hint}")
    return Item("namespace", namespace, State.CREATED, f"retention {_days(retention)}")


async def ensure_search_attributes(
    client: Client,
    namespace: str,
    keys: Iterable[sa.AnyKey] = sa.ALL,
    *,
    wait_seconds: float = NAMESPACE_PROPAGATION_SECONDS,
) -> list[Item]:
    """Add the missing ``keys`` to ``namespace``; report existing ones and wrong types."""
    wanted = {key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in keys}
    existing = await _with_namespace_retry(
        lambda: _custom_attributes(client, namespace), namespace, wait_seconds
    )
    items: list[Item] = []
    missing: dict[str, IndexedValueType.ValueType] = {}
    for name, want in wanted.items():
        have = existing.get(name)
        if have is None:
            missing[name] = want
        elif have == want:
            items.append(Item("search attribute", name, State.EXISTS, type_name(want)))
        else:
            items.append(
                Item(
                    "search attribute",
                    name,
                    State.ERROR,
                    f"exists as {type_name(have)}, Recoup needs {type_name(want)}: remove it "
                    f"(temporal operator search-attribute remove --name {name} "
                    f"--namespace {namespace}) and run setup again",
                )
            )
    if missing:
        request = AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        try:
            await _with_namespace_retry(
                lambda: client.operator_service.add_search_attributes(request),
                namespace,
                wait_seconds,
            )
        except RPCError as exc:
            hint = (
                " (on Temporal Cloud, add search attributes with tcld or the web console)"
                if exc.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED)
                else ""
            )
            items += [
                Item("search attribute", name, State.ERROR, f"cannot add it: {exc.message}{hint}")
                for name in missing
            ]
        else:
            # Check what the server now holds rather than trusting the call.
            after = await _custom_attributes(client, namespace)
            for name, want in missing.items():
                if after.get(name) == want:
                    items.append(Item("search attribute", name, State.CREATED, type_name(want)))
                else:
                    items.append(
                        Item("search attribute", name, State.ERROR, "added but not listed after")
                    )
    order = list(wanted)
    return sorted(items, key=lambda item: order.index(item.name))


async def setup_cluster(
    connection: Connection,
    namespace: str,
    *,
    retention: timedelta = DEFAULT_RETENTION,
    create_namespace: bool = True,
    keys: Sequence[sa.AnyKey] = sa.ALL,
) -> SetupReport:
    """Ensure the namespace and Recoup's search attributes; raises ClusterError if unreachable."""
    client = await connect(connection, namespace)
    report = SetupReport(connection.address, namespace)
    if create_namespace:
        report.items.append(await ensure_namespace(client, namespace, retention))
        if report.errors:
            return report
    try:
        report.items += await ensure_search_attributes(client, namespace, keys)
    except RPCError as exc:
        report.items.append(
            Item("search attribute", "*", State.ERROR, f"cannot list them: {exc.message}")
        )
    return report


async def _custom_attributes(client: Client, namespace: str) -> dict[str, int]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return dict(listed.custom_attributes)


async def _with_namespace_retry(
    call: Callable[[], Awaitable[T]], namespace: str, wait_seconds: float
) -> T:
    """Retry while the server does not know a namespace registered moments ago."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        try:
            return await call()
        except RPCError as exc:
            unknown = exc.status is RPCStatusCode.NOT_FOUND or (
                "namespace" in exc.message.lower() and "not found" in exc.message.lower()
            )
            if not unknown or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


def _days(period: timedelta) -> str:
    days = period / timedelta(days=1)
    return f"{days:g} day{'s' if days != 1 else ''}"
