"""A campaign's KPIs from the SQL read model (``recoup report``, the demo, the API).

``CampaignReport`` and ``Breakdown`` are the report adapter's models, re-exported
unchanged: they are what the read model answers, and what the entry points print.
"""

from __future__ import annotations

from adapters.report import Breakdown, CampaignReport
from adapters.report import campaign_report as _campaign_report
from bootstrap.root import Root

__all__ = ["Breakdown", "CampaignReport", "campaign_report"]


def campaign_report(root: Root, campaign_id: str, tenant_id: str | None) -> CampaignReport:
    """The campaign's report (of one tenant's accounts when ``tenant_id`` is given)."""
    events = root.events
    events.create_tables()
    return _campaign_report(events.engine, campaign_id, tenant_id)
