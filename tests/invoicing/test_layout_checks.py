"""Layout checked by the machine: every document kind (invoice, credit note, deposit invoice, late-fee invoice,
receipt, statement of account and the three letters) in each of the five languages, with long names and long
values (company names, addresses, descriptions, a service period over two years, five VAT rates), rendered
once and read back with pdfplumber:

* no two words overlap (each box shrunk by a small tolerance: kerned neighbours may touch);
* every word lies inside the page's side margins (18 mm left, 16 mm right, documents.css) and its top and
  bottom margins (13 mm; the running footer lives in the bottom margin, above 5 mm from the edge);
* no page holds only a closing sentence: a page's body (above the footer) has at least three lines, an
  invoice's grand total and balance share a page, and the page holding its payment terms holds more than the
  terms (keep-together rules: the totals stay with the last line, the terms with the last payment option).

Every document is rendered in this one test (about 45 PDFs); each fault found is listed with its document,
page and words.
"""

from __future__ import annotations

import io
import os
from collections import defaultdict
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pdfplumber
import pytest

from duly.customers.services import update_organization
from duly.insights.documents import render_statement
from duly.invoicing import services
from duly.invoicing.documents.i18n import localizer
from duly.invoicing.models import Invoice
from duly.invoicing.pdf import LETTER_KINDS, render_invoice_pdf, render_letter
from duly.payments.documents import render_receipt
from duly.payments.services import record_payment

from .conftest import LOCALES

L = services.LineData
MM = 72 / 25.4
PAGE_W, PAGE_H = 210 * MM, 297 * MM
LEFT, RIGHT, TOP = 18 * MM, PAGE_W - 16 * MM, 13 * MM
BOTTOM = PAGE_H - 5 * MM  # the running footer and page number sit in the bottom margin
BODY_BOTTOM = PAGE_H - 22 * MM  # where the body ends and the footer begins
OVERLAP = 0.6  # points each box is shrunk by before two boxes count as overlapping
EDGE = 0.5  # points a glyph box may pass a margin (side bearings)
MIN_BODY_LINES = 3

LONG_SELLER = "Atelier Lumière Conseil en Architecture Intérieure et Design Lumineux SARL"
LONG_BUYER = "Internationale Gesellschaft für Beschaffungsdienstleistungen und Logistikberatung GmbH & Co. KG"
ISSUE = date(2026, 3, 31)
PERIOD = (date(2024, 9, 1), date(2026, 2, 28))  # "1 сентября 2024 г. – 28 февраля 2026 г."


def long_lines() -> list[services.LineData]:
    return [
        L("Conception et coordination de l'éclairage architectural des espaces d'accueil, des salles de réunion "
          "et des circulations du siège social — phase d'avant-projet détaillé", D("1"), D("12400.00"), unit="MON",
          tax_rate=D("20"), period_start=PERIOD[0], period_end=PERIOD[1]),
        L("Hébergement et maintenance de la plateforme de pilotage DALI", D("18"), D("1249.90"), unit="MON",
          tax_rate=D("10"), discount_percent=D("12.5")),
        L("Appels à l'API de supervision énergétique", D("1250000"), D("0.0125"), unit="C62", tax_rate=D("5.5"),
          explanation="Graduated: 0–1,000,000 calls at 0.0150 = 15,000.00; 1,000,001–1,250,000 at 0.0025 = 625.00"),
        L("Ouvrages imprimés et documentation technique reliée", D("1200"), D("11.75"), unit="H87",
          tax_rate=D("2.1")),
        L("Heures de formation des équipes de maintenance sur site", D("37.5"), D("95.00"), unit="HUR",
          tax_rate=D("20")),
        L("Frais de déplacement refacturés à l'euro près", D("1"), D("1873.42"), unit="C62", tax_category="Z",
          tax_rate=D("0")),
    ]


def _customer(org, make_customer, make_contract, lang: str):
    customer = make_customer(
        f"LONG-{lang.upper()}", name=LONG_BUYER, locale=LOCALES[lang], tax_id="FR61954506077",
        address_line1="Zentrallager und Rechnungseingangsstelle, Gebäude C, 4. Obergeschoss, Raum 4.117",
        address_line2="Industriepark Höchst, Brüningstraße 50, Tor Nord", postcode="69002", city="Lyon",
        required_fields=["po_number", "cost_centre"], custom_required_fields=["Project code"],
        contacts=[{"name": "Camille-Alexandrine Martin-Delacroix", "email": f"ap-{lang}@client.example",
                   "role": "accounts_payable"}])
    contract = make_contract(customer, terms_kind="net", terms_days=30, late_fee_kind="interest_annual",
                             late_rate_percent=D("12"), late_fixed_fee="40.00")
    return customer, contract


REFS = dict(po_number="PO-2026-000471-EU-PROCUREMENT", cost_centre="CC-DESIGN-LIGHTING-0009",
            custom_fields={"Project code": "PRJ-2026-LUMIERE-SIEGE-77"})


def _documents(org, make_customer, make_contract) -> dict[str, bytes]:
    """Every document kind in every language (issued in date order: numbers follow issue dates)."""
    made = {lang: _customer(org, make_customer, make_contract, lang) for lang in LOCALES}
    invoices, notes, deposits, fees, payments = {}, {}, {}, {}, {}
    for lang, (customer, contract) in made.items():
        draft = services.create_draft(org, customer, long_lines(), contract=contract, service_period=PERIOD, **REFS)
        invoices[lang] = services.issue_invoice(org, draft.pk, issue_date=ISSUE)
    for lang, (customer, contract) in made.items():
        notes[lang] = services.create_credit_note(
            org, invoices[lang].pk, reason="Ouvrages imprimés retournés", issue_date=date(2026, 4, 5),
            lines=[L("Ouvrages imprimés et documentation technique reliée", D("200"), D("11.75"), tax_rate=D("2.1"))])
    for lang, (customer, contract) in made.items():
        deposit = services.create_draft(
            org, customer, [L("Acompte de 30 % sur la phase de réalisation et de mise en service de l'éclairage",
                              D("1"), D("10000"), tax_rate=D("20"))],
            kind=Invoice.KIND_DEPOSIT, contract=contract, service_period=PERIOD, **REFS)
        deposits[lang] = services.issue_invoice(org, deposit.pk, issue_date=date(2026, 4, 6))
    for lang, (customer, contract) in made.items():
        number = invoices[lang].number
        fee = services.create_draft(
            org, customer, [L(f"Late-payment interest — invoice {number} due 30 April 2026, 1 May 2026 – "
                              "31 May 2026", D("1"), D("312.50"), tax_category="O"),
                            L("Fixed compensation for recovery costs", D("1"), D("40.00"), tax_category="O")],
            kind=Invoice.KIND_LATE_FEE, contract=contract, related_invoice=invoices[lang], **REFS)
        fees[lang] = services.issue_invoice(org, fee.pk, issue_date=date(2026, 5, 31))
    for lang, (customer, contract) in made.items():
        payments[lang] = record_payment(org, customer, amount="1000.00", currency="EUR", method="bank_transfer",
                                        received_on=date(2026, 6, 10), external_reference=f"VIR-2026-000077-SEPA-INST-{lang.upper()}")
    docs = {}
    for lang, (customer, contract) in made.items():
        docs[f"invoice ({lang})"] = render_invoice_pdf(invoices[lang])
        docs[f"credit_note ({lang})"] = render_invoice_pdf(notes[lang])
        docs[f"deposit ({lang})"] = render_invoice_pdf(deposits[lang])
        docs[f"late_fee ({lang})"] = render_invoice_pdf(fees[lang])
        docs[f"receipt ({lang})"] = render_receipt(payments[lang])
        docs[f"statement ({lang})"] = render_statement(customer, as_of=date(2026, 6, 20))
        for kind in LETTER_KINDS:
            docs[f"letter_{kind} ({lang})"] = render_letter(kind, customer, {
                "date": date(2026, 6, 20), "invoices": [invoices[lang], deposits[lang]],
                "deadline": date(2026, 6, 30), "reference": "DUN-2026-000123-STEP-3", "late_charges": D("352.50"),
                "reminded_on": [date(2026, 5, 10), date(2026, 5, 25)], "effective": date(2026, 7, 15)})
    return docs


def _words(page) -> list[dict]:
    return page.extract_words(keep_blank_chars=False, use_text_flow=False, extra_attrs=["size"])


def _overlaps(words: list[dict]) -> list[str]:
    found = []
    boxes = sorted(words, key=lambda w: w["x0"])
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if b["x0"] >= a["x1"] - OVERLAP:
                break
            if (min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > 2 * OVERLAP
                    and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 2 * OVERLAP):
                found.append(f"{a['text']!r} overlaps {b['text']!r}")
    return found


def _outside(words: list[dict]) -> list[str]:
    return [f"{w['text']!r} outside the margins ({w['x0'] / MM:.1f}–{w['x1'] / MM:.1f} mm, "
            f"{w['top'] / MM:.1f}–{w['bottom'] / MM:.1f} mm)"
            for w in words
            if w["x0"] < LEFT - EDGE or w["x1"] > RIGHT + EDGE or w["top"] < TOP - EDGE or w["bottom"] > BOTTOM]


def _body_lines(words: list[dict]) -> list[str]:
    lines: dict[int, list[str]] = defaultdict(list)
    for w in words:
        if w["bottom"] <= BODY_BOTTOM:
            lines[round(w["top"] / 3)].append(w["text"])
    return [" ".join(ws) for _, ws in sorted(lines.items())]


def _squash(text: str) -> str:
    return "".join(text.split()).casefold()


def layout_faults(pdf: bytes, *, together: tuple[str, ...] = (), closing: str = "") -> list[str]:
    """Overlapping words, words outside the margins, a page holding only a line or two; labels of ``together``
    (a grand total and the balance) on different pages; and ``closing`` (the payment terms' label) opening its
    page: the closing terms left alone on a page."""
    faults = []
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        texts = []
        for number, page in enumerate(doc.pages, 1):
            assert (round(page.width), round(page.height)) == (round(PAGE_W), round(PAGE_H))
            words = _words(page)
            faults += [f"page {number}: {f}" for f in _overlaps(words) + _outside(words)]
            body = _body_lines(words)
            texts.append(_squash(" ".join(body)))
            if number > 1 and len(body) < MIN_BODY_LINES:
                faults.append(f"page {number} holds only {body!r}")
    pages = {label: [n for n, text in enumerate(texts, 1) if _squash(label) in text] for label in together}
    if len({tuple(found) for found in pages.values()}) > 1 or any(len(found) != 1 for found in pages.values()):
        faults.append(f"not on one page: {pages}")
    if closing:
        found = [n for n, text in enumerate(texts, 1) if _squash(closing) in text]
        if len(found) != 1 or texts[found[0] - 1].startswith(_squash(closing)):
            faults.append(f"{closing!r} on page(s) {found}, opening its page: the closing terms alone")
    return faults


def closing_labels(name: str, lang: str) -> dict:
    """What an invoice-like document keeps together: its grand total with its balance (or amount credited),
    and its payment terms with what comes before them."""
    loc = localizer(LOCALES[lang])
    if name.startswith("credit_note"):  # states no payment terms
        return {"together": (loc.t("total_incl_tax"), loc.t("total_tax"))}
    if name.startswith(("invoice", "deposit", "late_fee")):
        return {"together": (loc.t("total_incl_tax"), loc.t("balance_due")), "closing": loc.t("payment_terms")}
    return {}


@pytest.mark.django_db
def test_every_document_in_every_language_lays_out_cleanly(org, make_customer, make_contract, doc_settings):
    update_organization(org, name=LONG_SELLER, trading_name="Atelier Lumière — Studio de Conception Lumière",
                        address_line1="Bâtiment B, 3e étage, 128 boulevard de la Villette",
                        address_line2="Cour intérieure, escalier de service", bank_name="Banque Populaire Rives de Paris")
    org.refresh_from_db()
    docs = _documents(org, make_customer, make_contract)
    assert len(docs) == 9 * len(LOCALES)
    faults = {name: found for name, pdf in docs.items()
              if (found := layout_faults(pdf, **closing_labels(name, name[-3:-1])))}
    if os.environ.get("DULY_LAYOUT_ARTIFACTS"):  # a folder to write the PDFs to, for a person to look at
        folder = Path(os.environ["DULY_LAYOUT_ARTIFACTS"])
        folder.mkdir(parents=True, exist_ok=True)
        for name, pdf in docs.items():
            (folder / (name.replace(" (", "-").rstrip(")") + ".pdf")).write_bytes(pdf)
    assert faults == {}


def test_the_checks_see_an_overlap_a_margin_and_a_lone_sentence():
    """The checks themselves, on a page built to break each rule."""
    import weasyprint

    html = ("<html><body style='margin:0'><p>Seite eins</p><p>Zwei</p><p>Drei</p>"
            "<div style='position:absolute; left:0; top:20mm'>Bemessungsgrundlage</div>"
            "<div style='position:absolute; left:20mm; top:21.6mm'>Steuerbetrag</div>"
            "<div style='position:absolute; left:170mm; top:40mm; white-space:nowrap'>30 de abril de 2026 al 31</div>"
            "<div style='page-break-before:always'>Merci de votre confiance.</div></body></html>")
    css = weasyprint.CSS(string="@page { size: A4; margin: 13mm 16mm 22mm 18mm; }")
    pdf = weasyprint.HTML(string=html).write_pdf(stylesheets=[css])
    faults = layout_faults(pdf)
    assert any("'Bemessungsgrundlage' overlaps 'Steuerbetrag'" in f for f in faults), faults
    assert any("outside the margins" in f and "'31'" in f for f in faults), faults
    assert any("page 2 holds only ['Merci de votre confiance.']" in f for f in faults), faults
    assert any("not on one page" in f for f in layout_faults(pdf, together=("Steuerbetrag", "Merci"))), faults
    assert any("'Merci' on page(s) [2], opening its page" in f for f in layout_faults(pdf, closing="Merci")), faults
