"""Deterministic orchestration: workflows import only ``domain`` (through the sandbox)."""

from workflows.account_campaign import AccountCampaign
from workflows.payment_plan import PaymentPlan
from workflows.portfolio import Portfolio

ALL_WORKFLOWS = [AccountCampaign, PaymentPlan, Portfolio]

__all__ = ["ALL_WORKFLOWS", "AccountCampaign", "PaymentPlan", "Portfolio"]
