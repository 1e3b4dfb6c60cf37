"""What the customer hears when autopay cannot take a payment: reminders wait while a retry is scheduled and the
next one after the last failure explains the decline in their language; a hard decline asks once for a new method
with the personal pay link; 3-D Secure asks to confirm the payment and is not a decline. Against the loopback Stripe
fake (tests/fakes/stripe_server.py), with the real dunning run and outbox."""

from __future__ import annotations

import sys
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from duly.collections.services import collect
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice
from duly.messaging.models import Message
from duly.payments.autopay_services import AUTHENTICATION_REQUIRED, autopay_holds, recover_attempts, run_autopay
from duly.payments.models import ChargeAttempt, Payment, SavedPaymentMethod
from duly.payments.providers.stripe import StripeProvider

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.stripe_server import StripeFake  # noqa: E402

KEY = "sk_test_duly"
SECRET = "whsec_test_duly"
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def fake():
    with StripeFake(KEY) as server:
        yield server


@pytest.fixture
def provider(fake):
    return StripeProvider(api_key=KEY, api_base=fake.url, max_network_retries=0)


@pytest.fixture
def invoice(org, customer, contract):
    from datetime import date

    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("120"))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 2))


def save_card(provider, customer, pm) -> SavedPaymentMethod:
    ref = provider.client.v1.customers.create(params={"metadata": {"duly_customer": str(customer.pk)}}).id
    return SavedPaymentMethod.objects.create(organization=customer.organization, customer=customer, provider="stripe",
                                             customer_ref=ref, method_ref=pm, kind="card", is_default=True)


def noon(day):
    return datetime.combine(day, time(12), PARIS)


def reminders(invoice):
    return [m for m in Message.objects.filter(category="dunning").order_by("pk") if invoice.pk in (m.invoice_ids or [])]


def autopay_messages(invoice):
    return list(Message.objects.filter(template="payment_failed").order_by("pk"))


def test_reminders_wait_while_a_retry_is_scheduled_and_the_next_one_explains_the_decline(org, invoice, provider,
                                                                                           fake):
    save_card(provider, invoice.customer, "pm_card_chargeDeclinedInsufficientFunds")
    days_with_retry, first_reminder = [], None
    for offset in range(0, 40):
        day = invoice.due_date + timedelta(days=offset)
        run_autopay(org, day, provider=provider)
        held, declined = autopay_holds([invoice.pk], day)
        if held:
            days_with_retry.append(day)
            collect(org, as_of=noon(day))
            assert reminders(invoice) == [], f"a reminder went out on {day} while a retry was scheduled"
        else:
            collect(org, as_of=noon(day))
            if reminders(invoice):
                first_reminder = day
                break
    attempts = list(ChargeAttempt.objects.filter(invoice=invoice).order_by("attempt"))
    assert [a.status for a in attempts] == ["failed"] * 4  # the card schedule: 4 attempts over 14 days
    assert attempts[-1].next_retry_on is None and days_with_retry
    assert first_reminder is not None and first_reminder >= attempts[-1].attempted_on
    [reminder] = reminders(invoice)
    # the customer's language (fr_FR): the decline explained under the invoice, in text and HTML
    assert "Paiement automatique refusé" in reminder.text
    assert "le compte n'était pas suffisamment approvisionné" in reminder.text
    assert "suffisamment approvisionné" in reminder.html
    assert autopay_messages(invoice) == []  # soft declines send nothing of their own


def test_a_hard_decline_asks_once_for_a_new_method_with_the_pay_link_in_the_customers_language(
        org, invoice, provider, fake):
    save_card(provider, invoice.customer, "pm_card_chargeDeclinedStolenCard")
    report = run_autopay(org, invoice.due_date, provider=provider)
    assert (report.failed, report.retries_scheduled) == (1, 0)
    [message] = autopay_messages(invoice)
    assert message.language == "fr" and message.to_email == "ap1@client.example"
    assert "n'a pas abouti" in message.subject and "120,00" in message.subject
    assert "la carte ne peut plus être utilisée" in message.text
    assert "nouveau moyen de paiement" in message.text
    assert "/p/" in message.text  # the personal pay link
    assert message.idempotency_key == f"autopay-new_method:{ChargeAttempt.objects.get(invoice=invoice).pk}"
    for offset in range(1, 15):  # never retried, never asked again
        run_autopay(org, invoice.due_date + timedelta(days=offset), provider=provider)
    recover_attempts(org, invoice.due_date, provider=provider)
    assert len(autopay_messages(invoice)) == 1 and ChargeAttempt.objects.filter(invoice=invoice).count() == 1
    held, declined = autopay_holds([invoice.pk], invoice.due_date)
    assert not held and declined == {invoice.pk: ("card", "stolen_card")}


def test_a_message_per_hard_decline_in_english_for_an_english_customer(org, make_customer, make_contract, provider,
                                                                      fake):
    from datetime import date

    customer = make_customer(locale="en_GB", timezone="Europe/London", country="GB", city="London",
                             postcode="SW1A 1AA")
    contract = make_contract(customer, terms_kind="net", terms_days=30)
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("120"))], contract=contract)
    invoice = inv.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 2))
    save_card(provider, customer, "pm_card_chargeDeclinedLostCard")
    run_autopay(org, invoice.due_date, provider=provider)
    [message] = autopay_messages(invoice)
    assert message.language == "en" and "did not go through" in message.subject
    assert "the card can no longer be used" in message.text and "choose a new payment method" in message.text


def _webhook(client, fake, kind, pi_id):
    event = next(e for e in reversed(fake.events) if e["type"] == kind and e["data"]["object"]["id"] == pi_id)
    payload, header = fake.event_payload(event, SECRET)
    response = client.post("/webhooks/stripe/", payload, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("pm", ["pm_card_authenticationRequired", "pm_card_threeDSecure2Required"])
def test_3d_secure_is_not_a_decline_the_customer_confirms_and_the_webhook_records_it(
        client, settings, org, invoice, provider, fake, pm):
    settings.DULY_STRIPE_WEBHOOK_SECRET = SECRET
    settings.DULY_STRIPE_SECRET_KEY = KEY
    settings.DULY_STRIPE_API_BASE = fake.url
    settings.DULY_STRIPE_MAX_NETWORK_RETRIES = 0
    save_card(provider, invoice.customer, pm)
    report = run_autopay(org, invoice.due_date, provider=provider)
    assert (report.failed, report.pending, report.succeeded) == (0, 1, 0)
    attempt = ChargeAttempt.objects.get(invoice=invoice)
    assert (attempt.status, attempt.decline_code, attempt.decline_category) == ("pending", AUTHENTICATION_REQUIRED, "")
    assert attempt.provider_ref.startswith("pi_") and attempt.next_retry_on is None
    [message] = autopay_messages(invoice)
    assert "confirmer votre paiement" in message.subject and "3-D Secure" in message.text
    assert "/p/" in message.text
    assert message.idempotency_key == f"autopay-authenticate:{attempt.pk}"
    # waiting for the customer: no retry, no second charge, recovery leaves it, reminders are not held back
    for offset in range(1, 6):
        assert run_autopay(org, invoice.due_date + timedelta(days=offset), provider=provider).attempted == 0
    assert recover_attempts(org, invoice.due_date, provider=provider).unresolved == 1
    assert autopay_holds([invoice.pk], invoice.due_date) == (set(), {})
    assert len(autopay_messages(invoice)) == 1

    fake.authenticate(attempt.provider_ref)  # the customer confirms on session
    assert _webhook(client, fake, "payment_intent.succeeded", attempt.provider_ref)["status"] == "processed"
    attempt.refresh_from_db()
    assert attempt.status == ChargeAttempt.SUCCEEDED and attempt.finished_at is not None
    assert not Invoice.objects.get(pk=invoice.pk).is_open
    assert Payment.objects.get(organization=org).external_reference == attempt.provider_ref
    assert recover_attempts(org, invoice.due_date, provider=provider).checked == 0
    assert len([pi for pi in fake.objects("pi_")]) == 1


def test_3d_secure_failed_by_the_customer_is_recorded_as_a_decline_from_the_webhook(
        client, settings, org, invoice, provider, fake):
    settings.DULY_STRIPE_WEBHOOK_SECRET = SECRET
    settings.DULY_STRIPE_SECRET_KEY = KEY
    settings.DULY_STRIPE_API_BASE = fake.url
    save_card(provider, invoice.customer, "pm_card_threeDSecure2Required")
    run_autopay(org, invoice.due_date, provider=provider)
    attempt = ChargeAttempt.objects.get(invoice=invoice)
    fake.authenticate(attempt.provider_ref, succeed=False)
    _webhook(client, fake, "payment_intent.payment_failed", attempt.provider_ref)
    attempt.refresh_from_db()
    assert attempt.status == ChargeAttempt.FAILED and attempt.decline_code == "payment_intent_authentication_failure"
    assert Invoice.objects.get(pk=invoice.pk).is_open and not Payment.objects.filter(organization=org).exists()


def test_a_provider_outage_over_days_keeps_the_invoice_open_and_charges_it_once_later(org, invoice, provider, fake):
    method = save_card(provider, invoice.customer, "pm_card_visa")
    fake.fail_next(3)  # Stripe down: the charge, and the recovery passes of the same day and the next
    assert run_autopay(org, invoice.due_date, provider=provider).unknown == 1
    assert recover_attempts(org, invoice.due_date, provider=provider).unresolved == 1
    day2 = invoice.due_date + timedelta(days=1)
    assert recover_attempts(org, day2, provider=provider).unresolved == 1
    assert run_autopay(org, day2, provider=provider).attempted == 0  # never a second attempt beside the unknown one
    assert Invoice.objects.get(pk=invoice.pk).is_open and not Payment.objects.filter(organization=org).exists()
    assert autopay_holds([invoice.pk], day2)[0] == {invoice.pk}  # chasing waits for the outcome
    # Stripe is back: the next pass charges it (it never reached Stripe), once
    recovered = recover_attempts(org, day2, provider=provider)
    assert (recovered.recharged, recovered.succeeded) == (1, 1)
    assert recover_attempts(org, day2, provider=provider).checked == 0
    assert run_autopay(org, day2 + timedelta(days=1), provider=provider).attempted == 0
    assert len([pi for pi in fake.objects("pi_") if pi["customer"] == method.customer_ref]) == 1
    assert Payment.objects.filter(organization=org).count() == 1
    assert not Invoice.objects.get(pk=invoice.pk).is_open


def _sepa_method(provider, customer, iban):
    v1 = provider.client.v1
    ref = v1.customers.create(params={"metadata": {"duly_customer": str(customer.pk)}}).id
    pm = v1.payment_methods.create(params={"type": "sepa_debit", "sepa_debit": {"iban": iban},
                                           "billing_details": {"name": customer.name,
                                                               "email": "ap1@client.example"}}).id
    return SavedPaymentMethod.objects.create(organization=customer.organization, customer=customer, provider="stripe",
                                             customer_ref=ref, method_ref=pm, kind="sepa_debit", is_default=True)


@pytest.mark.parametrize("iban,paid", [("DE89370400440532013000", True), ("DE62370400440532013001", False)])
def test_a_stripe_sepa_debit_waits_processing_and_its_webhook_settles_the_attempt(client, settings, org, customer,
                                                                                  contract, provider, fake, iban,
                                                                                  paid):
    from datetime import date

    # due today: the fake dates its events with the real clock, and the webhook's day is when the debit failed
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("120"))], contract=contract)
    invoice = inv.issue_invoice(org, draft.pk, issue_date=date.today() - timedelta(days=30))
    assert invoice.due_date == date.today()
    settings.DULY_STRIPE_WEBHOOK_SECRET = SECRET
    settings.DULY_STRIPE_SECRET_KEY = KEY
    settings.DULY_STRIPE_API_BASE = fake.url
    _sepa_method(provider, invoice.customer, iban)
    assert run_autopay(org, invoice.due_date, provider=provider).pending == 1
    attempt = ChargeAttempt.objects.get(invoice=invoice)
    assert attempt.status == ChargeAttempt.PENDING and attempt.decline_code == ""
    assert autopay_holds([invoice.pk], invoice.due_date)[0] == {invoice.pk}  # reminders wait for the debit
    settled = fake.settle(attempt.provider_ref)
    _webhook(client, fake, "payment_intent.succeeded" if paid else "payment_intent.payment_failed", settled["id"])
    attempt.refresh_from_db()
    if paid:
        assert attempt.status == ChargeAttempt.SUCCEEDED and not Invoice.objects.get(pk=invoice.pk).is_open
        assert autopay_holds([invoice.pk], invoice.due_date) == (set(), {})
    else:  # AM04: re-presented 14 days after the first collection, reminders still wait
        assert (attempt.status, attempt.decline_code, attempt.decline_category) == ("failed", "AM04", "soft")
        assert attempt.next_retry_on >= invoice.due_date + timedelta(days=14)
        assert autopay_holds([invoice.pk], invoice.due_date)[0] == {invoice.pk}
        assert Invoice.objects.get(pk=invoice.pk).is_open and autopay_messages(invoice) == []
