"""The web UI's list, as far as Temporal allows: what the README's queries find.

The queries are the README's (``workflows/search_attributes.py`` builds both, and
``tests/unit/test_web_ui_queries.py`` checks the README shows them), run against the dev
server's own visibility store: the columns an operator adds (status, balance band, next
action) and the approvals near their deadline.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecution

from bootstrap.settings import Settings
from domain import names
from domain.arrangements import ArrangementStatus
from domain.campaign_core import view
from domain.operator import Approval, ApprovalDecision, ApprovalStatus
from service.campaigns import account_status, arrange, start_account_campaign
from tests.api_support import eventually
from tests.arrangement_support import settlement
from tests.campaign_support import cadence
from tests.conftest import TENANT, make_account
from workflows import search_attributes as sa


def columns(execution: WorkflowExecution) -> dict[str, Any]:
    """What the list shows of one campaign in Recoup's columns."""
    found = execution.typed_search_attributes
    return {
        "status": found.get(sa.STATUS),
        "band": found.get(sa.BALANCE_BAND),
        "next": found.get(sa.NEXT_ACTION),
        "deadline": found.get(sa.APPROVAL_DEADLINE),
        "amount": found.get(sa.AMOUNT_DUE),
    }


async def listed(client: Client, query: str) -> list[WorkflowExecution]:
    return [w async for w in client.list_workflows(query)]


async def test_an_approval_near_its_deadline_is_found_and_gone_once_decided(
    client: Client, settings: Settings, running: object
) -> None:
    account = make_account()  # owes 250.00
    campaign = f"ui-{uuid.uuid4().hex[:8]}"
    handle = await start_account_campaign(
        client, settings, tenant=TENANT, campaign_id=campaign, playbook=cadence(), account=account
    )
    mine = f" AND {sa.ACCOUNT.name} = {sa.quoted(account.account_id)}"
    worklist = sa.worklist_query(TENANT.tenant_id) + mine

    # The first email went out: the list shows the balance's band and the next step's
    # channel (real days: the text is due tomorrow), never the amount.
    before = await eventually(
        lambda: listed(client, worklist),
        lambda found: len(found) == 1 and columns(found[0])["next"] == "sms",
    )
    assert columns(before[0]) == {
        "status": "active",
        "band": "100-500",
        "next": "sms",
        "deadline": None,
        "amount": None,
    }

    deal = await arrange(
        client, TENANT.tenant_id, account.account_id, settlement("ui-deep", "50.00")
    )
    assert deal.status is ArrangementStatus.AWAITING_APPROVAL
    snapshot = await account_status(client, TENANT.tenant_id, account.account_id)
    approval = next(a for a in snapshot.approvals if a.status is ApprovalStatus.PENDING)
    assert approval.expires_at is not None
    due_soon = sa.approvals_due_query(TENANT.tenant_id, approval.expires_at + timedelta(hours=1))
    due_later = sa.approvals_due_query(TENANT.tenant_id, approval.expires_at - timedelta(hours=1))

    waiting = await eventually(
        lambda: listed(client, due_soon + mine), lambda found: len(found) == 1
    )
    assert columns(waiting[0]) == {
        "status": "active",
        "band": "100-500",
        "next": view.WAITING_APPROVAL,
        "deadline": approval.expires_at,
        "amount": None,
    }
    # Indexed with its deadline: an earlier cut-off does not find it; a count does.
    assert (await client.count_workflows(due_later + mine)).count == 0
    assert (await client.count_workflows(due_soon + mine)).count == 1

    decided: Approval = await handle.execute_update(
        names.UPDATE_DECIDE_APPROVAL,
        ApprovalDecision(approval_id=approval.approval_id, approve=False, operator="lee"),
        result_type=Approval,
    )
    assert decided.status is ApprovalStatus.REJECTED
    await eventually(
        lambda: client.count_workflows(due_soon + mine), lambda counted: counted.count == 0
    )
    after = await listed(client, worklist + f" AND {sa.APPROVAL_DEADLINE.name} IS NULL")
    assert [columns(w) for w in after] == [
        {"status": "active", "band": "100-500", "next": "sms", "deadline": None, "amount": None}
    ]
    # A new campaign takes this path from its input: no patch marker, and so no
    # TemporalChangeVersion upsert (a billable action in every campaign).
    history = await handle.fetch_history()
    assert not [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
    upserted = {
        name
        for e in history.events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
        for name in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields  # noqa: E501
    }
    assert "TemporalChangeVersion" not in upserted and sa.NEXT_ACTION.name in upserted
