"""A local stand-in for the creditor's CRM/ledger API, where arrangements are booked.

A small JSON REST API with Bearer-token auth: post an adjustment to an account
(a settlement, a payment plan, a fee …), reverse it, list an account's
adjustments, read the account. POSTs honour ``Idempotency-Key`` (the first
response is replayed; the key with another request is a 409), errors are
``{"error": {"code", "message", "field"}}`` and ``fail_next`` injects outages,
so ``adapters.ledger.LedgerClient`` can be tested against every answer a real
CRM gives.

The account's record is also the research agent's CRM record
(``adapters.crm_records``): besides balance and currency it shows the profile
fields given to ``seed_account`` (``PROFILE_FIELDS``: preferred channel and
contact time, language, do-not-call, notes, dispute or hardship on file,
customer since), checked when seeded, and ``update_account`` changes them. An
account seeded for a tenant is also served under
``/v1/tenants/{tenant_id}/accounts/{account_id}``, for deployments whose CRM
scopes accounts by creditor.

Balances: an adjustment credits the account (lowers what the debtor owes) by
its amount, except charges (``fee``, ``interest``), which raise it, and a
``payment_plan``, which books the plan's amount under an arrangement and leaves
the balance as it is; a reversed adjustment counts for nothing. Accounts need not be seeded to take
adjustments, but only ``seed_account`` gives them a readable record, a
currency that adjustments must match, and a balance credits may not exceed.
"""

from __future__ import annotations

import hmac
import json
import secrets
import string
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.http import IdempotencyMismatch, JsonApiSimulator, StoredResponse

DEFAULT_API_KEY = "crm_test_simulator"

AdjustmentKind = Literal[
    "settlement", "payment_plan", "payment", "discount", "write_off", "fee", "interest"
]
CHARGE_KINDS = frozenset({"fee", "interest"})
# Booked for the record: the debt is as large as before, only its terms changed.
MEMO_KINDS = frozenset({"payment_plan"})
_MAX_DIGITS = 15
_MAX_DECIMALS = 2
_ALPHABET = string.ascii_lowercase + string.digits
_RESERVED = frozenset({"account_id", "balance", "currency"})
_CENT = Decimal("0.01")
_CHANNELS = frozenset({"email", "sms", "phone"})
# The CRM record's profile fields and what each must be (JSON types).
PROFILE_FIELDS: dict[str, str] = {
    "preferred_channel": "one of email, sms, phone, or null",
    "preferred_contact_time": "text, e.g. 'evenings' or '18:00-20:00'",
    "language": "a language code, e.g. 'es'",
    "do_not_call": "boolean",
    "dispute_on_file": "boolean",
    "hardship_on_file": "boolean",
    "notes": "a list of short texts",
    "customer_since": "an ISO date, e.g. '2019-04-01'",
}

_M = TypeVar("_M", bound=BaseModel)


class SimulatedAdjustment(BaseModel):
    """An adjustment as the CRM holds it; ``status`` turns ``reversed`` once."""

    id: str
    account_id: str
    kind: AdjustmentKind
    amount: Decimal
    currency: str
    reference: str
    memo: str
    status: Literal["posted", "reversed"] = "posted"
    created_at: datetime
    reversed_at: datetime | None = None
    reversal_reason: str | None = None


class SimulatedAccount(BaseModel):
    """A seeded account: its balance before any adjustment, and whatever else the CRM shows."""

    account_id: str
    opening_balance: Decimal
    currency: str
    extra: dict[str, Any]
    tenant_id: str | None = None


class _AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: AdjustmentKind
    # A string, never a JSON number: floats cannot carry cents exactly.
    amount: Annotated[str, StringConstraints(pattern=r"^\d+(\.\d+)?$")]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    reference: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    memo: Annotated[str, StringConstraints(max_length=1000)] = ""


class _ReversalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class _CrmError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


Operation = Callable[[Any, dict[str, str]], tuple[int, dict[str, Any]]]


class CrmSimulator(JsonApiSimulator):
    """The CRM/ledger API on the running event loop (uvicorn).

    ``adjustments`` (by id) and ``accounts`` show its state; ``executed``
    counts requests that really ran by operation, replays excluded.
    """

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        self.adjustments: dict[str, SimulatedAdjustment] = {}
        self.accounts: dict[str, SimulatedAccount] = {}
        self.executed: Counter[str] = Counter()
        super().__init__(self._build_app(), name="CRM simulator")

    # -- scripting ---------------------------------------------------------

    def seed_account(
        self,
        account_id: str,
        balance: Decimal | str,
        currency: str = "USD",
        *,
        tenant_id: str | None = None,
        **extra: Any,
    ) -> None:
        """Make ``account_id`` known with ``balance`` owed; ``extra`` is shown as is.

        Profile fields (``PROFILE_FIELDS``) among ``extra`` must have their type;
        with ``tenant_id``, the account is also served under that tenant's path.
        """
        _check_extra(extra)
        self.accounts[account_id] = SimulatedAccount(
            account_id=account_id,
            opening_balance=Decimal(balance),
            currency=currency,
            extra=extra,
            tenant_id=tenant_id,
        )

    def update_account(self, account_id: str, **extra: Any) -> None:
        """Change (or add) what a seeded account's record shows; None removes a field."""
        account = self.accounts[account_id]
        _check_extra({k: v for k, v in extra.items() if v is not None})
        merged = {**account.extra, **extra}
        account.extra = {k: v for k, v in merged.items() if v is not None}

    def balance(self, account_id: str) -> Decimal:
        """A seeded account's balance after its posted (not reversed) adjustments."""
        balance = self.accounts[account_id].opening_balance
        for adjustment in self.adjustments.values():
            if adjustment.account_id == account_id and adjustment.status == "posted":
                if adjustment.kind in MEMO_KINDS:
                    continue
                sign = 1 if adjustment.kind in CHARGE_KINDS else -1
                balance += sign * adjustment.amount
        return balance

    # -- HTTP app ------------------------------------------------------------

    def _build_app(self) -> Starlette:
        def route(path: str, method: str, operation: Operation) -> Route:
            async def endpoint(request: Request) -> Response:
                return await self._serve(request, operation)

            return Route(path, endpoint, methods=[method])

        async def unknown(request: Request) -> Response:
            return await self._serve(request, _not_found)

        return Starlette(
            routes=[
                route("/v1/accounts/{account_id}/adjustments", "POST", self._post_adjustment),
                route("/v1/accounts/{account_id}/adjustments", "GET", self._list_adjustments),
                route("/v1/accounts/{account_id}", "GET", self._account),
                route("/v1/tenants/{tenant_id}/accounts/{account_id}", "GET", self._tenant_account),
                route("/v1/adjustments/{adjustment_id}", "GET", self._get_adjustment),
                route("/v1/adjustments/{adjustment_id}/reversal", "POST", self._reverse),
                Route("/{path:path}", unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )

    async def _serve(self, request: Request, operation: Operation) -> Response:
        headers: dict[str, str] = {}
        try:
            injected = self._failures.take(request.url.path)
            if injected is not None:
                if injected == 429:
                    headers["Retry-After"] = "1"
                phrase = HTTPStatus(injected).phrase
                raise _CrmError(injected, phrase.lower().replace(" ", "_"), phrase)
            self._authenticate(request)
            body = await _json_body(request) if request.method == "POST" else None
            key = request.headers.get("idempotency-key") if request.method == "POST" else None
            if key is not None:
                replay = self._replay(key, request, body)
                if replay is not None:
                    headers["Idempotent-Replayed"] = "true"
                    return JSONResponse(replay.body, replay.status, headers=headers)
            # Nothing awaits from here to ``save``: one key cannot execute twice.
            status, result = operation(body, dict(request.path_params))
            if key is not None:
                stored = StoredResponse(request.method, request.url.path, body, status, result, "")
                self._idempotency.save(key, stored)
            return JSONResponse(result, status, headers=headers)
        except _CrmError as exc:
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Bearer realm="crm"'
            return JSONResponse(exc.body(), exc.status, headers=headers)

    def _authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        ):
            raise _CrmError(401, "unauthorized", "A valid Bearer token is required.")

    def _replay(self, key: str, request: Request, body: Any) -> StoredResponse | None:
        try:
            return self._idempotency.lookup(key, request.method, request.url.path, body)
        except IdempotencyMismatch as exc:
            raise _CrmError(
                409,
                "idempotency_key_reused",
                f"Idempotency-Key '{key}' was first used for another request"
                f" ({exc.first.method} {exc.first.path}).",
            ) from exc

    # -- operations --------------------------------------------------------------

    def _post_adjustment(self, body: Any, path: dict[str, str]) -> tuple[int, dict[str, Any]]:
        account_id = path["account_id"]
        data = _validate(_AdjustmentIn, body)
        amount = _amount(data.amount)
        account = self.accounts.get(account_id)
        if account is not None:
            if data.currency != account.currency:
                raise _CrmError(
                    422,
                    "currency_mismatch",
                    f"Account {account_id} is kept in {account.currency}, not {data.currency}.",
                    "currency",
                )
            if data.kind not in CHARGE_KINDS and amount > self.balance(account_id):
                raise _CrmError(
                    422,
                    "exceeds_balance",
                    f"{amount} exceeds the balance of {self.balance(account_id)}.",
                    "amount",
                )
        adjustment = SimulatedAdjustment(
            id="adj_" + _token(20),
            account_id=account_id,
            kind=data.kind,
            amount=amount,
            currency=data.currency,
            reference=data.reference,
            memo=data.memo,
            created_at=datetime.now(UTC),
        )
        self.adjustments[adjustment.id] = adjustment
        self.executed["post_adjustment"] += 1
        return 201, _adjustment_json(adjustment)

    def _reverse(self, body: Any, path: dict[str, str]) -> tuple[int, dict[str, Any]]:
        adjustment = self._adjustment(path["adjustment_id"])
        data = _validate(_ReversalIn, body)
        self.executed["reverse_adjustment"] += 1
        # Reversing a reversed adjustment changes nothing and is not an error:
        # a compensation retried after a lost response must succeed.
        if adjustment.status == "posted":
            adjustment.status = "reversed"
            adjustment.reversed_at = datetime.now(UTC)
            adjustment.reversal_reason = data.reason
        return 200, _adjustment_json(adjustment)

    def _list_adjustments(self, body: Any, path: dict[str, str]) -> tuple[int, dict[str, Any]]:
        account_id = path["account_id"]
        found = [a for a in self.adjustments.values() if a.account_id == account_id]
        return 200, {"data": [_adjustment_json(a) for a in found], "has_more": False}

    def _get_adjustment(self, body: Any, path: dict[str, str]) -> tuple[int, dict[str, Any]]:
        return 200, _adjustment_json(self._adjustment(path["adjustment_id"]))

    def _account(self, body: Any, path: dict[str, str]) -> tuple[int, dict[str, Any]]:
        account = self.accounts.get(path["account_id"])
        if account is None:
            raise _CrmError(404, "not_found", f"No account {path['account_id']}.")
        self.executed["get_account"] += 1
        return 200, self._account_json(account)

    def _tenant_account(self, body: Any, path: dict[str, str]) -> tuple[int, dict[str, Any]]:
        account = self.accounts.get(path["account_id"])
        # Another creditor's account is as unknown as a missing one: no existence leak.
        if account is None or account.tenant_id != path["tenant_id"]:
            raise _CrmError(404, "not_found", f"No account {path['account_id']}.")
        self.executed["get_account"] += 1
        return 200, self._account_json(account)

    def _account_json(self, account: SimulatedAccount) -> dict[str, Any]:
        return {
            **account.extra,
            "account_id": account.account_id,
            "balance": str(self.balance(account.account_id)),
            "currency": account.currency,
        }

    def _adjustment(self, adjustment_id: str) -> SimulatedAdjustment:
        adjustment = self.adjustments.get(adjustment_id)
        if adjustment is None:
            raise _CrmError(404, "not_found", f"No adjustment {adjustment_id}.")
        return adjustment


def _check_extra(extra: dict[str, Any]) -> None:
    clash = _RESERVED & extra.keys()
    if clash:
        raise ValueError(f"{sorted(clash)} are set by the simulator")
    json.dumps(extra)  # fail here, not in a request handler, if not JSON-able
    # A test's typo in a profile field fails here, not as a puzzling research result.
    for name, value in extra.items():
        if name not in PROFILE_FIELDS or value is None:
            continue
        ok = _profile_value_ok(name, value)
        if not ok:
            raise ValueError(f"{name} must be {PROFILE_FIELDS[name]}, not {value!r}")


def _profile_value_ok(name: str, value: Any) -> bool:
    if name == "preferred_channel":
        return isinstance(value, str) and value in _CHANNELS
    if name in {"do_not_call", "dispute_on_file", "hardship_on_file"}:
        return isinstance(value, bool)
    if name == "notes":
        return isinstance(value, list) and all(isinstance(n, str) for n in value)
    if name == "customer_since":
        return isinstance(value, str) and _is_iso_date(value)
    return isinstance(value, str)


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _not_found(body: Any, path: dict[str, str]) -> tuple[int, dict[str, Any]]:
    raise _CrmError(404, "not_found", "No such endpoint.")


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _CrmError(400, "invalid_json", f"The body is not JSON: {exc}") from exc


def _validate(model: type[_M], body: Any) -> _M:
    if not isinstance(body, dict):
        raise _CrmError(400, "invalid_json", "The body must be a JSON object.")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise _CrmError(422, "validation_failed", f"{field}: {first['msg']}", field) from exc


def _amount(text: str) -> Decimal:
    amount = Decimal(text)  # the pattern admits only plain decimals
    if amount <= 0:
        raise _CrmError(422, "validation_failed", "amount: must be greater than 0", "amount")
    exponent = amount.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > _MAX_DECIMALS or amount >= Decimal(10) ** (_MAX_DIGITS - _MAX_DECIMALS):
        raise _CrmError(
            422,
            "validation_failed",
            f"amount: at most {_MAX_DIGITS} digits, {_MAX_DECIMALS} after the point",
            "amount",
        )
    # "12.50" stays as sent; "12.500" is the same amount and is stored as "12.50".
    return amount.quantize(_CENT) if len(text.partition(".")[2]) > _MAX_DECIMALS else amount


def _adjustment_json(a: SimulatedAdjustment) -> dict[str, Any]:
    return {
        "id": a.id,
        "account_id": a.account_id,
        "kind": a.kind,
        "amount": str(a.amount),
        "currency": a.currency,
        "reference": a.reference,
        "memo": a.memo,
        "status": a.status,
        "created_at": _iso(a.created_at),
        "reversed_at": None if a.reversed_at is None else _iso(a.reversed_at),
        "reversal_reason": a.reversal_reason,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
