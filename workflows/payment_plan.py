"""PaymentPlan: the instalment schedule of an accepted settlement or payment plan.

A child of the account campaign. It keeps time only: before each due date it
asks the campaign to remind the debtor (the campaign owns every contact, so the
compliance gate, opt-outs and holds apply to reminders too), and it watches the
payments the campaign forwards. An instalment unpaid at its deadline (due date
plus grace) ends the schedule as missed, and the campaign compensates.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.arrangements import (
        InstalmentReminder,
        PlanOutcome,
        PlanPayments,
        PlanScheduleInput,
    )


@workflow.defn(name=names.PAYMENT_PLAN)
class PaymentPlan:
    def __init__(self) -> None:
        self._paid = Decimal("0")

    @workflow.signal(name=names.SIGNAL_PLAN_PAYMENTS)
    def payments(self, update: PlanPayments) -> None:
        # Totals, not increments: a repeated or reordered signal cannot double count.
        self._paid = max(self._paid, update.total_paid)

    @workflow.query(name=names.QUERY_STATUS)
    def paid(self) -> Decimal:
        return self._paid

    @workflow.run
    async def run(self, inp: PlanScheduleInput) -> PlanOutcome:
        parent = workflow.get_external_workflow_handle(inp.parent_workflow_id)
        owed = Decimal("0")
        for instalment in inp.instalments:
            owed += instalment.amount
            covered = owed
            if workflow.now() < instalment.remind_at and await self._paid_by(
                covered, instalment.remind_at, f"remind of instalment {instalment.number}"
            ):
                continue
            if self._paid < covered:
                try:
                    await parent.signal(
                        names.SIGNAL_INSTALMENT_REMINDER,
                        InstalmentReminder(
                            arrangement_id=inp.arrangement_id,
                            number=instalment.number,
                            amount=instalment.amount,
                            due_at=instalment.due_at,
                        ),
                    )
                except FailureError as err:  # the campaign was closed by an operator
                    workflow.logger.warning("reminder %s not sent: %s", instalment.number, err)
            if not await self._paid_by(
                covered, instalment.deadline, f"instalment {instalment.number} due"
            ):
                return PlanOutcome(
                    arrangement_id=inp.arrangement_id,
                    completed=False,
                    missed=instalment.number,
                    total_paid=self._paid,
                )
        return PlanOutcome(arrangement_id=inp.arrangement_id, completed=True, total_paid=self._paid)

    async def _paid_by(self, amount: Decimal, deadline: datetime, what: str) -> bool:
        """Wait until ``amount`` is paid or ``deadline`` passes; whether it was paid."""
        remaining = deadline - workflow.now()
        if self._paid >= amount:
            return True
        if remaining.total_seconds() <= 0:
            return False
        try:
            await workflow.wait_condition(
                lambda: self._paid >= amount, timeout=remaining, timeout_summary=what
            )
        except TimeoutError:
            return self._paid >= amount
        return True
