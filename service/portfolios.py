"""Portfolio files: a CSV, JSON or JSON-lines file read into accounts and problems.

Thin by design: ``parse_portfolio`` is the portfolio file adapter's, re-exported for
the entry points (``PortfolioFileError`` is in ``service.errors``).
"""

from __future__ import annotations

from adapters.portfolio_file import PortfolioFile, parse_portfolio

__all__ = ["PortfolioFile", "parse_portfolio"]
