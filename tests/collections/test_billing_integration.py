"""Collections and billing: price-change notices are delivered; termination cancels subscriptions."""

from __future__ import annotations

from datetime import date

from duly.billing import services as billing
from duly.billing.models import PriceChangeNotice, Subscription
from duly.collections.models import Reminder
from duly.collections.services import assign_policy, collect
from duly.messaging.models import Message


def hosting(org):
    product = billing.create_product(org, code="HOST", name="Hébergement Pro", tax_rate=20)
    return billing.create_price(org, product, code="host-eur", currency="EUR",
                                model_config={"model": "flat", "amount": "49.00"})


def test_a_price_change_notice_queued_by_billing_is_delivered_once_in_the_customers_language(
        org, customer, contract, walk, smtp):
    price = hosting(org)
    billing.create_subscription(org, customer, [(price, 1)], start_date=date(2026, 1, 1), as_of=date(2026, 1, 1))
    billing.schedule_price_change(org, price, effective_date=date(2026, 6, 1), as_of=date(2026, 4, 1),
                                  new_model_config={"model": "flat", "amount": "54.00"},
                                  justification="Sauvegardes quotidiennes et support 24/7.")
    notice = PriceChangeNotice.objects.get(customer=customer)
    # 30 days before 1 June is Saturday 2 May; Friday 1 May is Labour Day: the last business day is 30 April.
    assert notice.send_on == date(2026, 4, 30)
    walk.run(date(2026, 4, 29))
    assert smtp.messages == []  # not before its day
    walk.run(date(2026, 4, 30))
    walk.run(date(2026, 5, 4))
    [message] = smtp.to("ap1@client.example")
    assert smtp.subject(message) == "Évolution du prix de Hébergement Pro à partir du 1 juin 2026"
    text = smtp.text_of(message)
    assert "passe de 49,00\xa0€ à 54,00\xa0€" in text and "Sauvegardes quotidiennes et support 24/7." in text
    notice.refresh_from_db()
    assert notice.status == PriceChangeNotice.SENT
    assert Message.objects.filter(idempotency_key=f"price-notice:{notice.pk}").count() == 1


def test_termination_cancels_the_customers_subscriptions(org, customer, contract, make_invoice, walk, smtp):
    price = hosting(org)
    sub = billing.create_subscription(org, customer, [(price, 1)], start_date=date(2026, 1, 1),
                                      as_of=date(2026, 1, 1), reference="SUB-ACME-1")
    assign_policy(org, customer, "firm")
    make_invoice(customer, contract, issued=date(2026, 3, 2))  # due 1 April; terminate step on 6 May
    walk.firm_steps(until=date(2026, 5, 6))
    sub.refresh_from_db()
    assert sub.status == Subscription.CANCELED and sub.canceled_on == date(2026, 5, 6)
    reminder = Reminder.objects.get(customer=customer, step_code="terminate")
    assert "subscriptions cancelled: SUB-ACME-1" in reminder.reason
    # Dry runs write nothing, and running again does nothing twice.
    before = (Reminder.objects.count(), Message.objects.count())
    collect(org, as_of=walk.at(date(2026, 5, 6)), dry_run=True)
    walk.run(date(2026, 5, 6))
    assert (Reminder.objects.count(), Message.objects.count()) == before
