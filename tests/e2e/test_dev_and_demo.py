"""``recoup dev`` and ``recoup demo`` as a user runs them, in their own processes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus

from adapters.mail_events import MailRecord
from bootstrap import announcement
from bootstrap.codec import data_converter
from bootstrap.devserver import free_port
from bootstrap.settings import Settings
from tests.cli_support import HEADER, ROOT, Result, recoup
from tests.conftest import DAYTIME_ZONE

ACCOUNTS = [
    f"dev-1,Hana Ito,hana@example.com,(415) 555-0111,300.00,USD,2026-03-01,"
    f"{DAYTIME_ZONE},CA,en,yes,yes",
    f"dev-2,Ivo Ruiz,ivo@example.com,,120.00,USD,2026-02-01,{DAYTIME_ZONE},TX,es,no,no",
    f"dev-3,Jo Kim,jo@example.com,,75.25,USD,2026-01-01,{DAYTIME_ZONE},NY,en,no,no",
]


class DevProcess:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port, self.ui_port = free_port(), free_port()
        self.smtp_port, self.sms_port = free_port(), free_port()
        self.mail_api_port = free_port()
        self.payments_port, self.ledger_port = free_port(), free_port()
        self.api_port, self.grpc_port = free_port(), free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
        env.update(
            RECOUP_TEMPORAL_ADDRESS=f"127.0.0.1:{self.port}",
            RECOUP_TEMPORAL_UI_PORT=str(self.ui_port),
            RECOUP_DATA_DIR=str(self.data_dir),
            # Breakers shared with the CLI through the machine's Redis, apart from others'.
            RECOUP_REDIS_URL="redis://127.0.0.1:6379/0",
            RECOUP_REDIS_PREFIX=f"recoup-dev-test-{self.port}:",
            COLUMNS="200",
            NO_COLOR="1",
        )
        return env

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "dev",
            "--port", str(self.port), "--ui-port", str(self.ui_port),
            "--data-dir", str(self.data_dir),
            "--smtp-port", str(self.smtp_port), "--sms-port", str(self.sms_port),
            "--mail-api-port", str(self.mail_api_port),
            "--payments-port", str(self.payments_port), "--ledger-port", str(self.ledger_port),
            "--api-port", str(self.api_port), "--grpc-port", str(self.grpc_port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL, env=self.env, cwd=ROOT,
        )  # fmt: skip
        assert self.process.stdout is not None
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), 90)
            if not line:
                raise AssertionError("recoup dev exited early:\n" + "".join(self.output))
            self.output.append(line.decode())
            if "Ctrl-C stops everything" in self.output[-1]:
                return

    async def mail_accepted(self, recipient: str) -> list[MailRecord]:
        """What the SMTP simulator's events API lists for ``recipient``, read as any
        process with the URL `recoup dev` printed (and the default key) reads it."""
        settings = Settings(
            mail_events_url=f"http://127.0.0.1:{self.mail_api_port}",
            mail_events_key=Settings.model_fields["mail_events_key"].default,
            mail_domain=Settings.model_fields["mail_domain"].default,
        )
        events = settings.mail_events()
        assert events is not None
        async with events:
            return await events.accepted(recipient=recipient)

    @property
    def ports(self) -> dict[str, int]:
        """Every port ``recoup dev`` binds, by what listens there."""
        return {
            "Temporal gRPC": self.port,
            "Temporal web UI": self.ui_port,
            "SMTP simulator": self.smtp_port,
            "SMS/voice simulator": self.sms_port,
            "payments simulator": self.payments_port,
            "CRM/ledger simulator": self.ledger_port,
            "HTTP API": self.api_port,
            "gRPC API": self.grpc_port,
            "mail events API": self.mail_api_port,
        }

    def same_ports_as(self, other: DevProcess) -> None:
        for name in ("port", "ui_port", "smtp_port", "sms_port", "payments_port", "ledger_port",
                     "api_port", "grpc_port", "mail_api_port"):  # fmt: skip
            setattr(self, name, getattr(other, name))

    async def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        await asyncio.wait_for(self.process.communicate(), 60)
        assert self.process.returncode is not None
        return self.process.returncode


async def test_dev_shows_launched_campaigns_and_a_second_run_continues(tmp_path: Path) -> None:
    dev = DevProcess(tmp_path / "state")
    await dev.start()
    try:
        printed = "".join(dev.output)
        assert f"http://127.0.0.1:{dev.ui_port}/namespaces/default/workflows" in printed
        async with httpx.AsyncClient() as http:
            ui = await http.get(f"http://127.0.0.1:{dev.ui_port}/")
        assert ui.status_code == 200

        csv = tmp_path / "three.csv"
        csv.write_text("\n".join([HEADER, *ACCOUNTS]) + "\n")
        launched = await recoup(
            "campaign", "launch", str(csv), "--playbook", "standard",
            "--campaign-id", "devtest", "--day-seconds", "60", env=dev.env,
        )  # fmt: skip
        assert launched.code == 0, launched.err

        # Payloads are encrypted with the key ring `recoup dev` made in its data dir.
        codec = data_converter(Settings(data_dir=dev.data_dir))
        client = await Client.connect(f"127.0.0.1:{dev.port}", data_converter=codec)
        ids: set[str] = set()
        for _ in range(100):
            ids = {w.id async for w in client.list_workflows("RecoupCampaign = 'devtest'")}
            if len(ids) == 4:
                break
            await asyncio.sleep(0.2)
        assert ids == {
            "portfolio/default/devtest",
            "account/default/dev-1",
            "account/default/dev-2",
            "account/default/dev-3",
        }
        account = client.get_workflow_handle("account/default/dev-1")
        details = ""
        for _ in range(100):  # the first email goes out, then it waits for day 3
            metadata = await account.query(
                "__temporal_workflow_metadata", result_type=WorkflowMetadata
            )
            details = metadata.current_details
            if "next: step 2/4" in details:
                break
            await asyncio.sleep(0.1)
        assert "next: step 2/4 (sms-reminder)" in details
        # The mail provider's records list that first email, with Recoup's Message-ID.
        assert f"http://127.0.0.1:{dev.mail_api_port}/v3/recoup.example/events" in printed
        accepted = await dev.mail_accepted("hana@example.com")
        assert accepted, "the first email is not in the provider's records"
        # One message (a retried send would be listed again with the same Message-ID).
        assert {r.message_id for r in accepted} == {accepted[0].message_id}
        assert re.fullmatch(r"<[0-9a-f]{32}@recoup>", accepted[0].message_id)
        summary = await (await account.describe()).static_summary()
        assert summary is not None and "devtest" in summary and "dev-1" in summary
        assert "Hana" not in summary and "hana@" not in summary  # no PII in what the UI lists

        # The web UI reads payloads through the API's codec server, which `recoup dev`
        # gave it: the history holds ciphertext, the codec endpoint gives it back.
        async with httpx.AsyncClient() as http:
            health = await http.get(f"http://127.0.0.1:{dev.api_port}/v1/health")
            ui_settings = await http.get(f"http://127.0.0.1:{dev.ui_port}/api/v1/settings")
            endpoint = ui_settings.json()["Codec"]["Endpoint"]
            assert endpoint.startswith(f"http://127.0.0.1:{dev.api_port}/codec/key/rk_")
            raw = Client(client.service_client, namespace="default")  # no codec
            history = await raw.get_workflow_handle("account/default/dev-1").fetch_history()
            started = history.events[0].workflow_execution_started_event_attributes
            payload = MessageToDict(started.input.payloads[0])
            assert "Hana" not in json.dumps(payload)
            # Bound to the dev tenant, whose key the UI's endpoint carries.
            assert base64.b64decode(payload["metadata"]["recoup-tenant"]) == b"default"
            decoded = await http.post(
                f"{endpoint}/decode",
                json={"payloads": [payload]},
                headers={"Origin": f"http://127.0.0.1:{dev.ui_port}", "X-Namespace": "default"},
            )
        assert health.json()["status"] == "ok"
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-origin"] == f"http://127.0.0.1:{dev.ui_port}"
        plain = base64.b64decode(decoded.json()["payloads"][0]["data"]).decode()
        assert "Hana Ito" in plain and "hana@example.com" in plain

        # the operator's resilience views answer against the running stack
        breakers = await recoup("breakers", env=dev.env)
        assert breakers.code == 0, breakers.err
        assert all(name in breakers.out for name in ("email", "sms", "phone", "payments"))
        assert "closed" in breakers.out and "open " not in breakers.out
        dead = await recoup("dlq", "list", env=dev.env)
        assert dead.code == 0 and "0 dead letter(s)" in dead.out, dead.err

        # It announced its state: from another directory, told neither the data
        # directory, Temporal nor Redis, commands find the same stack.
        assert "Breakers   shared in Redis at redis://127.0.0.1:6379/0" in printed
        told = announcement.read()
        assert told is not None and dev.process is not None and told.pid == dev.process.pid
        assert told.data_dir == str(dev.data_dir.absolute())
        unset = ("RECOUP_DATA_DIR", "RECOUP_TEMPORAL_ADDRESS", "RECOUP_TEMPORAL_UI_PORT",
                 "RECOUP_REDIS_URL", "RECOUP_REDIS_PREFIX")  # fmt: skip
        elsewhere = {k: v for k, v in dev.env.items() if k not in unset}
        where = await recoup("where", "--json", env=elsewhere, cwd=tmp_path)
        assert where.code == 0, where.err
        found = json.loads(where.out)
        assert found["data_dir"] == told.data_dir
        assert found["temporal"]["address"] == f"127.0.0.1:{dev.port}"
        assert found["codec"]["key_ids"] == told.codec_key_ids != []
        assert found["breakers"]["url"] == "redis://127.0.0.1:6379/0"
        shared = await recoup("breakers", "--json", env=elsewhere, cwd=tmp_path)
        assert shared.code == 0, shared.err
        assert {b["name"] for b in json.loads(shared.out)} >= {"email", "sms", "phone"}
    finally:
        assert await dev.stop() == 0
    assert announcement.read() is None  # taken back when it stopped

    again = DevProcess(tmp_path / "state")
    again.port, again.ui_port = dev.port, dev.ui_port
    await again.start()
    try:
        client = await Client.connect(f"127.0.0.1:{again.port}", data_converter=codec)
        description = await client.get_workflow_handle("account/default/dev-2").describe()
        assert description.status is WorkflowExecutionStatus.RUNNING  # picked up again
        # The provider's records outlive the restart, like a real provider's.
        relisted = await again.mail_accepted("hana@example.com")
        assert relisted[: len(accepted)] == accepted
    finally:
        assert await again.stop() == 0


def server_closes_first(port: int) -> None:
    """Have the server on ``port`` close a connection before the client does.

    The side that closes first keeps the connection in TIME_WAIT for a minute, so this
    leaves one on the server's own port, as served mail (SMTP's QUIT) and Ctrl-C with
    connections open do. 24 bytes: an HTTP server answers 400 and closes, SMTP says
    221 and closes, and an HTTP/2 (gRPC) server reads exactly its preface's length,
    finds it wrong and closes cleanly (bytes left unread would make it reset instead,
    which leaves no TIME_WAIT).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"QUIT\r\n\r\n" * 3)
        while sock.recv(4096):
            pass


def time_waits_on(port: int) -> int:
    """Connections in TIME_WAIT whose local port is ``port`` (Linux's socket tables)."""
    found = 0
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            found += local_port == port and fields[3] == "06"  # 06: TIME_WAIT
    return found


async def test_dev_restarts_at_once_on_the_same_ports(tmp_path: Path) -> None:
    dev = DevProcess(tmp_path / "state")
    await dev.start()
    try:
        for port in dev.ports.values():
            await asyncio.to_thread(server_closes_first, port)
    finally:
        assert await dev.stop() == 0
    # Every port is held by a TIME_WAIT of the server's side, as after a day's use.
    assert {name: time_waits_on(port) > 0 for name, port in dev.ports.items()} == {
        name: True for name in dev.ports
    }

    again = DevProcess(tmp_path / "state")
    again.same_ports_as(dev)
    started = time.monotonic()
    await again.start()  # not "port ... is in use" for the next minute
    try:
        assert time.monotonic() - started < 45
        async with httpx.AsyncClient() as http:
            health = await http.get(f"http://127.0.0.1:{again.api_port}/v1/health")
            ui = await http.get(f"http://127.0.0.1:{again.ui_port}/")
        assert health.status_code == 200 and ui.status_code == 200
    finally:
        assert await again.stop() == 0


async def test_dev_still_refuses_a_port_that_is_in_use(tmp_path: Path) -> None:
    dev = DevProcess(tmp_path / "state")
    taken = rf"port {dev.smtp_port} \(SMTP simulator\) is in use"
    # Someone else listens there.
    with (
        socket.create_server(("127.0.0.1", dev.smtp_port)),
        pytest.raises(AssertionError, match=taken),
    ):
        await dev.start()
    assert dev.process is not None and await dev.process.wait() == 1


async def demo_kept_up(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    """``recoup demo --keep``, read until it says it stays up: the process and its output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "demo", "--accounts", "40", "--day-seconds", "0.5",
        "--keep",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL, env=env, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 240
    while not output or "Ctrl-C to stop" not in output[-1]:
        line = await asyncio.wait_for(process.stdout.readline(), deadline - time.monotonic())
        if not line:
            await process.wait()
            raise AssertionError(f"recoup demo exited {process.returncode}:\n" + "".join(output))
        output.append(line.decode())
    return process, "".join(output)


async def console_figures(url: str, key: str, campaign_id: str) -> dict[str, str]:
    """Sign in to the console as a browser would; the campaign page's figures."""
    async with httpx.AsyncClient(base_url=url.removesuffix("/console")) as http:
        form = await http.get("/console/login")
        nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
        assert nonce is not None, form.text
        await http.post("/console/login", data={"api_key": key, "nonce": nonce.group(1)})
        page = await http.get(f"/console/campaigns/{campaign_id}")
        assert page.status_code == 200, page.text[:1000]
    return dict(re.findall(r'data-figure="([^"]+)" data-value="([^"]*)"', page.text))


async def test_demo_finishes_with_its_summary_and_its_console_agrees(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_")}
    env.update(COLUMNS="200", NO_COLOR="1")
    process, out = await demo_kept_up(env)
    try:
        # The console is up for the run, with a key to sign in with.
        console_line = re.search(
            r"console: (http://127\.0\.0\.1:\d+/console) \(API key (\S+),", out
        )
        assert console_line, out
        figures = await console_figures(console_line.group(1), console_line.group(2), "demo-7")
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 60)
    result = Result(code, out, "")
    # On a difference, the reconciliation's table is at the end of the output.
    assert result.code == 0, result.err[-2000:] + result.out[-3000:]
    assert "reconciled: 0 differences\nweb UI still up at" in result.out
    for label in ("paid in full", "playbook done, balance left", "amount collected",
                  "email contacts attempted", "finished in"):  # fmt: skip
        assert label in result.out
    # The summary and the report that follows it are the same figures (docs/metrics.md),
    # and every contact attempted is one the simulated provider received.
    summary_promises = re.search(r"promises to pay\s*│\s*(\d+) made, (\d+) kept", result.out)
    report_promises = re.search(r"promises\s*│\s*(\d+) made, (\d+) kept, \d+ broken", result.out)
    assert summary_promises and report_promises
    assert summary_promises.groups() == report_promises.groups()
    summary_collected = re.search(r"amount collected\s*│\s*([\d,.]+ USD)", result.out)
    report_collected = re.search(r"collected\s*│\s*([\d,.]+ USD) in \d+ payment", result.out)
    assert summary_collected and report_collected
    assert summary_collected.group(1) == report_collected.group(1)
    attempted = dict(
        (channel, (int(ours), int(theirs)))
        for channel, ours, theirs in re.findall(
            r"(\w+) contacts attempted\s*│\s*(\d+) \(provider received (\d+)\)", result.out
        )
    )
    assert set(attempted) == {"email", "sms", "phone", "letter"}
    assert {c: ours for c, (ours, _) in attempted.items()} == {
        c: theirs for c, (_, theirs) in attempted.items()
    }
    report_attempts = dict(
        (channel, int(n)) for channel, n in re.findall(r"│ (\w+)\s*│ (\d+)\s*│ \d+\s*│", result.out)
    )
    for channel, (ours, _) in attempted.items():
        assert report_attempts.get(channel, 0) == ours, (channel, report_attempts)
    # The console shows the demo's campaign with the summary's figures.
    assert figures["progress.promised"] == summary_promises.group(1)
    assert figures["progress.promises_kept"] == summary_promises.group(2)
    assert f"{Decimal(figures['progress.collected.USD']):,.2f} USD" == summary_collected.group(1)
    shown = {c: int(figures.get(f"progress.contacts.{c}", "0")) for c in attempted}
    assert shown == {c: ours for c, (ours, _) in attempted.items()}
    finished = re.search(r"│ accounts\s*│\s*(\d+) \((\d+) finished\)", result.out)
    assert (
        finished and (figures["progress.total"], figures["progress.finished"]) == finished.groups()
    )
