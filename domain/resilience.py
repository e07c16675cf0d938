"""How a channel agent retries a failed send: the messaging seed's rules as data.

The seed ("Retry Mechanisms") gives each channel its own schedule: email 3
attempts with exponential back-off (1 s, 4 s, 16 s), phone 2 attempts 30 s apart,
SMS 3 attempts with linear back-off (5 s, 10 s, 15 s). Temporal retries the
activity; these rules say how often and how long to wait. Temporal has no
linear back-off, so the channel agent computes every delay from the attempt
number with :meth:`RetryRule.delay_after` and hands it to Temporal as the
failure's ``next_retry_delay``.

Deployments change the defaults in settings, and may override them per tenant.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # domain.channels reads the seed rules below into its registry
    from domain.channels import Channel


class Backoff(StrEnum):
    EXPONENTIAL = "exponential"
    FIXED = "fixed"
    LINEAR = "linear"


class RetryRule(BaseModel):
    """One channel's retry schedule.

    ``max_attempts`` counts every try, the first included (Temporal's meaning).
    The delay before try ``n + 1`` is ``initial`` × ``multiplier``^(n-1) for
    exponential back-off, ``initial`` for fixed, and ``initial`` × n for linear.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(ge=1, le=20)
    backoff: Backoff
    initial_seconds: float = Field(gt=0, le=3600)
    multiplier: float = Field(default=4.0, ge=1, le=10, description="Exponential back-off only.")

    def delay_after(self, attempt: int) -> timedelta:
        """The wait between failed try ``attempt`` (1-based) and the next one."""
        n = max(1, attempt)
        if self.backoff is Backoff.EXPONENTIAL:
            seconds = self.initial_seconds * self.multiplier ** (n - 1)
        elif self.backoff is Backoff.LINEAR:
            seconds = self.initial_seconds * n
        else:
            seconds = self.initial_seconds
        return timedelta(seconds=seconds)

    @property
    def schedule(self) -> list[timedelta]:
        """Every wait this rule makes, in order (one fewer than the attempts)."""
        return [self.delay_after(n) for n in range(1, self.max_attempts)]


SEED_EMAIL = RetryRule(max_attempts=3, backoff=Backoff.EXPONENTIAL, initial_seconds=1)
SEED_PHONE = RetryRule(max_attempts=2, backoff=Backoff.FIXED, initial_seconds=30)
SEED_SMS = RetryRule(max_attempts=3, backoff=Backoff.LINEAR, initial_seconds=5)
# Not the seed's (it has no letters): a print-and-mail API call is idempotent by key, so
# a few spaced tries ride out an outage without mailing twice.
SEED_LETTER = RetryRule(max_attempts=3, backoff=Backoff.EXPONENTIAL, initial_seconds=5)


class RetryRules(BaseModel):
    """The retry rule of every channel; the seed's values unless configured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: RetryRule = SEED_EMAIL
    sms: RetryRule = SEED_SMS
    phone: RetryRule = SEED_PHONE
    letter: RetryRule = SEED_LETTER

    def for_channel(self, channel: Channel) -> RetryRule:
        rule: RetryRule = getattr(self, channel.value)
        return rule


class RetryOverrides(BaseModel):
    """A tenant's changes to the deployment's rules; channels left out keep theirs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: RetryRule | None = None
    sms: RetryRule | None = None
    phone: RetryRule | None = None
    letter: RetryRule | None = None

    def applied_to(self, rules: RetryRules) -> RetryRules:
        changes = self.model_dump(exclude_none=True)
        return rules.model_copy(update={k: getattr(self, k) for k in changes})
