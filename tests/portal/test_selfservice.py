"""The self-service pages of the personal link: history, statement, questions and disputes, billing-detail changes
(approved by staff) and the language of the session. Everything is scoped by the link."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from duly.collections.models import Dispute, Task
from duly.customers.models import Contact
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.messaging.links import make_token, pay_url
from duly.portal import selfservice_services as svc
from duly.portal.models import ChangeRequest, PortalQuestion
from duly.portal.selfservice_services import Scope

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    monkeypatch.setattr("duly.portal.views.clock", lambda: NOW)
    monkeypatch.setattr("duly.portal.selfservice.clock", lambda: NOW)


@pytest.fixture
def issue(org, contract):
    def make(amount="100.00", on=date(2026, 10, 1), customer=None, lines=None):
        who = customer or contract.customer
        draft = inv.create_draft(org, who, lines or [inv.LineData("Audit", Decimal(1), Decimal(amount))],
                                 contract=contract if customer is None else None)
        return inv.issue_invoice(org, draft.pk, issue_date=on)

    return make


@pytest.fixture
def base(org, customer):
    return urlsplit(pay_url(org.pk, customer.pk, made_on=NOW.date())).path


def _submit_key(html: str) -> str:
    marker = 'name="submission" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def test_history_lists_open_and_paid_invoices_and_payments_with_their_downloads(client, org, customer, issue, base,
                                                                              make_customer):
    from duly.payments.services import record_payment

    paid, open_ = issue("90.00", date(2026, 9, 1)), issue("250.00", date(2026, 10, 1))
    payment = record_payment(org, customer, amount="90.00", currency="EUR", method="bank_transfer",
                             received_on=date(2026, 9, 20), allocations={paid.pk: "90.00"})
    other = make_customer("OTHER")
    hidden = issue("7777.00", customer=other)

    resp = client.get(base + "/history")
    assert resp.status_code == 200 and resp["Cache-Control"] == "private, no-store"
    page = resp.content.decode()
    assert paid.number in page and open_.number in page and hidden.number not in page
    assert "90,00\xa0€" in page and "250,00\xa0€" in page and "7\u202f777" not in page
    assert "1 octobre 2026" in page and "31 octobre 2026" in page  # issue and due dates (net 30)
    assert 'data-status="paid"' in page and 'data-status="issued"' in page
    assert "Virement" in page  # the payment's method, in the customer's language
    assert f"{paid.number} (90,00\xa0€)" in page  # which invoices the payment paid

    pdf = client.get(f"{base}/invoices/{paid.pk}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    receipt = client.get(f"{base}/payments/{payment.pk}/receipt")
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")
    # another customer's invoice or payment through this link: the forged-link answer
    other_payment = record_payment(org, other, amount="5.00", currency="EUR", method="bank_transfer",
                                   received_on=date(2026, 9, 20))
    for path in (f"{base}/invoices/{hidden.pk}/pdf", f"{base}/payments/{other_payment.pk}/receipt",
                 f"{base}/invoices/{hidden.pk}/ask", f"{base}/invoices/999999/pdf"):
        resp = client.get(path)
        assert resp.status_code == 404 and hidden.number.encode() not in resp.content


def test_history_is_paginated(client, org, customer, issue, base):
    made = [issue("10.00", date(2026, 1, 1) + timedelta(days=i)) for i in range(23)]
    first = client.get(base + "/history").content.decode()
    assert made[-1].number in first and made[0].number not in first and "Page 1 sur 2" in first
    second = client.get(base + "/history?invoices=2").content.decode()
    assert made[0].number in second and made[-1].number not in second
    assert client.get(base + "/history?invoices=abc").status_code == 200  # a bad page number shows the first


def test_history_pages_follow_their_links_by_keyset_and_count_a_bounded_number(client, org, customer, issue, base,
                                                                               monkeypatch):
    import re

    from duly.portal import selfservice_pages

    # Several invoices on one day: the keyset (issue date, id) orders them, none is shown twice or skipped.
    made = [issue("10.00", date(2026, 1, 1) + timedelta(days=i // 3)) for i in range(45)]
    seen, path, pages = [], base + "/history", []
    while True:
        page = client.get(path).content.decode()
        rows = re.findall(r'data-invoice="(\d+)"', page)
        seen += [int(r) for r in rows]
        pages.append(re.search(r"Page (\d+) sur (\d+\+?)", page).groups())
        found = re.search(r'id="invoices-next" href="\?([^"]+)"', page)
        if not found:
            break
        assert "invoices_after=" in found.group(1)  # the next page is read after the last row, not at an offset
        path = base + "/history?" + found.group(1).replace("&amp;", "&")
    newest_first = sorted(made, key=lambda i: (i.issue_date, i.pk), reverse=True)
    assert seen == [i.pk for i in newest_first]
    assert pages == [("1", "3"), ("2", "3"), ("3", "3")]
    back = re.search(r'rel="prev" href="\?([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "invoices_before=" in back
    second = client.get(base + "/history?" + back).content.decode()
    assert [int(r) for r in re.findall(r'data-invoice="(\d+)"', second)] == [i.pk for i in newest_first[20:40]]
    assert "Page 2 sur 3" in second
    # An account past the count's bound: the pager says so ("2+") instead of counting every invoice.
    monkeypatch.setattr(selfservice_pages, "COUNT_CAP", 40)
    first = client.get(base + "/history").content.decode()
    assert "Page 1 sur 2+" in first and 'id="invoices-next"' in first
    assert client.get(base + "/history?invoices_after=garbage").status_code == 200  # a bad cursor: the first page


def test_an_invoice_link_shows_only_its_invoice_and_opens_no_account_pages(client, org, customer, issue):
    one, other = issue("10.00"), issue("20.00")
    path = urlsplit(pay_url(org.pk, customer.pk, one.pk)).path
    page = client.get(path + "/history").content.decode()
    assert one.number in page and other.number not in page
    assert client.get(f"{path}/invoices/{other.pk}/pdf").status_code == 404
    for sub in ("/statement", "/statement?as_of=2026-11-30", "/details"):
        assert client.get(path + sub).status_code == 404


def test_statement_of_account_for_a_chosen_month_end(client, org, customer, issue, base):
    issue("120.00", date(2026, 10, 1))
    page = client.get(base + "/statement").content.decode()
    assert 'value="2026-11-30"' in page and 'value="2026-12-08"' in page
    resp = client.get(base + "/statement?as_of=2026-11-30")
    assert resp.status_code == 200 and resp["Content-Type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF") and "statement-2026-11-30.pdf" in resp["Content-Disposition"]
    assert client.get(base + "/statement?as_of=1999-01-01").status_code == 404  # only the offered dates
    assert client.get(base + "/statement?as_of=../../etc").status_code == 404


def test_disputing_a_line_opens_a_query_with_its_target_pauses_chasing_and_makes_a_staff_task(
        client, org, customer, issue, base):
    invoice = issue(lines=[inv.LineData("Audit", Decimal(1), Decimal("100")),
                           inv.LineData("Travel", Decimal(1), Decimal("40"))])
    travel = invoice.lines.get(description="Travel")
    from duly.collections import services as collections

    collections.ensure_setup(org)
    collections.assign_policy(org, customer, "neutral")

    def chased() -> list[str]:  # what a collections run would do about the invoice now (dry run)
        return [p.action.kind for p in collections.collect(org, as_of=NOW, dry_run=True).planned
                if invoice.number in p.invoice_numbers]

    assert chased() and "skip" not in chased()  # overdue since 31 October: a reminder is due
    form = client.get(f"{base}/invoices/{invoice.pk}/ask").content.decode()
    assert "Travel" in form and 'for="text"' in form
    data = {"kind": "dispute", "line": travel.pk, "text": "We never agreed to pay travel.",
            "submission": _submit_key(form)}
    resp = client.post(f"{base}/invoices/{invoice.pk}/ask", data)
    assert resp.status_code == 302
    row = PortalQuestion.objects.get()
    assert resp["Location"] == f"{base}/questions/{row.pk}"
    dispute = Dispute.objects.get(invoice=invoice)
    assert dispute.status == Dispute.OPEN and dispute.opened_by == "customer"
    assert set(chased()) == {"skip"}  # chasing pauses while the query is open
    assert "line 2 (Travel)" in dispute.question and "never agreed" in dispute.question
    assert dispute.sla_due_on == date(2026, 12, 10)  # 2 business days of the organization
    task = Task.objects.get(kind="query")
    assert task.customer_id == customer.pk and "Travel" in task.description and "2026-12-10" in task.description
    confirmation = client.get(resp["Location"]).content.decode()
    assert "10 décembre 2026" in confirmation and "never agreed" in confirmation

    # the same form sent again (double click, reload of the POST): nothing more is written
    again = client.post(f"{base}/invoices/{invoice.pk}/ask", data)
    assert again["Location"] == resp["Location"]
    assert (PortalQuestion.objects.count(), Dispute.objects.count(), Task.objects.filter(kind="query").count()) == (
        1, 1, 1)
    # a new question on the same invoice joins the open query, with a task of its own
    client.post(f"{base}/invoices/{invoice.pk}/ask", {"kind": "question", "text": "And the audit?",
                                                      "submission": "k" * 20})
    assert (Dispute.objects.count(), PortalQuestion.objects.count(), Task.objects.filter(kind="query").count()) == (
        1, 2, 2)


def test_questions_are_scoped_and_checked_and_errors_show_no_internals(client, org, customer, issue, base,
                                                                     make_customer):
    mine, theirs = issue(), issue(customer=make_customer("OTHER"))
    other_line = theirs.lines.get()
    url = f"{base}/invoices/{mine.pk}/ask"
    resp = client.post(f"{base}/invoices/{theirs.pk}/ask", {"kind": "question", "text": "x", "submission": "a" * 20})
    assert resp.status_code == 404
    resp = client.post(url, {"kind": "dispute", "line": other_line.pk, "text": "x", "submission": "b" * 20})
    assert resp.status_code == 404  # a line of another invoice
    resp = client.post(url, {"kind": "question", "text": "   ", "submission": "c" * 20})
    assert resp.status_code == 400 and "Veuillez remplir le champ obligatoire." in resp.content.decode()
    resp = client.post(url, {"kind": "question", "text": "Why?", "submission": "short"})
    assert resp.status_code == 400 and "Ce formulaire a expiré" in resp.content.decode()
    resp = client.post(url, {"kind": "nonsense", "text": "Why?", "submission": "d" * 20})
    body = resp.content.decode()
    assert resp.status_code == 400 and "nonsense" not in body and "Traceback" not in body
    assert not Dispute.objects.exists() and not PortalQuestion.objects.exists()
    # another customer's question is not shown through this link
    other_base = urlsplit(pay_url(org.pk, theirs.customer_id, made_on=NOW.date())).path
    client.post(f"{other_base}/invoices/{theirs.pk}/ask",
                {"kind": "question", "text": "Theirs", "submission": "e" * 20})
    assert client.get(f"{base}/questions/{PortalQuestion.objects.get().pk}").status_code == 404


def test_questions_are_rate_limited_per_customer(client, org, customer, issue, base):
    invoices = [issue("10.00") for _ in range(svc.QUESTIONS_PER_HOUR + 1)]
    for i, invoice in enumerate(invoices[:-1]):
        assert client.post(f"{base}/invoices/{invoice.pk}/ask", {"kind": "question", "text": f"Q{i}",
                                                                  "submission": f"{i:020}"}).status_code == 302
    resp = client.post(f"{base}/invoices/{invoices[-1].pk}/ask", {"kind": "question", "text": "one more",
                                                                   "submission": "z" * 20})
    assert resp.status_code == 429 and "en peu de temps" in resp.content.decode()
    assert not Dispute.objects.filter(invoice=invoices[-1]).exists()


def test_forms_need_the_csrf_token(org, customer, issue, base):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    invoice = issue()
    resp = strict.post(f"{base}/invoices/{invoice.pk}/ask", {"kind": "question", "text": "x",
                                                              "submission": "a" * 20})
    assert resp.status_code == 403
    assert strict.post(f"{base}/details", {"contact_name": "X", "submission": "a" * 20}).status_code == 403
    assert not PortalQuestion.objects.exists() and not ChangeRequest.objects.exists()


def test_a_change_of_billing_details_waits_for_staff_and_approval_applies_it(client, org, customer, contract, base):
    billing = Contact.objects.create(organization=org, customer=customer, name="Old Name", email="old@acme.example",
                                     role="billing")
    form = client.get(base + "/details").content.decode()
    assert "Old Name" in form and 'for="contact_email"' in form and 'for="po_number"' in form
    resp = client.post(base + "/details", {"contact_name": "Nina Rossi", "contact_email": "nina@acme.example",
                                           "po_number": "PO-2027-01", "language": "de", "note": "",
                                           "submission": _submit_key(form)})
    assert resp.status_code == 200 and 'id="change-requested"' in resp.content.decode()
    assert "nina@acme.example" in resp.content.decode().split('id="pending"')[1]  # listed as waiting
    request = ChangeRequest.objects.get()
    assert request.status == ChangeRequest.PENDING
    assert request.previous == {"contact_name": "Old Name", "contact_email": "old@acme.example", "po_number": "",
                                "language": "fr"}
    billing.refresh_from_db()
    contract.refresh_from_db()
    customer.refresh_from_db()
    assert (billing.name, contract.po_number, customer.locale) == ("Old Name", "", "fr_FR")  # nothing yet

    svc.approve_change_request(org, request.pk, now=NOW)
    billing.refresh_from_db()
    contract.refresh_from_db()
    customer.refresh_from_db()
    assert (billing.name, billing.email, contract.po_number, customer.locale) == (
        "Nina Rossi", "nina@acme.example", "PO-2027-01", "de")
    draft = inv.create_draft(org, customer, [inv.LineData("Next", Decimal(1), Decimal(1))], contract=contract)
    assert Invoice.objects.get(pk=draft.pk).po_number == "PO-2027-01"  # future invoices carry it
    with pytest.raises(Exception) as refused:
        svc.approve_change_request(org, request.pk, now=NOW)
    assert getattr(refused.value, "code", "") == "invalid_state"


def test_a_rejected_request_changes_nothing_and_bad_input_is_refused(client, org, customer, contract, base):
    scope = Scope(token="", customer=customer)
    row = svc.request_change(scope, submission="r" * 20, now=NOW, po_number="PO-9")
    svc.reject_change_request(org, row.pk, now=NOW)
    contract.refresh_from_db()
    assert contract.po_number == "" and ChangeRequest.objects.get().status == ChangeRequest.REJECTED
    # the same form twice is one request
    assert svc.request_change(scope, submission="r" * 20, now=NOW, po_number="PO-9").pk == row.pk
    resp = client.post(base + "/details", {"contact_email": "not-an-address", "submission": "s" * 20})
    assert resp.status_code == 400 and "adresse e-mail valide" in resp.content.decode()
    resp = client.post(base + "/details", {"submission": "t" * 20})
    assert resp.status_code == 400 and "Rien à modifier" in resp.content.decode()
    assert ChangeRequest.objects.count() == 1


def test_staff_approve_in_the_admin_only_their_organizations_requests(client, org, other_org, customer, contract,
                                                                      make_customer):
    from django.urls import reverse

    from duly.customers.services import add_member

    theirs_customer = make_customer("NW1", organization=other_org, currency="GBP", country="GB")
    mine = svc.request_change(Scope("", customer), submission="m" * 20, now=NOW, po_number="PO-MINE")
    theirs = svc.request_change(Scope("", theirs_customer), submission="n" * 20, now=NOW, contact_name="Intruder")
    add_member(org, username="boss", password="a-long-password-2026", role="owner")
    client.login(username="boss", password="a-long-password-2026")
    url = reverse("admin:portal_changerequest_changelist")
    listing = client.get(url).content.decode()
    assert "PO-MINE" in listing and "Intruder" not in listing
    client.post(url, {"action": "approve", "_selected_action": [mine.pk, theirs.pk]})
    mine.refresh_from_db()
    theirs.refresh_from_db()
    contract.refresh_from_db()
    assert (mine.status, theirs.status, contract.po_number) == ("approved", "pending", "PO-MINE")


def test_the_language_is_kept_for_the_session_and_can_be_asked_for_documents(client, org, customer, issue, base):
    issue()
    resp = client.post(base + "/language", {"language": "de", "next": base + "/history"})
    assert resp.status_code == 302 and resp["Location"] == base + "/history"
    page = client.get(base + "/history").content.decode()
    assert '<html lang="de">' in page and "Oktober 2026" in page
    assert not ChangeRequest.objects.exists()  # the session only
    sent = {"language": "es", "keep": "on", "next": "https://evil.example/", "submission": "l" * 20}
    assert client.post(base + "/language", sent)["Location"] == base + "/history"  # never another site
    client.post(base + "/language", sent)  # sent twice: one request
    assert ChangeRequest.objects.get().language == "es"
    assert '<html lang="es">' in client.get(base + "/history").content.decode()
    # a session's choice is the link's own: another customer's link reads in its own language
    assert client.post(base + "/language", {"language": "xx"}).status_code == 302


def test_a_refused_link_opens_no_self_service_page(client, org, customer, issue):
    invoice = issue()
    forged = make_token(org.pk, customer.pk, made_on=NOW.date())[:-2] + "AA"
    for path in ("/history", f"/invoices/{invoice.pk}/pdf", f"/invoices/{invoice.pk}/ask", "/statement",
                 "/details", "/questions/1"):
        assert client.get(f"/p/{forged}{path}").status_code == 404
    assert client.post(f"/p/{forged}/language", {"language": "de"}).status_code == 404
