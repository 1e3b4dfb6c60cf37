"""The loopback Stripe fake, driven by the official ``stripe`` SDK (``stripe.api_base`` points at it).

If the SDK parses what the fake answers into the objects and exceptions it raises for Stripe itself
(CardError with ``code``/``decline_code``, IdempotencyError, InvalidRequestError, APIError), the fake
speaks Stripe's published wire format closely enough for Duly's adapter to be tested against it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import stripe  # a pinned dependency: a missing SDK must fail, not skip

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.stripe_server import CARDS, StripeFake, decode_form, sign_payload  # noqa: E402

KEY = "sk_test_duly"


@pytest.fixture(scope="module")
def fake():
    with StripeFake(KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def sdk(fake, monkeypatch):
    monkeypatch.setattr(stripe, "api_key", KEY)
    monkeypatch.setattr(stripe, "api_base", fake.url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    yield stripe


def card_pm(number, **kw):
    return stripe.PaymentMethod.create(type="card", card={"number": number, "exp_month": 12, "exp_year": 2034,
                                                          "cvc": "123"}, **kw)


def charge(pm, amount=12_000, key=None, **kw):
    customer = stripe.Customer.create(email="pay@example.com", name="Ada")
    if not pm.id.startswith("pm_card_"):  # Stripe's test PaymentMethods are used without attaching
        stripe.PaymentMethod.attach(pm.id, customer=customer.id)
    options = {"idempotency_key": key} if key else {}
    return stripe.PaymentIntent.create(amount=amount, currency="eur", customer=customer.id, payment_method=pm.id,
                                       off_session=True, confirm=True, metadata={"invoice": "F-2026-1"},
                                       **kw, **options)


def test_form_decoding():
    assert decode_form("amount=100&metadata[invoice]=F-1&payment_method_types[0]=card&payment_method_types[1]="
                       "sepa_debit&expand[]=latest_charge&card[number]=4242") == {
        "amount": "100", "metadata": {"invoice": "F-1"}, "payment_method_types": ["card", "sepa_debit"],
        "expand": ["latest_charge"], "card": {"number": "4242"}}


def test_customer_setup_intent_and_saved_card(fake):
    customer = stripe.Customer.create(email="ada@example.com", name="Ada", metadata={"duly_customer": "42"})
    assert customer.id.startswith("cus_") and customer.object == "customer"
    assert customer.metadata["duly_customer"] == "42"
    assert stripe.Customer.retrieve(customer.id).email == "ada@example.com"
    seti = stripe.SetupIntent.create(customer=customer.id, payment_method_types=["card"], usage="off_session")
    assert seti.status == "requires_payment_method" and seti.client_secret.startswith(seti.id + "_secret_")
    pm = card_pm("4242424242424242")
    confirmed = stripe.SetupIntent.confirm(seti.id, payment_method=pm.id)
    assert confirmed.status == "succeeded" and confirmed.payment_method == pm.id
    saved = stripe.PaymentMethod.retrieve(pm.id)
    assert (saved.customer, saved.card.brand, saved.card.last4, saved.card.exp_year) == (
        customer.id, "visa", "4242", 2034)
    assert "number" not in saved.card  # the fake never sends card numbers back
    assert any(e["type"] == "setup_intent.succeeded" and e["data"]["object"]["id"] == seti.id
               for e in fake.events)


def test_setup_with_a_declined_card_fails_and_says_why():
    customer = stripe.Customer.create()
    seti = stripe.SetupIntent.create(customer=customer.id)
    with pytest.raises(stripe.CardError) as err:
        stripe.SetupIntent.confirm(seti.id, payment_method="pm_card_chargeDeclinedInsufficientFunds")
    assert err.value.code == "card_declined" and err.value.error.decline_code == "insufficient_funds"
    assert stripe.SetupIntent.retrieve(seti.id).status == "requires_payment_method"


def test_successful_off_session_charge():
    pi = charge(stripe.PaymentMethod.retrieve("pm_card_visa"))
    assert pi.object == "payment_intent" and pi.status == "succeeded"
    assert (pi.amount, pi.amount_received, pi.currency) == (12_000, 12_000, "eur")
    assert pi.latest_charge.startswith("ch_") and pi.metadata["invoice"] == "F-2026-1"
    assert stripe.PaymentIntent.retrieve(pi.id).status == "succeeded"


@pytest.mark.parametrize("number,code,decline_code", [
    ("4000000000000002", "card_declined", "generic_decline"),
    ("4000000000009995", "card_declined", "insufficient_funds"),
    ("4000000000009987", "card_declined", "lost_card"),
    ("4000000000009979", "card_declined", "stolen_card"),
    ("4000000000000069", "expired_card", "expired_card"),
    ("4000000000000127", "incorrect_cvc", "incorrect_cvc"),
    ("4000000000000119", "processing_error", "processing_error"),
    ("4000000000006975", "card_declined", "card_velocity_exceeded"),
    ("4100000000000019", "card_declined", "fraudulent"),
    ("4000000000000341", "card_declined", "generic_decline"),
    ("4000002760003184", "authentication_required", "authentication_required"),
])
def test_declines_by_test_card(number, code, decline_code):
    customer = stripe.Customer.create()
    pm = card_pm(number)
    with pytest.raises(stripe.CardError) as err:
        stripe.PaymentIntent.create(amount=5_000, currency="eur", customer=customer.id, payment_method=pm.id,
                                    off_session=True, confirm=True)
    error = err.value
    assert error.http_status == 402 and error.code == code
    assert error.error.type == "card_error" and error.error.decline_code == decline_code
    assert error.user_message == CARDS[number].message
    intent = error.error.payment_intent
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["decline_code"] == decline_code
    assert stripe.PaymentIntent.retrieve(intent["id"]).status == "requires_payment_method"


def test_the_0341_card_attaches_but_cannot_be_charged_and_0002_cannot_be_saved():
    customer = stripe.Customer.create()
    assert stripe.PaymentMethod.attach(card_pm("4000000000000341").id, customer=customer.id).customer == customer.id
    with pytest.raises(stripe.CardError):
        stripe.PaymentMethod.attach(card_pm("4000000000000002").id, customer=customer.id)


def test_incorrect_number_is_refused_at_creation():
    with pytest.raises(stripe.CardError) as err:
        card_pm("4242424242424241")
    assert err.value.code == "incorrect_number"


def test_authentication_required_on_session_needs_action():
    customer = stripe.Customer.create()
    pi = stripe.PaymentIntent.create(amount=5_000, currency="eur", customer=customer.id,
                                     payment_method="pm_card_authenticationRequired", confirm=True)
    assert pi.status == "requires_action" and pi.next_action.type == "use_stripe_sdk"


def test_create_then_confirm():
    customer = stripe.Customer.create()
    pi = stripe.PaymentIntent.create(amount=2_500, currency="usd", customer=customer.id)
    assert pi.status == "requires_payment_method"
    done = stripe.PaymentIntent.confirm(pi.id, payment_method="pm_card_mastercard", off_session=True)
    assert done.status == "succeeded" and done.payment_method == "pm_card_mastercard"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.PaymentIntent.confirm(pi.id)
    assert err.value.code == "payment_intent_unexpected_state"


def test_idempotency_replays_the_same_answer_and_refuses_other_parameters(fake):
    pm = stripe.PaymentMethod.retrieve("pm_card_visa")
    customer = stripe.Customer.create()
    params = dict(amount=9_900, currency="eur", customer=customer.id, payment_method=pm.id, off_session=True,
                  confirm=True)
    first = stripe.PaymentIntent.create(**params, idempotency_key="invoice-7-attempt-1")
    again = stripe.PaymentIntent.create(**params, idempotency_key="invoice-7-attempt-1")
    assert again.id == first.id and again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len([o for o in fake.objects("pi_") if o["customer"] == customer.id]) == 1
    with pytest.raises(stripe.IdempotencyError) as err:
        stripe.PaymentIntent.create(**{**params, "amount": 9_901}, idempotency_key="invoice-7-attempt-1")
    assert err.value.http_status == 400 and "same parameters" in err.value.user_message
    with pytest.raises(stripe.IdempotencyError):
        stripe.Refund.create(payment_intent=first.id, idempotency_key="invoice-7-attempt-1")


def test_a_decline_is_replayed_too_and_a_validation_error_is_not_saved():
    customer = stripe.Customer.create()
    params = dict(amount=5_000, currency="eur", customer=customer.id, off_session=True, confirm=True,
                  payment_method="pm_card_chargeDeclinedInsufficientFunds", idempotency_key="inv-9-attempt-1")
    with pytest.raises(stripe.CardError) as first:
        stripe.PaymentIntent.create(**params)
    with pytest.raises(stripe.CardError) as second:
        stripe.PaymentIntent.create(**params)
    assert first.value.error.payment_intent["id"] == second.value.error.payment_intent["id"]
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.PaymentIntent.create(currency="eur", idempotency_key="inv-10-attempt-1")
    assert err.value.code == "parameter_missing" and err.value.param == "amount"
    ok = stripe.PaymentIntent.create(amount=5_000, currency="eur", idempotency_key="inv-10-attempt-1")
    assert ok.status == "requires_payment_method"


def test_invalid_requests():
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.PaymentIntent.retrieve("pi_missing")
    assert err.value.http_status == 404 and err.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.PaymentIntent.create(amount=10, currency="eur")
    assert err.value.code == "amount_too_small"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Customer.create(colour="blue")
    assert err.value.code == "parameter_unknown" and err.value.param == "colour"


def test_authentication(monkeypatch):
    monkeypatch.setattr(stripe, "api_key", "sk_test_wrong")
    with pytest.raises(stripe.AuthenticationError):
        stripe.Customer.create()


def test_refunds():
    pi = charge(stripe.PaymentMethod.retrieve("pm_card_visa"), amount=10_000)
    partial = stripe.Refund.create(payment_intent=pi.id, amount=3_000, reason="requested_by_customer")
    assert (partial.object, partial.status, partial.amount, partial.payment_intent) == (
        "refund", "succeeded", 3_000, pi.id)
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Refund.create(payment_intent=pi.id, amount=7_001)
    assert err.value.code == "amount_too_large"
    rest = stripe.Refund.create(payment_intent=pi.id)
    assert rest.amount == 7_000 and stripe.Refund.retrieve(rest.id).charge == pi.latest_charge
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Refund.create(payment_intent=pi.id)
    assert err.value.code == "charge_already_refunded"


def test_sepa_debit_goes_through_processing(fake):
    customer = stripe.Customer.create()
    good = stripe.PaymentMethod.create(type="sepa_debit", sepa_debit={"iban": "DE89370400440532013000"},
                                       billing_details={"name": "Ada", "email": "ada@example.com"})
    bad = stripe.PaymentMethod.create(type="sepa_debit", sepa_debit={"iban": "DE62370400440532013001"})
    assert good.sepa_debit.last4 == "3000"
    paid = stripe.PaymentIntent.create(amount=4_000, currency="eur", customer=customer.id, payment_method=good.id,
                                       payment_method_types=["sepa_debit"], confirm=True, off_session=True)
    failed = stripe.PaymentIntent.create(amount=4_000, currency="eur", customer=customer.id, payment_method=bad.id,
                                         payment_method_types=["sepa_debit"], confirm=True, off_session=True)
    assert paid.status == failed.status == "processing"
    fake.settle(paid.id)
    fake.settle(failed.id)
    assert stripe.PaymentIntent.retrieve(paid.id).status == "succeeded"
    assert stripe.PaymentIntent.retrieve(failed.id).last_payment_error.code == "insufficient_funds"


def test_outage_and_lost_response(fake, monkeypatch):
    fake.fail_next(1)
    with pytest.raises(stripe.APIError) as err:
        stripe.Customer.create()
    assert err.value.http_status == 500
    # with the SDK's own retries, an outage of one request is invisible
    monkeypatch.setattr(stripe, "max_network_retries", 2)
    fake.fail_next(1)
    assert stripe.Customer.create().id.startswith("cus_")
    # a lost response: the charge happened, the client did not hear it; the retry with the same key recovers it
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    customer = stripe.Customer.create()
    params = dict(amount=7_700, currency="eur", customer=customer.id, payment_method="pm_card_visa",
                  off_session=True, confirm=True, idempotency_key="inv-11-attempt-1")
    fake.lose_next_responses(1)
    with pytest.raises(stripe.APIConnectionError):
        stripe.PaymentIntent.create(**params)
    recovered = stripe.PaymentIntent.create(**params)
    assert recovered.status == "succeeded"
    mine = [o for o in fake.objects("pi_") if o["customer"] == customer.id]
    assert [o["id"] for o in mine] == [recovered.id]
    listed = stripe.PaymentIntent.list(customer=customer.id)
    assert [p.id for p in listed.data] == [recovered.id]


def test_dispute_event_for_the_dispute_card(fake):
    pi = charge(stripe.PaymentMethod.retrieve("pm_card_createDispute"))
    assert pi.status == "succeeded"
    disputes = [e for e in fake.events if e["type"] == "charge.dispute.created"
                and e["data"]["object"]["payment_intent"] == pi.id]
    assert len(disputes) == 1 and disputes[0]["data"]["object"]["charge"] == pi.latest_charge


# --- webhook signatures -----------------------------------------------------------------------

SECRET = "whsec_test_duly"


def test_signed_events_verify_with_the_sdk(fake):
    pi = charge(stripe.PaymentMethod.retrieve("pm_card_visa"))
    event = next(e for e in reversed(fake.events) if e["type"] == "payment_intent.succeeded"
                 and e["data"]["object"]["id"] == pi.id)
    payload, header = fake.event_payload(event, SECRET)
    verified = stripe.Webhook.construct_event(payload, header, SECRET, tolerance=300)
    assert verified.id == event["id"] and verified.type == "payment_intent.succeeded"
    assert verified.data.object.id == pi.id


def test_signature_scheme_matches_the_documented_hmac():
    import hashlib
    import hmac

    header = sign_payload(b'{"id": "evt_1"}', SECRET, timestamp=1_700_000_000)
    expected = hmac.new(SECRET.encode(), b'1700000000.{"id": "evt_1"}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_forged_replayed_and_expired_signatures_are_refused():
    payload = json.dumps({"id": "evt_x", "object": "event", "type": "payment_intent.succeeded",
                          "data": {"object": {"id": "pi_x", "object": "payment_intent"}}}).encode()
    now = int(time.time())
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign_payload(payload, "whsec_other", now), SECRET, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload.replace(b"pi_x", b"pi_y"), sign_payload(payload, SECRET, now), SECRET,
                                       tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign_payload(payload, SECRET, now - 301), SECRET, tolerance=300)
    assert stripe.Webhook.construct_event(payload, sign_payload(payload, SECRET, now - 290), SECRET, tolerance=300)


def test_client_object_too(fake):
    client = stripe.StripeClient(KEY, base_addresses={"api": fake.url}, max_network_retries=0)
    customer = client.v1.customers.create(params={"email": "c@example.com"})
    pi = client.v1.payment_intents.create(params={"amount": 1_000, "currency": "eur", "customer": customer.id,
                                                  "payment_method": "pm_card_visa", "confirm": True,
                                                  "off_session": True})
    assert pi.status == "succeeded"


def test_concurrent_requests_with_one_key_charge_once(fake):
    from concurrent.futures import ThreadPoolExecutor

    customer = stripe.Customer.create()
    params = dict(amount=3_300, currency="eur", customer=customer.id, payment_method="pm_card_visa",
                  off_session=True, confirm=True)

    def pay(i):
        return stripe.PaymentIntent.create(**params, idempotency_key=f"inv-12-attempt-{i % 2}").id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(pay, range(16)))
    assert len(set(ids)) == 2
    assert len([o for o in fake.objects("pi_") if o["customer"] == customer.id]) == 2


def test_the_3ds2_card_waits_for_authentication_even_off_session_and_authenticate_finishes_it(fake):
    customer = stripe.Customer.create()
    pi = stripe.PaymentIntent.create(amount=5_000, currency="eur", customer=customer.id, off_session=True,
                                     payment_method="pm_card_threeDSecure2Required", confirm=True)
    assert pi.status == "requires_action" and pi.next_action.type == "use_stripe_sdk"
    done = fake.authenticate(pi.id)
    assert done["status"] == "succeeded" and done["amount_received"] == 5_000
    assert stripe.PaymentIntent.retrieve(pi.id).status == "succeeded"
    assert [e["type"] for e in fake.events if e["data"]["object"].get("id") == pi.id][-1] == "payment_intent.succeeded"


def test_an_authentication_the_customer_fails_leaves_the_intent_without_a_method(fake):
    customer = stripe.Customer.create()
    with pytest.raises(stripe.CardError) as err:  # 4000002760003184 off session: Stripe's authentication_required
        stripe.PaymentIntent.create(amount=5_000, currency="eur", customer=customer.id, off_session=True,
                                    payment_method="pm_card_authenticationRequired", confirm=True)
    intent = err.value.error.payment_intent
    failed = fake.authenticate(intent["id"], succeed=False)
    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    assert fake.authenticate(intent["id"])["status"] == "succeeded"  # confirmed on a second try
