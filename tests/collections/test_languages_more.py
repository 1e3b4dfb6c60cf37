"""Thank-yous, termination letters and greetings in French and German through the Django layer and a
real SMTP server, with amounts and dates formatted by Babel for the customer's locale."""

from __future__ import annotations

from datetime import date

import pytest

from duly.collections.models import SpecialDate
from duly.collections.services import assign_policy
from duly.messaging.delivery import deliver_outbox

CASES = {
    "fr": dict(locale="fr_FR", amount="1\u202f234,56\xa0€", paid_on="20 mars 2026",
               thanks="Merci pour votre paiement de 1\u202f234,56\xa0€",
               termination="Résiliation de votre contrat : 1\u202f234,56\xa0€ impayés",
               restore="sous 14 jours, avant le 20 mai 2026", reminded=("2 avril 2026", "8 avril 2026"),
               greeting="la fête de Client fr : meilleurs vœux de Atelier Lumière SARL", greeting_day="16 mai 2026"),
    "de": dict(locale="de_DE", amount="1.234,56\xa0€", paid_on="20. März 2026",
               thanks="Vielen Dank für Ihre Zahlung von 1.234,56\xa0€",
               termination="Kündigung Ihres Vertrags: 1.234,56\xa0€ offen",
               restore="innerhalb von 14 Tagen, bis zum 20. Mai 2026", reminded=("2. April 2026", "8. April 2026"),
               greeting="la fête de Client de: herzliche Grüße von Atelier Lumière SARL",
               greeting_day="16. Mai 2026"),
}


@pytest.fixture(params=sorted(CASES))
def lang(request):
    return request.param


@pytest.fixture
def client_in(lang, org, make_customer, make_contract):
    c = make_customer(f"L{lang.upper()}", name=f"Client {lang}", locale=CASES[lang]["locale"], contacts=[
        {"name": "Olivia Smith", "email": f"olivia@{lang}.example", "role": "billing"}])
    return c, make_contract(c, late_fee_kind="none")


def test_a_thank_you_in_the_customers_language(lang, client_in, make_invoice, pay, walk, smtp):
    customer, contract = client_in
    invoice = make_invoice(customer, contract, issued=date(2026, 3, 2), amount="1234.56")
    pay(customer, "1234.56", date(2026, 3, 20))
    deliver_outbox(walk.at(date(2026, 3, 20)))
    [message] = smtp.to(f"olivia@{lang}.example")
    case = CASES[lang]
    assert smtp.subject(message) == case["thanks"]
    for part in (smtp.text_of(message), smtp.html_of(message)):
        assert "Olivia Smith" in part and invoice.number in part and case["amount"] in part
        assert case["paid_on"] in part


def test_a_termination_letter_in_the_customers_language(lang, org, client_in, make_invoice, walk, smtp):
    customer, contract = client_in
    assign_policy(org, customer, "firm")
    invoice = make_invoice(customer, contract, issued=date(2026, 3, 2), amount="1234.56")  # due 1 April
    walk.firm_steps(until=date(2026, 5, 6))  # overdue, fee, final notice, suspension, termination
    case = CASES[lang]
    [letter] = [m for m in smtp.to(f"olivia@{lang}.example") if smtp.subject(m) == case["termination"]]
    for part in (smtp.text_of(letter), smtp.html_of(letter)):
        assert invoice.number in part and case["amount"] in part and case["restore"] in part
        assert all(day in part for day in case["reminded"])


def test_a_greeting_in_the_customers_language(lang, org, client_in, walk, smtp):
    customer, _ = client_in
    SpecialDate.objects.create(organization=org, customer=customer, label=f"la fête de {customer.name}",
                               date=date(2010, 5, 16))
    walk.days(date(2026, 5, 15), date(2026, 5, 18))  # Saturday 16 May: greeted on Monday 18 May
    [message] = smtp.to(f"olivia@{lang}.example")
    case = CASES[lang]
    assert smtp.subject(message) == case["greeting"]
    for part in (smtp.text_of(message), smtp.html_of(message)):
        assert "Olivia Smith" in part and case["greeting_day"] in part
