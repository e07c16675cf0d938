"""A payment reached the campaign: the balance drops, a full payment ends it.

Idempotent by payment id. A payment in another currency than the account's is refused
before it gets here (the API answers 422); one that arrives anyway is logged, not booked.
"""

from __future__ import annotations

from decimal import Decimal

from domain.campaign import CollectionStatus, PaymentReceived
from domain.campaign_core.campaign import Campaign
from domain.campaign_core.learning import credit
from domain.campaign_core.outbox import emit
from domain.campaign_core.research import decided
from domain.campaign_core.status import publish_view, set_status
from domain.events import EventType, amount


def on_payment(c: Campaign, payment: PaymentReceived) -> None:
    st = c.state
    if payment.payment_id in st.payment_ids or st.status is CollectionStatus.CANCELLED:
        return
    if payment.currency != st.account.currency:
        c.log(
            "warning",
            f"payment {payment.payment_id} ignored: currency {payment.currency}, "
            f"account is in {st.account.currency}",
        )
        return
    st.payment_ids.append(payment.payment_id)
    st.amount_paid += payment.amount
    st.balance = max(Decimal("0"), st.balance - payment.amount)
    emit(
        c,
        EventType.PAYMENT,
        "received",
        {
            "paymentId": payment.payment_id,
            "amount": amount(payment.amount),
            "currency": payment.currency,
            "balance": amount(st.balance),
            "amountPaid": amount(st.amount_paid),
            "source": payment.source,
        },
    )
    if st.status is CollectionStatus.PROMISED:
        emit(c, EventType.PROMISE, "kept", {"paymentId": payment.payment_id})
    credit(c, "payment", payment.amount)
    decided(c, f"payment of {amount(payment.amount)} {payment.currency} received")
    if st.balance == 0:
        set_status(c, CollectionStatus.PAID)
    publish_view(c)  # a partial payment may move the balance band
    c.changed = True
