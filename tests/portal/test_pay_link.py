"""The personal pay/view link every invoice and message carries opens the customer's own account."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from duly.invoicing import services as inv
from duly.messaging.links import make_token, pay_url


def _path(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def issued(org, customer, contract):
    def make(amount="1000.00", issued=date(2026, 3, 2)):
        draft = inv.create_draft(org, customer, [inv.LineData("Audit", Decimal(1), Decimal(amount))],
                                 contract=contract)
        return inv.issue_invoice(org, draft.pk, issue_date=issued)

    return make


def test_the_account_link_lists_what_is_open_with_due_dates_references_and_how_to_pay(client, org, customer,
                                                                                     issued, make_customer):
    from duly.payments.services import record_payment

    paid = issued("90.00", date(2026, 2, 2))
    record_payment(org, customer, amount="90.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 2, 10), allocations={paid.pk: "90.00"})
    first = issued("1000.00", date(2026, 3, 2))
    other = make_customer("OTHER")
    make_other = inv.create_draft(org, other, [inv.LineData("Secret work", Decimal(1), Decimal("7777"))])
    inv.issue_invoice(org, make_other.pk, issue_date=date(2026, 3, 2))
    second = issued("250.00", date(2026, 4, 1))

    resp = client.get(_path(pay_url(org.pk, customer.pk)))
    assert resp.status_code == 200 and resp["Cache-Control"] == "private, no-store"
    page = resp.content.decode()
    assert "Votre compte chez Atelier Lumière SARL" in page and "Acme Industries SAS" in page
    assert first.number in page and second.number in page and paid.number not in page
    assert "1\u202f000,00\xa0€" in page and "250,00\xa0€" in page and "1\u202f250,00\xa0€" in page  # the total
    assert "1 avril 2026" in page and "jours de retard" in page  # net 30 from 2 March, overdue by now
    rf = first.rf_reference
    assert " ".join(rf[i:i + 4] for i in range(0, len(rf), 4)) in page
    assert "FR1420041010050500013M02606" in page and "factures@atelier.example" in page
    assert "7\u202f777" not in page and "Secret work" not in page  # another customer's invoice never shows


def test_an_invoice_link_opens_that_invoice_and_its_stored_pdf(client, org, customer, issued):
    invoice, other = issued(), issued("5.00")
    url = pay_url(org.pk, customer.pk, invoice.pk)
    page = client.get(_path(url)).content.decode()
    assert f"Facture {invoice.number} de Atelier Lumière SARL" in page and other.number not in page
    pdf = client.get(_path(url) + "/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert client.get(_path(url) + "/pdf").content == pdf.content  # the stored document, rendered once


def test_a_forged_or_altered_link_shows_nothing(client, org, customer, other_org, issued):
    invoice = issued()
    token = make_token(org.pk, customer.pk, invoice.pk)
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for path in (f"/p/{altered}", f"/p/{altered}/pdf", "/p/not-a-token"):
        resp = client.get(path)
        assert resp.status_code == 404 and b"This link cannot be opened" in resp.content
        assert invoice.number.encode() not in resp.content
    # a genuine token naming another organization's customer opens nothing
    resp = client.get(f"/p/{make_token(other_org.pk, customer.pk)}")
    assert resp.status_code == 404 and b"Acme" not in resp.content
    # an account link has no single PDF
    assert client.get(f"/p/{make_token(org.pk, customer.pk)}/pdf").status_code == 404
