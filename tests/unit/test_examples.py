"""The sample portfolio in ``examples/`` is one ``recoup campaign launch`` accepts whole.

Read by the launch command's own parser, so a change to the portfolio format that the
sample does not follow fails here rather than in a new user's first launch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from adapters.portfolio_file import parse_portfolio

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "portfolio.csv"


def test_the_sample_portfolio_parses_without_a_problem() -> None:
    parsed = parse_portfolio(SAMPLE, as_of=datetime.now(UTC).date())
    assert [str(p) for p in parsed.problems] == []
    assert len(parsed.accounts) == sum(1 for _ in SAMPLE.open()) - 1  # every row


def test_the_sample_shows_every_way_to_reach_a_debtor() -> None:
    accounts = parse_portfolio(SAMPLE, as_of=datetime.now(UTC).date()).accounts
    assert any(a.emails and a.phones for a in accounts)
    assert any(a.phones and not a.emails for a in accounts)
    assert any(a.address and not a.emails and not a.phones for a in accounts)  # letters only


def test_the_readme_points_at_the_sample() -> None:
    assert "examples/portfolio.csv" in (ROOT / "README.md").read_text()
