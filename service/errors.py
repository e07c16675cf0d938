"""The errors the entry points catch from the service layer, in one place.

Most are raised by the adapters underneath and re-exported here unchanged (wrapping
them would add nothing but a second name): the entry points import them from here,
never from ``adapters/``. The service's own are defined below: what it says when an
id names nothing, in Recoup's words rather than Temporal's ("workflow not found for
ID: account/default/A-9999"). None of them carries an HTTP status; ``api/problems.py``
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
    "NOT_FOUND",
    "AccountCampaignEnded",
    "BreakerStoreUnavailable",
    "NoAccountCampaign",
    "NoSuchCampaign",
    "PlaybookError",
    "PortfolioFileError",
    "PortfolioStoreError",
    "RequestMismatch",
    "SchemaError",
    "SinkUnavailable",
    "TenantError",
]


class NoSuchCampaign(LookupError):
    """Neither a portfolio nor any running account campaign has this campaign id."""


class NoAccountCampaign(LookupError):
    """No campaign of the tenant has this account: never launched, another tenant's, or
    ended longer ago than the namespace keeps histories."""

    def __init__(self, tenant_id: str, account_id: str) -> None:
        super().__init__(f"no campaign for account {account_id!r} in tenant {tenant_id!r}")


class AccountCampaignEnded(LookupError):
    """The account's campaign has ended: it takes no more payments, events or plans."""

    def __init__(self, tenant_id: str, account_id: str) -> None:
        super().__init__(
            f"the campaign of account {account_id!r} in tenant {tenant_id!r} has ended "
            f"(`recoup account show {account_id} --tenant {tenant_id}` shows how)"
        )


# What a lookup by id raises when the id names nothing there: one tuple to catch.
NOT_FOUND = (NoSuchCampaign, NoAccountCampaign, AccountCampaignEnded)
