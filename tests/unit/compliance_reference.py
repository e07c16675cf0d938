"""The compliance gate as it was before its history index (kept verbatim as a reference).

``test_compliance_index`` checks that ``domain.compliance.engine.decide`` answers
exactly as this straightforward version does, which converts and scans every
contact of the history for each rule. Do not optimise this file: its value is
that it is the plain reading of the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
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
    for reason, release in checks.temporary():
        if release(at) != at:
            reasons.add(reason)
    ordered = [r for r in PRECEDENCE if r in reasons]
    if not ordered:
        return Decision(
            allowed=True, reason=Reason.OK, reasons=[Reason.OK], earliest_allowed=at,
            ruleset=rules.ref,
        )  # fmt: skip
    earliest = None if any(r.permanent for r in ordered) else checks.earliest(at)
    return Decision(
        allowed=False,
        reason=ordered[0],
        reasons=ordered,
        earliest_allowed=earliest,
        ruleset=rules.ref,
    )


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
        self.zones = [ZoneInfo(z) for z in (facts.timezones or rules.unknown_location_zones)]
        # Releases only move forward in time, so contacts too old to matter at ``at``
        # never matter later: drop them once instead of converting them per zone.
        days = max(
            rules.call_frequency.days if rules.call_frequency else 0,
            rules.post_conversation.days if rules.post_conversation else 0,
        )
        hours = rules.state_limit.hours if rules.state_limit else 0
        horizon = at - max(timedelta(days=days + 2), timedelta(hours=hours + 1))
        # Every instant in UTC from here on, so results come out in UTC whatever the input.
        recent = [(c.at.astimezone(UTC), c) for c in history if c.at > horizon]
        # Only calls count in 7-in-7 (the registry's ``call_frequency``): never a letter.
        self.calls = [
            at for at, c in recent if spec(c.channel).call_frequency and c.direction == "outbound"
        ]
        conversations = [
            at for at, c in recent if spec(c.channel).call_frequency and c.outcome == "conversation"
        ]
        self.last_conversation = max(conversations) if conversations else None
        limit = rules.state_limit
        self.limited = sorted(
            (
                at
                for at, c in recent
                if limit and c.channel in limit.channels and c.direction == "outbound"
            ),
            reverse=True,
        )
        # Per zone: the date from which calls are free again (7-in-7), computed once.
        self._calls_free_from: dict[ZoneInfo, date] = {}

    def temporary(self) -> list[tuple[Reason, Release]]:
        rules, row = self.rules, spec(self.channel)
        call = row.call_frequency
        found: list[tuple[Reason, Release]] = []
        if call and rules.post_conversation and self.last_conversation is not None:
            found.append((Reason.POST_CONVERSATION_7DAY, self._post_conversation))
        if call and rules.call_frequency and self.calls:
            found.append((Reason.CALL_FREQUENCY_7IN7, self._call_frequency))
        if rules.state_limit and self.channel in rules.state_limit.channels and self.limited:
            found.append((Reason.STATE_FREQUENCY_LIMIT, self._state_limit))
        if row.quiet_hours:
            # A letter is delivered when the carrier comes: no inconvenient time to avoid.
            found.append((Reason.QUIET_HOURS, self._quiet_hours))
        return found

    def earliest(self, at: datetime) -> datetime | None:
        releases = [release for _, release in self.temporary()]
        current = at
        for _ in range(_MAX_ROUNDS):
            latest = current
            for release in releases:
                moment = release(current)
                if moment is None:
                    return None
                latest = max(latest, moment)
            if latest == current:
                return current
            current = latest
        return None  # no instant satisfies every rule (e.g. zones with no common window)

    # --- one release function per rule ------------------------------------

    def _post_conversation(self, t: datetime) -> datetime:
        """No call on the conversation's local date and the next days-1 dates, in any zone."""
        assert self.rules.post_conversation is not None and self.last_conversation is not None
        days = self.rules.post_conversation.days
        release = t
        for zone in self.zones:
            first_free = self.last_conversation.astimezone(zone).date() + timedelta(days=days)
            if t.astimezone(zone).date() < first_free:
                release = max(release, _local_midnight(first_free, zone))
        return release

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
        release = t
        for zone in self.zones:
            first_free = self._calls_free_from.get(zone)
            if first_free is None:
                dates = sorted((c.astimezone(zone).date() for c in self.calls), reverse=True)
                first_free = dates[limit.max_calls - 1] + timedelta(days=limit.days)
                self._calls_free_from[zone] = first_free
            if t.astimezone(zone).date() < first_free:
                release = max(release, _local_midnight(first_free, zone))
        return release

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
        quiet = self.rules.quiet_hours
        # The window reopens when some zone reaches its opening time. Try those
        # openings a day at a time (usually the first day or two suffice); a DST
        # change can make the next day's openings overlap this day's by an hour,
        # so look at the next day too before settling on the best.
        todays = [(zone, t.astimezone(zone).date()) for zone in self.zones]
        best: datetime | None = None
        for offset in range(-1, _WINDOW_SEARCH_DAYS):
            openings = sorted(
                opening
                for zone, today in todays
                if (
                    opening := datetime.combine(
                        today + timedelta(days=offset), quiet.start, zone
                    ).astimezone(UTC)
                )
                > t
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
        quiet = self.rules.quiet_hours
        for zone in self.zones:
            local = t.astimezone(zone)
            if local.weekday() in quiet.closed_weekdays:
                return False
            if not quiet.start <= local.time() < quiet.end:
                return False
        return True


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, _MIDNIGHT, zone).astimezone(UTC)
