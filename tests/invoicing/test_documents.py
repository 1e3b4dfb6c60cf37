"""The document snapshot, stored documents, e-invoices with attachments, imports, letters, receipts, statements."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

from duly.domain.errors import (
    Conflict,
    EInvoiceInvalid,
    InvoiceImmutable,
    InvoiceNotIssued,
    MissingDocumentData,
    PayLinkRefused,
    ValidationError,
)
from duly.domain.references import format_rf
from duly.insights.documents import render_statement
from duly.invoicing import services
from duly.invoicing.documents import build_document, document_bytes, import_einvoice, pay_link, store_documents
from duly.invoicing.einvoice.validate import validate_einvoice
from duly.invoicing.einvoice.xmlutil import UBL_NSMAP
from duly.invoicing.models import Invoice, StoredDocument
from duly.invoicing.pdf import render_letter
from duly.messaging.links import read_token
from duly.payments.documents import render_receipt
from duly.payments.services import record_payment

L = services.LineData
EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "en16931-examples"


# --- the snapshot ------------------------------------------------------------------------------------
def test_build_document_maps_the_invoice(make_invoice, org):
    inv = make_invoice("fr")
    doc = build_document(inv)
    assert (doc.type_code, doc.number, doc.issue_date, doc.due_date, doc.currency) == (
        "380", inv.number, date(2026, 3, 31), date(2026, 4, 30), "EUR")
    assert (doc.seller.name, doc.seller.vat_id, doc.seller.country_code) == (org.name, "FR40303265045", "FR")
    assert (doc.buyer.name, doc.buyer.vat_id, doc.buyer.identifier) == ("Globex Procurement SA", "FR61954506077",
                                                                        inv.customer.code)
    # no Peppol address: the e-mail is the contact, never the electronic address (PEPPOL-EN16931-CL008)
    assert doc.buyer.contact_email.endswith("@client.example") and (
        doc.buyer.electronic_address, doc.buyer.electronic_address_scheme) == ("", "")
    assert (doc.order_reference, doc.buyer_accounting_ref, doc.contract_reference) == (
        "PO-4711", "CC-DESIGN-9", inv.contract.reference)
    assert (doc.period_start, doc.period_end) == (date(2026, 3, 1), date(2026, 3, 31))
    assert doc.payment_means.code == "58" and doc.payment_means.remittance_information == inv.rf_reference
    assert doc.payment_means.iban == org.iban
    assert "30 avril 2026" in doc.payment_terms and "12\xa0% par an" in doc.payment_terms  # terms in French
    assert [line.name for line in doc.lines][:2] == ["Design retainer — March 2026", "API calls"]
    assert doc.lines[1].note.startswith("Graduated:") and doc.lines[2].discount_percent == D("10")
    assert [a.filename for a in doc.attachments] == ["service-report.pdf", "timesheet-march.csv"]
    assert doc.attachments[1].content == b"date,hours\n2026-03-02,3.5\n"
    totals = doc.totals()
    assert (totals.tax_exclusive, totals.tax_total, totals.tax_inclusive, totals.payable) == (
        D("4561.75"), D("868.85"), D("5430.60"), D("5430.60"))


def test_amount_already_paid_is_taken_as_of_the_issue_date(make_invoice, org):
    first = make_invoice("en", attachments=False)
    # an overpayment leaves credit that the next invoice uses at issue
    record_payment(org, first.customer, amount="6000.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 4, 2), external_reference="WIRE-1")
    draft = services.create_draft(org, first.customer, [L("Support", D("1"), D("1000"), tax_rate=D("20"))],
                                  contract=first.contract, po_number="PO-1", cost_centre="CC-1",
                                  custom_fields={"Project code": "P"})
    second = services.issue_invoice(org, draft.pk, issue_date=date(2026, 4, 3))
    assert second.paid_minor == 56940  # 6000 - 5430.60
    doc = build_document(second)
    assert doc.prepaid_amount == D("569.40") and doc.totals().payable == D("630.60")
    # a later payment does not change the document
    record_payment(org, first.customer, amount="100.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 4, 20), external_reference="WIRE-2")
    assert build_document(Invoice.objects.get(pk=second.pk)).prepaid_amount == D("569.40")


def test_pay_link_is_stable_signed_and_points_to_the_invoice(make_invoice):
    inv = make_invoice("en", attachments=False)
    link = pay_link(inv)
    assert link.startswith("https://pay.duly.test/p/") and link == pay_link(inv)
    target = read_token(link.rsplit("/", 1)[1])
    assert (target.organization_id, target.customer_id, target.invoice_id) == (inv.organization_id,
                                                                               inv.customer_id, inv.pk)
    with pytest.raises(PayLinkRefused):
        read_token(link.rsplit("/", 1)[1][:-2] + "xx")


# --- stored documents --------------------------------------------------------------------------------
def test_issued_documents_are_rendered_once_and_never_change(make_invoice, org, doc_settings, tmp_path):
    inv = make_invoice("en")
    first = document_bytes(inv, "pdf")
    assert first.stored and StoredDocument.objects.filter(invoice=inv, format="pdf").count() == 1
    # the organization changes its template after the invoice went out
    override = tmp_path / "templates" / "duly" / "documents" / org.slug
    override.mkdir(parents=True)
    (override / "invoice.html").write_text(
        '{% extends "duly/documents/invoice.html" %}{% block terms %}<p>NEW TERMS 2027</p>{% endblock %}')
    doc_settings.DULY_DOCUMENT_TEMPLATE_DIRS = [str(tmp_path / "templates")]
    again = document_bytes(Invoice.objects.get(pk=inv.pk), "pdf")
    assert again.content == first.content and again.sha256 == first.sha256
    from duly.invoicing.documents.store import render_format

    assert b"" != render_format(inv, "pdf") != first.content  # a fresh render would differ
    stored = StoredDocument.objects.get(invoice=inv, format="pdf")
    stored.content = b"tampered"
    with pytest.raises(InvoiceImmutable):
        stored.save()


def test_store_documents_hook_and_drafts(make_invoice):
    inv = make_invoice("en", attachments=False)
    [pdf] = store_documents(inv)
    assert pdf.stored and pdf.filename == f"{inv.number}.pdf"
    draft = make_invoice("en", issue=False, attachments=False)
    with pytest.raises(InvoiceNotIssued):
        store_documents(draft)
    with pytest.raises(InvoiceNotIssued, match="issue it before exporting it as an e-invoice"):
        document_bytes(draft, "ubl")
    assert not StoredDocument.objects.filter(invoice=draft).exists()


def test_ubl_embeds_the_attachments_and_passes_the_official_rules(make_invoice):
    inv = make_invoice("en")
    ubl = document_bytes(inv, "ubl")
    assert ubl.stored and ubl.content_type == "application/xml"
    assert validate_einvoice(ubl.content) == []
    root = etree.fromstring(ubl.content)
    refs = root.findall("cac:AdditionalDocumentReference", UBL_NSMAP)
    assert [r.findtext("cbc:ID", namespaces=UBL_NSMAP) for r in refs] == ["service-report.pdf", "timesheet-march.csv"]
    embedded = refs[1].find("cac:Attachment/cbc:EmbeddedDocumentBinaryObject", UBL_NSMAP)
    assert embedded.get("mimeCode") == "text/csv" and embedded.get("filename") == "timesheet-march.csv"
    assert root.findtext("cbc:DueDate", namespaces=UBL_NSMAP) == "2026-04-30"
    assert root.findtext("cac:PaymentMeans/cbc:PaymentID", namespaces=UBL_NSMAP) == inv.rf_reference


def test_facturx_is_the_stored_pdf_with_the_cii_embedded(make_invoice):
    inv = make_invoice("en")
    facturx = document_bytes(inv, "facturx")
    reader = PdfReader(io.BytesIO(facturx.content))
    xml = reader.attachments["factur-x.xml"][0]
    assert validate_einvoice(xml) == []
    xmp = reader.xmp_metadata.stream.get_data().decode()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp and "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert inv.number in reader.pages[0].extract_text()
    assert document_bytes(inv, "facturx").sha256 == facturx.sha256


def test_missing_buyer_country_fails_every_format_naming_the_field(make_invoice):
    # The customer has no country when the invoice is issued (what documents show is frozen at issue).
    draft = make_invoice("en", attachments=False, issue=False)
    draft.customer.country = ""
    draft.customer.save(update_fields=["country"])
    inv = services.issue_invoice(draft.organization, draft.pk, issue_date=date(2026, 3, 31))
    inv = Invoice.objects.get(pk=inv.pk)
    for fmt in ("pdf", "ubl", "facturx"):
        with pytest.raises(MissingDocumentData, match=r"buyer country \(BT-55\)"):
            document_bytes(inv, fmt)
    assert not StoredDocument.objects.filter(invoice=inv).exists()


# --- import ------------------------------------------------------------------------------------------
def test_import_keeps_allowances_prepaid_amount_and_matches_the_customer(db, doc_settings, org_for_seller,
                                                                         assert_same_invoice, pdf_text):
    xml = (EXAMPLES / "ubl" / "ubl-tc434-example2.xml").read_bytes()
    org = org_for_seller(xml, "salescompany")
    result = import_einvoice(org, xml)
    draft = result.invoice
    assert draft.status == Invoice.DRAFT and draft.number is None and result.customer_created
    assert result.customer.name == "The Buyercompany" and result.customer.tax_id == "NO987654321MVA"
    assert (draft.total_minor, draft.prepaid_minor, draft.allowance_total_minor, draft.charge_total_minor) == (
        180178, 100000, 10000, 10000)
    assert draft.custom_fields["Original invoice number"] == "TOSL108"
    assert_same_invoice(result.source, build_document(draft))
    preview = pdf_text(document_bytes(draft, "pdf").content)  # an imported draft previews like any draft
    for value in ("DRAFT", "TOSL108", "The Buyercompany", "801.78", "1,000.00", "Freight", "Promotion discount",
                  "Penalty percentage 10% from due date"):  # the source's own payment terms, kept verbatim
        assert value in preview, value
    # the same invoice in CII is the same customer, and importing it again is refused
    cii = (EXAMPLES / "cii" / "CII_example2.xml").read_bytes()
    with pytest.raises(Conflict, match="already imported"):
        import_einvoice(org, cii)
    assert Invoice.objects.filter(organization=org).count() == 1


def test_import_refuses_an_invoice_of_another_seller(org, doc_settings):
    xml = (EXAMPLES / "ubl" / "ubl-tc434-example1.xml").read_bytes()
    with pytest.raises(ValidationError, match=r"was issued by De Koksmaat .*not by Atelier Lumière SARL"):
        import_einvoice(org, xml)


def test_import_refuses_totals_that_do_not_add_up(db, doc_settings, org_for_seller):
    xml = (EXAMPLES / "negative" / "ubl_wrong_payable.xml").read_bytes()
    org = org_for_seller((EXAMPLES / "ubl" / "ubl-tc434-example1.xml").read_bytes(), "koksmaat")
    with pytest.raises(EInvoiceInvalid, match="do not add up"):
        import_einvoice(org, xml)


# --- letters, receipts, statements ------------------------------------------------------------------------
@pytest.mark.parametrize("lang,kind,subject,item_label", [
    ("en", "reminder", "Payment reminder", "Total overdue"),
    ("fr", "final_notice", "Mise en demeure avant recouvrement", "Total échu"),
    ("de", "termination", "Kündigung unserer Leistungen wegen Zahlungsverzugs", "Gesamt überfällig"),
    ("ru", "reminder", "Напоминание об оплате", "Итого просрочено"),
    ("es", "reminder", "Recordatorio de pago", "Total vencido"),
])
def test_letters_for_post(make_invoice, org, lang, kind, subject, item_label, pdf_text, save_png):
    inv = make_invoice(lang, attachments=False)
    pdf = render_letter(kind, inv.customer, {
        "date": date(2026, 5, 20), "invoices": [inv], "deadline": date(2026, 5, 30),
        "reference": "DUN-2026-0042", "late_charges": D("40.00"), "effective": date(2026, 6, 1),
    })
    text = pdf_text(pdf)
    for value in (subject, item_label, inv.number, inv.customer.name, inv.customer.code, "3 quai Perrache",
                  "DUN-2026-0042", org.name, org.iban):
        assert value in text, value
    if lang == "en":
        assert "we kindly ask you to pay the total of €5,470.60 by 30 May 2026" in text
        assert "Attention Camille Martin" in text
    if lang == "de":
        assert "mit Wirkung zum 1. Juni 2026" in text and "5.470,60 €" in text
        save_png(pdf, "letter-termination-de")


@pytest.mark.parametrize("kind", ["final_notice", "termination"])
def test_a_letter_cites_only_reminders_it_can_name(make_invoice, kind, pdf_text):
    """A final notice or termination letter says "despite our reminders" only when it can list their
    dates; when no reminder reached the customer (a policy that hands over whatever was sent, say) it
    states the facts without citing any."""
    inv = make_invoice("en", attachments=False)
    facts = {"date": date(2026, 5, 20), "invoices": [inv], "deadline": date(2026, 5, 30),
             "effective": date(2026, 6, 1)}
    first = pdf_text(render_letter(kind, inv.customer, facts))
    assert "reminders" not in first and "reminded" not in first
    assert "The following items remain unpaid." in first and "€5,430.60" in first
    cited = pdf_text(render_letter(kind, inv.customer, {
        **facts, "reminded_on": [date(2026, 5, 2), date(2026, 4, 20)]}))
    assert "Despite our" in cited and "We reminded you on 20 April 2026, 2 May 2026." in cited


def test_letter_needs_its_facts(make_invoice):
    inv = make_invoice("en", attachments=False)
    with pytest.raises(ValidationError, match="'deadline'"):
        render_letter("reminder", inv.customer, {"date": date(2026, 5, 20), "invoices": [inv]})
    with pytest.raises(ValidationError, match="Unknown letter"):
        render_letter("love_letter", inv.customer, {})


def test_receipt_and_statement(make_invoice, org, pdf_text):
    inv = make_invoice("fr", attachments=False)
    payment = record_payment(org, inv.customer, amount="1000.00", currency="EUR", method="bank_transfer",
                             received_on=date(2026, 4, 10), external_reference="VIR-2026-77")
    text = pdf_text(render_receipt(payment))
    for value in ("Reçu de paiement", "10 avril 2026", "Virement bancaire", "VIR-2026-77", "1 000,00 €", inv.number,
                  "4 430,60 €"):
        assert value in text, value
    text = pdf_text(render_statement(inv.customer, as_of=date(2026, 5, 20)))
    for value in ("Relevé de compte", "20 mai 2026", inv.number, "30 avril 2026", "5 430,60 €", "4 430,60 €",
                  "Total dû"):
        assert value in text, value
    assert format_rf(inv.rf_reference) not in text  # statements list items, not payment slips
