"""The providers' circuit breakers as every worker shares them (``recoup breakers``).

``BreakerSnapshot`` and ``BreakerState`` are the breaker adapter's, re-exported
unchanged; a store that does not answer raises ``BreakerStoreUnavailable``
(``service.errors``).
"""

from __future__ import annotations

from adapters.breakers import BreakerSnapshot, BreakerState
from bootstrap.root import Root

__all__ = ["BreakerSnapshot", "BreakerState", "reset", "snapshots"]


async def snapshots(root: Root) -> list[BreakerSnapshot]:
    """Every breaker's state, window and timings."""
    return await root.breakers().snapshots()


async def reset(root: Root, name: str) -> None:
    """Close the breaker ``name`` now, with a fresh window."""
    await root.breakers().reset(name)
