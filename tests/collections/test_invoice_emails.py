"""Every issued invoice and credit note reaches the customer by e-mail, once, with its PDF and attachments."""

from __future__ import annotations

import importlib
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.apps import apps
from django.utils import timezone

from duly.collections.models import CollectionsSettings, InvoiceDispatch
from duly.collections.services import collect, ensure_setup, send_issued_invoices
from duly.invoicing import services as inv
from duly.messaging.delivery import deliver_outbox
from duly.messaging.models import Message

PARIS = ZoneInfo("Europe/Paris")
#: A Tuesday, 10:00 in Paris, inside every customer's sending window (no French holiday).
DELIVERY = datetime.combine(date(2027, 1, 12), time(10), PARIS)


def _issue(org, customer, contract, *, amount="1000.00", issued=date(2026, 11, 30), **kw):
    draft = inv.create_draft(org, customer, [inv.LineData("Conseil stratégique", Decimal(2), Decimal(amount),
                                                          period_start=date(2026, 11, 1),
                                                          period_end=date(2026, 11, 30))],
                             contract=contract, service_period=(date(2026, 11, 1), date(2026, 11, 30)), **kw)
    return draft


def test_an_issued_invoice_is_emailed_once_with_its_pdf_attachments_due_date_and_how_to_pay(
        org, customer, contract, smtp, settings):
    settings.DULY_MESSAGE_PDF_ATTACHMENTS = True
    draft = _issue(org, customer, contract, po_number="PO-7781")
    inv.add_attachment(org, draft.pk, "releve-heures-novembre.csv", b"jour,heures\nlun,8\n", description="Timesheet")
    invoice = inv.issue_invoice(org, draft.pk, issue_date=date(2026, 11, 30))  # net 30: due 30 December

    now = timezone.now()
    assert send_issued_invoices(org, now=now) == [f"{invoice.number} → ap1@client.example"]
    assert send_issued_invoices(org, now=now) == []  # a rerun sends nothing twice
    [msg] = Message.objects.filter(category="invoice")
    assert (msg.to_email, msg.language, msg.invoice_ids) == ("ap1@client.example", "fr", [invoice.pk])
    assert InvoiceDispatch.objects.get(invoice=invoice).message == msg

    deliver_outbox(DELIVERY)
    [received] = smtp.to("ap1@client.example")
    assert smtp.subject(received) == (f"Facture {invoice.number} de Atelier Lumière SARL\xa0: "
                                      "2\u202f000,00\xa0€ à régler avant le 30 décembre 2026")
    text = smtp.text_of(received)
    assert "Bonjour Camille Martin" in text and "Acme Industries SAS" in text
    assert "Reste à payer\xa0: 2\u202f000,00\xa0€" in text and "Échéance\xa0: 30 décembre 2026" in text
    assert "N° de bon de commande\xa0: PO-7781" in text
    assert "FR14 2004 1010 0505 0001 3M02 606" in text or "FR1420041010050500013M02606" in text
    rf = invoice.rf_reference
    assert rf and " ".join(rf[i:i + 4] for i in range(0, len(rf), 4)) in text  # the RF reference, as printed
    assert "12\xa0% par an" in text  # the late-payment terms with the actual rate
    assert f"/p/" in text and "releve-heures-novembre.csv" in text
    assert "Conseil stratégique" in text and "1 nov. 2026 – 30 nov. 2026" in text
    names = [part.get_filename() for part in received.iter_attachments()]
    assert names[0].endswith(".pdf") and names[1:] == ["releve-heures-novembre.csv"]
    assert next(received.iter_attachments()).get_content().startswith(b"%PDF")


def test_a_credit_note_says_what_it_corrects_and_has_no_due_date(org, customer, contract, smtp):
    invoice = inv.issue_invoice(org, _issue(org, customer, contract).pk, issue_date=date(2026, 11, 30))
    note = inv.create_credit_note(org, invoice.pk, reason="Jour non travaillé", lines=[
        inv.LineData("Conseil stratégique", Decimal(1), Decimal("1000.00"))], issue_date=date(2026, 12, 1))
    send_issued_invoices(org, now=timezone.now())
    deliver_outbox(DELIVERY)
    by_subject = {smtp.subject(m): m for m in smtp.to("ap1@client.example")}
    credit = by_subject[f"Avoir {note.number} de Atelier Lumière SARL"]
    text = smtp.text_of(credit)
    assert f"qui corrige la facture {invoice.number}" in text and "1\u202f000,00\xa0€" in text
    assert "Échéance" not in text and "par an" not in text


def test_nobody_to_email_or_emails_off_is_recorded_with_the_reason_and_never_sent_later(
        org, make_customer, make_contract, smtp):
    silent = make_customer("SILENT", contacts=[{"name": "Paul Roy", "phone": "+33 1 00 00 00 00"}])
    invoice = inv.issue_invoice(org, _issue(org, silent, make_contract(silent)).pk, issue_date=date(2026, 11, 30))
    [line] = send_issued_invoices(org, now=timezone.now())
    assert line == f"{invoice.number}: not e-mailed: no contact of {silent.name} has an e-mail address"
    assert InvoiceDispatch.objects.get(invoice=invoice).note.startswith("not e-mailed: no contact")

    conf = ensure_setup(org)
    CollectionsSettings.objects.filter(pk=conf.pk).update(email_invoices=False)
    other = make_customer("OTHER")
    later = inv.issue_invoice(org, _issue(org, other, make_contract(other)).pk, issue_date=date(2026, 11, 30))
    assert send_issued_invoices(org, now=timezone.now()) == [
        f"{later.number}: not e-mailed: invoice e-mails are turned off in the collections settings"]
    CollectionsSettings.objects.filter(pk=conf.pk).update(email_invoices=True)
    assert send_issued_invoices(org, now=timezone.now()) == []  # turning them on sends no old invoice
    assert not Message.objects.filter(category="invoice").exists()


def test_the_collections_run_sends_them_a_dry_run_only_lists_them_and_drafts_wait(org, customer, contract, smtp):
    invoice = inv.issue_invoice(org, _issue(org, customer, contract).pk, issue_date=date(2026, 11, 30))
    _issue(org, customer, contract)  # a draft is not sent
    now = timezone.now()
    dry = collect(org, as_of=now, dry_run=True)
    assert dry.invoices == [f"{invoice.number} → ap1@client.example"] and dry.counts()["invoices"] == 1
    assert not InvoiceDispatch.objects.exists() and not Message.objects.exists()
    assert collect(org, as_of=now).invoices == [f"{invoice.number} → ap1@client.example"]
    assert collect(org, as_of=now).invoices == []
    assert Message.objects.filter(category="invoice").count() == 1
    # an invoice issued after the run's as-of time waits for a later run
    past = datetime(2026, 1, 5, 10, tzinfo=PARIS)
    inv.issue_invoice(org, _issue(org, customer, contract).pk, issue_date=date(2026, 11, 30))
    assert collect(org, as_of=past).invoices == []


def test_invoices_issued_before_the_upgrade_are_recorded_not_sent(org, customer, contract):
    invoice = inv.issue_invoice(org, _issue(org, customer, contract).pk, issue_date=date(2026, 11, 30))
    _issue(org, customer, contract)  # a draft: sent once it is issued
    InvoiceDispatch.objects.all().delete()
    migration = importlib.import_module("duly.collections.migrations.0006_invoice_dispatch")
    migration._invoices_issued_before(apps, None)
    [dispatch] = InvoiceDispatch.objects.all()
    assert dispatch.invoice == invoice and dispatch.message is None
    assert dispatch.note == "issued before Duly e-mailed invoices"
    assert send_issued_invoices(org, now=timezone.now()) == []


def test_a_run_that_loses_the_race_to_a_concurrent_one_writes_nothing_of_its_own(org, customer, contract,
                                                                                 monkeypatch):
    """Two runs read the same unsent invoice; the second to record it gets the unique-invoice refusal:
    its own message is rolled back with it, so the invoice goes out once."""
    from django.db import IntegrityError

    invoice = inv.issue_invoice(org, _issue(org, customer, contract).pk, issue_date=date(2026, 11, 30))
    real_create = InvoiceDispatch.objects.create

    def the_other_run_recorded_it_first(**fields):
        raise IntegrityError("UNIQUE constraint failed: collections_invoicedispatch.invoice_id")

    monkeypatch.setattr(InvoiceDispatch.objects, "create", the_other_run_recorded_it_first)
    assert send_issued_invoices(org, now=timezone.now()) == [
        f"{invoice.number} → ap1@client.example (already sent by a concurrent run)"]
    assert not Message.objects.exists() and not InvoiceDispatch.objects.exists()
    monkeypatch.setattr(InvoiceDispatch.objects, "create", real_create)
    assert send_issued_invoices(org, now=timezone.now()) == [f"{invoice.number} → ap1@client.example"]
    assert Message.objects.filter(category="invoice").count() == 1


def test_a_customer_gets_one_email_for_the_invoices_of_a_run_and_none_for_receivables_brought_over(
        org, customer, contract, smtp):
    ensure_setup(org)
    # An invoice from the old system, recorded in Duly long after its due date (numbers follow issue dates).
    old = inv.issue_invoice(org, _issue(org, customer, contract, amount="90.00").pk, issue_date=date(2026, 6, 1))
    first = inv.issue_invoice(org, _issue(org, customer, contract).pk, issue_date=date(2026, 11, 30))
    second = inv.issue_invoice(org, _issue(org, customer, contract, amount="250.00").pk, issue_date=date(2026, 11, 30))

    lines = send_issued_invoices(org, now=timezone.now())

    assert lines == [f"{old.number}: not e-mailed on its own: already past due when recorded; its reminders carry it",
                     f"{first.number} → ap1@client.example", f"{second.number} → ap1@client.example"]
    [msg] = Message.objects.filter(category="invoice")
    assert msg.invoice_ids == [first.pk, second.pk] and first.number in msg.subject
    assert second.number in msg.text and "Également envoyé avec ce message" in msg.text
    assert "500,00\xa0€" in msg.text  # the second invoice: 2 × 250,00 €, with its own due date
    assert {d.message_id for d in InvoiceDispatch.objects.filter(invoice__in=[first, second])} == {msg.pk}
    assert InvoiceDispatch.objects.get(invoice=old).message is None
