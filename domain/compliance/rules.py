"""Rule sets as data: the US federal set by default, state overlays, other jurisdictions.

A rule set is a value, not code: the engine reads its numbers, so a new
jurisdiction or a regulator's change is a new (versioned) value, and every
decision records the ``id@version`` that made it.
"""

from __future__ import annotations

from datetime import time
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from domain.channels import Channel

ALL_CHANNELS = frozenset(Channel)

# When the debtor's location is unknown, every US zone they could be in.
US_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Puerto_Rico",
)


class QuietHours(BaseModel):
    """Contact only within [start, end) local time, never on ``closed_weekdays``."""

    model_config = ConfigDict(frozen=True)

    start: time = time(8, 0)
    end: time = time(21, 0)
    closed_weekdays: frozenset[int] = Field(
        default=frozenset(), description="0 = Monday ... 6 = Sunday."
    )
    cite: str = ""


class CallFrequency(BaseModel):
    """Deny a call when ``max_calls`` calls already fall in ``days`` consecutive local dates."""

    model_config = ConfigDict(frozen=True)

    max_calls: int = 7
    days: int = 7
    cite: str = ""


class PostConversation(BaseModel):
    """No call for ``days`` local dates after a conversation (its date is day 1)."""

    model_config = ConfigDict(frozen=True)

    days: int = 7
    cite: str = ""


class RollingLimit(BaseModel):
    """Deny when ``max_contacts`` outbound contacts on ``channels`` fall in the trailing hours."""

    model_config = ConfigDict(frozen=True)

    max_contacts: int
    hours: int
    channels: frozenset[Channel]
    cite: str = ""


class RuleSet(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    version: str
    description: str = ""
    unknown_location_zones: tuple[str, ...]
    quiet_hours: QuietHours
    call_frequency: CallFrequency | None = None
    post_conversation: PostConversation | None = None
    state_limit: RollingLimit | None = None
    sms_needs_consent: bool = True
    voice_needs_consent: bool = True
    overlays: tuple[str, ...] = Field(default=(), description="Refs of overlays applied.")

    @property
    def ref(self) -> str:
        """``id@version``, plus ``+overlay@version`` for each overlay: recorded per decision."""
        return "+".join((f"{self.id}@{self.version}", *self.overlays))

    def overlay(self, other: RuleSet) -> RuleSet:
        """This set with a state overlay's stricter pieces applied on top."""
        return self.model_copy(
            update={
                "overlays": (*self.overlays, f"{other.id}@{other.version}"),
                "state_limit": other.state_limit or self.state_limit,
            }
        )


US_FEDERAL = RuleSet(
    id="us-federal",
    version="2026.1",
    description="FDCPA / Regulation F (12 CFR 1006) and the TCPA (47 U.S.C. 227).",
    unknown_location_zones=US_ZONES,
    quiet_hours=QuietHours(cite="12 CFR 1006.6(b)(1)(i); 15 U.S.C. 1692c(a)(1)"),
    call_frequency=CallFrequency(cite="12 CFR 1006.14(b)(2)(i)(A)"),
    post_conversation=PostConversation(cite="12 CFR 1006.14(b)(2)(i)(B)"),
)

US_MA = RuleSet(
    id="us-ma",
    version="2026.1",
    description="Massachusetts 940 CMR 7.04(1)(f): 2 calls or texts per 7 days per debt.",
    unknown_location_zones=US_ZONES,
    quiet_hours=US_FEDERAL.quiet_hours,
    state_limit=RollingLimit(
        max_contacts=2,
        hours=168,
        channels=frozenset({Channel.PHONE, Channel.SMS}),
        cite="940 CMR 7.04(1)(f); Armata v. Target Corp., 480 Mass. 14 (2018)",
    ),
)

# Second examples of other jurisdictions. Ireland's Central Bank Consumer
# Protection Code (provision 8.11 in the 2012 code) limits unsolicited contact to
# 09:00-21:00 Monday to Saturday; the UK's CONC 7.9 asks firms not to contact at
# unreasonable hours, which firms commonly read as 08:00-21:00 and no Sundays.
IE = RuleSet(
    id="ie",
    version="2026.1",
    description="Ireland: 09:00-21:00, Monday to Saturday.",
    unknown_location_zones=("Europe/Dublin",),
    quiet_hours=QuietHours(
        start=time(9, 0),
        end=time(21, 0),
        closed_weekdays=frozenset({6}),
        cite="Central Bank of Ireland Consumer Protection Code 2012, provision 8.11",
    ),
)
GB = RuleSet(
    id="gb",
    version="2026.1",
    description="United Kingdom (FCA CONC 7): no contact at unreasonable hours or on Sundays.",
    unknown_location_zones=("Europe/London",),
    quiet_hours=QuietHours(
        start=time(8, 0),
        end=time(21, 0),
        closed_weekdays=frozenset({6}),
        cite="FCA Handbook CONC 7.9.4R (reading of 'unreasonable hours')",
    ),
)

STATE_OVERLAYS: dict[tuple[str, str], RuleSet] = {("US", "MA"): US_MA}
COUNTRY_SETS: dict[str, RuleSet] = {"US": US_FEDERAL, "IE": IE, "GB": GB}


def ruleset_for(country: str, state: str | None) -> RuleSet:
    """The rule set in force for a debtor: the country's set plus any state overlay."""
    return _combined(country.upper(), (state or "").upper())


# The gate asks before every contact; overlaying copies a model, so combine each pair once.
@lru_cache(maxsize=128)
def _combined(country: str, state: str) -> RuleSet:
    base = COUNTRY_SETS.get(country, US_FEDERAL)
    overlay = STATE_OVERLAYS.get((country, state))
    return base.overlay(overlay) if overlay else base
