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
from collections.abc import Iterable, Iterator, Mapping
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

# Rows per INSERT batch: SQLAlchemy's multi-row VALUES pages are 1,000 rows, and a
# batch is all a save holds of its accounts at once.
_BATCH = 1_000
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
        accounts: Iterable[Account],
        request: Mapping[str, object] | None = None,
    ) -> int:
        """Store ``accounts`` as the campaign's portfolio; returns how many it holds.

        ``accounts`` is read once, as it is stored, ``_BATCH`` rows to a statement: a
        generator over a file keeps memory flat however many there are. All of it is one
        transaction, so an exception from ``accounts`` (a file found broken on its last
        line) or a repeated account id stores nothing.

        ``request``: the normalized start request (JSON values, no PII), when the
        launch has one. Saving again under a stored campaign is a no-op when it is a
        replay: the same request, if both saves have one (``RequestMismatch`` names
        what differs otherwise), else the same accounts (``PortfolioStoreError``).
        """
        given = _canonical(request) if request is not None else None
        staged = _Staged(tenant_id, campaign_id, accounts)
        try:
            with Session(self._engine) as session:
                existing = self._header(session, tenant_id, campaign_id)
                if existing is None:
                    self._stage(session, staged, given)
                    return staged.count
            # A replay: read the accounts for their digest, the session closed meanwhile.
            staged.drain()
            return _same_or_refuse(existing, staged.count, staged.digest(), given)
        except IntegrityError:
            # Lost a race with another save of this campaign: compare with the winner.
            with Session(self._engine) as session:
                existing = self._header(session, tenant_id, campaign_id)
            if existing is None:
                raise
            staged.drain()
            return _same_or_refuse(existing, staged.count, staged.digest(), given)

    def _stage(self, session: Session, staged: _Staged, request: str | None) -> None:
        header = StagedPortfolio(
            tenant_id=staged.tenant_id,
            campaign_id=staged.campaign_id,
            accounts=0,  # and the digest: known once every account is stored
            digest="",
            created_at=datetime.now(UTC),
            request=request,
        )
        session.add(header)
        # The header goes first: a concurrent save of the same campaign then fails on
        # its primary key (waiting for this transaction) before writing any account.
        session.flush()
        # Core executemany: SQLAlchemy sends multi-row INSERTs (insertmanyvalues)
        # instead of building 100k ORM objects.
        connection = session.connection()
        for batch in staged.batches():
            connection.execute(insert(SQLModel.metadata.tables[_ACCOUNTS]), batch)
        header.accounts = staged.count
        header.digest = staged.digest()
        session.commit()

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

    def pages(
        self, tenant_id: str, campaign_id: str, size: int = _BATCH
    ) -> Iterator[list[Account]]:
        """Every account of the campaign in file order, ``size`` at a time."""
        offset = 0
        while True:
            page = self.page(tenant_id, campaign_id, offset, size)
            if page:
                yield page
            if len(page) < size:
                return
            offset += size

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


class _Staged:
    """The accounts of one save as they go by: rows to insert, their count and digest.

    Only what identifies the portfolio is kept (the ids, for repeats, and a running
    sha256 of the accounts' JSON, in order), never the accounts.
    """

    def __init__(self, tenant_id: str, campaign_id: str, accounts: Iterable[Account]) -> None:
        self.tenant_id = tenant_id
        self.campaign_id = campaign_id
        self._accounts = iter(accounts)
        self._hasher = hashlib.sha256()
        self._seen: set[str] = set()
        self._repeated: list[str] = []
        self.count = 0

    def batches(self) -> Iterator[list[dict[str, Any]]]:
        """The rows to insert, ``_BATCH`` at a time; raises on repeated ids at the end."""
        batch: list[dict[str, Any]] = []
        for account in self._accounts:
            document = self._take(account)
            if document is None:
                continue  # a repeat: refused at the end, never sent to the unique key
            batch.append(
                {
                    "tenant_id": self.tenant_id,
                    "campaign_id": self.campaign_id,
                    "seq": self.count - 1,
                    "account_id": account.account_id,
                    "amount_due_cents": int(account.amount_due * 100),  # exact: 2 places
                    "currency": account.currency,
                    "days_past_due": account.days_past_due,
                    "data": document,
                }
            )
            if len(batch) == _BATCH:
                yield batch
                batch = []
        if batch:
            yield batch
        self._refuse_repeats()

    def drain(self) -> None:
        """Read the accounts not read yet (for the digest, nothing stored)."""
        for account in self._accounts:
            self._take(account)
        self._refuse_repeats()

    def digest(self) -> str:
        """sha256 of the accounts' JSON, one per line, in order."""
        return self._hasher.hexdigest()

    def _take(self, account: Account) -> str | None:
        """The account's JSON, counted and hashed; None when its id came before."""
        document = account.model_dump_json()
        self._hasher.update(document.encode())
        self._hasher.update(b"\n")
        self.count += 1
        if account.account_id not in self._seen:
            # A set of 100,000 ids is a few MB: the accounts themselves are not kept.
            self._seen.add(account.account_id)
            return document
        if len(self._repeated) < 10 and account.account_id not in self._repeated:
            self._repeated.append(account.account_id)
        return None

    def _refuse_repeats(self) -> None:
        if self._repeated:
            raise PortfolioStoreError(f"account ids repeated: {', '.join(sorted(self._repeated))}")
