"""Proving the hash-chained audit log was not altered (``recoup audit verify``).

Every record's HMAC chain is recomputed; with anchors, each chain head the exporter
put on the event stream must still be in the chain, so a chain rewritten by someone
holding the key fails too. ``Finding`` is the audit log adapter's, re-exported.
"""

from __future__ import annotations

from adapters.audit_log import Finding
from adapters.event_log import EventLog
from bootstrap.root import Root
from domain.events import EventType

__all__ = ["ANCHOR_STATUS", "Finding", "exported_anchors", "verify"]

# The status of the events that anchor an audit chain head (written by the exporter).
ANCHOR_STATUS = "chain_head"


def exported_anchors(events: EventLog) -> list[tuple[str, int, str]]:
    """The audit chain heads anchored so far, as ``(tenant, position, hash)``."""
    anchors: list[tuple[str, int, str]] = []
    position = 0
    while rows := events.read_after(position, 5000, types=[EventType.COMPLIANCE_AUDIT.value]):
        for row in rows:
            record = row.export_record()
            if record.status == ANCHOR_STATUS and record.agent_id == "audit-log":
                meta = record.metadata
                anchors.append((record.tenant_id, int(meta["position"]), str(meta["hash"])))
        position = rows[-1].position or position
    return anchors


def verify(root: Root, tenant: str | None, anchors: bool) -> list[Finding]:
    """What is wrong with the chains (of ``tenant`` only, when given); empty when intact."""
    log = root.audit_log
    log.create_tables()
    findings = log.verify(tenant)
    if anchors:
        exported = [a for a in exported_anchors(root.events) if tenant in (None, a[0])]
        findings += log.check_anchors(exported)
    return findings
