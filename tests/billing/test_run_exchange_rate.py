"""A UK seller's billing run with invoices in a foreign currency (their VAT also stated in sterling, HMRC VAT
Notice 700/21 §16.3): a missing exchange rate leaves out only the customers whose invoices need it, each listed
with what to fix (``duly bill`` exits 3), and bills the rest; once the rate is entered, a rerun bills them, once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from duly.billing import services
from duly.billing.models import Subscription
from duly.customers.services import create_organization
from duly.invoicing.exchange_rate_services import record_exchange_rate
from duly.invoicing.models import Invoice

ON = date(2026, 3, 31)


def _uk_seller_with_euro_customers(make_customer, make_contract):
    """A UK seller, two customers billed in EUR and one in GBP, each with a subscription due on ``ON``."""
    uk = create_organization(name="Widgets Ltd", slug="widgets", country="GB", default_currency="GBP",
                             address_line1="1 High Street", postcode="SW1A 1AA", city="London", vat_id="GB123456727",
                             locale="en_GB", timezone="Europe/London")
    product = services.create_product(uk, code="PRO", name="Pro plan", tax_category="S", tax_rate=Decimal("20"))
    prices = {cur: services.create_price(uk, product, code=f"pro-{cur.lower()}", currency=cur,
                                         model_config={"model": "flat", "amount": "100.00"}) for cur in ("GBP", "EUR")}
    for code, currency in (("EURO1", "EUR"), ("POUND", "GBP"), ("EURO2", "EUR")):
        customer = make_customer(code, organization=uk, name=f"{code.title()} Ltd", country="GB", city="Leeds",
                                 postcode="LS1 4AP", currency=currency, locale="en_GB", timezone="Europe/London")
        make_contract(customer, currency=currency)
        services.create_subscription(uk, customer, [(prices[currency], 1)], start_date=ON, as_of=ON)
    return uk


@pytest.mark.django_db
def test_duly_bill_exits_3_listing_the_customers_a_missing_rate_left_out(make_customer, make_contract, settings,
                                                                         tmp_path):
    from click.testing import CliRunner

    from duly.cli import EXIT_INCOMPLETE, main

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DULY_PUBLIC_URL = "https://pay.duly.test"
    uk = _uk_seller_with_euro_customers(make_customer, make_contract)
    result = CliRunner().invoke(main, ["bill", "--org", "widgets", "--as-of", ON.isoformat(), "--workers", "1"])
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    assert "EURO1" in result.output and "EURO2" in result.output and "EUR/GBP exchange rate" in result.output
    assert list(Invoice.objects.filter(organization=uk).values_list("customer__code", flat=True)) == ["POUND"]


@pytest.mark.django_db
def test_a_missing_rate_leaves_out_only_the_foreign_currency_customers_and_a_rerun_bills_them_once(
        make_customer, make_contract, settings, tmp_path):
    from duly.billing.services import run_billing

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DULY_PUBLIC_URL = "https://pay.duly.test"
    uk = _uk_seller_with_euro_customers(make_customer, make_contract)

    result = run_billing(uk, ON)
    assert result.invoices == 1 and result.numbers == ["INV-2026-00001"]
    assert [code for code, _ in result.skipped] == ["EURO1", "EURO2"]
    for _, reason in result.skipped:  # what to fix
        assert reason == ("A VAT invoice of a UK seller in EUR states its VAT in GBP: enter the EUR/GBP exchange rate "
                          "of 2026-03-31 or before (with its source) before issuing.")
    assert list(Invoice.objects.filter(organization=uk).values_list("customer__code", flat=True)) == ["POUND"]
    assert {s.customer.code for s in Subscription.objects.filter(organization=uk, next_bill_on=ON)} == {"EURO1",
                                                                                                        "EURO2"}

    record_exchange_rate(uk, currency="EUR", accounting_currency="GBP", rate="0.8412", rate_date=date(2026, 3, 1),
                         source="HMRC monthly exchange rate March 2026")
    again = run_billing(uk, ON)
    assert again.skipped == [] and again.invoices == 2 and again.numbers == ["INV-2026-00002", "INV-2026-00003"]
    assert run_billing(uk, ON).invoices == 0  # idempotent: each period is billed once
    invoiced = Invoice.objects.filter(organization=uk).order_by("number")
    assert [(i.customer.code, i.currency) for i in invoiced] == [("POUND", "GBP"), ("EURO1", "EUR"), ("EURO2", "EUR")]
    for invoice in invoiced[1:]:
        assert invoice.document_snapshot["vat_accounting"]["rate"] == "0.8412"
