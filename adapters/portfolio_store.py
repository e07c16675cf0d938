"""Staging of a portfolio's validated accounts in SQL, for the portfolio workflow.

A ``Portfolio`` workflow never carries its accounts (they would blow up its
history): the launcher stores them here, in file order, and the workflow's
activities read them back page by page (``seq`` range). SQLite is the embedded
default; PostgreSQL is the production store (``postgresql+psycopg://``).

Saving is idempotent per (tenant, campaign): a launch retried after a crash or
run twice stores the accounts once. Each campaign has a header row with the
digest of its accounts, so a repeat is recognised without reading them back,
and a *different* list under an existing campaign id is refused rather than
mixed into the portfolio a running workflow is paging through.

A launch from the API also stores its *request*: the normalized start request
(playbook, options, a digest of the account records as sent), without PII. That is
what an ``Idempotency-Key`` (or a campaign id) is held to: a replay must repeat it
exactly, and any difference is refused naming the fields that differ. Rows stored
before requests were (and launches that give none, like the CLI's) keep the older
rule: the same accounts.

The tables are made by the alembic migrations (``adapters.schema``); ``create_tables``
brings the database to the latest revision.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Text,
    UniqueConstraint,
    func,
    insert,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.errors import AdapterError
from adapters.schema import migrate
from adapters.sql import make_engine
from domain.account import Account

# Rows per INSERT batch: large enough for SQLAlchemy's multi-row VALUES to pay
# off, small enough to bound the memory of one statement.
_BATCH = 5_000
_PORTFOLIOS = "staged_portfolios"
_ACCOUNTS = "staged_accounts"


class PortfolioStoreError(AdapterError):
    """A save that would change an already stored campaign, or duplicate account ids."""


class RequestMismatch(PortfolioStoreError):
    """A save under a stored campaign whose request differs from the one stored.

    ``differences`` maps each field that differs to (stored value, given value).
    """

    def __init__(self, campaign_id: str, differences: dict[str, tuple[object, object]]) -> None:
        super().__init__(
            f"campaign {campaign_id!r} was started by another request "
            f"({', '.join(differences)} differ)"
        )
        self.campaign_id = campaign_id
        self.differences = differences


class StagedPortfolio(SQLModel, table=True):
    """One row per stored campaign: how many accounts, and their digest."""

    __tablename__ = _PORTFOLIOS

    tenant_id: str = Field(primary_key=True, max_length=128)
    campaign_id: str = Field(primary_key=True, max_length=128)
    accounts: int
    digest: str = Field(max_length=64, description="sha256 of the accounts' JSON, in order")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    request: str | None = Field(
        default=None,
        sa_column=Column(Text, nullable=True),
        description="The normalized start request (JSON, no PII); None for older rows.",
    )


class StagedAccount(SQLModel, table=True):
    """One account of a stored campaign, at position ``seq`` (0-based, file order)."""

    __tablename__ = _ACCOUNTS
    __table_args__ = (
        UniqueConstraint("tenant_id", "campaign_id", "account_id", name="uq_staged_account"),
    )

    tenant_id: str = Field(primary_key=True, max_length=128)
    campaign_id: str = Field(primary_key=True, max_length=128)
    seq: int = Field(primary_key=True)
    account_id: str = Field(max_length=128)
    # Plain columns for reporting queries; `data` is what is read back.
    amount_due_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    days_past_due: int
    data: str = Field(sa_column=Column(Text, nullable=False))


class PortfolioStore:
    """Stores and pages the accounts of portfolio campaigns."""

    def __init__(self, database_url: str) -> None:
        self._engine: Engine = make_engine(database_url)

    def create_tables(self) -> None:
        """Migrate the database to the latest schema (every store's tables, not only these)."""
        migrate(self._engine)

    def save(
        self,
        tenant_id: str,
        campaign_id: str,
        accounts: Sequence[Account],
        request: Mapping[str, object] | None = None,
    ) -> int:
        """Store ``accounts`` as the campaign's portfolio; returns how many it holds.

        ``request``: the normalized start request (JSON values, no PII), when the
        launch has one. Saving again under a stored campaign is a no-op when it is a
        replay: the same request, if both saves have one (``RequestMismatch`` names
        what differs otherwise), else the same accounts (``PortfolioStoreError``).
        """
        repeated = sorted(i for i, n in Counter(a.account_id for a in accounts).items() if n > 1)
        if repeated:
            raise PortfolioStoreError(f"account ids repeated: {', '.join(repeated[:10])}")
        documents = [a.model_dump_json() for a in accounts]
        digest = _digest(documents)
        given = _canonical(request) if request is not None else None
        try:
            with Session(self._engine) as session:
                existing = self._header(session, tenant_id, campaign_id)
                if existing is not None:
                    return _same_or_refuse(existing, len(documents), digest, given)
                session.add(
                    StagedPortfolio(
                        tenant_id=tenant_id,
                        campaign_id=campaign_id,
                        accounts=len(documents),
                        digest=digest,
                        created_at=datetime.now(UTC),
                        request=given,
                    )
                )
                # The header goes first: a concurrent save of the same campaign
                # then fails on its primary key before writing any account.
                session.flush()
                # Core executemany: SQLAlchemy sends multi-row INSERTs (insertmanyvalues)
                # instead of building 100k ORM objects.
                connection = session.connection()
                for batch in _batches(tenant_id, campaign_id, accounts, documents):
                    connection.execute(insert(SQLModel.metadata.tables[_ACCOUNTS]), batch)
                session.commit()
        except IntegrityError:
            # Lost a race with another save of this campaign: compare with the winner.
            with Session(self._engine) as session:
                existing = self._header(session, tenant_id, campaign_id)
            if existing is None:
                raise
            return _same_or_refuse(existing, len(documents), digest, given)
        return len(documents)

    def count(self, tenant_id: str, campaign_id: str) -> int:
        """How many accounts the campaign holds (0 if it was never saved)."""
        query = select(func.count()).where(
            StagedAccount.tenant_id == tenant_id, StagedAccount.campaign_id == campaign_id
        )
        with Session(self._engine) as session:
            return session.exec(query).one()

    def page(self, tenant_id: str, campaign_id: str, offset: int, limit: int) -> list[Account]:
        """Accounts ``[offset, offset + limit)`` in file order."""
        if offset < 0 or limit <= 0:
            raise ValueError(f"need offset >= 0 and limit > 0, got {offset} and {limit}")
        # seq is dense (0..n-1), so a key range replaces OFFSET, which would make
        # the last page of a large portfolio scan every row before it.
        query = (
            select(StagedAccount.data)
            .where(
                StagedAccount.tenant_id == tenant_id,
                StagedAccount.campaign_id == campaign_id,
                StagedAccount.seq >= offset,
                StagedAccount.seq < offset + limit,
            )
            .order_by(col(StagedAccount.seq))
        )
        with Session(self._engine) as session:
            return [Account.model_validate_json(data) for data in session.exec(query)]

    def dispose(self) -> None:
        """Close the pooled connections."""
        self._engine.dispose()

    @staticmethod
    def _header(session: Session, tenant_id: str, campaign_id: str) -> StagedPortfolio | None:
        return session.get(StagedPortfolio, (tenant_id, campaign_id))


def _same_or_refuse(
    existing: StagedPortfolio, accounts: int, digest: str, request: str | None
) -> int:
    if existing.request is not None and request is not None:
        # The request decides, not the parsed accounts: a replay after midnight without
        # ``as_of`` parses to other days past due, and is still the same request.
        stored, given = json.loads(existing.request), json.loads(request)
        differences = {
            key: (stored.get(key), given.get(key))
            for key in sorted(stored.keys() | given.keys())
            if stored.get(key) != given.get(key)
        }
        if differences:
            raise RequestMismatch(existing.campaign_id, differences)
        return existing.accounts
    if existing.digest != digest:
        raise PortfolioStoreError(
            f"campaign {existing.campaign_id!r} of tenant {existing.tenant_id!r} is already "
            f"stored with other accounts ({existing.accounts}); use a new campaign id"
        )
    return accounts


def _canonical(request: Mapping[str, object]) -> str:
    """One text per request, whatever the order its fields were given in."""
    return json.dumps(request, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(documents: Sequence[str]) -> str:
    hasher = hashlib.sha256()
    for document in documents:
        hasher.update(document.encode())
        hasher.update(b"\n")
    return hasher.hexdigest()


def _batches(
    tenant_id: str, campaign_id: str, accounts: Sequence[Account], documents: Sequence[str]
) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(accounts), _BATCH):
        yield [
            {
                "tenant_id": tenant_id,
                "campaign_id": campaign_id,
                "seq": seq,
                "account_id": account.account_id,
                "amount_due_cents": int(account.amount_due * 100),  # exact: 2 places
                "currency": account.currency,
                "days_past_due": account.days_past_due,
                "data": documents[seq],
            }
            for seq, account in enumerate(accounts[start : start + _BATCH], start=start)
        ]
