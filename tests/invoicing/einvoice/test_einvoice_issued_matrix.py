"""The validation matrix on real Duly invoices: created and issued through the services (invoicing,
billing, collections, payments), exported with ``document_bytes`` and checked against the official
rules: UBL 2.1 (XSD + CEN EN 16931 + Duly's due-date rule), CII and the CII inside the Factur-X PDF
(Factur-X XSD + CEN EN 16931 CII + Duly's rule). Zero errors in every syntax. The seller and every
customer have a Peppol address (SIREN 0002 in France, GLN 0088 elsewhere), so each UBL is a Peppol
BIS Billing 3.0 document and must also pass the OpenPeppol rules (and issuing checks them).

The hand-built snapshots of test_einvoice_matrix.py check the renderers; these check what Duly
itself issues: credit notes, deposit invoices (Duly's own and billing's retainer, VAT category O),
a deposit deducted by a later invoice (the billing run's bulk path), a partial payment by customer
credit (prepaid amount), late-fee invoices (collections, category O), reverse charge, exempt and
zero-rated lines, GBP and JPY, line and document discounts.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal as D

import pytest
from django.db import transaction
from lxml import etree
from pypdf import PdfReader

from duly.domain.money import from_minor
from duly.invoicing import bulk, services
from duly.invoicing.documents import document_bytes, import_einvoice
from duly.invoicing.einvoice.model import DocumentAllowanceCharge, InvoiceDocument, InvoiceLine, Party, Standard
from duly.invoicing.einvoice.ubl import render_ubl
from duly.invoicing.einvoice.xmlutil import CII_NSMAP, UBL_NSMAP
from duly.invoicing.models import Invoice

L = services.LineData
ISSUE = date(2026, 3, 31)
_SUM = ("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
        "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:")
_SELLER_CII = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty/"


def _fields(**extra):
    """The fields the make_invoice customer requires (PO number, cost centre, project code)."""
    return dict(po_number="PO-4711", cost_centre="CC-1", custom_fields={"Project code": "PRJ-77"}, **extra)


def _issue(org, customer, lines, *, contract=None, kind=Invoice.KIND_STANDARD, on=ISSUE, **fields):
    draft = services.create_draft(org, customer, lines, kind=kind, contract=contract, **fields)
    return services.issue_invoice(org, draft.pk, issue_date=on)


# --- the scenarios: each returns an issued Invoice ----------------------------------------------------------
def standard_two_rates(ctx):
    return ctx.make_invoice("en")


def credit_note(ctx):
    inv = ctx.make_invoice("en", attachments=False)
    return services.create_credit_note(ctx.org, inv.pk, reason="Brochures returned", issue_date=date(2026, 4, 5),
                                       lines=[L("Printed brochures (reduced rate)", D("200"), D("1.50"),
                                                tax_rate=D("5.5"))])


def deposit_invoice(ctx):
    inv = ctx.make_invoice("en", attachments=False, issue=False)
    return _issue(ctx.org, inv.customer, [L("Deposit 30 % — project Atlas", D("1"), D("1500"), tax_rate=D("20"))],
                  contract=inv.contract, kind=Invoice.KIND_DEPOSIT, **_fields())


def retainer_deposit_invoice(ctx):
    """billing.start_retainer: a deposit invoice (386) of category O (VAT is due on the invoices it funds)."""
    from duly.billing.services import start_retainer

    inv = ctx.make_invoice("en", attachments=False, issue=False, required_fields=[], custom_required_fields=[])
    start_retainer(ctx.org, inv.contract, topup_amount="2000.00", threshold="500.00", as_of=ISSUE)
    return Invoice.objects.get(contract=inv.contract, kind=Invoice.KIND_DEPOSIT)


def deposit_deducted(ctx):
    """The billing run's bulk path deducts a paid deposit from the next invoice (BT-113 prepaid amount)."""
    inv = ctx.make_invoice("en", attachments=False, issue=False)
    customer, contract = inv.customer, inv.contract
    item = bulk.BulkInvoice(customer=customer, contract=contract, service_period=(date(2026, 3, 1), date(2026, 3, 31)),
                            lines=[L("Platform subscription — March 2026", D("1"), D("2500"), unit="MON",
                                     tax_rate=D("20"))],
                            prepaid_minor=50000)
    customer.required_fields, customer.custom_required_fields = [], []  # the bulk path fills no PO number
    customer.save(update_fields=["required_fields", "custom_required_fields"])
    with transaction.atomic():
        [issued] = bulk.issue_prepared(ctx.org, [bulk.prepare(ctx.org, item, issue_date=ISSUE)], issue_date=ISSUE)
    return Invoice.objects.get(pk=issued.pk)


def partial_payment_by_credit(ctx):
    """Customer credit left by an overpayment settles part of the next invoice when it is issued."""
    from duly.payments.services import record_payment

    first = ctx.make_invoice("en", attachments=False)
    record_payment(ctx.org, first.customer, amount="6000.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 4, 2), external_reference="WIRE-1")
    return _issue(ctx.org, first.customer, [L("Support", D("1"), D("1000"), tax_rate=D("20"))],
                  contract=first.contract, on=date(2026, 4, 3), **_fields())


def late_fee_invoice(ctx):
    """collections.assess_late_fees: interest and the fixed fee on an overdue invoice (category O)."""
    from duly.collections.services import assess_late_fees

    inv = ctx.make_invoice("en", attachments=False)
    result = assess_late_fees(ctx.org, as_of=date(2026, 5, 31))
    assert result.fee_invoices, result.skipped
    return Invoice.objects.get(number=result.fee_invoices[0])


def reverse_charge(ctx):
    return ctx.make_invoice("de", attachments=False, name="Müller Maschinenbau GmbH", country="DE",
                            tax_id="DE123456789", city="München", postcode="80331", address_line1="Marienplatz 1",
                            lines=[L("Beratung", D("10"), D("120"), unit="HUR", tax_category="AE")])


def exempt_and_zero_rated(ctx):
    return ctx.make_invoice("en", attachments=False, lines=[
        L("Vocational training course", D("1"), D("1800"), tax_category="E",
          tax_exemption_reason="Exempt: vocational training, article 261-4-4 CGI"),
        L("Children's books", D("12"), D("9.90"), tax_category="Z"),
        L("Course material", D("1"), D("120"), tax_rate=D("20")),
    ])


def gbp_invoice(ctx):
    return ctx.make_invoice("en", attachments=False, currency="GBP", country="GB", tax_id="GB980780684",
                            name="Northwind Buying Ltd", city="London", postcode="EC2V 8AU",
                            address_line1="1 King Street")


def jpy_invoice(ctx):
    customer = ctx.make_customer("JP", name="Sakura Trading KK", country="JP", currency="JPY", locale="ja_JP",
                                 city="Tokyo", postcode="100-0001", address_line1="1-1 Chiyoda",
                                 timezone="Asia/Tokyo")
    contract = ctx.make_contract(customer, currency="JPY")
    return _issue(ctx.org, customer, [L("Green tea 500 g", D("37"), D("1234"), tax_rate=D("8")),
                                      L("Gift wrapping", D("3"), D("333.33"), tax_rate=D("10"),
                                        discount_percent=D("15"))], contract=contract)


def line_and_document_discounts(ctx):
    """Document allowances and charges come into a Duly draft by import; the draft is then issued."""
    org = ctx.org
    seller = Party(name=org.name, country_code="FR", vat_id=org.vat_id, address_lines=(org.address_line1,),
                   city=org.city, postcode=org.postcode, electronic_address="303265045", electronic_address_scheme="0002")
    buyer = Party(name="Globex Procurement SA", country_code="FR", vat_id="FR61954506077",
                  address_lines=("3 quai Perrache",), city="Lyon", postcode="69002",
                  electronic_address="954506077", electronic_address_scheme="0002",
                  contact_email="ap@globex.example")
    source = InvoiceDocument(
        type_code="380", number="OLD-2025-0917", issue_date=date(2025, 9, 17), due_date=date(2025, 10, 17),
        currency="EUR", seller=seller, buyer=buyer, order_reference="PO-88", payment_terms="30 days net.",
        lines=(
            InvoiceLine(id="1", name="Consulting", quantity=D("10"), net_price=D("95"), unit_code="HUR",
                        tax_rate=D("20"), discount_percent=D("10"), discount_reason="Framework agreement discount",
                        discount_reason_code="95"),
            InvoiceLine(id="2", name="Licences", quantity=D("7"), net_price=D("33.33"), tax_rate=D("20"),
                        discount_amount=D("12.50")),
            InvoiceLine(id="3", name="Books", quantity=D("3"), net_price=D("19.99"), tax_rate=D("5.5")),
        ),
        allowances_charges=(
            DocumentAllowanceCharge(is_charge=False, amount=D("25.00"), tax_rate=D("20"), reason="Loyalty discount",
                                    reason_code="95"),
            DocumentAllowanceCharge(is_charge=True, amount=D("15.00"), tax_rate=D("20"), reason="Shipping",
                                    reason_code="FC"),
        ),
    )
    draft = import_einvoice(org, render_ubl(source, standard=Standard.EN16931)).invoice
    from duly.customers.services import update_customer

    update_customer(draft.customer, **FRENCH_BUYER_ENDPOINT)  # the customer it made receives through Peppol
    return services.issue_invoice(org, draft.pk, issue_date=ISSUE)


SCENARIOS = {
    "standard_two_rates": (standard_two_rates, {"type": "380", "currency": "EUR", "categories": {"S"}}),
    "credit_note": (credit_note, {"type": "381", "currency": "EUR", "categories": {"S"}}),
    "deposit_invoice": (deposit_invoice, {"type": "386", "currency": "EUR", "categories": {"S"}}),
    "retainer_deposit_invoice": (retainer_deposit_invoice, {"type": "386", "currency": "EUR", "categories": {"O"}}),
    "deposit_deducted": (deposit_deducted, {"type": "380", "currency": "EUR", "categories": {"S"},
                                            "prepaid": D("500.00"), "payable": D("2500.00")}),
    "partial_payment_by_credit": (partial_payment_by_credit, {"type": "380", "currency": "EUR", "categories": {"S"},
                                                              "prepaid": D("569.40"), "payable": D("630.60")}),
    "late_fee_invoice": (late_fee_invoice, {"type": "380", "currency": "EUR", "categories": {"O"}}),
    "reverse_charge": (reverse_charge, {"type": "380", "currency": "EUR", "categories": {"AE"}}),
    "exempt_and_zero_rated": (exempt_and_zero_rated, {"type": "380", "currency": "EUR",
                                                      "categories": {"E", "Z", "S"}}),
    "gbp_invoice": (gbp_invoice, {"type": "380", "currency": "GBP", "categories": {"S"}}),
    "jpy_invoice": (jpy_invoice, {"type": "380", "currency": "JPY", "categories": {"S"}}),
    # lines: 10 × 95 − 10 % = 855.00; 7 × 33.33 − 12.50 = 220.81; 3 × 19.99 = 59.97 (the discounts survive the issue)
    "line_and_document_discounts": (line_and_document_discounts, {"type": "380", "currency": "EUR",
                                                                  "categories": {"S"}, "allowance": D("25.00"),
                                                                  "charge": D("15.00"), "line_total": D("1135.78")}),
}


class _Context:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


#: Peppol participant identifiers: the seller's SIREN, a French buyer's SIREN, a GLN for the others.
SELLER_ENDPOINT = {"electronic_address_scheme": "0002", "electronic_address": "303265045"}
FRENCH_BUYER_ENDPOINT = {"electronic_address_scheme": "0002", "electronic_address": "954506077"}
GLN_ENDPOINT = {"electronic_address_scheme": "0088", "electronic_address": "5790000435968"}


def _endpoint(fields: dict) -> dict:
    return {**(FRENCH_BUYER_ENDPOINT if fields.get("country", "FR") == "FR" else GLN_ENDPOINT), **fields}


@pytest.fixture
def ctx(org, make_invoice, make_customer, make_contract):
    from duly.customers.services import update_organization

    update_organization(org, **SELLER_ENDPOINT)
    org.refresh_from_db()
    return _Context(org=org, make_invoice=lambda *a, **kw: make_invoice(*a, **_endpoint(kw)),
                    make_customer=lambda *a, **kw: make_customer(*a, **_endpoint(kw)), make_contract=make_contract)


def _ubl_facts(xml: bytes) -> dict:
    root = etree.fromstring(xml)

    def x(path):
        return " ".join(str(root.xpath(f"string({path})", namespaces=UBL_NSMAP)).split())

    return {
        "type": x("cbc:InvoiceTypeCode | cbc:CreditNoteTypeCode"),
        "currency": x("cbc:DocumentCurrencyCode"),
        "categories": {c.text for c in root.xpath("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID",
                                                  namespaces=UBL_NSMAP)},
        "prepaid": D(x("cac:LegalMonetaryTotal/cbc:PrepaidAmount") or "0"),
        "payable": D(x("cac:LegalMonetaryTotal/cbc:PayableAmount")),
        "allowance": D(x("cac:LegalMonetaryTotal/cbc:AllowanceTotalAmount") or "0"),
        "line_total": D(x("cac:LegalMonetaryTotal/cbc:LineExtensionAmount")),
        "charge": D(x("cac:LegalMonetaryTotal/cbc:ChargeTotalAmount") or "0"),
    }


def _cii_facts(xml: bytes) -> dict:
    root = etree.fromstring(xml)

    def x(path):
        return " ".join(str(root.xpath(f"string({path})", namespaces=CII_NSMAP)).split())

    return {
        "type": x("rsm:ExchangedDocument/ram:TypeCode"),
        "currency": x("//ram:ApplicableHeaderTradeSettlement/ram:InvoiceCurrencyCode"),
        "categories": {c.text for c in root.xpath(
            "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode", namespaces=CII_NSMAP)},
        "prepaid": D(x(_SUM + "TotalPrepaidAmount") or "0"),
        "payable": D(x(_SUM + "DuePayableAmount")),
        "allowance": D(x(_SUM + "AllowanceTotalAmount") or "0"),
        "line_total": D(x(_SUM + "LineTotalAmount")),
        "charge": D(x(_SUM + "ChargeTotalAmount") or "0"),
    }


def _empty_elements(xml: bytes) -> list[str]:
    root = etree.fromstring(xml)
    return [root.getroottree().getpath(e) for e in root.iter()
            if len(e) == 0 and not (e.text or "").strip() and not e.attrib]


_XMP = {"pdf": "http://ns.adobe.com/pdf/1.3/", "xmp": "http://ns.adobe.com/xap/1.0/",
        "dc": "http://purl.org/dc/elements/1.1/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}
#: Each Info dictionary entry and the XMP property PDF/A says it must equal (ISO 19005, 6.7.3).
_INFO_IN_XMP = {"/Producer": "pdf:Producer", "/Creator": "xmp:CreatorTool", "/Keywords": "pdf:Keywords",
                "/Title": "dc:title//rdf:li", "/Author": "dc:creator//rdf:li", "/Subject": "dc:description//rdf:li",
                "/CreationDate": "xmp:CreateDate", "/ModDate": "xmp:ModifyDate"}


def _pdf_date_as_xmp(value: str) -> str:
    """``D:20261207164502+00'00'`` → ``2026-12-07T16:45:02+00:00``."""
    v = value.removeprefix("D:")
    return f"{v[0:4]}-{v[4:6]}-{v[6:8]}T{v[8:10]}:{v[10:12]}:{v[12:14]}{v[14:17]}:{v[18:20]}"


def facturx_metadata_disagreements(pdf: bytes) -> list[str]:
    """Where the PDF's Info dictionary and its XMP metadata say different things."""
    reader = PdfReader(io.BytesIO(pdf))
    xmp = etree.fromstring(reader.trailer["/Root"]["/Metadata"].get_object().get_data())
    faults = []
    for key, path in _INFO_IN_XMP.items():
        info = reader.metadata.get(key)
        if info is None:
            continue
        found = [e.text for e in xmp.xpath(f"//{path}", namespaces=_XMP)]
        if key in ("/CreationDate", "/ModDate"):
            info = _pdf_date_as_xmp(info)
        if found != [info]:
            faults.append(f"{key} {info!r} but XMP {path} {found!r}")
    return faults


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_issued_invoices_pass_the_official_rules_in_ubl_cii_and_facturx(name, ctx, official_rules):
    build, expected = SCENARIOS[name]
    invoice = build(ctx)
    assert invoice.status != Invoice.DRAFT and invoice.number
    ubl = document_bytes(invoice, "ubl").content
    cii = document_bytes(invoice, "cii").content
    facturx = document_bytes(invoice, "facturx").content
    embedded = PdfReader(io.BytesIO(facturx)).attachments["factur-x.xml"][0]
    layers = ("xsd", "en16931", "duly")
    assert b"urn:fdc:peppol.eu:2017:poacc:billing:01:1.0" in ubl  # a Peppol BIS 3.0 document
    assert official_rules(ubl, ("xsd", "en16931", "peppol", "duly")) == [], "UBL"
    assert official_rules(cii, layers) == [], "CII"
    assert official_rules(embedded, layers) == [], "Factur-X"
    assert embedded == cii  # the Factur-X PDF carries the very CII that was validated
    assert _empty_elements(embedded) == []  # PEPPOL-EN16931-R008
    assert facturx_metadata_disagreements(facturx) == []
    # What was due when it was issued: the total less the deposit deducted and the credit settled then.
    due_at_issue = invoice.total_minor - invoice.prepaid_minor - invoice.document_snapshot.get("paid_minor", 0)
    want = {"prepaid": D(0), "payable": from_minor(due_at_issue, invoice.currency), "allowance": D(0),
            "charge": D(0), **expected}
    for facts in (_ubl_facts(ubl), _cii_facts(cii)):
        assert {k: facts[k] for k in want} == want


def test_late_fee_and_deposit_invoices_of_an_organization_without_registration_id(ctx, org, official_rules):
    """Category O documents may not state VAT ids (BR-O-02) but must identify the seller (BR-CO-26):
    the French organization, with no registration id of its own, is identified by the SIREN its VAT
    number contains (BT-30, ICD 0002)."""
    assert org.registration_id == "" and org.vat_id == "FR40303265045"
    deposit = retainer_deposit_invoice(ctx)  # issued first: numbers follow issue dates (the fee is dated 31 May)
    for invoice in (late_fee_invoice(ctx), deposit):
        ubl = document_bytes(invoice, "ubl").content
        cii = document_bytes(invoice, "cii").content
        facturx = PdfReader(io.BytesIO(document_bytes(invoice, "facturx").content)).attachments["factur-x.xml"][0]
        assert official_rules(ubl, ("xsd", "en16931", "peppol", "duly")) == []
        for xml in (cii, facturx):
            assert official_rules(xml, ("xsd", "en16931", "duly")) == []
        root = etree.fromstring(ubl)
        legal = root.find("cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID", UBL_NSMAP)
        assert (legal.text, legal.get("schemeID")) == ("303265045", "0002")
        assert root.xpath("//cac:PartyTaxScheme", namespaces=UBL_NSMAP) == []  # no VAT id anywhere (BR-O-02)
        cii_root = etree.fromstring(cii)
        legal = cii_root.xpath(_SELLER_CII + "ram:SpecifiedLegalOrganization/ram:ID", namespaces=CII_NSMAP)[0]
        assert (legal.text, legal.get("schemeID")) == ("303265045", "0002")
        assert cii_root.xpath("//ram:SpecifiedTaxRegistration", namespaces=CII_NSMAP) == []


def test_category_o_seller_without_a_derivable_registration_id_is_identified_by_its_vat_number(
        other_org, make_customer, make_contract, doc_settings, official_rules):
    """A British VAT number contains no company number: the seller identifier (BT-29) is the VAT number."""
    assert other_org.registration_id == ""
    from duly.customers.services import update_organization

    other_org = update_organization(other_org, electronic_address_scheme="9932", electronic_address="GB980780684")
    customer = make_customer("UK1", organization=other_org, name="Brick Lane Bakery Ltd", country="GB",
                             currency="GBP", city="London", postcode="E1 6QR", address_line1="91 Brick Lane",
                             locale="en_GB", **GLN_ENDPOINT)
    contract = make_contract(customer, late_fee_kind="fixed_fee", late_fixed_fee="40.00")
    fee = _issue(other_org, customer, [L("Late-payment fee", D("1"), D("40.00"), tax_category="O")],
                 contract=contract, kind=Invoice.KIND_LATE_FEE)
    ubl = document_bytes(fee, "ubl").content
    cii = document_bytes(fee, "cii").content
    assert official_rules(ubl, ("xsd", "en16931", "peppol", "duly")) == []
    assert official_rules(cii, ("xsd", "en16931", "duly")) == []
    root = etree.fromstring(ubl)
    assert root.xpath("string(cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID)",
                      namespaces=UBL_NSMAP) == "GB980780684"
    assert root.xpath("//cac:PartyTaxScheme", namespaces=UBL_NSMAP) == []
    assert etree.fromstring(cii).xpath(f"string({_SELLER_CII}ram:ID)", namespaces=CII_NSMAP) == "GB980780684"
