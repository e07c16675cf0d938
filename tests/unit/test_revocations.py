"""Revocations fold as the law reads them, and stored ones only ever make the gate stricter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.channels import Channel
from domain.compliance.engine import decide
from domain.compliance.model import ComplianceFacts, ProposedContact
from domain.revocations import Revocation, RevocationKind, barring, in_force, live_facts

PHONE = "+16175550100"
OTHER = "+16175550199"
EMAIL = "dana@example.com"
LETTER_TO = "185 Berry St, San Francisco, CA 94107"
T0 = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)  # 11:00 in New York: no quiet hours


def revoked(
    kind: RevocationKind,
    minutes: int,
    channel: Channel | None = None,
    address: str | None = None,
    rid: str | None = None,
) -> Revocation:
    return Revocation(
        revocation_id=rid or f"{kind}-{minutes}-{channel}-{address}",
        tenant_id="t",
        account_id="a",
        kind=kind,
        channel=channel,
        address=address,
        received_at=T0 + timedelta(minutes=minutes),
    )


def test_a_verification_lifts_only_the_disputes_received_before_it() -> None:
    early = revoked(RevocationKind.DISPUTE, 1)
    lifted = revoked(RevocationKind.VERIFICATION_SENT, 2)
    again = revoked(RevocationKind.DISPUTE, 3)
    cease = revoked(RevocationKind.CEASE, 0)
    assert in_force([again, lifted, early, cease]) == [cease, again]
    assert in_force([again, lifted, early, cease], at=T0 + timedelta(minutes=2)) == [cease]


def test_an_opt_out_bars_its_address_and_channel_only() -> None:
    stop = revoked(RevocationKind.OPT_OUT, 0, Channel.SMS, PHONE)
    assert barring([stop], Channel.SMS, PHONE) == [stop]
    assert barring([stop], Channel.SMS, OTHER) == []
    assert barring([stop], Channel.PHONE, PHONE) == []  # a STOP to texts is not one to calls
    everywhere = revoked(RevocationKind.OPT_OUT, 0, Channel.EMAIL, None)
    assert barring([everywhere], Channel.EMAIL, EMAIL) == [everywhere]
    case = revoked(RevocationKind.OPT_OUT, 0, Channel.EMAIL, EMAIL.upper())
    assert barring([case], Channel.EMAIL, EMAIL) == [case]
    # Not yet received at that moment: no bar then.
    assert barring([stop], Channel.SMS, PHONE, at=T0 - timedelta(seconds=1)) == []


def test_stored_revocations_reach_the_gate_facts() -> None:
    facts = ComplianceFacts(timezones=["America/New_York"], sms_consent=True, voice_consent=True)
    stop = revoked(RevocationKind.OPT_OUT, 0, Channel.SMS, PHONE)
    consent = revoked(RevocationKind.CONSENT_REVOKED, 0, Channel.PHONE, PHONE)
    medium = revoked(RevocationKind.MEDIUM_OPT_OUT, 0, Channel.EMAIL)
    merged = live_facts(facts, [stop, consent, medium], Channel.PHONE, PHONE)
    assert f"sms:{PHONE}" in merged.opted_out and "email:*" in merged.opted_out
    assert merged.sms_consent and not merged.voice_consent
    proposed = ProposedContact(at=T0, channel=Channel.SMS, to=PHONE)
    assert decide(facts, [], proposed).allowed
    assert not decide(live_facts(facts, [stop], Channel.SMS, PHONE), [], proposed).allowed


KINDS = st.sampled_from(list(RevocationKind))
_GATED = list(Channel)
CHANNELS = st.sampled_from([None, *_GATED])
ADDRESSES = st.sampled_from([None, PHONE, OTHER, EMAIL, LETTER_TO])


@st.composite
def revocations(draw: st.DrawFn) -> list[Revocation]:
    items = draw(st.lists(st.tuples(KINDS, st.integers(-60, 60), CHANNELS, ADDRESSES), max_size=6))
    out = []
    for n, (kind, minutes, channel, address) in enumerate(items):
        if kind in {RevocationKind.OPT_OUT, RevocationKind.CONSENT_REVOKED} and channel is None:
            channel = Channel.SMS
        out.append(revoked(kind, minutes, channel, address, rid=f"r{n}"))
    return out


@settings(max_examples=300, deadline=None, database=None)
@given(
    revocations(),
    st.sampled_from(_GATED),
    st.sampled_from([PHONE, OTHER, EMAIL, LETTER_TO]),
    st.booleans(),
    st.booleans(),
)
def test_the_store_only_ever_makes_the_gate_stricter(
    stored: list[Revocation], channel: Channel, to: str, sms: bool, voice: bool
) -> None:
    facts = ComplianceFacts(timezones=["America/New_York"], sms_consent=sms, voice_consent=voice)
    proposed = ProposedContact(at=T0 + timedelta(hours=2), channel=channel, to=to)
    live = decide(live_facts(facts, stored, channel, to), [], proposed)
    if live.allowed:
        assert decide(facts, [], proposed).allowed
    # Whatever a revocation in force bars, the gate denies once it is folded in.
    if barring(stored, channel, to):
        assert not live.allowed
