"""Payments: allocation, partial payments, overpayment → credit, currency mismatch, refunds."""

from datetime import date
from decimal import Decimal

import pytest

from duly.domain.errors import CurrencyMismatch, Overpayment
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.payments import services
from duly.payments.models import Payment

L = inv.LineData


def issue(org, customer, contract, amount, on):
    draft = inv.create_draft(org, customer, [L("Service", Decimal(1), Decimal(amount))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=on)


def test_partial_then_full_payment(org, customer, contract):
    a = issue(org, customer, contract, "1000", date(2026, 1, 31))
    services.record_payment(org, customer, amount="400", currency="EUR", method="bank_transfer",
                            received_on=date(2026, 2, 10))
    a.refresh_from_db()
    assert a.status == Invoice.PARTIALLY_PAID and a.balance == Decimal("600.00")
    services.record_payment(org, customer, amount="600", currency="EUR", method="card", received_on=date(2026, 2, 20))
    a.refresh_from_db()
    assert a.status == Invoice.PAID and a.paid_on == date(2026, 2, 20)


def test_one_payment_over_several_invoices_oldest_first_and_overpayment_becomes_credit(org, customer, contract):
    a = issue(org, customer, contract, "100", date(2026, 1, 31))
    b = issue(org, customer, contract, "200", date(2026, 2, 28))
    services.record_payment(org, customer, amount="350", currency="EUR", method="bank_transfer",
                            received_on=date(2026, 3, 5))
    a.refresh_from_db(); b.refresh_from_db()
    assert a.status == b.status == Invoice.PAID
    assert services.credit_balance_minor(customer, "EUR") == 5000
    c = issue(org, customer, contract, "80", date(2026, 3, 31))  # credit applied to the next invoice
    c.refresh_from_db()
    assert c.status == Invoice.PARTIALLY_PAID and c.balance == Decimal("30.00")
    assert services.credit_balance_minor(customer, "EUR") == 0


def test_overpayment_refused_without_credit_policy(org, make_customer, make_contract):
    cust = make_customer("NOCREDIT", credit_allowed=False)
    ctr = make_contract(cust)
    issue(org, cust, ctr, "100", date(2026, 1, 31))
    with pytest.raises(Overpayment):
        services.record_payment(org, cust, amount="150", currency="EUR", method="check", received_on=date(2026, 2, 1))
    assert not Payment.objects.filter(customer=cust).exists()


def test_payment_in_another_currency_is_refused(org, customer, contract):
    a = issue(org, customer, contract, "100", date(2026, 1, 31))
    with pytest.raises(CurrencyMismatch, match="no silent conversion"):
        services.record_payment(org, customer, amount="100", currency="USD", method="card",
                                received_on=date(2026, 2, 1), allocations={a.pk: "100"})
    with pytest.raises(CurrencyMismatch):
        services.record_payment(org, customer, amount="100", currency="USD", method="card", received_on=date(2026, 2, 1))
    assert not Payment.objects.exists()


def test_same_external_reference_is_recorded_once(org, customer, contract):
    issue(org, customer, contract, "100", date(2026, 1, 31))
    p1 = services.record_payment(org, customer, amount="100", currency="EUR", method="bank_transfer",
                                 received_on=date(2026, 2, 1), external_reference="BANK-123")
    p2 = services.record_payment(org, customer, amount="100", currency="EUR", method="bank_transfer",
                                 received_on=date(2026, 2, 1), external_reference="BANK-123")
    assert p1.pk == p2.pk and Payment.objects.count() == 1


def _ledger(customer):
    from duly.payments.models import Allocation, CreditEntry

    return (list(Payment.objects.values_list("pk", "customer_id", "amount_minor", "external_reference")),
            list(Allocation.objects.values_list("payment_id", "invoice_id", "amount_minor")),
            list(CreditEntry.objects.values_list("customer_id", "amount_minor")),
            list(Invoice.objects.order_by("pk").values_list("pk", "status", "paid_minor")))


@pytest.mark.parametrize("change", ["amount", "customer", "currency"])
def test_a_reused_external_reference_for_a_different_payment_is_refused_and_records_nothing(
        org, customer, contract, make_customer, make_contract, change):
    from duly.domain.errors import Conflict

    other = make_customer("OTHER", name="Other Client SARL", currency="EUR")
    issue(org, customer, contract, "100", date(2026, 1, 31))
    issue(org, other, make_contract(other), "100", date(2026, 1, 31))
    issue(org, customer, contract, "100", date(2026, 2, 28))
    services.record_payment(org, customer, amount="100", currency="EUR", method="bank_transfer",
                            received_on=date(2026, 2, 1), external_reference="BANK-123")
    before = _ledger(customer)
    kwargs = dict(customer=customer, amount="100", currency="EUR")
    kwargs[change] = {"amount": "90", "customer": other, "currency": "USD"}[change]
    with pytest.raises(Conflict) as err:
        services.record_payment(org, kwargs["customer"], amount=kwargs["amount"], currency=kwargs["currency"],
                                method="bank_transfer", received_on=date(2026, 2, 2), external_reference="BANK-123")
    assert err.value.code == "duplicate_payment_reference"
    assert "'BANK-123' was already recorded for a different payment (100.00 EUR)" in err.value.message
    assert _ledger(customer) == before
    # the same reference through another method is another payment
    services.record_payment(org, customer, amount="90", currency="EUR", method="card",
                            received_on=date(2026, 2, 2), external_reference="BANK-123")
    assert Payment.objects.count() == 2


def test_refund_reopens_the_invoice(org, customer, contract):
    a = issue(org, customer, contract, "100", date(2026, 1, 31))
    p = services.record_payment(org, customer, amount="120", currency="EUR", method="card", received_on=date(2026, 2, 1))
    services.refund_payment(org, p.pk, amount="50", refunded_on=date(2026, 2, 3), reason="Goodwill")
    a.refresh_from_db()
    # 20 of credit refunded first, then 30 taken back from the invoice
    assert services.credit_balance_minor(customer, "EUR") == 0
    assert a.status == Invoice.PARTIALLY_PAID and a.balance == Decimal("30.00")
