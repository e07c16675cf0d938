"""Names of the activities each agent offers: the contract between workflows and workers.

Workflows call activities by these names (they never import activity code), and
workers register their implementations under them.
"""

from __future__ import annotations

from domain.channels import Channel

SEND_EMAIL = "send_email"
SEND_SMS = "send_sms"
PLACE_CALL = "place_call"
LOAD_PORTFOLIO_PAGE = "load_portfolio_page"
LOAD_CONTACT_HISTORY = "load_contact_history"
RECORD_DEAD_LETTER = "record_dead_letter"

# The error type a channel agent raises when the gate refuses at the moment of sending.
COMPLIANCE_BLOCKED = "ComplianceBlocked"
# The error type a channel agent raises when its provider's circuit breaker is open;
# its details carry the seconds until the breaker lets a test request through.
CIRCUIT_OPEN = "CircuitOpen"

CONTACT_ACTIVITY = {Channel.EMAIL: SEND_EMAIL, Channel.SMS: SEND_SMS, Channel.PHONE: PLACE_CALL}

# Workflow types and their signal / query names.
ACCOUNT_CAMPAIGN = "AccountCampaign"
PORTFOLIO = "Portfolio"
SIGNAL_PAYMENT = "payment"
SIGNAL_REPLY = "inbound_reply"
SIGNAL_OPT_OUT = "opt_out"
SIGNAL_LEGAL = "legal_event"
SIGNAL_WATCH = "watch"
SIGNAL_ACCOUNT_FINISHED = "account_finished"
QUERY_STATUS = "status"
UPDATE_REDRIVE = "redrive"
QUERY_PROGRESS = "progress"
