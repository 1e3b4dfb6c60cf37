"""The customer's pages (the account page, pay-now and the methods page) in all five languages: words from the
portal's and messaging's gettext catalogues, with right plurals, and no English sentence in the other four."""

from __future__ import annotations

import html
import re
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from duly.invoicing import services as inv
from duly.messaging.links import pay_url
from duly.portal import views

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "messaging"))
from test_catalogues import ENGLISH, LOCALES, TRANSLATED  # noqa: E402

OVERDUE = {"en": ("1 day overdue", "2 days overdue"), "fr": ("1 jour de retard", "2 jours de retard"),
           "de": ("1 Tag überfällig", "2 Tage überfällig"), "ru": ("1 день просрочки", "2 дня просрочки"),
           "es": ("1 día de retraso", "2 días de retraso")}
TITLE = {"en": "Your account with", "fr": "Votre compte chez", "de": "Ihr Kundenkonto bei", "ru": "Ваш счёт в",
         "es": "Su cuenta con"}


def _text(response) -> str:
    body = response.content.decode()
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _english_in(text: str) -> list[str]:
    return sorted(f for f in ENGLISH if re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text))


@pytest.mark.parametrize("lang", sorted(LOCALES))
def test_the_customer_pages_read_in_the_customers_language(client, org, make_customer, make_contract, monkeypatch,
                                                           lang):
    customer = make_customer(f"P{lang.upper()}", locale=LOCALES[lang])
    contract = make_contract(customer)
    issued = []
    for amount, day in (("100.00", date(2026, 3, 2)), ("40.00", date(2026, 3, 3))):
        draft = inv.create_draft(org, customer, [inv.LineData("Orion", Decimal(1), Decimal(amount))],
                                 contract=contract)
        issued.append(inv.issue_invoice(org, draft.pk, issue_date=day))
    first, second = issued
    # one day after the second invoice's due date: the first is 2 days overdue, the second 1 day
    now = datetime.combine(second.due_date + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc) \
        + timedelta(hours=12)
    assert (second.due_date - first.due_date).days == 1
    monkeypatch.setattr(views, "clock", lambda: now)
    link = urlsplit(pay_url(org.pk, customer.pk, made_on=now.date())).path

    account = client.get(link)
    assert account.status_code == 200
    page = _text(account)
    one, two = OVERDUE[lang]
    assert one in page and two in page and TITLE[lang] in page
    pages = {"account": page, "pay": _text(client.get(f"{link}/pay")), "methods": _text(client.get(f"{link}/methods"))}
    assert first.number in pages["pay"]
    if lang != "en":
        for name, text in pages.items():
            assert _english_in(text) == [], f"{lang} {name} page: English in {text[:400]}"
    else:
        assert "Pay now" in page and "How you pay future invoices" in pages["methods"]


def test_the_pay_now_errors_read_in_the_customers_language():
    from duly.domain.errors import ValidationError
    from duly.portal.paynow import error_message

    err = ValidationError("x", code="invalid_iban")
    texts = {lang: error_message(err, lang) for lang in LOCALES}
    assert texts["en"] == "This IBAN is not valid. Check it and try again."
    assert texts["de"] == "Diese IBAN ist ungültig. Prüfen Sie sie und versuchen Sie es erneut."
    assert len(set(texts.values())) == len(LOCALES)
    for lang in TRANSLATED:
        assert _english_in(error_message(ValidationError("x", code="no_such_code"), lang)) == []


def test_a_refused_link_answers_in_the_language_the_browser_asks_for(client):
    for accept, heading in (("", "This link cannot be opened"), ("fr-FR,fr;q=0.9", "Ce lien ne peut pas être ouvert"),
                            ("de", "Dieser Link kann nicht geöffnet werden"), ("ru", "Эту ссылку нельзя открыть"),
                            ("es-ES", "Este enlace no se puede abrir"), ("ja", "This link cannot be opened")):
        headers = {"HTTP_ACCEPT_LANGUAGE": accept} if accept else {}
        resp = client.get("/p/not-a-token", **headers)
        assert resp.status_code == 404 and heading in resp.content.decode()
        if accept and not accept.startswith("ja"):
            assert _english_in(_text(resp)) == []
