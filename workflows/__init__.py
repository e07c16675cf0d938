"""Deterministic orchestration: workflows import only ``domain`` (through the sandbox)."""

from workflows.account_campaign import AccountCampaign
from workflows.portfolio import Portfolio

ALL_WORKFLOWS = [AccountCampaign, Portfolio]

__all__ = ["ALL_WORKFLOWS", "AccountCampaign", "Portfolio"]
