"""The self-service pages of the personal link in all five languages: every page (history, statement, the question
and dispute form and its confirmation, billing details and its confirmation, the forms' errors) reads in the language
chosen for the session, with no English sentence in French, German, Russian or Spanish, and right plurals. The pay
page of the same link follows that choice too."""

from __future__ import annotations

import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from duly.domain.errors import DomainError, RateLimited
from duly.invoicing import services as inv
from duly.messaging.links import pay_url
from duly.portal.selfservice import _error_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_portal_languages import TITLE, _english_in, _text  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "messaging"))
from test_catalogues import LOCALES, TRANSLATED  # noqa: E402

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))

#: What each language must say (exactly), so a page in the right language but with the wrong words fails too.
WORDS = {
    "en": {"history": "History of invoices and payments", "statement": "Download the statement (PDF)",
           "ask": "I dispute this invoice or one of its lines", "question": "We will answer by December 10, 2026",
           "details": "Thank you: your request is sent.", "required": "Please fill in the required field.",
           "page": "Page 1 of 2", "month": "End of November 2026"},
    "fr": {"history": "Historique des factures et paiements", "statement": "Télécharger le relevé (PDF)",
           "ask": "Je conteste cette facture ou l'une de ses lignes",
           "question": "Nous vous répondrons d'ici le 10 décembre 2026",
           "details": "Merci : votre demande est envoyée.",
           "required": "Veuillez remplir le champ obligatoire.", "page": "Page 1 sur 2", "month": "Fin novembre 2026"},
    "de": {"history": "Verlauf der Rechnungen und Zahlungen", "statement": "Kontoauszug herunterladen (PDF)",
           "ask": "Ich erhebe Einspruch gegen diese Rechnung oder eine ihrer Positionen",
           "question": "Wir antworten bis zum 10. Dezember 2026",
           "details": "Vielen Dank, Ihre Anfrage wurde gesendet.", "required": "Bitte füllen Sie das Pflichtfeld aus.",
           "page": "Seite 1 von 2", "month": "Ende November 2026"},
    "ru": {"history": "История счетов и платежей", "statement": "Скачать выписку (PDF)",
           "ask": "Я оспариваю этот счёт или одну из его строк", "question": "Мы ответим до 10 декабря 2026 г.",
           "details": "Спасибо, ваш запрос отправлен.", "required": "Заполните обязательное поле.",
           "page": "Страница 1 из 2", "month": "Конец ноября 2026"},
    "es": {"history": "Historial de facturas y pagos", "statement": "Descargar el extracto (PDF)",
           "ask": "Reclamo esta factura o una de sus líneas",
           "question": "Le responderemos antes del 10 de diciembre de 2026",
           "details": "Gracias: su solicitud se ha enviado.", "required": "Rellene el campo obligatorio.",
           "page": "Página 1 de 2", "month": "Fin de noviembre 2026"},
}

#: How many change requests wait, with the plural forms of each language (Russian has three).
WAITING = {
    "en": {1: "1 request waiting for our approval", 2: "2 requests waiting for our approval",
           5: "5 requests waiting for our approval", 21: "21 requests waiting for our approval"},
    "fr": {1: "1 demande en attente de notre validation", 2: "2 demandes en attente de notre validation",
           5: "5 demandes en attente de notre validation", 21: "21 demandes en attente de notre validation"},
    "de": {1: "1 Anfrage wartet auf unsere Freigabe", 2: "2 Anfragen warten auf unsere Freigabe",
           5: "5 Anfragen warten auf unsere Freigabe", 21: "21 Anfragen warten auf unsere Freigabe"},
    "ru": {1: "1 запрос ожидает нашего подтверждения", 2: "2 запроса ожидают нашего подтверждения",
           5: "5 запросов ожидают нашего подтверждения", 21: "21 запрос ожидает нашего подтверждения"},
    "es": {1: "1 solicitud pendiente de nuestra aprobación", 2: "2 solicitudes pendientes de nuestra aprobación",
           5: "5 solicitudes pendientes de nuestra aprobación", 21: "21 solicitudes pendientes de nuestra aprobación"},
}


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    monkeypatch.setattr("duly.portal.views.clock", lambda: NOW)
    monkeypatch.setattr("duly.portal.selfservice.clock", lambda: NOW)


def _submit_key(html: str) -> str:
    marker = 'name="submission" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def _pages(client, org, customer, contract, lang: str) -> dict[str, str]:
    """Every self-service page of an account link, read after choosing ``lang`` on the page, as plain text."""
    from duly.payments.services import record_payment

    base = urlsplit(pay_url(org.pk, customer.pk, made_on=NOW.date())).path
    issued = []
    for n in range(21):  # 21 invoices: two pages of history
        draft = inv.create_draft(org, customer, [inv.LineData("Orion", Decimal(1), Decimal("100")),
                                                 inv.LineData("Vega", Decimal(2), Decimal("20"))], contract=contract)
        issued.append(inv.issue_invoice(org, draft.pk, issue_date=date(2026, 9, 1 + n)))
    record_payment(org, customer, amount="140.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 9, 20), allocations={issued[0].pk: "140.00"})
    record_payment(org, customer, amount="30.00", currency="EUR", method="bank_transfer",
                   received_on=date(2026, 9, 25), allocations={issued[1].pk: "30.00"})
    chosen = client.post(base + "/language", {"language": lang, "next": base + "/history"})
    assert chosen.status_code == 302
    pages: dict[str, str] = {}

    def read(name: str, response, status: int = 200) -> str:
        assert response.status_code == status, (name, response.status_code)
        assert f'<html lang="{lang}">' in response.content.decode(), name
        pages[name] = _text(response)
        return response.content.decode()

    read("pay page", client.get(base))
    read("history", client.get(base + "/history"))
    read("history, page 2", client.get(base + "/history?invoices=2"))
    read("statement", client.get(base + "/statement"))
    invoice = issued[-1]
    ask = f"{base}/invoices/{invoice.pk}/ask"
    form = read("ask form", client.get(ask))
    key = _submit_key(form)
    read("ask, refused", client.post(ask, {"kind": "dispute", "text": "  ", "submission": key}), 400)
    sent = client.post(ask, {"kind": "dispute", "line": invoice.lines.get(description="Vega").pk,
                             "text": "Orion?", "submission": key})
    assert sent.status_code == 302
    read("dispute confirmation", client.get(sent["Location"]))
    question = client.post(f"{base}/invoices/{issued[-2].pk}/ask",
                           {"kind": "question", "text": "Orion?", "submission": "q" * 20})
    read("question confirmation", client.get(question["Location"]))
    details = read("details", client.get(base + "/details"))
    read("details, refused", client.post(base + "/details", {"contact_email": "orion", "submission": "r" * 20}), 400)
    read("details, nothing to change", client.post(base + "/details", {"submission": "s" * 20}), 400)
    read("details, sent", client.post(base + "/details", {"contact_name": "Nina Rossi",
                                                          "submission": _submit_key(details)}))
    read("details, two waiting", client.post(base + "/details", {"po_number": "PO-2027-01",
                                                                 "submission": "t" * 20}))
    return pages


@pytest.mark.parametrize("lang", sorted(LOCALES))
def test_every_self_service_page_reads_in_the_language_chosen_for_the_session(client, org, customer, contract, lang):
    pages = _pages(client, org, customer, contract, lang)
    words = WORDS[lang]
    everything = " ".join(pages.values())
    for key in ("history", "statement", "ask", "question", "details", "required", "page", "month"):
        assert words[key] in everything, (lang, key, everything)
    assert words["question"] in pages["dispute confirmation"] and words["ask"] in pages["ask form"]
    assert words["page"] in pages["history"] and words["month"] in pages["statement"]
    assert WAITING[lang][1] in pages["details, sent"] and WAITING[lang][2] in pages["details, two waiting"]
    assert TITLE[lang] in pages["pay page"] and words["history"] in pages["pay page"]  # the pay page follows
    if lang == "en":
        assert all(_english_in(text) for text in pages.values())  # the detector sees the English pages
        return
    for name, text in pages.items():
        assert _english_in(text) == [], f"{lang} {name}: English in {text[:600]}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_forms_errors_read_in_the_chosen_language(lang):
    codes = ("required", "too_long", "form_expired", "invalid_choice", "invalid_email", "nothing_to_change",
             "invalid_state", "no_such_code")
    with translation.override("en"):
        english = [_error_text(DomainError("x", code=code)) for code in codes] + [_error_text(RateLimited("x"))]
    with translation.override(lang):
        ours = [_error_text(DomainError("x", code=code)) for code in codes] + [_error_text(RateLimited("x"))]
    assert WORDS[lang]["required"] == ours[0]
    for mine, theirs in zip(ours, english, strict=True):
        assert mine != theirs and _english_in(mine) == [], (lang, mine)


@pytest.mark.parametrize("lang", sorted(LOCALES))
def test_the_waiting_requests_count_with_the_plurals_of_the_language(lang):
    from django.template import Context, Template

    heading = Template('{% load i18n %}{% blocktranslate count count=n context "portal" %}{{ count }} request '
                       'waiting for our approval{% plural %}{{ count }} requests waiting for our approval'
                       '{% endblocktranslate %}')
    template = (Path(__file__).resolve().parents[2] / "src" / "duly" / "portal" / "templates" / "portal"
                / "selfservice" / "details.html").read_text(encoding="utf-8")
    # the heading the details page shows
    assert ("{{ count }} request waiting for our approval{% plural %}{{ count }} requests waiting for our approval"
            in template)
    with translation.override(lang):
        assert {n: heading.render(Context({"n": n})) for n in WAITING[lang]} == WAITING[lang]


def test_the_pay_page_reads_in_the_customers_own_locale_until_a_language_is_chosen(client, org, make_customer):
    customer = make_customer("DE", locale="de_DE")
    base = urlsplit(pay_url(org.pk, customer.pk, made_on=NOW.date())).path
    assert TITLE["de"] in _text(client.get(base))
    client.post(base + "/language", {"language": "es", "next": base})
    page = client.get(base)
    assert '<html lang="es">' in page.content.decode() and TITLE["es"] in _text(page)
    # the choice belongs to this customer's links only
    other = make_customer("FR2", locale="fr_FR")
    assert TITLE["fr"] in _text(client.get(urlsplit(pay_url(org.pk, other.pk, made_on=NOW.date())).path))
