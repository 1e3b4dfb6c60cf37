"""Bounces and failures: the provider webhook is routed, an undeliverable reminder becomes a phone task
on the worklist, and a termination letter never cites a reminder that did not arrive."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest

from duly.collections.models import Reminder, Task
from duly.collections.services import assign_policy
from duly.collections.worklist import worklist
from duly.messaging.delivery import deliver_outbox
from duly.messaging.models import Message
from duly.messaging.services import record_bounce

AP = "ap1@client.example"


@pytest.fixture
def late(org, make_customer, make_contract, make_invoice):
    c = make_customer("BOUNCY", name="Bouncy SARL", contacts=[
        {"name": "Camille Martin", "email": AP, "phone": "+33 4 72 00 00 01", "role": "accounts_payable"}])
    assign_policy(org, c, "firm")
    invoice = make_invoice(c, make_contract(c, terms_kind="net", terms_days=30), issued=date(2026, 3, 2))  # due 1 April
    return c, invoice


def _postmark_bounce(client, message_id: str, auth: str):
    body = {"RecordType": "Bounce", "ID": 42, "Type": "HardBounce", "MessageID": message_id, "Email": AP,
            "BouncedAt": "2026-04-02T09:30:00Z", "Description": "The server was unable to deliver your message",
            "Details": "550 5.1.1 mailbox unknown"}
    return client.post("/anymail/postmark/tracking/", data=json.dumps(body), content_type="application/json",
                       HTTP_AUTHORIZATION="Basic " + base64.b64encode(auth.encode()).decode())


def test_a_provider_bounce_webhook_marks_the_reminder_bounced_and_asks_staff_to_phone(org, late, walk, smtp, client,
                                                                                   webhook_secret):
    customer, _ = late
    walk.run(date(2026, 4, 2))
    reminder = Reminder.objects.get(customer=customer, step_code="overdue")
    message = reminder.message
    assert message.status == Message.SENT

    assert _postmark_bounce(client, message.message_id, "hook:wrong").status_code == 400  # not the provider
    assert Message.objects.get(pk=message.pk).status == Message.SENT and not Task.objects.exists()
    for _ in range(2):  # providers retry webhooks: one task all the same
        assert _postmark_bounce(client, message.message_id, "hook:s3cret").status_code == 200
    message.refresh_from_db()
    assert message.status == Message.BOUNCED and "550 5.1.1 mailbox unknown" in message.bounce_reason
    [task] = Task.objects.filter(customer=customer)
    assert (task.kind, task.key, task.reminder, task.message) == ("phone", f"bounce:{message.message_id}", reminder,
                                                                  message)
    assert "+33 4 72 00 00 01" in task.description and AP in task.description and "bounced" in task.description
    [row] = worklist(org, as_of=walk.at(date(2026, 4, 3)))
    assert any(t.startswith("phone: Phone Camille Martin") for t in row.open_tasks)


def test_a_reminder_the_server_refuses_for_good_becomes_a_phone_task_too(org, late, walk, smtp):
    customer, _ = late
    smtp.reject_next(550, "No such mailbox")
    walk.run(date(2026, 4, 2))
    message = Reminder.objects.get(customer=customer, step_code="overdue").message
    message.refresh_from_db()
    assert message.status == Message.FAILED
    assert Task.objects.get(key=f"bounce:{message.message_id}").kind == "phone"


def test_a_thank_you_that_bounces_needs_no_call(org, late, pay, smtp, walk):
    customer, _ = late
    pay(customer, "1000.00", date(2026, 3, 20))
    deliver_outbox(walk.at(date(2026, 3, 20)))
    thanks = Message.objects.get(category="payment")
    record_bounce(thanks.message_id, reason="550 unknown", at=walk.at(date(2026, 3, 20), 11))
    assert not Task.objects.exists()


def test_the_termination_letter_cites_only_the_reminders_that_arrived(org, late, walk, smtp):
    from duly.collections.services import complete_task

    customer, _ = late
    for day in (date(2026, 4, 2), date(2026, 4, 8), date(2026, 4, 15), date(2026, 4, 22)):
        walk.run(day)
    final = Reminder.objects.get(customer=customer, step_code="final_notice").message
    record_bounce(final.message_id, reason="550 5.1.1 mailbox unknown", at=walk.at(date(2026, 4, 15), 12))
    # The final notice never arrived and nobody has phoned: no termination.
    walk.run(date(2026, 5, 6))
    assert not Reminder.objects.filter(customer=customer, step_code="terminate").exists()
    [held] = [p.action for p in walk.results[date(2026, 5, 6)].planned]
    assert held.kind == "skip" and held.step_code == "terminate"
    assert held.reason.startswith("no final notice has reached the customer yet")
    # Staff phone the customer about the final notice: the termination follows.
    complete_task(org, Task.objects.get(key=f"bounce:{final.message_id}").pk, now=walk.at(date(2026, 5, 6), 11))
    walk.run(date(2026, 5, 7))
    letter = next(m for m in smtp.to(AP) if smtp.subject(m).startswith("Résiliation"))
    text = smtp.text_of(letter)
    for arrived in ("2 avril 2026", "8 avril 2026", "22 avril 2026"):
        assert arrived in text
    assert "15 avril 2026" not in text and "Dernier avis" not in text
