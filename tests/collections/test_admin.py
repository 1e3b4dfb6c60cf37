"""Back office: the worklist, the collections page of a customer, the query queue with its SLA."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from duly.collections.models import Dispute, PromiseToPay
from duly.collections.services import assign_policy, collect, open_dispute
from duly.messaging.models import Message


def at(day):
    return datetime.combine(day, time(10), ZoneInfo("Europe/Paris"))


def test_worklist_and_customer_page(bookkeeper, org, customer, contract, make_invoice):
    assign_policy(org, customer, "neutral")
    invoice = make_invoice(customer, contract, issued=date(2026, 3, 2))
    collect(org, as_of=at(date(2026, 4, 2)))
    page = bookkeeper.get(reverse("admin:collections_worklist")).content.decode()
    assert "ACME" in page and "1000.00 EUR" in page and "reminder" in page
    url = reverse("admin:collections_customer_page", args=[customer.pk])
    page = bookkeeper.get(url).content.decode()
    assert invoice.number in page and "Relance de paiement" in page and "Next planned action" in page

    resp = bookkeeper.post(url, {"promise": "1", "promise-promised_date": "2099-01-15", "promise-amount": "1000",
                                 "promise-note": "CFO promised"}, follow=True)
    assert "Promise to pay recorded" in resp.content.decode()
    assert list(PromiseToPay.objects.get(customer=customer).invoices.all()) == [invoice]
    resp = bookkeeper.post(url, {"query": "1", "query-invoice": invoice.pk, "query-question": "Which PO?",
                                 "query-opened_by": "customer"}, follow=True)
    assert "Query opened" in resp.content.decode()
    resp = bookkeeper.post(url, {"query": "1", "query-invoice": invoice.pk, "query-question": "Again?",
                                 "query-opened_by": "staff"}, follow=True)
    assert "already has an open query" in resp.content.decode()  # a domain error, shown as a message


def test_the_query_queue_highlights_late_answers_and_resolving_notifies_the_customer(bookkeeper, org, customer,
                                                                                   contract, make_invoice,
                                                                                   monkeypatch):
    from duly.collections.admin import DisputeAdmin

    invoice = make_invoice(customer, contract, issued=date(2026, 3, 2))
    dispute = open_dispute(org, invoice.pk, question="Duplicate of March?", now=at(date(2026, 3, 10)))
    monkeypatch.setattr(DisputeAdmin, "clock", staticmethod(lambda: at(date(2026, 3, 12))))
    page = bookkeeper.get(reverse("admin:collections_dispute_changelist")).content.decode()
    assert "(late)" not in page and "2026-03-12" in page  # due two business days after 10 March: today
    monkeypatch.setattr(DisputeAdmin, "clock", staticmethod(lambda: at(date(2026, 3, 13))))
    page = bookkeeper.get(reverse("admin:collections_dispute_changelist")).content.decode()
    assert "(late)" in page
    url = reverse("admin:collections_dispute_resolve", args=[dispute.pk])
    assert bookkeeper.get(url).status_code == 200
    bookkeeper.post(url, {"answer": "Not a duplicate: it covers April."})
    dispute.refresh_from_db()
    assert dispute.status == Dispute.RESOLVED and dispute.answered_at == at(date(2026, 3, 13))
    assert dispute.answered_late(at(date(2026, 3, 20))) is True
    message = Message.objects.get(idempotency_key=f"dispute-answer:{dispute.pk}")
    assert "Not a duplicate: it covers April." in message.text and message.to_email == "ap1@client.example"


def test_a_broken_template_is_a_form_error_with_its_line(bookkeeper):
    resp = bookkeeper.post(reverse("admin:messaging_messagetemplate_add"), {
        "name": "thank_you", "language": "en", "category": "payment",
        "source": "{% block subject %}Thanks{% endblock %}\n{% block text %}\n{{ paymnt.amount }}\n{% endblock %}"
                  "{% block html %}{% endblock %}",
    })
    assert resp.status_code == 200
    assert "Template en/thank_you.j2, line 3: &#x27;paymnt&#x27; is undefined" in resp.content.decode()


def test_a_letter_step_holds_a_pdf_letter_for_post(bookkeeper, org, customer, contract, make_invoice, settings):
    import yaml

    from duly.collections.models import Task
    from duly.collections.services import import_policies

    settings.DULY_MESSAGE_PDF_ATTACHMENTS = True
    import_policies(org, yaml.safe_dump({"policies": [{"code": "post", "name": "By post", "steps": [
        {"code": "final", "order": 1, "offset_days": 14, "channel": "letter", "template": "final_notice",
         "tone": "firm", "actions": ["final_notice"]}]}]}))
    assign_policy(org, customer, "post")
    invoice = make_invoice(customer, contract, issued=date(2026, 3, 2))  # due 1 April
    collect(org, as_of=at(date(2026, 4, 15)))
    letter = Message.objects.get(customer=customer)
    assert (letter.channel, letter.status) == (Message.CHANNEL_LETTER, Message.HELD)
    assert Task.objects.get(customer=customer, kind="letter").message == letter
    resp = bookkeeper.post(reverse("admin:messaging_message_changelist"),
                           {"action": "download_attachment", "_selected_action": [letter.pk]})
    assert resp["Content-Type"] == "application/pdf" and resp.content.startswith(b"%PDF")
    assert resp["Content-Disposition"].startswith('attachment; filename="final_notice-ACME-2026-04-15')
    assert invoice.number in letter.text


def test_the_promises_list_shows_each_state_in_a_constant_number_of_queries(bookkeeper, org, make_customer, contract,
                                                                           make_invoice, monkeypatch,
                                                                           django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from duly.collections.admin import PromiseToPayAdmin
    from duly.collections.services import record_promise
    from duly.payments.services import record_payment

    monkeypatch.setattr(PromiseToPayAdmin, "clock", staticmethod(lambda: at(date(2026, 4, 20))))
    url = reverse("admin:collections_promisetopay_changelist")

    def promise(n, paid):
        customer = make_customer(code=f"P{n}", name=f"Promiser {n} SA")
        invoice = make_invoice(customer, None, issued=date(2026, 3, 2))
        record_promise(org, customer, promised_date=date(2026, 4, 15), amount=invoice.balance, now=at(date(2026, 4, 1)))
        if paid:
            record_payment(org, customer, amount=invoice.balance, currency="EUR", method="bank_transfer",
                           received_on=date(2026, 4, 10), allocations={invoice.pk: invoice.balance})

    promise(0, paid=True)
    promise(1, paid=False)
    with CaptureQueriesContext(connection) as two:
        page = bookkeeper.get(url).content.decode()
    assert "kept" in page and "broken" in page
    for n in range(2, 12):
        promise(n, paid=bool(n % 2))
    with django_assert_max_num_queries(len(two.captured_queries)):
        page = bookkeeper.get(url).content.decode()
    assert page.count(">kept<") == 6 and page.count(">broken<") == 6
