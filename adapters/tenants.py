"""Tenants and their API keys: who may call the API, and as which tenant.

A key is shown once, when it is made: ``rk_<key id>_<secret>``. Only the SHA-256
of the secret is stored (the secret is 256 random bits, so a fast hash is as safe
as a slow one and costs nothing per request), next to the key id that finds the row.
A revoked key stays in the table, so ``recoup tenant keys`` shows when it was revoked.

The tables are made by the alembic migrations (``adapters.schema``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.errors import AdapterError
from adapters.schema import migrate
from adapters.sql import make_engine
from domain.account import Tenant

KEY_PREFIX = "rk"


class TenantRow(SQLModel, table=True):
    __tablename__ = "tenants"

    tenant_id: str = Field(primary_key=True, max_length=128)
    name: str = Field(max_length=200)  # the collector, who debtors hear from
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # Whom its debts are owed to, when a portfolio row does not say; NULL: first-party.
    # Last, where the migration that added it put it (the schema tests compare the order).
    creditor: str | None = Field(default=None, max_length=200)
    # What harm after a contact is worth to the adaptive policy (Tenant); NULL: the default.
    opt_out_penalty: float | None = None
    dispute_penalty: float | None = None
    complaint_penalty: float | None = None


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "api_keys"

    key_id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(index=True, max_length=128, foreign_key="tenants.tenant_id")
    secret_sha256: str = Field(max_length=64)
    label: str = Field(default="", max_length=200)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class TenantError(AdapterError):
    """A tenant or key operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown about a key: never its secret."""

    key_id: str
    tenant_id: str
    label: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewApiKey:
    info: ApiKeyInfo
    token: str  # shown once; the caller sends it as ``Authorization: Bearer <token>``


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: ApiKeyRow) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=row.key_id,
        tenant_id=row.tenant_id,
        label=row.label,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def parse_token(token: str) -> tuple[str, str] | None:
    """``rk_<key id>_<secret>`` → (key id, secret); None when it is not shaped like a key."""
    prefix, _, rest = token.strip().partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not key_id or not secret:
        return None
    return key_id, secret


class TenantStore:
    def __init__(self, database_url: str) -> None:
        self._engine: Engine = make_engine(database_url)

    def create_tables(self) -> None:
        """Migrate the database to the latest schema (every store's tables, not only this)."""
        migrate(self._engine)

    def dispose(self) -> None:
        self._engine.dispose()

    # --- tenants -----------------------------------------------------------

    def create_tenant(self, tenant: Tenant) -> bool:
        """Add a tenant; False if it exists (its names are then left as they were)."""
        with Session(self._engine) as session:
            if session.get(TenantRow, tenant.tenant_id) is not None:
                return False
            session.add(
                TenantRow(
                    tenant_id=tenant.tenant_id,
                    name=tenant.name,
                    creditor=tenant.creditor,
                    created_at=datetime.now(UTC),
                    **_penalties(tenant),
                )
            )
            try:
                session.commit()
            except IntegrityError:  # made concurrently
                return False
        return True

    def update_tenant(self, tenant: Tenant) -> bool:
        """Give an existing tenant ``tenant``'s names; False if there is no such tenant.

        Campaigns started from now on use them; running ones keep the names they
        started with (they are part of the campaign's input).
        """
        with Session(self._engine) as session:
            row = session.get(TenantRow, tenant.tenant_id)
            if row is None:
                return False
            row.name = tenant.name
            row.creditor = tenant.creditor
            for field, value in _penalties(tenant).items():
                setattr(row, field, value)
            session.add(row)
            session.commit()
        return True

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        with Session(self._engine) as session:
            row = session.get(TenantRow, tenant_id)
        return None if row is None else _tenant(row)

    def tenants(self) -> list[Tenant]:
        with Session(self._engine) as session:
            rows = session.exec(select(TenantRow).order_by(col(TenantRow.tenant_id))).all()
        return [_tenant(r) for r in rows]

    # --- keys --------------------------------------------------------------

    def create_key(self, tenant_id: str, label: str = "") -> NewApiKey:
        """Make a key for the tenant; the returned token is the only copy of the secret."""
        if self.get_tenant(tenant_id) is None:
            raise TenantError(f"no tenant {tenant_id!r}: create it first")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        row = ApiKeyRow(
            key_id=key_id,
            tenant_id=tenant_id,
            secret_sha256=_digest(secret),
            label=label,
            created_at=datetime.now(UTC),
        )
        with Session(self._engine) as session:
            session.add(row)
            session.commit()
            session.refresh(row)
            info = _info(row)
        return NewApiKey(info=info, token=f"{KEY_PREFIX}_{key_id}_{secret}")

    def keys(self, tenant_id: str) -> list[ApiKeyInfo]:
        with Session(self._engine) as session:
            rows = session.exec(
                select(ApiKeyRow)
                .where(ApiKeyRow.tenant_id == tenant_id)
                .order_by(col(ApiKeyRow.created_at))
            ).all()
        return [_info(r) for r in rows]

    def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoke a key at once (idempotent: revoking twice keeps the first time)."""
        with Session(self._engine) as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise TenantError(f"no API key {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                session.add(row)
                session.commit()
                session.refresh(row)
            return _info(row)

    def authenticate(self, token: str) -> Tenant | None:
        """The tenant a token belongs to; None for a malformed, unknown or revoked key."""
        parsed = parse_token(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        with Session(self._engine) as session:
            key = session.get(ApiKeyRow, key_id)
            if key is None or key.revoked_at is not None:
                return None
            if not hmac.compare_digest(key.secret_sha256, _digest(secret)):
                return None
            tenant = session.get(TenantRow, key.tenant_id)
        return None if tenant is None else _tenant(tenant)


_PENALTIES = ("opt_out_penalty", "dispute_penalty", "complaint_penalty")


def _penalties(tenant: Tenant) -> dict[str, float | None]:
    """The tenant's penalties to store: NULL where it has the default (which may change)."""
    defaults = Tenant.model_fields
    return {
        field: None if getattr(tenant, field) == defaults[field].default else getattr(tenant, field)
        for field in _PENALTIES
    }


def _tenant(row: TenantRow) -> Tenant:
    set_ = {field: getattr(row, field) for field in _PENALTIES if getattr(row, field) is not None}
    return Tenant(tenant_id=row.tenant_id, name=row.name, creditor=row.creditor, **set_)
