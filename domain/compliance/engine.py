"""The compliance gate: may this contact go out at this moment, and if not, when?

Pure and deterministic: the caller passes the moment (``proposed.at``), the
account's legal facts and the debt's contact history. The semantics are those
of ``compliance-semantics.json`` (see docs/compliance.md): each rule is checked
on its own, every broken rule is reported in precedence order, and for a
temporary denial the earliest allowed instant is the first moment at or after
``proposed.at`` at which every rule passes, assuming nothing else happens.

Each temporary rule can say, for any instant, the first instant at or after it
where that rule alone passes ("release"). Rules based on dates or past contacts
only ever release as time moves forward; quiet hours are periodic. So the
earliest allowed instant is the fixed point of taking the latest release of all
rules, which a few rounds reach.

Fast enough to ask before every contact: the history is filtered once into the few
contacts a rule can still read (``recent``), per-zone free dates are worked out once,
and the releases at ``proposed.at`` serve both the reasons and the first round.
``tests/unit/test_compliance_index.py`` holds this to the plain version it replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from domain.channels import Channel, spec
from domain.compliance.model import (
    PRECEDENCE,
    ComplianceFacts,
    Decision,
    PastContact,
    ProposedContact,
    Reason,
)
from domain.compliance.recent import CALL_CHANNELS, recent_contacts
from domain.compliance.rules import RuleSet, ruleset_for

# A release function: the first instant >= t at which one rule passes (None: never).
Release = Callable[[datetime], datetime | None]

_MIDNIGHT = time(0, 0)
_MAX_ROUNDS = 64
# How far ahead quiet hours look for an open window (covers closed weekdays).
_WINDOW_SEARCH_DAYS = 9


def decide(
    facts: ComplianceFacts,
    history: Sequence[PastContact],
    proposed: ProposedContact,
    rules: RuleSet | None = None,
) -> Decision:
    """Decide one proposed contact; see the module docstring for the semantics."""
    rules = rules or ruleset_for(facts.country, facts.state)
    at = proposed.at.astimezone(UTC)
    reasons = _permanent_reasons(facts, proposed, rules)
    checks = _Checks(facts, history, proposed, rules, at)
    releases = checks.temporary()
    # Each rule's release at ``at`` says whether it denies now, and it is also the first
    # round of the fixed point: compute it once (the quiet-hours search is the dear part).
    first = [release(at) for _, release in releases]
    for (reason, _), moment in zip(releases, first, strict=True):
        if moment != at:
            reasons.add(reason)
    ordered = [r for r in PRECEDENCE if r in reasons]
    if not ordered:
        return Decision(
            allowed=True, reason=Reason.OK, reasons=[Reason.OK], earliest_allowed=at,
            ruleset=rules.ref,
        )  # fmt: skip
    permanent = any(r.permanent for r in ordered)
    earliest = None if permanent else _earliest(at, [r for _, r in releases], first)
    return Decision(
        allowed=False,
        reason=ordered[0],
        reasons=ordered,
        earliest_allowed=earliest,
        ruleset=rules.ref,
    )


def _earliest(
    at: datetime, releases: Sequence[Release], first: Sequence[datetime | None]
) -> datetime | None:
    """The fixed point from ``at``, given every release at ``at`` (``first``)."""
    current = at
    moments: Iterable[datetime | None] = first
    for _ in range(_MAX_ROUNDS):
        latest = current
        for moment in moments:
            if moment is None:
                return None
            if moment > latest:
                latest = moment
        if latest == current:
            return current
        current = latest
        moments = _releases_at(releases, current)
    return None  # no instant satisfies every rule (e.g. zones with no common window)


def _releases_at(releases: Sequence[Release], t: datetime) -> Iterator[datetime | None]:
    # Lazily, so that a rule that never passes ends the round without asking the others.
    for release in releases:
        yield release(t)


def _permanent_reasons(
    facts: ComplianceFacts, proposed: ProposedContact, rules: RuleSet
) -> set[Reason]:
    reasons: set[Reason] = set()
    if facts.cease:
        reasons.add(Reason.CEASE)
    if facts.attorney:
        reasons.add(Reason.ATTORNEY)
    if facts.disputed_unverified:
        reasons.add(Reason.DISPUTE_HOLD)
    if opted_out(facts.opted_out, proposed.channel, proposed.to):
        reasons.add(Reason.OPTED_OUT)
    if (proposed.channel is Channel.SMS and rules.sms_needs_consent and not facts.sms_consent) or (
        proposed.channel is Channel.PHONE and rules.voice_needs_consent and not facts.voice_consent
    ):
        reasons.add(Reason.NO_CONSENT)
    return reasons


def opted_out(entries: Sequence[str], channel: Channel, to: str | None) -> bool:
    """Per-address opt-out (12 CFR 1006.6(e)) or a whole medium (1006.14(h)(1), ``CHANNEL:*``)."""
    for entry in entries:
        kind, _, address = entry.partition(":")
        if kind != channel.value:
            continue
        if address == "*":
            return True
        if to is not None:
            # Email addresses and postal addresses are written in any case; numbers are E.164.
            if channel in {Channel.EMAIL, Channel.LETTER}:
                same = address.casefold() == to.casefold()
            else:
                same = address == to
            if same:
                return True
    return False


class _Checks:
    """The temporary rules for one decision, over the history that can still matter."""

    def __init__(
        self,
        facts: ComplianceFacts,
        history: Sequence[PastContact],
        proposed: ProposedContact,
        rules: RuleSet,
        at: datetime,
    ) -> None:
        self.rules = rules
        self.channel = proposed.channel
        self.zones = zones_of(tuple(facts.timezones) or rules.unknown_location_zones)
        quiet = rules.quiet_hours
        self._start, self._end, self._closed = quiet.start, quiet.end, quiet.closed_weekdays
        # Releases only move forward in time, so contacts too old to matter at ``at``
        # never matter later: drop them once instead of converting them per zone.
        days = max(
            rules.call_frequency.days if rules.call_frequency else 0,
            rules.post_conversation.days if rules.post_conversation else 0,
        )
        hours = rules.state_limit.hours if rules.state_limit else 0
        horizon = at - max(timedelta(days=days + 2), timedelta(hours=hours + 1))
        recent = recent_contacts(history, horizon, rules.state_limit)
        # Only calls count in 7-in-7 (the registry's ``call_frequency``): never a letter.
        self.calls = recent.calls
        self.last_conversation = recent.last_conversation
        self.limited = recent.limited
        # Per zone, the first free local date and its midnight in UTC, computed on first use:
        # the fixed point asks each rule several times.
        self._conversation_bars: list[tuple[ZoneInfo, date, datetime]] | None = None
        self._call_bars: list[tuple[ZoneInfo, date, datetime]] | None = None

    def temporary(self) -> list[tuple[Reason, Release]]:
        rules = self.rules
        call = self.channel in CALL_CHANNELS
        found: list[tuple[Reason, Release]] = []
        if call and rules.post_conversation and self.last_conversation is not None:
            found.append((Reason.POST_CONVERSATION_7DAY, self._post_conversation))
        if call and rules.call_frequency and self.calls:
            found.append((Reason.CALL_FREQUENCY_7IN7, self._call_frequency))
        if rules.state_limit and self.channel in rules.state_limit.channels and self.limited:
            found.append((Reason.STATE_FREQUENCY_LIMIT, self._state_limit))
        if spec(self.channel).quiet_hours:
            # A letter is delivered when the carrier comes: no inconvenient time to avoid.
            found.append((Reason.QUIET_HOURS, self._quiet_hours))
        return found

    # --- one release function per rule ------------------------------------

    def _post_conversation(self, t: datetime) -> datetime:
        """No call on the conversation's local date and the next days-1 dates, in any zone."""
        bars = self._conversation_bars
        if bars is None:
            assert self.rules.post_conversation is not None
            assert self.last_conversation is not None
            days = timedelta(days=self.rules.post_conversation.days)
            bars = self._conversation_bars = [
                _bar(zone, self.last_conversation.astimezone(zone).date() + days)
                for zone in self.zones
            ]
        return _released(t, bars)

    def _call_frequency(self, t: datetime) -> datetime:
        """Deny when max_calls calls have local dates in the last ``days`` dates, in any zone.

        With the calls' dates newest first, the window ending on date D holds at least
        max_calls calls exactly when the max_calls-th newest date is >= D-(days-1); so
        calls are free again from that date + days.
        """
        assert self.rules.call_frequency is not None
        limit = self.rules.call_frequency
        if len(self.calls) < limit.max_calls:
            return t
        bars = self._call_bars
        if bars is None:
            days = timedelta(days=limit.days)
            bars = self._call_bars = []
            for zone in self.zones:
                dates = sorted((c.astimezone(zone).date() for c in self.calls), reverse=True)
                bars.append(_bar(zone, dates[limit.max_calls - 1] + days))
        return _released(t, bars)

    def _state_limit(self, t: datetime) -> datetime:
        """Deny when max_contacts contacts fall in (t - hours, t]: elapsed time, not dates."""
        assert self.rules.state_limit is not None
        limit = self.rules.state_limit
        window = timedelta(hours=limit.hours)
        inside = [e for e in self.limited if t - window < e <= t]
        if len(inside) < limit.max_contacts:
            return t
        # Free once the max_contacts-th newest contact has left the window.
        return inside[limit.max_contacts - 1] + window

    def _quiet_hours(self, t: datetime) -> datetime | None:
        """Inside [start, end) local time, on an open weekday, in every zone."""
        if self._quiet_ok(t):
            return t
        start = self._start
        # The window reopens when some zone reaches its opening time. Try those
        # openings a day at a time (usually the first day or two suffice); a DST
        # change can make the next day's openings overlap this day's by an hour,
        # so look at the next day too before settling on the best.
        todays = [(zone, t.astimezone(zone).date()) for zone in self.zones]
        best: datetime | None = None
        for offset in range(-1, _WINDOW_SEARCH_DAYS):
            shift = timedelta(days=offset)
            openings = sorted(
                opening
                for zone, today in todays
                if (opening := datetime.combine(today + shift, start, zone).astimezone(UTC)) > t
            )
            if best is not None and (not openings or openings[0] >= best):
                break
            for moment in openings:
                if best is not None and moment >= best:
                    break
                if self._quiet_ok(moment):
                    best = moment
                    break
        return best

    def _quiet_ok(self, t: datetime) -> bool:
        start, end, closed = self._start, self._end, self._closed
        for zone in self.zones:
            local = t.astimezone(zone)
            if closed and local.weekday() in closed:
                return False
            if not start <= local.time() < end:
                return False
        return True


@lru_cache(maxsize=256)
def zones_of(names: tuple[str, ...]) -> tuple[ZoneInfo, ...]:
    """The zones named, looked up once per combination (a debtor's list, or a country's)."""
    return tuple(ZoneInfo(name) for name in names)


def _bar(zone: ZoneInfo, first_free: date) -> tuple[ZoneInfo, date, datetime]:
    return zone, first_free, _local_midnight(first_free, zone)


def _released(t: datetime, bars: Sequence[tuple[ZoneInfo, date, datetime]]) -> datetime:
    """The first instant >= t whose local date is a first free date or later in every zone."""
    release = t
    for zone, first_free, midnight in bars:
        if t.astimezone(zone).date() < first_free:
            release = max(release, midnight)
    return release


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, _MIDNIGHT, zone).astimezone(UTC)
