"""Launching from a long file: read a row at a time, good rows staged, every bad one reported.

The staging half of ``recoup campaign launch`` (``service.portfolios.stage_rows``), on
SQLite and PostgreSQL; no Temporal needed. Its memory is measured in
``bench/launch.py``, never asserted here.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from adapters.portfolio_store import PortfolioStore
from bootstrap.settings import Settings
from domain.errors import FieldProblem
from service.errors import PortfolioFileError
from service.portfolios import PortfolioRejected, read_portfolio, stage_rows
from tests.portfolio_support import POSTGRES_URL

AS_OF = date(2026, 3, 1)
ROWS = 3_000
HEADER = ["account_id", "name", "email", "amount_due", "due_date", "state"]


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    postgres = request.param == "postgresql"
    settings = Settings(data_dir=tmp_path, database_url=POSTGRES_URL if postgres else None)
    yield settings


@pytest.fixture
def tenant(settings: Settings) -> Iterator[str]:
    tenant_id = f"test-{uuid.uuid4().hex[:12]}"
    yield tenant_id
    if settings.database_url:  # a SQLite file dies with tmp_path
        engine = create_engine(settings.database_url)
        with engine.begin() as connection:
            for table in ("staged_accounts", "staged_portfolios", "contact_index"):
                connection.execute(
                    text(f"DELETE FROM {table} WHERE tenant_id = :t"), {"t": tenant_id}
                )
        engine.dispose()


def record(i: int) -> dict[str, str]:
    """Row ``i``: bad amounts every 7th row, bad emails every 11th (both every 77th)."""
    return {
        "account_id": f"R{i:05d}",
        "name": f"Debtor {i}",
        "email": f"debtor.{i}@@example.com" if i % 11 == 0 else f"debtor.{i}@example.com",
        "amount_due": "twelve" if i % 7 == 0 else f"{10 + i % 500}.25",
        "due_date": "2026-01-15",
        "state": "NY",
    }


def expected_problems(i: int) -> set[str]:
    return {field for field, bad in (("amount_due", i % 7 == 0), ("email", i % 11 == 0)) if bad}


def write_csv(path: Path) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(ROWS):
            writer.writerow(record(i).values())
        writer.writerow(record(1).values())  # a repeat of line 3's account id, last
    return path


async def stage(
    settings: Settings, tenant: str, campaign: str, path: Path, strict: bool = False
) -> tuple[int, int, int, int, list[FieldProblem]]:
    reported: list[FieldProblem] = []
    tally = await stage_rows(
        settings,
        tenant_id=tenant,
        campaign_id=campaign,
        rows=read_portfolio(path, as_of=AS_OF),
        report=reported.append,
        strict=strict,
    )
    return tally.rows, tally.accepted, tally.rejected, tally.staged, reported


def staged_ids(settings: Settings, tenant: str, campaign: str) -> list[str]:
    store = PortfolioStore(settings.sql_url)
    try:
        return [a.account_id for page in store.pages(tenant, campaign) for a in page]
    finally:
        store.dispose()


async def test_every_good_row_is_staged_and_every_bad_one_reported(
    settings: Settings, tenant: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "long.csv")
    rows, accepted, rejected, staged, reported = await stage(settings, tenant, "long", path)

    good = [f"R{i:05d}" for i in range(ROWS) if not expected_problems(i)]
    bad = {i for i in range(ROWS) if expected_problems(i)}
    assert rows == ROWS + 1
    assert accepted == staged == len(good)
    assert rejected == len(bad) + 1  # and the repeated id
    assert accepted + rejected == rows  # nothing lost
    # Every good row, in file order; every bad row by its line (the header is line 1).
    assert staged_ids(settings, tenant, "long") == good
    found = {(p.location, p.field) for p in reported}
    assert found == {
        *((f"line {i + 2}", field) for i in bad for field in expected_problems(i)),
        (f"line {ROWS + 2}", "account_id"),
    }
    assert len(reported) == len(found)
    repeat = next(p for p in reported if p.location == f"line {ROWS + 2}")
    assert "duplicate account_id 'R00001', first on line 3" in repeat.message

    # Their contacts are indexed, to the last page (webhooks find the account).
    inbound = settings.inbound_store()
    try:
        for account_id in (good[0], good[-1]):
            number = int(account_id[1:])
            assert inbound.accounts_for(tenant, f"debtor.{number}@example.com") == [account_id]
        assert inbound.accounts_for(tenant, "debtor.0@example.com") == []  # a bad row's
    finally:
        inbound.dispose()

    # The same file again is a replay: the campaign is as it was.
    again = await stage(settings, tenant, "long", path)
    assert again[:4] == (rows, accepted, rejected, staged)
    assert staged_ids(settings, tenant, "long") == good


async def test_a_json_file_streams_like_a_csv_one(
    settings: Settings, tenant: str, tmp_path: Path
) -> None:
    # Well over the reader's 64 KiB chunks: records cross chunk boundaries.
    records = [record(i) for i in range(ROWS)]
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"accounts": records}, indent=1))
    rows, accepted, rejected, staged, reported = await stage(settings, tenant, "json", path)
    good = [r["account_id"] for i, r in enumerate(records) if not expected_problems(i)]
    assert (rows, accepted, staged) == (ROWS, len(good), len(good))
    assert rejected == ROWS - len(good)
    assert staged_ids(settings, tenant, "json") == good
    assert {p.location for p in reported} == {
        f"record {i + 1}" for i in range(ROWS) if expected_problems(i)
    }


async def test_strict_or_broken_files_store_nothing(
    settings: Settings, tenant: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "long.csv")
    with pytest.raises(PortfolioRejected, match=r"bad row\(s\); nothing launched \(--strict\)"):
        await stage(settings, tenant, "strict", path, strict=True)
    assert staged_ids(settings, tenant, "strict") == []

    # Good rows first, then a line that breaks the file: what was read is undone.
    broken = tmp_path / "broken.csv"
    lines = path.read_text().splitlines()
    broken.write_text("\n".join([*lines[:2000], 'X1,"Ann"x,a@example.com,1,2026-01-01,NY']))
    with pytest.raises(PortfolioFileError, match="line 2001: not valid CSV"):
        await stage(settings, tenant, "broken", broken)
    assert staged_ids(settings, tenant, "broken") == []

    only_bad = tmp_path / "bad.csv"
    only_bad.write_text(",".join(HEADER) + "\n" + ",".join(record(0).values()) + "\n")
    with pytest.raises(PortfolioRejected, match="no valid accounts"):
        await stage(settings, tenant, "bad", only_bad)
    assert staged_ids(settings, tenant, "bad") == []
