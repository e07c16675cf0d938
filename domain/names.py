"""Names of the activities each agent offers: the contract between workflows and workers.

Workflows call activities by these names (they never import activity code), and
workers register their implementations under them.
"""

from __future__ import annotations

SEND_EMAIL = "send_email"
SEND_SMS = "send_sms"
PLACE_CALL = "place_call"
SEND_LETTER = "send_letter"
LOAD_PORTFOLIO_PAGE = "load_portfolio_page"
START_PORTFOLIO_PAGE = "start_portfolio_page"
COUNT_CAMPAIGN = "count_campaign"
LOAD_CONTACT_HISTORY = "load_contact_history"
RECORD_DEAD_LETTER = "record_dead_letter"
CREATE_PAYMENT_LINK = "create_payment_link"
CANCEL_PAYMENT_LINK = "cancel_payment_link"
POST_LEDGER_ADJUSTMENT = "post_ledger_adjustment"
REVERSE_LEDGER_ADJUSTMENT = "reverse_ledger_adjustment"
EXPORT_EVENTS = "export_events"
READ_REPLY = "read_reply"
RESEARCH_ACCOUNT = "research_account"
CHOOSE_NEXT_ACTION = "choose_next_action"
RECORD_ACTION_OUTCOMES = "record_action_outcomes"
SUPERVISE = "supervise"

# The error type a channel agent raises when the gate refuses at the moment of sending.
COMPLIANCE_BLOCKED = "ComplianceBlocked"
# The error type a channel agent raises when its provider's circuit breaker is open;
# its details carry the seconds until the breaker lets a test request through.
CIRCUIT_OPEN = "CircuitOpen"

# The permanent (non-retryable) errors a channel agent raises (activities/errors.py is
# where provider failures become them). The address is never used again after the first
# two; the others fail the attempt, and the step's fallback is tried.
OPTED_OUT = "OptedOut"
INVALID_ADDRESS = "InvalidAddress"
PERMANENT_PROVIDER_ERROR = "PermanentProviderError"
TEMPLATE_ERROR = "TemplateError"
# A provider failure worth another try (Temporal retries it after the rule's delay).
TRANSIENT_PROVIDER_ERROR = "TransientProviderError"

# Workflow types and their signal / query names.
ACCOUNT_CAMPAIGN = "AccountCampaign"
PORTFOLIO = "Portfolio"
PAYMENT_PLAN = "PaymentPlan"
SIGNAL_PLAN_PAYMENTS = "plan_payments"
SIGNAL_INSTALMENT_REMINDER = "instalment_reminder"
UPDATE_ARRANGE = "arrange"
SIGNAL_PAYMENT = "payment"
SIGNAL_REPLY = "inbound_reply"
SIGNAL_OPT_OUT = "opt_out"
SIGNAL_LEGAL = "legal_event"
SIGNAL_WATCH = "watch"
SIGNAL_ACCOUNT_FINISHED = "account_finished"
QUERY_STATUS = "status"
SIGNAL_PAUSE = "pause"
SIGNAL_RESUME = "resume"
SIGNAL_CANCEL = "cancel"
# The portfolio's launcher: hold, release or stop its starts (LaunchControl).
UPDATE_STEER_LAUNCH = "steer_launch"
UPDATE_DECIDE_APPROVAL = "decide_approval"
UPDATE_REDRIVE = "redrive"
QUERY_PROGRESS = "progress"
