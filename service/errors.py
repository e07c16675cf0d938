"""The errors the entry points catch from the service layer, in one place.

They are raised by the adapters underneath and re-exported here unchanged (wrapping
them would add nothing but a second name): the entry points import them from here,
never from ``adapters/``. None of them carries an HTTP status; ``api/problems.py``
maps what the APIs answer, and the CLI chooses its exit codes.
"""

from __future__ import annotations

from adapters.breakers import BreakerStoreUnavailable
from adapters.playbook_files import PlaybookError
from adapters.portfolio_file import PortfolioFileError
from adapters.portfolio_store import PortfolioStoreError, RequestMismatch
from adapters.schema import SchemaError
from adapters.sinks.base import SinkUnavailable
from adapters.tenants import TenantError

__all__ = [
    "BreakerStoreUnavailable",
    "PlaybookError",
    "PortfolioFileError",
    "PortfolioStoreError",
    "RequestMismatch",
    "SchemaError",
    "SinkUnavailable",
    "TenantError",
]
