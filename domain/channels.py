"""Contact channels and the task queues their agents listen on."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Channel(StrEnum):
    """A medium through which a debtor is contacted."""

    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    LETTER = "letter"


class TaskQueues(BaseModel):
    """Task queue names (DESIGN.md contracts).

    Carried in workflow inputs so that a deployment (or a test) can run several
    isolated sets of workers against one Temporal namespace.
    """

    model_config = ConfigDict(frozen=True)

    campaigns: str = "campaigns"
    email: str = "email-tasks"
    sms: str = "sms-tasks"
    phone: str = "phone-tasks"
    letter: str = "letter-tasks"
    payments: str = "payments-tasks"
    research: str = "research-tasks"
    escalation: str = "escalation-tasks"
    export: str = "export-tasks"

    def for_channel(self, channel: Channel) -> str:
        return {Channel.EMAIL: self.email, Channel.SMS: self.sms, Channel.PHONE: self.phone}[
            channel
        ]

    @classmethod
    def with_suffix(cls, suffix: str) -> TaskQueues:
        """Every queue name with ``suffix`` appended (isolated test or staging workers)."""
        base = cls()
        return cls(**{name: f"{value}{suffix}" for name, value in base.model_dump().items()})
