"""Deterministic orchestration: workflows import only ``domain`` (through the sandbox).

The workflow classes are loaded on first use (PEP 562), not when the package is: the
sandbox re-imports a workflow's module, and so this package, for every run it starts,
and an account campaign's run has no use for the portfolio's or the payment plan's
modules (importing them was about a quarter of that cost).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflows.account_campaign import AccountCampaign
    from workflows.payment_plan import PaymentPlan
    from workflows.portfolio import Portfolio

_WHERE = {
    "AccountCampaign": "workflows.account_campaign",
    "PaymentPlan": "workflows.payment_plan",
    "Portfolio": "workflows.portfolio",
}

__all__ = ["ALL_WORKFLOWS", "AccountCampaign", "PaymentPlan", "Portfolio"]


def __getattr__(name: str) -> Any:
    if name == "ALL_WORKFLOWS":
        return [__getattr__(workflow) for workflow in _WHERE]
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
