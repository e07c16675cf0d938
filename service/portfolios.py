"""Portfolio files: a CSV, JSON or JSON-lines file read into accounts and problems.

``read_portfolio`` (the portfolio file adapter's) yields a file's rows one at a time;
``stage_rows`` stores the good ones as a campaign's portfolio while the file is read,
reporting each bad row as it goes by, so a launch holds counts, never the file: a
100,000-row launch takes the memory of a 1,000-row one (``bench/launch.py``).
``parse_portfolio`` reads a whole (small) file at once. ``PortfolioFileError`` is in
``service.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from adapters.portfolio_file import ParsedRow, PortfolioFile, parse_portfolio, read_portfolio
from bootstrap.settings import Settings
from domain.account import Account
from domain.errors import FieldProblem
from service.campaigns import stage_portfolio

__all__ = [
    "FileTally",
    "ParsedRow",
    "PortfolioFile",
    "PortfolioRejected",
    "parse_portfolio",
    "read_portfolio",
    "stage_rows",
]


class PortfolioRejected(Exception):
    """The file as a whole is not launched (``--strict`` and a bad row, or no good row);
    nothing of it was stored. The message says why."""


@dataclass
class FileTally:
    """What a launch read from its file: counts only (the problems went to ``report``)."""

    rows: int = 0
    accepted: int = 0
    rejected: int = 0  # rows with at least one problem
    staged: int = 0  # accounts the campaign holds (a relaunch: those stored the first time)


async def stage_rows(
    settings: Settings,
    *,
    tenant_id: str,
    campaign_id: str,
    rows: Iterable[ParsedRow],
    report: Callable[[FieldProblem], None],
    strict: bool = False,
) -> FileTally:
    """Stage the good rows of ``rows`` as the campaign's portfolio, reading them once.

    Each problem is passed to ``report`` as its row is read (nothing is lost, nothing
    is kept). Raises ``PortfolioRejected``, storing nothing, when ``strict`` and a row
    is bad or when no row is good; ``PortfolioFileError`` when the file turns out
    unusable further on; what ``stage_portfolio`` raises.
    """
    tally = FileTally()
    accounts = _good_accounts(rows, tally, report, strict)
    tally.staged = await stage_portfolio(settings, tenant_id, campaign_id, accounts)
    return tally


def _good_accounts(
    rows: Iterable[ParsedRow],
    tally: FileTally,
    report: Callable[[FieldProblem], None],
    strict: bool,
) -> Iterator[Account]:
    for row in rows:
        tally.rows += 1
        for problem in row.problems:
            report(problem)
        if row.problems:
            tally.rejected += 1
        elif row.account is not None:
            tally.accepted += 1
            if not (strict and tally.rejected):  # strict: the rest is only checked
                yield row.account
    # Raised from inside the store's save, so its transaction stores nothing.
    if strict and tally.rejected:
        raise PortfolioRejected(f"{tally.rejected} bad row(s); nothing launched (--strict)")
    if not tally.accepted:
        raise PortfolioRejected("no valid accounts in the file; nothing launched")
