"""Messages in all five languages, through the Django layer and a real SMTP server, with the amounts
and dates formatted for each customer's locale."""

from __future__ import annotations

from datetime import date

import pytest

from duly.collections.services import assign_policy

FEE_TERMS = {"en": "a fixed fee of €40.00", "fr": "des frais fixes de 40,00\xa0€",
             "de": "eine feste Gebühr von 40,00\xa0€", "ru": "фиксированный сбор 40,00\xa0€",
             "es": "un cargo fijo de 40,00\xa0€"}
CASES = [
    # locale, subject, greeting, amount, due date
    ("en_GB", "Payment reminder: €1,234.56 overdue", "Dear Olivia Smith,", "€1,234.56", "1 April 2026"),
    ("fr_FR", "Relance de paiement : 1\u202f234,56\xa0€ en retard", "Bonjour Olivia Smith,", "1\u202f234,56\xa0€",
     "1 avril 2026"),
    ("de_DE", "Zahlungserinnerung: 1.234,56\xa0€ überfällig", "Guten Tag Olivia Smith,", "1.234,56\xa0€",
     "1. April 2026"),
    ("ru_RU", "Напоминание об оплате: просрочено 1\xa0234,56\xa0€", "Здравствуйте, Olivia Smith!",
     "1\xa0234,56\xa0€", "1 апреля 2026\u202fг."),
    ("es_ES", "Recordatorio de pago: 1.234,56\xa0€ vencido", "Estimado/a Olivia Smith:", "1.234,56\xa0€",
     "1 de abril de 2026"),
]


@pytest.mark.parametrize("locale, subject, greeting, amount, due", CASES)
def test_a_reminder_in_the_customers_language_and_formats(org, make_customer, make_contract, make_invoice, walk,
                                                          smtp, locale, subject, greeting, amount, due):
    lang = locale[:2]
    customer = make_customer(f"L{lang.upper()}", name=f"Client {lang}", locale=locale, contacts=[
        {"name": "Olivia Smith", "email": f"olivia@{lang}.example", "role": "billing"}])
    assign_policy(org, customer, "neutral")
    invoice = make_invoice(customer, make_contract(customer, late_fee_kind="fixed_fee", late_fixed_fee="40.00"),
                           issued=date(2026, 3, 2), amount="1234.56")
    walk.run(date(2026, 4, 2))
    [message] = smtp.to(f"olivia@{lang}.example")
    assert smtp.subject(message) == subject
    text, html = smtp.text_of(message), smtp.html_of(message)
    for part in (text, html):
        assert greeting in part and invoice.number in part and amount in part and due in part
        assert "/p/" in part  # the personal pay link
    assert FEE_TERMS[lang] in text  # the contract's late-fee terms, in words and in the locale
