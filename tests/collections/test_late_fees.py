"""`assess_late_fees`: a late-fee invoice referencing the overdue one, charged once per level."""

from datetime import date
from decimal import Decimal

import pytest

from duly.collections.models import LateFee
from duly.collections.services import assess_late_fees
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.payments.services import record_payment


def overdue_invoice(org, customer, contract, amount="1000.00", issued=date(2026, 1, 1)):
    draft = inv.create_draft(org, customer, [inv.LineData("Consulting", Decimal(1), Decimal(amount))],
                             contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=issued)


@pytest.fixture
def eu_contract(customer, make_contract):
    return make_contract(customer, reference="CTR-EU", terms_kind="net", terms_days=30,
                         late_fee_kind="eu_statutory", reference_rate_percent=Decimal("2.15"))


def test_eu_statutory_fee_invoice_references_the_overdue_invoice(org, customer, eu_contract):
    late = overdue_invoice(org, customer, eu_contract)  # due 2026-01-31
    result = assess_late_fees(org, as_of=date(2026, 3, 3))
    assert result.fee_invoices, result.skipped
    fee_invoice = Invoice.objects.get(number=result.fee_invoices[0])
    assert fee_invoice.kind == Invoice.KIND_LATE_FEE and fee_invoice.related_invoice == late
    fees = {f.kind: f for f in LateFee.objects.filter(invoice=late)}
    # EUR 40 fixed compensation, once per invoice
    assert fees["compensation"].amount_minor == 4000
    # interest is charged per complete month: February = 1,000.00 × (2.15 + 8)% × 28 / 365 = 7.79
    # (March is still running on 3 March and is charged once complete)
    interest = sum(f.amount_minor for f in LateFee.objects.filter(invoice=late, kind="interest"))
    assert interest == 779
    assert fee_invoice.total_minor == 4000 + interest


def test_running_twice_changes_nothing(org, customer, eu_contract):
    overdue_invoice(org, customer, eu_contract)
    assess_late_fees(org, as_of=date(2026, 3, 3))
    snapshot = (Invoice.objects.count(), LateFee.objects.count())
    again = assess_late_fees(org, as_of=date(2026, 3, 3))
    assert again.fee_invoices == []
    assert (Invoice.objects.count(), LateFee.objects.count()) == snapshot


def test_paid_invoices_and_policy_none_get_no_fee(org, customer, eu_contract, make_customer, make_contract):
    paid = overdue_invoice(org, customer, eu_contract)
    record_payment(org, customer, amount="1000.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 1, 20))
    other = make_customer("NOFEE")
    overdue_invoice(org, other, make_contract(other, late_fee_kind="none"))
    assert assess_late_fees(org, as_of=date(2026, 6, 1)).fee_invoices == []
    assert not LateFee.objects.filter(invoice=paid).exists()


def test_fixed_fee_after_grace_days(org, customer, make_contract):
    ctr = make_contract(customer, reference="CTR-FIX", terms_kind="net", terms_days=14, late_fee_kind="fixed_fee",
                        late_fixed_fee="25.00", late_grace_days=5)
    overdue_invoice(org, customer, ctr, issued=date(2026, 2, 1))  # due 2026-02-15
    assert assess_late_fees(org, as_of=date(2026, 2, 20)).fee_invoices == []  # within grace
    result = assess_late_fees(org, as_of=date(2026, 2, 21))
    assert [(level, amount) for _, level, amount, _ in result.assessed] == [("fixed", "25.00")]
