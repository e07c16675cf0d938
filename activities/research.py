"""The research agent: builds an account's context before a touch and briefs the next agent.

The account context (``domain.research.AccountContext``) comes from two places: the
creditor's CRM record (``adapters.crm_records``: preferences, flags, notes) and the
account's history across every campaign in the SQL read model
(``adapters.account_history``: payments, contacts, replies, promises, disputes,
opt-outs). The workflow supplies the shorter-term contexts (this conversation, this
campaign). The facts are always drawn deterministically (``domain.research``); the brief
is written

- with no model configured: offline (``offline_brief``), ``fallback`` None;
- with a model: by the model from the facts, checked (not empty, ≤ 700 characters,
  names a likely dispute and a non-English language when the facts have them); on any
  failure (refusal, malformed or failing answer, timeout, endpoint down or rejecting
  the request) the offline brief, with ``fallback`` saying why. The model never makes
  the activity fail or retry: a brief is advice, and the touch must not wait for it.

A CRM outage does not fail the touch either, but a short one should not cost the brief
its CRM record: on a transient CRM failure (timeout, 5xx, 429) attempts before
``crm_attempts`` (default 3) raise a retryable ``CrmUnavailable`` ApplicationError, so
Temporal retries with the caller's backoff; the last of them goes on without the record
(``crm_available`` False, and the brief says so). A CRM that refuses for good (bad
key, no access) is not retried. The caller's retry policy should therefore allow at
least ``crm_attempts`` attempts (e.g. ``maximum_attempts=3``, ``initial_interval=1 s``)
and a start-to-close timeout above the CRM's and the model's (30 s with the defaults).
A failing read-model database is raised as is: Temporal retries it like any activity
error.

The model is given the facts, the balance and the two shorter-term contexts; never the
tenant, the account id or the debtor's name.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.composer import model_failure
from adapters.account_history import AccountHistory, PastActivity
from adapters.crm_records import CrmRecord, CrmRecords, CrmUnavailable
from adapters.llm import LlmClient, LlmError
from domain import names
from domain.research import (
    BRIEF_MAX,
    AccountContext,
    ResearchBrief,
    ResearchFacts,
    ResearchRequest,
    language_name,
    offline_brief,
)

CRM_ATTEMPTS = 3
DEFAULT_TIMEOUT = 10.0  # seconds for the model's brief; the offline one is instant

SCHEMA_NAME = "research_brief"
# Strict structured outputs: every key required, nothing else allowed.
BRIEF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "brief": {
            "type": "string",
            "description": f"The brief, in English, at most {BRIEF_MAX - 100} characters.",
        }
    },
    "required": ["brief"],
    "additionalProperties": False,
}

SYSTEM_PROMPT = "\n".join(
    f"- {rule}"
    for rule in [
        "You are the research agent of a debt collection system. From the facts given as"
        " JSON, write a brief for the next agent (the one that contacts the debtor) and for"
        " the people who review the campaign.",
        "Write in English, whatever the debtor's language, and say which language the"
        " debtor speaks.",
        f"At most 4 sentences and {BRIEF_MAX - 100} characters; plain text, no lists.",
        "Use only the facts given: invent nothing. If the CRM record is unavailable or"
        " missing, say so.",
        "Lead with what changes how to approach the debtor: a likely dispute (the debt must"
        " be verified before asking for payment), hardship, do-not-call, opt-outs.",
        "End with the best channel and the risk.",
        "Never suggest threats, pressure or false urgency.",
    ]
)


class ResearchAgent:
    """The research activity; ``llm`` None writes every brief offline."""

    def __init__(
        self,
        crm: CrmRecords,
        history: AccountHistory,
        llm: LlmClient | None,
        *,
        crm_attempts: int = CRM_ATTEMPTS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._crm = crm
        self._history = history
        self._llm = llm
        self._crm_attempts = max(1, crm_attempts)
        self._timeout = timeout

    @activity.defn(name=names.RESEARCH_ACCOUNT)
    async def research(self, request: ResearchRequest) -> ResearchBrief:
        available, record = await self._record(request)
        past = await asyncio.to_thread(self._history.load, request.tenant_id, request.account_id)
        account = account_context(available, record, past, request.currency)
        offline = offline_brief(request, account)
        if self._llm is None:
            return offline
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._llm.complete_json(
                    SYSTEM_PROMPT, user_prompt(request, offline.facts), BRIEF_SCHEMA, SCHEMA_NAME
                )
        except TimeoutError:
            reason = f"model timed out ({self._timeout:g} s)"
        except LlmError as err:
            reason = model_failure(err)
        else:
            brief, problem = model_brief(answer, request, offline.facts)
            if brief is not None:
                return ResearchBrief(brief=brief, facts=offline.facts, written_by="model")
            reason = problem
        activity.logger.info("research brief written offline: %s", reason)
        return offline.model_copy(update={"fallback": reason})

    async def _record(self, request: ResearchRequest) -> tuple[bool, CrmRecord | None]:
        """(whether the CRM answered, its record); raises to have Temporal retry an outage."""
        try:
            return True, await self._crm.record(request.tenant_id, request.account_id)
        except CrmUnavailable as err:
            # Outside a worker (a direct call) there is no retry to wait for.
            attempt = activity.info().attempt if activity.in_activity() else self._crm_attempts
            if err.retryable and attempt < self._crm_attempts:
                raise ApplicationError(str(err), type="CrmUnavailable") from err
            if activity.in_activity():
                activity.logger.warning("research without the CRM record: %s", err)
            return False, None


def account_context(
    available: bool, record: CrmRecord | None, past: PastActivity, currency: str
) -> AccountContext:
    """The long-term context: the CRM's profile (if it answered) and the past campaigns."""
    profile: dict[str, Any] = {}
    if record is not None:
        profile = {
            "preferred_channel": record.preferred_channel,
            "preferred_time": record.preferred_contact_time,
            "do_not_call": record.do_not_call,
            "dispute_on_file": record.dispute_on_file,
            "hardship_on_file": record.hardship_on_file,
            "notes": record.notes,
            "customer_since": record.customer_since,
        }
    return AccountContext(
        crm_available=available,
        crm_found=record is not None,
        **profile,
        payments=past.payments,
        # Payments in another currency are not this debt's (a currency the account
        # was re-denominated from is left out rather than summed at a made-up rate).
        total_paid=past.paid.get(currency, Decimal(0)),
        last_payment_at=past.last_payment_at,
        contacts=past.contacts,
        reached=past.reached,
        replies=past.replies,
        last_reply_intent=past.last_reply_intent,
        promises_made=past.promises_made,
        promises_kept=past.promises_kept,
        promises_broken=past.promises_broken,
        disputes=past.disputes,
        opt_outs=past.opt_outs,
    )


def user_prompt(request: ResearchRequest, facts: ResearchFacts) -> str:
    """The facts for the model: no tenant, no account id, no name."""
    account = facts.account.model_dump(mode="json", exclude_defaults=True)
    account["crm_available"] = facts.account.crm_available
    data = {
        "debtor_language": language_name(request.language),
        "balance": f"{request.balance:f} {request.currency}",
        "days_past_due": request.days_past_due,
        "account_history_and_crm": account,
        "likely_dispute": facts.likely_dispute,
        "hardship": facts.hardship,
        "best_channel": facts.best_channel.value if facts.best_channel else None,
        "risk": facts.risk,
        "campaign": request.campaign.model_dump(mode="json", exclude={"campaign_id"}),
        "conversation": request.conversation.model_dump(mode="json")["exchanges"],
    }
    return "Facts:\n" + json.dumps(data, sort_keys=True, ensure_ascii=False)


def model_brief(
    answer: dict[str, Any], request: ResearchRequest, facts: ResearchFacts
) -> tuple[str | None, str]:
    """The model's brief if it is usable, else None and why not."""
    text = " ".join(str(answer.get("brief") or "").split())
    if not text:
        return None, "malformed answer: empty brief"
    if len(text) > BRIEF_MAX:
        return None, f"malformed answer: brief longer than {BRIEF_MAX} characters"
    lowered = text.lower()
    missing = []
    if facts.likely_dispute and "disput" not in lowered:
        missing.append("the likely dispute")
    language = language_name(request.language)
    if not request.language.lower().startswith("en") and language.lower() not in lowered:
        missing.append(f"the language ({language})")
    if missing:
        return None, "brief omits " + " and ".join(missing)
    return text, ""
