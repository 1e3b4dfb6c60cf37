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
from duly.invoicing.documents.adapter import epc_qr, epc_qr_png
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
        "dates": ["31 mars 2026", "30 avril 2026", "1er mars 2026 – 31 mars 2026"],
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
    "ru": {
        "words": ["Счёт", "Дата выставления", "Срок оплаты", "Период оказания услуг", "Номер заказа",
                  "Центр затрат", "Номер клиента", "К оплате", "Уже оплачено", "Расчёт НДС", "Способы оплаты",
                  "Банковский перевод", "Оплата онлайн", "Приложения", "Условия оплаты", "Просрочка оплаты",
                  "Назначение платежа"],
        "dates": ["31 марта 2026 г.", "30 апреля 2026 г.", "1 марта 2026 г. – 31 марта 2026 г."],
        "amounts": ["4 561,75 €", "4 261,75", "852,35", "16,50", "868,85 €", "5 430,60 €", "2 400,00", "1 562,50",
                    "299,25", "125 000", "0,0125", "0,00 €"],
        "lines": ["1 мес.", "3,5 ч", "200 шт.", "10 %", "20 %", "5,5 %"],
        "pay_by": "Просим оплатить 5 430,60 € не позднее 30 апреля 2026 г.",
        "late": "При просрочке оплаты: проценты по ставке 12 % годовых со дня, следующего за сроком оплаты, "
                "а также фиксированный сбор 40,00 €.",
        "terms": "Оплата не позднее 30 апреля 2026 г. (30 дней).",
    },
    "es": {
        "words": ["Factura", "Fecha de emisión", "Fecha de vencimiento", "Periodo de servicio", "N.º de pedido",
                  "Centro de coste", "N.º de cliente", "Importe pendiente", "Ya pagado", "Desglose del IVA",
                  "Formas de pago", "Transferencia bancaria", "Pago en línea", "Anexos", "Condiciones de pago",
                  "Demora en el pago"],
        "dates": ["31 de marzo de 2026", "30 de abril de 2026", "1 de marzo de 2026 – 31 de marzo de 2026"],
        "amounts": ["4.561,75 €", "4.261,75", "852,35", "16,50", "868,85 €", "5.430,60 €", "2.400,00", "1.562,50",
                    "299,25", "125.000", "0,0125", "0,00 €"],
        "lines": ["1 mes", "3,5 hora", "200 pieza", "10 %", "20 %", "5,5 %"],
        "pay_by": "Le rogamos pague 5.430,60 € a más tardar el 30 de abril de 2026.",
        "late": "En caso de demora en el pago: intereses del 12 % anual desde la fecha de vencimiento, más un cargo "
                "fijo de 40,00 €.",
        "terms": "Pago a más tardar el 30 de abril de 2026 (30 días netos).",
    },
}


@pytest.mark.parametrize("lang", ["en", "fr", "de", "ru", "es"])
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
    assert ".." not in text.raw  # no sentence ends twice ("… 2026 г..")


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


@pytest.mark.parametrize("preferred, lang, debit", [
    ("sepa_debit", "en", "SEPA direct debit"),
    ("sepa_debit", "fr", "Prélèvement SEPA"),
    ("ach_debit", "en", "ACH debit"),
])
def test_a_debit_customer_without_a_mandate_is_asked_for_a_transfer_never_promised_a_debit(
        make_invoice, pdf_text, preferred, lang, debit):
    # No mandate (and no ACH at all): nobody will debit this invoice, so it says how to transfer, with the QR code.
    inv = make_invoice(lang, preferred=preferred, attachments=False)
    assert inv.document_snapshot["payment"]["method"] == "bank_transfer"
    options = build_printable(inv).payment_options
    assert [o.method for o in options] == ["bank_transfer", "online"] and options[0].qr_png
    text = pdf_text(render_invoice_pdf(inv))
    assert debit not in text and inv.organization.iban in text and format_rf(inv.rf_reference) in text


@pytest.mark.parametrize("preferred, lang, title, hint", [
    ("cash", "en", "Cash", "Cash payments at our office against a receipt."),
    ("cash", "de", "Barzahlung", "Barzahlung in unserem Büro gegen Quittung."),
])
def test_debit_and_cash_customers_get_their_instructions_first(make_invoice, pdf_text, preferred, lang, title,
                                                               hint):
    inv = make_invoice(lang, preferred=preferred, attachments=False)
    options = build_printable(inv).payment_options
    assert [o.method for o in options] == [preferred, "bank_transfer", "online"]
    assert options[0].preferred and not any(o.preferred for o in options[1:])
    text = pdf_text(render_invoice_pdf(inv))
    assert hint in text
    # the preferred way first, with its hint under its title; the other ways after it
    bank = {"en": "Bank transfer", "fr": "Virement bancaire", "de": "Überweisung"}[lang]
    online = {"en": "Pay online", "fr": "Paiement en ligne", "de": "Online bezahlen"}[lang]
    assert text.index(title) < text.index(hint) < text.index(bank) < text.index(inv.organization.iban)
    assert text.index(hint) < text.index(online)


def test_epc_qr_code_carries_beneficiary_iban_amount_and_rf_reference(make_invoice, org):
    inv = make_invoice("en", attachments=False)
    bank = next(o for o in build_printable(inv).payment_options if o.method == "bank_transfer")
    assert bank.qr_png.startswith("data:image/png;base64,")
    expected = (f"BCD\n002\n2\nSCT\n{org.bic}\n{org.name}\n{org.iban}\nEUR5430.6\n\n{inv.rf_reference}")
    qr = epc_qr(name=org.name, iban=org.iban, bic=org.bic, amount=D("5430.60"), reference=inv.rf_reference)
    reference = segno.make_qr(expected.encode("latin-1"), error="m", boost_error=False)
    assert qr.matrix == reference.matrix


def _credit_settled_invoice(make_invoice, org):
    """An invoice of 1,200.00 that customer credit (an earlier overpayment) settles 569.40 of when it is issued."""
    from duly.payments.services import record_payment

    first = make_invoice("en", attachments=False)
    record_payment(org, first.customer, amount="6000.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 4, 2), external_reference="WIRE-1")
    draft = services.create_draft(org, first.customer, [L("Support", D("1"), D("1000"), tax_rate=D("20"))],
                                  contract=first.contract, po_number="PO-1", cost_centre="CC-1",
                                  custom_fields={"Project code": "P"})
    inv = services.issue_invoice(org, draft.pk, issue_date=date(2026, 4, 3))
    assert inv.status == Invoice.PARTIALLY_PAID and inv.paid_minor == 56940
    return inv


def _printed_qr_modules(pdf: bytes) -> list[list[bool]]:
    """The QR code printed on the first page, module by module (the PNG has one pixel per module)."""
    from pypdf import PdfReader

    page = PdfReader(io.BytesIO(pdf)).pages[0]
    [qr] = [img.image for img in page.images if img.image.width == img.image.height]
    gray = qr.convert("L")
    return [[gray.getpixel((x, y)) < 128 for x in range(gray.width)] for y in range(gray.height)]


@pytest.mark.parametrize("paid", ["unpaid", "partially_paid"])
def test_the_printed_girocode_pays_the_balance_due_with_the_rf_reference(paid, make_invoice, org):
    inv = make_invoice("en", attachments=False) if paid == "unpaid" else _credit_settled_invoice(make_invoice, org)
    printable = build_printable(inv)
    balance = printable.balance_due
    assert balance == {"unpaid": D("5430.60"), "partially_paid": D("630.60")}[paid]
    bank = next(o for o in printable.payment_options if o.method == "bank_transfer")
    assert bank.qr_png == epc_qr_png(name=org.name, iban=org.iban, bic=org.bic, amount=balance,
                                     reference=inv.rf_reference)
    # EPC069-12: service tag, version, character set (2 = ISO 8859-1), SCT, BIC, name, IBAN, amount, purpose, RF
    payload = f"BCD\n002\n2\nSCT\n{org.bic}\n{org.name}\n{org.iban}\nEUR{balance.normalize()}\n\n{inv.rf_reference}"
    expected = segno.make_qr(payload.encode("latin-1"), error="m", boost_error=False)
    assert [[bool(m) for m in row] for row in expected.matrix] == _printed_qr_modules(
        document_bytes(inv, "pdf").content)


def test_already_paid_deposit_and_balance_due_are_printed(make_invoice, org, pdf_text):
    from django.db import transaction

    from duly.invoicing import bulk

    inv = _credit_settled_invoice(make_invoice, org)
    text = pdf_text(document_bytes(inv, "pdf").content)
    assert "Already paid −€569.40" in text and "Balance due €630.60" in text and "Total incl. VAT €1,200.00" in text
    assert "Please pay €630.60 by 3 May 2026." in text and "Deposit / credit deducted" not in text

    # a deposit deducted by the billing run (bulk path: prepaid amount BT-113)
    customer = inv.customer
    customer.required_fields, customer.custom_required_fields = [], []
    item = bulk.BulkInvoice(customer=customer, contract=inv.contract, prepaid_minor=50000,
                            lines=[L("Platform — April 2026", D("1"), D("2500"), tax_rate=D("20"))])
    with transaction.atomic():
        [deducted] = bulk.issue_prepared(org, [bulk.prepare(org, item, issue_date=date(2026, 4, 30))],
                                         issue_date=date(2026, 4, 30))
    deducted = Invoice.objects.get(pk=deducted.pk)
    text = pdf_text(document_bytes(deducted, "pdf").content)
    # 2,500 + 20 % = 3,000.00, less the deposit of 500.00 (the customer's credit was used up above)
    assert deducted.document_snapshot["paid_minor"] == 0
    assert "Total incl. VAT €3,000.00" in text and "Deposit / credit deducted −€500.00" in text
    assert "Already paid €0.00" in text and "Balance due €2,500.00" in text
    assert text.index("Deposit / credit deducted") < text.index("Already paid") < text.index("Balance due")


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
    # The exemption reason in the VAT breakdown, in the customer's language (not English: issue 15).
    assert "Reverse Charge Reverse Charge" in str(text) and "Reverse charge" not in str(text)


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


def test_png_artefacts_fail_instead_of_skipping_in_ci_without_pdftoppm(monkeypatch, save_png):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="pdftoppm .* missing in CI"):
        save_png(b"%PDF-1.7", "never-written")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        save_png(b"%PDF-1.7", "never-written")


def test_letter_recipient_sits_in_the_address_window(make_invoice, org):
    """The name and address fall inside the window of the letter CSS (DIN 5008 form B: 20 mm from the left,
    45 mm from the top, 85 × 45 mm), so they show through a window envelope."""
    import re

    from duly.invoicing.pdf import PACKAGE_TEMPLATES, render_letter

    css = (PACKAGE_TEMPLATES / "duly" / "documents").joinpath
    window = re.search(r"\.letter \.window \{[^}]*top: ([\d.]+)mm; left: ([\d.]+)mm; width: ([\d.]+)mm; "
                       r"height: ([\d.]+)mm", css("letter.html").read_text())
    margins = re.search(r"@page \{[^}]*margin: ([\d.]+)mm ([\d.]+)mm ([\d.]+)mm ([\d.]+)mm",
                        css("documents.css").read_text())
    top, left, width, height = (float(x) for x in window.groups())
    page_top, _, _, page_left = (float(x) for x in margins.groups())
    box_mm = (page_left + left, page_top + top, page_left + left + width, page_top + top + height)
    assert box_mm == (20, 45, 105, 90)  # DIN 5008 form B
    mm = 72 / 25.4
    tolerance = 0.01  # points: PDF coordinates are rounded
    x0, y0 = box_mm[0] * mm - tolerance, box_mm[1] * mm - tolerance
    x1, y1 = box_mm[2] * mm + tolerance, box_mm[3] * mm + tolerance

    inv = make_invoice("en", attachments=False)
    pdf = render_letter("reminder", inv.customer, {"date": date(2026, 5, 20), "invoices": [inv],
                                                   "deadline": date(2026, 5, 30)})
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        words = doc.pages[0].extract_words(keep_blank_chars=True, use_text_flow=True)
    recipient = ["Globex Procurement SA", "Attention Camille Martin", "3 quai Perrache", "69002 Lyon"]
    for line in recipient:
        hits = [w for w in words if line in w["text"]]
        assert hits, line
        first = min(hits, key=lambda w: w["top"])  # the address block comes before any mention in the body
        assert x0 <= first["x0"] and first["x1"] <= x1 and y0 <= first["top"] and first["bottom"] <= y1, (
            line, first, (x0, y0, x1, y1))
