"""The campaign's decision core run without Temporal: a clock the test moves for a host."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

T0 = datetime(2026, 6, 2, 15, 0, tzinfo=UTC)  # 11:00 in New York: inside calling hours


@dataclass
class Clock:
    """The host a core campaign runs in: a clock the test moves, and fixed run ids."""

    at: datetime = T0
    workflow_id: str = "account/t/A-1"
    run_id: str = "run-1"
    first_execution_run_id: str = "run-1"

    def now(self) -> datetime:
        return self.at
