"""The terms an invoice freezes at issue read in the customer's language (issue 15, one translation catalogue).

``Invoice.payment_terms_text`` and ``late_terms_text`` are frozen at issue and carried by the e-invoices' payment
terms note (UBL ``cac:PaymentTerms/cbc:Note``, CII ``SpecifiedTradePaymentTerms/Description``: BT-20) and by the
PDF. A French, German, Spanish or Russian customer reads them in their language: the due date in the locale's long
form and, when a weekend or a public holiday moved the due date, the sentence saying from which day (with its
weekday) and why; the late-payment rate, fee and grace days in the locale's numbers and plural forms, whether
issued one by one or by the billing run. The exports still pass the CEN EN 16931 rules. English customers keep
Duly's English sentences byte for byte.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from lxml import etree

from duly.domain.late_fees import describe_policy
from duly.domain.payment_terms import describe
from duly.invoicing import services
from duly.invoicing.documents import document_bytes
from duly.invoicing.documents.i18n import localizer
from duly.invoicing.models import Invoice
from duly.invoicing.pdf import render_invoice_pdf
from duly.invoicing.einvoice import validate as validation
from duly.invoicing.einvoice.xmlutil import CII_NSMAP, UBL_NSMAP

from .conftest import LOCALES, read_pdf_text
from .test_documents_every_language import _english_in

L = services.LineData
#: Net 30 from 5 March 2026 is Saturday 4 April (moved past Easter Monday to Tuesday 7 April); from 1 April 2026
#: it is Friday 1 May, Labour Day in France (moved to Monday 4 May).
WEEKEND, HOLIDAY = date(2026, 3, 5), date(2026, 4, 1)
EXPECTED = {  # (the moved-from day as the language writes it, the due date, the country) per issue date
    "fr": {WEEKEND: ("samedi 4 avril 2026", "7 avril 2026", None),
           HOLIDAY: ("vendredi 1er mai 2026", "4 mai 2026", "France")},
    "de": {WEEKEND: ("Samstag, 4. April 2026", "7. April 2026", None),
           HOLIDAY: ("Freitag, 1. Mai 2026", "4. Mai 2026", "Frankreich")},
    "es": {WEEKEND: ("sábado, 4 de abril de 2026", "7 de abril de 2026", None),
           HOLIDAY: ("viernes, 1 de mayo de 2026", "4 de mayo de 2026", "Francia")},
    "ru": {WEEKEND: ("суббота, 4 апреля 2026", "7 апреля 2026", None),
           HOLIDAY: ("пятница, 1 мая 2026", "4 мая 2026", "Франция")},
}

#: The late terms of the contract below (12 % a year from the due date, and a fixed fee of 40.00 EUR), as frozen.
LATE = {
    "fr": "En cas de retard de paiement : intérêts au taux de 12\xa0% par an à compter de la date d'échéance, plus "
          "des frais fixes de 40,00\xa0€.",
    "de": "Bei Zahlungsverzug: Verzugszinsen von 12\xa0% pro Jahr ab dem Fälligkeitsdatum; außerdem eine feste "
          "Gebühr von 40,00\xa0€.",
    "es": "En caso de demora en el pago: intereses del 12\xa0% anual desde la fecha de vencimiento, más un cargo "
          "fijo de 40,00\xa0€.",
    "ru": "При просрочке оплаты: проценты по ставке 12\xa0% годовых со дня, следующего за сроком оплаты, а также "
          "фиксированный сбор 40,00\xa0€.",
}


def _issue(org, make_customer, make_contract, locale: str, on: date):
    customer = make_customer(name="Globex Procurement SA", locale=locale, tax_id="FR61954506077")
    contract = make_contract(customer, terms_kind="net", terms_days=30, business_day_adjustment="following",
                             late_fee_kind="interest_annual", late_rate_percent=D("12"), late_fixed_fee="40.00")
    draft = services.create_draft(org, customer, [L("Atelier Pro", D("2"), D("300.00"), unit="DAY",
                                                    tax_rate=D("20"))], contract=contract)
    return services.issue_invoice(org, draft.pk, issue_date=on), contract


def _note(xml: bytes, path: str, nsmap) -> str:
    return " ".join(etree.fromstring(xml).xpath(path, namespaces=nsmap))


@pytest.mark.parametrize("lang", ["fr", "de", "es", "ru"])
@pytest.mark.parametrize("on", [WEEKEND, HOLIDAY], ids=["weekend", "holiday"])
def test_the_frozen_payment_terms_and_the_bt20_note_read_in_the_customers_language(
        org, make_customer, make_contract, doc_settings, lang, on):
    invoice, _ = _issue(org, make_customer, make_contract, LOCALES[lang], on)
    moved_from, due, country = EXPECTED[lang][on]
    squashed = " ".join(invoice.payment_terms_text.split())
    assert moved_from in squashed and due in squashed, invoice.payment_terms_text
    if country:  # a public holiday is named as one, in its country
        assert country in squashed, invoice.payment_terms_text
    else:  # a weekend is not called a holiday
        assert not any(name in squashed for name in ("France", "Frankreich", "Francia", "Франция")), squashed
    assert not _english_in(invoice.payment_terms_text, lang), invoice.payment_terms_text

    ubl = document_bytes(invoice, "ubl").content
    cii = document_bytes(invoice, "cii").content
    notes = [_note(ubl, "cac:PaymentTerms/cbc:Note/text()", UBL_NSMAP),
             _note(cii, "//ram:SpecifiedTradePaymentTerms/ram:Description/text()", CII_NSMAP)]
    terms, late = (" ".join(text.split()) for text in (invoice.payment_terms_text, invoice.late_terms_text))
    assert late == " ".join(LATE[lang].split()), invoice.late_terms_text  # 12 % a year and a 40.00 EUR fee
    for note in notes:  # BT-20 carries both terms as frozen, with no English in it
        note = " ".join(note.split())
        assert terms in note and late in note, note
        assert not _english_in(note, lang), note
    assert validation.validate_einvoice(ubl, layers=("xsd", "en16931")) == []
    assert validation.validate_einvoice(cii, layers=("xsd", "en16931")) == []


def test_an_english_customer_keeps_dulys_english_terms_byte_for_byte(org, make_customer, make_contract, doc_settings):
    invoice, contract = _issue(org, make_customer, make_contract, "en_GB", HOLIDAY)
    assert invoice.payment_terms_text == describe(contract.payment_terms(), HOLIDAY) == (
        "Payment due by 4 May 2026 (30 days net; moved from Friday 1 May 2026, a public holiday in FR, "
        "to the next business day)")
    assert invoice.late_terms_text == describe_policy(services.late_policy_for(invoice), "EUR", as_of=HOLIDAY) == (
        "Late payment: interest at 12% per year from the due date, plus a fixed fee of EUR 40.00.")
    printed = read_pdf_text(render_invoice_pdf(invoice))  # the PDF prints the English words as frozen
    assert invoice.late_terms_text in printed and invoice.payment_terms_text in printed


@pytest.mark.parametrize("lang", ["fr", "de", "es", "ru"])
def test_the_pdf_prints_the_late_terms_frozen_at_issue_in_the_customers_language(
        org, make_customer, make_contract, doc_settings, lang):
    invoice, _ = _issue(org, make_customer, make_contract, LOCALES[lang], WEEKEND)
    text = read_pdf_text(render_invoice_pdf(invoice))
    assert LATE[lang] in text, text  # the words of the UBL/CII note, not a second wording
    assert invoice.payment_terms_text in text
    assert not _english_in(text.raw, lang), text
    if lang == "fr":  # a French B2B invoice still carries the €40 indemnity and the no-discount mentions
        assert "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40,00 €." in text
        assert "Pas d’escompte pour paiement anticipé." in text


#: A late-payment grace of 1, 3 and 21 days, in each language's plural forms (Russian: день, дня, дней).
GRACE = {
    "fr": ["au-delà de 1 jour de retard", "au-delà de 3 jours de retard", "au-delà de 21 jours de retard"],
    "de": ["bei mehr als 1 Tag Verzug", "bei mehr als 3 Tagen Verzug", "bei mehr als 21 Tagen Verzug"],
    "es": ["con más de 1 día de retraso", "con más de 3 días de retraso", "con más de 21 días de retraso"],
    "ru": ["при просрочке более 1 дня", "при просрочке более 3 дней", "при просрочке более 21 дня"],
}


def test_the_billing_run_freezes_the_late_terms_in_each_customers_language(org, make_customer, make_contract):
    """Customers whose contracts have the same terms, in five languages: the run words the terms once per language
    (its terms cache is keyed by the locale), each in its numbers and plural forms; English as before."""
    from duly.billing import services as billing

    product = billing.create_product(org, code="PRO", name="Pro plan", tax_category="S", tax_rate=D("20"))
    flat = billing.create_price(org, product, code="pro-flat", currency="EUR",
                                model_config={"model": "flat", "amount": "100.00"})
    for lang, locale in LOCALES.items():
        for grace in (1, 3, 21):
            customer = make_customer(f"{lang.upper()}{grace}", locale=locale)
            contract = make_contract(customer, terms_kind="net", terms_days=30, late_fee_kind="eu_statutory",
                                     reference_rate_percent=D("2.15"), late_grace_days=grace)
            billing.create_subscription(org, customer, [(flat, 1)], start_date=date(2026, 3, 1),
                                        as_of=date(2026, 3, 1), contract=contract)
    billing.run_billing(org, date(2026, 3, 1))
    issued = {i.customer.code: i for i in Invoice.objects.select_related("customer", "contract")}
    assert len(issued) == 15
    for lang, locale in LOCALES.items():
        for grace, words in zip((1, 3, 21), GRACE.get(lang, [None] * 3), strict=True):
            invoice = issued[f"{lang.upper()}{grace}"]
            policy = services.late_policy_for(invoice)
            if lang == "en":  # Duly's English sentence, byte for byte
                assert invoice.late_terms_text == describe_policy(policy, "EUR", as_of=date(2026, 3, 1))
                continue
            assert invoice.late_terms_text == localizer(locale).late_terms(policy, "EUR", as_of=date(2026, 3, 1))
            assert words in invoice.late_terms_text and "10,15\xa0%" in invoice.late_terms_text, invoice.late_terms_text
            assert not _english_in(invoice.late_terms_text, lang), invoice.late_terms_text
