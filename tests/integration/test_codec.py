"""PII in workflow histories is ciphertext: the payload codec, its key ring, the codec
server, and ``recoup keys``; against the real dev server, workers and simulators."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import Header, HTTPException
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    WorkflowSerializationContext,
)
from temporalio.worker import Worker

from api.codec import codec_app
from bootstrap import keyring
from bootstrap.codec import (
    ENCODING,
    KEY_ID,
    TENANT_LABEL,
    CodecKeyError,
    EncryptionCodec,
    bound_tenant,
    data_converter,
)
from bootstrap.devserver import dev_server_args, free_port, start_dev_server, temporal_binary
from bootstrap.keyring import KeyRingError, KeyRingSource
from bootstrap.settings import Settings
from domain.account import Tenant
from domain.campaign import (
    AccountCampaignInput,
    AccountOutcome,
    CollectionStatus,
    account_workflow_id,
)
from domain.channels import Channel
from domain.playbook import Playbook, Step, StepCondition
from service.campaigns import start_account_campaign
from simulators.smtp import SmtpSimulator
from simulators.twilio import TwilioSimulator
from tests.cli_support import recoup
from tests.codec_support import NOT_CODEC, payloads_in, raw_history
from tests.conftest import CODEC_KEY_ID, TENANT, codec_settings, make_account

DAY = 0.25  # seconds per playbook day
NAME = "Ottilie Vandersloot"
AMOUNT = Decimal("1234.56")
API_KEY = "rk_test_codec_operator"
UI_ORIGIN = "http://127.0.0.1:8233"  # in Settings.codec_cors_origins by default

# Email refused for good (the address is in the failure), SMS as its fallback, then a call.
PLAYBOOK = Playbook(
    name="codec",
    steps=[
        Step(
            id="notice", day=0, channel=Channel.EMAIL, template="first_notice", fallback=Channel.SMS
        ),
        Step(
            id="call",
            day=1,
            channel=Channel.PHONE,
            template="call_script",
            requires=[StepCondition.VOICE_CONSENT],
        ),
    ],
    closing_days=0,
)


@dataclass
class Campaign:
    handle: WorkflowHandle[object, AccountOutcome]
    name: str
    email: str
    phone: str  # E.164
    amount: str

    @property
    def secrets(self) -> dict[str, str]:
        """What must never be readable in a history fetched without the codec."""
        return {"name": self.name, "email": self.email, "phone": self.phone.lstrip("+")}


@pytest_asyncio.fixture
async def campaign(
    client: Client,
    settings: Settings,
    running: list[Worker],
    smtp_sim: SmtpSimulator,
    twilio_sim: TwilioSimulator,
) -> AsyncIterator[Campaign]:
    """A finished account campaign whose debtor's mail server refused the address."""
    account = make_account(debtor_name=NAME, amount_due=AMOUNT)
    email, phone = account.emails[0].address, account.phones[0].number
    smtp_sim.reject.add(email)
    try:
        handle = await start_account_campaign(
            client, settings, tenant=TENANT, campaign_id="c-codec", playbook=PLAYBOOK,
            account=account, seconds_per_day=DAY,
        )  # fmt: skip
        outcome = await handle.result()
    finally:
        smtp_sim.reject.discard(email)
    assert outcome.status is CollectionStatus.EXHAUSTED
    assert outcome.contacts == {Channel.SMS: 1, Channel.PHONE: 1}
    assert any(m.to == phone for m in twilio_sim.messages)  # PII did reach the debtor
    yield Campaign(handle, NAME, email, phone, str(AMOUNT))


async def plain_client(client: Client) -> Client:
    """A client of the same server that has no codec (what someone without the keys has)."""
    return await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=pydantic_data_converter,
    )


def without_search_attributes(history: History) -> History:
    stripped = History()
    stripped.CopyFrom(history)
    for event in stripped.events:
        for kind in (
            "workflow_execution_started_event_attributes",
            "upsert_workflow_search_attributes_event_attributes",
        ):
            if event.HasField(kind):
                getattr(event, kind).ClearField("search_attributes")
    return stripped


def found(blob: bytes, secrets: dict[str, str]) -> list[str]:
    """Which of the secrets are readable in ``blob`` (case-insensitive)."""
    lowered = blob.lower()
    return [what for what, value in secrets.items() if value.lower().encode() in lowered]


async def test_a_history_read_without_the_codec_holds_no_pii(
    client: Client, campaign: Campaign
) -> None:
    plain = await plain_client(client)
    fetched = await plain.get_workflow_handle(campaign.handle.id).fetch_history()
    history = raw_history(fetched.events)
    as_proto, as_json = history.SerializeToString(), fetched.to_json().encode()
    for blob in (as_proto, as_json):
        assert found(blob, campaign.secrets) == []
    # Nor the amount due, search attributes included: they are never encrypted, so they
    # hold its band (RecoupBalanceBand), not the amount.
    amounts = {"amount": campaign.amount, "formatted amount": f"{AMOUNT:,.2f}"}
    for blob in (as_proto, as_json):
        assert found(blob, amounts) == []

    # Every payload the codec sees is encrypted under the active key (inputs, results,
    # signals, summaries, failure attributes...), and there are plenty of them.
    # (`workflow.patched` markers excepted: the SDK's core writes a patch id in plain
    # JSON there, which no codec sees and which names nobody.)
    unpatched = raw_history(
        e for e in history.events if e.marker_recorded_event_attributes.marker_name != "core_patch"
    )
    encrypted = list(payloads_in(unpatched, NOT_CODEC))
    assert len(encrypted) > 20
    assert {p.metadata["encoding"] for p in encrypted} == {ENCODING}
    assert {p.metadata[KEY_ID].decode() for p in encrypted} == {CODEC_KEY_ID}
    # ...and bound to the campaign's tenant (tests/integration/test_codec_tenants.py: what for).
    assert {bound_tenant(p) for p in encrypted} == {TENANT.tenant_id}
    # Search attributes stay readable (the UI filters on them) and hold no PII.
    stripped = without_search_attributes(history).SerializeToString()
    searchable = history.SerializeToString()
    assert len(searchable) > len(stripped) and found(searchable, campaign.secrets) == []

    # Without the keys the values stay unreadable through the SDK too.
    with pytest.raises(Exception, match="binary/encrypted"):
        await plain.get_workflow_handle(campaign.handle.id).result()

    # The control: decrypting the same history in place makes the same search find
    # every value (so the search above would have seen plaintext).
    codec = client.data_converter.payload_codec
    assert codec is not None
    decrypted = History()
    decrypted.CopyFrom(history)
    for event in decrypted.events:
        if event.marker_recorded_event_attributes.marker_name == "core_patch":
            continue
        for payload in payloads_in(event, NOT_CODEC):
            payload.CopyFrom((await codec.decode([payload]))[0])
    opened = without_search_attributes(decrypted).SerializeToString()
    everything = campaign.secrets | {"amount": campaign.amount}
    assert found(opened, everything) == ["name", "email", "phone", "amount"]

    # And the codec client reads the history as plain values.
    started = history.events[0].workflow_execution_started_event_attributes
    [inp] = await client.data_converter.decode(started.input.payloads, [AccountCampaignInput])
    assert inp.account.debtor_name == NAME and inp.account.amount_due == AMOUNT
    assert inp.account.emails[0].address == campaign.email
    assert (await campaign.handle.result()).balance == AMOUNT


async def test_failure_messages_are_encrypted_too(client: Client, campaign: Campaign) -> None:
    plain = await plain_client(client)
    fetched = await plain.get_workflow_handle(campaign.handle.id).fetch_history()
    failures = [
        e.activity_task_failed_event_attributes.failure
        for e in fetched.events
        if e.HasField("activity_task_failed_event_attributes")
    ]
    assert failures, "the refused address should have failed the email activity"
    for failure in failures:
        # The SMTP server's reply named the address; in the history it is ciphertext.
        assert failure.message == "Encoded failure"
        assert failure.stack_trace == ""
        assert failure.encoded_attributes.metadata["encoding"] == ENCODING
        assert found(failure.SerializeToString(), campaign.secrets) == []
        # What the workflow acts on (and operators filter by) stays visible: the type.
        assert failure.application_failure_info.type == "InvalidAddress"

    # With the codec the message is whole again, address included.
    error = await client.data_converter.decode_failure(failures[0])
    assert campaign.email in str(error) and "550" in str(error)


# --- keys and rotation ------------------------------------------------------------------


def file_settings(data_dir: Path) -> Settings:
    """Settings whose keys live in the key ring file (no RECOUP_CODEC_KEYS)."""
    return Settings(data_dir=data_dir, codec_keys={}, codec_key_id=None, codec_enabled=True)


async def one_payload(converter: DataConverter, value: object) -> Payload:
    [payload] = await converter.encode([value])
    return payload


def key_id_of(payload: Payload) -> str:
    return payload.metadata[KEY_ID].decode()


async def test_key_rotation_new_key_encrypts_old_keys_still_decrypt(tmp_path: Path) -> None:
    settings = file_settings(tmp_path / "state")
    path = keyring.ring_path(settings)
    first = data_converter(settings)  # first use creates the ring: one key, owner-only
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring_a = keyring.load(settings)
    assert list(ring_a.keys) == [ring_a.active]
    key_a = ring_a.active

    old = await one_payload(first, {"name": NAME, "amount": str(AMOUNT)})
    assert key_id_of(old) == key_a
    assert old.metadata["encoding"] == ENCODING
    assert NAME.encode() not in old.data and str(AMOUNT).encode() not in old.data
    # 12-byte nonce, then ciphertext and tag: the same value never encrypts the same.
    again = await one_payload(first, {"name": NAME, "amount": str(AMOUNT)})
    assert again.data[:12] != old.data[:12] and again.data != old.data

    ring_b, created = keyring.rotate_file(path)
    key_b = ring_b.active
    assert not created and key_b != key_a and list(ring_b.keys) == [key_a, key_b]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    rotated = data_converter(settings)
    new = await one_payload(rotated, {"name": NAME})
    assert key_id_of(new) == key_b
    assert await rotated.decode([old]) == [{"name": NAME, "amount": str(AMOUNT)}]
    # A process that loaded the ring before the rotation reads the new key's payloads
    # (it re-reads the file for a key id it has not seen) and, once it notices the
    # file changed, encrypts with the new key.
    assert await first.decode([new]) == [{"name": NAME}]
    watching = EncryptionCodec(KeyRingSource(settings, check_seconds=0))
    assert watching.active_key_id == key_b
    # Payloads written before the codec existed pass through decoding untouched.
    [plain] = pydantic_data_converter.payload_converter.to_payloads([{"name": NAME}])
    assert await rotated.decode([plain]) == [{"name": NAME}]

    # A ring that lost key A fails clearly, naming the key id it needs.
    secret_b = base64.b64encode(ring_b.keys[key_b].secret).decode()
    only_b = data_converter(
        Settings(data_dir=tmp_path / "other", codec_keys={key_b: SecretStr(secret_b)})
    )
    assert await only_b.decode([new]) == [{"name": NAME}]
    with pytest.raises(CodecKeyError, match=f"codec key id '{key_a}'.*does not hold"):
        await only_b.decode([old])
    # A key of the right id but other bytes (or an altered payload) fails authentication.
    impostor = base64.b64encode(os.urandom(32)).decode()
    wrong = data_converter(Settings(codec_keys={key_a: SecretStr(impostor)}))
    with pytest.raises(CodecKeyError, match="does not decrypt"):
        await wrong.decode([old])


def test_keys_from_the_environment_are_checked_and_never_echoed(tmp_path: Path) -> None:
    good = base64.b64encode(b"k" * 32).decode()
    short = base64.b64encode(b"short").decode()
    with pytest.raises(KeyRingError, match="set RECOUP_CODEC_KEY_ID"):
        keyring.load(Settings(codec_keys={"a": SecretStr(good), "b": SecretStr(good)}))
    with pytest.raises(KeyRingError, match="'c', which RECOUP_CODEC_KEYS does not hold"):
        keyring.load(Settings(codec_keys={"a": SecretStr(good)}, codec_key_id="c"))
    with pytest.raises(KeyRingError, match="codec key 'bad' is 5 bytes") as raised:
        keyring.load(Settings(codec_keys={"bad": SecretStr(short)}))
    assert short not in str(raised.value)
    ring = keyring.load(Settings(codec_keys={"a": SecretStr(good)}, data_dir=tmp_path))
    assert (ring.active, ring.source) == ("a", "environment")
    assert not keyring.ring_path(Settings(data_dir=tmp_path)).exists()  # no file made
    assert data_converter(Settings(codec_enabled=False)) is pydantic_data_converter


# --- the codec server -------------------------------------------------------------------


async def bearer(authorization: Annotated[str | None, Header()] = None) -> Tenant:
    """The tests' stand-in for the API's tenant authentication: one key, of TENANT.

    (tests/integration/test_codec_tenants.py runs the codec server behind the API's real keys.)
    """
    if authorization != f"Bearer {API_KEY}":
        raise HTTPException(401, "not authenticated", headers={"WWW-Authenticate": "Bearer"})
    return TENANT


def codec_server_settings(**fields: Any) -> Settings:
    return Settings(**codec_settings(), **fields)


def as_json(payloads: list[Payload]) -> dict[str, Any]:
    document: dict[str, Any] = json_format.MessageToDict(Payloads(payloads=payloads))
    return document


def from_json(document: dict[str, Any]) -> list[Payload]:
    return list(json_format.ParseDict(document, Payloads()).payloads)


async def test_codec_server_encodes_and_decodes_for_an_authenticated_caller() -> None:
    app = codec_app(codec_server_settings(), bearer)
    auth = {"Authorization": f"Bearer {API_KEY}", "X-Namespace": "default"}
    values = [{"name": NAME}, "a phone: +14155550199"]
    plain = pydantic_data_converter.payload_converter.to_payloads(values)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://codec.test"
    ) as http:
        for path in ("/codec/encode", "/codec/decode"):
            refused = await http.post(path, json=as_json(plain))
            assert refused.status_code == 401
            wrong = await http.post(
                path, json=as_json(plain), headers={"Authorization": "Bearer x"}
            )
            assert wrong.status_code == 401

        encoded = await http.post("/codec/encode", json=as_json(plain), headers=auth)
        assert encoded.status_code == 200, encoded.text
        sealed = from_json(encoded.json())
        assert [p.metadata["encoding"] for p in sealed] == [ENCODING, ENCODING]
        assert [key_id_of(p) for p in sealed] == [CODEC_KEY_ID, CODEC_KEY_ID]
        # What a caller encodes is for its own workflows: bound to its tenant.
        assert [bound_tenant(p) for p in sealed] == [TENANT.tenant_id, TENANT.tenant_id]
        assert (
            NAME not in encoded.text
            and base64.b64encode(NAME.encode()).decode() not in encoded.text
        )

        decoded = await http.post("/codec/decode", json=encoded.json(), headers=auth)
        assert decoded.status_code == 200, decoded.text
        assert from_json(decoded.json()) == list(plain)
        # What the worker's codec wrote for one of the tenant's workflows, the server
        # reads (the UI shows it decrypted).
        in_workflow = WorkflowSerializationContext(
            namespace="default", workflow_id=account_workflow_id(TENANT.tenant_id, "A-1")
        )
        by_worker = (
            await data_converter(codec_server_settings()).with_context(in_workflow).encode(values)
        )
        shown = await http.post("/codec/decode", json=as_json(by_worker), headers=auth)
        assert (
            pydantic_data_converter.payload_converter.from_payloads(from_json(shown.json()))
            == values
        )
        # Payloads it does not hold the key of: a clear 400 naming the key id.
        label = {TENANT_LABEL: TENANT.tenant_id.encode()}
        foreign = Payload(
            metadata={"encoding": ENCODING, KEY_ID: b"k-gone", **label}, data=b"x" * 40
        )
        unknown = await http.post("/codec/decode", json=as_json([foreign]), headers=auth)
        assert unknown.status_code == 400 and "k-gone" in unknown.json()["detail"]
        # Another namespace is not served; a body that is not Payloads is refused.
        other = await http.post(
            "/codec/decode", json=encoded.json(), headers={**auth, "X-Namespace": "other"}
        )
        assert other.status_code == 403
        junk = await http.post("/codec/decode", json={"payloads": "nope"}, headers=auth)
        assert junk.status_code in (400, 422)


async def test_codec_server_cors_allows_the_web_ui_only() -> None:
    app = codec_app(codec_server_settings(), bearer)
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://codec.test"
    ) as http:
        allowed = await http.options("/codec/decode", headers={**preflight, "Origin": UI_ORIGIN})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert "x-namespace" in allowed.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()

        foreign = await http.options(
            "/codec/decode", headers={**preflight, "Origin": "http://evil.example"}
        )
        assert foreign.status_code == 400
        assert "access-control-allow-origin" not in foreign.headers

        # The real request from the UI's origin gets the header its browser checks.
        answered = await http.post(
            "/codec/decode",
            json={"payloads": []},
            headers={"Origin": UI_ORIGIN, "Authorization": f"Bearer {API_KEY}"},
        )
        assert answered.status_code == 200
        assert answered.headers["access-control-allow-origin"] == UI_ORIGIN


@pytest_asyncio.fixture
async def codec_url() -> AsyncIterator[str]:
    """The codec app served over HTTP (uvicorn) on a free port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            codec_app(codec_server_settings(), bearer),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.025)
        assert server.started
        yield f"http://127.0.0.1:{port}/codec"
    finally:
        server.should_exit = True
        await task


async def temporal_show(client: Client, workflow_id: str, *extra: str) -> bytes:
    """``temporal workflow show -o json``; returns the data of every payload it printed."""
    process = await asyncio.create_subprocess_exec(
        str(temporal_binary()), "workflow", "show", "--workflow-id", workflow_id,
        "--address", client.service_client.config.target_host,
        "--namespace", client.namespace, "--output", "json", *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return b"\n".join(payload_data(json.loads(out)))


def payload_data(node: Any) -> Iterator[bytes]:
    """The (base64-decoded) data of every payload in protobuf JSON."""
    if isinstance(node, dict):
        if set(node) <= {"metadata", "data", "externalPayloads"} and "metadata" in node:
            yield base64.b64decode(node.get("data", ""))
            return
        for child in node.values():
            yield from payload_data(child)
    elif isinstance(node, list):
        for child in node:
            yield from payload_data(child)


async def test_the_temporal_cli_shows_decrypted_payloads_through_the_codec_server(
    client: Client, campaign: Campaign, codec_url: str
) -> None:
    sealed = await temporal_show(client, campaign.handle.id)
    assert len(sealed) > 1000 and found(sealed, campaign.secrets) == []
    shown = await temporal_show(
        client, campaign.handle.id, "--codec-endpoint", codec_url,
        "--codec-auth", f"Bearer {API_KEY}",
    )  # fmt: skip
    assert sorted(found(shown, campaign.secrets)) == ["email", "name", "phone"]


async def test_the_dev_servers_web_ui_is_pointed_at_the_codec_server(tmp_path: Path) -> None:
    endpoint = "http://127.0.0.1:8080/codec"  # f"{settings.api_url}/codec" in `recoup dev`
    args = dev_server_args(port=7233, ui_port=None, db_file=None, ui_codec_endpoint=endpoint)
    assert "--ui-codec-endpoint" not in args  # headless: no UI to tell
    ui_port = free_port()
    server = await start_dev_server(
        port=free_port(), ui_port=ui_port, db_file=None, log_file=tmp_path / "temporal.log",
        ui_codec_endpoint=endpoint,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{ui_port}/api/v1/settings")
    finally:
        await server.stop()
    assert answer.json()["Codec"]["Endpoint"] == endpoint


# --- recoup keys ------------------------------------------------------------------------


def keys_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env.update({"RECOUP_DATA_DIR": str(data_dir), "COLUMNS": "200", "NO_COLOR": "1", **extra})
    return env


async def test_recoup_keys_rotate_and_list_with_the_key_ring_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    env = keys_env(data_dir)
    path = keyring.ring_path(file_settings(data_dir))

    none_yet = await recoup("keys", "list", env=env)
    assert none_yet.code == 1 and "no codec key ring" in none_yet.err

    first = await recoup("keys", "rotate", env=env)
    assert first.code == 0, first.err
    assert "created the codec key ring" in first.out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key_a = keyring.load_file(path).active
    before = await one_payload(data_converter(file_settings(data_dir)), NAME)

    second = await recoup("keys", "rotate", env=env)
    assert second.code == 0, second.err
    ring = keyring.load_file(path)
    key_b = ring.active
    assert key_b != key_a and list(ring.keys) == [key_a, key_b]
    assert f"{key_b} now encrypts" in second.out and "1 older key(s)" in second.out

    listed, as_json = await asyncio.gather(
        recoup("keys", "list", env=env), recoup("keys", "list", "--json", env=env)
    )
    assert listed.code == 0, listed.err
    rows = {line.split("│")[1].strip(): line for line in listed.out.splitlines() if "│" in line}
    assert "yes" in rows[key_b] and "decrypts only" in rows[key_a]
    document = json.loads(as_json.out)
    assert document["active"] == key_b
    assert [(k["id"], k["active"]) for k in document["keys"]] == [(key_a, False), (key_b, True)]
    assert all(k["created_at"] for k in document["keys"])
    for key in ring.keys.values():  # never the secrets
        secret = base64.b64encode(key.secret).decode()
        assert secret not in listed.out + as_json.out + first.out + second.out

    # In-process converters follow the file: the new key encrypts, the old still decrypts.
    converter = data_converter(file_settings(data_dir))
    assert key_id_of(await one_payload(converter, NAME)) == key_b
    assert await converter.decode([before]) == [NAME]


async def test_recoup_keys_rotate_with_keys_in_the_environment_prints_what_to_set(
    tmp_path: Path,
) -> None:
    current = base64.b64encode(b"e" * 32).decode()
    env = keys_env(
        tmp_path,
        RECOUP_CODEC_KEYS=json.dumps({"ops-1": current}),
        RECOUP_CODEC_KEY_ID="ops-1",
    )
    # Nothing is written in this mode, so the commands may run side by side.
    rotated, told, listed = await asyncio.gather(
        recoup("keys", "rotate", "--json", env=env),
        recoup("keys", "rotate", env=env),
        recoup("keys", "list", env=env),
    )
    assert rotated.code == 0, rotated.err
    document = json.loads(rotated.out)
    new_id, new_key = document["key_id"], document["key"]
    assert document["source"] == "environment"
    assert document["env"]["RECOUP_CODEC_KEY_ID"] == new_id
    keys = json.loads(document["env"]["RECOUP_CODEC_KEYS"])
    assert keys == {"ops-1": "<unchanged>", new_id: new_key}  # old secrets are not echoed
    assert len(keyring.decode_secret(new_id, new_key)) == 32
    assert current not in rotated.out
    assert not keyring.ring_path(file_settings(tmp_path)).exists()  # nothing written

    assert told.code == 0 and "nothing was written" in told.out
    assert "RECOUP_CODEC_KEY_ID=" in told.out and "RECOUP_CODEC_KEYS=" in told.out

    assert listed.code == 0, listed.err
    assert "ops-1" in listed.out and "environment" in listed.out and current not in listed.out


def test_every_client_gets_the_codec_and_encoded_failures() -> None:
    # bootstrap.client.connect (every client and worker) builds its converter here.
    converter = data_converter(codec_server_settings())
    assert isinstance(converter.payload_codec, EncryptionCodec)
    # Encoded failures, but a payload a worker cannot decode fails by name
    # (bootstrap.undecodable, tests/integration/test_undecodable.py).
    assert issubclass(
        converter.failure_converter_class, DefaultFailureConverterWithEncodedAttributes
    )
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
