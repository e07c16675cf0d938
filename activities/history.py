"""Loads what earlier campaigns of the same debt did, for the compliance gate."""

from __future__ import annotations

import asyncio

from temporalio import activity

from adapters.contact_ledger import ContactLedger
from domain import names
from domain.compliance.facts import ContactHistory, ContactHistoryRequest


class HistoryLoader:
    def __init__(self, ledger: ContactLedger) -> None:
        self._ledger = ledger

    @activity.defn(name=names.LOAD_CONTACT_HISTORY)
    async def load_contact_history(self, request: ContactHistoryRequest) -> ContactHistory:
        contacts = await asyncio.to_thread(
            self._ledger.history, request.tenant_id, request.account_id, request.since
        )
        return ContactHistory(contacts=contacts)
