"""The balance band: how much is owed, coarse enough to show where payloads are encrypted.

Search attributes are never encrypted (the codec sees payloads only), and the web UI,
``temporal workflow list`` and anyone with visibility access read them in clear. An
exact balance next to an account id is personal financial data; its band is what an
operator needs to sort a worklist ("the 5k+ ones first") and no more. Bands are in the
account's own currency units.
"""

from __future__ import annotations

from decimal import Decimal

# (upper bound, exclusive; label), in order. A balance of exactly 0 is "0" (paid).
_BOUNDS: tuple[tuple[Decimal, str], ...] = (
    (Decimal("100"), "<100"),
    (Decimal("500"), "100-500"),
    (Decimal("1000"), "500-1k"),
    (Decimal("5000"), "1k-5k"),
)
TOP = "5k+"
ZERO = "0"
# Every band, smallest first (the values of ``RecoupBalanceBand``).
BANDS: tuple[str, ...] = (ZERO, *(label for _, label in _BOUNDS), TOP)


def balance_band(balance: Decimal) -> str:
    """The band ``balance`` falls in: lower bound inclusive, upper exclusive."""
    if balance < 0:
        raise ValueError(f"balance: must be 0 or more (got {balance})")
    if balance == 0:
        return ZERO
    for bound, label in _BOUNDS:
        if balance < bound:
            return label
    return TOP
