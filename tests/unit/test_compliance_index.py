"""The gate's history index answers exactly as the plain reading of the rules.

``domain.compliance.engine`` filters the history once (``domain.compliance.recent``),
caches per-zone free dates and reuses the first round of releases in the fixed point.
``tests/unit/compliance_reference.py`` is the engine before that: it converts and scans
the history per rule. For random long histories - unsorted, in any offset, in zones
whose DST changes at midnight, under random rule numbers - both must give the same
decision: allowed or not, every reason in order, the rule set, and the same earliest
instant in the same zone (UTC).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.channels import Channel
from domain.compliance.engine import decide
from domain.compliance.model import (
    ComplianceFacts,
    Decision,
    PastContact,
    PastOutcome,
    ProposedContact,
)
from domain.compliance.rules import (
    US_FEDERAL,
    US_ZONES,
    CallFrequency,
    PostConversation,
    QuietHours,
    RollingLimit,
    RuleSet,
)
from tests.unit import compliance_reference

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# US zones plus zones with odd offsets or DST changes at midnight (a local date can
# repeat or be skipped), where an index that assumed "later instant, later date" breaks.
ZONES = [
    *US_ZONES,
    "America/Santiago",
    "America/Havana",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Europe/London",
]
BASES = [
    datetime(2026, 1, 10, tzinfo=UTC),
    datetime(2026, 3, 5, tzinfo=UTC),
    datetime(2026, 4, 2, tzinfo=UTC),
    datetime(2026, 9, 3, tzinfo=UTC),
    datetime(2026, 10, 29, tzinfo=UTC),
]
# How a past instant is written: UTC, a fixed offset, a zone, or JSON (pydantic's TzInfo).
OFFSETS = ["utc", "fixed", "zone", "json"]
PHONE = "+16175550100"
EMAIL = "alice@example.com"
ADDRESS = "1 Main St, Boston, MA 02110"
OUTCOMES: list[PastOutcome] = ["no_answer", "voicemail", "conversation"]


def address(channel: Channel) -> str:
    if channel is Channel.LETTER:
        return ADDRESS
    return EMAIL if channel is Channel.EMAIL else PHONE


def written(moment: datetime, how: str) -> datetime:
    if how == "fixed":
        return moment.astimezone(timezone(timedelta(hours=-5, minutes=-30)))
    if how == "zone":
        return moment.astimezone(ZoneInfo("America/Chicago"))
    return moment


def contact(
    moment: datetime, how: str, channel: Channel, outcome: str, inbound: bool
) -> PastContact:
    fields = {
        "at": moment.isoformat(),
        "channel": channel.value,
        "outcome": outcome if channel is Channel.PHONE else "delivered",
        "to": address(channel),
        "direction": "inbound" if inbound and channel is Channel.PHONE else "outbound",
    }
    if how == "json":  # as a Temporal payload arrives: pydantic's own TzInfo
        return PastContact.model_validate_json(json.dumps(fields))
    return PastContact.model_validate({**fields, "at": written(moment, how)})


@st.composite
def long_histories(draw: st.DrawFn, before: datetime) -> list[PastContact]:
    """0-250 contacts over 1-40 days before ``before``, in random order and offsets."""
    size = draw(st.integers(0, 250))
    days = draw(st.sampled_from([1, 3, 8, 10, 40]))
    seed = draw(st.integers(0, 2**32 - 1))
    channels = draw(st.sampled_from([list(Channel), [Channel.PHONE], [Channel.PHONE, Channel.SMS]]))
    rng = random.Random(seed)  # one draw for hundreds of contacts keeps shrinking cheap
    history = [
        contact(
            before - timedelta(seconds=rng.randint(1, days * 86400)),
            rng.choice(OFFSETS),
            rng.choice(channels),
            rng.choice(OUTCOMES),
            rng.random() < 0.3,
        )
        for _ in range(size)
    ]
    if draw(st.booleans()):
        history.sort(key=lambda c: c.at)
    return history


@st.composite
def rule_sets(draw: st.DrawFn) -> RuleSet | None:
    """None (the debtor's own set) or US-federal with random numbers and a random limit."""
    if draw(st.booleans()):
        return None
    limit = draw(
        st.one_of(
            st.none(),
            st.builds(
                RollingLimit,
                max_contacts=st.integers(1, 4),
                hours=st.integers(1, 240),
                channels=st.sampled_from(
                    [frozenset({Channel.PHONE, Channel.SMS}), frozenset({Channel.SMS})]
                ),
            ),
        )
    )
    return US_FEDERAL.model_copy(
        update={
            "quiet_hours": QuietHours(
                start=time(draw(st.integers(6, 10))),
                end=time(draw(st.integers(17, 22))),
                closed_weekdays=draw(st.sampled_from([frozenset(), frozenset({6})])),
            ),
            "call_frequency": draw(
                st.one_of(
                    st.none(),
                    st.builds(CallFrequency, max_calls=st.integers(1, 9), days=st.integers(1, 9)),
                )
            ),
            "post_conversation": draw(
                st.one_of(st.none(), st.builds(PostConversation, days=st.integers(1, 9)))
            ),
            "state_limit": limit,
        }
    )


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[ComplianceFacts, list[PastContact], ProposedContact, RuleSet | None]:
    at = draw(st.sampled_from(BASES)) + timedelta(seconds=draw(st.integers(0, 40 * 86400)))
    channel = draw(st.sampled_from(list(Channel)))
    facts = ComplianceFacts(
        timezones=draw(st.lists(st.sampled_from(ZONES), unique=True, max_size=4)),
        country=draw(st.sampled_from(["US", "US", "IE", "GB"])),
        state=draw(st.sampled_from([None, "MA", "ma", "NY"])),
        sms_consent=draw(st.booleans()),
        voice_consent=draw(st.booleans()),
        cease=draw(st.sampled_from([False, False, False, True])),
    )
    proposed = ProposedContact(
        at=written(at, draw(st.sampled_from(OFFSETS[:3]))), channel=channel, to=address(channel)
    )
    return facts, draw(long_histories(at)), proposed, draw(rule_sets())


def same(new: Decision, old: Decision) -> None:
    assert new == old
    # == on datetimes compares instants; the answer must also be written the same way.
    assert repr(new) == repr(old)
    assert new.model_dump_json() == old.model_dump_json()


@SETTINGS
@given(cases())
def test_indexed_gate_decides_as_the_reference(
    case: tuple[ComplianceFacts, list[PastContact], ProposedContact, RuleSet | None],
) -> None:
    facts, history, proposed, rules = case
    same(
        decide(facts, history, proposed, rules),
        compliance_reference.decide(facts, history, proposed, rules),
    )


@SETTINGS
@given(cases(), st.integers(1, 48))
def test_indexed_gate_agrees_at_every_hour_after(
    case: tuple[ComplianceFacts, list[PastContact], ProposedContact, RuleSet | None],
    hours: int,
) -> None:
    """The same history asked later (as a campaign's waits do), including at the answer."""
    facts, history, proposed, rules = case
    first = compliance_reference.decide(facts, history, proposed, rules)
    moments = [proposed.at + timedelta(hours=hours)]
    if first.earliest_allowed is not None:
        moments.append(first.earliest_allowed)
    for moment in moments:
        later = proposed.model_copy(update={"at": moment})
        same(
            decide(facts, history, later, rules),
            compliance_reference.decide(facts, history, later, rules),
        )
