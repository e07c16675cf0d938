"""The ``recoup compliance check`` input and output: one question, one answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.compliance.engine import decide
from domain.compliance.model import ComplianceFacts, Decision, PastContact, ProposedContact


class CheckRequest(BaseModel):
    """``{"account": {...}, "history": [...], "proposed": {...}}``; other top-level keys
    (an ``id``, a note) are carried or ignored, never an error."""

    model_config = ConfigDict(extra="ignore")

    id: str | int | None = None
    account: ComplianceFacts
    history: list[PastContact] = Field(default_factory=list)
    proposed: ProposedContact


def utc_instant(moment: datetime | None) -> str | None:
    """``2026-03-17T14:00:00Z``: a UTC ISO-8601 instant (fractions only when present)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def answer(decision: Decision) -> dict[str, Any]:
    return {
        "allowed": decision.allowed,
        "reason": decision.reason.value,
        "reasons": [r.value for r in decision.reasons],
        "earliest_allowed": utc_instant(decision.earliest_allowed),
    }


def check(request: CheckRequest) -> dict[str, Any]:
    return answer(decide(request.account, request.history, request.proposed))
