"""Turn adapter errors into Temporal errors the workflow can act on.

The ``type`` of a non-retryable error tells the workflow what to do next:
``InvalidAddress`` (hard bounce, invalid number, a postal address Lob refused) and
``OptedOut`` retire the address; ``PermanentProviderError`` and ``TemplateError`` just
fail the attempt so the step's fallback channel is tried.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from adapters.breakers import CircuitOpen, CircuitUnknown
from adapters.errors import ProviderError, TemplateError
from adapters.lob import INVALID_ADDRESS as LOB_INVALID_ADDRESS
from domain import names

# Twilio error codes that say the number itself is unusable.
_TWILIO_INVALID = {"21211", "21214", "21217", "21401", "21407", "21614"}
_TWILIO_OPTED_OUT = {"21610"}
# SMTP replies that mean the mailbox does not exist or never will accept mail.
_SMTP_INVALID = {550, 551, 553}


def classify(
    err: ProviderError, attempt: int = 1, retry_delay: timedelta | None = None
) -> ApplicationError:
    """The Temporal error for ``err`` at try ``attempt``.

    A transient one waits ``retry_delay`` before the next try; the try number is
    in the details so a dead letter can say how many were made.
    """
    detail = f"{err.provider}: {err}"
    tried = {"attempt": attempt}
    if err.retryable:
        return ApplicationError(
            detail, tried, type=names.TRANSIENT_PROVIDER_ERROR, next_retry_delay=retry_delay
        )
    if err.code in _TWILIO_OPTED_OUT:
        kind = names.OPTED_OUT
    elif (
        err.code in _TWILIO_INVALID
        or err.status_code in _SMTP_INVALID
        or (err.provider == "lob" and err.code == LOB_INVALID_ADDRESS)
    ):
        kind = names.INVALID_ADDRESS
    else:
        kind = names.PERMANENT_PROVIDER_ERROR
    return ApplicationError(detail, tried, type=kind, non_retryable=True)


def circuit_open(err: CircuitOpen) -> ApplicationError:
    """No try was made: the workflow waits out the open breaker instead of retrying.

    A Temporal retry would count as an attempt, and a provider outage must not use
    up a message's attempts (or send it to the dead letters) without ever trying it.
    """
    seconds = max(1.0, err.retry_after.total_seconds())
    details: dict[str, object] = {"retry_after_seconds": seconds, "breaker": err.breaker}
    if isinstance(err, CircuitUnknown):
        # Same path as an open breaker (the workflow waits, then tries again), but the
        # message must send whoever reads it to the store, not to the provider.
        details["store"] = err.store
        message = (
            f"{err.breaker} circuit breaker store unavailable ({err.store}: {err.reason}): "
            f"nothing sent, provider calls resume in {seconds:.0f} s"
        )
    else:
        message = f"{err.breaker} circuit breaker open: provider calls resume in {seconds:.0f} s"
    return ApplicationError(
        message,
        details,
        type=names.CIRCUIT_OPEN,
        non_retryable=True,
        next_retry_delay=err.retry_after,
    )


def template_failure(err: TemplateError) -> ApplicationError:
    return ApplicationError(str(err), type=names.TEMPLATE_ERROR, non_retryable=True)
