"""The learned best hour through the Django layer: learned from responses to reminders only, else the
segment's default hour."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from duly.collections.models import Reminder, SegmentRule
from duly.collections.services import assign_policy, collect
from duly.messaging.delivery import deliver_outbox
from duly.messaging.models import Message
from duly.messaging.rendering import RenderedMessage
from duly.messaging.services import queue_message, record_open
from duly.payments.models import Payment

from .conftest import PARIS

STEP_DAY = date(2026, 4, 2)  # Thursday: the neutral policy's "overdue" step for an invoice due 1 April


def paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), PARIS)


@pytest.fixture
def retail(org, make_customer, make_contract):
    """A retail customer on the neutral policy (each test issues its invoice due 1 April after the history it
    builds: numbers follow issue dates)."""
    SegmentRule.objects.create(organization=org, segment="retail", default_hour=11)
    c = make_customer("SHOP", name="Boutique SARL", segment="retail")
    assign_policy(org, c, "neutral")
    return c, make_contract(c, terms_kind="net", terms_days=30)


def _due_1_april(make_invoice, customer, contract):
    make_invoice(customer, contract, issued=date(2026, 3, 2))


def _message(org, customer, key: str, category: str, created: datetime) -> Message:
    """A past message, sent when it was created (opens are recorded only for sent messages)."""
    contact = customer.contacts.get()
    rendered = RenderedMessage(subject=f"Past {key}", text=f"Dear {contact.name}", html=f"<p>Dear {contact.name}</p>")
    msg, _ = queue_message(org, customer=customer, contact=contact, category=category, template="reminder_neutral",
                           language="fr", rendered=rendered, to_email=contact.email, to_name=contact.name,
                           idempotency_key=key, now=created)
    Message.objects.filter(pk=msg.pk).update(status=Message.SENT, sent_at=created)
    return msg


def _reminder(org, customer, key: str, sent: datetime) -> None:
    Reminder.objects.create(organization=org, customer=customer, policy_code="neutral", step_code=f"past-{key}",
                            invoice_ids=[], idempotency_key=f"past:{key}", channel="email", template="reminder_neutral",
                            tone="neutral", sent_at=sent, reason="history")


def _card_payments_at_14h(org, customer, contract, make_invoice, pay, days):
    for i, day in enumerate(days):
        make_invoice(customer, contract, issued=day - timedelta(days=20), amount="100.00")
        payment = pay(customer, "100.00", day, method="card", external_reference=f"CARD-{i}")
        Payment.objects.filter(pk=payment.pk).update(created_at=paris(day, 14, 10 * i))


def _planned(org, at):
    [action] = [p.action for p in collect(org, as_of=at, dry_run=True).planned if p.action.step_code == "overdue"]
    return action


def test_three_opens_of_past_reminders_around_14h_send_the_reminder_at_14h(org, retail, make_invoice, smtp):
    customer, contract = retail
    _due_1_april(make_invoice, customer, contract)
    for i, day in enumerate((date(2026, 1, 12), date(2026, 2, 9), date(2026, 3, 9))):
        reminder = _message(org, customer, f"old-reminder-{i}", "dunning", paris(day, 9))
        record_open(reminder.message_id, at=paris(day, 14, 5 + 20 * i))
        thanks = _message(org, customer, f"old-thanks-{i}", "payment", paris(day, 9))
        record_open(thanks.message_id, at=paris(day, 10, 15))  # not a response to a reminder: ignored

    early = _planned(org, paris(STEP_DAY, 9))
    assert early.kind == "defer" and early.scheduled_for == paris(STEP_DAY, 14)
    assert "learned best hour 14:00" in early.reason
    collect(org, as_of=paris(STEP_DAY, 14))
    deliver_outbox(paris(STEP_DAY, 14))
    sent = Reminder.objects.get(customer=customer, step_code="overdue")
    assert sent.sent_at == paris(STEP_DAY, 14) and sent.message.sent_at == paris(STEP_DAY, 14)


def test_payments_after_reminders_teach_the_hour(org, retail, make_invoice, pay, smtp):
    customer, contract = retail
    days = (date(2026, 1, 14), date(2026, 2, 11), date(2026, 3, 11))
    for i, day in enumerate(days):
        _reminder(org, customer, str(i), paris(day - timedelta(days=2), 10))
    _card_payments_at_14h(org, customer, contract, make_invoice, pay, days)
    _due_1_april(make_invoice, customer, contract)
    assert _planned(org, paris(STEP_DAY, 9)).scheduled_for == paris(STEP_DAY, 14)


def test_payments_nobody_asked_for_teach_nothing_and_the_segment_default_hour_applies(org, retail, make_invoice, pay,
                                                                                    smtp):
    customer, contract = retail
    _card_payments_at_14h(org, customer, contract, make_invoice, pay,
                          (date(2026, 1, 14), date(2026, 2, 11), date(2026, 3, 11)))
    _due_1_april(make_invoice, customer, contract)
    action = _planned(org, paris(STEP_DAY, 9))
    assert action.kind == "defer" and action.scheduled_for == paris(STEP_DAY, 11)
    assert "segment default hour 11:00" in action.reason
