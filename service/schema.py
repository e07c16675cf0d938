"""The SQL database's schema: its revision, the latest, and migrating to it (``recoup db``).

The schema adapter's functions, re-exported unchanged (``SchemaError`` is in
``service.errors``); ``database_error`` words a driver error in one line.
"""

from __future__ import annotations

from adapters.schema import current_revision, head_revision, is_known, migrate
from adapters.sql import one_line as database_error

__all__ = ["current_revision", "database_error", "head_revision", "is_known", "migrate"]
