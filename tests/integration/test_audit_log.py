"""The hash-chained audit log: tampering in each way is found, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from temporalio.client import Client

from adapters.audit_log import AuditEntry, AuditLog, FindingKind
from adapters.sql import make_engine
from bootstrap.settings import Settings
from domain.channels import Channel
from domain.playbook import Playbook, Step
from simulators.smtp import SmtpSimulator
from tests.campaign_support import start, status
from tests.cli_support import recoup
from tests.conftest import TENANT, make_account
from tests.portfolio_support import POSTGRES_URL

KEY = b"test-audit-key"
T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    return POSTGRES_URL


@pytest.fixture
def log(database_url: str) -> Iterator[AuditLog]:
    audit = AuditLog(database_url, KEY, "k1")
    audit.create_tables()
    yield audit
    audit.dispose()


def entries(tenant: str, n: int) -> list[AuditEntry]:
    return [
        AuditEntry(
            tenant_id=tenant,
            event_id=f"{tenant}/contact/{i}",
            event_type="ComplianceAuditEvent",
            occurred_at=T0 + timedelta(minutes=i),
            body={"decision": "allowed", "channel": "sms", "attempt": i},
        )
        for i in range(1, n + 1)
    ]


def sql(database_url: str, statement: str, **params: object) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(statement), params)
    engine.dispose()


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def test_an_untouched_chain_verifies_and_appending_is_idempotent(log: AuditLog) -> None:
    who = tenant()
    assert log.append(entries(who, 5)) == 5
    assert log.append(entries(who, 5)) == 0  # the same events again: nothing added
    assert log.verify(who) == []


def test_an_altered_record_is_found(log: AuditLog, database_url: str) -> None:
    who = tenant()
    log.append(entries(who, 5))
    sql(
        database_url,
        "UPDATE audit_log SET body = :body WHERE tenant_id = :t AND position = 3",
        body='{"decision":"allowed","channel":"email","attempt":3}',
        t=who,
    )
    [finding] = log.verify(who)
    assert (finding.kind, finding.position) == (FindingKind.ALTERED, 3)


def test_a_deleted_record_is_found_in_the_middle_and_at_the_end(
    log: AuditLog, database_url: str
) -> None:
    who = tenant()
    log.append(entries(who, 5))
    sql(database_url, "DELETE FROM audit_log WHERE tenant_id = :t AND position = 2", t=who)
    [finding] = log.verify(who)
    assert (finding.kind, finding.position) == (FindingKind.DELETED, 2)
    sql(database_url, "DELETE FROM audit_log WHERE tenant_id = :t AND position = 5", t=who)
    kinds = [(f.kind, f.position) for f in log.verify(who)]
    assert kinds == [(FindingKind.DELETED, 2), (FindingKind.DELETED, 5)]


def test_an_inserted_record_is_found(log: AuditLog, database_url: str) -> None:
    who = tenant()
    log.append(entries(who, 3))
    # A plausible record at the end, linked to the real last one, without the key.
    sql(
        database_url,
        "INSERT INTO audit_log (tenant_id, position, event_id, event_type, occurred_at, body,"
        " key_id, prev_hash, hash) SELECT tenant_id, 4, :forged, event_type, occurred_at,"
        " body, key_id, hash, :fake FROM audit_log WHERE tenant_id = :t AND position = 3",
        t=who,
        fake="ab" * 32,
        forged=f"forged-{who}",
    )
    [finding] = log.verify(who)
    assert (finding.kind, finding.position) == (FindingKind.FORGED, 4)


def test_another_key_cannot_write_a_record_that_verifies(database_url: str) -> None:
    who = tenant()
    honest, other = AuditLog(database_url, KEY, "k1"), AuditLog(database_url, b"stolen?", "k1")
    try:
        honest.create_tables()
        honest.append(entries(who, 2))
        other.append(entries(who, 3)[2:])  # "appends" with the wrong key
        found = [(f.kind, f.position) for f in honest.verify(who)]
        # The record does not verify, and neither does the head it moved.
        assert found == [(FindingKind.ALTERED, 3), (FindingKind.HEAD, 3)]
    finally:
        honest.dispose()
        other.dispose()


def test_concurrent_writers_keep_one_unbroken_chain(log: AuditLog) -> None:
    who = tenant()
    batches = [entries(who, 40)[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        added = sum(pool.map(log.append, batches))
    assert added == 40
    assert log.verify(who) == []


async def test_recoup_audit_verify_exits_4_on_tampering(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    audit = settings.audit_log()
    audit.create_tables()
    who = tenant()
    audit.append(entries(who, 3))
    audit.dispose()
    env = {
        "RECOUP_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "PATH": "/usr/bin:/bin",
        # The run's own state directory (tests/conftest.py), never a real `recoup dev`'s.
        "XDG_STATE_HOME": os.environ["XDG_STATE_HOME"],
    }
    clean = await recoup("audit", "verify", env=env)
    assert clean.code == 0 and "intact" in clean.out, clean.err
    sql(settings.sql_url, "UPDATE audit_log SET event_type = 'x' WHERE position = 2")
    tampered = await recoup("audit", "verify", "--json", env=env)
    assert tampered.code == 4
    verdict = json.loads(tampered.out)
    assert verdict["intact"] is False
    assert [(f["kind"], f["position"]) for f in verdict["findings"]][:1] == [("altered", 2)]


async def test_every_contact_a_campaign_makes_is_in_the_verified_audit_log(
    client: Client, settings: Settings, running: object, smtp_sim: SmtpSimulator
) -> None:
    account = make_account(phones=[])
    playbook = Playbook(
        name="audited",
        steps=[Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice")],
        closing_days=0,
    )
    handle = await start(client, settings, account, playbook)
    await handle.result()
    [attempt] = (await status(handle)).attempts
    audit = settings.audit_log()
    try:
        engine = make_engine(settings.sql_url)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT event_id, event_type, body FROM audit_log WHERE tenant_id = :t"),
                {"t": TENANT.tenant_id},
            ).all()
        engine.dispose()
        [(event_id, event_type, body)] = rows
        assert event_id == f"contact:{attempt.attempt_id}"
        assert event_type == "ComplianceAuditEvent"
        record = json.loads(body)
        assert record["decision"] == "allowed" and record["ruleset"]
        assert record["contact"]["to"] == account.emails[0].address
        assert record["facts"]["timezones"] == account.timezones
        assert audit.verify(TENANT.tenant_id) == []
    finally:
        audit.dispose()


async def test_operator_commands_in_a_fresh_directory_find_empty_stores(tmp_path: Path) -> None:
    env = {
        "RECOUP_DATA_DIR": str(tmp_path / "never-used"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "XDG_STATE_HOME": os.environ["XDG_STATE_HOME"],  # never a real `recoup dev`'s
    }
    listed = await recoup("dlq", "list", env=env)
    assert listed.code == 0 and "0 dead letter(s)" in listed.out, listed.err
    missing = await recoup("dlq", "show", "dlq_nope", env=env)
    assert missing.code == 2 and "no dead letter 'dlq_nope'" in missing.err
    verified = await recoup("audit", "verify", env=env)
    assert verified.code == 0 and "intact" in verified.out, verified.err
