"""Refunds take from the refunded payment only; customer credit is never spent twice."""

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction

from duly.domain.errors import RefundExceedsPayment, ValidationError
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.payments import services
from duly.payments.models import Allocation, CreditEntry, Refund, RefundedAllocation

L = inv.LineData


def issue(org, customer, contract, amount, on):
    draft = inv.create_draft(org, customer, [L("Service", Decimal(1), Decimal(amount))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=on)


def pay(org, customer, amount, on, **kw):
    return services.record_payment(org, customer, amount=amount, currency="EUR", method="bank_transfer",
                                   received_on=on, **kw)


def test_refund_leaves_credit_from_other_payments_alone(org, customer, contract):
    a = issue(org, customer, contract, "100", date(2026, 1, 31))
    overpaid = pay(org, customer, "180", date(2026, 2, 1))       # pays a (100), 80 becomes credit
    b = issue(org, customer, contract, "300", date(2026, 2, 28))  # takes the 80 credit: 220 left
    b.refresh_from_db()
    assert b.balance == Decimal("220.00") and services.credit_balance_minor(customer, "EUR") == 0
    pay(org, customer, "20", date(2026, 3, 1), note="overpayment")  # pays 20 on b
    later = pay(org, customer, "250", date(2026, 3, 5))           # pays b's 200, 50 becomes credit
    assert services.credit_balance_minor(customer, "EUR") == 5000
    b.refresh_from_db()
    assert b.status == Invoice.PAID

    # Refund 30 of the first payment: its own 80 of credit was spent on b, so the refund reopens a.
    services.refund_payment(org, overpaid.pk, amount="30", refunded_on=date(2026, 3, 10), reason="Goodwill")
    a.refresh_from_db()
    assert a.status == Invoice.PARTIALLY_PAID and a.balance == Decimal("30.00")
    assert services.credit_balance_minor(customer, "EUR") == 5000  # the later payment's credit is untouched
    assert list(RefundedAllocation.objects.values_list("invoice_id", "amount_minor", "allocated_on")) == [
        (a.pk, 3000, date(2026, 2, 1))]

    # Refund 60 of the later payment: 50 from its unapplied part, then 10 taken back from b.
    services.refund_payment(org, later.pk, amount="60", refunded_on=date(2026, 3, 12), reason="Paid twice")
    b.refresh_from_db()
    assert services.credit_balance_minor(customer, "EUR") == 0
    assert b.status == Invoice.PARTIALLY_PAID and b.balance == Decimal("10.00")


def test_refund_cannot_exceed_what_the_payment_still_holds_and_writes_nothing(org, customer, contract):
    a = issue(org, customer, contract, "100", date(2026, 1, 31))
    p = pay(org, customer, "100", date(2026, 2, 1))
    CreditEntry.objects.create(organization=org, customer=customer, currency="EUR", amount_minor=50000,
                               memo="Credit from an older credit note", created_on=date(2026, 1, 1))
    with pytest.raises(RefundExceedsPayment, match="at most 100.00 EUR"):
        services.refund_payment(org, p.pk, amount="150", refunded_on=date(2026, 2, 2), reason="Too much")
    with pytest.raises(ValidationError, match="before the payment was received"):
        services.refund_payment(org, p.pk, amount="10", refunded_on=date(2026, 1, 15), reason="Backdated")
    with pytest.raises(ValidationError, match="reason"):
        services.refund_payment(org, p.pk, amount="10", refunded_on=date(2026, 2, 2), reason="  ")
    with pytest.raises(ValidationError, match="decimals"):
        services.refund_payment(org, p.pk, amount="10.001", refunded_on=date(2026, 2, 2), reason="x")
    assert not Refund.objects.exists()
    a.refresh_from_db()
    assert a.status == Invoice.PAID and services.credit_balance_minor(customer, "EUR") == 50000

    services.refund_payment(org, p.pk, amount="100", refunded_on=date(2026, 2, 2), reason="Order cancelled")
    a.refresh_from_db()
    assert a.status == Invoice.ISSUED and a.balance == Decimal("100.00")
    assert not Allocation.objects.filter(payment=p).exists()
    assert services.credit_balance_minor(customer, "EUR") == 50000
    with pytest.raises(RefundExceedsPayment):
        services.refund_payment(org, p.pk, amount="0.01", refunded_on=date(2026, 2, 3), reason="Again")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_credit_being_applied_cannot_be_refunded_at_the_same_time(org, customer, contract):
    """Thread A applies the customer's 50 of credit and holds its transaction open; thread B refunds the
    payment that created the credit. B must wait for A, then see the credit spent."""
    issue(org, customer, contract, "100", date(2026, 1, 31))
    overpaid = pay(org, customer, "150", date(2026, 2, 1))  # 50 credit
    draft = inv.create_draft(org, customer, [L("Next month", Decimal(1), Decimal(80))], contract=contract)
    applied, release = threading.Event(), threading.Event()
    results = {}

    def apply_credit():
        try:
            with transaction.atomic():  # issuing applies the credit; the transaction stays open until released
                results["applied"] = inv.issue_invoice(org, draft.pk, issue_date=date(2026, 2, 5)).paid_minor
                applied.set()
                release.wait(5)
        finally:
            connection.close()

    def refund():
        try:
            applied.wait(5)
            results["refund"] = services.refund_payment(org, overpaid.pk, amount="50", refunded_on=date(2026, 2, 6),
                                                        reason="Return the overpayment")
        except Exception as exc:  # noqa: BLE001 - the outcome is checked below
            results["refund_error"] = exc
        finally:
            connection.close()

    a, b = threading.Thread(target=apply_credit), threading.Thread(target=refund)
    a.start(), b.start()
    applied.wait(5)
    b.join(1.0)
    assert b.is_alive(), "the refund must wait for the transaction applying the credit"
    release.set()
    a.join(10), b.join(10)
    assert results["applied"] == 5000
    # The credit was spent: the refund reopened the invoice the payment paid instead of refunding credit twice.
    assert services.credit_balance_minor(customer, "EUR") == 0
    assert "refund_error" not in results
    assert RefundedAllocation.objects.get().amount_minor == 5000


def test_a_refund_keeps_a_written_off_invoice_written_off(org, customer, contract):
    """A returned payment (a chargeback, a direct debit returned) on a written-off invoice: the cash is gone
    and is recorded, the invoice stays written off, and what was refunded is part of the loss."""
    from duly.insights.services import aging_report, customer_balance

    a = issue(org, customer, contract, "1000", date(2026, 1, 31))
    p = pay(org, customer, "20", date(2026, 3, 1))
    written_off = inv.mark_uncollectible(org, a.pk, reason="Customer insolvent")
    services.refund_payment(org, p.pk, amount="20", refunded_on=date(2026, 4, 2), reason="Direct debit returned")
    a.refresh_from_db()
    assert (a.status, a.voided_at, a.void_reason) == (Invoice.UNCOLLECTIBLE, written_off.voided_at,
                                                      "Customer insolvent")
    assert a.paid_minor == 0 and a.balance_minor == 100000  # the loss: all of it now
    assert Refund.objects.get().amount_minor == 2000
    assert list(RefundedAllocation.objects.values_list("invoice_id", "amount_minor")) == [(a.pk, 2000)]
    assert aging_report(org, as_of=a.voided_at.date() + timedelta(days=1))["totals"] == {}  # closed since
    assert customer_balance(customer) == {}


def test_a_credit_note_on_a_written_off_invoice_reduces_the_loss_and_credits_only_what_was_paid(
        org, customer, contract):
    a = issue(org, customer, contract, "1000", date(2026, 1, 31))
    pay(org, customer, "200", date(2026, 3, 1))
    inv.mark_uncollectible(org, a.pk, reason="Customer insolvent")  # 800 written off
    inv.create_credit_note(org, a.pk, reason="Half the work was never delivered", issue_date=date(2026, 4, 1),
                           lines=[L("Undelivered work", Decimal(1), Decimal("300"))])
    a.refresh_from_db()
    assert a.status == Invoice.UNCOLLECTIBLE and a.balance_minor == 50000  # 300 of the 800 loss credited
    assert services.credit_balance_minor(customer, "EUR") == 0
    inv.create_credit_note(org, a.pk, reason="Cancelled", issue_date=date(2026, 4, 2),
                           lines=[L("Cancelled", Decimal(1), Decimal("700"))])
    a.refresh_from_db()
    # 500 of the loss credited, the 200 the customer paid is theirs again: credit, not a phantom 700
    assert a.status == Invoice.UNCOLLECTIBLE and a.balance_minor == 0
    assert services.credit_balance_minor(customer, "EUR") == 20000


def test_a_refund_takes_back_the_credit_a_credit_note_gave_for_that_payment_first(org, customer, contract):
    """A credit note turns part of a payment into credit: refunding that payment takes the credit back before it
    reopens the invoice, and a later credit note never gives the same money back twice."""
    a = issue(org, customer, contract, "1000", date(2026, 1, 31))
    p = pay(org, customer, "500", date(2026, 2, 1))
    inv.create_credit_note(org, a.pk, reason="Scope cut", issue_date=date(2026, 2, 5),
                           lines=[L("Scope cut", Decimal(1), Decimal("700"))])
    a.refresh_from_db()
    # 300 left to pay, 500 paid: settled, and 200 of the payment is the customer's credit again
    assert a.status == Invoice.PAID and services.credit_balance_minor(customer, "EUR") == 20000
    assert services.payment_unapplied_minor(p) == 20000
    services.refund_payment(org, p.pk, amount="300", refunded_on=date(2026, 2, 6), reason="Goodwill")
    a.refresh_from_db()
    # the 200 of credit first, then 100 taken back from the invoice: 300 due, 200 paid
    assert services.credit_balance_minor(customer, "EUR") == 0
    assert a.status == Invoice.PARTIALLY_PAID and a.balance_minor == 10000
    inv.create_credit_note(org, a.pk, reason="Scope cut again", issue_date=date(2026, 2, 7),
                           lines=[L("Scope cut", Decimal(1), Decimal("100"))])
    a.refresh_from_db()
    assert a.status == Invoice.PAID and a.balance_minor == 0
    assert services.credit_balance_minor(customer, "EUR") == 0  # 200 due, 200 paid: nothing to give back
