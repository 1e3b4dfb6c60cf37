"""Calendar walks through the Django layer, Tryton style: a date, the events, what Duly does.

Every walk runs the dunning run (``collect``) and the outbox worker each day at 10:00 Paris time
against a real SMTP server (aiosmtpd) and reads what it received. The customers are French
(Europe/Paris, French public holidays, French texts and number formats).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from duly.collections.models import CustomerProfile, Dispute, LateFee, Reminder, SegmentRule, Task
from duly.collections.services import ensure_setup, open_dispute, record_promise, resolve_dispute
from duly.customers.models import Customer
from duly.invoicing.models import Invoice
from duly.messaging.delivery import deliver_outbox
from duly.messaging.models import Message

AP = "ap1@client.example"  # the accounts-payable contact of the first customer made by make_customer


def settle_history(smtp, walk, day):
    """Deliver what setting up the history queued (thank-yous) and forget it."""
    deliver_outbox(walk.at(day))
    smtp.messages.clear()


def subjects(smtp, address=AP):
    return smtp.subjects(address)


@pytest.fixture
def acme(make_customer):
    return make_customer("ACME", name="Acme Industries SAS")


@pytest.fixture
def acme_contract(acme, make_contract):
    return make_contract(acme, terms_kind="net", terms_days=30, late_fee_kind="interest_annual",
                         late_rate_percent=Decimal("12"), late_fixed_fee="40.00")


def test_a_reliable_payer_gets_one_gentle_pre_due_note_and_a_thank_you(acme, acme_contract, make_invoice, pay,
                                                                        walk, smtp):
    # History: three invoices paid before their due date -> the tone rule gives "gentle".
    for issued in (date(2026, 1, 5), date(2026, 2, 2), date(2026, 3, 2)):
        make_invoice(acme, acme_contract, issued=issued)
        pay(acme, "1000.00", issued + timedelta(days=20))
    settle_history(smtp, walk, date(2026, 4, 14))
    invoice = make_invoice(acme, acme_contract, issued=date(2026, 4, 15))  # due Friday 15 May

    def events(day):
        if day == date(2026, 5, 13):
            pay(acme, "1000.00", day, external_reference="VIR-0513")

    walk.days(date(2026, 4, 15), date(2026, 5, 31), on_day=events)

    received = smtp.to(AP)
    assert [smtp.subject(m) for m in received] == [
        f"Échéance prochaine : {invoice.number} le 15 mai 2026",  # Tuesday 12 May: due date - 3 days
        "Merci pour votre paiement de 1\u202f000,00\xa0€",
    ]
    note = smtp.text_of(received[0])
    assert "Bonjour Camille Martin" in note and invoice.number in note and "1\u202f000,00\xa0€" in note
    assert "http://127.0.0.1:8000/p/" in note and "12\xa0% par an" in note  # pay link, late-fee terms
    sent = walk.results[date(2026, 5, 12)].planned
    assert [(p.action.kind, p.action.step_code, p.policy) for p in sent] == [("send", "coming_due", "gentle")]
    assert "tone rule: 0 of 3" in sent[0].policy_reason
    thanks = smtp.text_of(received[1])
    assert invoice.number in thanks and "Consulting" in thanks and "13 mai 2026" in thanks


def test_a_chronic_late_payer_climbs_the_firm_steps_to_termination_and_payment_restores_them(
        acme, acme_contract, make_invoice, pay, walk, smtp):
    # History: two invoices paid weeks late -> the tone rule gives "firm".
    for issued in (date(2026, 1, 5), date(2026, 2, 2)):
        make_invoice(acme, acme_contract, issued=issued)
        pay(acme, "1000.00", issued + timedelta(days=50))
    settle_history(smtp, walk, date(2026, 3, 24))
    invoice = make_invoice(acme, acme_contract, issued=date(2026, 3, 2))  # due Wednesday 1 April
    statuses = {}

    def events(day):
        statuses[day] = Customer.objects.get(pk=acme.pk).status

    walk.days(date(2026, 3, 25), date(2026, 5, 8), on_day=events)

    steps = [(r.sent_at.date(), r.step_code, r.actions) for r in
             Reminder.objects.filter(customer=acme).order_by("sent_at") if invoice.pk in r.invoice_ids]
    assert steps == [
        (date(2026, 3, 27), "coming_due", []),
        (date(2026, 4, 2), "overdue", []),
        (date(2026, 4, 8), "fee", ["assess_late_fee"]),
        (date(2026, 4, 15), "final_notice", ["final_notice"]),
        (date(2026, 4, 22), "suspend", ["suspend"]),
        (date(2026, 5, 6), "terminate", ["terminate"]),
    ]
    assert {r.policy_code for r in Reminder.objects.filter(customer=acme)} == {"firm"}
    # The fee step charged the contract's fixed fee once, on a late-fee invoice that is chased too.
    fee = LateFee.objects.get(invoice=invoice, level="fixed")
    assert fee.amount_minor == 4000 and fee.fee_invoice.related_invoice == invoice
    # Suspended from the suspension step, terminated from the termination step.
    assert statuses[date(2026, 4, 22)] == "active" and statuses[date(2026, 4, 23)] == "suspended"
    assert statuses[date(2026, 5, 6)] == "suspended" and statuses[date(2026, 5, 7)] == "terminated"
    received = subjects(smtp)
    # The fee invoice (issued 8 April, due 8 May) is never demanded before its due date: every message up
    # to the termination on 6 May asks for the 1 000,00 € overdue and lists the fee with its own due date.
    for expected, count in (("Impayé : 1\u202f000,00\xa0€, merci de régler maintenant", 2),  # overdue, fee
                            ("Dernier avis : 1\u202f000,00\xa0€ en retard", 1),
                            ("Service suspendu : 1\u202f000,00\xa0€ impayés", 1),
                            ("Résiliation de votre contrat : 1\u202f000,00\xa0€ impayés", 1),
                            ("Relevé de compte final : 1\u202f000,00\xa0€ dus", 1)):
        assert received.count(expected) == count, (expected, received)
    fee_step = [m for m in smtp.to(AP) if smtp.subject(m).startswith("Impayé")][1]
    assert fee.fee_invoice.number in smtp.text_of(fee_step) and "8 mai 2026" in smtp.text_of(fee_step)
    final_notice = smtp.text_of(next(m for m in smtp.to(AP) if smtp.subject(m).startswith("Dernier avis")))
    assert "votre service sera suspendu" in final_notice and "22 avril 2026" in final_notice
    letter = smtp.text_of(next(m for m in smtp.to(AP) if smtp.subject(m).startswith("Résiliation")))
    for reminded_on in ("27 mars 2026", "2 avril 2026", "8 avril 2026", "15 avril 2026", "22 avril 2026"):
        assert reminded_on in letter  # why: the reminders sent, with their dates
    assert "sous 14 jours, avant le 20 mai 2026" in letter and fee.fee_invoice.number in letter
    profile = CustomerProfile.objects.get(customer=acme)
    assert profile.restore_deadline == date(2026, 5, 20)

    # 12 May: they pay everything within the restore period -> restored automatically, thanked.
    smtp.messages.clear()
    pay(acme, "1040.00", date(2026, 5, 12), external_reference="VIR-RESTORE")
    deliver_outbox(walk.at(date(2026, 5, 12)))
    acme.refresh_from_db()
    assert acme.status == Customer.STATUS_ACTIVE
    assert "restored" in CustomerProfile.objects.get(customer=acme).status_reason
    assert subjects(smtp) == ["Merci pour votre paiement de 1\u202f040,00\xa0€"]


def test_suspension_is_lifted_by_the_payment_that_clears_the_overdue_balance(org, acme, acme_contract,
                                                                            make_invoice, pay, walk, smtp):
    from duly.collections.services import assign_policy

    assign_policy(org, acme, "firm")
    make_invoice(acme, acme_contract, issued=date(2026, 3, 2))  # due 1 April; suspend step on 22 April
    walk.days(date(2026, 3, 31), date(2026, 4, 23))  # overdue, fee, final notice, then the suspension
    acme.refresh_from_db()
    assert acme.status == Customer.STATUS_SUSPENDED
    pay(acme, "500.00", date(2026, 4, 24))  # part payment: still overdue, still suspended
    acme.refresh_from_db()
    assert acme.status == Customer.STATUS_SUSPENDED
    pay(acme, "540.00", date(2026, 4, 27))  # the rest, and the late fee
    acme.refresh_from_db()
    assert acme.status == Customer.STATUS_ACTIVE


def test_a_disputed_invoice_pauses_and_the_answer_is_sent_with_the_credit_note(org, acme, acme_contract,
                                                                             make_invoice, walk, smtp):
    from duly.collections.services import assign_policy

    assign_policy(org, acme, "neutral")
    invoice = make_invoice(acme, acme_contract, issued=date(2026, 3, 2))  # due 1 April
    walk.run(date(2026, 4, 2))
    assert subjects(smtp) == ["Relance de paiement : 1\u202f000,00\xa0€ en retard"]  # overdue step, 2 April

    dispute = open_dispute(org, invoice.pk, question="The second day was cancelled.", opened_by="customer",
                           now=walk.at(date(2026, 4, 3)))
    assert dispute.sla_due_on == date(2026, 4, 8)  # 2 business days from Friday 3: Easter Monday does not count
    walk.days(date(2026, 4, 3), date(2026, 5, 5))
    assert len(subjects(smtp)) == 1  # nothing while the query is open
    skipped = [p.action for p in walk.results[date(2026, 4, 14)].planned]
    assert skipped and all(a.kind == "skip" and "under dispute" in a.reason for a in skipped)

    resolve_dispute(org, dispute.pk, answer="Agreed: we credited the invoice.", credit_note=True,
                    now=walk.at(date(2026, 5, 6)))
    walk.days(date(2026, 5, 6), date(2026, 5, 20))
    answer = smtp.to(AP)[-1]
    assert smtp.subject(answer) == f"Votre question sur la facture {invoice.number} : notre réponse"
    text = smtp.text_of(answer)
    assert "The second day was cancelled." in text and "Agreed: we credited the invoice." in text
    note = Dispute.objects.get(pk=dispute.pk).credit_note
    assert note.number in text
    invoice.refresh_from_db()
    assert invoice.status == Invoice.PAID and len(subjects(smtp)) == 2  # credited: never chased again


def test_a_promise_pauses_and_a_broken_promise_moves_on_to_the_next_step(org, acme, acme_contract, make_invoice,
                                                                        walk, smtp):
    from duly.collections.services import assign_policy

    assign_policy(org, acme, "neutral")  # overdue +1, reminder +10, fee +21 ...
    make_invoice(acme, acme_contract, issued=date(2026, 3, 2))  # due 1 April
    walk.run(date(2026, 4, 2))
    assert len(subjects(smtp)) == 1  # overdue, 2 April
    record_promise(org, acme, promised_date=date(2026, 4, 14), amount="1000.00", now=walk.at(date(2026, 4, 3)))
    walk.days(date(2026, 4, 3), date(2026, 4, 14))
    assert len(subjects(smtp)) == 1  # the reminder due on 11 April is paused
    held = walk.results[date(2026, 4, 13)].planned
    assert held[0].action.kind == "skip" and "promise to pay by 2026-04-14" in held[0].action.reason
    walk.run(date(2026, 4, 15))  # promise broken: nothing was paid
    sent = [p for p in walk.results[date(2026, 4, 15)].planned if p.action.kind == "send"]
    assert [p.action.step_code for p in sent] == ["reminder"]
    assert "promise to pay by 2026-04-14 broken" in sent[0].action.reason
    assert len(subjects(smtp)) == 2
    # Another promise, broken before the next step's date: the next step goes at once.
    record_promise(org, acme, promised_date=date(2026, 4, 17), amount="1000.00", now=walk.at(date(2026, 4, 16)))
    walk.days(date(2026, 4, 16), date(2026, 4, 20))
    sent = [p for p in walk.results[date(2026, 4, 20)].planned if p.action.kind == "send"]
    assert [p.action.step_code for p in sent] == ["fee"]  # fee is due on 22 April: moved forward
    assert "broken" in sent[0].action.reason and len(subjects(smtp)) == 3


def test_two_overdue_invoices_give_one_message(org, acme, acme_contract, make_invoice, walk, smtp):
    from duly.collections.services import assign_policy

    assign_policy(org, acme, "neutral")
    first = make_invoice(acme, acme_contract, issued=date(2026, 3, 2), amount="1000.00")
    second = make_invoice(acme, acme_contract, issued=date(2026, 3, 4), amount="250.50")
    walk.run(date(2026, 4, 7))  # both past "overdue" (+1), neither at "reminder" (+10)
    [message] = smtp.to(AP)
    text = smtp.text_of(message)
    assert first.number in text and second.number in text
    assert "1\u202f250,50\xa0€" in text  # one statement-style total
    html = smtp.html_of(message)
    assert first.number in html and second.number in html
    assert Reminder.objects.get(customer=acme).invoice_ids == sorted([first.pk, second.pk])


def test_no_message_on_a_weekend_a_holiday_or_outside_the_sending_window(org, acme, acme_contract, make_invoice,
                                                                       walk, smtp):
    from duly.collections.services import assign_policy

    assign_policy(org, acme, "neutral")
    make_invoice(acme, acme_contract, issued=date(2026, 3, 31))  # due Thursday 30 April: overdue step 1 May
    for day in (date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)):  # Labour Day, Saturday, Sunday
        walk.run(day, hour=10)
        assert smtp.to(AP) == [], day
    assert "public holiday in FR" in walk.results[date(2026, 5, 1)].planned[0].action.reason
    assert "weekend" in walk.results[date(2026, 5, 2)].planned[0].action.reason
    walk.run(date(2026, 5, 4), hour=7)  # Monday before the window opens (09:00-17:00 Paris)
    walk.run(date(2026, 5, 4), hour=17)
    assert smtp.to(AP) == []
    walk.run(date(2026, 5, 4), hour=11)
    assert len(smtp.to(AP)) == 1


def test_fatigue_limits_hold_over_60_days_of_daily_runs(org, make_customer, make_contract, make_invoice, walk, smtp):
    from duly.collections.services import assign_policy

    customer = make_customer("BUSY", name="Busy Bee SARL")
    contract = make_contract(customer, terms_kind="net", terms_days=30)
    assign_policy(org, customer, "neutral")
    for offset in range(0, 24, 3):  # eight invoices, due every 3 days: their steps keep colliding
        make_invoice(customer, contract, issued=date(2026, 3, 2) + timedelta(days=offset), amount="100.00")
    walk.days(date(2026, 3, 20), date(2026, 5, 18))  # 60 daily runs
    sent = sorted(r.sent_at for r in Reminder.objects.filter(customer=customer))
    assert len(sent) >= 8
    for a, b in zip(sent, sent[1:]):
        assert b - a >= timedelta(hours=48), (a, b)
    for i, start in enumerate(sent):
        assert sum(1 for s in sent[i:] if s < start + timedelta(days=7)) <= 2, start
    address = customer.contacts.get().email
    assert len(smtp.to(address)) == len(sent)  # every reminder e-mail arrived, once


def test_a_hotel_guest_is_reminded_seven_days_before_the_stay(org, make_customer, make_contract, make_invoice,
                                                              walk, smtp):
    ensure_setup(org)
    from duly.collections.models import Policy

    SegmentRule.objects.create(organization=org, segment="hotel", policy=Policy.objects.get(organization=org,
                                                                                           code="hotel"))
    guest = make_customer("GUEST", name="Famille Durand", segment="hotel", locale="en_GB")
    contract = make_contract(guest, terms_kind="net", terms_days=30)
    stay = (date(2026, 7, 20), date(2026, 7, 24))
    invoice = make_invoice(guest, contract, issued=date(2026, 6, 29), amount="640.00", service=stay,
                           description="Double room, 4 nights")  # due 29 July, after the stay
    walk.days(date(2026, 7, 1), date(2026, 7, 19))
    [message] = smtp.to(guest.contacts.get().email)
    assert smtp.subject(message) == "Your booking on 20 July 2026: €640.00 to settle"
    assert [r.sent_at.date() for r in Reminder.objects.filter(customer=guest)] == [date(2026, 7, 13)]
    assert invoice.number in smtp.text_of(message)


def test_a_contact_without_email_falls_back_and_says_so(org, make_customer, make_contract, make_invoice, walk, smtp):
    from duly.collections.services import assign_policy

    customer = make_customer("NOMAIL", name="Sans Courriel SA", contacts=[
        {"name": "Paul AP", "email": "", "role": "accounts_payable", "phone": "+33 1 00 00 00 01"},
        {"name": "Jeanne Billing", "email": "jeanne@sans.example", "role": "billing"},
    ])
    assign_policy(org, customer, "neutral")
    make_invoice(customer, make_contract(customer), issued=date(2026, 3, 2))
    walk.run(date(2026, 4, 2))
    [message] = smtp.to("jeanne@sans.example")
    assert "Bonjour Jeanne Billing" in smtp.text_of(message)
    msg = Message.objects.get(customer=customer)
    assert msg.fallback_note == "contact Paul AP has no email; sent to Jeanne Billing"

    nobody = make_customer("NOBODY", name="Injoignable SARL", contacts=[
        {"name": "Marc Phone", "email": "", "role": "billing", "phone": "+33 6 00 00 00 02"}])
    assign_policy(org, nobody, "neutral")
    make_invoice(nobody, make_contract(nobody), issued=date(2026, 3, 2))
    walk.run(date(2026, 4, 3))
    task = Task.objects.get(customer=nobody)
    assert task.kind == "phone" and "+33 6 00 00 00 02" in task.description
    assert "no contact with email: phone task" in task.description
    assert not Message.objects.filter(customer=nobody).exists()


def test_the_thank_you_says_what_was_paid_for_and_carries_the_receipt(acme, acme_contract, make_invoice, pay, walk,
                                                                       smtp, settings):
    settings.DULY_MESSAGE_PDF_ATTACHMENTS = True
    invoice = make_invoice(acme, acme_contract, issued=date(2026, 5, 4), amount="300.00",
                           service=(date(2026, 4, 1), date(2026, 4, 30)), description="Hébergement avril")
    pay(acme, "300.00", date(2026, 5, 20), external_reference="VIR-0520")
    deliver_outbox(walk.at(date(2026, 5, 20)))
    [thanks] = smtp.to(AP)
    text = smtp.text_of(thanks)
    assert invoice.number in text and "Hébergement avril" in text and "1 avr. 2026 – 30 avr. 2026" in text
    [receipt] = list(thanks.iter_attachments())
    assert receipt.get_filename().startswith("receipt-") and receipt.get_content().startswith(b"%PDF")
