"""The gRPC API end to end: real dev server, real workers, real SQL, over a real socket."""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import grpc
import pytest
import pytest_asyncio
from google.protobuf import message_factory, timestamp_pb2
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from temporalio.client import Client

from adapters.tenants import TenantStore, parse_token
from api.auth import Authenticator, AuthError, RateLimited, RateLimiter
from api.grpc_gen import recoup_pb2 as pb
from api.grpc_gen import recoup_pb2_grpc as pb_grpc
from api.grpc_server import SERVICE_NAME, STATUS_DETAILS_KEY, bound_port, start_grpc, status_of
from bootstrap.settings import Settings
from domain.events import RecordKind
from service.operations import (
    Conflict,
    InvalidInput,
    NotFound,
    RecoupService,
    ServiceError,
    Unavailable,
)
from tests.api_support import account_record, eventually, new_tenant

T = TypeVar("T")
SERVICE = pb.DESCRIPTOR.services_by_name["Recoup"]
# Requests that create rather than find: a tenant starts its own campaigns, whatever
# ids it names (checked separately: they never touch the other tenant's).
CREATES = {"StartCampaign", "StartAccountCampaign"}
ID_FIELDS = {"account_id", "campaign_id", "approval_id"}


@dataclass
class Grpc:
    server: grpc.aio.Server
    channel: grpc.aio.Channel
    stub: pb_grpc.RecoupStub
    service: RecoupService
    target: str


@asynccontextmanager
async def serving(client: Client, settings: Settings) -> AsyncIterator[Grpc]:
    """A gRPC server on a free port over a fresh service, and a channel to it."""
    service = RecoupService.build(client, settings)
    await service.prepare()
    server = await start_grpc(
        service, Authenticator(service.tenants, RateLimiter(settings)), "127.0.0.1", 0
    )
    target = f"127.0.0.1:{bound_port(server)}"
    channel = grpc.aio.insecure_channel(target)
    try:
        yield Grpc(server, channel, pb_grpc.RecoupStub(channel), service, target)
    finally:
        await channel.close()
        await server.stop(grace=None)
        service.close()


@pytest_asyncio.fixture
async def api(client: Client, settings: Settings) -> AsyncIterator[Grpc]:
    async with serving(client, settings) as served:
        yield served


def key(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def record(**overrides: Any) -> pb.AccountRecord:
    """A portfolio-file row, as text (what a CRM sends over gRPC)."""
    fields = {
        k: ("true" if v else "false") if isinstance(v, bool) else str(v)
        for k, v in account_record(**overrides).items()
    }
    return pb.AccountRecord(fields=fields)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Failure:
    code: grpc.StatusCode
    message: str
    trailers: dict[str, str | bytes]
    status: status_pb2.Status
    violations: dict[str, str]  # field → description (google.rpc.BadRequest)
    reason: str  # google.rpc.ErrorInfo.reason
    retry_after: float | None  # google.rpc.RetryInfo

    @property
    def field(self) -> str | None:
        value = self.trailers.get("field")
        return value if isinstance(value, str) else None


def failure(error: grpc.aio.AioRpcError) -> Failure:
    """Decode a failed call, with its google.rpc.Status details, as any client would."""
    trailers = {k: v for k, v in (error.trailing_metadata() or ())}
    raw = trailers[STATUS_DETAILS_KEY]
    assert isinstance(raw, bytes)
    status = status_pb2.Status.FromString(raw)
    # What grpcio-status checks: the details agree with the call's status.
    assert status.code == error.code().value[0]
    assert status.message == error.details()
    violations: dict[str, str] = {}
    reason, retry_after = "", None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations |= {v.field: v.description for v in bad.field_violations}
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.ToNanoseconds() / 1e9
    return Failure(
        code=error.code(),
        message=error.details() or "",
        trailers=trailers,
        status=status,
        violations=violations,
        reason=reason,
        retry_after=retry_after,
    )


async def fails(call: Awaitable[Any], code: grpc.StatusCode) -> Failure:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    found = failure(caught.value)
    assert found.code is code, f"{found.code}: {found.message}"
    return found


async def until(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool]) -> T:
    return await eventually(probe, accept, within=60)


async def start_account(
    api: Grpc, token: str, seconds_per_day: float = 600, **fields: Any
) -> tuple[pb.AccountCampaignStarted, str]:
    """Start one account (the demo playbook, slow days: it stays running)."""
    campaign_id = unique("c")
    started = await api.stub.StartAccountCampaign(
        pb.StartAccountCampaignRequest(
            campaign_id=campaign_id,
            playbook="demo",
            account=record(**fields),
            seconds_per_day=seconds_per_day,
        ),
        metadata=key(token),
    )
    return started, campaign_id


async def get_account(api: Grpc, token: str, account_id: str) -> pb.Account:
    account: pb.Account = await api.stub.GetAccount(
        pb.GetAccountRequest(account_id=account_id), metadata=key(token)
    )
    return account


async def campaign_of(api: Grpc, token: str, campaign_id: str) -> pb.Campaign:
    campaign: pb.Campaign = await api.stub.GetCampaign(
        pb.GetCampaignRequest(campaign_id=campaign_id), metadata=key(token)
    )
    return campaign


# --- the server -------------------------------------------------------------------


async def test_health_is_serving_and_reflection_describes_the_service(api: Grpc) -> None:
    # Any: grpcio's own stubs (and typeshed's) are typed for synchronous channels.
    channel: Any = api.channel
    checks: Any = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE_NAME):
        answer = await checks.Check(health_pb2.HealthCheckRequest(service=name))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, name
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await checks.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND

    reflection: Any = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    listed = {s.name async for reply in replies for s in reply.list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= listed

    # A client that has no .proto learns every method, with its types, from the server.
    def described() -> dict[str, tuple[str, str, bool]]:
        with grpc.insecure_channel(api.target) as channel:
            pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
            service = pool.FindServiceByName(SERVICE_NAME)
            return {
                m.name: (m.input_type.full_name, m.output_type.full_name, m.server_streaming)
                for m in service.methods
            }

    assert await asyncio.to_thread(described) == {
        m.name: (m.input_type.full_name, m.output_type.full_name, m.server_streaming)
        for m in SERVICE.methods
    }


async def test_every_rpc_needs_a_valid_key(api: Grpc, settings: Settings) -> None:
    _, token = new_tenant(settings)
    _, revoked = new_tenant(settings)
    store = TenantStore(settings.sql_url)
    try:
        parsed = parse_token(revoked)
        assert parsed is not None
        store.revoke(parsed[0])
    finally:
        store.dispose()

    bad_keys: list[tuple[tuple[str, str], ...]] = [
        (),
        key("rk_000000000000_not-a-real-secret"),
        key("not-even-shaped-like-a-key"),
        (("authorization", f"Basic {token}"),),
        key(revoked),
        (("x-api-key", revoked),),
    ]
    for method in SERVICE.methods:
        for metadata in bad_keys:
            call = getattr(api.stub, method.name)(request_of(method, {}), metadata=metadata)
            if method.server_streaming:
                call = _first(call)
            found = await fails(call, grpc.StatusCode.UNAUTHENTICATED)
            assert found.reason == "UNAUTHENTICATED", (method.name, metadata)

    # Either header carries a good key.
    for metadata in (key(token), (("x-api-key", token),)):
        listed = await api.stub.ListApprovals(pb.ListApprovalsRequest(), metadata=metadata)
        assert list(listed.approvals) == []


async def test_a_tenant_over_its_rate_is_told_when_to_come_back(
    client: Client, settings: Settings
) -> None:
    limited = settings.model_copy(update={"api_rate_per_second": 0.5, "api_burst": 1})
    _, token = new_tenant(limited)
    async with serving(client, limited) as api:
        await api.stub.ListApprovals(pb.ListApprovalsRequest(), metadata=key(token))
        found = await fails(
            api.stub.ListApprovals(pb.ListApprovalsRequest(), metadata=key(token)),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
        assert found.reason == "RATE_LIMITED"
        assert found.retry_after is not None and 0 < found.retry_after <= 2
        assert float(found.trailers["retry-after"]) == found.retry_after


def test_each_error_has_its_status_code_and_details() -> None:
    cases: list[tuple[Exception, grpc.StatusCode, str]] = [
        (InvalidInput("bad", field="amount"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT"),
        (ServiceError("bad", field="x"), grpc.StatusCode.INVALID_ARGUMENT, "SERVICE_ERROR"),
        (NotFound("no such", field="account_id"), grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
        (Conflict("finished", field="account_id"), grpc.StatusCode.FAILED_PRECONDITION, "CONFLICT"),
        (Unavailable("down"), grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),
        (AuthError("no key"), grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
        (RateLimited("t-1", 1.5), grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"),
        (RuntimeError("secret detail"), grpc.StatusCode.INTERNAL, "INTERNAL"),
    ]
    for exc, code, reason in cases:
        found, message, trailers = status_of(exc)
        assert found is code, exc
        raw = dict(trailers)[STATUS_DETAILS_KEY]
        assert isinstance(raw, bytes)
        status = status_pb2.Status.FromString(raw)
        assert (status.code, status.message) == (code.value[0], message)
        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info) and info.reason == reason
        if isinstance(exc, ServiceError) and exc.field:
            assert dict(trailers)["field"] == exc.field == info.metadata["field"]
    # An unexpected error is logged, not shown: its text stays on the server.
    assert status_of(RuntimeError("secret detail"))[1] == "internal error"
    # A field name that cannot be a plain header value still travels in the details.
    _, _, trailers = status_of(InvalidInput("bad", field="accounts[0].émail"))
    assert "field" not in dict(trailers)


# --- starting ----------------------------------------------------------------------


async def test_an_account_started_over_grpc_is_read_back_and_a_second_start_attaches(
    api: Grpc, settings: Settings, running: object
) -> None:
    tenant, token = new_tenant(settings)
    started, campaign_id = await start_account(api, token)
    account_id = started.account_id
    assert started.campaign_id == campaign_id
    assert started.workflow_id == f"account/{tenant.tenant_id}/{account_id}"
    assert started.run_id

    again, _ = await start_account(api, token, account_id=account_id)
    assert (again.workflow_id, again.run_id) == (started.workflow_id, started.run_id)

    account = await get_account(api, token, account_id)
    assert (account.account_id, account.campaign_id) == (account_id, campaign_id)
    assert account.playbook == "demo"
    assert account.status in {"scheduled", "active"}
    assert (Decimal(account.balance), Decimal(account.amount_paid)) == (
        Decimal("250.00"),
        Decimal(0),
    )
    assert account.currency == "USD"
    assert not account.paused
    snapshot = json.loads(account.json)
    assert snapshot["account_id"] == account_id and snapshot["tenant_id"] == tenant.tenant_id
    assert account.steps_total == 5 and account.steps_done == len(snapshot["attempts"])


async def test_a_retried_start_campaign_with_the_same_key_returns_the_same_run(
    api: Grpc, settings: Settings, running: object
) -> None:
    _, token = new_tenant(settings)
    request = pb.StartCampaignRequest(
        playbook="demo",
        accounts=[record(), record()],
        seconds_per_day=600,
        idempotency_key=unique("retry"),
    )
    first = await api.stub.StartCampaign(request, metadata=key(token))
    second = await api.stub.StartCampaign(request, metadata=key(token))
    assert first.accepted == 2 and list(first.rejected) == []
    assert first.campaign_id and first.workflow_id and first.run_id
    assert (second.campaign_id, second.workflow_id, second.run_id) == (
        first.campaign_id,
        first.workflow_id,
        first.run_id,
    )
    # Another key is another campaign.
    other = await api.stub.StartCampaign(
        pb.StartCampaignRequest(
            playbook="demo", accounts=[record()], seconds_per_day=600, idempotency_key="other"
        ),
        metadata=key(token),
    )
    assert other.campaign_id != first.campaign_id

    # The same campaign id with other accounts is not a retry.
    clash = await fails(
        api.stub.StartCampaign(
            pb.StartCampaignRequest(
                campaign_id=first.campaign_id, playbook="demo", accounts=[record()]
            ),
            metadata=key(token),
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert clash.field == "campaign_id" and clash.reason == "ALREADY_EXISTS"

    campaign = await until(
        lambda: api.stub.GetCampaign(
            pb.GetCampaignRequest(campaign_id=first.campaign_id), metadata=key(token)
        ),
        lambda c: (json.loads(c.json).get("progress") or {}).get("total") == 2,
    )
    assert campaign.campaign_id == first.campaign_id


async def test_invalid_input_is_invalid_argument_naming_the_field(
    api: Grpc, settings: Settings, running: object
) -> None:
    _, token = new_tenant(settings)
    bad = await fails(
        api.stub.StartAccountCampaign(
            pb.StartAccountCampaignRequest(
                campaign_id=unique("c"),
                playbook="demo",
                account=record(email="dana@@example", phone=""),
            ),
            metadata=key(token),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad.field == "account.email"
    assert "account.email" in bad.violations and "email" in bad.violations["account.email"]
    assert bad.reason == "INVALID_INPUT"

    # Nothing valid in a batch: the batch is refused, each problem named.
    none_valid = await fails(
        api.stub.StartCampaign(
            pb.StartCampaignRequest(
                playbook="demo", accounts=[record(amount_due="lots"), record(due_date="soon")]
            ),
            metadata=key(token),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert none_valid.field == "accounts"
    assert {"accounts[0].amount_due", "accounts[1].due_date"} <= set(none_valid.violations)

    cases: list[tuple[Awaitable[Any], str]] = [
        (
            api.stub.StartAccountCampaign(
                pb.StartAccountCampaignRequest(
                    campaign_id=unique("c"), playbook="no-such-playbook", account=record()
                ),
                metadata=key(token),
            ),
            "playbook",
        ),
        (
            api.stub.StartAccountCampaign(
                pb.StartAccountCampaignRequest(
                    campaign_id="not an id", playbook="demo", account=record()
                ),
                metadata=key(token),
            ),
            "campaign_id",
        ),
        (
            api.stub.StartAccountCampaign(
                pb.StartAccountCampaignRequest(
                    campaign_id=unique("c"), playbook="demo", account=record(), seconds_per_day=0
                ),
                metadata=key(token),
            ),
            "seconds_per_day",
        ),
        (
            api.stub.RecordPayment(
                pb.RecordPaymentRequest(
                    account_id="A-1", payment_id="p-1", amount="1,000", currency="USD"
                ),
                metadata=key(token),
            ),
            "amount",
        ),
        (
            api.stub.RecordReply(
                pb.RecordReplyRequest(account_id="A-1", reply_id="r-1", channel="fax", text="hi"),
                metadata=key(token),
            ),
            "channel",
        ),
        (
            api.stub.GetAccount(pb.GetAccountRequest(account_id="../etc"), metadata=key(token)),
            "account_id",
        ),
        (
            api.stub.GetAccountHistory(
                pb.GetAccountHistoryRequest(account_id="A-1", limit=0), metadata=key(token)
            ),
            "limit",
        ),
    ]
    for call, field in cases:
        found = await fails(call, grpc.StatusCode.INVALID_ARGUMENT)
        assert found.field == field, found
        assert field in found.violations, found


async def test_an_infinite_playbook_day_and_other_numbers_out_of_bounds_are_invalid_argument(
    api: Grpc, settings: Settings
) -> None:
    # Finding: seconds_per_day=inf over gRPC started a campaign whose workflow task then
    # failed for ever. gRPC has no schema at the edge: the requests are validated into
    # the HTTP API's models, and each problem names its field.
    _, token = new_tenant(settings)
    for day in (math.inf, -math.inf, math.nan, 1e300, 86_401.0, 0.001, -0.0):
        campaign_id = unique("c")
        batch = await fails(
            api.stub.StartCampaign(
                pb.StartCampaignRequest(
                    campaign_id=campaign_id,
                    playbook="demo",
                    accounts=[record()],
                    seconds_per_day=day,
                ),
                metadata=key(token),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert batch.field == "seconds_per_day" and "seconds_per_day" in batch.violations, day
        one = await fails(
            api.stub.StartAccountCampaign(
                pb.StartAccountCampaignRequest(
                    campaign_id=campaign_id, playbook="demo", account=record(), seconds_per_day=day
                ),
                metadata=key(token),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert one.field == "seconds_per_day", day
        await fails(campaign_of(api, token, campaign_id), grpc.StatusCode.NOT_FOUND)

    cases: list[tuple[Awaitable[Any], str]] = [
        (
            api.stub.StartCampaign(
                pb.StartCampaignRequest(playbook="demo", accounts=[record()], window=2**31 - 1),
                metadata=key(token),
            ),
            "window",
        ),
        (
            api.stub.StartAccountCampaign(
                pb.StartAccountCampaignRequest(
                    campaign_id=unique("c"), playbook="demo", account=record(), as_of="2999-01-01"
                ),
                metadata=key(token),
            ),
            "as_of",
        ),
        (
            api.stub.StartAccountCampaign(
                pb.StartAccountCampaignRequest(
                    campaign_id=unique("c"), playbook="demo", account=record(due_date="2999-01-01")
                ),
                metadata=key(token),
            ),
            "account.due_date",
        ),
        (
            api.stub.GetAccountHistory(
                pb.GetAccountHistoryRequest(account_id="A-1", after=-1), metadata=key(token)
            ),
            "after",
        ),
        (
            _first(
                api.stub.StreamEvents(
                    pb.StreamEventsRequest(after=-(2**63), follow=False), metadata=key(token)
                )
            ),
            "after",
        ),
    ]
    beyond_year_9999 = timestamp_pb2.Timestamp(seconds=2**62)
    cases.append(
        (
            api.stub.RecordPayment(
                pb.RecordPaymentRequest(
                    account_id="A-1",
                    payment_id="p-1",
                    amount="1.00",
                    currency="USD",
                    paid_at=beyond_year_9999,
                ),
                metadata=key(token),
            ),
            "paid_at",
        )
    )
    for amount in ("1e400", "NaN", "Infinity", "-0", "0.001", "1000000000000", "1e-400"):
        payment = pb.RecordPaymentRequest(
            account_id="A-1", payment_id="p-1", amount=amount, currency="USD"
        )
        cases.append((api.stub.RecordPayment(payment, metadata=key(token)), "amount"))
    for call, field in cases:
        found = await fails(call, grpc.StatusCode.INVALID_ARGUMENT)
        assert found.field == field, found
        assert field in found.violations, found

    # int64's largest value is a cursor like any other: nothing after it.
    history = await api.stub.GetAccountHistory(
        pb.GetAccountHistoryRequest(account_id="A-1", after=2**63 - 1), metadata=key(token)
    )
    assert list(history.events) == [] and history.next_after == 2**63 - 1
    streamed = api.stub.StreamEvents(
        pb.StreamEventsRequest(after=2**63 - 1, follow=False), metadata=key(token)
    )
    assert [e async for e in streamed] == []


async def test_a_reused_idempotency_key_with_another_playbook_already_exists(
    api: Grpc, settings: Settings
) -> None:
    # Finding: the same key with another playbook returned the first campaign silently.
    _, token = new_tenant(settings)
    request = pb.StartCampaignRequest(
        playbook="demo", accounts=[record()], seconds_per_day=600, idempotency_key=unique("k")
    )
    first = await api.stub.StartCampaign(request, metadata=key(token))
    again = await api.stub.StartCampaign(request, metadata=key(token))
    assert (again.workflow_id, again.run_id) == (first.workflow_id, first.run_id)

    other = pb.StartCampaignRequest()
    other.CopyFrom(request)
    other.playbook = "gentle"
    clash = await fails(
        api.stub.StartCampaign(other, metadata=key(token)), grpc.StatusCode.ALREADY_EXISTS
    )
    assert clash.field == "idempotency_key"
    assert clash.violations["playbook"] == "'gentle' differs from the first request's 'demo'"


async def test_a_payment_in_another_currency_is_invalid_argument_naming_currency(
    api: Grpc, settings: Settings, running: object
) -> None:
    # Finding: a EUR payment on a USD account was accepted, and nothing happened.
    _, token = new_tenant(settings)
    started, _ = await start_account(api, token)
    euros = pb.RecordPaymentRequest(
        account_id=started.account_id, payment_id=unique("pay"), amount="100.00", currency="EUR"
    )
    refused = await fails(
        api.stub.RecordPayment(euros, metadata=key(token)), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert refused.field == "currency"
    assert refused.violations == {"currency": "must be USD, the account's currency (got 'EUR')"}
    account = await get_account(api, token, started.account_id)
    assert Decimal(account.amount_paid) == 0


async def test_a_mixed_batch_starts_the_good_accounts_and_reports_the_bad_one(
    api: Grpc, settings: Settings, running: object
) -> None:
    _, token = new_tenant(settings)
    good, bad = record(), record(email="dana.example.com", phone="")
    started = await api.stub.StartCampaign(
        pb.StartCampaignRequest(
            campaign_id=unique("c"), playbook="demo", accounts=[good, bad], seconds_per_day=600
        ),
        metadata=key(token),
    )
    assert started.accepted == 1
    assert [(p.location, p.field) for p in started.rejected] == [("accounts[1]", "email")]

    account = await until(
        lambda: _maybe(get_account(api, token, good.fields["account_id"])),
        lambda a: a is not None,
    )
    assert account is not None and account.campaign_id == started.campaign_id
    await fails(get_account(api, token, bad.fields["account_id"]), grpc.StatusCode.NOT_FOUND)


# --- steering ------------------------------------------------------------------------


async def test_a_payment_of_the_full_balance_ends_the_campaign_as_paid(
    api: Grpc, client: Client, settings: Settings, running: object
) -> None:
    _, token = new_tenant(settings)
    started, _ = await start_account(api, token)
    account_id = started.account_id
    await until(
        lambda: get_account(api, token, account_id),
        lambda a: len(json.loads(a.json)["attempts"]) >= 1,
    )

    accepted = await api.stub.RecordPayment(
        pb.RecordPaymentRequest(
            account_id=account_id, payment_id=unique("pay"), amount="250.00", currency="USD"
        ),
        metadata=key(token),
    )
    assert accepted.accepted and accepted.workflow_id == started.workflow_id
    paid = await until(lambda: get_account(api, token, account_id), lambda a: a.status == "paid")
    assert (Decimal(paid.amount_paid), Decimal(paid.balance)) == (Decimal("250.00"), Decimal(0))

    history = await until(
        lambda: api.stub.GetAccountHistory(
            pb.GetAccountHistoryRequest(account_id=account_id), metadata=key(token)
        ),
        lambda h: any(e.type == "PaymentEvent" for e in h.events),
    )
    positions = [e.position for e in history.events]
    assert positions == sorted(positions) and history.next_after == positions[-1]
    assert all(e.account_id == account_id for e in history.events)

    # Steering a finished campaign is refused, not silently accepted.
    await asyncio.wait_for(client.get_workflow_handle(started.workflow_id).result(), 60)
    late = await fails(
        api.stub.PauseAccount(pb.PauseAccountRequest(account_id=account_id), metadata=key(token)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert late.field == "account_id"


async def test_pausing_and_resuming_show_in_the_account(
    api: Grpc, settings: Settings, running: object
) -> None:
    _, token = new_tenant(settings)
    started, campaign_id = await start_account(api, token)
    account_id = started.account_id

    await api.stub.PauseAccount(
        pb.PauseAccountRequest(account_id=account_id, reason="customer called", operator="ops-1"),
        metadata=key(token),
    )
    paused = await until(lambda: get_account(api, token, account_id), lambda a: a.paused)
    assert json.loads(paused.json)["paused"] == {"reason": "customer called", "operator": "ops-1"}

    await api.stub.ResumeAccount(
        pb.ResumeAccountRequest(account_id=account_id), metadata=key(token)
    )
    await until(lambda: get_account(api, token, account_id), lambda a: not a.paused)

    # The campaign as a whole (started account by account: found through visibility).
    async def pause_campaign() -> pb.Accepted | None:
        return await _maybe(
            api.stub.PauseCampaign(
                pb.PauseCampaignRequest(campaign_id=campaign_id), metadata=key(token)
            )
        )

    await until(pause_campaign, lambda a: a is not None)
    await until(lambda: get_account(api, token, account_id), lambda a: a.paused)
    await api.stub.ResumeCampaign(
        pb.ResumeCampaignRequest(campaign_id=campaign_id), metadata=key(token)
    )
    await until(lambda: get_account(api, token, account_id), lambda a: not a.paused)


async def test_stream_events_yields_the_accounts_events(
    api: Grpc, settings: Settings, running: object
) -> None:
    _, token = new_tenant(settings)
    started, campaign_id = await start_account(api, token)
    account_id = started.account_id

    stream = api.stub.StreamEvents(
        pb.StreamEventsRequest(after=0, campaign_id=campaign_id), metadata=key(token)
    )
    seen: list[pb.Event] = []

    async def read() -> None:
        async for event in stream:
            seen.append(event)
            if len(seen) >= 2:
                return

    await asyncio.wait_for(read(), timeout=60)
    stream.cancel()
    assert all(e.account_id == account_id and e.campaign_id == campaign_id for e in seen)
    assert [e.position for e in seen] == sorted({e.position for e in seen})
    for event in seen:
        body = json.loads(event.message_json)
        # Events and commands carry ``messageId``; agent envelopes (protocol seed) ``id``.
        assert body.get("messageId", body.get("id")) == event.message_id
        assert event.type and event.kind in {k.value for k in RecordKind}
        assert isinstance(json.loads(event.metadata_json), dict)

    # Not following: the stream ends once caught up, and a type filter keeps only that type.
    kind = seen[0].type
    caught_up = [
        e
        async for e in api.stub.StreamEvents(
            pb.StreamEventsRequest(after=0, campaign_id=campaign_id, types=[kind], follow=False),
            metadata=key(token),
        )
    ]
    assert caught_up and {e.type for e in caught_up} == {kind}

    # Without `after`, only what happens from now on.
    live = api.stub.StreamEvents(
        pb.StreamEventsRequest(campaign_id=campaign_id), metadata=key(token)
    )
    await api.stub.RecordPayment(
        pb.RecordPaymentRequest(
            account_id=account_id, payment_id=unique("pay"), amount="250.00", currency="USD"
        ),
        metadata=key(token),
    )

    async def until_payment() -> pb.Event:
        event: pb.Event
        async for event in live:
            if event.type == "PaymentEvent":
                return event
        raise AssertionError("the stream ended")

    payment = await asyncio.wait_for(until_payment(), timeout=60)
    live.cancel()
    assert payment.position > seen[-1].position


# --- tenants -------------------------------------------------------------------------


async def test_a_key_of_another_tenant_gets_not_found_on_every_rpc_naming_its_ids(
    api: Grpc, settings: Settings, running: object
) -> None:
    owner, owner_token = new_tenant(settings, "owner")
    other, other_token = new_tenant(settings, "other")
    started, campaign_id = await start_account(api, owner_token)
    account_id = started.account_id
    # The owner's campaign is known everywhere (events projected) before the other looks.
    await until(lambda: _maybe(campaign_of(api, owner_token, campaign_id)), _found)
    ids = {"account_id": account_id, "campaign_id": campaign_id, "approval_id": "ap-unknown"}

    # From the descriptor, so that an RPC added later cannot escape this test.
    lookups = [
        m
        for m in SERVICE.methods
        if m.name not in CREATES and ID_FIELDS & {f.name for f in m.input_type.fields}
    ]
    unary = [m for m in lookups if not m.server_streaming]
    streams = [m for m in lookups if m.server_streaming]
    no_ids = {m.name for m in SERVICE.methods} - {m.name for m in lookups} - CREATES
    assert no_ids == {"ListApprovals"}, f"classify these RPCs for tenant isolation: {no_ids}"
    assert {m.name for m in streams} == {"StreamEvents"}
    assert len(unary) >= 13

    for method in unary:
        request = request_of(method, ids)
        found = await fails(
            getattr(api.stub, method.name)(request, metadata=key(other_token)),
            grpc.StatusCode.NOT_FOUND,
        )
        named = {f.name for f in method.input_type.fields} & {"account_id", "campaign_id"}
        assert found.field in named and found.reason == "NOT_FOUND", (method.name, found)
        assert account_id not in found.message or found.field == "account_id"
        assert owner.tenant_id not in found.message, (method.name, found.message)

    # A stream filtered on the owner's campaign shows the other tenant nothing.
    for method in streams:
        request = request_of(method, ids | {"after": 0, "follow": False})
        events = [
            e async for e in getattr(api.stub, method.name)(request, metadata=key(other_token))
        ]
        assert events == [], method.name
    listed = await api.stub.ListApprovals(pb.ListApprovalsRequest(), metadata=key(other_token))
    assert all(p.account_id != account_id for p in listed.approvals)

    # Starting with the owner's ids makes the other tenant's own campaign, not the owner's.
    own, _ = await start_account(api, other_token, account_id=account_id)
    assert own.workflow_id == f"account/{other.tenant_id}/{account_id}" != started.workflow_id

    # Control: the same kind of ids are found for their owner. Each RPC gets an account of
    # its own (a cease or a payment would end a shared one); only the made-up approval id
    # may be unknown.
    async def owned() -> dict[str, str]:
        started, campaign_id = await start_account(api, owner_token)
        await until(lambda: _maybe(campaign_of(api, owner_token, campaign_id)), _found)
        return {"account_id": started.account_id, "campaign_id": campaign_id}

    fresh = await asyncio.gather(*(owned() for _ in unary))
    for method, own_ids in zip(unary, fresh, strict=True):
        request = request_of(method, ids | own_ids)
        try:
            await getattr(api.stub, method.name)(request, metadata=key(owner_token))
        except grpc.aio.AioRpcError as error:
            found = failure(error)
            if found.code is grpc.StatusCode.NOT_FOUND:
                assert found.field == "approval_id", (method.name, found)
    replay = request_of(streams[0], ids | {"after": 0, "follow": False})
    assert isinstance(replay, pb.StreamEventsRequest)
    events = [e async for e in api.stub.StreamEvents(replay, metadata=key(owner_token))]
    assert events and all(e.account_id == account_id for e in events)


# --- helpers ---------------------------------------------------------------------------

# A valid value for each field a request may need, by name; ids come from the test.
VALID = {
    "payment_id": "pay-1",
    "amount": "1.00",
    "currency": "USD",
    "reply_id": "reply-1",
    "channel": "email",
    "text": "hello",
    "note": "from the test",
    "reason": "from the test",
    "operator": "test",
    "approve": True,
}


def request_of(method: MethodDescriptor, ids: dict[str, Any]) -> Message:
    """The method's request, with every field it names in ``ids`` or ``VALID`` set."""
    request = message_factory.GetMessageClass(method.input_type)()
    values = VALID | ids
    for field in method.input_type.fields:
        if field.name in values and field.message_type is None:
            setattr(request, field.name, values[field.name])
    return request


async def _first(call: Any) -> Any:
    async for item in call:
        return item
    return None


async def _maybe(call: Awaitable[T]) -> T | None:
    """The call's answer, or None when it is NOT_FOUND (not yet)."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        if error.code() is grpc.StatusCode.NOT_FOUND:
            return None
        raise


def _found(value: object) -> bool:
    return value is not None
