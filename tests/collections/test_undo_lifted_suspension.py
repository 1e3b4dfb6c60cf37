"""Undoing the bank match whose payment lifted a suspension (or a termination) puts it back, and every payment an
undo takes back reaches webhook endpoints as ``payment.reversed``, signed and delivered through the webhook outbox
like ``payment.recorded`` (issue 14's leftovers)."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta, timezone as dt_timezone
from pathlib import Path

import pytest

from duly.api import outgoing_services as hooks
from duly.api.outgoing_delivery import deliver_webhooks
from duly.api.outgoing_models import WebhookEvent
from duly.billing.models import SubscriptionPause
from duly.collections.models import CustomerProfile, Task
from duly.customers.models import Customer
from duly.invoicing.models import Invoice
from duly.payments import reconcile_services as rec
from duly.payments.bank_services import add_bank_account, import_statement
from duly.payments.reconcile_models import BankMatch

from .test_suspension import subscribed  # noqa: F401 - a fixture

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.webhook_receiver import receiver  # noqa: E402,F401 - a fixture

ACCOUNT = "DE89370400440532013000"
MAPPING = {"booking_date": "Date", "amount": "Amount", "counterparty_name": "Payer", "counterparty_iban": "IBAN",
           "remittance": "Text", "reference": "Ref", "currency": "Currency", "date_format": "%Y-%m-%d"}


def bank_pays(org, customer, on: date, invoices=None) -> list[Invoice]:
    """A statement line per invoice (default: each open invoice of the customer), quoting its RF reference, paying
    what it owes, reconciled on ``on``."""
    from duly.payments.bank_models import BankAccount

    if not BankAccount.objects.filter(organization=org).exists():
        add_bank_account(org, iban=ACCOUNT, currency="EUR", csv_mapping=MAPPING)
    if invoices is None:
        invoices = list(Invoice.objects.filter(customer=customer, status__in=Invoice.OPEN_STATUSES).order_by("pk"))
    body = "Date,Amount,Payer,IBAN,Text,Ref,Currency\n" + "".join(
        f"{on.isoformat()},{inv.balance_minor // 100}.{inv.balance_minor % 100:02d},{customer.name},,"
        f"{inv.rf_reference},,EUR\n" for inv in invoices)
    import_statement(org, body.encode(), account=ACCOUNT)
    result = rec.reconcile(org, as_of=on)
    assert result.matched == len(invoices) and result.review == 0
    return invoices


@pytest.fixture
def endpoint(org, receiver):
    new = hooks.create_endpoint(org, url=receiver.url, event_types=["payment.recorded", "payment.reversed"],
                                now=datetime(2026, 1, 1, tzinfo=dt_timezone.utc))
    receiver.secrets.append(new.secret)
    return new.endpoint


def test_undoing_the_match_that_lifted_a_suspension_puts_it_back_and_tells_webhooks(
        org, customer, subscribed, walk, smtp, endpoint, receiver):
    sub, _ = subscribed
    walk.firm_steps(until=date(2026, 4, 22))  # suspended on 22 April, subscription paused
    customer.refresh_from_db()
    assert customer.status == Customer.STATUS_SUSPENDED
    before = CustomerProfile.objects.get(customer=customer)
    first_pause = SubscriptionPause.objects.get(subscription=sub)

    bank_pays(org, customer, date(2026, 4, 24))
    customer.refresh_from_db()
    first_pause.refresh_from_db()
    assert customer.status == Customer.STATUS_ACTIVE and first_pause.resumes_on == date(2026, 4, 24)
    matches = list(BankMatch.objects.filter(organization=org).order_by("pk"))
    recorded = [e.payload["data"] for e in WebhookEvent.objects.filter(organization=org,
                                                                     event_type="payment.recorded")]
    assert len(recorded) == len(matches)

    for match in matches:  # staff find the bank matched these lines wrongly and take them all back
        rec.undo(org, match.pk, reason="wrong customer", as_of=date(2026, 4, 27))

    customer.refresh_from_db()
    profile = CustomerProfile.objects.get(customer=customer)
    assert customer.status == Customer.STATUS_SUSPENDED
    assert profile.suspended_at == before.suspended_at  # the same suspension: the next steps follow from it
    assert "suspension put back: the payment that lifted it was taken back (bank match undone: wrong customer)" \
        in profile.status_reason
    again = SubscriptionPause.objects.filter(subscription=sub).exclude(pk=first_pause.pk).get()
    assert (again.starts_on, again.resumes_on) == (date(2026, 4, 27), None)  # paused again from the undo
    assert profile.suspension_pauses == [again.pk] and profile.lifted_by_payment is None

    reversed_ = [e.payload["data"] for e in WebhookEvent.objects.filter(
        organization=org, event_type="payment.reversed").order_by("pk")]
    def what(data):
        return data["id"], data["customer_id"], data["amount"], data["allocations"], data["external_reference"]

    assert sorted(map(what, reversed_)) == sorted(map(what, recorded))  # each payment recorded, then reversed
    by_line = {m.line_id: m.pk for m in matches}
    assert sorted((d["reversal"]["cause"], d["reversal"]["bank_match_id"], d["reversal"]["reason"])
                  for d in reversed_) == sorted(("bank_match_undone", by_line[int(d["external_reference"][10:])],
                                                 "wrong customer") for d in reversed_)
    assert sorted(d["reversal"]["bank_match_id"] for d in reversed_) == sorted(m.pk for m in matches)

    report = deliver_webhooks(datetime.now(dt_timezone.utc) + timedelta(minutes=1))
    assert len(report.delivered) == 2 * len(matches)
    assert all(r.verified for r in receiver.received)  # signed with the endpoint's secret
    assert sorted(r.payload["type"] for r in receiver.received) == sorted(
        ["payment.recorded"] * len(matches) + ["payment.reversed"] * len(matches))

    # undoing again is refused and sends nothing more; the suspension is left as it is
    with pytest.raises(Exception):
        rec.undo(org, matches[0].pk, reason="again", as_of=date(2026, 4, 28))
    assert WebhookEvent.objects.filter(organization=org, event_type="payment.reversed").count() == len(matches)


def test_undoing_a_payment_recorded_after_the_lift_leaves_the_customer_active(org, customer, contract, subscribed,
                                                                               walk, smtp, make_invoice):
    walk.firm_steps(until=date(2026, 4, 22))
    bank_pays(org, customer, date(2026, 4, 24))
    lifted = CustomerProfile.objects.get(customer=customer).lifted_by_payment
    assert lifted is not None
    later = make_invoice(customer, contract, issued=date(2026, 4, 25))  # not due yet
    bank_pays(org, customer, date(2026, 4, 26), [later])
    match = BankMatch.objects.get(organization=org, line__remittance_unstructured=later.rf_reference)
    rec.undo(org, match.pk, reason="not theirs", as_of=date(2026, 4, 27))
    customer.refresh_from_db()
    assert customer.status == Customer.STATUS_ACTIVE  # that payment did not lift the suspension
    assert CustomerProfile.objects.get(customer=customer).lifted_by_payment == lifted


def test_undoing_the_match_that_restored_a_terminated_customer_terminates_them_again(
        org, customer, subscribed, walk, smtp):
    walk.firm_steps(until=date(2026, 5, 6))  # terminated; paying by 20 May restores them
    customer.refresh_from_db()
    assert customer.status == Customer.STATUS_TERMINATED
    before = CustomerProfile.objects.get(customer=customer)
    bank_pays(org, customer, date(2026, 5, 12))
    customer.refresh_from_db()
    assert customer.status == Customer.STATUS_ACTIVE
    assert Task.objects.filter(organization=org, kind="reinstate", done_at__isnull=True).count() == 1

    for match in BankMatch.objects.filter(organization=org).order_by("pk"):
        rec.undo(org, match.pk, reason="not theirs", as_of=date(2026, 5, 13))
    customer.refresh_from_db()
    profile = CustomerProfile.objects.get(customer=customer)
    assert customer.status == Customer.STATUS_TERMINATED
    assert (profile.terminated_at, profile.restore_deadline) == (before.terminated_at, date(2026, 5, 20))
    assert not Task.objects.filter(organization=org, kind="reinstate").exists()  # nothing for staff to restart
    assert "termination put back" in profile.status_reason
