"""Every document kind, in each of the five languages, has no English in it (issue 15, one translation catalogue).

Each document (invoice, credit note, retainer/deposit invoice, late-fee invoice, receipt, statement of account,
the three letters) is rendered to PDF for a customer reading English, French, German, Russian or Spanish. A
non-English document must not contain any English phrase of the catalogues (the msgids of every app: a missing or
fuzzy translation prints its msgid), nor Duly's English sentences and number formats ("1570.80 EUR"). Names and
the free texts the test itself gives (product names, the credit note's reason) are excepted.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.pofile import read_po

from duly.invoicing import services
from duly.invoicing.pdf import render_invoice_pdf, render_letter
from duly.translation import catalogue_dirs

from .conftest import LOCALES, read_pdf_text

L = services.LineData
ISSUE = date(2026, 3, 31)
#: Free texts the test writes itself (names are not translated): excepted from the check.
NAMES = ["Atelier Lumière SARL", "Globex Procurement SA", "Camille Martin", "Atelier Pro", "Kappa", "Zeta", "Omega",
         "PRJ-77", "Erratum Z-9"]
#: Duly's English words that are not msgids of a catalogue but were once written on documents.
ENGLISH = ["Late-payment", "Late payment", "recovery costs", "Deposit deducted", "Retainer", "per year",
           "days late", "due on", "invoice", "Not subject to VAT", "Advance payment", "drawn down"]
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
#: An amount in English format ("1570.80", "1,234.50"): French, German, Russian and Spanish write a decimal comma.
_ENGLISH_AMOUNT = re.compile(r"(?<![\d.,])\d+(?:,\d{3})*\.\d{2}(?!\d)")
#: English words no document in another language holds (whole words), less the language's own month names
#: (German "April").
_ENGLISH_WORDS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                  "November", "December", "the", "and", "of", "fee", "fees", "flat", "day", "days", "hour",
                  "hours", "unit", "units", "month", "months", "invoice", "payment", "late", "from", "with", "your",
                  "rounded", "prorated"]


def _squash(text: str) -> str:
    return "".join(text.split()).casefold()


def _phrases(language: str) -> set[str]:
    """The English phrases (two words or more, between placeholders) of every catalogue's msgids, squashed, less
    those the language itself writes the same way (``Reverse Charge``)."""
    english, native = set(), []
    for folder in catalogue_dirs():
        path = folder / language / "LC_MESSAGES" / "django.po"
        with Path(path).open("rb") as fh:
            catalog = read_po(fh, locale=language)
        for message in catalog:
            if not message.id:
                continue
            ids = message.id if message.pluralizable else (message.id,)
            strings = message.string if message.pluralizable else (message.string,)
            native += [_squash(s) for s in strings if s]
            for msgid in ids:
                for part in _PLACEHOLDER.split(msgid):
                    words = re.findall(r"[A-Za-z][A-Za-z'-]+", part)
                    if len(words) >= 2 and len(part.strip()) >= 10:
                        english.add(_squash(part.strip(" .,:;()—–-")))
    return {p for p in english if not any(p in s for s in native)}


def _english_in(text: str, language: str) -> list[str]:
    squashed = _squash(text)
    for name in NAMES:
        squashed = squashed.replace(_squash(name), "")
    found = sorted(p for p in _phrases(language) if p in squashed)
    found += [w for w in ENGLISH if _squash(w) in squashed]
    plain = " ".join(text.split())
    for name in NAMES:
        plain = plain.replace(name, "")
    own = {m.casefold() for m in Locale.parse(language).months["format"]["wide"].values()}
    words = [w for w in _ENGLISH_WORDS if w.casefold() not in own]
    found += _ENGLISH_AMOUNT.findall(plain) + re.findall(r"\b(?:" + "|".join(words) + r")\b", plain, re.IGNORECASE)
    return found


@pytest.fixture
def documents(org, make_customer, make_contract, doc_settings):
    """lang -> {kind: PDF text} for every document kind (the late-fee invoice aside, see below)."""
    from duly.billing import services as billing
    from duly.insights.documents import render_statement
    from duly.payments.documents import render_receipt
    from duly.payments.services import record_payment

    def make(lang: str) -> dict[str, str]:
        customer = make_customer(name="Globex Procurement SA", locale=LOCALES[lang], tax_id="FR61954506077")
        contract = make_contract(customer, terms_kind="net", terms_days=30, late_fee_kind="eu_statutory",
                                 reference_rate_percent=D("2.15"), late_grace_days=2)
        lines = [
            L("Atelier Pro", D("2"), D("300.00"), unit="DAY", tax_rate=D("20"),
              period_start=date(2026, 3, 1), period_end=date(2026, 3, 31)),
            L("Kappa", D("30"), D("4.00"), unit="C62", tax_rate=D("20")),
            L("Zeta", D("32"), D("90.00"), unit="HUR", tax_rate=D("10")),
            L("Omega", D("1"), D("50.00"), unit="MON", tax_category="O", tax_rate=D("0")),
        ]
        draft = services.create_draft(org, customer, lines, contract=contract,
                                      service_period=(date(2026, 3, 1), date(2026, 3, 31)))
        invoice = services.issue_invoice(org, draft.pk, issue_date=ISSUE)
        note = services.create_credit_note(org, invoice.pk, reason="Erratum Z-9",
                                           lines=[L("Kappa", D("5"), D("4.00"), unit="C62", tax_rate=D("20"))])
        note = services.issue_invoice(org, note.pk, issue_date=date(2026, 4, 2))
        billing.start_retainer(org, contract, topup_amount="1570.80", threshold="100.00", as_of=date(2026, 4, 1))
        retainer = customer.invoices.get(kind="deposit")
        payment = record_payment(org, customer, amount="1000.00", currency="EUR", method="bank_transfer",
                                 received_on=date(2026, 4, 10), external_reference="VIR-2026-77")
        letter = {"date": date(2026, 5, 20), "invoices": [invoice], "deadline": date(2026, 5, 30),
                  "effective": date(2026, 6, 1), "reminded_on": [date(2026, 5, 2)], "late_charges": D("12.50")}
        pdfs = {
            "invoice": render_invoice_pdf(invoice),
            "credit_note": render_invoice_pdf(note),
            "deposit": render_invoice_pdf(retainer),
            "receipt": render_receipt(payment),
            "statement": render_statement(customer, as_of=date(2026, 5, 20)),
            **{f"letter_{kind}": render_letter(kind, customer, letter)
               for kind in ("reminder", "final_notice", "termination")},
        }
        return {kind: read_pdf_text(pdf).raw for kind, pdf in pdfs.items()}

    return make


@pytest.mark.parametrize("lang", ["fr", "de", "ru", "es"])
def test_no_english_in_any_document_of_a_non_english_customer(documents, lang):
    texts = documents(lang)
    problems = {kind: _english_in(text, lang) for kind, text in texts.items()}
    assert not {k: v for k, v in problems.items() if v}, problems
    invoice = " ".join(texts["invoice"].split())
    # Units and days in their plural forms, dates in the language's long form.
    expected = {"fr": ["2 jours", "30 unités", "32 heures", "1 mois", "1er mars 2026"],
                "de": ["2 Tage", "30 Stück", "32 Std.", "1 Monat", "1. März 2026"],
                "ru": ["2 дн.", "30 шт.", "32 ч", "1 мес.", "1 марта 2026"],
                "es": ["2 días", "30 unidades", "32 horas", "1 mes", "1 de marzo de 2026"]}[lang]
    squashed = _squash(invoice)
    assert all(_squash(value) in squashed for value in expected), (expected, invoice)


def test_the_english_documents_speak_english(documents):
    """The check sees English where it is: the English documents hold the phrases the others must not."""
    texts = documents("en")
    invoice = " ".join(texts["invoice"].split())
    assert _english_in(invoice, "fr") and "2 days" in invoice and "30 units" in invoice and "32 hours" in invoice
    assert "Period: 1 March 2026" in invoice  # English writes no space before a colon
    assert "Retainer" in texts["deposit"] and "Dear" in texts["letter_reminder"]


def test_no_english_in_a_late_fee_invoice(org, make_customer, make_contract, doc_settings):
    from duly.collections.services import assess_late_fees

    customer = make_customer(name="Globex Procurement SA", locale="fr_FR")
    contract = make_contract(customer, terms_kind="net", terms_days=30, late_fee_kind="interest_annual",
                             late_rate_percent=D("12"), late_fixed_fee="40.00")
    draft = services.create_draft(org, customer, [L("Atelier Pro", D("1"), D("1000.00"), tax_rate=D("20"))],
                                  contract=contract)
    services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 1))
    assess_late_fees(org, as_of=date(2026, 6, 1))
    fee = customer.invoices.get(kind="late_fee")
    assert not _english_in(read_pdf_text(render_invoice_pdf(fee)).raw, "fr")


def test_no_english_in_a_billing_run_invoice(org, make_customer, make_contract, doc_settings):
    from duly.billing import services as billing

    customer = make_customer(name="Globex Procurement SA", locale="fr_FR")
    make_contract(customer, terms_kind="net", terms_days=30)
    pro = billing.create_product(org, code="PRO", name="Atelier Pro", tax_category="S", tax_rate=D("20"))
    flat = billing.create_price(org, pro, code="pro-flat", currency="EUR",
                                model_config={"model": "flat", "amount": "100.00"})
    billing.create_subscription(org, customer, [(flat, 1)], start_date=date(2026, 3, 16), as_of=date(2026, 3, 1))
    billing.run_billing(org, date(2026, 3, 16))
    invoice = customer.invoices.get(kind="standard")
    assert not _english_in(read_pdf_text(render_invoice_pdf(invoice)).raw, "fr")


# --- what the billing services write besides the run's lines (credit notes, notices, terms, staff previews) -----
LANGS = ["fr", "de", "ru", "es"]


def _subscribed(org, make_customer, make_contract, lang: str):
    """A customer reading ``lang`` with five seats and an add-on, January invoiced in advance."""
    from duly.billing import services as billing

    customer = make_customer(name="Globex Procurement SA", locale=LOCALES[lang])
    contract = make_contract(customer, terms_kind="net", terms_days=30)
    seats = billing.create_product(org, code="SEATS", name="Atelier Pro", tax_category="S", tax_rate=D("20"))
    addon = billing.create_product(org, code="ADDON", name="Kappa", tax_category="S", tax_rate=D("20"))
    seat = billing.create_price(org, seats, code="seat", currency="EUR",
                                model_config={"model": "per_unit", "unit_price": "10.00"})
    extra = billing.create_price(org, addon, code="kappa", currency="EUR",
                                 model_config={"model": "flat", "amount": "30.00"})
    sub = billing.create_subscription(org, customer, [(seat, 5), (extra, 1)], start_date=date(2026, 1, 1),
                                      as_of=date(2026, 1, 1), contract=contract, reference="PRJ-77")
    billing.run_billing(org, date(2026, 1, 1))
    return customer, sub, seat, extra


@pytest.mark.parametrize("lang", LANGS)
def test_the_credit_notes_of_subscription_changes_give_their_reason_in_the_customers_language(
        org, make_customer, make_contract, doc_settings, lang):
    from duly.billing import services as billing

    customer, sub, seat, extra = _subscribed(org, make_customer, make_contract, lang)
    seat_item, extra_item = sub.items.get(price=seat), sub.items.get(price=extra)
    billing.change_item(org, sub, seat_item.pk, on=date(2026, 1, 21), as_of=date(2026, 1, 20), quantity=2)
    billing.remove_item(org, sub, extra_item.pk, on=date(2026, 1, 22), as_of=date(2026, 1, 20))
    billing.pause_subscription(org, sub, starts_on=date(2026, 1, 24), resumes_on=date(2026, 1, 26),
                               as_of=date(2026, 1, 20))
    billing.cancel_subscription(org, sub, on=date(2026, 1, 28), as_of=date(2026, 1, 20), at_period_end=False,
                                reason="Erratum Z-9")
    notes = list(customer.invoices.filter(kind="credit_note").order_by("pk"))
    assert len(notes) == 4
    reasons = {note.notes: _english_in(note.notes, lang) for note in notes}
    assert not {r: e for r, e in reasons.items() if e}, reasons
    assert all("PRJ-77" in note.notes for note in notes)
    first = notes[0]
    pdf = read_pdf_text(render_invoice_pdf(first)).raw
    assert not _english_in(pdf, lang) and _squash(first.notes) in _squash(pdf)


def test_an_english_customers_credit_note_reasons_stay_english(org, make_customer, make_contract, doc_settings):
    from duly.billing import services as billing

    customer, sub, seat, _ = _subscribed(org, make_customer, make_contract, "en")
    billing.change_item(org, sub, sub.items.get(price=seat).pk, on=date(2026, 1, 21), as_of=date(2026, 1, 20),
                        quantity=2)
    billing.cancel_subscription(org, sub, on=date(2026, 1, 28), as_of=date(2026, 1, 20), at_period_end=False)
    assert [n.notes for n in customer.invoices.filter(kind="credit_note").order_by("pk")] == [
        "Plan change of PRJ-77: Atelier Pro × 5 → Atelier Pro × 2 from 21 January 2026.",
        "PRJ-77 cancelled on 28 January 2026."]


@pytest.mark.parametrize("lang", ["en", *LANGS])
def test_a_price_change_notice_is_written_in_the_customers_language(org, make_customer, make_contract, lang):
    from duly.billing import services as billing
    from duly.billing.models import PriceChangeNotice

    customer, sub, seat, _ = _subscribed(org, make_customer, make_contract, lang)
    billing.schedule_price_change(org, seat, effective_date=date(2026, 3, 1), justification="Erratum Z-9",
                                  new_model_config={"model": "per_unit", "unit_price": "12.00"},
                                  as_of=date(2026, 1, 15))
    notice = PriceChangeNotice.objects.get(customer=customer)
    words = f"{notice.subject}\n{notice.body}"
    if lang == "en":
        assert notice.subject == "Price change for Atelier Pro from 1 March 2026"
        assert "changes from 10.00 EUR per unit to 12.00 EUR per unit. Your first period at the new price: 1–31 " \
               "March 2026." in notice.body and "Why: Erratum Z-9" in notice.body
        return
    assert not _english_in(words, lang), words
    assert "Erratum Z-9" in notice.body and "12,00" in notice.body and "10,00" in notice.body


@pytest.mark.parametrize("lang", LANGS)
def test_the_staff_preview_of_a_change_reads_in_the_staff_users_language(org, make_customer, make_contract, lang):
    """The back office shows a change before it is confirmed in the staff user's language (Django's active one),
    whatever the customer reads: here an English-reading customer."""
    from django.utils import translation

    from duly.billing import services as billing
    from duly.billing.admin_subscriptions import proration_preview

    customer, sub, seat, _ = _subscribed(org, make_customer, make_contract, "en")
    item = sub.items.get(price=seat)
    for quantity in (8, 2):
        change = billing.preview_change(org, sub, item.pk, on=date(2026, 1, 16), quantity=quantity)
        with translation.override("en"):
            english = proration_preview(change)
        with translation.override(lang):
            shown = proration_preview(change)
        words = " ".join([shown["explanation"], shown["summary"], shown["what"],
                          *[f"{label} {amount}" for label, amount in shown["lines"]]])
        assert not _english_in(words, lang), words
        # English for English-reading staff: the words the CLI and the services give
        assert (english["summary"], english["explanation"]) == (change.proration.summary(),
                                                                change.proration.explanation)
        assert english["summary"].startswith("A charge of 15.48 EUR" if quantity == 8 else "A credit note of 15.49 EUR")
    later = billing.preview_change(org, sub, item.pk, on=date(2026, 2, 10), quantity=3)
    with translation.override(lang):
        shown = proration_preview(later)
    assert not _english_in(f"{shown['explanation']} {shown['summary']}", lang)


def test_french_writes_a_space_before_the_colon_of_a_billing_run_line_and_a_document_label(org, make_customer, make_contract,
                                                                       doc_settings):
    """A usage line ("API calls: 1,500 in total…") puts a no-break space before its colon in French, as French
    messages do ("Référence unique du mandat : …"); the other languages write the colon as English does."""
    from datetime import datetime, timezone

    from duly.billing import services as billing
    from duly.billing.usage_services import record_usage_event

    api = billing.create_product(org, code="API", name="Atelier Pro", tax_category="S", tax_rate=D("20"))
    calls = billing.create_metric(org, code="calls", name="Kappa", aggregation="sum")
    price = billing.create_price(org, api, code="calls", currency="EUR", quantity_source="usage", metric=calls,
                                 model_config={"model": "per_unit", "unit_price": "0.10"})
    lines = {}
    for lang in ("en", "fr", "de"):
        customer = make_customer(name=f"Globex {lang}", locale=LOCALES[lang])
        make_contract(customer, terms_kind="net", terms_days=30)
        billing.create_subscription(org, customer, [(price, 1)], start_date=date(2026, 1, 1), as_of=date(2026, 1, 1),
                                    timing="arrears")
        record_usage_event(org, idempotency_key=f"k-{lang}", customer=customer.code, metric="calls", value=1500,
                           timestamp=datetime(2026, 1, 10, 12, tzinfo=timezone.utc))
        billing.run_billing(org, date(2026, 2, 1))
        lines[lang] = customer.invoices.get(kind="standard").lines.get()
    assert lines["en"].description.startswith("Atelier Pro: ") and ": 1500 × 0.10" in lines["en"].explanation
    assert lines["fr"].description.startswith("Atelier Pro\u00a0: ") and "\u00a0: 1" in lines["fr"].explanation
    assert not re.search(r"\w: ", lines["fr"].description + lines["fr"].explanation), lines["fr"].explanation
    assert lines["de"].description.startswith("Atelier Pro: ")


def test_french_documents_put_a_space_before_each_labels_colon(documents):
    """Every "label: value" of a French document (VAT number, period, payment terms, reference...) is written
    "label : value", as in French messages; the English documents keep "label: value"."""
    french = {kind: " ".join(text.split()) for kind, text in documents("fr").items()}
    stuck = {kind: re.findall(r"\w+: \S+", text) for kind, text in french.items()}
    assert not {k: v for k, v in stuck.items() if v}, stuck
    assert "Période : 1er mars 2026" in french["invoice"]
