"""Relationship messages: birthdays, contract anniversaries and special dates, with opt-outs and fatigue."""

from __future__ import annotations

from datetime import date

from duly.collections.models import Greeting, SpecialDate
from duly.collections.services import assign_policy


def test_birthday_anniversary_and_special_date_greetings(org, make_customer, make_contract, walk, smtp):
    fan = make_customer("FAN", name="Fidèle SA", contacts=[
        {"name": "Léa Fidèle", "email": "lea@fidele.example", "role": "owner", "birthday": date(1985, 5, 12)},
        {"name": "Hugo Discret", "email": "hugo@fidele.example", "role": "billing", "birthday": date(1990, 5, 12),
         "opted_out": True},
    ])
    make_contract(fan, reference="CTR-FAN", start_date=date(2023, 5, 13))
    SpecialDate.objects.create(organization=org, customer=fan, label="la fête de Fidèle", date=date(2010, 5, 16))
    walk.days(date(2026, 5, 11), date(2026, 5, 19))
    assert smtp.subjects("hugo@fidele.example") == []  # opted out
    received = smtp.subjects("lea@fidele.example")
    assert received == [
        "Joyeux anniversaire, Léa Fidèle !",                       # Tuesday 12 May
        # 13 May: the contract anniversary waits: at least 48 h between two messages
        "3 ans ensemble : merci, Fidèle SA",                       # Thursday 14 May is Ascension: Friday 15
        "la fête de Fidèle : meilleurs vœux de Atelier Lumière SARL",  # Saturday 16 -> Monday 18 (fatigue: 48 h)
    ]
    assert Greeting.objects.filter(customer=fan).count() == 3
    walk.run(date(2026, 5, 19), hour=15)
    assert len(smtp.subjects("lea@fidele.example")) == 3  # once per occasion and year


def test_a_greeting_blocked_by_fatigue_past_the_grace_days_is_dropped(org, make_customer,
                                                                                    make_contract, make_invoice,
                                                                                    walk, smtp):
    late = make_customer("BDAY", name="Retard SA", contacts=[
        {"name": "Paul Retard", "email": "paul@retard.example", "role": "accounts_payable",
         "birthday": date(1980, 4, 3)}])
    assign_policy(org, late, "neutral")
    make_invoice(late, make_contract(late), issued=date(2026, 3, 2))  # overdue reminder on Thursday 2 April
    walk.days(date(2026, 4, 2), date(2026, 4, 8))
    # Friday 3 April is 24 h after the reminder; the weekend and Easter Monday follow; Tuesday 7 is
    # beyond the 3 days of grace: no belated wishes a week later.
    assert smtp.subjects("paul@retard.example") == ["Relance de paiement : 1\u202f000,00\xa0€ en retard"]
    assert not Greeting.objects.filter(customer=late).exists()
