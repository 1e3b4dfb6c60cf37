"""Printed invoices: every field an accounts-payable clerk needs, read back from the PDF, in five languages."""

from __future__ import annotations

import base64
import io
from datetime import date
from decimal import Decimal as D

import pdfplumber
import pytest
import segno

from duly.domain.errors import MissingDocumentData, TemplateError
from duly.domain.references import format_rf
from duly.invoicing import services
from duly.invoicing.documents import build_printable, document_bytes, pay_link
from duly.invoicing.documents.adapter import epc_qr
from duly.invoicing.models import DocumentBranding, Invoice
from duly.invoicing.pdf import render_invoice_pdf

L = services.LineData
ISSUE_DATE = date(2026, 3, 31)

#: What each language must print for the standard test invoice (issued 31 March 2026, net 30,
#: 12 % a year + EUR 40 late fee; 4,561.75 net, 868.85 VAT, 5,430.60 due).
EXPECTED = {
    "en": {
        "words": ["Invoice", "Issue date", "Due date", "Service period", "PO number", "Cost centre", "Balance due",
                  "Already paid", "VAT breakdown", "How to pay", "Bank transfer", "Pay online", "Attachments",
                  "Payment terms", "Late payment"],
        "dates": ["31 March 2026", "30 April 2026", "1 March 2026 – 31 March 2026"],
        "amounts": ["4,561.75", "4,261.75", "852.35", "16.50", "€868.85", "€5,430.60", "2,400.00", "1,562.50",
                    "299.25", "125,000", "0.0125", "3.5", "€0.00"],
        "lines": ["month", "hour", "piece", "10%", "20%", "5.5%"],
        "pay_by": "Please pay €5,430.60 by 30 April 2026.",
        "late": "Late payment: interest at 12% per year from the due date, plus a fixed fee of EUR 40.00.",
        "terms": "Payment due by 30 April 2026 (30 days net).",
    },
    "fr": {
        "words": ["Facture", "Date d'émission", "Date d'échéance", "Période de prestation", "N° de bon de commande",
                  "Centre de coûts", "Reste à payer", "Déjà payé", "Détail de la TVA", "Modalités de paiement",
                  "Virement bancaire", "Paiement en ligne", "Pièces jointes"],
        "dates": ["31 mars 2026", "30 avril 2026", "1 mars 2026 – 31 mars 2026"],
        "amounts": ["4 561,75 €", "4 261,75", "852,35", "16,50", "868,85 €", "5 430,60 €", "125 000", "0,0125", "3,5"],
        "lines": ["mois", "heure", "pièce", "10 %", "20 %", "5,5 %"],
        "pay_by": "Merci de régler 5 430,60 € au plus tard le 30 avril 2026.",
        "late": "En cas de retard de paiement : intérêts au taux de 12 % par an à compter de la date d'échéance, "
                "plus des frais fixes de 40,00 €.",
        "terms": "Paiement au plus tard le 30 avril 2026 (30 jours net).",
    },
    "de": {
        "words": ["Rechnung", "Rechnungsdatum", "Fälligkeitsdatum", "Leistungszeitraum", "Bestellnummer",
                  "Kostenstelle",
                  "Offener Betrag", "Bereits bezahlt", "Umsatzsteuer", "Zahlungsmöglichkeiten", "Überweisung",
                  "Online bezahlen", "Anlagen"],
        "dates": ["31. März 2026", "30. April 2026", "1. März 2026 – 31. März 2026"],
        "amounts": ["4.561,75 €", "4.261,75", "852,35", "16,50", "868,85 €", "5.430,60 €", "125.000", "0,0125", "3,5"],
        "lines": ["Monat", "Std.", "Stück", "10 %", "20 %", "5,5 %"],
        "pay_by": "Bitte überweisen Sie 5.430,60 € bis zum 30. April 2026.",
        "late": "Bei Zahlungsverzug: Verzugszinsen von 12 % pro Jahr ab dem Fälligkeitsdatum; außerdem eine feste "
                "Gebühr von 40,00 €.",
        "terms": "Zahlbar bis zum 30. April 2026 (30 Tage netto).",
    },
}


@pytest.mark.parametrize("lang", ["en", "fr", "de"])
def test_issued_invoice_pdf_shows_every_required_field(make_invoice, org, lang, pdf_text):
    inv = make_invoice(lang)
    assert inv.due_date == date(2026, 4, 30) and inv.issue_date == ISSUE_DATE
    pdf = document_bytes(inv, "pdf").content
    text = pdf_text(pdf)
    expected = EXPECTED[lang]
    # seller and buyer legal details and tax ids
    for value in (org.name, "12 rue des Lilas", "75011 Paris", org.vat_id, "Globex Procurement SA", "3 quai Perrache",
                  "69002 Lyon", "FR61954506077"):
        assert value in text, value
    # number, dates (issue, exact due date, service period), PO number and every field the customer requires
    for value in (inv.number, "PO-4711", "CC-DESIGN-9", "Project code", "PRJ-77", inv.customer.code,
                  *expected["dates"]):
        assert value in text, value
    # lines: description, quantity, unit, unit price, discount, VAT; the tiered price explained
    for value in ("Design retainer — March 2026", "API calls", "Extra hours", "Printed brochures",
                  "Graduated: 0–100,000 calls at 0.0150 = 1,500.00; 100,001–125,000 at 0.0025 = 62.50",
                  *expected["lines"], *expected["amounts"]):
        assert value in text, value
    # labels in the customer's language
    for word in expected["words"]:
        assert word in text, word
    # payment: amount and date, IBAN/BIC with the RF reference, the pay link; terms and late terms in words
    assert expected["pay_by"] in text
    assert org.iban in text and org.bic in text
    assert format_rf(inv.rf_reference) in text
    assert pay_link(inv) in text
    assert expected["terms"] in text
    assert expected["late"] in text
    # attachments listed
    assert "timesheet-march.csv" in text and "Timesheet March 2026" in text and "service-report.pdf" in text


@pytest.mark.parametrize("lang,title,due,label", [
    ("ru", "Счёт", "30 апреля 2026 г.", "К оплате"),
    ("es", "Factura", "30 de abril de 2026", "Importe pendiente"),
])
def test_russian_and_spanish_invoices(make_invoice, lang, title, due, label, pdf_text):
    inv = make_invoice(lang, attachments=False)
    text = pdf_text(render_invoice_pdf(inv))
    for value in (title, due, label, inv.number, format_rf(inv.rf_reference), "12", "40,00 €"):
        assert value in text, value


def test_first_pages_rendered_to_png_for_review(make_invoice, save_png):
    for lang in ("en", "fr"):
        inv = make_invoice(lang)
        png = save_png(document_bytes(inv, "pdf").content, f"invoice-{lang}")
        assert png.stat().st_size > 20_000


def test_preferred_payment_method_comes_first(make_invoice, pdf_text):
    inv = make_invoice("en", preferred="card", attachments=False)
    options = build_printable(inv).payment_options
    assert [o.method for o in options] == ["online", "bank_transfer"]
    assert options[0].preferred and options[0].url == pay_link(inv)
    text = pdf_text(render_invoice_pdf(inv))
    assert text.index("Pay online") < text.index("Bank transfer") < text.index(inv.organization.iban)


def test_cheque_customer_gets_cheque_instructions_first(make_invoice, pdf_text):
    inv = make_invoice("en", preferred="check", attachments=False)
    assert [o.method for o in build_printable(inv).payment_options] == ["check", "bank_transfer", "online"]
    text = pdf_text(render_invoice_pdf(inv))
    assert "Cheques payable to Atelier Lumière SARL" in text


def test_epc_qr_code_carries_beneficiary_iban_amount_and_rf_reference(make_invoice, org):
    inv = make_invoice("en", attachments=False)
    bank = next(o for o in build_printable(inv).payment_options if o.method == "bank_transfer")
    assert bank.qr_png.startswith("data:image/png;base64,")
    expected = (f"BCD\n002\n2\nSCT\n{org.bic}\n{org.name}\n{org.iban}\nEUR5430.6\n\n{inv.rf_reference}")
    qr = epc_qr(name=org.name, iban=org.iban, bic=org.bic, amount=D("5430.60"), reference=inv.rf_reference)
    reference = segno.make_qr(expected.encode("latin-1"), error="m", boost_error=False)
    assert qr.matrix == reference.matrix


def test_no_girocode_for_other_currencies(make_invoice, org, make_customer, make_contract):
    customer = make_customer("GBP", currency="GBP", locale="en_GB")
    draft = services.create_draft(org, customer, [L("Consulting", D("1"), D("100"), tax_rate=D("20"))],
                                  contract=make_contract(customer, currency="GBP"))
    inv = services.issue_invoice(org, draft.pk, issue_date=ISSUE_DATE)
    bank = next(o for o in build_printable(inv).payment_options if o.method == "bank_transfer")
    assert bank.qr_png == "" and bank.iban == org.iban


def test_draft_is_watermarked_and_never_stored(make_invoice, pdf_text):
    draft = make_invoice("en", issue=False)
    rendered = document_bytes(draft, "pdf", as_of=date(2026, 4, 2))
    text = pdf_text(rendered.content)
    assert "DRAFT" in text and "not a valid invoice until issued" in text
    assert "2 May 2026" in text  # previewed as issued on 2 April: net 30
    assert rendered.stored is False and not draft.stored_documents.exists()


def test_credit_note_deposit_and_late_fee_invoices_share_the_template(make_invoice, org, pdf_text, save_png):
    inv = make_invoice("en", attachments=False)
    note = services.create_credit_note(org, inv.pk, reason="Brochures returned", issue_date=date(2026, 4, 5),
                                       lines=[L("Printed brochures (reduced rate)", D("200"), D("1.50"),
                                                tax_rate=D("5.5"))])
    text = pdf_text(render_invoice_pdf(note))
    assert "Credit note" in text and note.number in text
    assert f"This credit note corrects invoice {inv.number} of 31 March 2026." in text
    assert "Amount credited" in text and "€316.50" in text and "How to pay" not in text

    customer = inv.customer
    deposit = services.create_draft(org, customer, [L("Deposit 30 %", D("1"), D("1000"), tax_rate=D("20"))],
                                    kind=Invoice.KIND_DEPOSIT, contract=inv.contract, po_number="PO-4711",
                                    cost_centre="CC-1", custom_fields={"Project code": "PRJ-77"})
    deposit = services.issue_invoice(org, deposit.pk, issue_date=date(2026, 4, 1))
    text = pdf_text(render_invoice_pdf(deposit))
    assert "Deposit invoice" in text and "Deposit to be deducted from the final invoice." in text

    fee = services.create_draft(org, customer, [L("Late-payment interest", D("1"), D("12.50"), tax_category="O")],
                                kind=Invoice.KIND_LATE_FEE, contract=inv.contract, related_invoice=inv,
                                po_number="PO-4711", cost_centre="CC-1", custom_fields={"Project code": "PRJ-77"})
    fee = services.issue_invoice(org, fee.pk, issue_date=date(2026, 5, 31))
    text = pdf_text(render_invoice_pdf(fee))
    assert "Late-payment invoice" in text and f"Late-payment charges for invoice {inv.number}." in text
    save_png(render_invoice_pdf(note), "credit-note-en")


def test_reverse_charge_is_stated(make_invoice, pdf_text):
    inv = make_invoice("de", attachments=False, lines=[
        L("Beratung", D("10"), D("120"), unit="HUR", tax_category="AE"),
    ])
    text = pdf_text(render_invoice_pdf(inv))
    assert "Steuerschuldnerschaft des Leistungsempfängers (Reverse Charge)." in text
    assert "Reverse charge" in text  # the exemption reason in the VAT breakdown


def test_branding_logo_colour_font_and_footer(make_invoice, org, pdf_text):
    from django.core.files.base import ContentFile

    logo = segno.make("Atelier Lumière").png_data_uri(scale=4)
    org.logo.save("atelier.png", ContentFile(base64.b64decode(logo.split(",", 1)[1])), save=False)
    org.brand_color = "#8A1538"
    org.save()
    DocumentBranding.objects.create(organization=org, font_family="DejaVu Serif",
                                    footer_text="SARL au capital de 10 000 € — RCS Paris 303 265 045")
    inv = make_invoice("fr", attachments=False)
    pdf = render_invoice_pdf(inv)
    assert "SARL au capital de 10 000 € — RCS Paris 303 265 045" in pdf_text(pdf)
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[0]
        fonts = {c["fontname"] for c in page.chars}
        colours = {tuple(round(x, 2) for x in c["non_stroking_color"]) for c in page.chars
                   if isinstance(c.get("non_stroking_color"), tuple)}
        images = page.images
    assert any("DejaVu-Serif" in f for f in fonts) and not any("DejaVu-Sans-Bold" in f for f in fonts)
    assert (0.54, 0.08, 0.22) in colours  # #8A1538: the title and headings in the brand colour
    assert len(images) == 2  # the logo and the GiroCode


def test_organization_template_override(make_invoice, org, doc_settings, tmp_path, pdf_text):
    override = tmp_path / "templates" / "duly" / "documents" / org.slug
    override.mkdir(parents=True)
    (override / "invoice.html").write_text(
        '{% extends "duly/documents/invoice.html" %}\n'
        "{% block terms %}{{ super() }}<p>Merci de votre confiance — l'équipe Lumière.</p>{% endblock %}\n"
    )
    doc_settings.DULY_DOCUMENT_TEMPLATE_DIRS = [str(tmp_path / "templates")]
    text = pdf_text(render_invoice_pdf(make_invoice("fr", attachments=False)))
    assert "Merci de votre confiance — l'équipe Lumière." in text and "Date d'échéance" in text


def test_broken_template_names_the_template_and_line(make_invoice, org, doc_settings, tmp_path):
    inv = make_invoice("en", attachments=False)
    override = tmp_path / "templates" / "duly" / "documents" / org.slug
    override.mkdir(parents=True)
    (override / "invoice.html").write_text('{% extends "duly/documents/invoice.html" %}\n\n{% block terms %}{% if %}\n')
    doc_settings.DULY_DOCUMENT_TEMPLATE_DIRS = [str(tmp_path / "templates")]
    with pytest.raises(TemplateError) as err:
        render_invoice_pdf(inv)
    assert err.value.message.startswith(f"Template duly/documents/{org.slug}/invoice.html, line 3:")
    assert err.value.code == "template_error"

    (override / "invoice.html").write_text(
        '{% extends "duly/documents/invoice.html" %}\n{% block terms %}\n<p>{{ no_such_value }}</p>\n{% endblock %}\n'
    )
    with pytest.raises(TemplateError) as err:
        render_invoice_pdf(inv)
    assert f"duly/documents/{org.slug}/invoice.html, line 3" in err.value.message
    assert "no_such_value" in err.value.message


def test_missing_buyer_country_is_named(make_invoice):
    # The customer has no country when the invoice is issued (what documents show is frozen at issue).
    draft = make_invoice("en", attachments=False, issue=False)
    draft.customer.country = ""
    draft.customer.save(update_fields=["country"])
    inv = services.issue_invoice(draft.organization, draft.pk, issue_date=date(2026, 3, 31))
    inv.refresh_from_db()
    with pytest.raises(MissingDocumentData) as err:
        render_invoice_pdf(inv)
    assert "buyer country (BT-55)" in err.value.message
