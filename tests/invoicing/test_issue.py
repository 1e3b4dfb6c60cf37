"""Issuing invoices: required fields, exact due dates, terms in words, RF reference, immutability."""

from datetime import date
from decimal import Decimal

import pytest

from duly.domain.errors import (
    CustomerNotActive,
    InvoiceAlreadyVoid,
    InvoiceHasPayments,
    InvoiceImmutable,
    InvoiceNotDraft,
    ReasonRequired,
    RequiredFieldMissing,
    UnknownCurrency,
    NegativeQuantity,
)
from duly.domain.references import is_valid_rf
from duly.invoicing import services
from duly.invoicing.models import Invoice

L = services.LineData


def lines():
    return [
        L("Design retainer — March 2026", Decimal("1"), Decimal("2400.00"), unit="MON", tax_rate=Decimal("20")),
        L("Extra hours", Decimal("3.5"), Decimal("95.00"), unit="HUR", tax_rate=Decimal("20")),
    ]


def test_issue_computes_totals_due_date_terms_and_rf(org, customer, contract):
    draft = services.create_draft(org, customer, lines(), contract=contract)
    inv = services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 31))
    assert inv.status == Invoice.ISSUED
    assert inv.number == "INV-2026-00001"
    # 2400 + 3.5 × 95 = 2732.50 net; VAT 20 % = 546.50; total 3279.00
    assert (inv.tax_exclusive_minor, inv.tax_total_minor, inv.total_minor) == (273250, 54650, 327900)
    assert inv.due_date == date(2026, 4, 30)  # net 30
    assert "30 avril 2026" in inv.payment_terms_text  # a French customer: in French
    assert "12" in inv.late_terms_text and "%" in inv.late_terms_text
    assert is_valid_rf(inv.rf_reference)


def test_numbers_are_sequential_per_year_and_credit_notes_have_their_own_series(org, customer, contract):
    numbers = []
    for d in (date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 2)):
        draft = services.create_draft(org, customer, lines(), contract=contract)
        numbers.append(services.issue_invoice(org, draft.pk, issue_date=d).number)
    assert numbers == ["INV-2026-00001", "INV-2026-00002", "INV-2027-00001"]
    first = Invoice.objects.get(number="INV-2026-00001")
    note = services.create_credit_note(org, first.pk, reason="Duplicate billing", issue_date=date(2027, 1, 3))
    assert note.number == "CN-2027-00001"
    first.refresh_from_db()
    assert first.status == Invoice.PAID and first.balance_minor == 0


def test_required_field_missing_names_field_and_customer_and_issues_nothing(org, make_customer, make_contract):
    cust = make_customer("PO", name="Globex Procurement SA", required_fields=["po_number", "cost_centre"])
    ctr = make_contract(cust)
    draft = services.create_draft(org, cust, lines(), contract=ctr)
    with pytest.raises(RequiredFieldMissing) as err:
        services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 1))
    assert "PO number" in err.value.message and "Globex Procurement SA" in err.value.message
    draft.refresh_from_db()
    assert draft.status == Invoice.DRAFT and draft.number is None
    # nothing consumed from the series: the next issued invoice is still number 1
    draft.po_number, draft.cost_centre = "PO-77", "CC-9"
    draft.save()
    assert services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 1)).number == "INV-2026-00001"


def test_custom_required_field(org, make_customer, make_contract):
    cust = make_customer("PROJ", custom_required_fields=["Project code"])
    draft = services.create_draft(org, cust, lines(), contract=make_contract(cust))
    with pytest.raises(RequiredFieldMissing, match="Project code"):
        services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 1))


def test_issued_invoice_is_immutable(org, customer, contract):
    draft = services.create_draft(org, customer, lines(), contract=contract)
    services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 1))
    with pytest.raises(InvoiceNotDraft):
        services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 2))
    with pytest.raises(InvoiceImmutable):
        services.replace_lines(org, draft.pk, lines())


def test_bad_input_is_refused_and_writes_nothing(org, customer, contract):
    before = Invoice.objects.count()
    with pytest.raises(UnknownCurrency):
        services.create_draft(org, customer, lines(), currency="EUX")
    with pytest.raises(NegativeQuantity):
        services.create_draft(org, customer, [L("Refund?", Decimal("-1"), Decimal("10"))], contract=contract)
    assert Invoice.objects.count() == before


def test_terminated_customer_cannot_be_invoiced(org, customer, contract):
    customer.status = "terminated"
    customer.save()
    with pytest.raises(CustomerNotActive, match="terminated"):
        services.create_draft(org, customer, lines(), contract=contract)


def test_void_requires_reason_and_no_payments(org, customer, contract):
    draft = services.create_draft(org, customer, lines(), contract=contract)
    inv = services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 1))
    voided = services.void_invoice(org, inv.pk, reason="Sent to the wrong entity")
    assert voided.status == Invoice.VOID and voided.void_reason == "Sent to the wrong entity"


def _void_state(invoice_id):
    inv = Invoice.objects.get(pk=invoice_id)
    return inv.status, inv.void_reason, inv.voided_at, inv.paid_minor


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_void_without_a_reason_is_refused_and_changes_nothing(org, customer, contract, reason):
    draft = services.create_draft(org, customer, lines(), contract=contract)
    inv = services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 1))
    before = _void_state(inv.pk)
    with pytest.raises(ReasonRequired) as err:
        services.void_invoice(org, inv.pk, reason=reason)
    assert err.value.code == "reason_required" and "reason is required" in err.value.message
    assert _void_state(inv.pk) == before == (Invoice.ISSUED, "", None, 0)


def test_void_of_an_invoice_with_payments_is_refused_and_keeps_the_payment(org, customer, contract):
    from duly.payments.models import Allocation
    from duly.payments.services import record_payment

    draft = services.create_draft(org, customer, lines(), contract=contract)
    inv = services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 1))
    record_payment(org, customer, amount="500.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 3, 10))
    before = _void_state(inv.pk)
    assert before[0] == Invoice.PARTIALLY_PAID and before[3] == 50000
    with pytest.raises(InvoiceHasPayments) as err:
        services.void_invoice(org, inv.pk, reason="Sent to the wrong entity")
    assert err.value.code == "invoice_has_payments"
    assert inv.number in err.value.message and "credit note" in err.value.message
    assert _void_state(inv.pk) == before
    assert Allocation.objects.get(invoice=inv).amount_minor == 50000
    # fully paid: refused the same way
    record_payment(org, customer, amount="2779.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 3, 12))
    assert _void_state(inv.pk)[0] == Invoice.PAID
    with pytest.raises(InvoiceHasPayments):
        services.void_invoice(org, inv.pk, reason="Sent to the wrong entity")
    assert _void_state(inv.pk)[0] == Invoice.PAID


def test_voiding_twice_is_refused_and_keeps_the_first_reason_and_time(org, customer, contract):
    draft = services.create_draft(org, customer, lines(), contract=contract)
    inv = services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 1))
    services.void_invoice(org, inv.pk, reason="Sent to the wrong entity")
    before = _void_state(inv.pk)
    with pytest.raises(InvoiceAlreadyVoid) as err:
        services.void_invoice(org, inv.pk, reason="Second thoughts")
    assert err.value.code == "invoice_already_void" and "already void" in err.value.message
    assert _void_state(inv.pk) == before and before[1] == "Sent to the wrong entity"


def test_jpy_and_bhd_rounding(org, make_customer):
    jp = make_customer("JP", country="JP", currency="JPY", locale="ja_JP", timezone="Asia/Tokyo")
    inv = services.create_draft(org, jp, [L("Consulting", Decimal("3"), Decimal("333.33"), tax_rate=Decimal("10"))])
    # 3 × 333.33 = 999.99 → 1000 JPY (0 decimals); tax 10 % = 100
    assert (inv.tax_exclusive_minor, inv.tax_total_minor, inv.total_minor) == (1000, 100, 1100)
    bh = make_customer("BH", country="BH", currency="BHD", locale="ar_BH", timezone="Asia/Bahrain")
    inv = services.create_draft(org, bh, [L("Support", Decimal("1"), Decimal("10.0005"), tax_rate=Decimal("10"))])
    # 10.0005 → 10.001 BHD (3 decimals); tax 10 % = 1.0001 → 1.000
    assert (inv.tax_exclusive_minor, inv.tax_total_minor) == (10001, 1000)


def test_attachments_are_stored_with_the_invoice(org, customer, contract, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    draft = services.create_draft(org, customer, lines(), contract=contract)
    content = b"date,hours\n2026-03-02,3.5\n"
    att = services.add_attachment(org, draft.pk, "timesheet-march.csv", content, description="Timesheet March")
    assert att.size == len(content) and len(att.sha256) == 64
    assert att.file.read() == b"date,hours\n2026-03-02,3.5\n"
