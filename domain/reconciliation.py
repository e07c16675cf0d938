"""Reconciliation: do a campaign's records agree with each other and with the providers?

Six accounts of every contact are kept apart on purpose, so that one can be checked
against the others:

- the **history**: what each channel agent reported to Temporal (the truth of the
  campaign's activities, whatever the workflow concluded from it);
- the **campaign's own count**: what the workflow counted as contacts (its result, or
  its status while it runs);
- the **contact ledger** and the **audit chain**, written by the agents as they send;
- the **exported events** (the read model's contact attempts) and the **dead letters**;
- the **providers' own records** (the SMS/voice provider's message and call lists, the
  mail provider's accepted-message events).

``differences`` compares them; every difference names the attempt (or the provider's
reference), the account and what each side says. Pure: the gathering is in
``service.reconcile``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from domain.channels import Channel

# Outcomes that reached the debtor's side (``ContactOutcome.reached``), and those that a
# channel agent records in the ledger (a call that rang counts for the gate too).
REACHED = frozenset({"sent", "delivered", "voicemail", "conversation"})
LEDGERED = REACHED | {"no_answer"}


class Attempt(BaseModel):
    """One contact activity as the history tells it."""

    attempt_id: str
    account_id: str
    channel: Channel
    to: str
    outcome: str = Field(description="A ContactOutcome, or failed / cancelled / refused.")
    provider_ref: str | None = None
    at: datetime | None = None


class LedgerRecord(BaseModel):
    attempt_id: str
    account_id: str
    channel: Channel
    outcome: str
    provider_ref: str | None = None


class ProviderRecord(BaseModel):
    """A message or call the provider says it took: its reference and where it went."""

    channel: Channel
    provider_ref: str
    to: str
    at: datetime
    status: str


class DifferenceKind(StrEnum):
    NOT_IN_LEDGER = "not_in_ledger"
    LEDGER_ONLY = "ledger_only"
    NOT_IN_AUDIT = "not_in_audit_chain"
    AUDIT_ONLY = "audit_chain_only"
    EXPORT_DISAGREES = "export_disagrees"
    CAMPAIGN_COUNT = "campaign_count"
    DEAD_LETTER_SENT = "dead_letter_was_sent"
    PROVIDER_MISSING = "provider_has_no_record"
    PROVIDER_ONLY = "provider_only"
    TOTALS = "totals"


class Difference(BaseModel):
    kind: DifferenceKind
    channel: Channel | None = None
    account_id: str | None = None
    attempt_id: str | None = None
    provider_ref: str | None = None
    detail: str


class Sources(BaseModel):
    """Everything gathered about one campaign (``service.reconcile``)."""

    attempts: list[Attempt] = Field(default_factory=list)
    campaign_counts: dict[str, dict[Channel, int]] = Field(
        default_factory=dict, description="Account id → what the campaign counted, by channel."
    )
    ledger: list[LedgerRecord] = Field(default_factory=list)
    audit_chain: set[str] = Field(default_factory=set, description="Attempt ids in the chain.")
    exported: dict[str, str] = Field(
        default_factory=dict, description="Attempt id → outcome in the exported events."
    )
    dead_lettered: dict[str, str] = Field(
        default_factory=dict, description="Attempt id → dead letter id (a failed send)."
    )
    provider: dict[Channel, list[ProviderRecord]] = Field(
        default_factory=dict, description="Channels whose provider was asked, and its records."
    )
    foreign_refs: set[str] = Field(
        default_factory=set, description="Provider refs the ledger holds for other accounts."
    )
    report_reached: dict[Channel, int] | None = Field(
        default=None, description="The campaign report's contacts by channel (read model)."
    )


def _by_channel(items: Iterable[tuple[Channel, bool]]) -> Counter[Channel]:
    return Counter(channel for channel, counted in items if counted)


def differences(sources: Sources) -> list[Difference]:
    found: list[Difference] = []
    ledger = {r.attempt_id: r for r in sources.ledger}
    # The latest word of the history on each attempt (a redrive is another attempt id).
    attempts = {a.attempt_id: a for a in sources.attempts}

    def add(kind: DifferenceKind, detail: str, **where: Any) -> None:
        found.append(Difference(kind=kind, detail=detail, **where))

    for a in attempts.values():
        where = {"channel": a.channel, "account_id": a.account_id, "attempt_id": a.attempt_id}
        entry = ledger.get(a.attempt_id)
        if a.outcome in LEDGERED and entry is None:
            add(DifferenceKind.NOT_IN_LEDGER, f"the history says {a.outcome}", **where)
        if entry is not None and a.outcome not in LEDGERED:
            add(
                DifferenceKind.LEDGER_ONLY,
                f"the ledger says {entry.outcome}, the history says {a.outcome}",
                **where,
            )
        exported = sources.exported.get(a.attempt_id)
        if (a.outcome in REACHED) != (exported in REACHED):
            add(
                DifferenceKind.EXPORT_DISAGREES,
                f"the history says {a.outcome}, the exported events say {exported or 'nothing'}",
                **where,
            )
    for entry in ledger.values():
        where = {
            "channel": entry.channel,
            "account_id": entry.account_id,
            "attempt_id": entry.attempt_id,
        }
        if entry.attempt_id not in attempts:
            add(
                DifferenceKind.LEDGER_ONLY,
                f"the ledger says {entry.outcome}; no such attempt in the history",
                **where,
            )
        if entry.attempt_id not in sources.audit_chain:
            add(DifferenceKind.NOT_IN_AUDIT, "in the ledger, not in the audit chain", **where)
        if entry.attempt_id in sources.dead_lettered:
            add(
                DifferenceKind.DEAD_LETTER_SENT,
                f"dead letter {sources.dead_lettered[entry.attempt_id]} says it failed; "
                f"the ledger says {entry.outcome}",
                **where,
            )
    for attempt_id in sorted(sources.audit_chain - ledger.keys()):
        add(
            DifferenceKind.AUDIT_ONLY,
            "in the audit chain, not in the ledger",
            attempt_id=attempt_id,
        )
    found += _campaign_counts(sources)
    found += _providers(sources, ledger, attempts)
    if sources.report_reached is not None:
        history = _by_channel((a.channel, a.outcome in REACHED) for a in attempts.values())
        for channel in Channel:
            reported = sources.report_reached.get(channel, 0)
            if reported != history[channel]:
                add(
                    DifferenceKind.TOTALS,
                    f"the campaign report counts {reported} {channel} contact(s), "
                    f"the history {history[channel]}",
                    channel=channel,
                )
    return found


def _campaign_counts(sources: Sources) -> list[Difference]:
    found: list[Difference] = []
    for account_id, counted in sorted(sources.campaign_counts.items()):
        history = _by_channel(
            (a.channel, a.outcome in REACHED)
            for a in sources.attempts
            if a.account_id == account_id
        )
        for channel in Channel:
            if counted.get(channel, 0) != history[channel]:
                found.append(
                    Difference(
                        kind=DifferenceKind.CAMPAIGN_COUNT,
                        channel=channel,
                        account_id=account_id,
                        detail=f"the campaign counts {counted.get(channel, 0)} {channel} "
                        f"contact(s), its history {history[channel]}",
                    )
                )
    return found


def _providers(
    sources: Sources, ledger: Mapping[str, LedgerRecord], attempts: Mapping[str, Attempt]
) -> list[Difference]:
    found: list[Difference] = []
    ours = {r.provider_ref: r for r in ledger.values() if r.provider_ref}
    told = {a.provider_ref: a for a in attempts.values() if a.provider_ref}
    for channel, records in sources.provider.items():
        at_provider = {r.provider_ref: r for r in records}
        for ref, entry in sorted(ours.items()):
            if entry.channel is channel and ref not in at_provider:
                found.append(
                    Difference(
                        kind=DifferenceKind.PROVIDER_MISSING,
                        channel=channel,
                        account_id=entry.account_id,
                        attempt_id=entry.attempt_id,
                        provider_ref=ref,
                        detail=f"the ledger says {entry.outcome}; the provider has no {ref}",
                    )
                )
        for ref, record in sorted(at_provider.items()):
            if ref in ours or ref in told or ref in sources.foreign_refs:
                continue
            found.append(
                Difference(
                    kind=DifferenceKind.PROVIDER_ONLY,
                    channel=channel,
                    provider_ref=ref,
                    detail=f"the provider {record.status} {ref} at {record.at.isoformat()}; "
                    "no record of it here",
                )
            )
    return found
