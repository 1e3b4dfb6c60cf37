"""Every message keeps to the customer's sending window, also when it goes out late, and a reminder
whose invoices were paid meanwhile is not sent at all."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from unittest import mock

import pytest

from duly.collections.services import assign_policy, collect, open_dispute, resolve_dispute
from duly.messaging.delivery import deliver_outbox
from duly.messaging.models import Message

from .conftest import PARIS


def paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), PARIS)


FRIDAY, MONDAY = date(2026, 3, 6), date(2026, 3, 9)


@pytest.fixture
def two_late(org, make_customer, make_contract, make_invoice):
    """Two customers whose invoices fell due on Thursday 5 March: the neutral policy's "overdue" step
    is due on Friday 6 March."""
    pair = []
    for code in ("PAYS", "WAITS"):
        c = make_customer(code, name=f"{code.title()} SARL")
        assign_policy(org, c, "neutral")
        pair.append((c, make_invoice(c, make_contract(c, terms_kind="net", terms_days=30), issued=date(2026, 2, 3))))
    return pair


def test_after_a_long_outage_a_paid_reminder_is_cancelled_and_the_other_waits_for_the_next_business_day(
        org, two_late, smtp, pay):
    (payer, paid_invoice), (waiter, _) = two_late
    smtp.stop()  # Friday 15:00-20:00: the mail server is down
    result = collect(org, as_of=paris(FRIDAY, 15))
    assert result.count("send") == 2 and Message.objects.filter(category="dunning").count() == 2
    for minute in (0, 1, 3, 7, 15, 31, 63):  # the worker retries with backoff: 15:00 ... 16:03
        assert deliver_outbox(paris(FRIDAY, 15) + timedelta(minutes=minute)).sent == []
    # 17:03, the next retry: the window closed at 17:00, so both wait for Monday 09:00 (no attempt counted).
    report = deliver_outbox(paris(FRIDAY, 17, 3))
    assert sorted(u for _, u in report.postponed) == [paris(MONDAY, 9)] * 2 and report.deferred == []
    pay(payer, "1000.00", FRIDAY, external_reference="VIR-1730")  # 17:30: PAYS pays in full
    smtp.start()
    assert deliver_outbox(paris(FRIDAY, 20)).sent == []  # the server is back at 20:00: not at night
    assert deliver_outbox(paris(date(2026, 3, 7), 10)).sent == []  # nor on Saturday
    assert smtp.messages == []

    report = deliver_outbox(paris(MONDAY, 9))
    cancelled = Message.objects.get(customer=payer, category="dunning")
    assert cancelled.status == Message.CANCELLED and cancelled.cancelled_at == paris(MONDAY, 9)
    assert cancelled.cancel_reason == ("not sent: all its invoices were closed before it went out "
                                       f"({paid_invoice.number} paid)")
    assert report.cancelled == [(cancelled.message_id, cancelled.cancel_reason)]
    waiting = Message.objects.get(customer=waiter, category="dunning")
    assert waiting.status == Message.SENT and waiting.sent_at == paris(MONDAY, 9)
    assert (waiting.window_timezone, waiting.window_start, waiting.window_end, waiting.window_country) == (
        "Europe/Paris", time(9), time(17), "FR")
    assert len(smtp.to("ap2@client.example")) == 1
    assert [smtp.subject(m) for m in smtp.to("ap1@client.example")] == [
        "Merci pour votre paiement de 1\u202f000,00\xa0€"]  # only the thank-you, on Monday morning
    assert set(smtp.message_ids().values()) == {1}


def test_a_thank_you_for_a_payment_imported_at_3am_waits_for_9am_local(org, customer, contract, make_invoice, pay,
                                                                       smtp):
    make_invoice(customer, contract, issued=date(2026, 3, 2))
    with mock.patch("django.utils.timezone.now", return_value=paris(date(2026, 3, 11), 3)):
        pay(customer, "1000.00", date(2026, 3, 11), external_reference="IMPORT-0300")
    thanks = Message.objects.get(category="payment")
    assert thanks.created_at == paris(date(2026, 3, 11), 3)
    report = deliver_outbox(paris(date(2026, 3, 11), 3, 5))
    assert report.sent == [] and report.postponed == [(thanks.message_id, paris(date(2026, 3, 11), 9))]
    assert deliver_outbox(paris(date(2026, 3, 11), 8, 59)).sent == []
    assert deliver_outbox(paris(date(2026, 3, 11), 9)).sent == [thanks.message_id]


def test_a_dispute_answer_given_on_a_saturday_goes_out_on_monday(org, customer, contract, make_invoice, smtp):
    invoice = make_invoice(customer, contract, issued=date(2026, 3, 2))
    dispute = open_dispute(org, invoice.pk, question="Le tarif horaire est-il correct ?",
                           now=paris(date(2026, 3, 12), 11))
    saturday = date(2026, 3, 14)
    resolve_dispute(org, dispute.pk, answer="Oui, conforme au contrat.", now=paris(saturday, 11))
    assert deliver_outbox(paris(saturday, 11, 5)).postponed[0][1] == paris(date(2026, 3, 16), 9)
    assert deliver_outbox(paris(date(2026, 3, 16), 9, 30)).sent == [Message.objects.get(category="dispute").message_id]


def test_a_price_notice_queued_by_a_late_evening_run_goes_out_in_the_next_window(org, customer, contract, smtp):
    from duly.billing import services as billing

    product = billing.create_product(org, code="HOST", name="Hébergement Pro", tax_rate=20)
    price = billing.create_price(org, product, code="host-eur", currency="EUR",
                                 model_config={"model": "flat", "amount": "49.00"})
    billing.create_subscription(org, customer, [(price, 1)], start_date=date(2026, 1, 1), as_of=date(2026, 1, 1))
    billing.schedule_price_change(org, price, effective_date=date(2026, 6, 1), as_of=date(2026, 4, 1),
                                  new_model_config={"model": "flat", "amount": "54.00"}, justification="Support 24/7.")
    friday = date(2026, 5, 8)  # the notice is due from Saturday 2 May; the run at 23:30 on Friday 8 May queues it
    result = collect(org, as_of=paris(friday, 23, 30))
    assert len(result.notices) == 1
    notice = Message.objects.get(category="notice")
    assert deliver_outbox(paris(friday, 23, 31)).postponed == [(notice.message_id, paris(date(2026, 5, 11), 9))]
    assert deliver_outbox(paris(date(2026, 5, 11), 9)).sent == [notice.message_id]
