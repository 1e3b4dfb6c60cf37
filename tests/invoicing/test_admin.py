"""The invoice back office goes through the services: a refused draft is a form error and saves nothing;
attachments, number patterns, credit notes, write-offs, refunds and fees all take the service path."""

import hashlib
from datetime import date, datetime, timezone as dt_timezone
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from duly.customers.services import update_customer
from duly.invoicing import services as inv
from duly.invoicing.models import Attachment, Invoice, InvoiceLine, NumberSeries
from duly.payments import services as payments
from duly.payments.models import Refund

ADD = reverse("admin:invoicing_invoice_add")
CHANGELIST = reverse("admin:invoicing_invoice_changelist")


def formset(prefix, rows=(), initial=0):
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    for i, row in enumerate(rows):
        data.update({f"{prefix}-{i}-{k}": v for k, v in row.items()})
    return data


def line(**overrides):
    row = {"position": "1", "description": "Audit", "quantity": "2", "unit": "C62", "unit_price": "500",
           "discount_percent": "", "tax_category": "S", "tax_rate": "20", "tax_exemption_reason": "",
           "period_start": "", "period_end": "", "explanation": ""}
    row.update(overrides)
    return row


def draft_post(customer, contract=None, lines=(), **fields):
    data = {"customer": str(customer.pk), "contract": str(contract.pk) if contract else "", "kind": "standard",
            "currency": "", "service_period_start": "", "service_period_end": "", "po_number": "",
            "buyer_reference": "", "cost_centre": "", "ap_contact": "", "billing_address": "", "custom_fields": "{}",
            "notes": ""}
    data.update(fields)
    data.update(formset("lines", list(lines)))
    data.update(formset("attachments"))
    return data


def errors_of(resp) -> str:
    assert resp.status_code == 200, resp.status_code  # the form again, not a redirect
    return resp.content.decode()


@pytest.mark.parametrize("case, expected", [
    ("currency", "Unknown currency &#x27;XYZ&#x27;"),
    ("terminated", "is terminated: no new invoices"),
    ("quantity", "line 1: quantity -5 is negative"),
    ("period", "ends (2026-03-01) before it starts (2026-03-31)"),
])
def test_a_refused_draft_is_a_form_error_and_saves_nothing(bookkeeper, customer, contract, case, expected):
    data = draft_post(customer, contract, [line()])
    if case == "currency":
        data.update(contract="", currency="XYZ")
    elif case == "terminated":
        update_customer(customer, status="terminated")
    elif case == "quantity":
        data.update(formset("lines", [line(quantity="-5")]))
    elif case == "period":
        data.update(service_period_start="2026-03-31", service_period_end="2026-03-01")
    page = errors_of(bookkeeper.post(ADD, data))
    assert expected in page and "errorlist" in page and "added successfully" not in page
    assert not Invoice.objects.exists() and not InvoiceLine.objects.exists()
    assert bookkeeper.get(CHANGELIST).status_code == 200


def test_a_draft_made_in_the_admin_is_made_by_the_service(bookkeeper, org, customer, make_contract):
    ctr = make_contract(customer, reference="CTR-PO", po_number="PO-4711")
    resp = bookkeeper.post(ADD, draft_post(customer, ctr, [line(), line(position="2", description="Travel",
                                                                        quantity="1", unit_price="80.50")]),
                           follow=True)
    assert "added successfully" in resp.content.decode()
    draft = Invoice.objects.get()
    # totals from the lines: 2 × 500 + 80.50 = 1080.50 net, VAT 20 % = 216.10, total 1296.60
    assert (draft.tax_exclusive_minor, draft.tax_total_minor, draft.total_minor) == (108050, 21610, 129660)
    assert [(x.position, x.description, x.net_minor) for x in draft.lines.all()] == [(1, "Audit", 100000),
                                                                                    (2, "Travel", 8050)]
    assert (draft.currency, draft.po_number, draft.locale, draft.status) == ("EUR", "PO-4711", "fr_FR", "draft")
    assert (draft.allowance_total_minor, draft.charge_total_minor) == (0, 0)

    # editing the draft: the lines are replaced through the service and the totals follow
    change = reverse("admin:invoicing_invoice_change", args=[draft.pk])
    page = bookkeeper.get(change).content.decode()
    assert 'name="allowance_total_minor"' not in page and 'name="charge_total_minor"' not in page
    data = draft_post(customer, ctr, notes="Second version")
    data.pop("kind")
    first, second = draft.lines.all()
    data.update(formset("lines", [dict(line(quantity="3"), id=str(first.pk), invoice=str(draft.pk)),
                                  dict(line(position="2", description="Travel", quantity="1", unit_price="80.50"),
                                       id=str(second.pk), invoice=str(draft.pk), DELETE="on")], initial=2))
    resp = bookkeeper.post(change, data, follow=True)
    assert "changed successfully" in resp.content.decode(), resp.content.decode()[:3000]
    draft.refresh_from_db()
    assert (draft.total_minor, draft.notes, draft.lines.count()) == (180000, "Second version", 1)
    bad = draft_post(customer, ctr, currency="USD")
    bad.pop("kind")
    bad.update(formset("lines", []))
    assert "cannot be in USD" in errors_of(bookkeeper.post(change, bad))
    draft.refresh_from_db()
    assert draft.currency == "EUR" and draft.total_minor == 180000


def test_attachments_are_stored_through_the_service(bookkeeper, org, customer, contract, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    issued = inv.issue_invoice(org, inv.create_draft(org, customer, [inv.LineData("X", Decimal(1), Decimal(5))],
                                                     contract=contract).pk, issue_date=date(2026, 3, 1))
    change = reverse("admin:invoicing_invoice_change", args=[issued.pk])
    content = b"date,hours\n2026-03-02,3.5\n"
    data = {**formset("lines"), **formset("attachments", [{"description": "Timesheet March"}])}
    data["attachments-0-file"] = SimpleUploadedFile("timesheet-march.csv", content, content_type="text/csv")
    resp = bookkeeper.post(change, data, follow=True)
    assert resp.status_code == 200
    att = Attachment.objects.get()
    assert (att.filename, att.size, att.sha256) == ("timesheet-march.csv", len(content),
                                                     hashlib.sha256(content).hexdigest())
    assert (att.description, att.content_type, att.file.read()) == ("Timesheet March", "text/csv", content)
    issued.refresh_from_db()
    assert issued.status == Invoice.ISSUED and issued.total_minor == 500  # the invoice itself is untouched

    empty = {**formset("lines"), **formset("attachments", [{"description": ""}], initial=0)}
    empty["attachments-0-file"] = SimpleUploadedFile("empty.pdf", b"", content_type="application/pdf")
    assert "empty" in errors_of(bookkeeper.post(change, empty))
    assert Attachment.objects.count() == 1


def test_no_attachment_once_the_documents_are_stored(bookkeeper, org, customer, contract, settings, tmp_path):
    from duly.invoicing.documents import document_bytes

    settings.MEDIA_ROOT = tmp_path
    issued = inv.issue_invoice(org, inv.create_draft(org, customer, [inv.LineData("X", Decimal(1), Decimal(5))],
                                                     contract=contract).pk, issue_date=date(2026, 3, 1))
    document_bytes(issued, "pdf")  # sent or exported: what the customer received is fixed
    change = reverse("admin:invoicing_invoice_change", args=[issued.pk])
    data = {**formset("lines"), **formset("attachments", [{"description": "Late timesheet"}])}
    data["attachments-0-file"] = SimpleUploadedFile("late.csv", b"date,hours\n", content_type="text/csv")
    assert "documents are stored" in errors_of(bookkeeper.post(change, data))  # a form error, not a crash
    assert not Attachment.objects.exists()


def test_number_pattern_is_validated(bookkeeper, org):
    series = NumberSeries.objects.get(organization=org, kind="invoice")
    url = reverse("admin:invoicing_numberseries_change", args=[series.pk])
    assert "must contain {seq}" in errors_of(bookkeeper.post(url, {"pattern": "INV-{year}"}))
    assert "Invalid number pattern" in errors_of(bookkeeper.post(url, {"pattern": "INV-{yr}-{seq:05}"}))
    series.refresh_from_db()
    assert series.pattern == "INV-{year}-{seq:05}"
    bookkeeper.post(url, {"pattern": "F{year}/{seq:04}"})
    series.refresh_from_db()
    assert series.pattern == "F{year}/{seq:04}"
    assert bookkeeper.get(reverse("admin:invoicing_numberseries_add")).status_code == 403


def issue(org, customer, contract, amount="100", on=date(2026, 1, 31)):
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal(amount))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=on)


def test_credit_note_and_write_off_actions(bookkeeper, org, customer, contract):
    a, b = issue(org, customer, contract, "100"), issue(org, customer, contract, "250")
    form = bookkeeper.post(CHANGELIST, {"action": "credit_selected", "_selected_action": [a.pk]})
    assert b"reason" in form.content and b"issue_now" in form.content
    resp = bookkeeper.post(CHANGELIST, {"action": "credit_selected", "_selected_action": [a.pk], "apply": "1",
                                        "reason": "Order cancelled", "issue_now": "on"}, follow=True)
    note = Invoice.objects.get(kind=Invoice.KIND_CREDIT_NOTE)
    assert note.number.startswith("CN-") and note.related_invoice == a and note.notes == "Order cancelled"
    assert f"issued as {note.number}" in resp.content.decode()
    a.refresh_from_db()
    assert a.status == Invoice.PAID and a.balance_minor == 0

    resp = bookkeeper.post(CHANGELIST, {"action": "write_off_selected", "_selected_action": [b.pk], "apply": "1",
                                        "reason": "Customer insolvent"}, follow=True)
    b.refresh_from_db()
    assert b.status == Invoice.UNCOLLECTIBLE and b.void_reason == "Customer insolvent" and b.voided_at is not None
    # writing off a paid invoice is refused, as a message
    resp = bookkeeper.post(CHANGELIST, {"action": "write_off_selected", "_selected_action": [a.pk], "apply": "1",
                                        "reason": "x"}, follow=True)
    assert "Only open invoices can be written off" in resp.content.decode()
    a.refresh_from_db()
    assert a.status == Invoice.PAID


def test_assess_fees_action_creates_one_fee_invoice_and_a_second_click_nothing(
        bookkeeper, org, customer, contract, monkeypatch):
    # the shared contract: 12 % a year and a EUR 40.00 fixed fee; invoice issued 31 Jan, due 2 Mar
    overdue = issue(org, customer, contract, "1000")
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(2026, 4, 1, 8, 0, tzinfo=dt_timezone.utc))
    post = {"action": "assess_fees", "_selected_action": [overdue.pk]}
    bookkeeper.post(CHANGELIST, post, follow=True)
    fees = Invoice.objects.filter(kind=Invoice.KIND_LATE_FEE)
    assert fees.count() == 1
    fee = fees.get()
    assert fee.related_invoice == overdue and fee.issue_date == date(2026, 4, 1) and fee.total_minor >= 4000
    total = fee.total_minor
    bookkeeper.post(CHANGELIST, post, follow=True)
    assert Invoice.objects.filter(kind=Invoice.KIND_LATE_FEE).count() == 1
    assert Invoice.objects.get(kind=Invoice.KIND_LATE_FEE).total_minor == total


def test_actions_use_the_organizations_local_date(bookkeeper, org, customer, contract, monkeypatch):
    draft = inv.create_draft(org, customer, [inv.LineData("X", Decimal(1), Decimal(5))], contract=contract)
    # 31 March 23:30 UTC is already 1 April in Paris, where the organization is
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(2026, 3, 31, 23, 30, tzinfo=dt_timezone.utc))
    bookkeeper.post(CHANGELIST, {"action": "issue_selected", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.issue_date == date(2026, 4, 1)
    page = bookkeeper.get(reverse("admin:invoicing_invoice_record_payment", args=[draft.pk])).content.decode()
    assert 'value="2026-04-01"' in page


def test_refund_page_goes_through_the_service(bookkeeper, org, customer, contract):
    a = issue(org, customer, contract, "100")
    p = payments.record_payment(org, customer, amount="120", currency="EUR", method="card",
                                received_on=date(2026, 2, 1))
    url = reverse("admin:payments_payment_refund", args=[p.pk])
    assert b"refunded_on" in bookkeeper.get(url).content
    too_much = bookkeeper.post(url, {"amount": "500", "refunded_on": "2026-02-03", "reason": "x"}, follow=True)
    assert "at most 120.00 EUR" in too_much.content.decode() and not Refund.objects.exists()
    resp = bookkeeper.post(url, {"amount": "50", "refunded_on": "2026-02-03", "reason": "Goodwill"}, follow=True)
    assert "Refunded 50" in resp.content.decode()
    a.refresh_from_db()
    # 20 of the payment's own credit first, then 30 taken back from the invoice
    assert a.balance == Decimal("30.00") and payments.credit_balance_minor(customer, "EUR") == 0
    listing = bookkeeper.post(reverse("admin:payments_payment_changelist"),
                              {"action": "refund_selected", "_selected_action": [p.pk]})
    assert listing.status_code == 302 and listing["Location"] == url


def test_a_credit_note_draft_cannot_be_edited_above_the_invoice_it_corrects(bookkeeper, org, customer, contract):
    a = issue(org, customer, contract, "100")
    bookkeeper.post(CHANGELIST, {"action": "credit_selected", "_selected_action": [a.pk], "apply": "1",
                                 "reason": "Partly wrong"})
    note = Invoice.objects.get(kind=Invoice.KIND_CREDIT_NOTE)
    assert note.status == Invoice.DRAFT and note.total_minor == 10000
    change = reverse("admin:invoicing_invoice_change", args=[note.pk])
    data = draft_post(customer, contract)
    data.pop("kind")
    row = dict(line(description="Service", quantity="2", unit_price="100", tax_rate="0"), id=str(note.lines.get().pk),
               invoice=str(note.pk))
    data.update(formset("lines", [row], initial=1))
    assert "exceeds the invoice" in errors_of(bookkeeper.post(change, data))
    note.refresh_from_db()
    assert note.total_minor == 10000
    data.update(formset("lines", [dict(row, quantity="0.4")], initial=1))
    assert "changed successfully" in bookkeeper.post(change, data, follow=True).content.decode()
    note.refresh_from_db()
    assert (note.total_minor, note.kind, note.related_invoice_id) == (4000, Invoice.KIND_CREDIT_NOTE, a.pk)
