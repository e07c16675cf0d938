"""The HTTP API end to end: real dev server, real workers, real SQL, over ASGI."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI
from google.protobuf.json_format import MessageToDict
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from adapters.event_log import MAX_POSITION
from api.app import create_app
from bootstrap.settings import Settings
from domain.arrangements import ArrangementStatus
from domain.operator import ApprovalStatus
from service import models as m
from service.campaigns import arrange
from tests.api_support import account_record, auth, eventually, new_tenant
from tests.arrangement_support import settlement

PROBLEM = "application/problem+json"


@dataclass
class Api:
    app: FastAPI
    http: httpx.AsyncClient

    async def get(self, path: str, token: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, headers=auth(token), **kwargs)

    async def post(self, path: str, token: str, body: Any = None, **kw: Any) -> httpx.Response:
        headers = {**auth(token), **kw.pop("headers", {})}
        return await self.http.post(path, json=body or {}, headers=headers, **kw)


@pytest_asyncio.fixture
async def api(client: Client, settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings, client)
    await app.state.service.prepare()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://recoup.test") as http:
        yield Api(app, http)
    app.state.service.close()


def is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"]
    return body


async def start_account(
    api: Api, token: str, seconds_per_day: float = 600, **record: Any
) -> dict[str, Any]:
    body = {
        "campaign_id": f"c-{record.get('account_id', 'x')}",
        "playbook": "demo",
        "account": account_record(**record),
        "seconds_per_day": seconds_per_day,
    }
    response = await api.post("/v1/accounts", token, body)
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    return started


async def snapshot(api: Api, token: str, account_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/accounts/{account_id}", token)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def until_paused(api: Api, token: str, account_id: str, *, paused: bool) -> None:
    await eventually(
        lambda: snapshot(api, token, account_id), lambda s: (s["paused"] is not None) is paused
    )


# --- starting and steering an account ------------------------------------------


async def test_a_crm_starts_an_account_reads_it_and_a_payment_ends_it(
    api: Api, client: Client, settings: Settings, running: object
) -> None:
    _, token = new_tenant(settings)
    started = await start_account(api, token)
    account_id = started["account_id"]
    assert started["workflow_id"].endswith(f"/{account_id}")

    again = await start_account(api, token, account_id=account_id)
    assert (again["workflow_id"], again["run_id"]) == (started["workflow_id"], started["run_id"])

    first = await eventually(
        lambda: snapshot(api, token, account_id), lambda s: len(s["attempts"]) >= 1
    )
    assert first["status"] in {"active", "scheduled"}

    paid = await api.post(
        f"/v1/accounts/{account_id}/payments",
        token,
        {"payment_id": f"pay-{account_id}", "amount": "250.00", "currency": "USD"},
    )
    assert paid.status_code == 202, paid.text
    done = await eventually(
        lambda: snapshot(api, token, account_id), lambda s: s["status"] == "paid"
    )
    assert done["amount_paid"] == "250.00"

    async def history() -> dict[str, Any]:
        response = await api.get(f"/v1/accounts/{account_id}/history", token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    events = await eventually(
        history, lambda h: any(e["type"] == "PaymentEvent" for e in h["events"])
    )
    positions = [e["position"] for e in events["events"]]
    assert positions == sorted(positions) and events["next_after"] == positions[-1]

    # Signals to a finished campaign are a conflict, not a silent success. (Paid shows in
    # the query a moment before the workflow closes: wait for the close.)
    await client.get_workflow_handle(started["workflow_id"]).result()
    late = await api.post(f"/v1/accounts/{account_id}/pause", token, {})
    is_problem(late, 409)


async def test_an_invalid_account_names_its_field_and_an_unknown_one_is_404(
    api: Api, settings: Settings
) -> None:
    _, token = new_tenant(settings)
    body = {
        "campaign_id": "c-bad",
        "playbook": "demo",
        "account": account_record(amount_due="-5", email="not-an-email"),
    }
    problem = is_problem(await api.post("/v1/accounts", token, body), 422)
    fields = {p["name"] for p in problem["invalid_params"]}
    assert {"account.amount_due", "account.email"} <= fields
    assert problem["field"] in fields

    unknown_playbook = {**body, "account": account_record(), "playbook": "no-such-book"}
    assert is_problem(await api.post("/v1/accounts", token, unknown_playbook), 422)["field"] == (
        "playbook"
    )
    schema_error = is_problem(
        await api.post("/v1/accounts/A-1/payments", token, {"payment_id": "p", "amount": "x"}),
        422,
    )
    assert {p["name"] for p in schema_error["invalid_params"]} >= {"amount", "currency"}
    missing = is_problem(await api.get("/v1/accounts/A-nobody", token), 404)
    assert missing["field"] == "account_id"


async def test_a_portfolio_start_is_idempotent_and_keeps_the_good_rows(
    api: Api, settings: Settings, running: object
) -> None:
    _, token = new_tenant(settings)
    good = [account_record(), account_record()]
    bad = account_record(email="", phone="")
    body = {"playbook": "demo", "accounts": [good[0], bad, good[1]], "seconds_per_day": 600}
    key = {"Idempotency-Key": f"crm-{good[0]['account_id']}"}

    first = await api.post("/v1/campaigns", token, body, headers=key)
    assert first.status_code == 202, first.text
    started = m.CampaignStarted.model_validate(first.json())
    assert started.accepted == 2
    assert [(p.location, p.field) for p in started.rejected] == [("accounts[1]", "email")]

    retried = m.CampaignStarted.model_validate(
        (await api.post("/v1/campaigns", token, body, headers=key)).json()
    )
    assert (retried.campaign_id, retried.workflow_id, retried.run_id) == (
        started.campaign_id,
        started.workflow_id,
        started.run_id,
    )
    other = {**body, "accounts": [account_record()]}
    reused = is_problem(await api.post("/v1/campaigns", token, other, headers=key), 409)
    assert reused["field"] == "Idempotency-Key"
    assert [p["name"] for p in reused["invalid_params"]] == ["Idempotency-Key", "accounts"]
    assert "(3 records then, 1 now)" in reused["invalid_params"][1]["reason"]

    view = await api.get(f"/v1/campaigns/{started.campaign_id}", token)
    assert view.status_code == 200, view.text
    assert view.json()["progress"]["total"] == 2

    nothing_valid = {"playbook": "demo", "accounts": [bad]}
    problem = is_problem(await api.post("/v1/campaigns", token, nothing_valid), 422)
    assert problem["invalid_params"][0]["name"] == "accounts[0].email"


# --- pausing ----------------------------------------------------------------------


async def test_pausing_an_account_holds_its_outreach_until_resumed(
    api: Api, settings: Settings, running: object
) -> None:
    _, token = new_tenant(settings)
    # Playbook days of one second: without the pause, steps fall due every few seconds.
    started = await start_account(api, token, seconds_per_day=1)
    account_id = started["account_id"]
    await eventually(lambda: snapshot(api, token, account_id), lambda s: len(s["attempts"]) >= 1)
    pause = {"reason": "customer on the phone with us", "operator": "sam"}
    assert (await api.post(f"/v1/accounts/{account_id}/pause", token, pause)).status_code == 202

    held = await eventually(
        lambda: snapshot(api, token, account_id),
        lambda s: (s["next_action"] or "").startswith("paused"),
    )
    assert held["paused"]["operator"] == "sam"
    attempts = len(held["attempts"])
    # Four playbook days pass while paused: no step may be taken.
    await asyncio.sleep(4)
    assert len((await snapshot(api, token, account_id))["attempts"]) == attempts

    resumed = await api.post(f"/v1/accounts/{account_id}/resume", token, {"operator": "sam"})
    assert resumed.status_code == 202
    after = await eventually(
        lambda: snapshot(api, token, account_id), lambda s: len(s["attempts"]) > attempts
    )
    assert after["paused"] is None


async def test_pausing_a_campaign_reaches_every_running_account(
    api: Api, settings: Settings, running: object
) -> None:
    _, token = new_tenant(settings)
    records = [account_record(), account_record()]
    body = {"playbook": "demo", "accounts": records, "seconds_per_day": 600}
    started = m.CampaignStarted.model_validate(
        (await api.post("/v1/campaigns", token, body)).json()
    )

    async def progress() -> dict[str, Any]:
        return dict((await api.get(f"/v1/campaigns/{started.campaign_id}", token)).json())

    await eventually(progress, lambda v: v["progress"]["started"] == 2)
    paused = await api.post(f"/v1/campaigns/{started.campaign_id}/pause", token, {})
    assert paused.status_code == 202, paused.text
    for record in records:
        await until_paused(api, token, record["account_id"], paused=True)
    assert (await progress())["progress"]["paused"] is not None

    await api.post(f"/v1/campaigns/{started.campaign_id}/resume", token, {})
    for record in records:
        await until_paused(api, token, record["account_id"], paused=False)


# --- approvals --------------------------------------------------------------------


async def test_a_deep_settlement_waits_for_a_person_who_approves_it(
    api: Api, client: Client, settings: Settings, running: object
) -> None:
    tenant, token = new_tenant(settings)
    _, other_token = new_tenant(settings)
    started = await start_account(api, token)
    account_id = started["account_id"]
    await eventually(lambda: snapshot(api, token, account_id), lambda s: len(s["attempts"]) >= 1)

    # 100 of 250 forgives 60%: above the default 50% agents may agree alone.
    deal = await arrange(client, tenant.tenant_id, account_id, settlement("deep", "100.00"))
    assert deal.status is ArrangementStatus.AWAITING_APPROVAL

    async def pending(key: str) -> list[dict[str, Any]]:
        response = await api.get("/v1/approvals", key)
        assert response.status_code == 200, response.text
        return list(response.json()["approvals"])

    listed = await eventually(lambda: pending(token), lambda a: len(a) == 1)
    approval = listed[0]
    assert (approval["account_id"], approval["approval"]["kind"]) == (account_id, "settlement")
    assert "60%" in approval["approval"]["summary"]
    assert await pending(other_token) == []

    approval_id = approval["approval"]["approval_id"]
    decision = {"approve": True, "operator": "lee", "note": "hardship documented"}
    decided = await api.post(f"/v1/accounts/{account_id}/approvals/{approval_id}", token, decision)
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == ApprovalStatus.APPROVED.value
    again = await api.post(
        f"/v1/accounts/{account_id}/approvals/{approval_id}", token, {"approve": False}
    )
    assert again.json()["status"] == "approved"  # decided once; a retry changes nothing

    booked = await eventually(
        lambda: snapshot(api, token, account_id),
        lambda s: s["arrangement"]["status"] not in {"awaiting_approval", "setting_up"},
    )
    assert booked["arrangement"]["status"] == "active"
    await eventually(lambda: pending(token), lambda a: a == [])
    unknown = await api.post(f"/v1/accounts/{account_id}/approvals/nope", token, decision)
    assert is_problem(unknown, 404)["field"] == "approval_id"


# --- keys, tenants, limits ------------------------------------------------------


async def test_requests_without_a_valid_key_are_401_problems(api: Api, settings: Settings) -> None:
    tenant, token = new_tenant(settings)
    missing = await api.http.get("/v1/approvals")
    assert is_problem(missing, 401)["field"] == "Authorization"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    is_problem(await api.get("/v1/approvals", "rk_nope_nope"), 401)
    is_problem(await api.get("/v1/approvals", "garbage"), 401)
    ok = await api.http.get("/v1/approvals", headers={"X-API-Key": token})
    assert ok.status_code == 200

    store = api.app.state.service.tenants
    key_id = token.split("_")[1]
    store.revoke(key_id)
    is_problem(await api.get("/v1/approvals", token), 401)
    assert [k.key_id for k in store.keys(tenant.tenant_id) if not k.active] == [key_id]


async def test_a_tenant_over_its_rate_gets_429_with_retry_after(
    client: Client, settings: Settings
) -> None:
    limited = settings.model_copy(update={"api_burst": 3, "api_rate_per_second": 0.05})
    app = create_app(limited, client)
    await app.state.service.prepare()
    _, token = new_tenant(settings)
    _, other = new_tenant(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://recoup.test") as http:
        codes = [
            (await http.get("/v1/approvals", headers=auth(token))).status_code for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        over = await http.get("/v1/approvals", headers=auth(token))
        assert is_problem(over, 429) and int(over.headers["retry-after"]) >= 1
        # Another tenant has its own bucket.
        assert (await http.get("/v1/approvals", headers=auth(other))).status_code == 200
    app.state.service.close()


# Routes that name no tenant resource in their path, and how each stays in its tenant.
TENANT_SCOPED_WITHOUT_IDS = {
    ("POST", "/v1/campaigns"): "starts under the key's tenant",
    ("POST", "/v1/accounts"): "starts under the key's tenant",
    ("GET", "/v1/approvals"): "filtered by the key's tenant (asserted in the approvals test)",
    ("GET", "/v1/events"): "filtered by the key's tenant (asserted below)",
    ("GET", "/v1/health"): "no tenant data",
    ("POST", "/codec/encode"): "binds what it encrypts to the key's tenant",
    ("POST", "/codec/decode"): "decodes the key's tenant's payloads only (asserted below)",
}
BODIES: dict[str, dict[str, Any]] = {
    "PauseIn": {},
    "ResumeIn": {},
    "CancelIn": {},
    "PaymentIn": {"payment_id": "p-x", "amount": "1.00", "currency": "USD"},
    "ReplyIn": {"reply_id": "r-x", "channel": "sms", "text": "ok"},
    "DisputeIn": {},
    "CeaseIn": {},
    "OptOutIn": {"channel": "sms"},
    "DecisionIn": {"approve": True},
}


def _body_for(method: str, path: str, operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    if not content:
        return None
    ref = content["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[1]
    assert name in BODIES, f"{method} {path}: add an example {name} body to BODIES"
    return BODIES[name]


async def test_another_tenants_key_finds_nothing_on_any_route(
    api: Api, client: Client, settings: Settings, running: object
) -> None:
    _, token = new_tenant(settings)
    _, intruder = new_tenant(settings)
    started = await start_account(api, token)
    ids = {
        "account_id": started["account_id"],
        "campaign_id": started["campaign_id"],
        "approval_id": "settlement-1",
    }
    # Every operation the app documents (a new route is in its OpenAPI document).
    operations = [
        (method.upper(), path, operation)
        for path, item in api.app.openapi()["paths"].items()
        for method, operation in item.items()
    ]
    checked = []
    for method, path_template, operation in operations:
        if path_template.startswith("/v1/webhooks/"):
            continue  # provider-signed, tenant in the signed URL: see test_webhooks.py
        if path_template.startswith("/codec/key/"):
            continue  # the key is in the path; its tenant's payloads only (asserted below)
        params = re.findall(r"{(\w+)}", path_template)
        if not params:
            assert (method, path_template) in TENANT_SCOPED_WITHOUT_IDS, (
                f"{method} {path_template}: say how it stays within the caller's tenant"
            )
            continue
        path = path_template.format(**{p: ids[p] for p in params})
        body = _body_for(method, path_template, operation)
        response = await api.http.request(method, path, headers=auth(intruder), json=body)
        assert response.status_code == 404, f"{method} {path}: {response.status_code}"
        assert response.headers["content-type"].startswith(PROBLEM)
        checked.append((method, path_template))
    assert ("GET", "/v1/accounts/{account_id}") in checked
    assert len(checked) >= 12
    owner = await snapshot(api, token, started["account_id"])
    assert owner["paused"] is None  # nothing the intruder sent reached the campaign

    # The event stream of one tenant holds none of another's events.
    await eventually(
        lambda: api.get("/v1/events", token, params={"after": 0, "follow": "false"}),
        lambda r: started["account_id"] in r.text,
    )
    theirs = await api.get("/v1/events", intruder, params={"after": 0, "follow": "false"})
    assert theirs.status_code == 200 and started["account_id"] not in theirs.text

    # The codec server decodes the campaign's payloads for its own tenant's key only, the
    # key in the header (the CLI) or in the path (the web UI); every workflow kind, the
    # other way round and tampering: tests/integration/test_codec_tenants.py.
    history = await client.get_workflow_handle(started["workflow_id"]).fetch_history()
    started_event = history.events[0].workflow_execution_started_event_attributes
    body = {"payloads": [MessageToDict(started_event.input.payloads[0])]}
    for key, expected in ((intruder, 403), (token, 200)):
        for path, headers in (("/codec/decode", auth(key)), (f"/codec/key/{key}/decode", {})):
            answer = await api.http.post(path, json=body, headers=headers)
            assert answer.status_code == expected, f"{path}: {answer.text}"
            if expected == 403:
                assert "another tenant's workflows" in is_problem(answer, 403)["detail"]


async def test_the_event_stream_is_server_sent_events_that_resume(
    api: Api, settings: Settings, running: object
) -> None:
    _, token = new_tenant(settings)
    started = await start_account(api, token)
    campaign = started["campaign_id"]

    async def stream(**params: Any) -> httpx.Response:
        return await api.get(
            "/v1/events", token, params={"follow": "false", "campaign_id": campaign, **params}
        )

    first = await eventually(lambda: stream(after=0), lambda r: r.text.count("\nid: ") >= 1)
    assert first.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in first.text.split("\n\n") if f.strip()]
    parsed = [dict(line.split(": ", 1) for line in f.splitlines()) for f in frames]
    ids = [int(p["id"]) for p in parsed]
    assert ids == sorted(ids)
    # Events and commands carry ``messageId``; agent envelopes (protocol seed) ``id``.
    assert all(
        json.loads(p["data"]).get("messageId") or json.loads(p["data"])["id"] for p in parsed
    )
    assert parsed[0]["event"] == "CampaignProgressEvent"

    resumed = await api.http.get(
        "/v1/events",
        params={"follow": "false", "campaign_id": campaign},
        headers={**auth(token), "Last-Event-ID": str(ids[0])},
    )
    assert f"id: {ids[0]}\n" not in resumed.text
    if len(ids) > 1:
        assert f"id: {ids[1]}\n" in resumed.text


async def test_openapi_docs_health_and_metrics_are_served(api: Api) -> None:
    document = (await api.http.get("/openapi.json")).json()
    assert "/v1/campaigns" in document["paths"] and "/v1/accounts/{account_id}" in document["paths"]
    assert (await api.http.get("/docs")).status_code == 200
    health = (await api.http.get("/v1/health")).json()
    assert health == {"status": "ok", "temporal": True, "database": True}
    metrics = (await api.http.get("/metrics")).text
    assert "recoup_api_request_seconds" in metrics
    unknown = await api.http.get("/v1/nothing-here")
    is_problem(unknown, 404)


async def test_an_approval_nobody_answers_takes_its_safe_default(
    client: Client, settings: Settings, running: object
) -> None:
    # A person has 0.005 playbook days (3 s at 600 s a day) before the default applies.
    hurried = settings.model_copy(update={"approval_days": 0.005})
    app = create_app(hurried, client)
    await app.state.service.prepare()
    tenant, token = new_tenant(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://recoup.test") as http:
        api = Api(app, http)
        started = await start_account(api, token)
        account_id = started["account_id"]
        await eventually(
            lambda: snapshot(api, token, account_id), lambda s: len(s["attempts"]) >= 1
        )
        deal = await arrange(client, tenant.tenant_id, account_id, settlement("slow", "100.00"))
        assert deal.status is ArrangementStatus.AWAITING_APPROVAL
        metadata = await client.get_workflow_handle(started["workflow_id"]).query(
            "__temporal_workflow_metadata", result_type=WorkflowMetadata
        )
        assert "**awaiting approval** `settlement-1`" in metadata.current_details

        expired = await eventually(
            lambda: snapshot(api, token, account_id),
            lambda s: s["approvals"] and s["approvals"][0]["status"] != "pending",
        )
    app.state.service.close()
    [approval] = expired["approvals"]
    assert (approval["status"], approval["decided_by"]) == ("rejected", "timeout")
    assert expired["arrangement"]["status"] == "rejected"
    assert expired["status"] in {"active", "scheduled"}  # collection goes on


# --- bounds: input the system cannot act on is refused (issue 15, finding 3) ----------


async def raw_post(api: Api, path: str, token: str, body: str, **headers: str) -> httpx.Response:
    """POST a JSON text as written (1e400 is a JSON number no encoder writes)."""
    return await api.http.post(
        path,
        content=body.encode(),
        headers={**auth(token), "Content-Type": "application/json", **headers},
    )


async def test_a_playbook_day_that_is_infinite_or_out_of_range_is_refused(
    api: Api, settings: Settings
) -> None:
    # Finding: seconds_per_day of 1e400 started a campaign whose workflow task then
    # failed for ever (timedelta overflow), its queries answering 503.
    _, token = new_tenant(settings)
    record = json.dumps(account_record())
    for raw in ("1e400", "-1e400", "1e308", "86401", "0", "-0.0", "0.001", "NaN", "Infinity"):
        campaign_id = f"c-{uuid.uuid4().hex[:8]}"
        body = (
            f'{{"campaign_id": "{campaign_id}", "playbook": "demo", "accounts": [{record}], '
            f'"seconds_per_day": {raw}}}'
        )
        problem = is_problem(await raw_post(api, "/v1/campaigns", token, body), 422)
        assert problem["field"] == "seconds_per_day", (raw, problem)
        # Nothing was started.
        is_problem(await api.get(f"/v1/campaigns/{campaign_id}", token), 404)
        one = (
            f'{{"campaign_id": "{campaign_id}", "playbook": "demo", "account": {record}, '
            f'"seconds_per_day": {raw}}}'
        )
        problem = is_problem(await raw_post(api, "/v1/accounts", token, one), 422)
        assert problem["field"] == "seconds_per_day", (raw, problem)


async def test_cursors_beyond_the_databases_integers_are_400_not_500(
    api: Api, settings: Settings
) -> None:
    # Finding: after=2^63 on account history gave a 500, and a huge `after` or
    # Last-Event-ID dropped the event stream (OverflowError in the event log).
    _, token = new_tenant(settings)
    too_far = str(MAX_POSITION + 1)
    for value in (too_far, str(10**30), "-1"):
        history = await api.get("/v1/accounts/A-1/history", token, params={"after": value})
        assert is_problem(history, 400)["field"] == "after"
        stream = await api.get("/v1/events", token, params={"after": value, "follow": "false"})
        assert is_problem(stream, 400)["field"] == "after"
        resumed = await api.http.get(
            "/v1/events",
            params={"follow": "false"},
            headers={**auth(token), "Last-Event-ID": value},
        )
        problem = is_problem(resumed, 400)
        assert problem["field"] == "Last-Event-ID"
        assert problem["title"] == "Bad request"
    # The largest position is a cursor like any other: nothing after it.
    last = str(MAX_POSITION)
    history = await api.get("/v1/accounts/A-1/history", token, params={"after": last})
    assert history.status_code == 200 and history.json()["events"] == []
    stream = await api.http.get(
        "/v1/events", params={"follow": "false"}, headers={**auth(token), "Last-Event-ID": last}
    )
    assert stream.status_code == 200 and stream.text == ""


async def test_due_dates_not_yet_come_or_before_1900_are_refused_and_good_rows_start(
    api: Api, settings: Settings
) -> None:
    # Finding: a due date in 2999 (or year 1) was accepted, and a collection notice
    # went out at once for a debt not yet due.
    _, token = new_tenant(settings)
    future, good, ancient = (
        account_record(due_date="2999-01-01"),
        account_record(),
        account_record(due_date="0001-01-01"),
    )
    body = {"playbook": "demo", "accounts": [future, good, ancient], "seconds_per_day": 600}
    response = await api.post("/v1/campaigns", token, body)
    assert response.status_code == 202, response.text
    started = m.CampaignStarted.model_validate(response.json())
    assert started.accepted == 1
    assert [(p.location, p.field) for p in started.rejected] == [
        ("accounts[0]", "due_date"),
        ("accounts[2]", "due_date"),
    ]
    not_due, too_old = started.rejected
    assert "or earlier: a debt that is not due yet" in not_due.message
    assert "2999-01-01" in not_due.message
    assert too_old.message == "must be 1900-01-01 or later (got '0001-01-01')"

    one = {"campaign_id": "c-future", "playbook": "demo", "account": future}
    problem = is_problem(await api.post("/v1/accounts", token, one), 422)
    assert problem["field"] == "account.due_date"
    # Days past due may not be counted to a day that has not come either.
    as_of = {**one, "account": good, "as_of": "2999-01-01"}
    assert is_problem(await api.post("/v1/accounts", token, as_of), 422)["field"] == "as_of"


async def test_an_idempotency_key_reused_with_another_body_is_409_naming_what_differs(
    api: Api, settings: Settings
) -> None:
    # Finding: a reused Idempotency-Key with a different playbook returned the first
    # campaign silently (only a different account list got its 409).
    _, token = new_tenant(settings)
    accounts = [account_record(), account_record()]
    body = {"playbook": "demo", "accounts": accounts, "seconds_per_day": 600}
    key = {"Idempotency-Key": f"crm-{uuid.uuid4().hex}"}
    first = await api.post("/v1/campaigns", token, body, headers=key)
    assert first.status_code == 202, first.text

    # The same request, written otherwise (key order, 600.0, a default given), replays.
    same = {"seconds_per_day": 600.0, "window": 64, "accounts": accounts, "playbook": "demo"}
    replay = await api.post("/v1/campaigns", token, same, headers=key)
    assert replay.status_code == 202, replay.text
    assert (replay.json()["workflow_id"], replay.json()["run_id"]) == (
        first.json()["workflow_id"],
        first.json()["run_id"],
    )

    changes: list[tuple[dict[str, Any], list[str]]] = [
        ({"playbook": "gentle"}, ["playbook"]),
        ({"seconds_per_day": 60}, ["seconds_per_day"]),
        ({"window": 5, "default_region": "GB"}, ["default_region", "window"]),
        ({"as_of": "2026-01-01"}, ["as_of"]),
    ]
    for change, fields in changes:
        conflict = await api.post("/v1/campaigns", token, {**body, **change}, headers=key)
        problem = is_problem(conflict, 409)
        assert problem["field"] == "Idempotency-Key", problem
        assert [p["name"] for p in problem["invalid_params"]] == ["Idempotency-Key", *fields]
        assert "a retry must repeat the request" in problem["detail"]
    gentle = await api.post("/v1/campaigns", token, {**body, "playbook": "gentle"}, headers=key)
    reason = is_problem(gentle, 409)["invalid_params"][1]["reason"]
    assert reason == "'gentle' differs from the first request's 'demo'"

    # A campaign named in the body is held to its first request the same way.
    named = {**body, "campaign_id": f"c-{uuid.uuid4().hex[:8]}"}
    assert (await api.post("/v1/campaigns", token, named)).status_code == 202
    clash = await api.post("/v1/campaigns", token, {**named, "playbook": "gentle"})
    assert is_problem(clash, 409)["field"] == "campaign_id"


async def test_a_payment_in_another_currency_is_422_naming_the_accounts_currency(
    api: Api, settings: Settings, running: object
) -> None:
    # Finding: a EUR payment on a USD account answered 202, and nothing happened.
    _, token = new_tenant(settings)
    started = await start_account(api, token)
    account_id = started["account_id"]
    payment = {"payment_id": f"pay-{account_id}", "amount": "100.00", "currency": "EUR"}
    refused = await api.post(f"/v1/accounts/{account_id}/payments", token, payment)
    problem = is_problem(refused, 422)
    assert problem["field"] == "currency"
    assert problem["invalid_params"] == [
        {"name": "currency", "reason": "must be USD, the account's currency (got 'EUR')"}
    ]
    assert "is in USD" in problem["detail"]

    # In the account's currency the same payment is applied.
    paid = await api.post(
        f"/v1/accounts/{account_id}/payments", token, {**payment, "currency": "USD"}
    )
    assert paid.status_code == 202, paid.text
    after = await eventually(
        lambda: snapshot(api, token, account_id), lambda s: s["amount_paid"] != "0"
    )
    assert after["amount_paid"] == "100.00"
    # An account without a campaign is still a 404, not a currency question.
    missing = {**payment, "currency": "USD"}
    assert is_problem(await api.post("/v1/accounts/A-none/payments", token, missing), 404)
