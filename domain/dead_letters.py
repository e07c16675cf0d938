"""Dead letters: contact commands that failed after every retry and fallback.

The messaging seed names a failed-queue per channel (email-failed-queue, …);
here a dead letter is a row an operator can list, read and redrive. Redriving
re-enters the account's running campaign, which asks the compliance gate again
before it contacts anyone.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.channels import Channel
from domain.contact import ContactRequest


class DeadLetterStatus(StrEnum):
    OPEN = "open"
    REDRIVEN = "redriven"


class FailedSend(BaseModel):
    """One channel's last failure for the command (after its own retries)."""

    channel: Channel
    to: str
    attempt_id: str
    error_type: str
    error: str = Field(max_length=2000)
    attempts: int = Field(ge=1, description="Tries Temporal made on this channel.")


class DeadLetter(BaseModel):
    dead_letter_id: str
    tenant_id: str
    account_id: str
    campaign_id: str
    workflow_id: str
    step_id: str
    template: str
    created_at: datetime
    failures: list[FailedSend] = Field(min_length=1)
    request: ContactRequest = Field(description="The last command, with its full context.")
    status: DeadLetterStatus = DeadLetterStatus.OPEN
    redriven_at: datetime | None = None

    @property
    def channel(self) -> Channel:
        """The channel the command was for (its first choice)."""
        return self.failures[0].channel

    @property
    def last_error(self) -> str:
        last = self.failures[-1]
        return f"{last.channel} {last.error_type}: {last.error}"


def dead_letter_id(workflow_id: str, step_id: str, redrive: int) -> str:
    """Short, stable and unique per campaign step and redrive: safe to record twice."""
    digest = hashlib.sha256(f"{workflow_id}|{step_id}|{redrive}".encode()).hexdigest()
    return f"dlq_{digest[:16]}"


class RedriveRequest(BaseModel):
    """The single input of the campaign's ``redrive`` update."""

    dead_letter_id: str
    step_id: str
