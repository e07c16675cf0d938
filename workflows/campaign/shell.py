"""The campaign core's host in a workflow, the effects it hands back, and the run's flags."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from domain.campaign import AccountCampaignInput, CampaignState
    from domain.campaign_core import view
    from domain.campaign_core.campaign import Campaign, Describe, Effect, Log, Upsert
    from workflows import search_attributes as sa

_KEYS: dict[str, SearchAttributeKey[Any]] = {key.name: key for key in sa.ALL}

# Campaigns upsert the web UI list's columns (balance band, next action, approval
# deadline) and no longer the exact amount due; runs that began before keep upserting
# the amount, so that their histories replay. New starts say so in their input
# (``web_ui_columns``); only runs without it ask workflow.patched, once per run: a patch
# marker costs a TemporalChangeVersion upsert, a billable action, in every new run.
VIEW_ATTRIBUTES = "web-ui-view-attributes"


class WorkflowHost:
    """The clock and ids of the running workflow (deterministic on replay)."""

    def now(self) -> datetime:
        return workflow.now()

    @property
    def workflow_id(self) -> str:
        return workflow.info().workflow_id

    @property
    def run_id(self) -> str:
        return workflow.info().run_id

    @property
    def first_execution_run_id(self) -> str:
        return workflow.info().first_execution_run_id


def carry_out(effect: Effect) -> None:
    """What only Temporal can do, the moment the core decides it (the history's order)."""
    if isinstance(effect, Upsert):
        updates: list[SearchAttributeUpdate[Any]] = [
            _KEYS[name].value_unset() if value is None else _KEYS[name].value_set(value)
            for name, value in effect.fields
        ]
        workflow.upsert_search_attributes(updates)
    elif isinstance(effect, Describe):
        workflow.set_current_details(effect.text)
    elif isinstance(effect, Log):
        if effect.level == "warning":
            workflow.logger.warning(effect.message)
        else:
            workflow.logger.info(effect.message)


class Shell:
    """One run of an account campaign: its decision core and what only this run holds."""

    def __init__(self, inp: AccountCampaignInput, state: CampaignState) -> None:
        self.core = Campaign(inp, state, WorkflowHost(), carry_out)
        self.core.view_attributes = inp.web_ui_columns or workflow.patched(VIEW_ATTRIBUTES)
        # What this run started with (set by its starter, or carried over from the run
        # before) needs no upsert.
        started = workflow.info().typed_search_attributes
        self.core.published = {name: started.get(_KEYS[name]) for name in view.ATTRIBUTES}
        # Reads ``state.unread`` with the language model, beside the main loop.
        self.reader: asyncio.Task[None] | None = None
        self.reading = False
        self.stop_reading = False
        # What the payment plan's child was last told has been paid.
        self.plan_forwarded = Decimal("0")

    @property
    def inp(self) -> AccountCampaignInput:
        return self.core.inp

    @property
    def state(self) -> CampaignState:
        return self.core.state
