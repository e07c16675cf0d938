"""The web UI list's columns a campaign upserts: band, next action, approval deadline.

Each is upserted when, and only when, its value changes; the approval deadline is set
while a person must decide and unset once decided or defaulted; runs that began before
these columns upsert the exact amount as they always did (their histories replay).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from domain.account import Account, EmailContact, Tenant
from domain.arrangements import ArrangementKind, ArrangementRequest, Instalment
from domain.campaign import AccountCampaignInput, CampaignState, PaymentReceived
from domain.campaign_core import status, view
from domain.campaign_core.campaign import Campaign, Effect, SearchValue, Upsert
from domain.campaign_core.decide import TimePassed, handle
from domain.channels import Channel
from domain.operator import ApprovalDecision, PauseRequest, ResumeRequest
from domain.playbook import Playbook, Step
from tests.core_support import T0, Clock
from workflows import search_attributes as sa

DAY = timedelta(days=1)
PLAYBOOK = Playbook(
    name="view",
    steps=[
        Step(id="notice", day=0, channel=Channel.EMAIL, template="first_notice"),
        Step(id="call", day=2, channel=Channel.PHONE, template="call_script"),
    ],
    closing_days=1,
)


@dataclass
class Run:
    """One campaign's core, its clock, and the upserts it decided (in order)."""

    clock: Clock = field(default_factory=Clock)
    effects: list[Effect] = field(default_factory=list)

    def campaign(self, balance: str = "600.00", discount: Decimal | None = None) -> Campaign:
        account = Account(
            account_id="A-1",
            debtor_name="Dana Debtor",
            emails=[EmailContact(address="dana@example.com")],
            amount_due=Decimal(balance),
            due_date=date(2026, 1, 1),
            days_past_due=150,
            timezones=["America/New_York"],
        )
        inp = AccountCampaignInput(
            tenant=Tenant(tenant_id="t", name="Acme Recovery"),
            campaign_id="c",
            account=account,
            playbook=PLAYBOOK,
            settlement_approval_discount=discount,
        )
        state = CampaignState(balance=account.amount_due, account=account, started_at=T0)
        return Campaign(inp, state, self.clock, self.effects.append)

    def upserted(self) -> list[dict[str, SearchValue | None]]:
        """Each upsert since the last call, as name → value (None: unset)."""
        found = [dict(e.fields) for e in self.effects if isinstance(e, Upsert)]
        self.effects.clear()
        return found


def pay(c: Campaign, payment_id: str, amount: str) -> None:
    handle(c, PaymentReceived(payment_id=payment_id, amount=Decimal(amount), currency="USD"))


def test_every_column_is_a_registered_search_attribute() -> None:
    # What ``recoup dev``, ``recoup temporal setup`` and the tests' server register.
    assert sa.REGISTRATION[view.BALANCE_BAND] == "Keyword"
    assert sa.REGISTRATION[view.NEXT_ACTION] == "Keyword"
    assert sa.REGISTRATION[view.APPROVAL_DEADLINE] == "Datetime"


def test_a_plan_upserts_the_columns_once_and_never_the_amount() -> None:
    run = Run()
    c = run.campaign()
    status.plan(c, "step 1/2 (notice): email 'first_notice'", T0)
    status.plan(c, "step 1/2 (notice): email 'first_notice'", T0 + timedelta(hours=1))
    first, second = run.upserted()
    assert "RecoupAmountDue" not in first | second
    assert first[view.BALANCE_BAND] == "500-1k" and first[view.NEXT_ACTION] == "email"
    # Nothing of the list changed: the second plan upserts its time, not the columns.
    assert view.BALANCE_BAND not in second and view.NEXT_ACTION not in second
    c.state.next_step = 1
    status.plan(c, "step 2/2 (call): phone 'call_script'", T0 + 2 * DAY)
    (third,) = run.upserted()
    assert third[view.NEXT_ACTION] == "phone" and view.BALANCE_BAND not in third


def test_a_payment_moves_the_band_only_when_it_crosses_an_edge() -> None:
    run = Run()
    c = run.campaign("600.00")
    status.plan(c, "step 1/2", T0)
    run.upserted()
    pay(c, "p1", "50.00")  # 550: still 500-1k
    assert run.upserted() == []
    pay(c, "p2", "100.00")  # 450
    assert run.upserted() == [{view.BALANCE_BAND: "100-500"}]
    pay(c, "p3", "450.00")  # paid: the status's own upsert carries the rest
    assert run.upserted() == [
        {"RecoupStatus": "paid", view.BALANCE_BAND: "0", view.NEXT_ACTION: view.DONE}
    ]


def test_an_approval_sets_its_deadline_and_the_default_unsets_it() -> None:
    run = Run()
    c = run.campaign("600.00", discount=Decimal("0.5"))
    status.plan(c, "step 1/2", T0)
    run.upserted()
    deep = ArrangementRequest(
        arrangement_id="deep",
        kind=ArrangementKind.SETTLEMENT,
        instalments=[Instalment(due=date(2026, 6, 5), amount=Decimal("100.00"))],
    )
    handle(c, deep)
    due = c.state.approvals[0].expires_at
    assert due == T0 + 2 * DAY  # the input's default: two playbook days
    assert run.upserted() == [
        {
            "RecoupAwaitingApproval": True,
            view.NEXT_ACTION: view.WAITING_APPROVAL,
            view.APPROVAL_DEADLINE: due,
        }
    ]
    run.clock.at = due - timedelta(seconds=1)
    handle(c, TimePassed())
    assert run.upserted() == []  # not yet: nobody decided, nothing changed
    run.clock.at = due
    handle(c, TimePassed())
    assert run.upserted() == [
        {"RecoupAwaitingApproval": False, view.NEXT_ACTION: "email", view.APPROVAL_DEADLINE: None}
    ]


def test_a_decision_unsets_the_deadline() -> None:
    run = Run()
    c = run.campaign("600.00", discount=Decimal("0.5"))
    deep = ArrangementRequest(
        arrangement_id="deep",
        kind=ArrangementKind.SETTLEMENT,
        instalments=[Instalment(due=date(2026, 6, 5), amount=Decimal("100.00"))],
    )
    handle(c, deep)
    run.upserted()
    handle(c, ApprovalDecision(approval_id="settlement-1", approve=True, operator="lee"))
    (decided,) = run.upserted()
    assert decided[view.APPROVAL_DEADLINE] is None
    assert decided[view.NEXT_ACTION] == view.ARRANGEMENT  # the saga books it next


def test_a_pause_shows_until_resumed() -> None:
    run = Run()
    c = run.campaign()
    status.plan(c, "step 1/2", T0)
    run.upserted()
    handle(c, PauseRequest(reason="on a call", operator="lee"))
    assert run.upserted() == [{view.NEXT_ACTION: view.PAUSED}]
    handle(c, ResumeRequest(operator="lee"))
    assert run.upserted() == [{view.NEXT_ACTION: "email"}]


def test_a_finished_campaign_is_done_whatever_its_status() -> None:
    run = Run()
    c = run.campaign()
    c.state.next_step = len(PLAYBOOK.steps)
    status.plan(c, "playbook done: waiting for payment", T0 + 3 * DAY)
    assert run.upserted()[0][view.NEXT_ACTION] == view.WAITING_PAYMENT
    status.finish(c)  # e.g. still promised: not a terminal status, but nothing comes next
    assert run.upserted() == [{view.NEXT_ACTION: view.DONE}]


def test_a_run_from_before_the_columns_upserts_the_amount_as_it_did() -> None:
    run = Run()
    c = run.campaign("600.00", discount=Decimal("0.5"))
    c.view_attributes = False
    status.plan(c, "step 1/2", T0)
    pay(c, "p1", "200.00")
    handle(c, PauseRequest(reason="on a call", operator="lee"))
    status.plan(c, "paused by lee: on a call", None)
    assert run.upserted() == [
        {"RecoupNextActionAt": T0, "RecoupAmountDue": 600.0, "RecoupStatus": "scheduled"}
    ]


def test_a_run_that_finds_the_exact_amount_unsets_it() -> None:
    run = Run()
    c = run.campaign()
    c.published = {view.AMOUNT_DUE: 600.0, view.BALANCE_BAND: "500-1k"}  # an older start
    status.plan(c, "step 1/2", T0)
    status.plan(c, "step 1/2", T0)
    first, second = run.upserted()
    assert first[view.AMOUNT_DUE] is None and view.BALANCE_BAND not in first
    assert view.AMOUNT_DUE not in second
