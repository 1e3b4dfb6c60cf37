"""One amount per customer per run: the termination message, the letter attached to it and the final
statement show the same figures, read after every credit note and fee of that run; a late fee is
shown with its own due date and never demanded before it."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import yaml
from pypdf import PdfReader

from duly.billing import services as billing
from duly.collections.models import InvoiceDispatch, LateFee, Reminder
from duly.collections.services import assign_policy, import_policies
from duly.invoicing.models import Invoice
from duly.messaging import attachments
from duly.messaging.models import Message

AP = "ap1@client.example"

#: Termination by letter for post, after a final notice by e-mail.
BY_LETTER = {"policies": [{"code": "letters", "name": "Termination by letter", "steps": [
    {"code": "overdue", "order": 1, "offset_days": 1, "template": "reminder_neutral"},
    {"code": "final_notice", "order": 2, "offset_days": 14, "template": "final_notice", "actions": ["final_notice"]},
    {"code": "terminate", "order": 3, "offset_days": 35, "channel": "letter", "template": "termination_letter",
     "actions": ["terminate"]},
]}]}


def hosting(org, amount: str, currency: str = "EUR"):
    product = billing.create_product(org, code=f"HOST-{currency}", name="Hébergement Pro", tax_rate=20)
    return billing.create_price(org, product, code=f"host-{currency.lower()}", currency=currency,
                                model_config={"model": "flat", "amount": amount})


def test_the_termination_letter_and_final_statement_show_the_figures_after_the_cancellation_credit_note(
        org, customer, contract, make_invoice, pay, walk, smtp, settings):
    import_policies(org, yaml.safe_dump(BY_LETTER))
    assign_policy(org, customer, "letters")
    sub = billing.create_subscription(org, customer, [(hosting(org, "49.00"), 1)], start_date=date(2026, 4, 1),
                                      as_of=date(2026, 4, 1), reference="SUB-ACME-1", anchor_day=1)
    overdue = make_invoice(customer, contract, issued=date(2026, 3, 2))  # 1 000,00 € due 1 April

    def events(day):
        if day in (date(2026, 4, 1), date(2026, 5, 1)):
            billing.run_billing(org, day)  # April, then May, billed in advance (58,80 € each, due in 30 days)
        if day == date(2026, 4, 10):
            april = Invoice.objects.get(customer=customer, issue_date=date(2026, 4, 1))
            pay(customer, "58.80", day, allocations={april.pk: Decimal("58.80")})

    walk.days(date(2026, 4, 1), date(2026, 5, 5), on_day=events)
    settings.DULY_MESSAGE_PDF_ATTACHMENTS = True  # the letter for post is a real PDF
    events(date(2026, 5, 6))
    walk.run(date(2026, 5, 6))  # termination: the subscription is cancelled, May's unused days credited

    may = Invoice.objects.get(customer=customer, issue_date=date(2026, 5, 1), kind=Invoice.KIND_STANDARD)
    credit = Invoice.objects.get(customer=customer, kind=Invoice.KIND_CREDIT_NOTE)
    assert credit.related_invoice == may and credit.issue_date == date(2026, 5, 6)
    may.refresh_from_db()
    assert 0 < may.balance_minor < 5880  # the credit note went against May's invoice in the same run
    left = f"{may.balance_minor // 100},{may.balance_minor % 100:02d}\xa0€"

    reminder = Reminder.objects.get(customer=customer, step_code="terminate")
    letter_message = reminder.message
    assert letter_message.channel == Message.CHANNEL_LETTER
    # The message: 1 000,00 € due now; May's invoice, after the credit note, with its own due date.
    assert letter_message.subject == "Résiliation de votre contrat : 1\u202f000,00\xa0€ impayés"
    assert overdue.number in letter_message.text and may.number in letter_message.text
    assert left in letter_message.text and "31 mai 2026" in letter_message.text
    # The letter attached to it: the same invoice, the same amount, frozen with the message.
    [ref] = [r for r in letter_message.attachments if r["kind"] == "letter_pdf"]
    assert ref["open_minor"] == {str(overdue.pk): 100000}
    # It cites the reminders that reached the customer, by date (the first reminder and the final notice).
    cited = Reminder.objects.filter(customer=customer, step_code__in=("overdue", "final_notice"))
    assert ref["reminded_on"] == sorted({r.sent_at.astimezone(ZoneInfo("Europe/Paris")).date().isoformat()
                                         for r in cited}) and len(ref["reminded_on"]) == 2
    _, pdf, _ = attachments.load(ref)
    letter = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "1 000,00" in letter.replace("\u202f", " ").replace("\xa0", " ") and "1 058,80" not in letter
    # The final statement e-mailed the same day: the same figures.
    [statement] = [m for m in smtp.to(AP) if smtp.subject(m).startswith("Relevé de compte final")]
    assert smtp.subject(statement) == "Relevé de compte final : 1\u202f000,00\xa0€ dus"
    text = smtp.text_of(statement)
    assert overdue.number in text and may.number in text and left in text
    # The credit note went with the termination (attached, recorded as sent with it), not on its own.
    assert InvoiceDispatch.objects.get(invoice=credit).message == letter_message
    assert {"kind": "invoice_pdf", "invoice_id": credit.pk} in letter_message.attachments
    sub.refresh_from_db()
    assert sub.status == "canceled"


def test_when_the_credit_note_reduces_the_overdue_invoice_itself_every_document_shows_what_is_left(
        org, make_customer, make_contract, walk, smtp):
    client = make_customer("PENNINE", name="Pennine Outdoor Ltd", country="GB", currency="GBP", locale="en_GB",
                           timezone="Europe/London")
    make_contract(client, currency="GBP", terms_kind="on_receipt", terms_days=0, billing_frequency="quarterly")
    by_email = yaml.safe_load(yaml.safe_dump(BY_LETTER))
    by_email["policies"][0].update(code="emails", name="Termination by e-mail")
    by_email["policies"][0]["steps"][2]["channel"] = "email"
    import_policies(org, yaml.safe_dump(by_email))
    assign_policy(org, client, "emails")
    # A quarter billed in advance on 1 April and never paid: 780.00 + 20% VAT = £936.00.
    billing.create_subscription(org, client, [(hosting(org, "780.00", "GBP"), 1)], start_date=date(2026, 4, 1),
                                as_of=date(2026, 4, 1), interval="quarterly", anchor_day=1, reference="SUB-PEN")
    billing.run_billing(org, date(2026, 4, 1))
    quarter = Invoice.objects.get(customer=client)
    assert (quarter.total_minor, quarter.due_date) == (93600, date(2026, 4, 1))

    walk.zone = ZoneInfo("Europe/London")
    for day in (date(2026, 4, 2), date(2026, 4, 15), date(2026, 5, 6)):  # overdue, final notice, termination
        walk.run(day)

    quarter.refresh_from_db()
    owed = quarter.balance_minor  # the 56 unused days of the quarter were credited on termination day
    assert Invoice.objects.get(customer=client, kind=Invoice.KIND_CREDIT_NOTE).issue_date == date(2026, 5, 6)
    assert 0 < owed < 93600
    amount = f"£{owed // 100:,}.{owed % 100:02d}"
    address = client.contacts.get().email
    subjects = smtp.subjects(address)
    assert f"Termination of your contract: {amount} unpaid" in subjects
    assert f"Final statement of account: {amount} due" in subjects
    assert not any("£936.00" in s for s in subjects[subjects.index(f"Termination of your contract: {amount} unpaid"):])


def test_a_late_fee_is_shown_with_its_own_due_date_and_never_demanded_before_it(org, customer, make_contract,
                                                                                 make_invoice, walk, smtp):
    assign_policy(org, customer, "neutral")  # overdue +1, reminder +10, fee +21, final notice +30, ...
    contract = make_contract(customer, terms_kind="net", terms_days=30, late_fee_kind="fixed_fee",
                             late_fixed_fee="40.00")
    invoice = make_invoice(customer, contract, issued=date(2025, 12, 19))  # due Sunday 18 January 2026

    walk.days(date(2026, 1, 19), date(2026, 3, 13))

    fee = LateFee.objects.get(invoice=invoice)
    fee_invoice = fee.fee_invoice
    assert fee.assessed_on == date(2026, 2, 9) and fee_invoice.due_date == date(2026, 3, 11)
    chasing = [m for m in smtp.to(AP) if invoice.number in smtp.text_of(m)]
    assert len(chasing) >= 3
    for message in chasing:
        subject, text = smtp.subject(message), smtp.text_of(message)
        assert "1\u202f040,00" not in subject and "1\u202f040,00" not in text, subject  # never demanded early
        sent = message["Date"]
        if fee_invoice.number in text:  # listed apart, with its own due date
            assert "Pas encore échu, à régler à sa propre échéance" in text and "11 mars 2026" in text, sent
    fee_step = next(m for m in chasing if fee_invoice.number in smtp.text_of(m))
    assert smtp.subject(fee_step) == "Impayé : 1\u202f000,00\xa0€, merci de régler maintenant"
