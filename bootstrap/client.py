"""The one way every process connects to Temporal: same data converter everywhere.

Clients and workers share the payload codec (PII is ciphertext in histories) and
the tracing interceptor (a trace flows from the request into every activity), and
the connection settings of a secured cluster: TLS with the server's CA, mTLS with a
client certificate, or a Temporal Cloud API key (``RECOUP_TEMPORAL_TLS*``,
``RECOUP_TEMPORAL_API_KEY``; see docs/production.md).
"""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from adapters.campaign_count import VisibilityCount
from adapters.task_queue_backlog import QueueBacklog
from bootstrap.codec import data_converter
from bootstrap.settings import Settings
from bootstrap.tracing import client_interceptors


class TemporalConnectError(RuntimeError):
    """Temporal could not be reached or refused the connection; the message says how
    the connection was configured (plaintext, TLS, mTLS, API key), never a secret."""


def tls_config(settings: Settings) -> TLSConfig | bool:
    """The SDK's ``tls`` argument: False, True (system roots), or the files to use.

    Raises TemporalConnectError when a configured file cannot be read.
    """
    if not settings.temporal_tls_enabled:
        return False
    if not (
        settings.temporal_tls_ca or settings.temporal_tls_cert or settings.temporal_tls_server_name
    ):
        return True
    try:
        return TLSConfig(
            server_root_ca_cert=_read(settings.temporal_tls_ca),
            client_cert=_read(settings.temporal_tls_cert),
            client_private_key=_read(settings.temporal_tls_key),
            domain=settings.temporal_tls_server_name,
        )
    except OSError as exc:
        raise TemporalConnectError(f"cannot read a Temporal TLS file: {exc}") from exc


def _read(path: Path | None) -> bytes | None:
    return path.read_bytes() if path is not None else None


def describe_security(settings: Settings) -> str:
    """How the connection is secured, for messages (no secret in it)."""
    if not settings.temporal_tls_enabled:
        return "plaintext"
    parts = ["TLS"]
    parts.append(f"CA {settings.temporal_tls_ca}" if settings.temporal_tls_ca else "system roots")
    if settings.temporal_tls_cert:
        parts.append(f"client certificate {settings.temporal_tls_cert}")
    if settings.temporal_tls_server_name:
        parts.append(f"server name {settings.temporal_tls_server_name}")
    if settings.temporal_api_key:
        parts.append("API key")
    return ", ".join(parts)


async def connect(
    settings: Settings, runtime: Runtime | None = None, *, create_keys: bool = True
) -> Client:
    """Connect; a worker passes a runtime that exports its metrics (``bootstrap.metrics``).

    ``create_keys``: whether a missing key ring file may be created (workers and
    ``recoup dev`` may; a command that sends to running workers may not, and gets
    ``bootstrap.keyring.MissingKeyRing``).

    Raises TemporalConnectError (a RuntimeError) when the server cannot be reached or
    the TLS handshake fails, naming the address and how the connection was secured.
    """
    api_key = settings.temporal_api_key
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=data_converter(settings, create_keys=create_keys),
            interceptors=client_interceptors(settings),
            runtime=runtime,
            tls=tls_config(settings),
            api_key=api_key.get_secret_value() if api_key else None,
        )
    except TemporalConnectError:
        raise
    except RuntimeError as exc:
        raise TemporalConnectError(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"({describe_security(settings)}): {exc}{_hint(settings, str(exc))}"
        ) from exc


def _hint(settings: Settings, error: str) -> str:
    """What to check, from the SDK's error: its transport messages name no setting."""
    if any(cause in error for cause in ("tcp connect error", "dns error", "Connection refused")):
        return ""  # nothing listens there (or the name does not resolve): TLS is not the issue
    if "Certificate" in error or "certificate" in error:
        return (
            "; the server's certificate was not accepted: check RECOUP_TEMPORAL_TLS_CA "
            "(the CA that signed it) and RECOUP_TEMPORAL_TLS_SERVER_NAME"
        )
    if not settings.temporal_tls_enabled:
        return (
            "; if the cluster requires TLS, set RECOUP_TEMPORAL_TLS=true (with "
            "RECOUP_TEMPORAL_TLS_CA, _CERT and _KEY for mTLS, or RECOUP_TEMPORAL_API_KEY)"
        )
    if settings.temporal_tls_cert is None and settings.temporal_api_key is None:
        return (
            "; if the cluster requires a client certificate (mTLS), set "
            "RECOUP_TEMPORAL_TLS_CERT and RECOUP_TEMPORAL_TLS_KEY"
        )
    return ""


def queue_backlog(client: Client) -> QueueBacklog:
    """``client``'s reading of a workflow task queue's approximate backlog, for
    ``adapters.task_queue_backlog``: None where the server keeps no queue stats (the
    time-skipping test server answers UNIMPLEMENTED)."""

    async def backlog(queue: str) -> int | None:
        try:
            described = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                    report_stats=True,
                )
            )
        except RPCError as exc:
            if exc.status is RPCStatusCode.UNIMPLEMENTED:
                return None
            raise
        return int(described.stats.approximate_backlog_count)

    return backlog


def visibility_count(client: Client) -> VisibilityCount:
    """``client``'s visibility count, for ``adapters.campaign_count``: None where the
    server has no visibility store (the time-skipping test server answers UNIMPLEMENTED)."""

    async def count(query: str) -> int | None:
        try:
            return (await client.count_workflows(query)).count
        except RPCError as exc:
            if exc.status is RPCStatusCode.UNIMPLEMENTED:
                return None
            raise

    return count
