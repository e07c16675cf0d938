"""The balance band shown in place of the amount: its edges, and that it never lies."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.balance_band import BANDS, balance_band


@pytest.mark.parametrize(
    ("balance", "band"),
    [
        ("0", "0"),
        ("0.00", "0"),
        ("0.01", "<100"),
        ("99.99", "<100"),
        ("100", "100-500"),
        ("499.99", "100-500"),
        ("500", "500-1k"),
        ("999.99", "500-1k"),
        ("1000", "1k-5k"),
        ("4999.99", "1k-5k"),
        ("5000", "5k+"),
        ("999999999999.99", "5k+"),
    ],
)
def test_a_band_includes_its_lower_edge_and_not_its_upper(balance: str, band: str) -> None:
    assert balance_band(Decimal(balance)) == band


def test_a_negative_balance_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"balance: must be 0 or more \(got -0.01\)"):
        balance_band(Decimal("-0.01"))


@given(
    st.decimals(min_value=0, max_value=Decimal("1e12"), places=2, allow_nan=False),
    st.decimals(min_value=0, max_value=Decimal("1e12"), places=2, allow_nan=False),
)
def test_a_larger_balance_is_never_in_a_smaller_band(a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    assert BANDS.index(balance_band(low)) <= BANDS.index(balance_band(high))
