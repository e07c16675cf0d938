"""Money as payment providers write it: minor units (cents) per ISO 4217 currency.

``from_minor_units`` is the payments adapter's, re-exported unchanged for the webhooks.
"""

from __future__ import annotations

from adapters.payments import from_minor_units

__all__ = ["from_minor_units"]
