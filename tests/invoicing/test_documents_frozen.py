"""What an issued invoice's documents show is frozen at issue; stored documents are immutable;
attachments are the issued ones, of types e-invoices can embed."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal as D

import pytest
import segno
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from lxml import etree
from pypdf import PdfReader

from duly.domain.errors import AttachmentTypeNotAllowed, InvoiceImmutable
from duly.invoicing import bulk, services
from duly.invoicing.documents import build_printable, document_bytes
from duly.invoicing.documents.snapshot import buyer_address
from duly.invoicing.documents.store import render_format
from duly.invoicing.einvoice.xmlutil import UBL_NSMAP
from duly.invoicing.models import Invoice, StoredDocument

L = services.LineData
ISSUE = date(2026, 3, 31)
OLD_IBAN, NEW_IBAN = "FR1420041010050500013M02606", "DE89370400440532013000"
BUYER = "cac:AccountingCustomerParty/cac:Party/"


def _ubl(xml: bytes, path: str) -> str:
    return " ".join(str(etree.fromstring(xml).xpath(f"string({path})", namespaces=UBL_NSMAP)).split())


def _move_customer_and_bank(invoice: Invoice) -> None:
    """After issue: the customer moves and its AP contact changes, the organization changes bank."""
    customer = invoice.customer
    customer.address_line1, customer.postcode, customer.city = "88 avenue Foch", "75116", "Paris"
    customer.tax_id = "FR00111111111"
    customer.save()
    customer.contacts.update(email="new-ap@client.example")
    org = invoice.organization
    org.iban, org.bic, org.name = NEW_IBAN, "COBADEFFXXX", "Atelier Lumière SAS"
    org.save()


@pytest.mark.parametrize("path", ["one_by_one", "bulk"])
def test_documents_show_the_values_of_the_issue_date(path, make_invoice, org, pdf_text):
    draft = make_invoice("en", attachments=False, issue=False)
    if path == "one_by_one":
        inv = services.issue_invoice(org, draft.pk, issue_date=ISSUE)
    else:  # the billing run's path
        item = bulk.BulkInvoice(customer=draft.customer, contract=draft.contract,
                                lines=[L("Platform — March 2026", D("1"), D("2400"), tax_rate=D("20"))])
        draft.customer.required_fields, draft.customer.custom_required_fields = [], []
        with transaction.atomic():
            [inv] = bulk.issue_prepared(org, [bulk.prepare(org, item, issue_date=ISSUE)], issue_date=ISSUE)
        inv = Invoice.objects.get(pk=inv.pk)
    _move_customer_and_bank(inv)
    inv = Invoice.objects.select_related("customer", "organization").get(pk=inv.pk)

    ubl = document_bytes(inv, "ubl").content  # first rendered now, after the changes
    assert _ubl(ubl, BUYER + "cac:PostalAddress/cbc:StreetName") == "3 quai Perrache"
    assert _ubl(ubl, BUYER + "cac:PostalAddress/cbc:CityName") == "Lyon"
    assert _ubl(ubl, BUYER + "cac:PartyTaxScheme/cbc:CompanyID") == "FR61954506077"
    # the AP contact's e-mail of the issue date (a contact, not the Peppol endpoint: PEPPOL-EN16931-CL008)
    assert _ubl(ubl, BUYER + "cac:Contact/cbc:ElectronicMail").endswith("@client.example")
    assert "new-ap" not in _ubl(ubl, BUYER + "cac:Contact/cbc:ElectronicMail")
    assert _ubl(ubl, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == OLD_IBAN
    assert _ubl(ubl, "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName") \
        == "Atelier Lumière SARL"

    text = pdf_text(document_bytes(inv, "pdf").content)
    for value in ("3 quai Perrache", "69002 Lyon", OLD_IBAN, "PSSTFRPPPAR", "Atelier Lumière SARL"):
        assert value in text, value
    for value in ("88 avenue Foch", NEW_IBAN, "COBADEFFXXX", "Atelier Lumière SAS"):
        assert value not in text, value
    bank = next(o for o in build_printable(inv).payment_options if o.method == "bank_transfer")
    assert bank.iban == OLD_IBAN  # the GiroCode pays the account of the issue date too

    cii = PdfReader(io.BytesIO(document_bytes(inv, "facturx").content)).attachments["factur-x.xml"][0]
    assert OLD_IBAN.encode() in cii and NEW_IBAN.encode() not in cii and b"3 quai Perrache" in cii


def test_documents_of_an_issued_invoice_never_change(make_invoice, org):
    inv = make_invoice("en")
    first = {fmt: document_bytes(inv, fmt).content for fmt in ("pdf", "ubl", "cii", "facturx")}
    _move_customer_and_bank(inv)
    inv = Invoice.objects.get(pk=inv.pk)
    assert {fmt: document_bytes(inv, fmt).content for fmt in first} == first
    # e-invoices depend on the frozen data only: even a fresh rendering is byte for byte the same
    assert render_format(inv, "ubl") == first["ubl"] and render_format(inv, "cii") == first["cii"]


def test_a_draft_previews_the_live_values(make_invoice, org):
    draft = make_invoice("en", attachments=False, issue=False)
    _move_customer_and_bank(draft)
    draft = Invoice.objects.get(pk=draft.pk)
    printable = build_printable(draft, as_of=ISSUE)
    assert printable.document.buyer.address_lines == ("88 avenue Foch",)
    assert printable.document.payment_means.iban == NEW_IBAN
    assert draft.document_snapshot == {}  # nothing is frozen before the issue


def test_pdf_and_ubl_show_the_same_buyer_address(make_invoice, org, pdf_text):
    address = "Globex Procurement SA\nService comptabilité fournisseurs\nBP 4711\n69341 Lyon Cedex 07"
    inv = make_invoice("en", attachments=False, invoice_address=address)
    assert inv.billing_address.startswith("Globex")
    printable = build_printable(inv)
    assert printable.buyer_address == ("Globex Procurement SA", "Service comptabilité fournisseurs", "BP 4711",
                                       "69341 Lyon Cedex 07")
    ubl = document_bytes(inv, "ubl").content
    address = BUYER + "cac:PostalAddress/"
    assert [_ubl(ubl, address + tag) for tag in ("cbc:StreetName", "cbc:AdditionalStreetName",
                                                 "cac:AddressLine/cbc:Line", "cbc:PostalZone", "cbc:CityName",
                                                 "cac:Country/cbc:IdentificationCode")] == [
        "Globex Procurement SA", "Service comptabilité fournisseurs", "BP 4711", "69341", "Lyon Cedex 07", "FR"]
    text = pdf_text(document_bytes(inv, "pdf").content)
    for line in printable.buyer_address:
        assert line in text, line
    assert "3 quai Perrache" not in text  # the customer's own address is not the billing address


@pytest.mark.parametrize("text,expected", [
    ("Acme\n3 quai Perrache\n69002 Lyon", (("Acme", "3 quai Perrache"), "69002", "Lyon")),
    ("Stichting Noord\nDamrak 1\n1012 AB Amsterdam", (("Stichting Noord", "Damrak 1"), "1012 AB", "Amsterdam")),
    ("Northwind Ltd\n1 King Street\nEC2V 8AU London", (("Northwind Ltd", "1 King Street"), "EC2V 8AU", "London")),
    ("Müller GmbH\nMarienplatz 1\nD-80331 München", (("Müller GmbH", "Marienplatz 1"), "D-80331", "München")),
    ("Accounts payable\n12 rue des Lilas", (("Accounts payable", "12 rue des Lilas"), "", "")),  # no town line
    ("A\nB\nC\nD\n75001 Paris", (("A", "B", "C, D"), "75001", "Paris")),  # EN 16931 has three street lines
])
def test_a_billing_address_is_read_as_street_lines_postcode_and_town(text, expected, customer):
    assert buyer_address(customer, text) == expected
    assert buyer_address(customer, "") == (("3 quai Perrache",), "69002", "Lyon")  # the customer's own


def test_the_bulk_path_freezes_snapshots_with_one_query_for_the_block(org, make_customer, make_contract,
                                                                      doc_settings):
    def issue_block(n: int) -> int:
        items = []
        for _ in range(n):
            customer = make_customer()
            items.append(bulk.BulkInvoice(customer=customer, contract=make_contract(customer),
                                          lines=[L("Subscription", D("1"), D("100"), tax_rate=D("20"))]))
        prepared = [bulk.prepare(org, item, issue_date=ISSUE) for item in items]
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            invoices = bulk.issue_prepared(org, prepared, issue_date=ISSUE)
        for inv in invoices:
            assert inv.document_snapshot["buyer"]["contact_email"].endswith("@client.example")
            assert inv.document_snapshot["seller"]["iban"] == org.iban
        return len(queries)

    issue_block(1)  # the first block also creates the year's number counter
    assert issue_block(2) == issue_block(7)


# --- attachments -------------------------------------------------------------------------------------------
def test_attachments_can_be_added_until_the_first_document_is_stored(make_invoice, org, pdf_text):
    """Every document of an invoice lists the same attachments: they may be added after the issue,
    until the first document is sent or exported, and then never."""
    inv = make_invoice("en")
    services.add_attachment(org, inv.pk, "late-report.pdf", b"%PDF-1.4 late", description="Late report")
    pdf = document_bytes(inv, "pdf").content
    with pytest.raises(InvoiceImmutable, match="its documents are stored"):
        services.add_attachment(org, inv.pk, "later-still.pdf", b"%PDF-1.4 later")
    names = ["late-report.pdf", "service-report.pdf", "timesheet-march.csv"]
    assert [a.filename for a in inv.attachments.all()] == names
    assert all(name in pdf_text(pdf) for name in names)
    ubl = document_bytes(inv, "ubl").content  # exported later: the same attachments as the PDF
    assert etree.fromstring(ubl).xpath("cac:AdditionalDocumentReference/cbc:ID/text()", namespaces=UBL_NSMAP) \
        == names


def test_attachment_types_are_checked_at_upload(make_invoice, org):
    draft = make_invoice("en", issue=False, attachments=False)
    with pytest.raises(AttachmentTypeNotAllowed) as err:
        services.add_attachment(org, draft.pk, "report.docx", b"PK\x03\x04 word")
    message = err.value.message
    assert "'report.docx'" in message and "application/vnd.openxmlformats-officedocument.wordprocessingml" in message
    for allowed in ("application/pdf", "image/png", "image/jpeg", "text/csv",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "application/vnd.oasis.opendocument.spreadsheet"):
        assert allowed in message
    assert err.value.code == "attachment_type_not_allowed"
    with pytest.raises(AttachmentTypeNotAllowed, match="'notes.txt' is of type text/plain"):
        services.add_attachment(org, draft.pk, "notes.txt", b"hello", content_type="text/plain")
    assert not draft.attachments.exists()
    # allowed types, given or guessed from the name (parameters of the content type are ignored)
    csv = services.add_attachment(org, draft.pk, "hours.csv", b"a,b\n", content_type="text/csv; charset=utf-8")
    png = services.add_attachment(org, draft.pk, "photo.png", segno.make("x").png_data_uri().encode())
    assert (csv.content_type, png.content_type) == ("text/csv", "image/png")
    inv = services.issue_invoice(org, draft.pk, issue_date=ISSUE)
    assert document_bytes(inv, "ubl").stored  # the e-invoice embeds them


# --- stored documents are immutable ------------------------------------------------------------------------
def test_stored_documents_cannot_be_changed_or_deleted_in_any_way(make_invoice):
    inv = make_invoice("en", attachments=False)
    stored = document_bytes(inv, "pdf")
    row = StoredDocument.objects.get(invoice=inv, format="pdf")
    with pytest.raises(InvoiceImmutable):
        row.delete()
    with pytest.raises(InvoiceImmutable):
        StoredDocument.objects.filter(invoice=inv).update(content=b"tampered")
    with pytest.raises(InvoiceImmutable):
        StoredDocument.objects.filter(invoice=inv).delete()
    with pytest.raises(InvoiceImmutable):
        StoredDocument.objects.all().delete()
    row.content = b"tampered"
    with pytest.raises(InvoiceImmutable):
        StoredDocument.objects.bulk_update([row], ["content"])
    with pytest.raises(InvoiceImmutable):
        row.save()
    with pytest.raises(InvoiceImmutable):
        StoredDocument.objects.update_or_create(invoice=inv, format="pdf", defaults={"content": b"x"})
    assert bytes(StoredDocument.objects.get(invoice=inv, format="pdf").content) == stored.content
    assert document_bytes(Invoice.objects.get(pk=inv.pk), "pdf").content == stored.content
