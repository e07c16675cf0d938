"""The supervisor agent: rules on a disagreement between agents (``domain.supervision``).

With a language model configured, the model is given the disagreement (the kind,
each agent's position and evidence, the few facts the rules use — never the
debtor's name, contact points or account number) and must choose one of the two
options with a rationale, as a strict JSON answer. A refusal, a malformed answer,
an option that is not one of the two, a timeout or an outage: the offline rules
rule instead, and ``fallback`` says why. The supervisor never fails the campaign
and never retries a question it got a bad answer to.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity

from activities.composer import model_failure
from adapters.llm import LlmClient, LlmError
from domain import names
from domain.supervision import OPTIONS, Disagreement, Ruling, offline_ruling, safe_option

SCHEMA_NAME = "supervisor_ruling"
RULING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {"type": "string", "description": "Exactly one of the two options."},
        "rationale": {"type": "string", "description": "One or two sentences."},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["decision", "rationale", "confidence"],
    "additionalProperties": False,
}
SYSTEM_PROMPT = (
    "You supervise the agents of a debt collection agency bound by the FDCPA, Regulation F "
    "and the TCPA. Two agents disagree. Choose one of the two options you are given and say "
    "why in one or two sentences. When the law could be broken by one option, choose the "
    "other. A person will approve or reject your ruling."
)
DEFAULT_TIMEOUT = 15.0


class Supervisor:
    def __init__(self, llm: LlmClient | None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._llm = llm
        self._timeout = timeout

    @activity.defn(name=names.SUPERVISE)
    async def supervise(self, disagreement: Disagreement) -> Ruling:
        offline = offline_ruling(disagreement)
        if self._llm is None:
            return offline.model_copy(update={"fallback": "no model configured"})
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._llm.complete_json(
                    SYSTEM_PROMPT, user_prompt(disagreement), RULING_SCHEMA, SCHEMA_NAME
                )
        except TimeoutError:
            return offline.model_copy(update={"fallback": "model timed out"})
        except LlmError as err:
            return offline.model_copy(update={"fallback": model_failure(err)})
        decision = str(answer.get("decision", "")).strip().lower()
        if decision not in OPTIONS[disagreement.kind]:
            return offline.model_copy(
                update={"fallback": f"model chose {decision[:40]!r}, not an option"}
            )
        try:
            confidence = min(1.0, max(0.0, float(answer.get("confidence", 0.5))))
        except (TypeError, ValueError):
            confidence = 0.5
        rationale = " ".join(str(answer.get("rationale") or "").split())[:600]
        return Ruling(
            decision=decision,
            rationale=rationale or "(no rationale given)",
            confidence=confidence,
            decided_by="model",
        )


def user_prompt(d: Disagreement) -> str:
    first, second = OPTIONS[d.kind]
    lines = [
        f"Disagreement: {d.kind.value.replace('_', ' ')}.",
        *(
            f"- {p.agent} holds that {p.claim} ({p.evidence or 'no evidence given'})."
            for p in d.positions
        ),
        f"Rounds the agents already held between themselves: {d.peer_rounds}.",
        f"Options: '{first}' or '{second}'. The safe option is '{safe_option(d.kind)}'.",
        f"Facts: dispute on file: {d.dispute_on_file}; earlier disputes: {d.past_disputes}; "
        f"broken promises: {d.promises_broken}; days past due: {d.days_past_due}.",
    ]
    if d.forgiven_share is not None and d.threshold is not None:
        lines.append(
            f"The settlement forgives {d.forgiven_share:.0%}; agents may agree {d.threshold:.0%}."
        )
    return "\n".join(lines)
