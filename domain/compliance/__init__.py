"""The compliance gate: pure rules deciding, before every contact, whether the law allows it."""

from domain.compliance.engine import decide, opted_out
from domain.compliance.model import (
    PRECEDENCE,
    ComplianceFacts,
    Decision,
    PastContact,
    ProposedContact,
    Reason,
)
from domain.compliance.rules import RuleSet, ruleset_for

__all__ = [
    "PRECEDENCE",
    "ComplianceFacts",
    "Decision",
    "PastContact",
    "ProposedContact",
    "Reason",
    "RuleSet",
    "decide",
    "opted_out",
    "ruleset_for",
]
