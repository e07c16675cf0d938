"""Table tests for the compliance gate, derived by hand from the semantics file.

Every expected value below was computed from
``/work/shared/data/compliance-semantics.json`` (rules, definitions,
reason_precedence, fields), not from the engine. The comment above each case
(or group of cases) names the rule text it checks. Times are ISO strings with
their local offset so the arithmetic can be read off the table; ``earliest`` is
compared as an instant (the engine answers in UTC).

Calendar facts used throughout (2026): Jun 1 is a Monday, so Jun 4 is a
Thursday, Jun 5 a Friday, Jun 7 a Sunday and Jun 10 a Wednesday. DST runs
from Sun Mar 8 02:00 to Sun Nov 1 02:00 local. Offsets: New_York -04 (EDT) /
-05 (EST); Los_Angeles -07 / -08; Anchorage -08 / -09; Phoenix -07, Honolulu
-10 and Puerto_Rico -04 all year. With all eight zones (location unknown) the
window is always [18:00Z, 01:00Z): Honolulu reaches 08:00 at 18:00Z and
Puerto Rico (and New York in summer) reaches 21:00 at 01:00Z.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from domain.channels import Channel
from domain.compliance.engine import decide
from domain.compliance.model import (
    ComplianceFacts,
    Decision,
    PastContact,
    PastOutcome,
    ProposedContact,
    Reason,
)
from domain.compliance.rules import US_FEDERAL, US_MA, US_ZONES, ruleset_for

NY = "America/New_York"
DEN = "America/Denver"
PHX = "America/Phoenix"
LA = "America/Los_Angeles"
HNL = "Pacific/Honolulu"
ANC = "America/Anchorage"
PR = "America/Puerto_Rico"

PHONE = "+16175550100"
OTHER_PHONE = "+16175550199"
EMAIL = "alice@example.com"

R = Reason
OK = (R.OK,)
QH = R.QUIET_HOURS
F7 = R.CALL_FREQUENCY_7IN7
PC = R.POST_CONVERSATION_7DAY
MA = R.STATE_FREQUENCY_LIMIT
OPT = R.OPTED_OUT
NOC = R.NO_CONSENT


def ts(text: str) -> datetime:
    """An aware datetime from an ISO string with an offset (or Z)."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


def facts(
    *zones: str,
    state: str | None = None,
    sms: bool = True,
    voice: bool = True,
    opted_out: Sequence[str] = (),
    cease: bool = False,
    attorney: bool = False,
    disputed: bool = False,
) -> ComplianceFacts:
    return ComplianceFacts(
        timezones=list(zones),
        state=state,
        sms_consent=sms,
        voice_consent=voice,
        opted_out=list(opted_out),
        cease=cease,
        attorney=attorney,
        disputed_unverified=disputed,
    )


def call(at: str, outcome: PastOutcome = "no_answer", *, inbound: bool = False) -> PastContact:
    return PastContact(
        at=ts(at),
        channel=Channel.PHONE,
        outcome=outcome,
        to=PHONE,
        direction="inbound" if inbound else "outbound",
    )


def conv(at: str) -> PastContact:
    """An outbound call that became a telephone conversation."""
    return call(at, "conversation")


def inbound(at: str) -> PastContact:
    """A call the consumer started (only conversations appear as inbound)."""
    return call(at, "conversation", inbound=True)


def text(at: str) -> PastContact:
    return PastContact(at=ts(at), channel=Channel.SMS, outcome="delivered", to=PHONE)


def mail(at: str) -> PastContact:
    return PastContact(at=ts(at), channel=Channel.EMAIL, outcome="delivered", to=EMAIL)


def phone(at: str, to: str = PHONE) -> ProposedContact:
    return ProposedContact(at=ts(at), channel=Channel.PHONE, to=to)


def sms(at: str, to: str = PHONE) -> ProposedContact:
    return ProposedContact(at=ts(at), channel=Channel.SMS, to=to)


def email(at: str, to: str = EMAIL) -> ProposedContact:
    return ProposedContact(at=ts(at), channel=Channel.EMAIL, to=to)


def june(days: Sequence[int], clock: str = "10:00") -> list[PastContact]:
    """One outbound unanswered call per listed June 2026 day at ``clock`` EDT."""
    return [call(f"2026-06-{day:02d}T{clock}-04:00") for day in days]


@dataclass(frozen=True)
class Case:
    id: str
    facts: ComplianceFacts
    history: tuple[PastContact, ...]
    proposed: ProposedContact
    reasons: tuple[Reason, ...]
    # ISO instant for a temporarily denied contact; None for allowed (then it
    # must equal proposed.at) or for any permanent reason.
    earliest: str | None = None

    @property
    def expected_earliest(self) -> datetime | None:
        if self.reasons == OK:
            return self.proposed.at
        return ts(self.earliest) if self.earliest is not None else None


def ok(id: str, f: ComplianceFacts, hist: Sequence[PastContact], prop: ProposedContact) -> Case:
    return Case(id, f, tuple(hist), prop, OK)


def no(
    id: str,
    f: ComplianceFacts,
    hist: Sequence[PastContact],
    prop: ProposedContact,
    reasons: Sequence[Reason],
    earliest: str | None,
) -> Case:
    return Case(id, f, tuple(hist), prop, tuple(reasons), earliest)


def qh(id: str, f: ComplianceFacts, prop: ProposedContact, earliest: str | None = None) -> Case:
    """No history: allowed when ``earliest`` is None, else denied for quiet hours only."""
    return no(id, f, [], prop, [QH], earliest) if earliest else ok(id, f, [], prop)


# ---------------------------------------------------------------------------
# rules.quiet_hours: "Allowed only if the local time of day is at least
# 08:00:00 and strictly before 21:00:00 in EVERY known zone. So 07:59 is
# denied, 08:00 allowed, 20:59 allowed and 21:00:00 denied. If a contact is
# denied for time of day, the earliest time is the next instant inside that
# window in every known zone." (boundary_choice_8_and_9: 08:00:00 allowed,
# 21:00:00 denied.)
# ---------------------------------------------------------------------------
QUIET_HOURS: list[Case] = [
    # "07:59 is denied"; the next instant inside the window is 08:00 local.
    qh("ny-0759", facts(NY), phone("2026-06-10T07:59-04:00"), "2026-06-10T08:00-04:00"),
    # "at least 08:00:00": one second before is still denied.
    qh("ny-075959", facts(NY), phone("2026-06-10T07:59:59-04:00"), "2026-06-10T08:00-04:00"),
    # "08:00 allowed" (Reg F wording, boundary_choice_8_and_9).
    qh("ny-0800", facts(NY), phone("2026-06-10T08:00-04:00")),
    # "20:59 allowed"; "strictly before 21:00:00" so 20:59:59 is inside too.
    qh("ny-2059", facts(NY), phone("2026-06-10T20:59-04:00")),
    qh("ny-205959", facts(NY), phone("2026-06-10T20:59:59-04:00")),
    # "21:00:00 denied": next window is 08:00 the next local day.
    qh("ny-2100", facts(NY), phone("2026-06-10T21:00-04:00"), "2026-06-11T08:00-04:00"),
    # Midnight is outside; the window opens at 08:00 the same local day.
    qh("ny-0000", facts(NY), phone("2026-06-11T00:00-04:00"), "2026-06-11T08:00-04:00"),
    # Los_Angeles (PDT, -07).
    qh("la-0759", facts(LA), phone("2026-06-10T07:59-07:00"), "2026-06-10T08:00-07:00"),
    qh("la-0800", facts(LA), phone("2026-06-10T08:00-07:00")),
    qh("la-2059", facts(LA), phone("2026-06-10T20:59-07:00")),
    qh("la-2100", facts(LA), phone("2026-06-10T21:00-07:00"), "2026-06-11T08:00-07:00"),
    # "America/Phoenix ... no DST": in July 14:30Z is 07:30 in Phoenix ...
    qh("phx-jul-0730", facts(PHX), phone("2026-07-01T07:30-07:00"), "2026-07-01T08:00-07:00"),
    # ... but 08:30 in Denver (MDT, -06): allowed there.
    qh("den-jul-0830-same-instant", facts(DEN), phone("2026-07-01T07:30-07:00")),
    qh("phx-jul-0800", facts(PHX), phone("2026-07-01T08:00-07:00")),
    qh("phx-jul-2100", facts(PHX), phone("2026-07-01T21:00-07:00"), "2026-07-02T08:00-07:00"),
    qh("phx-jan-0759", facts(PHX), phone("2026-01-15T07:59-07:00"), "2026-01-15T08:00-07:00"),
    qh("phx-jan-2059", facts(PHX), phone("2026-01-15T20:59-07:00")),
    qh("phx-jan-2100", facts(PHX), phone("2026-01-15T21:00-07:00"), "2026-01-16T08:00-07:00"),
    # Pacific/Honolulu (-10 all year).
    qh("hnl-0759", facts(HNL), phone("2026-06-10T07:59-10:00"), "2026-06-10T08:00-10:00"),
    qh("hnl-0800", facts(HNL), phone("2026-06-10T08:00-10:00")),
    qh("hnl-2059", facts(HNL), phone("2026-06-10T20:59-10:00")),
    qh("hnl-2100", facts(HNL), phone("2026-06-10T21:00-10:00"), "2026-06-11T08:00-10:00"),
    # America/Anchorage: AKDT -08 in summer, AKST -09 in winter.
    qh("anc-jun-0759", facts(ANC), phone("2026-06-10T07:59-08:00"), "2026-06-10T08:00-08:00"),
    qh("anc-jun-0800", facts(ANC), phone("2026-06-10T08:00-08:00")),
    qh("anc-jan-2059", facts(ANC), phone("2026-01-15T20:59-09:00")),
    qh("anc-jan-2100", facts(ANC), phone("2026-01-15T21:00-09:00"), "2026-01-16T08:00-09:00"),
    # America/Puerto_Rico: -04 all year (no DST).
    qh("pr-jan-0759", facts(PR), phone("2026-01-15T07:59-04:00"), "2026-01-15T08:00-04:00"),
    # 08:00 AST in January is 07:00 EST in New York: fine for Puerto Rico alone.
    qh("pr-jan-0800", facts(PR), phone("2026-01-15T08:00-04:00")),
    qh("pr-jun-2059", facts(PR), phone("2026-06-10T20:59-04:00")),
    qh("pr-jun-2100", facts(PR), phone("2026-06-10T21:00-04:00"), "2026-06-11T08:00-04:00"),
    # "Every channel (phone, sms, email)".
    qh("email-0759", facts(NY), email("2026-06-10T07:59-04:00"), "2026-06-10T08:00-04:00"),
    qh("sms-2100", facts(NY), sms("2026-06-10T21:00-04:00"), "2026-06-11T08:00-04:00"),
    qh("email-0800", facts(NY), email("2026-06-10T08:00-04:00")),
]

# ---------------------------------------------------------------------------
# rules.quiet_hours: "The window is computed with real DST rules ... DST 2026
# runs Mar 8 02:00 to Nov 1 02:00 local. Ambiguous fall-back times carry their
# offset in the ISO string."
# ---------------------------------------------------------------------------
DST: list[Case] = [
    # Spring forward: 08:00 on Mar 8 is already EDT (-04).
    qh("ny-mar8-0759", facts(NY), phone("2026-03-08T07:59-04:00"), "2026-03-08T08:00-04:00"),
    qh("ny-mar8-0800", facts(NY), phone("2026-03-08T08:00-04:00")),
    # 21:00 EST the night before: next opening 08:00 EDT, only 10 real hours later.
    qh("ny-mar7-2100", facts(NY), phone("2026-03-07T21:00-05:00"), "2026-03-08T08:00-04:00"),
    # 01:30 EST, just before the 02:00 gap.
    qh("ny-mar8-0130", facts(NY), phone("2026-03-08T01:30-05:00"), "2026-03-08T08:00-04:00"),
    # The day before, New York is still EST (-05).
    qh("ny-mar7-0759", facts(NY), phone("2026-03-07T07:59-05:00"), "2026-03-07T08:00-05:00"),
    qh("la-mar8-0759", facts(LA), phone("2026-03-08T07:59-07:00"), "2026-03-08T08:00-07:00"),
    # Phoenix + LA on Mar 7: 08:00 MST is 07:00 PST; both open at LA 08:00 (-08).
    qh("phx-la-mar7", facts(PHX, LA), phone("2026-03-07T08:00-07:00"), "2026-03-07T08:00-08:00"),
    # After spring forward LA is -07 like Phoenix: 08:00 in both.
    qh("phx-la-mar9", facts(PHX, LA), phone("2026-03-09T08:00-07:00")),
    # Fall back: 01:30 happens twice on Nov 1 (EDT then EST); both -> 08:00 EST.
    qh("ny-nov1-0130-edt", facts(NY), phone("2026-11-01T01:30-04:00"), "2026-11-01T08:00-05:00"),
    qh("ny-nov1-0130-est", facts(NY), phone("2026-11-01T01:30-05:00"), "2026-11-01T08:00-05:00"),
    # 21:00 EDT the night before: next opening 08:00 EST, 12 real hours later.
    qh("ny-oct31-2100", facts(NY), phone("2026-10-31T21:00-04:00"), "2026-11-01T08:00-05:00"),
    qh("ny-nov1-0759", facts(NY), phone("2026-11-01T07:59-05:00"), "2026-11-01T08:00-05:00"),
    qh("ny-nov1-0800", facts(NY), phone("2026-11-01T08:00-05:00")),
    qh("ny-nov1-2059", facts(NY), phone("2026-11-01T20:59-05:00")),
    qh("ny-nov1-2100", facts(NY), phone("2026-11-01T21:00-05:00"), "2026-11-02T08:00-05:00"),
    # Anchorage's ambiguous 01:30 AKDT (-08) -> 08:00 AKST (-09).
    qh("anc-nov1-0130", facts(ANC), phone("2026-11-01T01:30-08:00"), "2026-11-01T08:00-09:00"),
    # Two zones in the ambiguous hour: 01:30 EST (second pass) = 06:30Z is still
    # 23:30 PDT on Oct 31 in LA (LA falls back at 09:00Z). New York opens at
    # 08:00 EST (13:00Z), LA at 08:00 PST (16:00Z): the later one wins.
    qh("ny-la-nov1-0130", facts(NY, LA), phone("2026-11-01T01:30-05:00"), "2026-11-01T08:00-08:00"),
]

# ---------------------------------------------------------------------------
# Several zones: quiet_hours "in EVERY known zone"; fields.account.timezones:
# "An empty list means the location is unknown and is treated as all eight
# zones in 'unknown_location_zones'."
# ---------------------------------------------------------------------------
ZONES: list[Case] = [
    # 10:00 EDT = 07:00 PDT: LA not open yet; both open at LA's 08:00.
    qh("ny-la-la0700", facts(NY, LA), phone("2026-06-10T10:00-04:00"), "2026-06-10T08:00-07:00"),
    qh("ny-la-la0800", facts(NY, LA), phone("2026-06-10T11:00-04:00")),
    # 17:59 PDT = 20:59 EDT: inside both windows.
    qh("ny-la-ny2059", facts(NY, LA), phone("2026-06-10T17:59-07:00")),
    # 18:00 PDT = 21:00 EDT: New York closed; next joint opening is LA 08:00.
    qh("ny-la-ny2100", facts(NY, LA), phone("2026-06-10T18:00-07:00"), "2026-06-11T08:00-07:00"),
    # Honolulu opens at 14:00 EDT; New York closes at 15:00 HST.
    qh("ny-hnl-1359", facts(NY, HNL), phone("2026-06-10T13:59-04:00"), "2026-06-10T08:00-10:00"),
    qh("ny-hnl-1400", facts(NY, HNL), phone("2026-06-10T14:00-04:00")),
    qh("ny-hnl-ny2100", facts(NY, HNL), phone("2026-06-10T15:00-10:00"), "2026-06-11T08:00-10:00"),
    # Unknown location, early morning in the east: denied until Honolulu reaches
    # 08:00 (18:00Z) while New York / Puerto Rico are at 14:00.
    qh("unknown-ny0700", facts(), phone("2026-06-10T07:00-04:00"), "2026-06-10T18:00Z"),
    qh("unknown-1759z", facts(), phone("2026-06-10T17:59Z"), "2026-06-10T18:00Z"),
    qh("unknown-1800z", facts(), phone("2026-06-10T18:00Z")),
    # 00:59Z = 20:59 EDT / AST: still inside every window.
    qh("unknown-0059z", facts(), phone("2026-06-11T00:59Z")),
    # 01:00Z = 21:00 in New York and Puerto Rico: closed until 18:00Z.
    qh("unknown-0100z", facts(), phone("2026-06-11T01:00Z"), "2026-06-11T18:00Z"),
    # Winter: New York is -05 but Puerto Rico stays -04 and closes at 01:00Z.
    qh("unknown-jan-0059z", facts(), phone("2026-01-16T00:59Z")),
    qh("unknown-jan-0100z", facts(), phone("2026-01-16T01:00Z"), "2026-01-16T18:00Z"),
    # Fall-back day: at 18:00Z Anchorage (now -09) is 09:00, Honolulu 08:00.
    qh("unknown-nov1", facts(), phone("2026-11-01T12:00Z"), "2026-11-01T18:00Z"),
    # Listing all eight zones explicitly behaves like the empty list.
    qh(
        "all-eight-explicit", facts(*US_ZONES), phone("2026-06-10T07:00-04:00"), "2026-06-10T18:00Z"
    ),
    # Unknown location applies to email as well (12:00 EDT = 06:00 HST).
    qh("unknown-email", facts(), email("2026-06-10T12:00-04:00"), "2026-06-10T18:00Z"),
]

# ---------------------------------------------------------------------------
# rules.call_frequency_7in7: "Let D be the proposed call's local date. The call
# is denied if 7 or more calls have local dates in D-6..D in any known zone's
# calendar ... Exactly 7 (6 earlier calls plus this one) is allowed ... A call
# is released at 00:00 local on the 7th date after its own date and is then
# still subject to quiet hours. SMS and email never count and are never
# blocked by this rule." D = Wed 2026-06-10 unless stated; D-6 = Thu Jun 4.
# ---------------------------------------------------------------------------
NOON = phone("2026-06-10T12:00-04:00")
# Jun 4 00:00 EDT is still Jun 3 (18:00) in Honolulu.
MIDNIGHT_JUN4 = [call("2026-06-04T00:00-04:00"), *june(range(5, 11), "15:00")]
SEVEN_ON_JUN5 = [call(f"2026-06-05T12:0{i}-04:00") for i in range(7)]
SPRING_7 = [
    call("2026-03-02T20:30-05:00"),
    *(call(f"2026-03-0{d}T10:00-05:00") for d in range(3, 8)),
    call("2026-03-08T10:00-04:00"),
]
FALL_7 = [
    *(call(f"2026-10-{d}T10:00-04:00") for d in range(26, 32)),
    call("2026-11-01T01:30-04:00"),
]
MIXED_OUTCOMES = [call(f"2026-06-{d:02d}T10:00-04:00", "voicemail") for d in (5, 7, 9)]
TEXTS_AND_MAILS = [
    *(text(f"2026-06-{d:02d}T11:00-04:00") for d in range(4, 11)),
    *(mail(f"2026-06-{d:02d}T11:30-04:00") for d in range(4, 11)),
]
SEVEN_IN_SEVEN: list[Case] = [
    # "Exactly 7 (6 earlier calls plus this one) is allowed."
    ok("7in7-six-earlier", facts(NY), june(range(4, 10)), NOON),
    # 7 earlier calls Jun 4..10: the 8th. Jun 4 is released at 00:00 Jun 11
    # (7th date after Jun 4), then quiet hours -> 08:00.
    no("7in7-seven-earlier", facts(NY), june(range(4, 11)), NOON, [F7], "2026-06-11T08:00-04:00"),
    # The oldest of seven is on D-7 (Jun 3): only 6 in D-6..D.
    ok("7in7-oldest-on-d-minus-7", facts(NY), june(range(3, 10)), NOON),
    # Released exactly at 08:00 on the 7th date after the oldest call.
    ok("7in7-released-0800", facts(NY), june(range(4, 11)), phone("2026-06-11T08:00-04:00")),
    # "released at 00:00 local": at 00:00 Jun 11 only quiet hours remain.
    no(
        "7in7-released-0000-quiet-only",
        facts(NY),
        june(range(4, 11)),
        phone("2026-06-11T00:00-04:00"),
        [QH],
        "2026-06-11T08:00-04:00",
    ),
    # Local dates: a call at 00:00:00 on D-6 is inside D-6..D ...
    no(
        "7in7-call-at-0000-on-d-minus-6",
        facts(NY),
        [call("2026-06-04T00:00-04:00"), *june(range(5, 11))],
        NOON,
        [F7],
        "2026-06-11T08:00-04:00",
    ),
    # ... and one at 23:59:59 on D-7 is not.
    ok(
        "7in7-call-at-2359-on-d-minus-7",
        facts(NY),
        [call("2026-06-03T23:59:59-04:00"), *june(range(5, 11))],
        NOON,
    ),
    # Seven calls all on Jun 10 stay in D-6..D until D = Jun 17.
    no(
        "7in7-seven-on-one-day",
        facts(NY),
        june([10] * 7, "08:00"),
        NOON,
        [F7],
        "2026-06-17T08:00-04:00",
    ),
    # Two on Jun 4 and five on Jun 9: when Jun 4 drops (Jun 11) only 5 remain.
    no(
        "7in7-two-on-oldest-day",
        facts(NY),
        june([4, 4, 9, 9, 9, 9, 9]),
        NOON,
        [F7],
        "2026-06-11T08:00-04:00",
    ),
    # Jun 4, Jun 5 and six on Jun 9: on Jun 11 the window Jun 5..11 still holds
    # 7; only on Jun 12 (Jun 6..12: 6 calls) is the call allowed.
    no(
        "7in7-two-oldest-must-drop",
        facts(NY),
        june([4, 5, *[9] * 6]),
        NOON,
        [F7],
        "2026-06-12T08:00-04:00",
    ),
    # "The window rolls: every run of 7 consecutive dates counts, not fixed
    # weeks": Fri Jun 5 .. Thu Jun 11 straddles Sunday Jun 7.
    no(
        "7in7-rolling-not-weekly",
        facts(NY),
        june(range(5, 12)),
        phone("2026-06-11T12:00-04:00"),
        [F7],
        "2026-06-12T08:00-04:00",
    ),
    # definitions.call: "whatever the outcome: no_answer, voicemail or
    # conversation" - voicemails count like unanswered calls.
    no(
        "7in7-voicemails-count",
        facts(NY),
        [*june([4, 6, 8, 10]), *MIXED_OUTCOMES],
        NOON,
        [F7],
        "2026-06-11T08:00-04:00",
    ),
    # definitions.call: an outbound conversation is a call too (and it also
    # starts the post-conversation lock: C = Jun 4 -> Jun 4..10 locked).
    no(
        "7in7-outbound-conversation-counts",
        facts(NY),
        [conv("2026-06-04T10:00-04:00"), *june(range(5, 11))],
        NOON,
        [PC, F7],
        "2026-06-11T08:00-04:00",
    ),
    # definitions.call: "A call the consumer started (inbound) ... does not
    # count toward 7-in-7": 6 outbound + 1 inbound conversation on Jun 4 break
    # only the post-conversation lock (which counts either side).
    no(
        "7in7-inbound-not-counted",
        facts(NY),
        [*june(range(4, 10)), inbound("2026-06-04T15:00-04:00")],
        NOON,
        [PC],
        "2026-06-11T08:00-04:00",
    ),
    # "SMS and email never count ...
    ok("7in7-sms-email-not-counted", facts(NY), [*june(range(4, 10)), *TEXTS_AND_MAILS], NOON),
    # ... and are never blocked by this rule."
    ok("7in7-sms-not-blocked", facts(NY), june(range(4, 11)), sms("2026-06-10T12:00-04:00")),
    ok("7in7-email-not-blocked", facts(NY), june(range(4, 11)), email("2026-06-10T12:00-04:00")),
    # "It uses calendar dates, not 168 hours": Mar 2 (20:30 EST) .. Mar 8 = 7
    # calls; released 00:00 EDT Mar 9 -> 08:00 EDT (168 h would reach Mar 10).
    no(
        "7in7-spring-dst",
        facts(NY),
        SPRING_7,
        phone("2026-03-08T12:00-04:00"),
        [F7],
        "2026-03-09T08:00-04:00",
    ),
    # Across fall back, one call in the ambiguous hour (still Nov 1):
    # Oct 26..Nov 1 = 7 calls; released 00:00 Nov 2 -> 08:00 EST.
    no(
        "7in7-fall-dst",
        facts(NY),
        FALL_7,
        phone("2026-11-01T12:00-05:00"),
        [F7],
        "2026-11-02T08:00-05:00",
    ),
    # definitions.local_calendar_day: "each date-based rule is checked in every
    # zone's calendar". In New York's calendar Jun 4..10 holds 7 calls (denied);
    # in Honolulu's only 6. Release 00:00 EDT Jun 11; both windows open at
    # 08:00 HST (18:00Z).
    no(
        "7in7-two-zones-ny-calendar",
        facts(NY, HNL),
        MIDNIGHT_JUN4,
        phone("2026-06-10T14:00-04:00"),
        [F7],
        "2026-06-11T08:00-10:00",
    ),
    # Same history, Honolulu alone: 6 calls in Jun 4..10 HST.
    ok("7in7-hnl-only-same-history", facts(HNL), MIDNIGHT_JUN4, phone("2026-06-10T08:00-10:00")),
    # 7in7 and quiet hours in two zones: 7 calls on Jun 5; proposed 22:00 EDT
    # Jun 10 (19:00 PDT). Released 00:00 Jun 12 in both calendars, then the
    # joint window opens at 08:00 PDT Jun 12.
    no(
        "7in7-and-quiet-two-zones",
        facts(NY, LA),
        SEVEN_ON_JUN5,
        phone("2026-06-10T22:00-04:00"),
        [F7, QH],
        "2026-06-12T08:00-07:00",
    ),
    # Unknown location: 19:00Z has the same date in all eight zones. Released
    # 00:00 Jun 11 everywhere (Honolulu last, 10:00Z); window opens 18:00Z.
    no(
        "7in7-unknown-zones",
        facts(),
        [call(f"2026-06-{d:02d}T19:00Z") for d in range(4, 11)],
        phone("2026-06-10T20:00Z"),
        [F7],
        "2026-06-11T18:00Z",
    ),
]

# ---------------------------------------------------------------------------
# rules.post_conversation_7day: "If there was a telephone conversation on local
# date C (day 1), calls dated C..C+6 (days 1-7) are denied. Calls are allowed
# from 00:00 local on C+7 (day 8), still subject to quiet hours ... This does
# not mean 7x24 h after the conversation. Every earlier conversation counts, so
# the latest one decides. SMS and email are not blocked."
# C = Thu 2026-06-04 unless stated, so day 8 = Thu Jun 11.
# ---------------------------------------------------------------------------
CONV = [conv("2026-06-04T10:00-04:00")]
DAY8 = "2026-06-11T08:00-04:00"
LATE_LA = [inbound("2026-06-04T23:30-07:00")]  # = Jun 5 02:30 EDT
POST_CONVERSATION: list[Case] = [
    # Day 7 (Jun 10) denied; allowed from 00:00 Jun 11, i.e. 08:00 with quiet hours.
    no("pc-day7-2000", facts(NY), CONV, phone("2026-06-10T20:00-04:00"), [PC], DAY8),
    no("pc-day7-2059", facts(NY), CONV, phone("2026-06-10T20:59-04:00"), [PC], DAY8),
    # "The date of the telephone conversation is the first day."
    no("pc-day1-same-day", facts(NY), CONV, phone("2026-06-04T15:00-04:00"), [PC], DAY8),
    ok("pc-day8-0800", facts(NY), CONV, phone("2026-06-11T08:00-04:00")),
    # Day 8 before 08:00: the lock is over, only quiet hours remain.
    no("pc-day8-0759-quiet-only", facts(NY), CONV, phone("2026-06-11T07:59-04:00"), [QH], DAY8),
    no("pc-day8-0000-quiet-only", facts(NY), CONV, phone("2026-06-11T00:00-04:00"), [QH], DAY8),
    # Both: the lock ends 00:00 Jun 11 and quiet hours push it to 08:00.
    no("pc-day7-and-quiet", facts(NY), CONV, phone("2026-06-10T22:00-04:00"), [PC, QH], DAY8),
    # "This does not mean 7x24 h": a conversation at 23:30 on Jun 4 (the
    # consumer called) still ends at 00:00 Jun 11, not at 23:30.
    ok("pc-not-168h", facts(NY), [inbound("2026-06-04T23:30-04:00")], phone(DAY8)),
    # definitions.telephone_conversation: "whichever side started the call".
    no(
        "pc-inbound-counts",
        facts(NY),
        [inbound("2026-06-04T10:00-04:00")],
        phone("2026-06-08T12:00-04:00"),
        [PC],
        DAY8,
    ),
    # "the latest one decides": conversations Jun 1 and Jun 6 -> C = Jun 6,
    # allowed from Jun 13.
    no(
        "pc-latest-decides",
        facts(NY),
        [conv("2026-06-01T10:00-04:00"), conv("2026-06-06T10:00-04:00")],
        phone("2026-06-09T12:00-04:00"),
        [PC],
        "2026-06-13T08:00-04:00",
    ),
    # C = Jun 3 -> day 8 is Jun 10: allowed.
    ok("pc-c-plus-7", facts(NY), [conv("2026-06-03T10:00-04:00")], phone("2026-06-10T08:00-04:00")),
    ok("pc-old-conversation", facts(NY), [conv("2026-05-25T10:00-04:00")], NOON),
    # "SMS and email are not blocked."
    ok("pc-sms-not-blocked", facts(NY), CONV, sms("2026-06-05T12:00-04:00")),
    ok("pc-email-not-blocked", facts(NY), CONV, email("2026-06-05T12:00-04:00")),
    # telephone_conversation is outcome 'conversation' only: a voicemail does not lock.
    ok(
        "pc-voicemail-is-not-conversation",
        facts(NY),
        [call("2026-06-04T10:00-04:00", "voicemail")],
        phone("2026-06-05T12:00-04:00"),
    ),
    # local_calendar_day in every zone: 23:30 PDT Jun 4 is Jun 5 02:30 EDT, so
    # New York's calendar locks Jun 5..11; allowed from 00:00 EDT Jun 12 and
    # both windows open at 08:00 PDT Jun 12.
    no(
        "pc-two-zones-ny-calendar",
        facts(NY, LA),
        LATE_LA,
        phone("2026-06-11T12:00-04:00"),
        [PC],
        "2026-06-12T08:00-07:00",
    ),
    # Same history, LA alone: C = Jun 4, day 8 = Jun 11 -> allowed.
    ok("pc-la-only-same-history", facts(LA), LATE_LA, phone("2026-06-11T09:00-07:00")),
    # Unknown location: released 00:00 Jun 11 in every zone; window opens 18:00Z.
    no(
        "pc-unknown-zones",
        facts(),
        [conv("2026-06-04T19:00Z")],
        phone("2026-06-10T19:00Z"),
        [PC],
        "2026-06-11T18:00Z",
    ),
    # Fall back: C = Mon Oct 26 (EDT) -> 08:00 EST Nov 2 (168 h: 09:00 EST).
    no(
        "pc-fall-dst",
        facts(NY),
        [conv("2026-10-26T10:00-04:00")],
        phone("2026-11-01T12:00-05:00"),
        [PC],
        "2026-11-02T08:00-05:00",
    ),
    # Spring forward: C = Mar 2 (EST) -> 08:00 EDT Mar 9.
    no(
        "pc-spring-dst",
        facts(NY),
        [conv("2026-03-02T10:00-05:00")],
        phone("2026-03-08T12:00-04:00"),
        [PC],
        "2026-03-09T08:00-04:00",
    ),
]

# ---------------------------------------------------------------------------
# rules.state_frequency_limit_MA: "Applies only if account.state == 'MA', and
# only to proposed phone calls and SMS. The contact is denied if 2 or more
# creditor-initiated phone calls (any outcome ...) or SMS fall in the preceding
# 168 hours of elapsed time, window (t-168h, t]. A communication therefore
# leaves the window exactly 168 real hours after it happened (across a DST
# change that is 1 hour later or earlier on the wall clock). Email is never
# counted or limited. Inbound, consumer-initiated contacts are not counted."
# ---------------------------------------------------------------------------
MASS = facts(NY, state="MA")
MA_TWO = june([8, 9])  # Jun 8 and Jun 9, 10:00 EDT
MA_168H = "2026-06-15T10:00-04:00"  # Jun 8 10:00 + 168 h
MA_SPRING = [call("2026-03-05T10:00-05:00"), call("2026-03-06T10:00-05:00")]
MA_FALL = [call("2026-10-28T10:00-04:00"), call("2026-10-29T10:00-04:00")]
MA_LATE = [call("2026-03-05T20:30-05:00"), call("2026-03-06T20:30-05:00")]
MA_INBOUND = [call("2026-06-08T10:00-04:00"), inbound("2026-06-09T10:00-04:00")]
TWO_TEXTS = [text("2026-06-08T10:00-04:00"), text("2026-06-09T10:00-04:00")]
MA_MAILS = [mail("2026-06-08T10:00-04:00"), mail("2026-06-09T09:00-04:00"), *june([9])]
MASSACHUSETTS: list[Case] = [
    # 2 calls in the window: denied until the older leaves, Jun 8 10:00 + 168 h.
    no("ma-two-calls-deny-phone", MASS, MA_TWO, NOON, [MA], MA_168H),
    # "(t-168h, t]": exactly 168 h after the older call it has left the window.
    ok("ma-exactly-168h", MASS, MA_TWO, phone(MA_168H)),
    no("ma-168h-minus-1s", MASS, MA_TWO, phone("2026-06-15T09:59:59-04:00"), [MA], MA_168H),
    ok("ma-one-call", MASS, june([9]), NOON),
    # Calls and SMS are counted together, and an SMS is limited too.
    no(
        "ma-call-and-sms-deny-sms",
        MASS,
        [call("2026-06-08T10:00-04:00"), text("2026-06-09T10:00-04:00")],
        sms("2026-06-10T12:00-04:00"),
        [MA],
        MA_168H,
    ),
    no("ma-two-sms-deny-phone", MASS, TWO_TEXTS, NOON, [MA], MA_168H),
    # "Email is never counted or limited."
    ok("ma-email-not-limited", MASS, MA_TWO, email("2026-06-10T12:00-04:00")),
    ok("ma-emails-not-counted", MASS, MA_MAILS, NOON),
    # "Inbound, consumer-initiated contacts are not counted" (an SMS is not
    # locked by the conversation either).
    ok("ma-inbound-not-counted-sms", MASS, MA_INBOUND, sms("2026-06-10T12:00-04:00")),
    # Same history, phone: only the post-conversation lock (C = Jun 9 -> Jun 16).
    no("ma-inbound-not-counted-phone", MASS, MA_INBOUND, NOON, [PC], "2026-06-16T08:00-04:00"),
    # Three in the window: allowed when only one remains, i.e. when the second
    # most recent (Jun 8 10:00) leaves.
    no("ma-three-in-window", MASS, june([5, 8, 9]), NOON, [MA], MA_168H),
    # Jun 3 10:00 left the window at Jun 10 10:00, before the proposed 12:00.
    ok("ma-oldest-outside-168h", MASS, june([3, 9]), NOON),
    # Spring forward: Mar 5 10:00 EST (15:00Z) + 168 h = Mar 12 15:00Z = 11:00 EDT,
    # one hour later on the wall clock.
    no(
        "ma-spring-dst-wall-clock",
        MASS,
        MA_SPRING,
        phone("2026-03-09T12:00-04:00"),
        [MA],
        "2026-03-12T11:00-04:00",
    ),
    no(
        "ma-spring-dst-1030-denied",
        MASS,
        MA_SPRING,
        phone("2026-03-12T10:30-04:00"),
        [MA],
        "2026-03-12T11:00-04:00",
    ),
    # Fall back: Oct 28 10:00 EDT (14:00Z) + 168 h = Nov 4 14:00Z = 09:00 EST.
    no(
        "ma-fall-dst-wall-clock",
        MASS,
        MA_FALL,
        phone("2026-10-30T12:00-04:00"),
        [MA],
        "2026-11-04T09:00-05:00",
    ),
    ok("ma-fall-dst-0900", MASS, MA_FALL, phone("2026-11-04T09:00-05:00")),
    # The release lands in quiet hours: Mar 5 20:30 EST (Mar 6 01:30Z) + 168 h
    # = Mar 13 01:30Z = Mar 12 21:30 EDT -> next window 08:00 EDT Mar 13.
    no(
        "ma-release-in-quiet-hours",
        MASS,
        MA_LATE,
        phone("2026-03-09T12:00-04:00"),
        [MA],
        "2026-03-13T08:00-04:00",
    ),
    # fields.account.state: "Only 'MA' triggers an extra rule."
    ok("non-ma-state", facts(NY, state="NY"), MA_TWO, NOON),
    ok("no-state", facts(NY), MA_TWO, NOON),
    ok("non-ma-sms", facts(NY, state="CT"), TWO_TEXTS, sms("2026-06-10T12:00-04:00")),
    # MA and 7in7: 7in7 releases 08:00 Jun 11; MA only when the second most
    # recent call (Jun 9 10:00) leaves, Jun 16 10:00. Both must hold.
    no("ma-and-7in7", MASS, june(range(4, 11)), NOON, [F7, MA], "2026-06-16T10:00-04:00"),
    # MA and the post-conversation lock: the lock ends 08:00 Jun 11, the outbound
    # conversation (Jun 4 10:00) leaves the 168 h window at 10:00 Jun 11.
    no("ma-and-pc", MASS, [*CONV, *june([9])], NOON, [PC, MA], "2026-06-11T10:00-04:00"),
]

# ---------------------------------------------------------------------------
# rules.opted_out: "Channel-and-address specific ... Opting out of one email
# address does not block another email address, SMS or calls. Opting out of
# SMS at a number does not block a voice call to that number ... The wildcard
# forms apply 1006.14(h)(1) to a whole medium. Email addresses are compared
# case-insensitively. Phone numbers are exact E.164." Permanent: null.
# ---------------------------------------------------------------------------
AT = "2026-06-10T12:00-04:00"
OUT_MAIL = facts(NY, opted_out=[f"email:{EMAIL}"])
OUT_SMS = facts(NY, opted_out=[f"sms:{PHONE}"])
OUT_PHONE = facts(NY, opted_out=[f"phone:{PHONE}"])
OPTED_OUT: list[Case] = [
    no("opt-email-same-address", OUT_MAIL, [], email(AT), [OPT], None),
    no("opt-email-case-proposed", OUT_MAIL, [], email(AT, "Alice@EXAMPLE.com"), [OPT], None),
    no(
        "opt-email-case-entry",
        facts(NY, opted_out=["email:ALICE@Example.COM"]),
        [],
        email(AT),
        [OPT],
        None,
    ),
    ok("opt-email-other-address", OUT_MAIL, [], email(AT, "bob@example.com")),
    ok("opt-email-not-sms", OUT_MAIL, [], sms(AT)),
    ok("opt-email-not-phone", OUT_MAIL, [], phone(AT)),
    no(
        "opt-email-wildcard",
        facts(NY, opted_out=["email:*"]),
        [],
        email(AT, "bob@x.org"),
        [OPT],
        None,
    ),
    ok("opt-email-wildcard-not-sms", facts(NY, opted_out=["email:*"]), [], sms(AT)),
    no("opt-sms-same-number", OUT_SMS, [], sms(AT), [OPT], None),
    # "Opting out of SMS at a number does not block a voice call to that number".
    ok("opt-sms-not-phone-same-number", OUT_SMS, [], phone(AT)),
    ok("opt-sms-other-number", OUT_SMS, [], sms(AT, OTHER_PHONE)),
    no("opt-sms-wildcard", facts(NY, opted_out=["sms:*"]), [], sms(AT, OTHER_PHONE), [OPT], None),
    ok("opt-sms-wildcard-not-phone", facts(NY, opted_out=["sms:*"]), [], phone(AT)),
    no("opt-phone-same-number", OUT_PHONE, [], phone(AT), [OPT], None),
    ok("opt-phone-other-number", OUT_PHONE, [], phone(AT, OTHER_PHONE)),
    no("opt-phone-wildcard", facts(NY, opted_out=["phone:*"]), [], phone(AT), [OPT], None),
    ok("opt-phone-wildcard-not-email", facts(NY, opted_out=["phone:*"]), [], email(AT)),
    # fields.expected.reasons: every broken rule is listed; a permanent one -> null.
    no(
        "opt-and-quiet",
        facts(NY, opted_out=["email:*"]),
        [],
        email("2026-06-10T07:00-04:00"),
        [OPT, QH],
        None,
    ),
    no(
        "opt-and-no-consent",
        facts(NY, sms=False, opted_out=["sms:*"]),
        [],
        sms(AT),
        [OPT, NOC],
        None,
    ),
]

# ---------------------------------------------------------------------------
# rules.no_consent: "A proposed phone call requires voice_consent ... A
# proposed SMS requires sms_consent ... Email needs no TCPA consent."
# Permanent (fields.expected.earliest_allowed): null.
# ---------------------------------------------------------------------------
NO_CONSENT: list[Case] = [
    no("phone-without-voice-consent", facts(NY, voice=False), [], phone(AT), [NOC], None),
    no("sms-without-sms-consent", facts(NY, sms=False), [], sms(AT), [NOC], None),
    ok("sms-with-sms-consent-only", facts(NY, voice=False), [], sms(AT)),
    no("phone-with-sms-consent-only", facts(NY, voice=False), [], phone(AT), [NOC], None),
    ok("phone-with-voice-consent-only", facts(NY, sms=False), [], phone(AT)),
    ok("email-without-any-consent", facts(NY, sms=False, voice=False), [], email(AT)),
    # A permanent reason plus a temporary one: both listed, earliest null.
    no("no-consent-and-7in7", facts(NY, voice=False), june(range(4, 11)), NOON, [NOC, F7], None),
    no("no-consent-sms-and-ma", facts(NY, state="MA", sms=False), MA_TWO, sms(AT), [NOC, MA], None),
]

# ---------------------------------------------------------------------------
# Permanent bars. rules.cease: "Denies every channel permanently
# (earliest_allowed null)"; rules.attorney: "Denies every channel to the
# consumer permanently (null)"; rules.dispute_hold: "Denies every collection
# contact (null)". fields.expected.reasons: "Every rule that the proposed
# contact breaks at proposed.at, each checked on its own, listed in
# 'reason_precedence' order. expected.reason equals reasons[0]."
# ---------------------------------------------------------------------------
# Jun 4..8 unanswered, Jun 9 conversation, Jun 10 unanswered, all 10:00 EDT.
EVERYTHING = [*june(range(4, 9)), conv("2026-06-09T10:00-04:00"), *june([10])]
ALL_BARS = facts(
    NY,
    state="MA",
    voice=False,
    opted_out=["phone:*"],
    cease=True,
    attorney=True,
    disputed=True,
)
LATE = phone("2026-06-10T22:00-04:00")
PERMANENT: list[Case] = [
    no("cease-email", facts(NY, cease=True), [], email(AT), [R.CEASE], None),
    no("cease-phone", facts(NY, cease=True), [], phone(AT), [R.CEASE], None),
    no("attorney-phone", facts(NY, attorney=True), [], phone(AT), [R.ATTORNEY], None),
    no("attorney-email", facts(NY, attorney=True), [], email(AT), [R.ATTORNEY], None),
    no("dispute-sms", facts(NY, disputed=True), [], sms(AT), [R.DISPUTE_HOLD], None),
    no("dispute-email", facts(NY, disputed=True), [], email(AT), [R.DISPUTE_HOLD], None),
    # cease + quiet hours -> reasons [cease, quiet_hours], reason cease, null.
    no("cease-and-quiet", facts(NY, cease=True), [], LATE, [R.CEASE, QH], None),
    no(
        "attorney-and-7in7",
        facts(NY, attorney=True),
        june(range(4, 11)),
        NOON,
        [R.ATTORNEY, F7],
        None,
    ),
    no(
        "dispute-and-ma",
        facts(NY, state="MA", disputed=True),
        MA_TWO,
        sms(AT),
        [R.DISPUTE_HOLD, MA],
        None,
    ),
    no(
        "attorney-pc-quiet",
        facts(NY, attorney=True),
        CONV,
        phone("2026-06-05T22:00-04:00"),
        [R.ATTORNEY, PC, QH],
        None,
    ),
    no(
        "cease-attorney-dispute",
        facts(NY, cease=True, attorney=True, disputed=True),
        [],
        email(AT),
        [R.CEASE, R.ATTORNEY, R.DISPUTE_HOLD],
        None,
    ),
    # Every rule broken at once (MA, phone:* opt-out, no voice consent,
    # conversation Jun 9, 7 calls Jun 4..10, 2 calls in 168 h, 22:00 EDT): all
    # nine reasons in reason_precedence order.
    no(
        "everything-at-once",
        ALL_BARS,
        EVERYTHING,
        LATE,
        [R.CEASE, R.ATTORNEY, R.DISPUTE_HOLD, OPT, NOC, PC, F7, MA, QH],
        None,
    ),
    # The same contact without the permanent bars: the lock (C = Jun 9) ends
    # 00:00 Jun 16, 7in7 00:00 Jun 11, MA when the Jun 9 call leaves the 168 h
    # window, Jun 16 10:00 EDT (inside the window). All at once: Jun 16 10:00.
    no("all-temporary-at-once", MASS, EVERYTHING, LATE, [PC, F7, MA, QH], "2026-06-16T10:00-04:00"),
]

CASES: list[Case] = [
    *QUIET_HOURS,
    *DST,
    *ZONES,
    *SEVEN_IN_SEVEN,
    *POST_CONVERSATION,
    *MASSACHUSETTS,
    *OPTED_OUT,
    *NO_CONSENT,
    *PERMANENT,
]


def _utc(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _show(decision: Decision) -> tuple[list[Reason], str | None]:
    return decision.reasons, _utc(decision.earliest_allowed)


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_rule(case: Case) -> None:
    decision = decide(case.facts, case.history, case.proposed)
    assert _show(decision) == (list(case.reasons), _utc(case.expected_earliest))
    assert decision.reason == case.reasons[0]
    assert decision.allowed is (case.reasons == OK)


def test_earliest_allowed_is_utc() -> None:
    """fields.expected.earliest_allowed: "A UTC instant" (aware, offset zero)."""
    for case in CASES:
        earliest = decide(case.facts, case.history, case.proposed).earliest_allowed
        if earliest is not None:
            assert earliest.utcoffset() == timedelta(0), case.id


@pytest.mark.parametrize(
    ("state", "expected"),
    [("MA", US_FEDERAL.overlay(US_MA).ref), (None, US_FEDERAL.ref), ("NY", US_FEDERAL.ref)],
)
def test_ruleset_recorded(state: str | None, expected: str) -> None:
    """rules=None means ruleset_for(country, state); the decision names that set."""
    decision = decide(facts(NY, state=state), [], phone(AT))
    assert decision.ruleset == expected == ruleset_for("US", state).ref


def test_explicit_ruleset_is_used() -> None:
    """An explicit ``rules`` argument replaces ruleset_for(country, state)."""
    federal = decide(MASS, MA_TWO, NOON, rules=US_FEDERAL)
    assert federal.allowed
    massachusetts = decide(facts(NY), MA_TWO, NOON, rules=US_FEDERAL.overlay(US_MA))
    assert massachusetts.reasons == [MA]
    assert massachusetts.earliest_allowed == ts(MA_168H)
