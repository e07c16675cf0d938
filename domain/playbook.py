"""Declarative playbooks: the cadence of a campaign, as data.

A playbook is an ordered list of steps. Each step fires ``day`` days after the
campaign started, on one channel, with one template, if its conditions hold;
otherwise its fallback channel is tried. Stop conditions end or pause the
outreach. Playbooks are shipped as YAML files in ``playbooks/`` and validated
here; ``docs/playbook.schema.json`` is generated from these models.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.channels import Channel

StepId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
TemplateName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class StepCondition(StrEnum):
    """A condition that must hold for a step to use its primary channel."""

    SMS_CONSENT = "sms_consent"
    VOICE_CONSENT = "voice_consent"
    EMAIL_AVAILABLE = "email_available"
    NO_REPLY_YET = "no_reply_yet"
    NO_PAYMENT_YET = "no_payment_yet"


class StopCondition(StrEnum):
    """What ends (or pauses) the outreach. A full payment always ends it."""

    PAID_IN_FULL = "paid_in_full"
    PROMISE_TO_PAY = "promise_to_pay"
    ANY_REPLY = "any_reply"
    OPTED_OUT_EVERYWHERE = "opted_out_everywhere"


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: StepId
    day: int = Field(ge=0, le=365, description="Days after the campaign started.")
    channel: Channel
    template: TemplateName
    requires: list[StepCondition] = Field(
        default_factory=list, description="All must hold for the primary channel."
    )
    min_balance: Decimal | None = Field(
        default=None, ge=0, description="Skip the step when the balance is below this."
    )
    fallback: Channel | list[Channel] | None = Field(
        default=None,
        description=(
            "Tried when the primary channel is not allowed or fails; a list is tried in "
            "order (e.g. [letter, sms]: a letter where there is an address, else a text)."
        ),
    )
    fallback_template: TemplateName | None = None

    @model_validator(mode="after")
    def _fallback_differs(self) -> Self:
        if isinstance(self.fallback, list) and not self.fallback:
            raise ValueError("fallback must name at least one channel (or be left out)")
        if self.channel in self.fallbacks:
            raise ValueError("fallback must differ from channel")
        if len(set(self.fallbacks)) != len(self.fallbacks):
            raise ValueError("fallback names a channel twice")
        if self.fallback_template is not None and self.fallback is None:
            raise ValueError("fallback_template needs a fallback channel")
        return self

    @property
    def fallbacks(self) -> list[Channel]:
        """The fallback channels, in the order they are tried."""
        if self.fallback is None:
            return []
        return list(self.fallback) if isinstance(self.fallback, list) else [self.fallback]


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StepId
    version: int = Field(default=1, ge=1)
    description: str = ""
    steps: list[Step] = Field(min_length=1, max_length=100)
    stop_when: list[StopCondition] = Field(
        default_factory=lambda: [
            StopCondition.PAID_IN_FULL,
            StopCondition.PROMISE_TO_PAY,
            StopCondition.OPTED_OUT_EVERYWHERE,
        ]
    )
    promise_grace_days: int = Field(
        default=7, ge=0, le=90, description="Outreach pauses this long after a promise."
    )
    closing_days: int = Field(
        default=7, ge=0, le=90, description="Wait for payment after the last step."
    )
    instalment_reminder_days: int = Field(
        default=3, ge=0, le=30, description="Settlements and plans: remind this long before due."
    )
    instalment_grace_days: int = Field(
        default=5, ge=0, le=30, description="An instalment unpaid this long after due is missed."
    )

    @model_validator(mode="after")
    def _ordered_unique_steps(self) -> Self:
        seen: set[str] = set()
        previous_day = 0
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice")
            seen.add(step.id)
            if step.day < previous_day:
                raise ValueError(
                    f"step {step.id!r} is on day {step.day}, before the previous step "
                    f"(day {previous_day}); steps must be in day order"
                )
            previous_day = step.day
        return self

    @property
    def total_days(self) -> int:
        return self.steps[-1].day + self.closing_days

    def stops_on(self, condition: StopCondition) -> bool:
        return condition is StopCondition.PAID_IN_FULL or condition in self.stop_when
