"""Small late charges are not invoiced alone: under DULY_LATE_FEE_MINIMUM (default 5.00 in the invoice's currency)
they are carried, and invoiced once the customer's further charges bring them to it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from duly.collections.models import LateFee
from duly.collections.services import assess_late_fees
from duly.invoicing.models import Invoice


@pytest.fixture
def interest_contract(customer, make_contract):
    # Interest only: 12% a year, no fixed fee or compensation.
    return make_contract(customer, reference="CTR-SMALL", terms_kind="net", terms_days=30,
                         late_fee_kind="interest_annual", late_rate_percent=Decimal("12"))


def fee_invoices(org):
    return list(Invoice.objects.filter(organization=org, kind=Invoice.KIND_LATE_FEE).order_by("pk"))


def test_a_small_charge_is_carried_until_the_charges_reach_the_minimum(org, customer, interest_contract, make_invoice):
    invoice = make_invoice(customer, interest_contract, issued=date(2026, 1, 5), amount="100.00")  # due 4 February

    first = assess_late_fees(org, as_of=date(2026, 3, 2))  # February's interest: 100 × 12% × 24/365 = 0.79
    assert fee_invoices(org) == [] and not LateFee.objects.exists()
    assert first.skipped == [(invoice.number, "late charges of 0.79 EUR are under the minimum of 5.00 for a fee "
                                              "invoice: carried to the next one")]

    for day in (date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1), date(2026, 7, 1)):
        assess_late_fees(org, as_of=day)
        assert fee_invoices(org) == []  # 0.79 + 1.02 + 0.99 + 1.02 + 0.99 = 4.81: still under 5.00
    assess_late_fees(org, as_of=date(2026, 8, 1))  # July brings it to 5.83

    [fee] = fee_invoices(org)
    assert fee.related_invoice_id == invoice.pk and fee.total == Decimal("5.83")
    levels = sorted(LateFee.objects.filter(invoice=invoice).values_list("level", flat=True))
    assert levels == [f"interest:2026-0{m}" for m in range(2, 8)]  # every month carried, none lost or doubled
    assert fee.lines.count() == 6
    assess_late_fees(org, as_of=date(2026, 8, 1))
    assert len(fee_invoices(org)) == 1  # a rerun changes nothing


def test_small_charges_of_several_invoices_are_invoiced_together(org, customer, interest_contract, make_invoice):
    a = make_invoice(customer, interest_contract, issued=date(2026, 1, 5), amount="150.00")
    b = make_invoice(customer, interest_contract, issued=date(2026, 1, 6), amount="150.00")

    assess_late_fees(org, as_of=date(2026, 4, 1))  # each: Feb + Mar interest, about 2.6: under 5.00 alone

    [fee] = fee_invoices(org)  # together over 5.00: one invoice for both
    assert {lf.invoice_id for lf in LateFee.objects.all()} == {a.pk, b.pk}
    assert set(LateFee.objects.values_list("fee_invoice_id", flat=True)) == {fee.pk}
    assert a.number in fee.notes and b.number in fee.notes


def test_the_minimum_is_configurable(org, customer, interest_contract, make_invoice, settings):
    settings.DULY_LATE_FEE_MINIMUM = Decimal("0")
    invoice = make_invoice(customer, interest_contract, issued=date(2026, 1, 5), amount="100.00")
    assess_late_fees(org, as_of=date(2026, 3, 2))
    [fee] = fee_invoices(org)
    assert fee.related_invoice_id == invoice.pk and fee.total == Decimal("0.79")


def test_the_statement_of_account_lists_the_carried_charges_apart(org, customer, interest_contract, make_invoice,
                                                                  settings, tmp_path):
    from duly.insights.documents import render_statement
    from duly.insights.services import statement_of_account

    settings.MEDIA_ROOT = tmp_path / "media"
    invoice = make_invoice(customer, interest_contract, issued=date(2026, 1, 5), amount="100.00")  # due 4 February
    assess_late_fees(org, as_of=date(2026, 4, 1))  # 0.79 + 1.02 = 1.81: carried, nothing invoiced

    statement = statement_of_account(customer, as_of=date(2026, 4, 1))
    assert [(c.invoice_number, c.kind, c.level, c.amount) for c in statement["carried"]] == [
        (invoice.number, "interest", "interest:2026-02", Decimal("0.79")),
        (invoice.number, "interest", "interest:2026-03", Decimal("1.02"))]
    assert statement["carried_total"] == {"EUR": Decimal("1.81")}

    import pdfplumber, io  # noqa: E401
    with pdfplumber.open(io.BytesIO(render_statement(customer, as_of=date(2026, 4, 1)))) as pdf:
        text = "\n".join(page.extract_text() or "" for page in pdf.pages)
    section = text[text.index("FRAIS DE RETARD REPORTÉS, PAS ENCORE FACTURÉS"):]  # in French, a capitalised heading
    assert "inférieurs au minimum d’une facture de frais de retard" in section
    assert section.count("Intérêts de retard") == 2 and "Total reporté" in section and "1,81" in section

    settings.DULY_LATE_FEE_MINIMUM = Decimal("0")  # nothing is carried when every charge is invoiced
    assert statement_of_account(customer, as_of=date(2026, 4, 1))["carried"] == []
