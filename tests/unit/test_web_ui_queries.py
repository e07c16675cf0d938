"""The README's web-UI queries are the ones the code builds (and the dev server accepts:
``tests/integration/test_web_ui.py`` runs them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from workflows import search_attributes as sa

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_shows_the_worklist_and_the_approvals_due() -> None:
    assert sa.worklist_query("default") in README
    assert sa.approvals_due_query("default", datetime(2026, 12, 6, 9, tzinfo=UTC)) in README


def test_a_deadline_is_compared_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    query = sa.approvals_due_query("acme", datetime(2026, 12, 6, 10, tzinfo=paris))
    assert "RecoupApprovalDeadline < '2026-12-06T09:00:00Z'" in query


def test_a_deadline_without_a_time_zone_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="before: must say its time zone"):
        sa.approvals_due_query("acme", datetime(2026, 12, 6, 9))
