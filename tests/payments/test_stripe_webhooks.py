"""Stripe's webhooks end to end: the loopback fake makes the events, the test POSTs them signed to /webhooks/stripe/.

Also the recording of a charge after a crash (a recovery pass): one payment, whatever reports it first.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.payments import signals
from duly.payments.models import Payment, ProviderEvent, Refund
from duly.payments.providers.base import PaymentRequest, RefundRequest
from duly.payments.providers.stripe import StripeProvider
from duly.payments.webhook_services import record_charge

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.stripe_server import StripeFake, sign_payload  # noqa: E402

KEY = "sk_test_duly"
SECRET = "whsec_test_duly"
URL = "/webhooks/stripe/"


@pytest.fixture(scope="module")
def fake():
    with StripeFake(KEY) as server:
        yield server


@pytest.fixture
def provider(fake, settings):
    fake.point_settings(settings, webhook_secret=SECRET)
    return StripeProvider()


@pytest.fixture
def invoice(org, customer, contract):
    today = datetime.now(timezone.utc).date()
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("120"))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=today)


def charge(provider, fake, invoice, key, pm="pm_card_visa"):
    customer = provider.client.v1.customers.create().id
    return provider.charge(PaymentRequest(invoice.total_minor, invoice.currency, key, customer, pm,
                                          metadata={"duly_invoice": str(invoice.pk),
                                                    "duly_organization": str(invoice.organization_id)}))


def event(fake, kind, ref):
    return next(e for e in reversed(fake.events) if e["type"] == kind
                and ref in (e["data"]["object"].get("id"), e["data"]["object"].get("payment_intent")))


def post(client, fake, evt, secret=SECRET, timestamp=None):
    payload, header = fake.event_payload(evt, secret, timestamp)
    return client.post(URL, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def test_a_success_is_recorded_once_and_a_replay_is_a_no_op(client, fake, provider, invoice):
    result = charge(provider, fake, invoice, f"inv-{invoice.pk}-attempt-1")
    succeeded = event(fake, "payment_intent.succeeded", result.charge_ref)
    answer = post(client, fake, succeeded)
    assert answer.status_code == 200 and answer.json()["status"] == "processed"
    payment = Payment.objects.get()
    assert (payment.external_reference, payment.amount_minor, payment.currency, payment.method) == (
        result.charge_ref, invoice.total_minor, "EUR", "card")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.PAID
    again = post(client, fake, succeeded)  # Stripe delivers at least once
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert Payment.objects.count() == 1 and ProviderEvent.objects.count() == 1
    row = ProviderEvent.objects.get()
    assert row.processed_at and row.organization_id == invoice.organization_id and row.object_ref == result.charge_ref


@pytest.mark.parametrize("how", ["forged", "expired", "missing", "tampered"])
def test_a_forged_or_expired_signature_is_refused_and_writes_nothing(client, fake, provider, invoice, how):
    result = charge(provider, fake, invoice, f"inv-{invoice.pk}-{how}")
    succeeded = event(fake, "payment_intent.succeeded", result.charge_ref)
    payload, header = fake.event_payload(succeeded, SECRET)
    if how == "forged":
        header = sign_payload(payload, "whsec_attacker")
    elif how == "expired":
        header = sign_payload(payload, SECRET, int(time.time()) - 301)
    elif how == "missing":
        header = ""
    else:
        payload = payload.replace(b'"amount": 12000', b'"amount": 1')
    answer = client.post(URL, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert answer.status_code == 400 and answer["Content-Type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "webhook_rejected" and problem["status"] == 400
    assert SECRET not in answer.content.decode() and KEY not in answer.content.decode()
    assert not ProviderEvent.objects.exists() and not Payment.objects.exists()


def test_only_post_is_accepted(db, client, provider):
    assert client.get(URL).status_code == 405


def test_recovery_after_a_crash_records_the_charge_once(client, fake, provider, invoice):
    customer = provider.client.v1.customers.create().id
    request = PaymentRequest(invoice.total_minor, "EUR", f"inv-{invoice.pk}-attempt-crash", customer, "pm_card_visa",
                             metadata={"duly_invoice": str(invoice.pk)})
    sent_at = datetime.now(timezone.utc)
    fake.lose_next_responses(1)  # Stripe charged, the worker died before hearing it
    with pytest.raises(Exception):
        provider.charge(request)
    assert not Payment.objects.exists()
    found = provider.recover_charge(request, sent_at=sent_at, now=datetime.now(timezone.utc))
    assert found.succeeded
    today = sent_at.date()
    first = record_charge(invoice.organization, invoice.pk, found, received_on=today)
    assert record_charge(invoice.organization, invoice.pk, found, received_on=today) == first
    assert post(client, fake, event(fake, "payment_intent.succeeded", found.charge_ref)).status_code == 200
    assert Payment.objects.count() == 1 and Payment.objects.get().external_reference == found.charge_ref
    assert len([o for o in fake.objects("pi_") if o["customer"] == customer]) == 1


def test_a_refund_is_recorded_once_and_reopens_the_invoice(client, fake, provider, invoice):
    result = charge(provider, fake, invoice, f"inv-{invoice.pk}-refund")
    post(client, fake, event(fake, "payment_intent.succeeded", result.charge_ref))
    provider.refund(RefundRequest(result.charge_ref, 2_000, "EUR", f"refund-{invoice.pk}-1"))
    refunded = event(fake, "charge.refunded", result.charge_ref)
    assert post(client, fake, refunded).json()["status"] == "processed"
    assert post(client, fake, refunded).json()["status"] == "duplicate"
    refund = Refund.objects.get()
    assert refund.amount_minor == 2_000 and refund.payment.refunded_minor == 2_000
    invoice.refresh_from_db()
    assert invoice.status == Invoice.PARTIALLY_PAID and invoice.balance_minor == 2_000


def test_a_refund_that_arrives_before_its_success_waits_for_it(client, fake, provider, invoice):
    result = charge(provider, fake, invoice, f"inv-{invoice.pk}-early")
    provider.refund(RefundRequest(result.charge_ref, 12_000, "EUR", f"refund-{invoice.pk}-early"))
    early = post(client, fake, event(fake, "charge.refunded", result.charge_ref))
    assert early.status_code == 200 and early.json()["status"] == "pending"
    assert not Payment.objects.exists() and not Refund.objects.exists()
    post(client, fake, event(fake, "payment_intent.succeeded", result.charge_ref))
    payment = Payment.objects.get()
    assert payment.refunded_minor == 12_000 and Refund.objects.count() == 1
    assert not ProviderEvent.objects.filter(processed_at__isnull=True).exists()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.ISSUED and invoice.balance_minor == invoice.total_minor


def test_a_chargeback_reopens_the_invoice_and_tells_the_layers_above(client, fake, provider, invoice):
    heard = []

    def listener(sender, payment, refund, dispute_ref, reason, **kw):
        heard.append((payment.pk, refund.amount_minor, dispute_ref, reason))

    signals.payment_disputed.connect(listener)
    try:
        result = charge(provider, fake, invoice, f"inv-{invoice.pk}-dispute", pm="pm_card_createDispute")
        post(client, fake, event(fake, "payment_intent.succeeded", result.charge_ref))
        invoice.refresh_from_db()
        assert invoice.status == Invoice.PAID
        dispute = event(fake, "charge.dispute.created", result.charge_ref)
        assert post(client, fake, dispute).json()["status"] == "processed"
        assert post(client, fake, dispute).json()["status"] == "duplicate"
    finally:
        signals.payment_disputed.disconnect(listener)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.ISSUED and invoice.balance_minor == invoice.total_minor
    payment = Payment.objects.get()
    assert heard == [(payment.pk, 12_000, dispute["data"]["object"]["id"], "fraudulent")]
    assert Refund.objects.get().external_reference == dispute["data"]["object"]["id"]


def test_an_event_duly_does_not_act_on_is_stored_and_processed(db, client, fake, provider):
    unknown = {"id": "evt_other_1", "object": "event", "type": "customer.created", "created": int(time.time()),
               "data": {"object": {"id": "cus_1", "object": "customer"}}}
    answer = post(client, fake, unknown)
    assert answer.status_code == 200 and answer.json()["status"] == "processed"
    assert ProviderEvent.objects.get().outcome == "ignored"
    assert json.loads(json.dumps(ProviderEvent.objects.get().payload))["id"] == "evt_other_1"


def test_a_yen_payment_is_recorded_in_yen(client, fake, provider, org, make_customer, make_contract):
    yen = make_customer(currency="JPY")
    today = datetime.now(timezone.utc).date()
    draft = inv.create_draft(org, yen, [inv.LineData("Service", Decimal(1), Decimal("5000"))],
                             contract=make_contract(yen))
    invoice = inv.issue_invoice(org, draft.pk, issue_date=today)
    assert (invoice.currency, invoice.total_minor) == ("JPY", 5_000)
    result = charge(provider, fake, invoice, f"inv-{invoice.pk}-jpy")
    assert fake.objects(result.charge_ref)[0]["amount"] == 5_000  # yen, not hundredths of a yen
    assert post(client, fake, event(fake, "payment_intent.succeeded", result.charge_ref)).status_code == 200
    payment = Payment.objects.get()
    assert (payment.amount_minor, payment.currency) == (5_000, "JPY")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.PAID


def test_a_saved_method_is_stored_once_with_stripe_ids_only(client, fake, provider, org, customer):
    from duly.payments.models import SavedPaymentMethod
    from duly.payments.providers.base import SetupRequest

    setup = provider.create_setup(SetupRequest(f"setup-{customer.pk}", email="ap@client.example",
                                               metadata={"duly_customer": str(customer.pk),
                                                         "duly_organization": str(org.pk)}))
    provider.client.v1.setup_intents.confirm(setup.setup_ref, params={"payment_method": "pm_card_mastercard"})
    done = event(fake, "setup_intent.succeeded", setup.setup_ref)
    assert post(client, fake, done).json()["status"] == "processed"
    assert post(client, fake, done).json()["status"] == "duplicate"
    saved = SavedPaymentMethod.objects.get()
    assert (saved.organization_id, saved.customer_id, saved.customer_ref, saved.method_ref, saved.setup_ref,
            saved.kind) == (org.pk, customer.pk, setup.customer_ref, "pm_card_mastercard", setup.setup_ref, "card")
    assert provider.saved_method(saved.method_ref).describe() == "Mastercard •••• 4444"
    assert saved.describe() == "Mastercard •••• 4444 (12/2034)"  # asked of Stripe when saved: what staff are shown
