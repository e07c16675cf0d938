"""One trace from an HTTP request to the provider call, and the metrics campaigns leave.

Real services throughout: the dev server, the workers, the SMS/voice and SMTP
simulators, an HTTP API served by uvicorn on a real port. Spans are collected by an
in-memory exporter added to the process's tracer provider.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import yaml
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id
from prometheus_client import REGISTRY
from temporalio.client import Client
from temporalio.worker import Worker

from adapters.event_log import EventLog
from api.app import create_app
from api.telemetry import instrument_api
from bootstrap.client import connect
from bootstrap.metrics import serve_metrics
from bootstrap.settings import REPO_ROOT, Settings
from bootstrap.tracing import current_trace_id, tracer_provider, traces_url
from domain import names
from domain.campaign import AccountOutcome
from domain.channels import Channel
from domain.compliance.facts import LegalEvent, LegalEventKind
from domain.events import EventType
from domain.playbook import Playbook, Step, StepCondition
from service.campaigns import start_account_campaign
from simulators.http import EmbeddedServer
from simulators.twilio import TwilioSimulator
from simulators.zones import most_asleep
from tests.api_support import account_record, new_tenant
from tests.conftest import TENANT, make_account, serving

DAY = 0.25
SMS_NOW = Playbook(
    name="sms-now",
    steps=[
        Step(
            id="text",
            day=0,
            channel=Channel.SMS,
            template="reminder",
            requires=[StepCondition.SMS_CONSENT],
        )
    ],
    closing_days=0,
)
EMAIL_NOW = Playbook(
    name="email-now",
    steps=[Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice")],
    closing_days=0,
)

tracer = trace.get_tracer("tests.tracing")


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span this process finishes while the module runs."""
    exporter = InMemorySpanExporter()
    tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # the processor stays (providers cannot drop one); it exports nothing


@pytest_asyncio.fixture
async def traced(settings: Settings) -> AsyncIterator[Client]:
    """A client as every Recoup process connects (tracing interceptor), with every worker
    role on it, so the workers trace too."""
    client = await connect(settings)
    async with serving(client, settings):
        yield client


def ancestry(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    """``span`` and its parents, up to the first one not recorded in this process."""
    chain = [span]
    while chain[-1].parent is not None and chain[-1].parent.span_id in by_id:
        chain.append(by_id[chain[-1].parent.span_id])
    return chain


def sample(name: str, **labels: str) -> float:
    """The sum of ``name``'s samples that have ``labels`` (and any others)."""
    return sum(
        s.value
        for metric in REGISTRY.collect()
        for s in metric.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


async def eventually(check: Callable[[], bool], within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_one_trace_spans_request_workflow_activity_and_provider_call(
    traced: Client,
    settings: Settings,
    twilio_sim: TwilioSimulator,
    spans: InMemorySpanExporter,
    tmp_path: Path,
) -> None:
    # The real API, with a playbook of one SMS (a file in its playbook directory).
    books = tmp_path / "playbooks"
    books.mkdir()
    (books / "sms-now.yaml").write_text(yaml.safe_dump(SMS_NOW.model_dump(mode="json")))
    api_settings = settings.model_copy(update={"playbook_dir": books})
    _, key = new_tenant(api_settings)
    record = account_record()
    phone = record["phone"]
    app = create_app(api_settings, traced)
    await app.state.service.prepare()
    server = EmbeddedServer(app, name="Recoup API")
    await server.start()
    try:
        # The CRM's side of the request: its own span, sent along as traceparent.
        with tracer.start_as_current_span("crm: start campaign", kind=SpanKind.CLIENT) as crm:
            headers: dict[str, str] = {"Authorization": f"Bearer {key}"}
            inject(headers)
            body = {
                "campaign_id": "traced",
                "playbook": "sms-now",
                "account": record,
                "seconds_per_day": DAY,
            }
            async with httpx.AsyncClient(base_url=server.base_url) as http:
                response = await http.post("/v1/accounts", json=body, headers=headers)
        trace_id = format_trace_id(crm.get_span_context().trace_id)
        assert response.status_code == 202, response.text
        assert response.headers["X-Trace-ID"] == trace_id

        handle = traced.get_workflow_handle(
            response.json()["workflow_id"], result_type=AccountOutcome
        )
        outcome = await handle.result()
        assert outcome.contacts == {Channel.SMS: 1}
    finally:
        await server.stop()
        app.state.service.close()
    account_id = record["account_id"]

    # The provider call's span leads back, parent by parent, to the CRM's request.
    ours = [s for s in spans.get_finished_spans() if s.context.trace_id == int(trace_id, 16)]
    by_id = {s.context.span_id: s for s in ours}
    [provider] = [s for s in ours if s.name == "twilio POST"]
    assert provider.attributes is not None
    assert provider.attributes["recoup.call"] == "Messages.json"
    assert provider.attributes["http.response.status_code"] == 201
    # (FastAPI's own operation spans, ``fastapi.endpoint`` and the like, may sit between.)
    chain = [s.name for s in ancestry(provider, by_id) if not s.name.startswith("fastapi.")]
    assert chain == [
        "twilio POST",
        f"RunActivity:{names.SEND_SMS}",
        f"StartActivity:{names.SEND_SMS}",
        f"StartWorkflow:{names.ACCOUNT_CAMPAIGN}",
        "start account campaign",
        "POST /v1/accounts",
        "crm: start campaign",
    ]
    # One SERVER span for the request, whoever made it (FastAPI, or our middleware).
    http_spans = [s for s in ours if s.name == "POST /v1/accounts"]
    assert [s.kind for s in http_spans] == [SpanKind.SERVER]
    # The workflow's own span hangs off the start, beside the activities it schedules.
    [run] = [s for s in ours if s.name == f"RunWorkflow:{names.ACCOUNT_CAMPAIGN}"]
    assert [s.name for s in ancestry(run, by_id)][1] == f"StartWorkflow:{names.ACCOUNT_CAMPAIGN}"
    # No personal data on any span: not the number, not the message.
    for span in ours:
        assert phone not in str(dict(span.attributes or {}))

    # The provider received the provider span's context as W3C traceparent.
    [message] = [m for m in twilio_sim.messages if m.to == phone]
    assert message.traceparent is not None
    _version, sent_trace, parent, flags = message.traceparent.split("-")
    assert (sent_trace, parent) == (trace_id, format_span_id(provider.context.span_id))
    assert int(flags, 16) & 1  # sampled

    # Every event the campaign exported carries the same trace id (X-Trace-ID).
    log = EventLog(settings.sql_url)
    try:
        records = [
            row.export_record()
            for row in log.read_after(0, 1000, campaign_id="traced")
            if row.customer_id == account_id
        ]
    finally:
        log.dispose()
    assert EventType.CUSTOMER_INTERACTION in {r.type for r in records}
    assert {r.headers()["X-Trace-ID"] for r in records} == {trace_id}

    # The API timed the request under its route template.
    route = {"method": "POST", "route": "/v1/accounts", "status": "202"}
    assert sample("recoup_api_request_seconds_count", **route) >= 1


async def test_api_continues_a_trace_given_only_as_x_trace_id(spans: InMemorySpanExporter) -> None:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami() -> dict[str, str | None]:
        return {"trace_id": current_trace_id()}

    instrument_api(app)
    server = EmbeddedServer(app, name="test API")
    await server.start()
    given = uuid.uuid4().hex
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            seeded = await http.get("/whoami", headers={"X-Trace-ID": given})
            fresh = await http.get("/whoami")
            missing = await http.get("/nowhere")
            scraped = await http.get("/metrics")
    finally:
        await server.stop()
    assert seeded.json()["trace_id"] == given == seeded.headers["X-Trace-ID"]
    assert fresh.json()["trace_id"] not in (None, given)
    assert fresh.headers["X-Trace-ID"] == fresh.json()["trace_id"]
    continued = [s for s in spans.get_finished_spans() if s.context.trace_id == int(given, 16)]
    assert [s.name for s in continued if s.kind is SpanKind.SERVER] == ["GET /whoami"]
    # Unknown paths share one label instead of one series per path.
    assert sample(
        "recoup_api_request_seconds_count", method="GET", route="<unmatched>", status="404"
    )
    assert missing.status_code == 404
    assert 'recoup_api_request_seconds_count{method="GET",route="/whoami",status="200"}' in (
        scraped.text
    )


async def test_campaigns_count_contacts_and_denials_and_the_worker_serves_them(
    client: Client, settings: Settings, running: list[Worker]
) -> None:
    sent_before = sample("recoup_contacts_total", channel="email", outcome="sent")
    quiet_before = sample("recoup_compliance_denials_total", reason="quiet_hours", stage="plan")

    # A contact that goes out: counted once, by channel and outcome.
    awake = await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="metrics", playbook=EMAIL_NOW,
        account=make_account(phones=[]), seconds_per_day=DAY,
    )  # fmt: skip
    assert (await awake.result()).contacts == {Channel.EMAIL: 1}
    assert sample("recoup_contacts_total", channel="email", outcome="sent") == sent_before + 1

    # A debtor asleep: the gate refuses (quiet hours) and the campaign waits; a cease ends it.
    asleep = await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id="metrics", playbook=EMAIL_NOW,
        account=make_account(phones=[], timezones=[most_asleep(datetime.now(UTC))]),
        seconds_per_day=DAY,
    )  # fmt: skip
    await eventually(
        lambda: (
            sample("recoup_compliance_denials_total", reason="quiet_hours", stage="plan")
            > quiet_before
        )
    )
    await asleep.signal(names.SIGNAL_LEGAL, LegalEvent(kind=LegalEventKind.CEASE))
    assert (await asleep.result()).contacts == {}

    # The exporter caught up with the event log.
    await eventually(lambda: sample("recoup_export_lag_records", sink="sql") == 0)

    # The worker's endpoint serves the registry (here without a Temporal runtime).
    server = serve_metrics("127.0.0.1:0")
    try:
        port = server.server_address[1]
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        await asyncio.to_thread(server.shutdown)
        server.server_close()
    assert 'recoup_contacts_total{channel="email",outcome="sent"}' in text
    assert 'recoup_compliance_denials_total{reason="quiet_hours",stage="plan"}' in text
    # Served with a value: 0 a moment ago (above), but a later event may be in flight.
    assert re.search(r'^recoup_export_lag_records\{sink="sql"\} \d', text, re.MULTILINE)


COLLECTOR_CLIENT = """
import sys

from opentelemetry import trace

from bootstrap.settings import Settings
from bootstrap.tracing import current_trace_id, setup_tracing, tracer_provider

settings = Settings(otlp_endpoint=sys.argv[1], service_name="recoup-otlp-test")
setup_tracing(settings)
setup_tracing(settings)  # idempotent: still one exporter
with trace.get_tracer("tests").start_as_current_span("hello collector"):
    print(current_trace_id())
tracer_provider().shutdown()  # flushes the batch
"""


async def test_spans_go_to_the_configured_otlp_collector(tmp_path: Path) -> None:
    """A process with RECOUP_OTLP_ENDPOINT exports its spans over OTLP/HTTP (its own
    process: a tracer provider is set once per process)."""
    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            COLLECTOR_CLIENT,
            f"http://127.0.0.1:{collector.server_address[1]}",
            cwd=tmp_path,  # no .env from the repository
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
    finally:
        await asyncio.to_thread(collector.shutdown)
        collector.server_close()
    assert process.returncode == 0, err.decode()
    [(path, body)] = received
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert attributes["service.name"] == "recoup-otlp-test"
    [span] = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert span.name == "hello collector"
    assert span.trace_id.hex() == out.decode().strip()


def test_otlp_endpoint_is_the_collectors_traces_url() -> None:
    assert traces_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert traces_url("http://collector:4318/v1/traces/") == "http://collector:4318/v1/traces"
