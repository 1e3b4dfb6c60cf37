"""The rounding amount (EN 16931 BT-114) of an imported invoice is part of what is open, in every report."""

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from duly.collections import snapshots
from duly.insights import services
from duly.invoicing import services as inv
from duly.invoicing.documents import import_einvoice
from duly.payments.services import record_payment

ISSUED = date(2026, 2, 2)  # due the same day: the example's terms


def imported(org_for_seller, rounded_einvoice, rounding):
    xml = rounded_einvoice(rounding=rounding)
    org = org_for_seller(xml, "koksmaat")
    draft = import_einvoice(org, xml).invoice
    return org, inv.issue_invoice(org, draft.pk, issue_date=ISSUED)


def pay(org, invoice, amount, on):
    record_payment(org, invoice.customer, amount=amount, currency="EUR", method="bank_transfer", received_on=on)
    invoice.refresh_from_db()


def test_an_imported_invoice_paid_in_full_is_open_nowhere(org_for_seller, rounded_einvoice):
    org, invoice = imported(org_for_seller, rounded_einvoice, "0.40")  # 250.33 + 0.40 = 250.73 to pay
    assert (invoice.total_minor, invoice.payable_minor) == (25033, 25073)
    pay(org, invoice, "250.73", date(2026, 3, 1))
    assert invoice.status == invoice.PAID and invoice.balance_minor == 0
    as_of = date(2026, 3, 2)
    assert services.aging_report(org, as_of=as_of)["totals"] == {}  # not "-0.40 EUR open"
    statement = services.statement_of_account(invoice.customer, as_of=as_of)
    assert statement["lines"] == [] and statement["total_open"] == {}
    assert services.customer_balance(invoice.customer) == {}


def test_aging_statements_balances_and_collections_agree_on_a_partly_paid_imported_invoice(
        org_for_seller, rounded_einvoice):
    org, invoice = imported(org_for_seller, rounded_einvoice, "-0.33")  # 250.33 − 0.33 = 250.00 to pay
    pay(org, invoice, "200.00", date(2026, 3, 1))
    as_of = date(2026, 3, 2)
    assert invoice.balance_minor == 5000
    assert services.aging_report(org, as_of=as_of)["totals"]["EUR"]["total_open"] == "50.00"  # not 50.33
    statement = services.statement_of_account(invoice.customer, as_of=as_of)
    assert [(line.total, line.open_amount) for line in statement["lines"]] == [(Decimal("250.00"), Decimal("50.00"))]
    assert services.customer_balance(invoice.customer) == {"EUR": Decimal("50.00")}
    assert services.dso(org, as_of=as_of)["EUR"] is not None
    rc = snapshots.RunContext.load(org)
    (account,) = snapshots.gather(rc, [invoice.customer_id], datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    row = account.invoices[invoice.pk]
    assert (row.payable_minor, row.balance_minor) == (25000, 5000)  # what reminders state


@pytest.mark.parametrize("rounding, paid, credit", [
    ("-0.33", None, "0.00"),      # 250.00 due, nothing paid: fully credited, nothing due, no credit from nowhere
    ("0.67", None, "0.00"),       # 251.00 due: the rounding goes with the invoice, nothing is left to pay
    ("-0.33", "250.00", "250.00"),  # paid 250.00: exactly that comes back as credit
    ("0.67", "251.00", "251.00"),
])
def test_crediting_an_imported_invoice_in_full_takes_its_rounding_amount_with_it(org_for_seller, rounded_einvoice,
                                                                               rounding, paid, credit):
    from duly.payments.services import credit_balance_minor

    org, invoice = imported(org_for_seller, rounded_einvoice, rounding)
    if paid:
        pay(org, invoice, paid, date(2026, 2, 10))
    note = inv.create_credit_note(org, invoice.pk, reason="Cancelled", issue_date=date(2026, 2, 20),
                                  lines=[inv.LineData("Cancelled", Decimal(1), Decimal("250.33"))])
    assert note.total_minor == invoice.total_minor == 25033
    invoice.refresh_from_db()
    assert invoice.status == invoice.PAID and invoice.balance_minor == 0
    assert credit_balance_minor(invoice.customer, "EUR") == int(Decimal(credit) * 100)
    assert services.aging_report(org, as_of=date(2026, 2, 20))["totals"] == {}


def test_a_partial_credit_keeps_the_rounding_amount_on_what_is_left(org_for_seller, rounded_einvoice):
    org, invoice = imported(org_for_seller, rounded_einvoice, "0.67")  # 251.00 due
    inv.create_credit_note(org, invoice.pk, reason="Less", issue_date=date(2026, 2, 20),
                           lines=[inv.LineData("Less", Decimal(1), Decimal("100.33"))])
    invoice.refresh_from_db()
    assert invoice.balance_minor == 15067  # 150.00 + 0.67 still to pay
