"""Money received but not applied yet stops a reminder: collections asks `pending_receipts` first."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from duly.collections.receipts import pending_receipts
from duly.collections.services import assign_policy, collect
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.messaging.models import Message


def _deposit(org, customer, contract):
    draft = inv.create_draft(org, customer, [inv.LineData("Acompte 50 %", Decimal(1), Decimal("500.00"))],
                             kind=Invoice.KIND_DEPOSIT, contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 3))  # due 2 April


def test_an_unapplied_payment_received_stops_the_reminder(org, make_customer, make_contract, pay, walk, smtp):
    paid_ahead, not_paid = make_customer("AHEAD"), make_customer("BEHIND")
    for c in (paid_ahead, not_paid):
        assign_policy(org, c, "neutral")
    # 2 March: AHEAD pays 500.00 before its deposit invoice is issued: the money waits, unapplied.
    pay(paid_ahead, "500.00", date(2026, 3, 2), external_reference="VIR-ADVANCE")
    ahead_invoice = _deposit(org, paid_ahead, make_contract(paid_ahead))
    _deposit(org, not_paid, make_contract(not_paid))
    assert ahead_invoice.balance_minor == 50000  # still open: nothing matched it to the invoice yet
    assert pending_receipts(org, customer_id__in=[paid_ahead.pk, not_paid.pk]) == {
        paid_ahead.pk: {"EUR": Decimal("500.00")}}

    result = collect(org, as_of=walk.at(date(2026, 4, 7)))  # the "overdue" step is due for both
    actions = {p.customer_code: p.action for p in result.planned}
    assert actions["AHEAD"].kind == "skip"
    assert actions["AHEAD"].reason.startswith("payment received, awaiting reconciliation")
    assert actions["BEHIND"].kind == "send"
    assert list(Message.objects.filter(category="dunning").values_list("customer__code", flat=True)) == ["BEHIND"]
