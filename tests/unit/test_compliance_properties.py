"""Property tests for the compliance gate (hypothesis).

They hold for any facts and history, by the semantics file's own definitions
(/work/shared/data/compliance-semantics.json):

* fields.expected.earliest_allowed: "For an allowed contact it is proposed.at.
  If a temporary rule denies it, it is the earliest instant at or after
  proposed.at when the same contact ... would pass every modeled rule,
  assuming nothing else happens in between. It is null if any permanent reason
  applies." So deciding again at E allows the contact, and nothing in
  [proposed.at, E) is allowed.
* fields.expected.reasons: "Every rule that the proposed contact breaks ...
  listed in 'reason_precedence' order. expected.reason equals reasons[0]. An
  allowed contact has reason 'ok' and reasons ['ok']."
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.channels import Channel
from domain.compliance.engine import decide
from domain.compliance.model import (
    PRECEDENCE,
    ComplianceFacts,
    Decision,
    PastContact,
    PastOutcome,
    ProposedContact,
    Reason,
)
from domain.compliance.rules import US_ZONES

PHONE = "+16175550100"
OTHER_PHONE = "+16175550199"
EMAIL = "alice@example.com"
ADDRESS = "1 Main St, Boston, MA 02110"

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Starting points that put the 10-day history and the proposed contact around
# both 2026 DST changes (Mar 8, Nov 1) as well as in plain winter and summer.
BASES = [
    datetime(2026, 1, 10, tzinfo=UTC),
    datetime(2026, 3, 1, tzinfo=UTC),
    datetime(2026, 3, 7, tzinfo=UTC),
    datetime(2026, 6, 1, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
    datetime(2026, 10, 31, tzinfo=UTC),
]

Scenario = tuple[ComplianceFacts, list[PastContact], ProposedContact]
PHONE_OUTCOMES: list[PastOutcome] = ["no_answer", "no_answer", "voicemail", "conversation"]
NO_CONVERSATION: list[PastOutcome] = ["no_answer", "voicemail"]
MIXED = [Channel.PHONE, Channel.PHONE, Channel.SMS, Channel.EMAIL, Channel.LETTER]
CALLS_ONLY = [Channel.PHONE]


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    base = draw(st.sampled_from(BASES))
    seconds = draw(
        st.one_of(st.integers(0, 14 * 86400), st.integers(0, 14 * 1440).map(lambda m: m * 60))
    )
    return base + timedelta(seconds=seconds)


@st.composite
def temporary_facts(draw: st.DrawFn) -> ComplianceFacts:
    """Random facts with no cease / attorney / dispute bar (consents and opt-outs vary)."""
    return ComplianceFacts(
        timezones=draw(st.lists(st.sampled_from(US_ZONES), unique=True, max_size=3)),
        state=draw(st.sampled_from([None, "MA", "MA", "NY"])),
        sms_consent=draw(st.sampled_from([True, True, True, False])),
        voice_consent=draw(st.sampled_from([True, True, True, False])),
        opted_out=draw(
            st.lists(
                st.sampled_from(
                    [
                        f"sms:{OTHER_PHONE}",
                        f"phone:{OTHER_PHONE}",
                        "email:BOB@example.com",
                        "sms:*",
                        "letter:2 Elm St, Salem, MA 01970",
                        f"letter:{ADDRESS.upper()}",
                    ]
                ),
                unique=True,
                max_size=1,
            )
        ),
    )


@st.composite
def past_contact(
    draw: st.DrawFn,
    before: datetime,
    channels: list[Channel],
    outcomes: list[PastOutcome],
    days: int = 10,
) -> PastContact:
    at = before - timedelta(seconds=draw(st.integers(1, days * 86400)))
    channel = draw(st.sampled_from(channels))
    if channel is Channel.PHONE:
        outcome = draw(st.sampled_from(outcomes))
        inbound = outcome == "conversation" and draw(st.booleans())
        return PastContact(
            at=at,
            channel=channel,
            outcome=outcome,
            to=PHONE,
            direction="inbound" if inbound else "outbound",
        )
    return PastContact(at=at, channel=channel, outcome="delivered", to=address(channel))


@st.composite
def histories(draw: st.DrawFn, before: datetime) -> list[PastContact]:
    """0-40 contacts in the 10 days before ``before``: mixed or call-heavy, with or
    without conversations (so that 7-in-7 also shows up on its own)."""
    size = draw(st.integers(0, 40))
    days = draw(st.sampled_from([3, 10, 10]))
    channels = draw(st.sampled_from([MIXED, MIXED, CALLS_ONLY]))
    outcomes = draw(st.sampled_from([PHONE_OUTCOMES, NO_CONVERSATION]))
    contact = past_contact(before, channels, outcomes, days)
    contacts = draw(st.lists(contact, min_size=size, max_size=size))
    return sorted(contacts, key=_at)


def _at(contact: PastContact) -> datetime:
    return contact.at


def address(channel: Channel) -> str:
    if channel is Channel.LETTER:
        return ADDRESS
    return EMAIL if channel is Channel.EMAIL else PHONE


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    at = draw(instants())
    channel = draw(st.sampled_from(list(Channel)))
    proposed = ProposedContact(at=at, channel=channel, to=address(channel))
    return draw(temporary_facts()), draw(histories(at)), proposed


def at(proposed: ProposedContact, when: datetime) -> ProposedContact:
    return proposed.model_copy(update={"at": when})


def describe(decision: Decision) -> str:
    return f"{decision.reasons} earliest={decision.earliest_allowed}"


@SETTINGS
@given(scenarios())
def test_earliest_allowed_is_allowed(scenario: Scenario) -> None:
    """(a) A denial's earliest_allowed E is itself allowed: never schedule a denied contact."""
    facts, history, proposed = scenario
    decision = decide(facts, history, proposed)
    if decision.allowed or decision.earliest_allowed is None:
        return
    again = decide(facts, history, at(proposed, decision.earliest_allowed))
    assert again.allowed, f"first {describe(decision)}; at E: {describe(again)}"


@SETTINGS
@given(scenarios())
def test_earliest_is_not_before_proposed(scenario: Scenario) -> None:
    """(b) E >= proposed.at, and E == proposed.at exactly when allowed."""
    facts, history, proposed = scenario
    decision = decide(facts, history, proposed)
    if decision.allowed:
        assert decision.earliest_allowed == proposed.at
        return
    if decision.earliest_allowed is not None:
        assert decision.earliest_allowed > proposed.at, describe(decision)


@SETTINGS
@given(scenarios(), st.data())
def test_nothing_earlier_is_allowed(scenario: Scenario, data: st.DataObject) -> None:
    """(c) No instant in [proposed.at, E) is allowed: E really is the earliest."""
    facts, history, proposed = scenario
    decision = decide(facts, history, proposed)
    earliest = decision.earliest_allowed
    if decision.allowed or earliest is None:
        return
    gap = earliest - proposed.at
    steps = (timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1), timedelta(days=1))
    probes = {earliest - step for step in steps}
    fractions = data.draw(st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=4))
    probes.update(proposed.at + gap * fraction for fraction in fractions)
    for probe in sorted(p for p in probes if proposed.at <= p < earliest):
        probed = decide(facts, history, at(proposed, probe))
        assert not probed.allowed, f"allowed at {probe}, before E = {earliest}"


@SETTINGS
@given(scenarios(), st.booleans(), st.booleans(), st.booleans())
def test_reasons_follow_precedence(
    scenario: Scenario, cease: bool, attorney: bool, disputed: bool
) -> None:
    """(d) Reasons are unique, in precedence order; a permanent reason means E is None."""
    facts, history, proposed = scenario
    facts = facts.model_copy(
        update={"cease": cease, "attorney": attorney, "disputed_unverified": disputed}
    )
    decision = decide(facts, history, proposed)
    assert decision.reasons, "reasons must not be empty"
    assert decision.reason == decision.reasons[0]
    for flag, reason in (
        (cease, Reason.CEASE),
        (attorney, Reason.ATTORNEY),
        (disputed, Reason.DISPUTE_HOLD),
    ):
        assert (reason in decision.reasons) is flag, decision.reasons
    if decision.allowed:
        assert decision.reasons == [Reason.OK]
        return
    assert Reason.OK not in decision.reasons
    ranks = [PRECEDENCE.index(reason) for reason in decision.reasons]
    assert ranks == sorted(set(ranks)), decision.reasons
    if any(reason.permanent for reason in decision.reasons):
        assert decision.earliest_allowed is None
    else:
        assert decision.earliest_allowed is not None


@SETTINGS
@given(
    temporary_facts(),
    instants(),
    st.lists(
        st.tuples(st.integers(0, 10), st.integers(0, 1439), st.sampled_from(list(Channel))),
        min_size=1,
        max_size=8,
    ),
    st.data(),
)
def test_playbook_only_sends_allowed_contacts(
    facts: ComplianceFacts,
    start: datetime,
    steps: list[tuple[int, int, Channel]],
    data: st.DataObject,
) -> None:
    """(e) A playbook scheduled with earliest_allowed only ever sends allowed contacts."""
    history = data.draw(histories(start))
    last = history[-1].at if history else start - timedelta(seconds=1)
    for day, minute, channel in steps:
        wanted = start + timedelta(days=day, minutes=minute)
        proposed = ProposedContact(
            at=max(wanted, last + timedelta(seconds=1)), channel=channel, to=address(channel)
        )
        decision = decide(facts, history, proposed)
        send_at = decision.earliest_allowed
        if send_at is None:  # permanent bar: the playbook skips this step
            continue
        sent = decide(facts, history, at(proposed, send_at))
        assert sent.allowed, f"scheduled at {send_at} but {describe(sent)}"
        outcome: PastOutcome = (
            data.draw(st.sampled_from(PHONE_OUTCOMES)) if channel is Channel.PHONE else "delivered"
        )
        history.append(
            PastContact(at=send_at, channel=channel, outcome=outcome, to=address(channel))
        )
        last = send_at


@SETTINGS
@given(scenarios())
def test_a_letter_is_only_ever_barred_for_good(scenario: Scenario) -> None:
    """(f) Letters have no quiet hours and no frequency limits: allowed, or barred for good."""
    facts, history, proposed = scenario
    letter = ProposedContact(at=proposed.at, channel=Channel.LETTER, to=ADDRESS)
    decision = decide(facts, history, letter)
    assert decision.allowed or all(r.permanent for r in decision.reasons), describe(decision)


@SETTINGS
@given(scenarios())
def test_letters_in_the_history_change_no_other_decision(scenario: Scenario) -> None:
    """(g) Letters count for nothing in 7-in-7 or a state's limit: drop them, same answer."""
    facts, history, proposed = scenario
    if proposed.channel is Channel.LETTER:
        return
    without = [c for c in history if c.channel is not Channel.LETTER]
    assert decide(facts, history, proposed) == decide(facts, without, proposed)
