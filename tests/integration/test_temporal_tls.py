"""Connecting to a secured Temporal cluster: TLS, mTLS and an API key (``bootstrap.client``).

The suite's dev server speaks plaintext gRPC, so each test puts a real TLS-terminating
TCP proxy in front of it: an asyncio server with an ``ssl.SSLContext`` (ALPN ``h2``)
that forwards the decrypted bytes to the dev server's port, optionally requiring a
client certificate (mTLS). The certificates are made here with ``cryptography``: a CA,
a server certificate for 127.0.0.1/localhost and a client certificate, plus a second,
untrusted CA. Everything goes through ``bootstrap.client.connect`` and the ``RECOUP_``
settings, as every Recoup process does.

Run: ``.venv/bin/pytest tests/integration/test_temporal_tls.py``
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import SecretStr, ValidationError
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bootstrap.client import TemporalConnectError, connect, describe_security
from bootstrap.settings import Settings
from tests.cli_support import env_for, recoup
from tests.conftest import codec_settings


@workflow.defn
class TlsEcho:
    """The smallest round trip: a workflow task on each side of the proxy."""

    @workflow.run
    async def run(self, word: str) -> str:
        return f"{word} over TLS"


# --- certificates ------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """PEM files in a directory: two CAs, a server and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # signed nothing here: a client trusting it must refuse the server


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    common_name: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    *,
    server: bool,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert, ca_key = ca
    key = _key()
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    else:  # rustls wants a SAN on client certificates too
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None
) -> tuple[Path, Path | None]:
    cert_path = directory / f"{name}.crt"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is None:
        return cert_path, None
    key_path = directory / f"{name}.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = _ca("Recoup Test CA")
    ca_path, _ = _write(directory, "ca", ca[0], None)
    server_cert, server_key = _write(directory, "server", *_leaf("localhost", ca, server=True))
    client_cert, client_key = _write(directory, "client", *_leaf("recoup-worker", ca, server=False))
    other_ca, _ = _write(directory, "other-ca", _ca("Somebody Else's CA")[0], None)
    assert server_key is not None and client_key is not None
    return Pki(ca_path, server_cert, server_key, client_cert, client_key, other_ca)


# --- the TLS-terminating proxy -------------------------------------------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass  # the other side went away (or the handshake was refused): end this leg
    finally:
        with suppress(Exception):
            writer.close()


@asynccontextmanager
async def tls_proxy(upstream: str, pki: Pki, *, require_client_cert: bool) -> AsyncIterator[str]:
    """``127.0.0.1:PORT`` where TLS (h2) is terminated and the bytes go on to ``upstream``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.set_alpn_protocols(["h2"])  # gRPC over TLS negotiates HTTP/2 by ALPN
    if require_client_cert:
        context.load_verify_locations(pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    host, port = upstream.rsplit(":", 1)
    legs: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        for leg in (_pipe(reader, up_writer), _pipe(up_reader, writer)):
            task = asyncio.ensure_future(leg)
            legs.add(task)
            task.add_done_callback(legs.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in list(legs):
            task.cancel()
        await asyncio.gather(*legs, return_exceptions=True)
        with suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture
def upstream(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


@pytest.fixture
def secured(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a proxy address, with the suite's codec keys and a fresh queue."""

    def make(address: str, **fields: Any) -> Settings:
        return Settings(
            temporal_address=address,
            task_queue_suffix=f"-{uuid.uuid4().hex[:10]}",
            data_dir=tmp_path,
            **codec_settings(),
            **fields,
        )

    return make


@pytest.fixture
def no_recoup_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings built here must not pick up a developer's RECOUP_TEMPORAL_* variables."""
    for name in list(os.environ):
        if name.startswith("RECOUP_TEMPORAL"):
            monkeypatch.delenv(name)
    yield


pytestmark = pytest.mark.usefixtures("no_recoup_env")


async def _round_trip(client: Client, task_queue: str) -> str:
    # Unsandboxed: this module imports cryptography and ssl, which the sandbox refuses.
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[TlsEcho],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        return await client.execute_workflow(
            TlsEcho.run,
            "hello",
            id=f"tls-echo-{uuid.uuid4().hex[:10]}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=30),
        )


# --- tests ---------------------------------------------------------------------------


async def test_tls_with_the_servers_ca_runs_a_workflow_round_trip(
    upstream: str, pki: Pki, secured: Callable[..., Settings]
) -> None:
    async with tls_proxy(upstream, pki, require_client_cert=False) as address:
        settings = secured(address, temporal_tls=True, temporal_tls_ca=pki.ca)
        client = await connect(settings)
        assert client.service_client.config.tls is not False
        assert await _round_trip(client, f"tls{settings.task_queue_suffix}") == "hello over TLS"


async def test_mtls_with_a_client_certificate_runs_a_workflow_round_trip(
    upstream: str, pki: Pki, secured: Callable[..., Settings]
) -> None:
    async with tls_proxy(upstream, pki, require_client_cert=True) as address:
        # No temporal_tls=True: a CA or a certificate is enough to switch TLS on.
        settings = secured(
            address,
            temporal_tls_ca=pki.ca,
            temporal_tls_cert=pki.client_cert,
            temporal_tls_key=pki.client_key,
        )
        client = await connect(settings)
        assert await _round_trip(client, f"mtls{settings.task_queue_suffix}") == "hello over TLS"


async def test_a_recoup_command_reads_the_tls_settings_from_the_environment(
    upstream: str, pki: Pki, secured: Callable[..., Settings]
) -> None:
    """A ``recoup`` process (not only this test's client) connects through mTLS."""
    async with tls_proxy(upstream, pki, require_client_cert=True) as address:
        settings = secured(address)
        env = {
            **env_for(settings),
            "RECOUP_TEMPORAL_TLS_CA": str(pki.ca),
            "RECOUP_TEMPORAL_TLS_CERT": str(pki.client_cert),
            "RECOUP_TEMPORAL_TLS_KEY": str(pki.client_key),
        }
        # An account nobody launched: reaching Temporal is what this asks for, and its
        # answer (no campaign for that account) is proof the command got through the proxy.
        missing = f"nobody-{uuid.uuid4().hex[:8]}"
        found = await recoup("account", "show", missing, env=env)
        assert f"no campaign for account {missing!r}" in found.err, found.err
        assert "cannot reach Temporal" not in found.err
        # The same command without the client certificate is refused by the proxy.
        del env["RECOUP_TEMPORAL_TLS_CERT"], env["RECOUP_TEMPORAL_TLS_KEY"]
        refused = await recoup("account", "show", missing, env=env)
        assert refused.code != 0
        assert "cannot reach Temporal" in refused.err


async def test_plaintext_against_a_tls_endpoint_fails(
    upstream: str, pki: Pki, secured: Callable[..., Settings]
) -> None:
    async with tls_proxy(upstream, pki, require_client_cert=False) as address:
        settings = secured(address)
        with pytest.raises(TemporalConnectError) as failed:
            await connect(settings)
        assert address in str(failed.value)
        assert "plaintext" in str(failed.value)
        assert "RECOUP_TEMPORAL_TLS=true" in str(failed.value)  # what to do about it


async def test_an_untrusted_server_certificate_is_refused_with_a_clear_error(
    upstream: str, pki: Pki, secured: Callable[..., Settings]
) -> None:
    async with tls_proxy(upstream, pki, require_client_cert=False) as address:
        settings = secured(address, temporal_tls_ca=pki.other_ca)
        with pytest.raises(TemporalConnectError) as failed:
            await connect(settings)
        message = str(failed.value)
        # Where, how it was configured (the CA file), and the verifier's own reason.
        assert address in message
        assert str(pki.other_ca) in message
        assert "certificate" in message.lower(), message
        assert "RECOUP_TEMPORAL_TLS_CA" in message


async def test_mtls_without_a_client_certificate_is_refused(
    upstream: str, pki: Pki, secured: Callable[..., Settings]
) -> None:
    async with tls_proxy(upstream, pki, require_client_cert=True) as address:
        settings = secured(address, temporal_tls_ca=pki.ca)
        with pytest.raises(TemporalConnectError) as failed:
            await connect(settings)
        assert "RECOUP_TEMPORAL_TLS_CERT" in str(failed.value)


def test_a_certificate_without_its_key_is_a_settings_error_naming_the_field(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"never-shown-{uuid.uuid4().hex}"
    with pytest.raises(ValidationError) as failed:
        Settings(temporal_tls_cert=pki.client_cert, temporal_api_key=SecretStr(secret))
    assert "temporal_tls_key" in str(failed.value)
    assert "RECOUP_TEMPORAL_TLS_KEY" in str(failed.value)
    assert secret not in str(failed.value)  # the error's input is the field, not the rest
    # And the other way round, from the environment as a deployment sets it.
    monkeypatch.setenv("RECOUP_TEMPORAL_TLS_KEY", str(pki.client_key))
    with pytest.raises(ValidationError) as failed:
        Settings()
    assert "temporal_tls_cert" in str(failed.value)
    # A path that is not a file is refused when the settings load, naming the field.
    with pytest.raises(ValidationError) as failed:
        Settings(temporal_tls_ca=pki.ca.parent / "missing.crt")
    assert "temporal_tls_ca" in str(failed.value)


async def test_an_api_key_implies_tls_and_goes_with_every_call(
    upstream: str, pki: Pki, secured: Callable[..., Settings]
) -> None:
    key = f"recoup-test-key-{uuid.uuid4().hex}"
    # Temporal Cloud needs TLS with an API key: against the plaintext server it fails.
    with pytest.raises(TemporalConnectError) as failed:
        await connect(secured(upstream, temporal_api_key=SecretStr(key)))
    assert key not in str(failed.value)  # the message says "API key", never the key
    assert "API key" in str(failed.value)
    async with tls_proxy(upstream, pki, require_client_cert=False) as address:
        settings = secured(address, temporal_tls_ca=pki.ca, temporal_api_key=SecretStr(key))
        assert settings.temporal_tls_enabled
        assert key not in describe_security(settings) and key not in repr(settings)
        client = await connect(settings)
        # The SDK sends it as "Authorization: Bearer <key>" on every call.
        assert client.api_key == key
        assert client.service_client.config.api_key == key
        assert await _round_trip(client, f"key{settings.task_queue_suffix}") == "hello over TLS"
