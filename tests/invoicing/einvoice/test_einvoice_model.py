"""InvoiceDocument: totals from invoice_math, and the data each standard requires."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest

from duly.domain.errors import (
    DomainError,
    InvalidDocumentData,
    MissingDocumentData,
    UnknownCurrency,
    ValidationError,
)
from duly.domain.invoice_math import LineInput, compute_totals
from duly.invoicing.einvoice.cii import render_cii
from duly.invoicing.einvoice.model import (
    Attachment,
    DocumentAllowanceCharge,
    InvoiceDocument,
    InvoiceLine,
    LineAllowanceCharge,
    Party,
    PaymentMeans,
    Standard,
)
from duly.invoicing.einvoice.ubl import render_ubl


def test_totals_come_from_invoice_math(make_doc):
    doc = make_doc(prepaid_amount=D("100.00"))
    expected = compute_totals(
        [LineInput(D("12.5"), D("95.00"), "S", D("20")), LineInput(D("1"), D("49.90"), "S", D("20"))],
        "EUR", prepaid=D("100.00"),
    )
    assert doc.totals() == expected
    assert (expected.line_total, expected.tax_total, expected.payable) == (D("1237.40"), D("247.48"), D("1384.88"))


def test_snapshot_fields_are_normalised():
    line = InvoiceLine(id="1", name="x", quantity="2", net_price=3, tax_rate="20")
    assert (line.quantity, line.net_price, line.tax_rate) == (D(2), D(3), D(20))
    with pytest.raises(ValidationError, match="never floats"):
        InvoiceLine(id="1", name="x", quantity=1.5, net_price=D(1))


def test_unknown_currency_is_refused(make_doc):
    with pytest.raises(UnknownCurrency):
        make_doc(currency="EURO")


def test_missing_buyer_country_names_bt55(make_doc, parties):
    doc = make_doc(buyer=replace(parties["buyer"], country_code=""))
    with pytest.raises(MissingDocumentData) as info:
        render_ubl(doc)
    assert str(info.value) == "buyer country (BT-55) is required for Peppol BIS 3.0 (invoice INV-2026-00001)"
    assert info.value.code == "missing_document_data"
    assert info.value.context["missing"] == ["buyer country (BT-55)"]
    problem = info.value.as_problem()
    assert problem["status"] == 400 and problem["missing"] == ["buyer country (BT-55)"]
    with pytest.raises(MissingDocumentData, match=r"buyer country \(BT-55\) is required for Factur-X EN 16931"):
        render_cii(doc)


def test_every_missing_field_is_named_at_once(make_doc, parties):
    doc = make_doc(
        seller=replace(parties["seller"], vat_id="", country_code=""),
        due_date=None, payment_terms="",
    )
    with pytest.raises(MissingDocumentData) as info:
        doc.require()
    assert info.value.context["missing"] == [
        "seller country (BT-40)",
        "seller VAT identifier (BT-31) or tax registration identifier (BT-32)",
        "payment due date (BT-9)",
        "payment terms (BT-20)",
    ]
    assert str(info.value).startswith("seller country (BT-40), seller VAT identifier")
    assert " and payment terms (BT-20) are required for EN 16931 (invoice INV-2026-00001)" in str(info.value)


def test_peppol_needs_endpoints_and_a_buyer_reference(make_doc, parties):
    doc = make_doc(buyer=replace(parties["buyer"], electronic_address="", electronic_address_scheme=""),
                   buyer_reference="", order_reference="")
    assert doc.missing_fields(Standard.PEPPOL) == [
        "buyer reference (BT-10) or purchase order reference (BT-13)",
        "buyer electronic address (BT-49)",
    ]
    assert doc.missing_fields(Standard.EN16931) == []
    render_ubl(doc, standard=Standard.EN16931)  # the bare CEN core does not need them


@pytest.mark.parametrize("category", ["E", "AE", "K", "G", "O"])
def test_exempt_categories_need_an_exemption_reason(category, make_doc, parties):
    doc = make_doc(
        buyer=replace(parties["buyer"], country_code="DE", vat_id="DE123456789"),
        delivery_date=date(2026, 2, 20), deliver_to_country="DE",
        lines=(InvoiceLine(id="1", name="Item", quantity=D(1), net_price=D(100), tax_category=category),),
    )
    missing = doc.missing_fields()
    assert len(missing) == 1
    assert missing[0].startswith(f"VAT exemption reason (BT-120 or BT-121) for category {category} (")
    with_reason = replace(doc, lines=(replace(doc.lines[0], exemption_reason_code=f"VATEX-EU-{category}"),))
    assert with_reason.missing_fields() == []


def test_reverse_charge_needs_the_buyer_vat_id(make_doc, parties):
    doc = make_doc(buyer=replace(parties["buyer"], vat_id="", legal_registration_id=""),
                   lines=(InvoiceLine(id="1", name="Dev", quantity=D(1), net_price=D(100), tax_category="AE",
                                      exemption_reason="Reverse charge"),))
    assert doc.missing_fields() == [
        "buyer VAT identifier (BT-48) or legal registration identifier (BT-47) for reverse charge"]


def test_intra_community_supply_needs_delivery_facts(make_doc):
    doc = make_doc(period_start=None, period_end=None,
                   lines=(InvoiceLine(id="1", name="Goods", quantity=D(1), net_price=D(100), tax_category="K",
                                      exemption_reason="Intra-community supply"),))
    assert doc.missing_fields() == [
        "actual delivery date (BT-72) or invoicing period (BG-14) for an intra-community supply",
        "deliver-to country (BT-80) for an intra-community supply",
    ]


def test_standard_rated_lines_cannot_carry_an_exemption_reason(make_doc):
    doc = make_doc(lines=(InvoiceLine(id="1", name="x", quantity=D(1), net_price=D(1), tax_rate=D(20),
                                      exemption_reason="Exempt"),))
    with pytest.raises(InvalidDocumentData, match="BR-S-10"):
        doc.require()


def test_amount_due_needs_due_date_and_terms_but_credit_notes_do_not(make_doc):
    with pytest.raises(MissingDocumentData, match=r"payment due date \(BT-9\) is required"):
        render_ubl(make_doc(due_date=None))
    with pytest.raises(MissingDocumentData, match=r"payment terms \(BT-20\) is required"):
        render_cii(make_doc(payment_terms=""))
    credit = make_doc(type_code="381", due_date=None, payment_terms="")
    assert credit.is_credit_note and credit.kind == "credit note"
    assert credit.missing_fields() == []
    assert make_doc(due_date=None, payment_terms="").missing_fields(duly_rules=False) == []


def test_nothing_due_needs_no_due_date(make_doc):
    doc = make_doc(due_date=None, payment_terms="")
    paid = replace(doc, prepaid_amount=doc.totals().tax_inclusive)
    assert paid.totals().payable == 0 and paid.missing_fields() == []


def test_credit_note_due_date_travels_in_the_payment_means(make_doc):
    assert make_doc(type_code="381", payment_means=None).missing_fields() == [
        "payment means (BG-16) to carry the due date (BT-9) of a UBL credit note"]


def test_payment_means_requirements(make_doc):
    assert make_doc(payment_means=PaymentMeans(code="58")).missing_fields() == [
        "payment account identifier (BT-84) for a credit transfer"]
    debit = make_doc(payment_means=PaymentMeans(code="59", creditor_id="FR12ZZZ123456"))
    assert debit.missing_fields(Standard.PEPPOL) == ["direct debit mandate reference (BT-89)"]
    with pytest.raises(InvalidDocumentData, match="BR-51"):
        make_doc(payment_means=PaymentMeans(code="48", card_number="4970123412341234")).require()


def test_reasons_are_needed_for_document_allowances(make_doc):
    doc = make_doc(allowances_charges=(DocumentAllowanceCharge(is_charge=True, amount=D("5.00"), tax_rate=D(20)),))
    assert doc.missing_fields() == ["reason (BT-104 or BT-105) of document charge 1"]


def test_invalid_data_is_refused_with_a_clear_message(make_doc, parties):
    cases = [
        (make_doc(type_code="invoice"), "not a UNTDID 1001 code"),
        (make_doc(buyer=replace(parties["buyer"], country_code="France")), "ISO 3166-1 alpha-2"),
        (make_doc(seller=replace(parties["seller"], vat_id="40303265045")), "BR-CO-9"),
        (make_doc(lines=(make_doc().lines[0], replace(make_doc().lines[1], id="1"))), "must be unique"),
        (make_doc(period_start=date(2026, 3, 1), period_end=date(2026, 2, 1)), "ends before it starts"),
        (make_doc(attachments=(Attachment(filename="a.docx", mime_code="application/msword", content=b"x"),)),
         "BR-CL-24"),
    ]
    for doc, message in cases:
        with pytest.raises(InvalidDocumentData, match=message):
            doc.require()


def test_peppol_line_periods_lie_within_the_invoice_period(make_doc):
    doc = make_doc(lines=(replace(make_doc().lines[0], period_start=date(2026, 1, 15)),))
    with pytest.raises(InvalidDocumentData, match="PEPPOL-EN16931-R110"):
        doc.require(Standard.PEPPOL)
    doc.require(Standard.EN16931)


def test_errors_are_domain_errors():
    assert issubclass(MissingDocumentData, DomainError) and issubclass(InvalidDocumentData, ValidationError)


def test_line_allowances_and_charges_kept_apart_add_up_like_en16931():
    """A received line may state several allowances (BG-27) and charges (BG-28): BT-131 =
    quantity × price / base quantity − allowances + charges, each kept as stated."""
    totals = compute_totals([LineInput(D("2"), D("1273.00"), tax_rate=D("25"), base_quantity=D("2"),
                                       discount_amount=D("12.00"), charge_amount=D("20.00"))], "NOK")
    line = totals.lines[0]
    assert (line.net_amount, line.discount_amount, line.charge_amount) == (D("1281.00"), D("12.00"), D("20.00"))
    returned = compute_totals([LineInput(D("-1"), D("100"), discount_amount=D("5"), charge_amount=D("2"))], "EUR",
                              allow_negative=True).lines[0]
    assert (returned.net_amount, returned.discount_amount, returned.charge_amount) == (D("-97.00"), D("-5.00"),
                                                                                        D("-2.00"))
    with pytest.raises(ValidationError, match="exceeds the line amount 102.00"):
        compute_totals([LineInput(D("1"), D("100"), discount_amount=D("103"), charge_amount=D("2"))], "EUR")
    with pytest.raises(ValidationError, match="a charge amount cannot be negative"):
        compute_totals([LineInput(D("1"), D("100"), charge_amount=D("-2"))], "EUR")

    doc_line = InvoiceLine(id="1", name="Laptop", quantity=D("2"), net_price=D("1273.00"), base_quantity=D("2"),
                           tax_rate=D("25"), allowances_charges=(
                               LineAllowanceCharge(False, D("12.00"), reason="Damage"),
                               LineAllowanceCharge(False, D("3.00"), percent=D("1"), base=D("300.00")),
                               LineAllowanceCharge(True, D("12.00"), reason="Testing")))
    assert doc_line.line_input().discount_amount == D("15.00") and doc_line.line_input().charge_amount == D("12.00")
    with pytest.raises(InvalidDocumentData, match="lists its allowances and charges"):
        InvoiceDocument(type_code="380", number="X", issue_date=date(2026, 1, 1), currency="NOK",
                        seller=Party(name="S"), buyer=Party(name="B"),
                        lines=(replace(doc_line, discount_amount=D("1.00")),)).require(duly_rules=False)
