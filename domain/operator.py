"""What an operator does to a running campaign: pause, resume, cancel, approve.

Each is the single input of one signal or update of the account campaign. A whole
campaign is steered in two moves (the protocol seed's broadcast route): its portfolio
holds or stops its launcher (``LaunchControl``), then a Temporal batch operation
signals every running account campaign of it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.account import Identifier


class PauseRequest(BaseModel):
    """Stop outreach until resumed; payments, replies and legal events still count."""

    reason: str = Field(default="paused by an operator", max_length=500)
    operator: str = Field(default="operator", max_length=200)


class CancelRequest(BaseModel):
    """End the campaign now as ``cancelled``: no further contact; what was paid stays paid."""

    reason: str = Field(default="cancelled by an operator", max_length=500)
    operator: str = Field(default="operator", max_length=200)


class LaunchAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


class LaunchControl(BaseModel):
    """Steer a portfolio's launcher: hold (pause), release (resume) or stop (cancel)."""

    action: LaunchAction
    reason: str = Field(default="", max_length=500)
    operator: str = Field(default="operator", max_length=200)


class LaunchState(BaseModel):
    """Where the launcher stands once no page of starts is in flight."""

    started: int
    attached: int
    launching_done: bool
    paused: bool
    cancelled: bool


class ResumeRequest(BaseModel):
    """Resume outreach where it stopped (a step that fell due meanwhile goes now)."""

    operator: str = Field(default="operator", max_length=200)
    note: str = Field(default="", max_length=500)


class ApprovalKind(StrEnum):
    # A settlement forgiving more of the balance than the tenant lets agents agree alone.
    SETTLEMENT = "settlement"
    # Agents disagreed, their peers could not settle it, the supervisor ruled: a person
    # approves the ruling (``proposal``) or rejects it (``alternative`` applies).
    AGENT_DISAGREEMENT = "agent_disagreement"
    # The shipped reply model read a reply with low confidence: a person approves its
    # reading (``proposal``) or rejects it for the runner-up (``alternative``).
    REVIEW_REPLY = "review_reply"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Approval(BaseModel):
    """A decision the campaign waits for a person to make."""

    approval_id: Identifier
    kind: ApprovalKind
    summary: str = Field(max_length=1000, description="What is asked, in a sentence.")
    requested_at: datetime
    subject_id: str = Field(description="What it is about, e.g. the arrangement id.")
    status: ApprovalStatus = ApprovalStatus.PENDING
    expires_at: datetime | None = Field(
        default=None, description="Nobody decided by then: the safe default applies."
    )
    safe_default: ApprovalStatus = Field(
        default=ApprovalStatus.REJECTED, description="What an unanswered request becomes."
    )
    decided_at: datetime | None = None
    decided_by: str | None = None
    note: str = ""
    disagreement: str | None = Field(
        default=None, description="For agent disagreements: its kind (domain.supervision)."
    )
    proposal: str | None = Field(default=None, description="What approving applies.")
    alternative: str | None = Field(default=None, description="What rejecting applies.")


class ApprovalDecision(BaseModel):
    """The single input of the ``decide_approval`` update."""

    approval_id: Identifier
    approve: bool
    operator: str = Field(default="operator", min_length=1, max_length=200)
    note: str = Field(default="", max_length=500)
