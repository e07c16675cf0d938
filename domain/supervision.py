"""When agents disagree: peer resolution, then the supervisor, then a person (protocol seed).

The protocol seed's conflict resolution has three levels. The agents that disagree
first try to settle it between themselves (at most two rounds: each may look again
with what the other knows). If they still disagree, the supervisor agent rules.
Its ruling is then put to a person as an approval (a Temporal update) with a
deadline; nobody answering means the *safe* option, which is never the one that
contacts or collects more.

Disagreements Recoup knows:

- ``dispute_vs_promise``: the research agent has a dispute on file (or in the
  conversation) while the reply reader reads the debtor's reply as a promise to pay.
  Collecting on a disputed debt before verification breaks 12 CFR 1006.34(c)(3), so
  the safe option is ``dispute`` (collection paused until verification).
- ``composer_guardrail``: the composer's draft failed the guardrail twice (a redraft
  with the objections included). The template went out; the question is whether the
  model may keep writing to this debtor. Safe: ``template``.
- ``settlement_threshold``: the arrangement agent agreed a settlement that forgives
  more than the tenant lets agents agree alone. Safe: ``reject``.

This module is pure: the workflow uses :func:`offline_ruling` directly when no
language model is configured, and the supervisor activity falls back to it.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

MAX_PEER_ROUNDS = 2


class DisagreementKind(StrEnum):
    DISPUTE_VS_PROMISE = "dispute_vs_promise"
    COMPOSER_GUARDRAIL = "composer_guardrail"
    SETTLEMENT_THRESHOLD = "settlement_threshold"


# The options a ruling chooses between, the safe one first.
OPTIONS: dict[DisagreementKind, tuple[str, str]] = {
    DisagreementKind.DISPUTE_VS_PROMISE: ("dispute", "promise"),
    DisagreementKind.COMPOSER_GUARDRAIL: ("template", "model"),
    DisagreementKind.SETTLEMENT_THRESHOLD: ("reject", "approve"),
}


def safe_option(kind: DisagreementKind) -> str:
    return OPTIONS[kind][0]


class Position(BaseModel):
    """What one agent holds, and on what evidence."""

    agent: str = Field(description="e.g. 'research-agent', 'reply-reader', 'composer'.")
    claim: str = Field(max_length=300)
    evidence: str = Field(default="", max_length=500)


class Disagreement(BaseModel):
    """The single input of the supervisor activity."""

    disagreement_id: str
    kind: DisagreementKind
    tenant_id: str
    account_id: str
    positions: list[Position] = Field(min_length=2)
    peer_rounds: int = Field(ge=0, le=MAX_PEER_ROUNDS, description="Rounds the peers held.")
    # Small structured facts the rules use (no transcripts).
    dispute_on_file: bool = False
    past_disputes: int = 0
    promises_broken: int = 0
    forgiven_share: Decimal | None = Field(default=None, ge=0, le=1)
    threshold: Decimal | None = Field(default=None, ge=0, le=1)
    days_past_due: int = 0
    balance: Decimal = Decimal("0")


class Ruling(BaseModel):
    """The supervisor's decision; a person approves or rejects it."""

    decision: str = Field(description="One of the kind's OPTIONS.")
    rationale: str = Field(max_length=600)
    confidence: float = Field(ge=0, le=1)
    decided_by: Literal["offline", "model"] = "offline"
    fallback: str | None = Field(default=None, description="Why the model did not rule.")


def offline_ruling(d: Disagreement) -> Ruling:
    """The supervisor's deterministic rules (documented in docs/agents.md)."""
    if d.kind is DisagreementKind.DISPUTE_VS_PROMISE:
        if d.dispute_on_file or d.past_disputes:
            return Ruling(
                decision="dispute",
                rationale=(
                    "A dispute is on file for this debt; a promise does not withdraw it. "
                    "Verification first (12 CFR 1006.34), then collection may resume."
                ),
                confidence=0.8,
            )
        return Ruling(
            decision="promise",
            rationale=(
                "Only a hint of dispute, nothing on file, and the debtor promised to pay: "
                "honour the promise and watch for a written dispute."
            ),
            confidence=0.6,
        )
    if d.kind is DisagreementKind.COMPOSER_GUARDRAIL:
        return Ruling(
            decision="template",
            rationale=(
                "The model's drafts for this debtor failed the guardrail twice: reviewed "
                "templates only, until a person lets the model write again."
            ),
            confidence=0.9,
        )
    share, limit = d.forgiven_share, d.threshold
    if share is None or limit is None:
        return Ruling(decision="reject", rationale="Terms unknown: reject.", confidence=0.5)
    # Old debts recover less; a little past the limit is reasonable there, no more.
    margin = Decimal("0.1") if d.days_past_due >= 365 else Decimal("0.05")
    if share <= limit + margin and d.promises_broken == 0:
        return Ruling(
            decision="approve",
            rationale=(
                f"Forgives {share:.0%}, {share - limit:.0%} above the {limit:.0%} limit, on a "
                f"debt {d.days_past_due} days past due with no broken promise: recommended."
            ),
            confidence=0.6,
        )
    return Ruling(
        decision="reject",
        rationale=(
            f"Forgives {share:.0%} against a {limit:.0%} limit"
            + (f" after {d.promises_broken} broken promise(s)" if d.promises_broken else "")
            + ": too far past what agents may agree."
        ),
        confidence=0.7,
    )


def valid_ruling(kind: DisagreementKind, ruling: Ruling) -> bool:
    return ruling.decision in OPTIONS[kind]
