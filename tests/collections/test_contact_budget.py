"""One contact budget: invoice e-mails, notices, greetings and reminders count toward the same limits;
a new invoice and a reminder in the same run go out as one e-mail; greetings and price notices wait
while a customer disputes, is suspended or terminated or is at a final step, and a new price waits
for its notice."""

from __future__ import annotations

from datetime import date, timedelta

from duly.billing import services as billing
from duly.billing.models import PriceChangeNotice
from duly.collections.models import InvoiceDispatch
from duly.collections.services import assign_policy, collect, open_dispute
from duly.invoicing.models import InvoiceLine
from duly.messaging.delivery import deliver_outbox
from duly.messaging.models import Message


def test_one_run_sends_a_customer_one_reminder_carrying_its_new_invoices_not_fourteen_emails(
        org, make_customer, make_contract, make_invoice, walk, smtp):
    busy = make_customer("BUSY", name="Busy Bee SARL", contacts=[
        {"name": "Zoé Abeille", "email": "zoe@busy.example", "role": "accounts_payable",
         "birthday": date(1984, 5, 4)}])
    contract = make_contract(busy, terms_kind="net", terms_days=30, late_fee_kind="fixed_fee", late_fixed_fee="40")
    assign_policy(org, busy, "firm")
    product = billing.create_product(org, code="HOST", name="Hébergement Pro", tax_rate=20)
    price = billing.create_price(org, product, code="host-eur", currency="EUR",
                                 model_config={"model": "flat", "amount": "49.00"})
    billing.create_subscription(org, busy, [(price, 1)], start_date=date(2026, 6, 1), as_of=date(2026, 3, 1),
                                anchor_day=1)
    billing.schedule_price_change(org, price, effective_date=date(2026, 6, 3), as_of=date(2026, 4, 1),
                                  new_model_config={"model": "flat", "amount": "54.00"}, justification="Backups.")
    # Ten invoices brought over from the old system, all overdue, and three new ones issued today.
    backlog = [make_invoice(busy, contract, issued=date(2026, 1, 5) + timedelta(days=3 * n), amount="100.00")
               for n in range(10)]
    new = [make_invoice(busy, contract, issued=date(2026, 5, 4), amount=f"{n + 1}00.00") for n in range(3)]

    result = collect(org, as_of=walk.at(date(2026, 5, 4)))  # Monday: Zoé's birthday, the notice's day

    messages = list(Message.objects.filter(customer=busy).order_by("pk"))
    assert [(m.category, m.template) for m in messages] == [("dunning", "reminder_firm"),
                                                            ("notice", "price_increase")]
    reminder = messages[0]
    # The first overdue reminder: every overdue invoice demanded, the three new ones listed with their due date.
    assert reminder.subject == "Impayé : 1\u202f000,00\xa0€, merci de régler maintenant"
    assert all(i.number in reminder.text for i in backlog + new)
    assert "Pas encore échu, à régler à sa propre échéance" in reminder.text and "3 juin 2026" in reminder.text
    # Each invoice, old or new, went once: with the reminder (its PDF attached), never as an e-mail of its own.
    assert {InvoiceDispatch.objects.get(invoice=i).message_id for i in backlog + new} == {reminder.pk}
    # The birthday waits: two messages today already (a reminder and the price notice).
    assert result.greetings == [] and result.held == [
        "BUSY: birthday Zoé Abeille waits: the contact budget is spent (contact-fatigue limits)"]
    deliver_outbox(walk.at(date(2026, 5, 4)))
    assert len(smtp.to("zoe@busy.example")) == 2


def test_greetings_and_price_notices_wait_while_a_query_is_open_and_the_old_price_is_billed_meanwhile(
        org, customer, contract, make_invoice, walk, smtp):
    product = billing.create_product(org, code="HOST", name="Hébergement Pro", tax_rate=20)
    price = billing.create_price(org, product, code="host-eur", currency="EUR",
                                 model_config={"model": "flat", "amount": "49.00"})
    billing.create_subscription(org, customer, [(price, 1)], start_date=date(2026, 1, 1), as_of=date(2026, 1, 1))
    billing.schedule_price_change(org, price, effective_date=date(2026, 6, 1), as_of=date(2026, 4, 1),
                                  new_model_config={"model": "flat", "amount": "54.00"}, justification="Backups.")
    invoice = make_invoice(customer, contract, issued=date(2026, 4, 1))
    open_dispute(org, invoice.pk, question="Which project is this for?", now=walk.at(date(2026, 4, 28)))

    walk.days(date(2026, 4, 30), date(2026, 5, 5))  # the notice is due on Thursday 30 April
    notice = PriceChangeNotice.objects.get(customer=customer)
    assert notice.status == PriceChangeNotice.QUEUED and smtp.to("ap1@client.example") == []
    assert walk.results[date(2026, 5, 4)].held == [
        f"ACME: price notice of 2026-06-01 waits: a query is open on {invoice.number}"]

    # No notice, no new price: June is billed at 49.00, and the billing run says why.
    run = billing.run_billing(org, date(2026, 6, 1))
    june = InvoiceLine.objects.get(invoice__customer=customer, period_start=date(2026, 6, 1))
    assert june.net_minor == 4900
    assert [code for code, _ in run.kept_prices] == ["ACME"]
    assert "its notice (planned for 2026-04-30) has not been sent yet" in run.kept_prices[0][1]
    assert "kept a previous price" in run.summary()
