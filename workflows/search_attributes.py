"""Custom search attributes operators filter on in the Temporal web UI.

Search attributes are never encrypted (the codec sees payloads, not these): none holds
personal data or an exact amount. Ids, a status, a channel, a balance band, days past
due, what happens next and dates only. ``RecoupAmountDue`` (the exact amount) is no
longer written by campaigns started now; it stays registered because campaigns that
began before still upsert it, and an upsert of an unknown attribute fails their task.
``REGISTRATION`` is what ``recoup dev`` (and tests) register on the server.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from domain import names
from domain.account import Account
from domain.balance_band import balance_band
from domain.campaign_core import view

TENANT = SearchAttributeKey.for_keyword("RecoupTenant")
CAMPAIGN = SearchAttributeKey.for_keyword("RecoupCampaign")
ACCOUNT = SearchAttributeKey.for_keyword("RecoupAccount")
STATUS = SearchAttributeKey.for_keyword("RecoupStatus")
CHANNEL = SearchAttributeKey.for_keyword("RecoupChannel")
# Written only by campaigns that began before the balance band (see above).
AMOUNT_DUE = SearchAttributeKey.for_float("RecoupAmountDue")
DAYS_PAST_DUE = SearchAttributeKey.for_int("RecoupDaysPastDue")
NEXT_ACTION_AT = SearchAttributeKey.for_datetime("RecoupNextActionAt")
# True while the campaign waits for a person (``recoup``'s approvals list reads it).
AWAITING_APPROVAL = SearchAttributeKey.for_bool("RecoupAwaitingApproval")
# The web UI list's columns (``domain/campaign_core/view.py`` says what each holds).
BALANCE_BAND = SearchAttributeKey.for_keyword(view.BALANCE_BAND)
NEXT_ACTION = SearchAttributeKey.for_keyword(view.NEXT_ACTION)
APPROVAL_DEADLINE = SearchAttributeKey.for_datetime(view.APPROVAL_DEADLINE)

AnyKey = (
    SearchAttributeKey[str]
    | SearchAttributeKey[float]
    | SearchAttributeKey[int]
    | SearchAttributeKey[datetime]
    | SearchAttributeKey[bool]
)
ALL: tuple[AnyKey, ...] = (
    TENANT,
    CAMPAIGN,
    ACCOUNT,
    STATUS,
    CHANNEL,
    AMOUNT_DUE,
    DAYS_PAST_DUE,
    NEXT_ACTION_AT,
    AWAITING_APPROVAL,
    BALANCE_BAND,
    NEXT_ACTION,
    APPROVAL_DEADLINE,
)

# ``temporal server start-dev --search-attribute NAME=Type`` spelling.
_CLI_TYPE = {
    "KEYWORD": "Keyword",
    "DOUBLE": "Double",
    "INT": "Int",
    "DATETIME": "Datetime",
    "BOOL": "Bool",
}
REGISTRATION: dict[str, str] = {key.name: _CLI_TYPE[key.indexed_value_type.name] for key in ALL}


def for_account(tenant_id: str, campaign_id: str, account: Account) -> TypedSearchAttributes:
    """What an account campaign starts with (it upserts status, channel and times later)."""
    pairs: list[SearchAttributePair[str] | SearchAttributePair[int]] = [
        SearchAttributePair(TENANT, tenant_id),
        SearchAttributePair(CAMPAIGN, campaign_id),
        SearchAttributePair(ACCOUNT, account.account_id),
        SearchAttributePair(STATUS, "scheduled"),
        SearchAttributePair(BALANCE_BAND, balance_band(account.amount_due)),
        SearchAttributePair(DAYS_PAST_DUE, account.days_past_due),
    ]
    return TypedSearchAttributes(pairs)


def for_portfolio(*, tenant_id: str, campaign_id: str, status: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT, tenant_id),
            SearchAttributePair(CAMPAIGN, campaign_id),
            SearchAttributePair(STATUS, status),
        ]
    )


def quoted(value: str) -> str:
    """A string literal of Temporal's visibility query language."""
    # Ids are Identifiers (no quotes possible); escape anyway, the query is a string.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def campaign_accounts_query(tenant_id: str, campaign_id: str, *, running: bool) -> str:
    """The visibility query selecting a campaign's account campaigns (not its portfolio).

    What batch operations (pause, resume, cancel a whole campaign) and the portfolio's
    counts select by.
    """
    query = (
        f"{TENANT.name} = {quoted(tenant_id)} AND {CAMPAIGN.name} = {quoted(campaign_id)} "
        f"AND WorkflowType = '{names.ACCOUNT_CAMPAIGN}'"
    )
    return query + (" AND ExecutionStatus = 'Running'" if running else "")


def worklist_query(tenant_id: str) -> str:
    """The web UI's worklist: a tenant's account campaigns still running (README)."""
    return (
        f"{TENANT.name} = {quoted(tenant_id)} AND WorkflowType = '{names.ACCOUNT_CAMPAIGN}' "
        "AND ExecutionStatus = 'Running'"
    )


def approvals_due_query(tenant_id: str, before: datetime) -> str:
    """A tenant's running campaigns with an approval that defaults before ``before``."""
    if before.tzinfo is None:
        raise ValueError(f"before: must say its time zone (got {before.isoformat()})")
    deadline = before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"{TENANT.name} = {quoted(tenant_id)} AND {APPROVAL_DEADLINE.name} < '{deadline}' "
        "AND ExecutionStatus = 'Running'"
    )
