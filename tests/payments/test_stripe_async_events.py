"""Stripe events after the fact: a dispute closed (won: the invoice settles again; lost: it stays reopened) and an
asynchronous SEPA Debit failing (the autopay attempt fails and domain.retries decides), in order, out of order and
twice, signed by the loopback fake and POSTed to /webhooks/stripe/."""

from __future__ import annotations

import sys
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.payments import signals
from duly.payments.autopay_services import run_autopay
from duly.payments.models import ChargeAttempt, Payment, ProviderEvent, Refund, SavedPaymentMethod
from duly.payments.providers.stripe import StripeProvider

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.stripe_server import StripeFake  # noqa: E402

from .test_stripe_webhooks import KEY, SECRET, charge, event, post  # noqa: E402


@pytest.fixture
def fake():
    with StripeFake(KEY) as server:
        yield server


@pytest.fixture
def provider(fake, settings):
    fake.point_settings(settings, webhook_secret=SECRET)
    return StripeProvider()


def outcome(answer) -> str:
    """What Duly did with the event the webhook answered for (kept on the stored event)."""
    return ProviderEvent.objects.get(event_id=answer.json()["event"]).outcome


def make_invoice(org, customer, contract, on=None):
    on = on or datetime.now(timezone.utc).date()
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("120"))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=on)


@pytest.fixture
def closings():
    heard = []

    def listener(sender, payment, dispute_ref, outcome, reinstated, **kw):
        heard.append((payment.pk, dispute_ref, outcome, reinstated.pk if reinstated else None))

    signals.payment_dispute_closed.connect(listener)
    yield heard
    signals.payment_dispute_closed.disconnect(listener)


def disputed(client, fake, provider, invoice):
    result = charge(provider, fake, invoice, f"inv-{invoice.pk}-dispute", pm="pm_card_createDispute")
    return result, event(fake, "payment_intent.succeeded", result.charge_ref), \
        event(fake, "charge.dispute.created", result.charge_ref)


def test_a_won_dispute_settles_the_reopened_invoice_again(client, fake, provider, org, customer, contract, closings):
    invoice = make_invoice(org, customer, contract)
    result, succeeded, opened = disputed(client, fake, provider, invoice)
    post(client, fake, succeeded)
    post(client, fake, opened)
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.ISSUED  # reopened by the chargeback
    fake.close_dispute(opened["data"]["object"]["id"], won=True)
    closed = event(fake, "charge.dispute.closed", result.charge_ref)
    answer = post(client, fake, closed)
    assert answer.json()["status"] == "processed" and "dispute won" in outcome(answer)
    assert post(client, fake, closed).json()["status"] == "duplicate"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.PAID and invoice.balance_minor == 0
    first, back = Payment.objects.order_by("pk")
    assert back.external_reference == f"{opened['data']['object']['id']}:won" and back.amount_minor == 12_000
    assert closings == [(first.pk, opened["data"]["object"]["id"], "won", back.pk)]


def test_a_lost_dispute_leaves_the_invoice_reopened(client, fake, provider, org, customer, contract, closings):
    invoice = make_invoice(org, customer, contract)
    result, succeeded, opened = disputed(client, fake, provider, invoice)
    post(client, fake, succeeded)
    post(client, fake, opened)
    fake.close_dispute(opened["data"]["object"]["id"], won=False)
    answer = post(client, fake, event(fake, "charge.dispute.closed", result.charge_ref))
    assert "stay reopened" in outcome(answer)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.ISSUED and invoice.balance_minor == 12_000
    assert Payment.objects.count() == 1 and Refund.objects.count() == 1
    assert [c[2] for c in closings] == ["lost"]


def test_closings_before_their_openings(client, fake, provider, org, customer, contract, closings):
    lost_invoice = make_invoice(org, customer, contract)
    result, succeeded, opened = disputed(client, fake, provider, lost_invoice)
    fake.close_dispute(opened["data"]["object"]["id"], won=False)
    closed = event(fake, "charge.dispute.closed", result.charge_ref)
    assert post(client, fake, closed).json()["status"] == "pending"  # waits for its payment
    assert post(client, fake, opened).json()["status"] == "pending"
    post(client, fake, succeeded)  # the payment, then what waited for it, oldest first
    lost_invoice.refresh_from_db()
    assert lost_invoice.status == Invoice.ISSUED and Refund.objects.count() == 1

    won_invoice = make_invoice(org, customer, contract)
    result, succeeded, opened = disputed(client, fake, provider, won_invoice)
    post(client, fake, succeeded)
    fake.close_dispute(opened["data"]["object"]["id"], won=True)
    post(client, fake, event(fake, "charge.dispute.closed", result.charge_ref))  # won before it was seen opening
    answer = post(client, fake, opened)
    assert outcome(answer) == "dispute already closed: nothing to reverse"
    won_invoice.refresh_from_db()
    assert won_invoice.status == Invoice.PAID and Refund.objects.count() == 1
    assert [c[2] for c in closings] == ["lost", "won"]


def save_sepa(provider, customer, iban):
    stripe_customer = provider.client.v1.customers.create().id
    pm = provider.client.v1.payment_methods.create(params={"type": "sepa_debit", "sepa_debit": {"iban": iban}}).id
    return SavedPaymentMethod.objects.create(organization=customer.organization, customer=customer, provider="stripe",
                                             customer_ref=stripe_customer, method_ref=pm, kind="sepa_debit",
                                             is_default=True)


def test_a_failed_sepa_debit_fails_its_attempt_and_the_domain_schedules_the_retry(client, fake, provider, org,
                                                                                  customer, contract):
    invoice = make_invoice(org, customer, contract)  # due in 30 days: the failure is reported before that day
    save_sepa(provider, customer, "DE62370400440532013001")  # the fake's failing test IBAN: insufficient funds
    report = run_autopay(org, invoice.due_date, provider=provider)
    assert report.pending == 1
    attempt = ChargeAttempt.objects.get()
    assert attempt.status == ChargeAttempt.PENDING and attempt.provider_ref.startswith("pi_")
    fake.settle(attempt.provider_ref)
    failed = event(fake, "payment_intent.payment_failed", attempt.provider_ref)
    answer = post(client, fake, failed)
    assert answer.json()["status"] == "processed" and "AM04, soft" in outcome(answer)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.decline_code, attempt.decline_category) == ("failed", "AM04", "soft")
    # SEPA: AM04 is re-presented, aimed 7 days after the first attempt (domain.retries.SEPA_SCHEDULE)
    assert attempt.next_retry_on is not None and (attempt.next_retry_on - invoice.due_date).days >= 7
    assert post(client, fake, failed).json()["status"] == "duplicate"
    assert Invoice.objects.get(pk=invoice.pk).is_open and not Payment.objects.exists()


def test_a_failure_after_the_attempt_succeeded_changes_nothing(client, fake, provider, org, customer, contract):
    invoice = make_invoice(org, customer, contract, date(2026, 3, 2))
    save_sepa(provider, customer, "DE89370400440532013000")
    run_autopay(org, invoice.due_date, provider=provider)
    attempt = ChargeAttempt.objects.get()
    fake.settle(attempt.provider_ref)
    ChargeAttempt.objects.filter(pk=attempt.pk).update(status=ChargeAttempt.SUCCEEDED)
    stale = {**event(fake, "payment_intent.succeeded", attempt.provider_ref), "id": "evt_stale_failure",
             "type": "payment_intent.payment_failed"}
    answer = post(client, fake, stale)
    assert answer.json()["status"] == "processed" and "already succeeded" in outcome(answer)
    assert ChargeAttempt.objects.get().status == ChargeAttempt.SUCCEEDED


def test_a_failure_of_a_charge_autopay_did_not_make_is_ignored(client, fake, provider, org, customer, contract):
    invoice = make_invoice(org, customer, contract)
    result = charge(provider, fake, invoice, f"inv-{invoice.pk}-portal", pm="pm_card_chargeDeclined")
    answer = post(client, fake, event(fake, "payment_intent.payment_failed", result.charge_ref))
    assert answer.json()["status"] == "processed" and outcome(answer).startswith("ignored")


def test_the_chargeback_task_records_the_outcome(client, fake, provider, org, customer, contract):
    from duly.collections.models import Task

    invoice = make_invoice(org, customer, contract)
    result, succeeded, opened = disputed(client, fake, provider, invoice)
    post(client, fake, succeeded)
    post(client, fake, opened)
    dispute_id = opened["data"]["object"]["id"]
    task = Task.objects.get(kind="chargeback")
    assert task.key == f"chargeback:{dispute_id}" and task.done_at is None
    assert "120.00 EUR reversed" in task.description and invoice.number in task.description
    fake.close_dispute(dispute_id, won=True)
    post(client, fake, event(fake, "charge.dispute.closed", result.charge_ref))
    task.refresh_from_db()
    assert task.done_at is not None and "won: the money came back" in task.description
    assert Task.objects.count() == 1
