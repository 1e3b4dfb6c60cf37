"""The Stripe provider against the loopback fake (tests/fakes/stripe_server.py): no test reaches Stripe.

Each provider builds its own ``StripeClient``: the ``stripe`` module's globals are never set.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import stripe

from duly.domain.errors import ProviderError, ProviderUnavailable
from duly.payments.providers import registry
from duly.payments.providers.base import (
    ChargeStatus,
    DeclineCategory,
    MethodKind,
    PaymentRequest,
    RefundRequest,
    RefundStatus,
    SetupRequest,
)
from duly.payments.providers.stripe import IDEMPOTENCY_METADATA, StripeProvider

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.stripe_server import StripeFake  # noqa: E402

KEY = "sk_test_duly"
SECRET = "whsec_test_duly"


@pytest.fixture(scope="module")
def fake():
    with StripeFake(KEY) as server:
        yield server


@pytest.fixture
def provider(fake):
    return StripeProvider(api_key=KEY, webhook_secret=SECRET, api_base=fake.url, max_network_retries=0)


@pytest.fixture(autouse=True)
def no_global_state():
    before = (stripe.api_key, stripe.api_base)
    yield
    assert (stripe.api_key, stripe.api_base) == before  # the provider never touches the module's globals


def browser(fake):
    """What Stripe.js does in the customer's browser: confirm the SetupIntent with a card."""
    return stripe.StripeClient(KEY, base_addresses={"api": fake.url}, max_network_retries=0)


def saved_card(provider, fake, pm="pm_card_visa", key="setup-1"):
    setup = provider.create_setup(SetupRequest(f"{key}-{pm}-{id(provider)}", email="ada@example.com", name="Ada",
                                               metadata={"duly_customer": "42"}))
    assert setup.setup_ref.startswith("seti_") and setup.customer_ref.startswith("cus_")
    assert setup.client_secret.startswith(setup.setup_ref + "_secret_")
    browser(fake).v1.setup_intents.confirm(setup.setup_ref, params={"payment_method": pm})
    return setup.customer_ref, pm


def pay(customer, pm, key, amount=12_000, currency="EUR", **kw):
    return PaymentRequest(amount, currency, key, customer, pm, metadata={"duly_invoice": "7"}, **kw)


def test_registered_under_stripe_and_built_from_settings(settings, fake):
    settings.DULY_STRIPE_SECRET_KEY = KEY
    settings.DULY_STRIPE_API_BASE = fake.url
    settings.DULY_STRIPE_WEBHOOK_SECRET = SECRET
    built = registry.get("stripe")
    assert isinstance(built, StripeProvider) and built.api_key == KEY and built.webhook_secret == SECRET
    assert KEY not in repr(built)
    other = registry.get("stripe", api_key="sk_test_other", api_base=fake.url, max_network_retries=0)
    assert other.client is not built.client
    with pytest.raises(ProviderError):  # the fake refuses the other key: nothing leaks between providers
        other.saved_method("pm_card_visa")
    assert built.saved_method("pm_card_visa").last4 == "4242"
    with pytest.raises(ProviderError, match="not configured"):
        StripeProvider(api_key="", api_base=fake.url).client


def test_setup_saves_a_card_and_describes_it_without_card_data(provider, fake):
    number = "4000056655665556"
    pm = browser(fake).v1.payment_methods.create(params={"type": "card", "card": {
        "number": number, "exp_month": 11, "exp_year": 2031, "cvc": "123"}})
    customer, _ = saved_card(provider, fake, pm.id)
    method = provider.saved_method(pm.id)
    assert (method.customer_ref, method.kind, method.brand, method.last4, method.exp_month, method.exp_year) == (
        customer, MethodKind.CARD, "visa", "5556", 11, 2031)
    assert method.describe() == "Visa •••• 5556" and number not in repr(method)


def test_a_successful_off_session_charge(provider, fake):
    customer, pm = saved_card(provider, fake)
    result = provider.charge(pay(customer, pm, "inv-7-attempt-1"))
    assert result.succeeded and result.charge_ref.startswith("pi_")
    assert (result.amount_minor, result.currency, result.idempotency_key) == (12_000, "EUR", "inv-7-attempt-1")
    pi = fake.objects(result.charge_ref)[0]
    assert pi["currency"] == "eur" and pi["metadata"] == {"duly_invoice": "7", IDEMPOTENCY_METADATA: "inv-7-attempt-1"}
    assert provider.retrieve_charge(result.charge_ref) == result


def test_zero_decimal_currency_goes_in_yen_not_cents(provider, fake):
    customer, pm = saved_card(provider, fake, key="jpy")
    result = provider.charge(pay(customer, pm, "inv-jpy-1", amount=5_000, currency="JPY"))
    assert result.succeeded and (result.amount_minor, result.currency) == (5_000, "JPY")
    assert fake.objects(result.charge_ref)[0]["amount"] == 5_000  # 5,000 yen, Stripe's unit too


def test_the_same_key_creates_one_payment_intent(provider, fake):
    customer, pm = saved_card(provider, fake, key="replay")
    first = provider.charge(pay(customer, pm, "inv-8-attempt-1"))
    again = provider.charge(pay(customer, pm, "inv-8-attempt-1"))
    assert again == first
    assert len([o for o in fake.objects("pi_") if o["customer"] == customer]) == 1
    with pytest.raises(ProviderError):  # the same key for another amount is refused, never a second charge
        provider.charge(pay(customer, pm, "inv-8-attempt-1", amount=12_001))


@pytest.mark.parametrize("pm,code,category", [
    ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", DeclineCategory.SOFT),
    ("pm_card_chargeDeclined", "generic_decline", DeclineCategory.SOFT),
    ("pm_card_chargeDeclinedProcessingError", "processing_error", DeclineCategory.SOFT),
    ("pm_card_chargeDeclinedVelocityLimitExceeded", "card_velocity_exceeded", DeclineCategory.SOFT),
    ("pm_card_chargeDeclinedStolenCard", "stolen_card", DeclineCategory.HARD),
    ("pm_card_chargeDeclinedLostCard", "lost_card", DeclineCategory.HARD),
    ("pm_card_chargeDeclinedExpiredCard", "expired_card", DeclineCategory.HARD),
    ("pm_card_radarBlock", "fraudulent", DeclineCategory.HARD),
    ("pm_card_authenticationRequired", "authentication_required", DeclineCategory.HARD),
])
def test_declines_are_results_with_the_domains_category(provider, fake, pm, code, category):
    customer = browser(fake).v1.customers.create().id
    result = provider.charge(pay(customer, pm, f"decline-{pm}"))
    assert result.status is ChargeStatus.FAILED and result.charge_ref.startswith("pi_")
    assert (result.decline.code, result.decline.category) == (code, category)
    assert result.provider_status == "requires_payment_method" and result.decline.message
    assert provider.charge(pay(customer, pm, f"decline-{pm}")) == result  # a decline is replayed, not retried
    assert provider.retrieve_charge(result.charge_ref).decline.category is category


def test_an_outage_is_provider_unavailable(provider, fake):
    customer, pm = saved_card(provider, fake, key="outage")
    fake.fail_next(1)
    with pytest.raises(ProviderUnavailable) as err:
        provider.charge(pay(customer, pm, "inv-9-attempt-1"))
    assert KEY not in err.value.message and err.value.http_status == 503
    fake.lose_next_responses(1)
    with pytest.raises(ProviderUnavailable):
        provider.charge(pay(customer, pm, "inv-9-attempt-2"))


def test_recovery_finds_a_charge_whose_answer_was_lost(provider, fake):
    customer, pm = saved_card(provider, fake, key="recover")
    now = datetime.now(timezone.utc)
    request = pay(customer, pm, "inv-10-attempt-1")
    assert provider.recover_charge(request, sent_at=now, now=now) is None  # never sent: nothing to find
    fake.lose_next_responses(1)
    with pytest.raises(ProviderUnavailable):
        provider.charge(request)
    found = provider.recover_charge(request, sent_at=now, now=now + timedelta(days=3))
    assert found.succeeded and found.idempotency_key == "inv-10-attempt-1"
    assert [o["id"] for o in fake.objects("pi_") if o["customer"] == customer] == [found.charge_ref]


def test_refunds_in_part_and_in_full(provider, fake):
    customer, pm = saved_card(provider, fake, key="refund")
    charge = provider.charge(pay(customer, pm, "inv-11-attempt-1", amount=10_000))
    part = provider.refund(RefundRequest(charge.charge_ref, 3_000, "EUR", "refund-11-1", "requested_by_customer"))
    assert (part.status, part.amount_minor, part.currency, part.charge_ref) == (
        RefundStatus.SUCCEEDED, 3_000, "EUR", charge.charge_ref)
    assert provider.refund(RefundRequest(charge.charge_ref, 3_000, "EUR", "refund-11-1",
                                         "requested_by_customer")) == part  # replayed, once
    with pytest.raises(ProviderError):
        provider.refund(RefundRequest(charge.charge_ref, 7_001, "EUR", "refund-11-2"))
    rest = provider.refund(RefundRequest(charge.charge_ref, 7_000, "EUR", "refund-11-3"))
    assert rest.amount_minor == 7_000 and rest.refund_ref != part.refund_ref


def test_parse_webhook_verifies_and_normalises(provider, fake):
    from fakes.stripe_server import sign_payload

    from duly.domain.errors import WebhookRejected
    from duly.payments.providers.base import EventKind

    customer, pm = saved_card(provider, fake, key="hook")
    result = provider.charge(pay(customer, pm, "inv-12-attempt-1"))
    evt = next(e for e in reversed(fake.events) if e["type"] == "payment_intent.succeeded"
               and e["data"]["object"]["id"] == result.charge_ref)
    payload, header = fake.event_payload(evt, SECRET)
    now = datetime.now(timezone.utc)
    parsed = provider.parse_webhook(payload, {"Stripe-Signature": header}, now=now)
    assert (parsed.event_id, parsed.kind, parsed.charge_ref, parsed.amount_minor, parsed.currency) == (
        evt["id"], EventKind.CHARGE_SUCCEEDED, result.charge_ref, 12_000, "EUR")
    assert parsed.metadata["duly_invoice"] == "7"
    with pytest.raises(WebhookRejected):  # older than the tolerance at ``now``
        provider.parse_webhook(payload, {"Stripe-Signature": header}, now=now + timedelta(seconds=301))
    with pytest.raises(WebhookRejected):
        provider.parse_webhook(payload, {"Stripe-Signature": sign_payload(payload, "whsec_other")}, now=now)
    failed = provider.charge(pay(customer, "pm_card_chargeDeclinedStolenCard", "inv-12-attempt-2"))
    evt = next(e for e in reversed(fake.events) if e["type"] == "payment_intent.payment_failed"
               and e["data"]["object"]["id"] == failed.charge_ref)
    payload, header = fake.event_payload(evt, SECRET)
    parsed = provider.parse_webhook(payload, {"stripe-signature": header}, now=now)
    assert parsed.kind is EventKind.CHARGE_FAILED and parsed.decline.category is DeclineCategory.HARD
