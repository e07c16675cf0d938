"""The gRPC API: ``recoup.v1.Recoup`` (api/proto/recoup/v1/recoup.proto) over ``RecoupService``.

The same operations as the HTTP API, for the tenant of the caller's key, sent as
``authorization: Bearer rk_…`` (or ``x-api-key``) metadata. Next to it the server
runs the standard health service (``grpc.health.v1.Health``: SERVING for "" and
``recoup.v1.Recoup``) and server reflection, so ``grpcurl`` and ``grpc_health_probe``
work without the .proto.

Every RPC goes through one error mapping (``_handle``): ``ServiceError`` by its HTTP
status (422/400 → INVALID_ARGUMENT, 404 → NOT_FOUND, 409 → FAILED_PRECONDITION, or
ALREADY_EXISTS for a start that names a campaign with other accounts, 503 →
UNAVAILABLE), ``AuthError`` → UNAUTHENTICATED, ``RateLimited`` → RESOURCE_EXHAUSTED.
The details travel as a ``google.rpc.Status`` in the ``grpc-status-details-bin``
trailer (what grpcio-status' ``rpc_status.from_call`` decodes): ``BadRequest`` field
violations naming each field at fault, ``ErrorInfo`` (reason, field), and
``RetryInfo`` when rate limited. Plain ``field`` and ``retry-after`` trailers say the
same for clients that do not decode status details.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2, timestamp_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from pydantic import BaseModel, TypeAdapter, ValidationError
from temporalio.service import RPCError

from api.auth import Authenticator, AuthError, RateLimited, token_from
from api.grpc_gen import recoup_pb2 as pb
from api.grpc_gen import recoup_pb2_grpc as pb_grpc
from domain.account import Identifier, Tenant
from domain.campaign import CampaignSnapshot
from domain.errors import FieldProblem, problems
from domain.operator import Approval
from service import models as m
from service.events import EventRow
from service.operations import (
    Conflict,
    InvalidInput,
    RecoupService,
    ServiceError,
    history_event,
    message_json,
)

log = logging.getLogger(__name__)

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["Recoup"].full_name  # "recoup.v1.Recoup"
# A StartCampaign of 100,000 accounts (the HTTP API's limit) is about 20 MiB.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
STATUS_DETAILS_KEY = "grpc-status-details-bin"

Context = Any  # grpc.aio.ServicerContext[request, response]
_Req = TypeVar("_Req", bound=Message)
_Resp = TypeVar("_Resp", bound=Message)
_M = TypeVar("_M", bound=BaseModel)
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


class _AlreadyExists(ServiceError):
    """A start names a campaign that exists with other accounts (ALREADY_EXISTS)."""

    status = 409


# --- the error mapping ---------------------------------------------------------

_BY_HTTP_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}


def _violations(error: ServiceError) -> list[error_details_pb2.BadRequest.FieldViolation]:
    """One violation per problem (``accounts[2].email``), else one for ``error.field``."""
    found = [
        error_details_pb2.BadRequest.FieldViolation(
            field=f"{p.location}.{p.field}" if p.location else p.field, description=p.message
        )
        for p in error.problems
    ]
    if not found and error.field:
        found.append(
            error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.detail)
        )
    return found


def _packed(detail: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


def _reason(class_name: str) -> str:
    """``_AlreadyExists`` → ``ALREADY_EXISTS`` (google.rpc.ErrorInfo's reason format)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", class_name.lstrip("_")).upper()


def _text_metadata(value: str) -> bool:
    """Whether ``value`` may travel as a plain (non ``-bin``) metadata value."""
    return value.isascii() and value.isprintable()


def status_of(
    exc: BaseException,
) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str | bytes], ...]]:
    """The gRPC status code, message and trailing metadata an exception is answered with."""
    details: list[Message] = []
    trailers: list[tuple[str, str | bytes]] = []
    field: str | None = None
    if isinstance(exc, ServiceError):
        code = (
            grpc.StatusCode.ALREADY_EXISTS
            if isinstance(exc, _AlreadyExists)
            else _BY_HTTP_STATUS.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT)
        )
        message = exc.detail
        field = exc.field
        violations = _violations(exc)
        if violations:
            details.append(error_details_pb2.BadRequest(field_violations=violations))
        reason = _reason(type(exc).__name__)  # INVALID_INPUT, NOT_FOUND, CONFLICT, ...
    elif isinstance(exc, AuthError):
        code, message, reason = grpc.StatusCode.UNAUTHENTICATED, str(exc), "UNAUTHENTICATED"
    elif isinstance(exc, RateLimited):
        code, message, reason = grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), "RATE_LIMITED"
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(exc.retry_after * 1e9))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
        trailers.append(("retry-after", f"{exc.retry_after:g}"))
    elif isinstance(exc, RPCError):  # a Temporal call the service did not classify
        code, message, reason = grpc.StatusCode.UNAVAILABLE, f"Temporal: {exc}", "UNAVAILABLE"
    else:
        code, message, reason = grpc.StatusCode.INTERNAL, "internal error", "INTERNAL"
    info = error_details_pb2.ErrorInfo(reason=reason, domain=SERVICE_NAME)
    if field:
        info.metadata["field"] = field
        if _text_metadata(field):
            trailers.append(("field", field))
    details.insert(0, info)
    status = status_pb2.Status(
        code=code.value[0], message=message, details=[_packed(d) for d in details]
    )
    assert status.code != code_pb2.OK
    trailers.insert(0, (STATUS_DETAILS_KEY, status.SerializeToString()))
    return code, message, tuple(trailers)


async def _abort(context: Context, exc: Exception, rpc: str) -> NoReturn:
    code, message, trailers = status_of(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("gRPC %s failed", rpc, exc_info=exc)
    await context.abort(code, message, trailing_metadata=trailers)
    raise AssertionError("context.abort returned")  # it raises


def _unary(
    method: Callable[[RecoupGrpc, _Req, Tenant], Awaitable[_Resp]],
) -> Callable[[RecoupGrpc, _Req, Context], Coroutine[Any, Any, _Resp]]:
    """A unary RPC: authenticate, run, and answer every failure with ``status_of``."""

    @functools.wraps(method)
    async def handle(self: RecoupGrpc, request: _Req, context: Context) -> _Resp:
        try:
            tenant = await self.authenticate(context)
            return await method(self, request, tenant)
        except Exception as exc:
            await _abort(context, exc, method.__name__)

    return handle


def _server_stream(
    method: Callable[[RecoupGrpc, _Req, Tenant], AsyncIterator[_Resp]],
) -> Callable[[RecoupGrpc, _Req, Context], AsyncIterator[_Resp]]:
    """A server-streaming RPC, with the same authentication and error mapping."""

    @functools.wraps(method)
    async def handle(self: RecoupGrpc, request: _Req, context: Context) -> AsyncIterator[_Resp]:
        try:
            tenant = await self.authenticate(context)
            async for item in method(self, request, tenant):
                yield item
        except Exception as exc:
            await _abort(context, exc, method.__name__)

    return handle


# --- requests → the service's models -----------------------------------------------


def _model(model: type[_M], values: Mapping[str, object]) -> _M:
    """Validate a request body; a problem becomes INVALID_ARGUMENT naming the field."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        found = problems(exc)
        raise InvalidInput(
            "; ".join(str(p) for p in found) or "invalid request",
            field=found[0].field if found else None,
            problems=found,
        ) from exc


def _identifier(value: str, field: str) -> str:
    try:
        return _IDENTIFIER.validate_python(value)
    except ValidationError:
        raise InvalidInput(
            f"{field} must be 1-128 letters, digits or . _ : - starting with a letter or digit",
            field=field,
            problems=[
                FieldProblem(
                    location="",
                    field=field,
                    message="must be 1-128 letters, digits or . _ : - "
                    "starting with a letter or digit",
                )
            ],
        ) from None


def _present(message: Message, *fields: str) -> dict[str, object]:
    """The ``optional`` fields the caller set (unset ones take the model's default)."""
    return {name: getattr(message, name) for name in fields if message.HasField(name)}


def _when(message: Message, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, field)
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except ValueError as exc:  # seconds or nanos outside what a Timestamp may hold
        raise InvalidInput(
            f"{field} is not a valid timestamp: {exc}",
            field=field,
            problems=[
                FieldProblem(
                    location="",
                    field=field,
                    message="must be an instant from 0001-01-01 to 9999-12-31 "
                    f"(got seconds={stamp.seconds}, nanos={stamp.nanos})",
                )
            ],
        ) from None


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{field} must be a day, YYYY-MM-DD (got {value!r})", field=field
        ) from None


def _record(record: pb.AccountRecord) -> dict[str, object]:
    return dict(record.fields)


def _start_options(
    request: pb.StartCampaignRequest | pb.StartAccountCampaignRequest,
) -> dict[str, object]:
    values: dict[str, object] = {"playbook": request.playbook}
    values |= _present(request, "seconds_per_day")
    values["as_of"] = _day(request.as_of, "as_of")
    if request.default_region:
        values["default_region"] = request.default_region
    return values


# --- the service's models → responses --------------------------------------------


def _timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    return stamp


def _amount(value: Decimal) -> str:
    return format(value, "f")


def account_message(snapshot: CampaignSnapshot) -> pb.Account:
    return pb.Account(
        account_id=snapshot.account_id,
        campaign_id=snapshot.campaign_id,
        playbook=snapshot.playbook,
        status=str(snapshot.status),
        balance=_amount(snapshot.balance),
        amount_paid=_amount(snapshot.amount_paid),
        currency=snapshot.currency,
        steps_done=snapshot.steps_done,
        steps_total=snapshot.steps_total,
        next_action=snapshot.next_action or "",
        next_action_at=_timestamp(snapshot.next_action_at),
        paused=snapshot.paused is not None,
        json=snapshot.model_dump_json(),
    )


def approval_message(approval: Approval) -> pb.Approval:
    return pb.Approval(
        approval_id=approval.approval_id,
        kind=str(approval.kind),
        summary=approval.summary,
        requested_at=_timestamp(approval.requested_at),
        subject_id=approval.subject_id,
        status=str(approval.status),
        decided_at=_timestamp(approval.decided_at),
        decided_by=approval.decided_by or "",
        note=approval.note,
        expires_at=_timestamp(approval.expires_at),
        safe_default=str(approval.safe_default),
        disagreement=approval.disagreement or "",
        proposal=approval.proposal or "",
        alternative=approval.alternative or "",
    )


def event_message(
    event: m.HistoryEvent, account_id: str | None, row: EventRow | None = None
) -> pb.Event:
    message = pb.Event(
        position=event.position,
        message_id=event.message_id,
        kind=event.kind,
        type=event.type,
        status=event.status or "",
        occurred_at=_timestamp(event.occurred_at),
        campaign_id=event.campaign_id or "",
        account_id=account_id or "",
        metadata_json=json.dumps(event.metadata, separators=(",", ":"), default=str),
    )
    if row is not None:
        message.message_json = message_json(row)
    return message


def _accepted(accepted: m.Accepted) -> pb.Accepted:
    return pb.Accepted(workflow_id=accepted.workflow_id, accepted=accepted.accepted)


# --- the servicer --------------------------------------------------------------------


class RecoupGrpc(pb_grpc.RecoupServicer):
    """``recoup.v1.Recoup``: each RPC is the ``RecoupService`` operation of the same name."""

    def __init__(self, service: RecoupService, auth: Authenticator) -> None:
        self.service = service
        self.auth = auth

    async def authenticate(self, context: Context) -> Tenant:
        metadata = {key.lower(): value for key, value in context.invocation_metadata() or ()}
        authorization, api_key = metadata.get("authorization"), metadata.get("x-api-key")
        token = token_from(
            authorization if isinstance(authorization, str) else None,
            api_key if isinstance(api_key, str) else None,
        )
        return await self.auth.tenant(token)

    # --- starting ------------------------------------------------------------

    @_unary
    async def StartCampaign(
        self, request: pb.StartCampaignRequest, tenant: Tenant
    ) -> pb.CampaignStarted:
        values = _start_options(request)
        values["accounts"] = [_record(a) for a in request.accounts]
        values |= _present(request, "window")
        if request.campaign_id:
            values["campaign_id"] = request.campaign_id
        if len(request.idempotency_key) > 200:
            raise InvalidInput("idempotency_key is longer than 200", field="idempotency_key")
        body = _model(m.StartCampaign, values)
        try:
            started = await self.service.start_campaign(
                tenant, body, request.idempotency_key or None, key_field="idempotency_key"
            )
        except Conflict as exc:
            raise _AlreadyExists(exc.detail, field=exc.field, problems=exc.problems) from exc
        return pb.CampaignStarted(
            campaign_id=started.campaign_id,
            workflow_id=started.workflow_id,
            run_id=started.run_id or "",
            accepted=started.accepted,
            rejected=[
                pb.FieldProblem(location=p.location, field=p.field, message=p.message)
                for p in started.rejected
            ],
        )

    @_unary
    async def StartAccountCampaign(
        self, request: pb.StartAccountCampaignRequest, tenant: Tenant
    ) -> pb.AccountCampaignStarted:
        values = _start_options(request)
        values["campaign_id"] = request.campaign_id
        values["account"] = _record(request.account)
        started = await self.service.start_account_campaign(
            tenant, _model(m.StartAccountCampaign, values)
        )
        return pb.AccountCampaignStarted(
            campaign_id=started.campaign_id,
            account_id=started.account_id,
            workflow_id=started.workflow_id,
            run_id=started.run_id or "",
        )

    # --- reading -------------------------------------------------------------

    @_unary
    async def GetCampaign(self, request: pb.GetCampaignRequest, tenant: Tenant) -> pb.Campaign:
        view = await self.service.campaign(tenant, _identifier(request.campaign_id, "campaign_id"))
        return pb.Campaign(
            campaign_id=view.campaign_id,
            recovery_rate=view.recovery_rate,
            json=view.model_dump_json(),
        )

    @_unary
    async def GetAccount(self, request: pb.GetAccountRequest, tenant: Tenant) -> pb.Account:
        snapshot = await self.service.account(tenant, _identifier(request.account_id, "account_id"))
        return account_message(snapshot)

    @_unary
    async def GetAccountHistory(
        self, request: pb.GetAccountHistoryRequest, tenant: Tenant
    ) -> pb.AccountHistory:
        account_id = _identifier(request.account_id, "account_id")
        limit = request.limit if request.HasField("limit") else 200
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be 1-1000 (got {limit})", field="limit")
        # ``after`` (int64) is checked by the service: 0 and up, as on HTTP.
        history = await self.service.history(tenant, account_id, request.after, limit)
        return pb.AccountHistory(
            account_id=history.account_id,
            events=[event_message(e, account_id) for e in history.events],
            next_after=history.next_after,
        )

    @_server_stream
    async def StreamEvents(
        self, request: pb.StreamEventsRequest, tenant: Tenant
    ) -> AsyncIterator[pb.Event]:
        campaign_id = (
            _identifier(request.campaign_id, "campaign_id") if request.campaign_id else None
        )
        types = list(request.types)
        for i, kind in enumerate(types):
            if not 1 <= len(kind) <= 64:
                raise InvalidInput(f"types[{i}] must be 1-64 characters", field=f"types[{i}]")
        follow = request.follow if request.HasField("follow") else True
        if request.HasField("after"):
            after = request.after  # the service refuses a negative one, as on HTTP
        else:
            after = await asyncio.to_thread(self.service.last_position)
        async for row in self.service.tail(tenant, after, campaign_id, types, follow):
            if row is not None:  # None: an idle poll (gRPC notices a gone client itself)
                yield event_message(history_event(row), row.customer_id, row)

    # --- steering an account -----------------------------------------------

    @_unary
    async def RecordPayment(self, request: pb.RecordPaymentRequest, tenant: Tenant) -> pb.Accepted:
        body = _model(
            m.PaymentIn,
            {
                "payment_id": request.payment_id,
                "amount": request.amount,
                "currency": request.currency,
                "paid_at": _when(request, "paid_at"),
            },
        )
        account_id = _identifier(request.account_id, "account_id")
        return _accepted(await self.service.record_payment(tenant, account_id, body))

    @_unary
    async def RecordReply(self, request: pb.RecordReplyRequest, tenant: Tenant) -> pb.Accepted:
        body = _model(
            m.ReplyIn,
            {
                "reply_id": request.reply_id,
                "channel": request.channel,
                "text": request.text,
                "received_at": _when(request, "received_at"),
            },
        )
        account_id = _identifier(request.account_id, "account_id")
        return _accepted(await self.service.record_reply(tenant, account_id, body))

    @_unary
    async def OpenDispute(self, request: pb.OpenDisputeRequest, tenant: Tenant) -> pb.Accepted:
        body = _model(
            m.DisputeIn, {"note": request.note, "received_at": _when(request, "received_at")}
        )
        account_id = _identifier(request.account_id, "account_id")
        return _accepted(await self.service.open_dispute(tenant, account_id, body))

    @_unary
    async def RecordCease(self, request: pb.RecordCeaseRequest, tenant: Tenant) -> pb.Accepted:
        body = _model(
            m.CeaseIn,
            {
                "attorney": request.attorney,
                "note": request.note,
                "received_at": _when(request, "received_at"),
            },
        )
        account_id = _identifier(request.account_id, "account_id")
        return _accepted(await self.service.cease(tenant, account_id, body))

    @_unary
    async def RecordOptOut(self, request: pb.RecordOptOutRequest, tenant: Tenant) -> pb.Accepted:
        body = _model(
            m.OptOutIn, {"channel": request.channel} | _present(request, "address", "reason")
        )
        account_id = _identifier(request.account_id, "account_id")
        return _accepted(await self.service.opt_out(tenant, account_id, body))

    @_unary
    async def PauseAccount(self, request: pb.PauseAccountRequest, tenant: Tenant) -> pb.Accepted:
        body = _model(m.PauseIn, _present(request, "reason", "operator"))
        account_id = _identifier(request.account_id, "account_id")
        return _accepted(await self.service.pause_account(tenant, account_id, body))

    @_unary
    async def ResumeAccount(self, request: pb.ResumeAccountRequest, tenant: Tenant) -> pb.Accepted:
        body = _model(m.ResumeIn, _present(request, "operator", "note"))
        account_id = _identifier(request.account_id, "account_id")
        return _accepted(await self.service.resume_account(tenant, account_id, body))

    # --- steering a campaign -------------------------------------------------

    @_unary
    async def PauseCampaign(self, request: pb.PauseCampaignRequest, tenant: Tenant) -> pb.Accepted:
        body = _model(m.PauseIn, _present(request, "reason", "operator"))
        campaign_id = _identifier(request.campaign_id, "campaign_id")
        return _accepted(await self.service.pause_campaign(tenant, campaign_id, body))

    @_unary
    async def ResumeCampaign(
        self, request: pb.ResumeCampaignRequest, tenant: Tenant
    ) -> pb.Accepted:
        body = _model(m.ResumeIn, _present(request, "operator", "note"))
        campaign_id = _identifier(request.campaign_id, "campaign_id")
        return _accepted(await self.service.resume_campaign(tenant, campaign_id, body))

    # --- approvals -------------------------------------------------------------

    @_unary
    async def ListApprovals(
        self, request: pb.ListApprovalsRequest, tenant: Tenant
    ) -> pb.ApprovalList:
        listed = await self.service.approvals(tenant)
        return pb.ApprovalList(
            approvals=[
                pb.PendingApproval(
                    account_id=p.account_id,
                    campaign_id=p.campaign_id,
                    approval=approval_message(p.approval),
                )
                for p in listed.approvals
            ]
        )

    @_unary
    async def DecideApproval(
        self, request: pb.DecideApprovalRequest, tenant: Tenant
    ) -> pb.Approval:
        body = _model(
            m.DecisionIn, {"approve": request.approve} | _present(request, "operator", "note")
        )
        account_id = _identifier(request.account_id, "account_id")
        approval_id = _identifier(request.approval_id, "approval_id")
        return approval_message(await self.service.decide(tenant, account_id, approval_id, body))


# --- the server ----------------------------------------------------------------------

# The port each started server is bound to (port 0 picks a free one).
_PORTS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def bound_port(server: grpc.aio.Server) -> int:
    """The port ``start_grpc`` bound ``server`` to."""
    return _PORTS[server]


async def start_grpc(
    service: RecoupService, auth: Authenticator, host: str, port: int
) -> grpc.aio.Server:
    """Serve ``recoup.v1.Recoup``, health and reflection on ``host:port``; started.

    ``port`` 0 picks a free port: ``bound_port(server)`` tells which. Stop it with
    ``await server.stop(grace)``.
    """
    server = grpc.aio.server(
        options=[
            # Without this, a second server on the same port would start silently.
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
    )
    pb_grpc.add_RecoupServicer_to_server(RecoupGrpc(service, auth), server)
    checks = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    for name in ("", SERVICE_NAME):
        await checks.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"gRPC cannot listen on {address}: {exc}") from exc
    if not bound:
        raise OSError(f"gRPC cannot listen on {address}")
    await server.start()
    _PORTS[server] = bound
    log.info("gRPC API (%s) listening on %s:%s", SERVICE_NAME, host, bound)
    return server


__all__ = [
    "SERVICE_NAME",
    "RecoupGrpc",
    "bound_port",
    "start_grpc",
    "status_of",
]
