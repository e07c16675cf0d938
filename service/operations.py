"""The operations the HTTP and gRPC APIs offer, written once, for one tenant at a time.

Every method takes the tenant the caller's key belongs to (never one from the
body) and touches only that tenant's workflows and rows: workflow ids embed the
tenant id, SQL reads filter on it, visibility queries name it. Anything of
another tenant is therefore simply not found, and answered as such.

Errors are ``ServiceError`` subclasses that name the field at fault; the HTTP
layer turns them into problem+json, the gRPC layer into status codes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from adapters.event_log import MAX_POSITION, EventLog, EventRow
from adapters.inbound import InboundStore
from adapters.playbook_files import EXTENSIONS as PLAYBOOK_EXTENSIONS
from adapters.playbook_files import PlaybookError, load_playbook
from adapters.portfolio_file import parse_records
from adapters.portfolio_store import PortfolioStoreError, RequestMismatch
from adapters.report import campaign_report
from adapters.suppressions import SuppressionStore
from adapters.tenants import TenantStore
from bootstrap.root import Root
from bootstrap.settings import Settings
from bootstrap.tracing import current_trace_id
from domain import names
from domain.account import Tenant
from domain.campaign import (
    CampaignSnapshot,
    InboundReply,
    OptOutRequest,
    PaymentReceived,
    account_workflow_id,
    portfolio_workflow_id,
)
from domain.compliance.facts import LegalEvent, LegalEventKind
from domain.errors import FieldProblem
from domain.operator import (
    Approval,
    ApprovalDecision,
    ApprovalStatus,
    CancelRequest,
    LaunchAction,
    PauseRequest,
    ResumeRequest,
)
from domain.playbook import Playbook
from domain.portfolio import PortfolioStatus
from service import models as m
from service.campaigns import counted_now, launch_portfolio, start_account_campaign
from service.errors import AccountCampaignEnded, NoAccountCampaign, NoSuchCampaign
from service.revocations import Revocations
from service.steering import BatchFailed, steer_campaign
from workflows import search_attributes as sa

# The live stream reads the event log a page at a time, and polls it when idle.
TAIL_PAGE = 500
TAIL_POLL_SECONDS = 0.5

# A query needs a worker to answer it; without one the API says so instead of hanging.
QUERY_TIMEOUT = timedelta(seconds=10)


class ServiceError(Exception):
    """An operation that cannot be done; ``field`` names the input at fault, if one is."""

    status = 400
    title = "Bad request"

    def __init__(
        self, detail: str, *, field: str | None = None, problems: list[FieldProblem] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.problems = problems or []


class InvalidParameter(ServiceError):
    """A malformed parameter (a cursor out of range): the request, not its content."""

    status = 400
    title = "Bad request"


class InvalidInput(ServiceError):
    status = 422
    title = "Invalid input"


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class Unavailable(ServiceError):
    status = 503
    title = "Temporal is unavailable"


@dataclass
class RecoupService:
    client: Client
    settings: Settings
    tenants: TenantStore
    inbound: InboundStore
    events: EventLog
    # Revocations are stored before the campaign is told (service.revocations).
    suppressions: SuppressionStore
    revocations: Revocations = field(init=False)
    # What made the stores, and closes them (``close``); None when the caller owns them.
    root: Root | None = None
    # Parsed playbooks by name, with the stamp of their files (``_playbook``).
    _playbooks: dict[str, tuple[tuple[tuple[int, int, int] | None, ...], Playbook]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self.revocations = Revocations(self.suppressions)

    @classmethod
    def build(cls, client: Client, settings: Settings, root: Root | None = None) -> RecoupService:
        """The service over ``root``'s stores (a new root of ``settings`` when none is given)."""
        root = root or Root(settings, client=client)
        return cls(
            client=client,
            settings=settings,
            tenants=root.tenants,
            inbound=root.inbound,
            events=root.events,
            suppressions=root.suppressions,
            root=root,
        )

    async def prepare(self) -> None:
        """Bring the database to the latest schema (once, at start-up)."""
        await asyncio.to_thread(self.tenants.create_tables)

    async def aclose(self) -> None:
        """Close the stores (through the root that made them)."""
        if self.root is not None:
            await self.root.aclose()
        else:
            self.close()

    def close(self) -> None:
        if self.root is not None:
            self.root.close()
            return
        self.tenants.dispose()
        self.inbound.dispose()
        self.events.dispose()
        self.suppressions.dispose()

    # --- starting ------------------------------------------------------------

    async def start_campaign(
        self,
        tenant: Tenant,
        request: m.StartCampaign,
        idempotency_key: str | None = None,
        key_field: str = "Idempotency-Key",
    ) -> m.CampaignStarted:
        """Start a portfolio campaign; a retry with the same id or key returns the first.

        A retry must repeat the whole request: a campaign id or key reused with any
        other body is a ``Conflict`` naming what differs. ``key_field`` is what the
        caller's transport calls the key (the HTTP header, gRPC's field).
        """
        playbook = self._playbook(request.playbook)
        parsed = await asyncio.to_thread(
            parse_records,
            request.accounts,
            as_of=request.as_of or datetime.now(UTC).date(),
            default_region=request.default_region,
            latest_due=self.settings.latest_due_date(),
        )
        if not parsed.accounts:
            raise InvalidInput(
                "no valid account in the request", field="accounts", problems=parsed.problems
            )
        campaign_id = request.campaign_id or _campaign_id(tenant, idempotency_key)
        # What names the campaign: the body's campaign_id, else the key it came from.
        named_by = "campaign_id" if request.campaign_id or not idempotency_key else key_field
        try:
            handle = await self._temporal(
                launch_portfolio(
                    self.client,
                    self.settings,
                    tenant=tenant,
                    campaign_id=campaign_id,
                    playbook=playbook,
                    accounts=parsed.accounts,
                    seconds_per_day=request.seconds_per_day,
                    starts_in_flight=request.window,
                    trace_id=current_trace_id(),
                    request=start_request(request),
                    root=self.root,
                )
            )
        except RequestMismatch as exc:
            raise _replay_conflict(exc, named_by) from exc
        except PortfolioStoreError as exc:
            raise Conflict(
                f"campaign {campaign_id!r} exists with other accounts: {exc}", field=named_by
            ) from exc
        return m.CampaignStarted(
            campaign_id=campaign_id,
            workflow_id=handle.id,
            run_id=handle.result_run_id,
            accepted=len(parsed.accounts),
            rejected=parsed.problems,
        )

    async def start_account_campaign(
        self, tenant: Tenant, request: m.StartAccountCampaign
    ) -> m.AccountCampaignStarted:
        """Start one account's campaign; a second start for the account attaches to it."""
        playbook = self._playbook(request.playbook)
        # One record parses in well under a millisecond: inline, not worth a thread hop
        # (a hop cost a start several milliseconds on a busy machine: bench.latency).
        parsed = parse_records(
            [request.account],
            as_of=request.as_of or datetime.now(UTC).date(),
            default_region=request.default_region,
            location="account",
            latest_due=self.settings.latest_due_date(),
        )
        if not parsed.accounts:
            problems = [p.model_copy(update={"location": "account"}) for p in parsed.problems]
            raise InvalidInput(
                "the account is not valid",
                field=f"account.{problems[0].field}" if problems else "account",
                problems=problems,
            )
        account = parsed.accounts[0]
        handle = await self._temporal(
            start_account_campaign(
                self.client,
                self.settings,
                tenant=tenant,
                campaign_id=request.campaign_id,
                playbook=playbook,
                account=account,
                seconds_per_day=request.seconds_per_day,
                trace_id=current_trace_id(),
                inbound=self.inbound,  # the service's own index: no engine per start
            )
        )
        return m.AccountCampaignStarted(
            campaign_id=request.campaign_id,
            account_id=account.account_id,
            workflow_id=handle.id,
            run_id=handle.result_run_id,
        )

    # --- reading -------------------------------------------------------------

    async def campaign(self, tenant: Tenant, campaign_id: str) -> m.CampaignView:
        progress: PortfolioStatus | None = None
        handle = self.client.get_workflow_handle(
            portfolio_workflow_id(tenant.tenant_id, campaign_id)
        )
        try:
            progress = await handle.query(
                names.QUERY_PROGRESS, result_type=PortfolioStatus, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise Unavailable(str(exc)) from exc
        report = await asyncio.to_thread(
            campaign_report, self.events.engine, campaign_id, tenant.tenant_id
        )
        if progress is not None:
            progress = await counted_now(self.client, self.settings, self.events, progress)
        if progress is None and report.accounts == 0:
            raise NotFound(f"no campaign {campaign_id!r}", field="campaign_id")
        return m.CampaignView(
            campaign_id=campaign_id,
            progress=progress,
            report=report if report.accounts else None,
            recovery_rate=report.recovery_rate,
        )

    async def account(self, tenant: Tenant, account_id: str) -> CampaignSnapshot:
        handle = self._account(tenant, account_id)
        try:
            snapshot: CampaignSnapshot = await handle.query(
                names.QUERY_STATUS, result_type=CampaignSnapshot, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as exc:
            raise self._rpc_error(exc, tenant, account_id) from exc
        except WorkflowQueryFailedError as exc:
            # The workflow could not run the query (its task fails): it exists, and
            # cannot answer now. Not the caller's fault, so not a 4xx; not a bug here.
            raise Unavailable(
                f"the campaign of account {account_id!r} cannot answer: {exc}"
            ) from exc
        return snapshot

    async def history(
        self, tenant: Tenant, account_id: str, after: int = 0, limit: int = 200
    ) -> m.AccountHistory:
        """The account's exported events, oldest first, ``limit`` after position ``after``."""
        _cursor(after, "after")
        rows = await asyncio.to_thread(
            self.events.read_after,
            after,
            limit,
            tenant_id=tenant.tenant_id,
            customer_id=account_id,
        )
        if not rows and after == 0:
            await self.account(tenant, account_id)  # 404 unless the campaign exists
        return m.AccountHistory(
            account_id=account_id,
            events=[history_event(r) for r in rows],
            next_after=rows[-1].position or after if rows else after,
        )

    async def tail(
        self,
        tenant: Tenant,
        after: int,
        campaign_id: str | None = None,
        types: Iterable[str] = (),
        follow: bool = True,
    ) -> AsyncIterator[EventRow | None]:
        """The tenant's events after position ``after``, in log order (the live stream).

        With ``follow`` it polls for new ones for ever, yielding None after each idle
        poll so the caller can send a keep-alive or notice its client has gone.
        """
        _cursor(after, "after")
        kinds = list(types)
        while True:
            rows = await asyncio.to_thread(
                self.events.read_after,
                after,
                TAIL_PAGE,
                tenant_id=tenant.tenant_id,
                campaign_id=campaign_id,
                types=kinds,
            )
            for row in rows:
                after = row.position or after
                yield row
            if rows:
                continue  # a full page may have more behind it
            if not follow:
                return
            yield None
            await asyncio.sleep(TAIL_POLL_SECONDS)

    def last_position(self) -> int:
        return self.events.last_position()

    # --- steering an account -----------------------------------------------

    async def record_payment(
        self,
        tenant: Tenant,
        account_id: str,
        body: m.PaymentIn,
        source: str = "api",
        check_currency: bool = True,
    ) -> m.Accepted:
        """``source`` says where it came from: the API, or a provider's webhook.

        A payment in another currency than the account's is refused (``InvalidInput``
        naming ``currency``): the campaign would ignore it, and the caller would never
        know. The account's currency is asked of the campaign itself (its status
        query), the one authority on it. ``check_currency=False`` skips that round
        trip for callers that made the payment in the account's currency themselves.
        """
        if check_currency:
            snapshot = await self.account(tenant, account_id)
            if body.currency != snapshot.currency:
                raise InvalidInput(
                    f"account {account_id!r} is in {snapshot.currency}: a payment in "
                    f"{body.currency} cannot be applied to it",
                    field="currency",
                    problems=[
                        FieldProblem(
                            location="",
                            field="currency",
                            message=f"must be {snapshot.currency}, the account's currency "
                            f"(got {body.currency!r})",
                        )
                    ],
                )
        payment = PaymentReceived(
            payment_id=body.payment_id,
            amount=body.amount,
            currency=body.currency,
            paid_at=body.paid_at,
            source=source,
        )
        return await self._signal(tenant, account_id, names.SIGNAL_PAYMENT, payment)

    # Revocations (a STOP, a cease, a dispute ...) are stored before the campaign is told:
    # a send already on its way checks the store (``source``/``ref`` say where it came
    # from, so that a redelivery is stored once).

    async def record_reply(
        self, tenant: Tenant, account_id: str, body: m.ReplyIn, source: str = "api"
    ) -> m.Accepted:
        reply = InboundReply(
            reply_id=body.reply_id,
            channel=body.channel,
            text=body.text,
            from_address=body.from_address,
            received_at=body.received_at or datetime.now(UTC),
        )
        await self.revocations.reply(tenant.tenant_id, account_id, reply, source=source)
        return await self._signal(tenant, account_id, names.SIGNAL_REPLY, reply)

    async def open_dispute(
        self, tenant: Tenant, account_id: str, body: m.DisputeIn, source: str = "api"
    ) -> m.Accepted:
        event = LegalEvent(
            kind=LegalEventKind.DISPUTE,
            note=body.note,
            received_at=body.received_at or datetime.now(UTC),
        )
        return await self.legal_event(tenant, account_id, event, source)

    async def cease(
        self, tenant: Tenant, account_id: str, body: m.CeaseIn, source: str = "api"
    ) -> m.Accepted:
        event = LegalEvent(
            kind=LegalEventKind.ATTORNEY if body.attorney else LegalEventKind.CEASE,
            note=body.note,
            received_at=body.received_at or datetime.now(UTC),
        )
        return await self.legal_event(tenant, account_id, event, source)

    async def legal_event(
        self, tenant: Tenant, account_id: str, event: LegalEvent, source: str = "api"
    ) -> m.Accepted:
        stored = await self.revocations.legal_event(
            tenant.tenant_id, account_id, event, source=source
        )
        return await self._signal(tenant, account_id, names.SIGNAL_LEGAL, stored)

    async def opt_out(
        self,
        tenant: Tenant,
        account_id: str,
        body: m.OptOutIn,
        source: str = "api",
        ref: str | None = None,
    ) -> m.Accepted:
        request = OptOutRequest(channel=body.channel, address=body.address, reason=body.reason)
        stored = await self.revocations.opt_out(
            tenant.tenant_id, account_id, request, source=source, ref=ref
        )
        return await self._signal(tenant, account_id, names.SIGNAL_OPT_OUT, stored)

    async def pause_account(self, tenant: Tenant, account_id: str, body: m.PauseIn) -> m.Accepted:
        request = PauseRequest(reason=body.reason, operator=body.operator)
        return await self._signal(tenant, account_id, names.SIGNAL_PAUSE, request)

    async def resume_account(self, tenant: Tenant, account_id: str, body: m.ResumeIn) -> m.Accepted:
        request = ResumeRequest(operator=body.operator, note=body.note)
        return await self._signal(tenant, account_id, names.SIGNAL_RESUME, request)

    # --- steering a campaign -------------------------------------------------

    async def pause_campaign(
        self, tenant: Tenant, campaign_id: str, body: m.PauseIn, *, wait: bool = False
    ) -> m.CampaignSteered:
        """Hold the campaign's launcher and pause every running account of it (batch)."""
        request = PauseRequest(reason=body.reason, operator=body.operator)
        return await self._steer(tenant, campaign_id, LaunchAction.PAUSE, request, wait)

    async def resume_campaign(
        self, tenant: Tenant, campaign_id: str, body: m.ResumeIn, *, wait: bool = False
    ) -> m.CampaignSteered:
        request = ResumeRequest(operator=body.operator, note=body.note)
        return await self._steer(tenant, campaign_id, LaunchAction.RESUME, request, wait)

    async def cancel_campaign(
        self, tenant: Tenant, campaign_id: str, body: m.CancelIn, *, wait: bool = False
    ) -> m.CampaignSteered:
        """Stop the launcher for good and end every running account as cancelled."""
        request = CancelRequest(reason=body.reason, operator=body.operator)
        return await self._steer(tenant, campaign_id, LaunchAction.CANCEL, request, wait)

    # --- approvals -------------------------------------------------------------

    async def approvals(self, tenant: Tenant) -> m.ApprovalList:
        """Every decision the tenant's running campaigns wait for, oldest first."""
        query = (
            f"{sa.TENANT.name} = {_quoted(tenant.tenant_id)} AND "
            f"{sa.AWAITING_APPROVAL.name} = true AND ExecutionStatus = 'Running'"
        )
        found: list[m.PendingApproval] = []
        try:
            async for execution in self.client.list_workflows(query, limit=1000):
                if execution.status is not WorkflowExecutionStatus.RUNNING:
                    continue
                handle = self.client.get_workflow_handle(execution.id)
                try:
                    snap: CampaignSnapshot = await handle.query(
                        names.QUERY_STATUS, result_type=CampaignSnapshot
                    )
                except RPCError:
                    continue  # finished between the list and the query
                found.extend(
                    m.PendingApproval(
                        account_id=snap.account_id, campaign_id=snap.campaign_id, approval=a
                    )
                    for a in snap.approvals
                    if a.status is ApprovalStatus.PENDING
                )
        except RPCError as exc:
            raise Unavailable(str(exc)) from exc
        found.sort(key=lambda p: p.approval.requested_at)
        return m.ApprovalList(approvals=found)

    async def decide(
        self, tenant: Tenant, account_id: str, approval_id: str, body: m.DecisionIn
    ) -> Approval:
        handle = self._account(tenant, account_id)
        decision = ApprovalDecision(
            approval_id=approval_id, approve=body.approve, operator=body.operator, note=body.note
        )
        try:
            approval: Approval = await handle.execute_update(
                names.UPDATE_DECIDE_APPROVAL, decision, result_type=Approval
            )
        except WorkflowUpdateFailedError as exc:
            raise NotFound(str(exc.cause or exc), field="approval_id") from exc
        except RPCError as exc:
            raise self._rpc_error(exc, tenant, account_id) from exc
        return approval

    # --- helpers ---------------------------------------------------------------

    def _playbook(self, name: str) -> Playbook:
        """The named playbook, parsed once and reused until one of its files changes.

        Parsing the YAML and validating it took most of a start request's own time
        (``bench.latency``); a stat of the candidate files is all a start pays now.
        The cached model is shared by requests: nothing on the start path mutates it.
        """
        if "/" in name or name.startswith("."):
            raise InvalidInput("give the name of a shipped playbook", field="playbook")
        stamp = self._playbook_stamp(name)
        cached = self._playbooks.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            playbook = load_playbook(name, search_dir=self.settings.playbook_dir)
        except PlaybookError as exc:
            raise InvalidInput(f"playbook {name!r}: {exc}", field="playbook") from exc
        self._playbooks[name] = (stamp, playbook)
        return playbook

    def _playbook_stamp(self, name: str) -> tuple[tuple[int, int, int] | None, ...]:
        """(inode, mtime, size) of each file ``load_playbook`` would look at for ``name``."""
        stamp: list[tuple[int, int, int] | None] = []
        for extension in PLAYBOOK_EXTENSIONS:
            try:
                found = (self.settings.playbook_dir / f"{name}{extension}").stat()
            except OSError:
                stamp.append(None)
            else:
                stamp.append((found.st_ino, found.st_mtime_ns, found.st_size))
        return tuple(stamp)

    def _account(self, tenant: Tenant, account_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(account_workflow_id(tenant.tenant_id, account_id))

    async def _signal(
        self, tenant: Tenant, account_id: str, signal: str, arg: BaseModel
    ) -> m.Accepted:
        handle = self._account(tenant, account_id)
        try:
            await handle.signal(signal, arg)
        except RPCError as exc:
            raise self._rpc_error(exc, tenant, account_id) from exc
        return m.Accepted(workflow_id=handle.id)

    async def _steer(
        self,
        tenant: Tenant,
        campaign_id: str,
        action: LaunchAction,
        request: PauseRequest | ResumeRequest | CancelRequest,
        wait: bool,
    ) -> m.CampaignSteered:
        try:
            steered = await steer_campaign(
                self.client, tenant.tenant_id, campaign_id, action, request, wait=wait
            )
        except NoSuchCampaign as exc:
            raise NotFound(str(exc), field="campaign_id") from exc
        except (BatchFailed, RPCError) as exc:
            raise Unavailable(str(exc)) from exc
        return m.CampaignSteered(
            workflow_id=f"campaign/{tenant.tenant_id}/{campaign_id}", **steered.model_dump()
        )

    def _rpc_error(self, exc: RPCError, tenant: Tenant, account_id: str) -> ServiceError:
        # The words of service.errors, so the APIs and the CLI say the same.
        if exc.status is RPCStatusCode.NOT_FOUND:
            if "completed" in exc.message or "closed" in exc.message:
                ended = AccountCampaignEnded(tenant.tenant_id, account_id)
                return Conflict(str(ended), field="account_id")
            missing = NoAccountCampaign(tenant.tenant_id, account_id)
            return NotFound(str(missing), field="account_id")
        if exc.status is RPCStatusCode.INVALID_ARGUMENT:
            return InvalidInput(exc.message)
        return Unavailable(f"{exc.status.name}: {exc.message}")

    async def _temporal(self, call: Any) -> Any:
        try:
            return await call
        except RPCError as exc:
            raise Unavailable(f"{exc.status.name}: {exc.message}") from exc


def history_event(row: EventRow) -> m.HistoryEvent:
    record = json.loads(row.record)
    body = record.get("body", {})
    inner = body.get("event") or body.get("command") or {}
    return m.HistoryEvent(
        position=row.position or 0,
        message_id=row.message_id,
        kind=row.kind,
        type=row.type,
        status=inner.get("status") if isinstance(inner, dict) else None,
        occurred_at=row.occurred_at,
        campaign_id=row.campaign_id,
        metadata=inner.get("metadata", {}) if isinstance(inner, dict) else {},
    )


def message_json(row: EventRow) -> str:
    """The exported message of an event-log row, as compact JSON (what a sink publishes)."""
    return json.dumps(json.loads(row.record)["body"], separators=(",", ":"))


def start_request(request: m.StartCampaign) -> dict[str, object]:
    """The normalized start request a replay must repeat (``PortfolioStore.save``).

    Every field of the body but the campaign id (it names the campaign): values as
    validated, so ``600`` and ``600.0`` or a default left out and given are the same;
    the account records (PII) only as a digest of their canonical JSON, with their
    count, for the message when they differ.
    """
    records = json.dumps(request.accounts, sort_keys=True, separators=(",", ":"), default=str)
    return {
        "playbook": request.playbook,
        "seconds_per_day": request.seconds_per_day,
        "window": request.window,
        "as_of": request.as_of.isoformat() if request.as_of else None,
        "default_region": request.default_region.upper(),
        "accounts": {
            "records": len(request.accounts),
            "sha256": hashlib.sha256(records.encode()).hexdigest(),
        },
    }


def _replay_conflict(exc: RequestMismatch, named_by: str) -> Conflict:
    """409 naming the reused id or key, then each field that differs from the first request."""
    if named_by == "campaign_id":
        subject, fresh = f"campaign_id {exc.campaign_id!r}", "campaign_id"
    else:
        subject, fresh = f"this {named_by}", "key"
    found = [
        FieldProblem(
            location="",
            field=named_by,
            message=f"already used for another request: a new campaign needs a new {fresh}",
        )
    ]
    for name, (first, now) in exc.differences.items():
        if name == "accounts":
            before = first.get("records") if isinstance(first, dict) else None
            after = now.get("records") if isinstance(now, dict) else None
            counts = f" ({before} records then, {after} now)" if before != after else ""
            message = f"other account records than the first request's{counts}"
        else:
            message = f"{_shown(now)} differs from the first request's {_shown(first)}"
        found.append(FieldProblem(location="", field=name, message=message))
    differing = ", ".join(exc.differences)
    return Conflict(
        f"{subject} was first used for another request ({differing} differ): "
        f"a retry must repeat the request, a new campaign needs a new {fresh}",
        field=named_by,
        problems=found,
    )


def _shown(value: object) -> str:
    return "not given" if value is None else repr(value)


def _cursor(position: int, field: str) -> None:
    """A cursor into the event log lies in 0..MAX_POSITION (a signed 64-bit integer)."""
    if not 0 <= position <= MAX_POSITION:
        raise InvalidParameter(
            f"{field} must be 0 to {MAX_POSITION} (got {position})",
            field=field,
            problems=[
                FieldProblem(
                    location="",
                    field=field,
                    message=f"must be 0 to {MAX_POSITION}, a position in the event log "
                    f"(got {position})",
                )
            ],
        )


def _campaign_id(tenant: Tenant, idempotency_key: str | None) -> str:
    """A retried request with the same key names the same campaign (hence workflow)."""
    if idempotency_key is None:
        return f"api-{uuid.uuid4().hex[:16]}"
    digest = hashlib.sha256(f"{tenant.tenant_id}\x00{idempotency_key}".encode()).hexdigest()
    return f"api-{digest[:16]}"


_quoted = sa.quoted
