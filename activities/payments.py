"""The payments agent: the saga's calls to the payment provider and the creditor's ledger.

Every call carries the idempotency key the workflow derived for its step, so a
retry (or a replayed workflow) never creates a second link or adjustment.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import classify
from activities.provider_calls import provider_call
from adapters.breakers import CircuitBreaker
from adapters.errors import ProviderError
from adapters.ledger import LedgerClient
from adapters.payments import PaymentsClient
from domain import names
from domain.arrangements import (
    CancelPaymentLink,
    LedgerAdjustmentRef,
    LedgerAdjustmentRequest,
    PaymentLinkRef,
    PaymentLinkRequest,
    ReverseLedgerAdjustment,
)


def _failure(err: ProviderError) -> ApplicationError:
    return classify(err, activity.info().attempt)


def _invalid(err: ValueError) -> ApplicationError:
    # e.g. an amount the currency cannot charge exactly: no retry can fix it
    return ApplicationError(str(err), type="InvalidRequest", non_retryable=True)


class PaymentsAgent:
    def __init__(
        self,
        payments: PaymentsClient,
        ledger: LedgerClient,
        payments_breaker: CircuitBreaker | None = None,
        ledger_breaker: CircuitBreaker | None = None,
    ) -> None:
        self._payments = payments
        self._ledger = ledger
        self._payments_breaker = payments_breaker
        self._ledger_breaker = ledger_breaker

    @activity.defn(name=names.CREATE_PAYMENT_LINK)
    async def create_payment_link(self, request: PaymentLinkRequest) -> PaymentLinkRef:
        try:
            async with provider_call(self._payments_breaker):
                link = await self._payments.create_payment_link(
                    amount=request.amount,
                    currency=request.currency,
                    description=request.description,
                    metadata={"tenant_id": request.tenant_id, "account_id": request.account_id},
                    idempotency_key=request.idempotency_key,
                )
        except ProviderError as err:
            raise _failure(err) from err
        except ValueError as err:
            raise _invalid(err) from err
        return PaymentLinkRef(link_id=link.id, url=link.url)

    @activity.defn(name=names.CANCEL_PAYMENT_LINK)
    async def cancel_payment_link(self, request: CancelPaymentLink) -> None:
        try:
            async with provider_call(self._payments_breaker):
                await self._payments.deactivate_payment_link(
                    request.link_id, idempotency_key=request.idempotency_key
                )
        except ProviderError as err:
            raise _failure(err) from err

    @activity.defn(name=names.POST_LEDGER_ADJUSTMENT)
    async def post_ledger_adjustment(self, request: LedgerAdjustmentRequest) -> LedgerAdjustmentRef:
        try:
            async with provider_call(self._ledger_breaker):
                adjustment = await self._ledger.post_adjustment(
                    account_id=request.account_id,
                    kind=request.kind,
                    amount=request.amount,
                    currency=request.currency,
                    reference=request.reference,
                    memo=request.memo,
                    idempotency_key=request.idempotency_key,
                )
        except ProviderError as err:
            raise _failure(err) from err
        except ValueError as err:
            raise _invalid(err) from err
        return LedgerAdjustmentRef(adjustment_id=adjustment.id)

    @activity.defn(name=names.REVERSE_LEDGER_ADJUSTMENT)
    async def reverse_ledger_adjustment(self, request: ReverseLedgerAdjustment) -> None:
        try:
            async with provider_call(self._ledger_breaker):
                await self._ledger.reverse_adjustment(
                    request.adjustment_id,
                    reason=request.reason,
                    idempotency_key=request.idempotency_key,
                )
        except ProviderError as err:
            raise _failure(err) from err
