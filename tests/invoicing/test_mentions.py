"""National mandatory mentions (issue 15): one test per country renders an invoice PDF and checks every mention
of that country's table in ``duly.invoicing.documents.mentions``; the French BT-30 is the SIREN with scheme 0002."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from lxml import etree

from duly.customers.services import create_organization, update_organization
from duly.invoicing import services
from duly.invoicing.documents import document_bytes, mentions
from duly.invoicing.documents.i18n import localizer
from duly.invoicing.documents.snapshot import french_siren
from duly.invoicing.einvoice.validate import validate_einvoice
from duly.invoicing.einvoice.xmlutil import UBL_NSMAP

from .conftest import ISSUE_DATE, PdfText
from .conftest import read_pdf_text as _read_pdf_text

L = services.LineData


def read_pdf_text(content: bytes) -> PdfText:
    """The PDF's text with words the renderer hyphenated at a line end (``Bemessungs‐ grundlage``) joined."""
    return PdfText(_read_pdf_text(content).raw.replace("\u2010\n", ""))


def _issue(org, customer, contract, lines, *, period=None):
    draft = services.create_draft(org, customer, lines, contract=contract, service_period=period)
    return services.issue_invoice(org, draft.pk, issue_date=ISSUE_DATE)


@pytest.fixture
def french_seller(org):
    return update_organization(org, registration_id="RCS Paris 303 265 045", legal_form="SARL",
                               share_capital_minor=1_000_000, registry_city="Paris")


FRENCH_RATES = [
    L("Conseil", D("1"), D("1000.00"), tax_rate=D("20")),
    L("Travaux de rénovation", D("1"), D("500.00"), tax_rate=D("10")),
    L("Livres", D("2"), D("25.00"), unit="H87", tax_rate=D("5.5")),
    L("Presse", D("3"), D("4.00"), unit="H87", tax_rate=D("2.1")),
]

#: Every printed mention of the French table, in French, for the seller above.
FRENCH_MENTIONS = {
    "mention.fr.siren": "SIREN 303265045",
    "mention.fr.legal_form_capital": "SARL au capital de 10 000,00 €",
    "mention.fr.rcs": "RCS Paris 303265045",
    "mention.fr.recovery_indemnity": "Indemnité forfaitaire pour frais de recouvrement en cas de retard de "
                                     "paiement : 40,00 €.",
    "mention.fr.no_discount": "Pas d’escompte pour paiement anticipé.",
}


@pytest.mark.parametrize("late_fee_kind", ["none", "interest_annual"])
def test_french_b2b_invoice_prints_every_french_mention_whatever_the_late_policy(
        french_seller, make_customer, make_contract, doc_settings, late_fee_kind):
    customer = make_customer(name="Globex SA", tax_id="FR61954506077", locale="fr_FR")
    late = {"late_rate_percent": D("12")} if late_fee_kind != "none" else {}
    contract = make_contract(customer, terms_kind="net", terms_days=30, late_fee_kind=late_fee_kind, **late)
    text = read_pdf_text(document_bytes(_issue(french_seller, customer, contract, FRENCH_RATES), "pdf").content)

    table = mentions.MENTIONS["FR"]
    expected = dict(FRENCH_MENTIONS)
    expected["mention.fr.late_interest"] = (
        "Pénalités de retard : 12 % par an à compter du lendemain" if late_fee_kind != "none" else
        "Pénalités de retard : le taux de refinancement de la BCE majoré de 10 points de pourcentage")
    assert sorted(expected) == sorted(m.key for m in table.printed)  # the test covers the whole table
    for key, words in expected.items():
        assert words in text, (key, text)
    loc = localizer("fr_FR")
    for key in table.fields:
        assert loc.t(key) in text, key
    for name in ("Taux normal", "Taux intermédiaire", "Taux réduit", "Taux particulier"):
        assert name in text
    assert "Mentions légales" in text


def test_french_consumer_invoice_leaves_out_the_b2b_mentions(french_seller, make_customer, make_contract,
                                                             doc_settings):
    customer = make_customer(name="Julien Moreau", tax_id="", locale="fr_FR")
    contract = make_contract(customer, terms_kind="net", terms_days=30)
    text = read_pdf_text(document_bytes(_issue(french_seller, customer, contract, FRENCH_RATES[:1]), "pdf").content)
    assert "SIREN 303265045" in text
    assert "escompte" not in text and "Indemnité forfaitaire" not in text


def test_french_reverse_charge_reads_autoliquidation(french_seller, make_customer, make_contract, doc_settings):
    customer = make_customer(name="Initech GmbH", country="DE", city="Berlin", postcode="10115",
                             address_line1="Unter den Linden 1", tax_id="DE136695976", locale="fr_FR")
    contract = make_contract(customer, terms_kind="net", terms_days=30)
    lines = [L("Conseil", D("1"), D("1000.00"), tax_category="AE", tax_rate=D("0"))]
    text = read_pdf_text(document_bytes(_issue(french_seller, customer, contract, lines), "pdf").content)
    assert "Autoliquidation" in text


def test_french_bt30_is_the_siren_with_scheme_0002_and_passes_en16931(french_seller, make_customer, make_contract,
                                                                      doc_settings):
    customer = make_customer(name="Globex SA", tax_id="FR61954506077", locale="fr_FR")
    contract = make_contract(customer, terms_kind="net", terms_days=30)
    ubl = document_bytes(_issue(french_seller, customer, contract, FRENCH_RATES), "ubl").content
    tree = etree.fromstring(ubl)
    ids = tree.xpath("cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID",
                     namespaces=UBL_NSMAP)
    assert [(e.text, e.get("schemeID")) for e in ids] == [("303265045", "0002")]
    assert validate_einvoice(ubl) == []


@pytest.mark.parametrize(("written", "siren"), [
    ("RCS Paris 303 265 045", "303265045"), ("303 265 045 00011", "303265045"), ("303265045", "303265045"),
    ("RCS Paris 303 265 046", ""), ("B 12345", ""),
])
def test_french_siren_is_read_from_how_people_write_it(written, siren):
    assert french_siren(written) == siren


def test_german_invoice_carries_the_14_ustg_fields(db, make_customer, make_contract, doc_settings):
    seller = create_organization(
        name="Musterbau GmbH", slug="musterbau", country="DE", default_currency="EUR", address_line1="Hauptstr. 5",
        postcode="10115", city="Berlin", vat_id="DE811907980", locale="de_DE", timezone="Europe/Berlin")
    customer = make_customer(organization=seller, name="Kunde AG", country="DE", city="München", postcode="80331",
                             address_line1="Marienplatz 1", tax_id="DE136695976", locale="de_DE")
    contract = make_contract(customer, terms_kind="net", terms_days=14)
    lines = [L("Beratung", D("4"), D("120.00"), unit="HUR", tax_rate=D("19")),
             L("Fachbuch", D("1"), D("50.00"), unit="H87", tax_rate=D("7"))]
    invoice = _issue(seller, customer, contract, lines)
    text = read_pdf_text(document_bytes(invoice, "pdf").content)
    loc = localizer("de_DE")
    for key in mentions.MENTIONS["DE"].fields:
        assert loc.t(key) in text, key
    for value in ("Musterbau GmbH", "Hauptstr. 5", "Kunde AG", "Marienplatz 1", "DE811907980", invoice.number,
                  "31. März 2026", "Beratung", "4 Std.", "19 %", "7 %", "480,00", "91,20", "3,50"):
        assert value in text, value
    assert [m.key for m in mentions.MENTIONS["DE"].printed] == ["mention.service_date_is_issue_date"]
    assert "Das Leistungsdatum entspricht dem Rechnungsdatum." in text

    reverse = _issue(seller, customer, contract, [L("Montage", D("1"), D("900.00"), tax_category="AE")],
                     period=(date(2026, 3, 1), date(2026, 3, 31)))
    text = read_pdf_text(document_bytes(reverse, "pdf").content)
    assert "Steuerschuldnerschaft des Leistungsempfängers" in text
    assert "Leistungsdatum entspricht" not in text  # the service period is printed instead
    assert "1. März 2026 – 31. März 2026" in text


def test_uk_invoice_carries_the_vat_invoice_fields(db, make_customer, make_contract, doc_settings):
    seller = create_organization(
        name="Widgets Ltd", slug="widgets", country="GB", default_currency="GBP", address_line1="1 High Street",
        postcode="SW1A 1AA", city="London", vat_id="GB123456727", locale="en_GB", timezone="Europe/London")
    customer = make_customer(organization=seller, name="Acme Trading Ltd", country="GB", city="Leeds",
                             postcode="LS1 4AP", address_line1="2 Park Row", currency="GBP", locale="en_GB",
                             tax_id="")
    contract = make_contract(customer, terms_kind="net", terms_days=30)
    lines = [L("Widgets", D("10"), D("12.00"), unit="H87", tax_rate=D("20")),
             L("Children's car seat", D("1"), D("80.00"), unit="H87", tax_rate=D("5"))]
    invoice = _issue(seller, customer, contract, lines)
    text = read_pdf_text(document_bytes(invoice, "pdf").content)
    loc = localizer("en_GB")
    for key in mentions.MENTIONS["GB"].fields:
        assert loc.t(key) in text, key
    assert [m.key for m in mentions.MENTIONS["GB"].printed] == ["mention.gb.time_of_supply"]
    for value in ("GB123456727", invoice.number, "31 March 2026", "Time of supply (tax point): 31 March 2026",
                  "Acme Trading Ltd", "2 Park Row", "Widgets", "20%", "5%", "120.00", "80.00", "£28.00"):
        assert value in text, value


#: The test of each country with a mentions table: it renders a document and checks every mention of that table.
COUNTRY_TESTS = {
    "FR": test_french_b2b_invoice_prints_every_french_mention_whatever_the_late_policy,
    "DE": test_german_invoice_carries_the_14_ustg_fields,
    "GB": test_uk_invoice_carries_the_vat_invoice_fields,
}


def test_every_country_with_rules_has_its_rendering_test():
    """Each country's rules are data (``mentions.MENTIONS``): a country added there without a test above that
    renders its document and checks its every mention fails here."""
    assert set(mentions.MENTIONS) == set(COUNTRY_TESTS), "add a rendering test for " + ", ".join(
        sorted(set(mentions.MENTIONS) - set(COUNTRY_TESTS)))
