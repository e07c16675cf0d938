"""A promise to pay pauses outreach until its day has passed; a broken one is escalated."""

from __future__ import annotations

from datetime import datetime

from domain.campaign import CollectionStatus
from domain.campaign_core.campaign import Campaign
from domain.campaign_core.outbox import emit
from domain.campaign_core.replies import broken_promise
from domain.campaign_core.status import set_status
from domain.events import EventType


def check(c: Campaign, until: datetime) -> bool:
    """The promise (kept open until ``until``) passed and nothing was paid: outreach
    resumes with the next step, and a person is told. True when it was broken now."""
    st = c.state
    if st.status is not CollectionStatus.PROMISED or c.now() < until:
        return False
    st.promise_until = None
    emit(c, EventType.PROMISE, "broken", {"promiseUntil": until.isoformat()})
    broken_promise(c, until)
    set_status(c, CollectionStatus.ACTIVE)
    return True
