"""The payment terms an invoice freezes at issue read in the customer's language (issue 15, one translation catalogue).

``Invoice.payment_terms_text`` (like ``late_terms_text``, still English) is frozen at issue and carried by the e-invoices' payment
terms note (UBL ``cac:PaymentTerms/cbc:Note``, CII ``SpecifiedTradePaymentTerms/Description``: BT-20). A French,
German, Spanish or Russian customer reads them in their language, the due date in the locale's long form and, when
a weekend or a public holiday moved the due date, the sentence saying from which day (with its weekday) and why.
The exports still pass the CEN EN 16931 rules. English customers keep Duly's English sentence byte for byte.
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
from duly.invoicing.einvoice import validate as validation
from duly.invoicing.einvoice.xmlutil import CII_NSMAP, UBL_NSMAP

from .conftest import LOCALES
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
    for note in notes:  # BT-20 carries the terms as frozen; no English besides the late terms (not yet translated)
        note = " ".join(note.split())
        assert terms in note, note
        assert not _english_in(note.replace(late, ""), lang), note
    assert validation.validate_einvoice(ubl, layers=("xsd", "en16931")) == []
    assert validation.validate_einvoice(cii, layers=("xsd", "en16931")) == []


def test_an_english_customer_keeps_dulys_english_terms_byte_for_byte(org, make_customer, make_contract, doc_settings):
    invoice, contract = _issue(org, make_customer, make_contract, "en_GB", HOLIDAY)
    assert invoice.payment_terms_text == describe(contract.payment_terms(), HOLIDAY) == (
        "Payment due by 4 May 2026 (30 days net; moved from Friday 1 May 2026, a public holiday in FR, "
        "to the next business day)")
    assert invoice.late_terms_text == describe_policy(services.late_policy_for(invoice), "EUR", as_of=HOLIDAY)
