"""The comparison behind ``recoup reconcile``: each way records can disagree is found."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.channels import Channel
from domain.reconciliation import (
    Attempt,
    DifferenceKind,
    LedgerRecord,
    ProviderRecord,
    Sources,
    differences,
)

AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
TO = "+16175550100"


def agreeing() -> Sources:
    """One text that went out and one call that rang, in every record alike."""
    return Sources(
        attempts=[
            Attempt(
                attempt_id="a1",
                account_id="A",
                channel=Channel.SMS,
                to=TO,
                outcome="sent",
                provider_ref="SM1",
                at=AT,
            ),
            Attempt(
                attempt_id="a2",
                account_id="A",
                channel=Channel.PHONE,
                to=TO,
                outcome="no_answer",
                provider_ref="CA1",
                at=AT,
            ),
            Attempt(
                attempt_id="a3",
                account_id="A",
                channel=Channel.EMAIL,
                to="x@e.com",
                outcome="cancelled",
            ),
        ],
        campaign_counts={"A": {Channel.SMS: 1}},
        ledger=[
            LedgerRecord(
                attempt_id="a1",
                account_id="A",
                channel=Channel.SMS,
                outcome="delivered",
                provider_ref="SM1",
            ),
            LedgerRecord(
                attempt_id="a2",
                account_id="A",
                channel=Channel.PHONE,
                outcome="no_answer",
                provider_ref="CA1",
            ),
        ],
        audit_chain={"a1", "a2"},
        exported={"a1": "sent", "a2": "no_answer", "a3": "cancelled"},
        provider={
            Channel.SMS: [
                ProviderRecord(
                    channel=Channel.SMS, provider_ref="SM1", to=TO, at=AT, status="delivered"
                )
            ],
            Channel.PHONE: [
                ProviderRecord(
                    channel=Channel.PHONE, provider_ref="CA1", to=TO, at=AT, status="no-answer"
                )
            ],
        },
        report_reached={Channel.SMS: 1},
    )


def kinds(sources: Sources) -> list[DifferenceKind]:
    return [d.kind for d in differences(sources)]


def test_records_that_agree_have_no_difference() -> None:
    assert differences(agreeing()) == []


def test_the_finding_of_issue_15_a_cancelled_text_the_ledger_says_went_out() -> None:
    # The campaign cancelled and dead-lettered the text; the agent had sent it anyway.
    s = agreeing()
    s.attempts[0] = s.attempts[0].model_copy(update={"outcome": "cancelled", "provider_ref": None})
    s.campaign_counts = {"A": {}}
    s.exported["a1"] = "failed"
    s.dead_lettered = {"a1": "dlq-1"}
    s.report_reached = {}
    found = kinds(s)
    assert DifferenceKind.LEDGER_ONLY in found
    assert DifferenceKind.DEAD_LETTER_SENT in found
    assert DifferenceKind.CAMPAIGN_COUNT not in found  # the campaign agrees with its history
    assert all(d.attempt_id == "a1" for d in differences(s) if d.attempt_id)


def test_each_source_that_lacks_a_contact_is_named() -> None:
    s = agreeing()
    s.ledger = s.ledger[1:]
    s.audit_chain = {"a1", "a2"}
    # (the provider's SM1 is still explained: the history reported it)
    assert kinds(s) == [DifferenceKind.NOT_IN_LEDGER, DifferenceKind.AUDIT_ONLY]
    s = agreeing()
    s.audit_chain = {"a2"}
    assert kinds(s) == [DifferenceKind.NOT_IN_AUDIT]
    s = agreeing()
    s.exported["a1"] = "failed"
    assert kinds(s) == [DifferenceKind.EXPORT_DISAGREES]
    s = agreeing()
    s.campaign_counts = {"A": {Channel.SMS: 2}}
    assert kinds(s) == [DifferenceKind.CAMPAIGN_COUNT]
    s = agreeing()
    s.report_reached = {Channel.SMS: 0}
    assert kinds(s) == [DifferenceKind.TOTALS]


def test_the_provider_is_held_to_the_records_both_ways() -> None:
    s = agreeing()
    s.provider[Channel.SMS] = []
    [missing] = differences(s)
    assert missing.kind is DifferenceKind.PROVIDER_MISSING and missing.provider_ref == "SM1"
    s = agreeing()
    extra = ProviderRecord(channel=Channel.SMS, provider_ref="SM9", to=TO, at=AT, status="sent")
    s.provider[Channel.SMS].append(extra)
    [unknown] = differences(s)
    assert unknown.kind is DifferenceKind.PROVIDER_ONLY and unknown.provider_ref == "SM9"
    # ... unless the ledger holds it for another campaign's account.
    s.foreign_refs = {"SM9"}
    assert differences(s) == []
    # A channel whose provider was not asked is not compared.
    s = agreeing()
    del s.provider[Channel.SMS]
    assert differences(s) == []
