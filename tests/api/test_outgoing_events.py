"""Every outgoing webhook event type comes from a real business action through the services, reaches a real
receiver on the loopback signed (verified with the Standard Webhooks reference implementation), and only the
types an endpoint chose are sent to it."""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta, timezone as dt_timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from duly.api import outgoing_services as hooks
from duly.api.outgoing_delivery import deliver_webhooks
from duly.api.outgoing_events import emit_overdue
from duly.api.outgoing_models import WebhookDelivery, WebhookEvent
from duly.domain.webhooks import EVENT_TYPES
from duly.invoicing import services as inv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.webhook_receiver import Receiver, receiver  # noqa: E402,F401 - a fixture

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def endpoint(org, receiver):
    new = hooks.create_endpoint(org, url=receiver.url, event_types=list(EVENT_TYPES),
                                now=datetime(2026, 1, 1, tzinfo=dt_timezone.utc))
    receiver.secrets.append(new.secret)
    return new.endpoint


def issue(org, customer, contract, on, amount="100.00"):
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal(amount))],
                             contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=on)


def events(org, event_type):
    return [e.payload for e in WebhookEvent.objects.filter(organization=org, event_type=event_type).order_by("pk")]


def deliver_all():
    return deliver_webhooks(datetime.now(dt_timezone.utc) + timedelta(minutes=1))


def test_invoice_issued_paid_and_payment_recorded(org, customer, contract, endpoint, receiver):
    from duly.payments import services as payments

    invoice = issue(org, customer, contract, date(2026, 11, 2))
    payments.record_payment(org, customer, amount=Decimal("60.00"), currency="EUR", method="bank_transfer",
                            received_on=date(2026, 11, 10), allocations={invoice.pk: Decimal("60.00")})
    assert events(org, "invoice.paid") == []  # partly paid: not yet
    payment = payments.record_payment(org, customer, amount=Decimal("40.00"), currency="EUR",
                                      method="bank_transfer", received_on=date(2026, 11, 12),
                                      allocations={invoice.pk: Decimal("40.00")})
    [issued] = events(org, "invoice.issued")
    assert issued["data"]["number"] == invoice.number and issued["data"]["status"] == "issued"
    [paid] = events(org, "invoice.paid")
    assert paid["data"]["status"] == "paid" and paid["data"]["paid_on"] == "2026-11-12"
    assert paid["data"]["paid"] == {"amount_minor": 10_000, "currency": "EUR"}
    recorded = events(org, "payment.recorded")
    assert len(recorded) == 2
    assert recorded[1]["data"]["id"] == payment.pk
    assert recorded[1]["data"]["allocations"] == [{"invoice_id": invoice.pk,
                                                   "amount": {"amount_minor": 4000, "currency": "EUR"}}]
    report = deliver_all()
    assert len(report.delivered) == 4
    assert all(r.verified for r in receiver.received)
    assert sorted(r.payload["type"] for r in receiver.received) == [
        "invoice.issued", "invoice.paid", "payment.recorded", "payment.recorded"]


def test_invoice_overdue_once_per_invoice_from_the_daily_job(org, customer, contract, endpoint, receiver):
    from duly.api.tasks import scheduled_overdue_events

    invoice = issue(org, customer, contract, date(2026, 10, 1))  # net 30: due 31 October
    paid_one = issue(org, customer, contract, date(2026, 10, 1), "10.00")
    from duly.payments import services as payments

    payments.record_payment(org, customer, amount=Decimal("10.00"), currency="EUR", method="bank_transfer",
                            received_on=date(2026, 10, 5), allocations={paid_one.pk: Decimal("10.00")})
    assert invoice.due_date == date(2026, 10, 31)
    on_due_day = datetime.combine(date(2026, 10, 31), time(23, 0), PARIS)
    assert emit_overdue(on_due_day) == 0  # due today: not overdue yet
    next_day = datetime.combine(date(2026, 11, 1), time(0, 5), PARIS)
    assert scheduled_overdue_events(next_day) == 1
    assert emit_overdue(next_day + timedelta(days=1)) == 0  # once per invoice
    [overdue] = events(org, "invoice.overdue")
    assert overdue["data"]["id"] == invoice.pk and overdue["data"]["days_overdue"] == 1
    deliver_all()
    assert [r.payload["type"] for r in receiver.received if r.payload["type"] == "invoice.overdue"] == [
        "invoice.overdue"]
    assert all(r.verified for r in receiver.received)


def test_payment_failed_from_a_returned_direct_debit(org, customer, contract, endpoint, receiver):
    from duly.payments import return_services as returns
    from duly.payments import sepa_services as sepa
    from duly.payments.models import DirectDebit

    sepa.configure_creditor(org, creditor_id="FR72ZZZ123456")
    customer.preferred_payment_method = "sepa_debit"
    customer.save()
    sepa.create_mandate(org, customer, reference="ACME-MANDATE-1", signed_on=date(2026, 1, 10), signed_at="Lyon",
                        debtor_name="Acme Industries SAS", iban="DE89370400440532013000", bic="COBADEFFXXX")
    invoice = issue(org, customer, contract, date(2026, 2, 13))
    result = sepa.export_debits(org, date(2026, 3, 1))
    debit = DirectDebit.objects.get(batch=result.batch, invoice=invoice)
    returns.record_debit_collected(debit, on=date(2026, 3, 16))
    returns.record_debit_return(debit, "AM04", returned_on=date(2026, 3, 19), source="staff")
    returns.record_debit_return(debit, "AM04", returned_on=date(2026, 3, 19))  # told twice: one event
    [failed] = events(org, "payment.failed")
    assert failed["data"]["object"] == "direct_debit" and failed["data"]["invoice_id"] == invoice.pk
    assert failed["data"]["reason_code"] == "AM04" and failed["data"]["action"] == "retry"
    deliver_all()
    assert any(r.payload["type"] == "payment.failed" and r.verified for r in receiver.received)


def test_reminder_sent_and_dispute_opened(org, customer, contract, endpoint, receiver, settings, tmp_path):
    from duly.collections.services import assign_policy, collect, open_dispute

    settings.DULY_OUTBOX_JOURNAL_DIR = str(tmp_path / "journal")
    assign_policy(org, customer, "neutral")
    invoice = issue(org, customer, contract, date(2026, 3, 2), "1000.00")
    collect(org, as_of=datetime.combine(date(2026, 4, 2), time(10), PARIS))
    reminders = events(org, "reminder.sent")
    assert reminders and invoice.pk in reminders[0]["data"]["invoice_ids"]
    dispute = open_dispute(org, invoice.pk, question="Which PO?", now=datetime.combine(date(2026, 4, 3), time(9),
                                                                                      PARIS), opened_by="customer")
    [opened] = events(org, "dispute.opened")
    assert opened["data"]["id"] == dispute.pk and opened["data"]["opened_by"] == "customer"
    assert opened["data"]["sla_due_on"] == dispute.sla_due_on.isoformat()
    deliver_all()
    got = {r.payload["type"] for r in receiver.received if r.verified}
    assert {"reminder.sent", "dispute.opened"} <= got


def test_subscription_lifecycle(org, customer, make_contract, endpoint, receiver):
    from duly.billing import services as billing

    contract = make_contract(customer, terms_kind="net", terms_days=30, billing_frequency="monthly")
    product = billing.create_product(org, code="HOST", name="Hosting", tax_rate=Decimal("20"))
    flat = billing.create_price(org, product, code="host-flat", currency="EUR",
                                model_config={"model": "flat", "amount": "100.00"})
    seats = billing.create_price(org, product, code="host-seat", currency="EUR",
                                 model_config={"model": "per_unit", "unit_price": "5.00"})
    start = date(2026, 10, 1)
    sub = billing.create_subscription(org, customer, [(flat, 1), (seats, 3)], start_date=start, as_of=start,
                                      contract=contract)
    # the billing run issues its invoices in bulk: each is an invoice.issued event too
    billing.run_billing(org, start)
    issued = events(org, "invoice.issued")
    assert len(issued) == 1 and issued[0]["data"]["customer_id"] == customer.pk
    assert issued[0]["data"]["total"]["amount_minor"] > 0 and issued[0]["data"]["number"]
    seat_item = sub.items.get(price=seats)
    billing.change_item(org, sub, seat_item.pk, on=date(2026, 10, 10), as_of=date(2026, 10, 10), quantity=5)
    billing.pause_subscription(org, sub, starts_on=date(2026, 11, 1), as_of=date(2026, 10, 20))
    billing.resume_subscription(org, sub, on=date(2026, 11, 15), as_of=date(2026, 11, 15))
    billing.cancel_subscription(org, sub, on=date(2026, 11, 20), as_of=date(2026, 11, 20))
    kinds = [e.event_type for e in WebhookEvent.objects.filter(organization=org, event_type__startswith="subscription.")
             .order_by("pk")]
    assert kinds == ["subscription.created", "subscription.updated", "subscription.paused", "subscription.resumed",
                     "subscription.canceled"]
    [updated] = events(org, "subscription.updated")
    quantities = sorted((i["price"], i["quantity"], i["ends_on"]) for i in updated["data"]["items"])
    assert ("host-seat", "5", None) in quantities and ("host-seat", "3", "2026-10-10") in quantities
    [canceled] = events(org, "subscription.canceled")
    assert canceled["data"]["status"] == "canceled" and canceled["data"]["id"] == sub.pk
    deliver_all()
    got = [r.payload["type"] for r in receiver.received if r.payload["type"].startswith("subscription.")]
    assert sorted(got) == sorted(kinds) and all(r.verified for r in receiver.received)
    assert WebhookEvent.objects.filter(event_type="invoice.issued").count() >= 1


def test_an_endpoint_receives_only_the_types_it_chose(org, customer, contract, receiver):
    new = hooks.create_endpoint(org, url=receiver.url, event_types=["invoice.paid"])
    receiver.secrets.append(new.secret)
    issue(org, customer, contract, date(2026, 11, 2))
    assert not WebhookEvent.objects.exists()  # nobody listens to invoice.issued: nothing recorded
    other = Receiver().start()
    try:
        both = hooks.create_endpoint(org, url=other.url, event_types=["invoice.issued", "invoice.paid"])
        other.secrets.append(both.secret)
        issue(org, customer, contract, date(2026, 11, 3))
        assert list(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == [both.endpoint.pk]
        deliver_all()
        assert receiver.received == [] and [r.payload["type"] for r in other.received] == ["invoice.issued"]
    finally:
        other.stop()
