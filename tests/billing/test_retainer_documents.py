"""The retainer balance is shown on every invoice and statement.

A customer with a retainer sees its balance (read from the retainer ledger by one function,
``duly.billing.retainers.retainer_balances``) on the statement of account (service, PDF, CLI) and on
each invoice they are issued: manual ones, the retainer and top-up invoices, the billing run's. An
issued invoice states the balance on its issue date, frozen with its document snapshot, so its
documents never change. A customer without a retainer sees no retainer line anywhere.
"""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from duly.billing import services
from duly.billing.retainers import retainer_balances
from duly.cli import main
from duly.insights.documents import render_statement
from duly.insights.services import statement_of_account
from duly.invoicing import services as inv
from duly.invoicing.documents import document_bytes
from duly.invoicing.models import Invoice
from duly.invoicing.pdf import render_invoice_pdf

from .conftest import pay

pytestmark = pytest.mark.django_db


def text_of(pdf: bytes) -> str:
    """The PDF's text with every space removed (extraction breaks lines and kerns freely)."""
    raw = "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)
    return "".join(raw.split()).casefold()


def squash(value: str) -> str:
    return "".join(value.split()).casefold()


def manual_invoice(org, customer, contract, amount: str, on: date) -> Invoice:
    draft = inv.create_draft(org, customer, [inv.LineData("Conseil", Decimal(1), Decimal(amount))],
                             contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=on)


@pytest.fixture
def retained(org, customer, make_contract):
    """ACME (French) on a 300.00 retainer invoiced on 1 January and paid on 5 January."""
    contract = make_contract(customer, terms_kind="net", terms_days=10)
    services.start_retainer(org, contract, topup_amount="300.00", threshold="100.00", as_of=date(2026, 1, 1))
    funding = Invoice.objects.get(customer=customer, kind=Invoice.KIND_DEPOSIT)
    pay(org, funding, date(2026, 1, 5))
    return contract, funding


def test_the_ledger_is_read_as_of_a_date(customer, retained):
    _, funding = retained
    before = retainer_balances([customer.pk], as_of=date(2026, 1, 4))[(customer.pk, "EUR")]
    assert (before.balance, before.awaiting_payment) == (Decimal("0.00"), Decimal("300.00"))
    paid = retainer_balances([customer.pk], as_of=date(2026, 1, 5))[(customer.pk, "EUR")]
    assert (paid.balance, paid.awaiting_payment) == (Decimal("300.00"), Decimal("0.00"))
    # Without a date: everything recorded, as services.retainer_balance always answered.
    assert services.retainer_balance(customer).balance == Decimal("300.00")
    assert services.retainer_balance(customer, as_of=date(2026, 1, 4)).balance == Decimal("0.00")
    # The retainer invoice itself was issued before it was paid: it states a balance of 0.00.
    assert funding.document_snapshot["retainer"] == {"currency": "EUR", "as_of": "2026-01-01", "balance_minor": 0}


def test_the_statement_of_account_shows_the_retainer_balance_service_pdf_and_cli(org, customer, retained):
    contract, _ = retained
    open_invoice = manual_invoice(org, customer, contract, "50.00", date(2026, 1, 10))
    st = statement_of_account(customer, as_of=date(2026, 1, 20))
    assert st["retainer"] == {"EUR": Decimal("300.00")}
    assert statement_of_account(customer, as_of=date(2026, 1, 4))["retainer"] == {"EUR": Decimal("0.00")}

    text = text_of(render_statement(customer, as_of=date(2026, 1, 20)))  # French customer
    assert squash("Solde de la provision 300,00 €") in text
    assert squash(open_invoice.number) in text

    runner = CliRunner()
    out = runner.invoke(main, ["report", "statement", "ACME", "--org", org.slug, "--as-of", "2026-01-20",
                               "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["retainer"] == {"EUR": "300.00"}
    table = runner.invoke(main, ["report", "statement", "ACME", "--org", org.slug, "--as-of", "2026-01-20"])
    assert table.exit_code == 0 and "Retainer balance 300.00 EUR" in table.stdout


def test_a_manual_invoice_states_the_balance_on_its_issue_date_and_keeps_it(org, customer, retained):
    contract, _ = retained
    invoice = manual_invoice(org, customer, contract, "80.00", date(2026, 1, 10))
    assert invoice.document_snapshot["retainer"] == {"currency": "EUR", "as_of": "2026-01-10",
                                                     "balance_minor": 30000}
    # The balance moves later (a drawdown): the issued invoice's documents do not.
    from duly.billing.models import PrepaidDrawdown

    other = manual_invoice(org, customer, contract, "10.00", date(2026, 1, 11))
    PrepaidDrawdown.objects.create(organization=org, customer=customer, contract=contract, kind="retainer",
                                   invoice=other, currency="EUR", amount_minor=12000, applied_on=date(2026, 1, 12))
    assert services.retainer_balance(customer).balance == Decimal("180.00")
    text = text_of(document_bytes(Invoice.objects.get(pk=invoice.pk), "pdf").content)
    assert squash("Solde de la provision au 10 janvier 2026 300,00 €") in text
    assert squash("180,00") not in text


def test_an_english_customer_reads_the_line_in_english(org, make_customer, make_contract):
    gb = make_customer("UK1", name="Acme UK Ltd", country="GB", currency="EUR", locale="en_GB",
                       timezone="Europe/London")
    contract = make_contract(gb, terms_kind="net", terms_days=10)
    services.start_retainer(org, contract, topup_amount="250.00", threshold="50.00", as_of=date(2026, 2, 2))
    pay(org, Invoice.objects.get(customer=gb, kind=Invoice.KIND_DEPOSIT), date(2026, 2, 3))
    invoice = manual_invoice(org, gb, contract, "20.00", date(2026, 2, 9))
    text = text_of(render_invoice_pdf(invoice))
    assert squash("Retainer balance on 9 February 2026 €250.00") in text


def test_a_customer_without_a_retainer_gets_no_retainer_line(org, customer, retained, make_customer, make_contract):
    plain = make_customer("PLAIN", name="Plain SARL")
    contract = make_contract(plain, terms_kind="net", terms_days=30)
    invoice = manual_invoice(org, plain, contract, "100.00", date(2026, 1, 10))
    assert "retainer" not in invoice.document_snapshot
    assert "provision" not in text_of(render_invoice_pdf(invoice))
    st = statement_of_account(plain, as_of=date(2026, 1, 20))
    assert st["retainer"] == {}
    assert "provision" not in text_of(render_statement(plain, as_of=date(2026, 1, 20)))
    out = CliRunner().invoke(main, ["report", "statement", "PLAIN", "--org", org.slug, "--as-of", "2026-01-20"])
    assert out.exit_code == 0 and "Retainer" not in out.stdout


def test_the_billing_run_freezes_the_balance_after_its_drawdowns_on_invoices_and_top_ups(
        org, customer, retained, catalog, bill):
    services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                 as_of=date(2026, 1, 1), timing="arrears")
    bill(date(2026, 2, 1))  # January: 100.00 + 20% = 120.00 drawn, 180.00 left
    bill(date(2026, 3, 1))  # February: 120.00 drawn, 60.00 left: below 100.00, a top-up is invoiced
    february = Invoice.objects.get(customer=customer, kind=Invoice.KIND_STANDARD, issue_date=date(2026, 3, 1))
    topup = Invoice.objects.get(customer=customer, kind=Invoice.KIND_DEPOSIT, issue_date=date(2026, 3, 1))
    expected = {"currency": "EUR", "as_of": "2026-03-01", "balance_minor": 6000}
    assert february.document_snapshot["retainer"] == expected == topup.document_snapshot["retainer"]
    assert services.retainer_balance(customer, as_of=date(2026, 3, 1)).balance == Decimal("60.00")
    assert squash("Solde de la provision au 1er mars 2026 60,00 €") in text_of(render_invoice_pdf(topup))


def test_the_customer_admin_page_shows_the_retainer_balance_only_with_a_retainer(bookkeeper, customer, retained,
                                                                                 make_customer):
    from django.urls import reverse

    page = bookkeeper.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    assert "<th>Retainer balance</th>" in page and "<td style='text-align:right'>300.00</td>" in page
    plain = make_customer("PLAIN", name="Plain SARL")
    page = bookkeeper.get(reverse("admin:customers_customer_change", args=[plain.pk])).content.decode()
    assert "Customer credit" in page and "Retainer balance" not in page
