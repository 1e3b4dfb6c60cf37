"""Country fields of issue 15 part 2 beyond the printed mentions: a UK VAT invoice in a foreign currency states
its VAT total in sterling (BT-6, BT-111) at an exchange rate entered with its date and source and frozen at issue;
a German seller without a VAT id gives its Steuernummer (§14 UStG), printed and in the UBL as BT-32."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from lxml import etree

from duly.customers.services import create_organization
from duly.invoicing import services
from duly.invoicing.documents import document_bytes
from duly.invoicing.documents.adapter import build_document
from duly.invoicing.einvoice.validate import validate_einvoice
from duly.invoicing.einvoice.xmlutil import CII_NSMAP, UBL_NSMAP
from duly.invoicing.exchange_rate_services import ExchangeRateMissing, record_exchange_rate
from duly.invoicing.models import ExchangeRate

from .test_mentions import _issue, read_pdf_text

L = services.LineData
GLN_SELLER = {"electronic_address_scheme": "9932", "electronic_address": "GB123456727"}


@pytest.fixture
def uk_seller(db):
    return create_organization(
        name="Widgets Ltd", slug="widgets", country="GB", default_currency="GBP", address_line1="1 High Street",
        postcode="SW1A 1AA", city="London", vat_id="GB123456727", locale="en_GB", timezone="Europe/London",
        **GLN_SELLER)


@pytest.fixture
def euro_customer(uk_seller, make_customer):
    return make_customer(organization=uk_seller, name="Acme Trading Ltd", country="GB", city="Leeds",
                         postcode="LS1 4AP", address_line1="2 Park Row", currency="EUR", locale="en_GB",
                         tax_id="GB980780684", electronic_address_scheme="9932", electronic_address="GB980780684")


LINES = [L("Widgets", D("10"), D("12.00"), unit="H87", tax_rate=D("20")),
         L("Children's car seat", D("1"), D("80.00"), unit="H87", tax_rate=D("5"))]  # VAT 24.00 + 4.00 = 28.00 EUR


def test_a_uk_invoice_in_euros_states_its_vat_in_sterling_at_the_rate_frozen_at_issue(
        uk_seller, euro_customer, make_contract, doc_settings):
    record_exchange_rate(uk_seller, currency="EUR", accounting_currency="GBP", rate="0.8412",
                         rate_date=date(2026, 3, 1), source="HMRC monthly exchange rate March 2026")
    record_exchange_rate(uk_seller, currency="EUR", accounting_currency="GBP", rate="0.9",
                         rate_date=date(2026, 4, 1), source="HMRC monthly exchange rate April 2026")  # after issue
    contract = make_contract(euro_customer, terms_kind="net", terms_days=30, currency="EUR")
    invoice = _issue(uk_seller, euro_customer, contract, LINES)  # issued 31 March 2026

    ubl = document_bytes(invoice, "ubl").content
    assert b"urn:fdc:peppol.eu:2017:poacc:billing:01:1.0" in ubl
    assert validate_einvoice(ubl, layers=("xsd", "en16931", "peppol", "duly")) == []
    root = etree.fromstring(ubl)
    assert root.xpath("cbc:TaxCurrencyCode/text()", namespaces=UBL_NSMAP) == ["GBP"]
    totals = [(e.text, e.get("currencyID")) for e in root.xpath("cac:TaxTotal/cbc:TaxAmount", namespaces=UBL_NSMAP)]
    assert totals == [("28.00", "EUR"), ("23.55", "GBP")]  # 28.00 × 0.8412 = 23.5536

    cii = document_bytes(invoice, "cii").content
    assert validate_einvoice(cii, layers=("xsd", "en16931", "duly")) == []
    tree = etree.fromstring(cii)
    settlement = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
    assert tree.xpath(f"{settlement}/ram:TaxCurrencyCode/text()", namespaces=CII_NSMAP) == ["GBP"]
    assert [(e.text, e.get("currencyID")) for e in tree.xpath(
        f"{settlement}/ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:TaxTotalAmount",
        namespaces=CII_NSMAP)] == [("28.00", "EUR"), ("23.55", "GBP")]

    text = read_pdf_text(document_bytes(invoice, "pdf").content)
    assert "Total VAT in GBP" in text and "£23.55" in text
    assert "1 EUR = 0.8412 GBP" in text and "HMRC monthly exchange rate March 2026" in text

    # frozen: a corrected rate of that day changes no issued document
    record_exchange_rate(uk_seller, currency="EUR", accounting_currency="GBP", rate="0.5",
                         rate_date=date(2026, 3, 1), source="typo")
    assert build_document(invoice).tax_total_in_tax_currency() == D("23.55")


def test_without_a_rate_the_uk_foreign_currency_invoice_is_refused_and_in_sterling_none_is_needed(
        uk_seller, euro_customer, make_customer, make_contract, doc_settings):
    contract = make_contract(euro_customer, terms_kind="net", terms_days=30, currency="EUR")
    draft = services.create_draft(uk_seller, euro_customer, LINES, contract=contract)
    with pytest.raises(ExchangeRateMissing, match="enter the EUR/GBP exchange rate of 2026-03-31"):
        services.issue_invoice(uk_seller, draft.pk, issue_date=date(2026, 3, 31))
    sterling = make_customer(organization=uk_seller, name="Bob Ltd", country="GB", currency="GBP", tax_id="")
    invoice = _issue(uk_seller, sterling, make_contract(sterling, terms_kind="net", terms_days=30), LINES)
    assert b"TaxCurrencyCode" not in document_bytes(invoice, "ubl").content


@pytest.mark.parametrize(("rate", "source", "message"), [
    ("0", "HMRC", "positive"), ("abc", "HMRC", "not a number"), ("0.84", " ", "source")])
def test_an_exchange_rate_needs_a_positive_rate_and_a_source(uk_seller, rate, source, message):
    from duly.domain.errors import ValidationError

    with pytest.raises(ValidationError, match=message):
        record_exchange_rate(uk_seller, currency="EUR", accounting_currency="GBP", rate=rate,
                             rate_date=date(2026, 3, 1), source=source)
    assert not ExchangeRate.objects.exists()


def test_a_german_seller_without_vat_id_gives_its_steuernummer(db, make_customer, make_contract, doc_settings):
    seller = create_organization(
        name="Musterbau GmbH", slug="musterbau", country="DE", default_currency="EUR", address_line1="Hauptstr. 5",
        postcode="10115", city="Berlin", vat_id="", tax_number="21/815/08150", registration_id="HRB 12345",
        locale="de_DE", timezone="Europe/Berlin")
    customer = make_customer(organization=seller, name="Kunde AG", country="DE", city="München", postcode="80331",
                             address_line1="Marienplatz 1", tax_id="DE136695976", locale="de_DE")
    invoice = _issue(seller, customer, make_contract(customer, terms_kind="net", terms_days=14),
                     [L("Beratung", D("4"), D("120.00"), unit="HUR", tax_rate=D("19"))])
    text = read_pdf_text(document_bytes(invoice, "pdf").content)
    assert "Steuernummer: 21/815/08150" in text

    ubl = document_bytes(invoice, "ubl").content
    assert validate_einvoice(ubl, layers=("xsd", "en16931", "duly")) == []
    schemes = etree.fromstring(ubl).xpath("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme",
                                          namespaces=UBL_NSMAP)
    assert [(s.findtext("cbc:CompanyID", namespaces=UBL_NSMAP),
             s.findtext("cac:TaxScheme/cbc:ID", namespaces=UBL_NSMAP)) for s in schemes] == [("21/815/08150", "FC")]
    cii = document_bytes(invoice, "cii").content
    assert validate_einvoice(cii, layers=("xsd", "en16931", "duly")) == []
    assert etree.fromstring(cii).xpath("//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']"
                                       "/text()", namespaces=CII_NSMAP) == ["21/815/08150"]
    doc = build_document(invoice)
    assert doc.coded_notes == () and doc.business_process == ""  # the French reform fields are France's only


def test_a_german_seller_with_only_a_steuernummer_is_refused_at_issue_naming_what_to_fill_in(
        db, make_customer, make_contract, doc_settings):
    """BR-CO-26: the seller needs a seller identifier (BT-29), registration id (BT-30) or VAT id (BT-31); a
    Steuernummer (BT-32) is none of them. Issuing is refused (``seller_identifier_missing``), nothing written; a
    GLN as the seller's electronic address becomes its seller identifier (BT-29, scheme 0088) and the documents
    pass the CEN rules."""
    from duly.customers.services import update_organization
    from duly.domain.errors import SellerIdentifierMissing

    seller = create_organization(
        name="Musterbau GmbH", slug="musterbau", country="DE", default_currency="EUR", address_line1="Hauptstr. 5",
        postcode="10115", city="Berlin", vat_id="", tax_number="21/815/08150", locale="de_DE",
        timezone="Europe/Berlin")
    customer = make_customer(organization=seller, name="Kunde AG", country="DE", city="München", postcode="80331",
                             address_line1="Marienplatz 1", tax_id="DE136695976", locale="de_DE")
    contract = make_contract(customer, terms_kind="net", terms_days=14)
    lines = [L("Beratung", D("4"), D("120.00"), unit="HUR", tax_rate=D("19"))]
    draft = services.create_draft(seller, customer, lines, contract=contract)
    with pytest.raises(SellerIdentifierMissing) as refused:
        services.issue_invoice(seller, draft.pk, issue_date=date(2026, 3, 31))
    assert refused.value.code == "seller_identifier_missing"
    assert "BR-CO-26" in refused.value.message and "tax number 21/815/08150 is not one" in refused.value.message
    assert "registration id (e.g. the Handelsregister number, HRB 12345)" in refused.value.message
    draft.refresh_from_db()
    assert draft.status == draft.DRAFT and not draft.number

    seller = update_organization(seller, electronic_address_scheme="0088", electronic_address="4000001000005")
    invoice = services.issue_invoice(seller, draft.pk, issue_date=date(2026, 3, 31))
    ubl = document_bytes(invoice, "ubl").content
    assert validate_einvoice(ubl, layers=("xsd", "en16931", "duly")) == []
    assert etree.fromstring(ubl).xpath("cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID"
                                       "[@schemeID='0088']/text()", namespaces=UBL_NSMAP) == ["4000001000005"]
    cii = document_bytes(invoice, "cii").content
    assert validate_einvoice(cii, layers=("xsd", "en16931", "duly")) == []
    assert "Steuernummer: 21/815/08150" in read_pdf_text(document_bytes(invoice, "pdf").content)


def test_rates_are_entered_in_the_admin_with_their_date_and_source(bookkeeper, org):
    from django.urls import reverse

    url = reverse("admin:invoicing_exchangerate_add")
    form = {"currency": "eur", "accounting_currency": "GBP", "rate": "0.8412",
            "rate_date": "2026-03-01", "source": "HMRC monthly exchange rate March 2026"}
    bad = bookkeeper.post(url, {**form, "rate": "0"})
    assert bad.status_code == 200 and "An exchange rate is a positive number." in bad.content.decode()
    assert bookkeeper.post(url, {**form, "source": ""}).status_code == 200 and not ExchangeRate.objects.exists()
    resp = bookkeeper.post(url, form, follow=True)
    assert "added successfully" in resp.content.decode()
    row = ExchangeRate.objects.get()
    assert (row.organization, row.currency, row.accounting_currency, row.rate, row.rate_date, row.source) == (
        org, "EUR", "GBP", D("0.8412"), date(2026, 3, 1), "HMRC monthly exchange rate March 2026")
