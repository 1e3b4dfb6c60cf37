"""The provider seam: its dataclasses refuse bad values, the registry finds providers by code, and a
minimal in-memory provider shows the contract (idempotent charges, declines as results, recovery)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import datetime, timedelta, timezone

import pytest

from duly.domain.errors import Conflict, NotFound, UnknownCurrency, ValidationError
from duly.payments.providers.base import (
    ChargeResult,
    ChargeStatus,
    Decline,
    DeclineCategory,
    EventKind,
    MethodKind,
    PaymentRequest,
    Provider,
    ProviderEvent,
    RefundRequest,
    RefundResult,
    RefundStatus,
    SavedMethod,
    SetupRequest,
    SetupResult,
    WebhookRejected,
    classify_decline,
)
from duly.payments.providers.registry import ProviderRegistry, UnknownProvider

NOW = datetime(2026, 7, 15, 9, tzinfo=timezone.utc)


def request(**kw):
    values = dict(amount_minor=12_000, currency="EUR", idempotency_key="inv-1-attempt-1",
                  customer_ref="cus_1", method_ref="pm_1", metadata={"invoice": "F-2026-1"})
    values.update(kw)
    return PaymentRequest(**values)


class MemoryProvider(Provider):
    """The smallest honest provider: remembers charges by idempotency key."""

    code = "memory"

    def __init__(self, decline_methods=()):
        self.decline_methods = dict(decline_methods)
        self.charges: dict[str, ChargeResult] = {}
        self.calls = 0

    def create_setup(self, request):
        return SetupResult("seti_1", request.customer_ref or "cus_new", "requires_payment_method", "seti_1_secret")

    def saved_method(self, method_ref):
        return SavedMethod(self.code, method_ref, "cus_1", MethodKind.CARD, "visa", "4242", 12, 2030)

    def charge(self, request):
        self.calls += 1
        if request.idempotency_key in self.charges:
            return self.charges[request.idempotency_key]
        code = self.decline_methods.get(request.method_ref)
        decline = classify_decline("card", code, provider_code="card_declined") if code else None
        result = ChargeResult(self.code, f"ch_{len(self.charges) + 1}",
                              ChargeStatus.FAILED if decline else ChargeStatus.SUCCEEDED,
                              request.amount_minor, request.currency, request.idempotency_key, decline)
        self.charges[request.idempotency_key] = result
        return result

    def refund(self, request):
        return RefundResult(self.code, "re_1", request.charge_ref, RefundStatus.SUCCEEDED, request.amount_minor,
                            request.currency)

    def parse_webhook(self, payload, headers, *, now):
        if headers.get("X-Memory-Signature") != "ok":
            raise WebhookRejected("Bad signature.")
        return ProviderEvent(self.code, "evt_1", EventKind.CHARGE_SUCCEEDED, now, "ch_1")

    def retrieve_charge(self, charge_ref):
        return next(c for c in self.charges.values() if c.charge_ref == charge_ref)

    def recover_charge(self, request, *, sent_at, now):
        return self.charges.get(request.idempotency_key)


def test_payment_request_takes_minor_units_and_a_currency():
    req = request()
    assert req.amount_minor == 12_000 and req.currency == "EUR" and req.off_session
    with pytest.raises(FrozenInstanceError):
        req.amount_minor = 1
    with pytest.raises(TypeError):
        req.metadata["x"] = "y"
    for bad in (12.5, "120", True, 0, -5):
        with pytest.raises(ValidationError):
            request(amount_minor=bad)
    with pytest.raises(UnknownCurrency):
        request(currency="eur")
    with pytest.raises(ValidationError):
        request(amount_minor=10 ** 30)
    for field_name in ("idempotency_key", "customer_ref", "method_ref"):
        with pytest.raises(ValidationError):
            request(**{field_name: ""})
    with pytest.raises(ValidationError):
        request(idempotency_key="k" * 256)
    with pytest.raises(ValidationError):
        request(metadata={"n": 1})


def test_charge_result_carries_a_decline_exactly_when_failed():
    decline = Decline(DeclineCategory.HARD, "stolen_card", "Your card was declined.", "card_declined")
    failed = ChargeResult("stripe", "pi_1", "failed", 100, "EUR", "k", decline)
    assert failed.status is ChargeStatus.FAILED and not failed.succeeded
    with pytest.raises(ValidationError):
        ChargeResult("stripe", "pi_1", ChargeStatus.FAILED, 100, "EUR")
    with pytest.raises(ValidationError):
        ChargeResult("stripe", "pi_1", ChargeStatus.SUCCEEDED, 100, "EUR", decline=decline)
    with pytest.raises(ValueError):
        ChargeResult("stripe", "pi_1", "exploded", 100, "EUR")


def test_declines_are_classified_by_the_domain():
    assert classify_decline("card", "lost_card").category is DeclineCategory.HARD
    assert classify_decline("card", "insufficient_funds").category is DeclineCategory.SOFT
    assert classify_decline("sepa", "md01").category is DeclineCategory.HARD
    soft = classify_decline("sepa", "AM04", message="Insufficient funds")
    assert (soft.code, soft.category, soft.message) == ("AM04", DeclineCategory.SOFT, "Insufficient funds")
    with pytest.raises(ValidationError):
        Decline("hard", "")
    # the issuer's advice code, when Stripe passes one on, wins over the decline code's reading
    assert classify_decline("card", "do_not_honor", advice_code="do_not_try_again").category is DeclineCategory.HARD
    assert classify_decline("card", "do_not_honor", advice_code="try_again_later").category is DeclineCategory.SOFT


def test_saved_method_describes_itself_without_card_data():
    card = SavedMethod("stripe", "pm_1", "cus_1", "card", "visa", "4242", 12, 2030)
    assert card.describe() == "Visa •••• 4242"
    assert SavedMethod("stripe", "pm_2", "cus_1", "card", "amex", "0005").describe() == "American Express •••• 0005"
    assert SavedMethod("stripe", "pm_3", "cus_1", "sepa_debit", last4="3000").describe() == \
        "SEPA Direct Debit •••• 3000"
    with pytest.raises(ValidationError):
        SavedMethod("stripe", "pm_1", "cus_1", "card", "visa", "4242424242424242")


def test_setup_refund_and_event_validation():
    assert SetupRequest("setup-1", method_kinds=("card", "sepa_debit")).method_kinds == (
        MethodKind.CARD, MethodKind.SEPA_DEBIT)
    with pytest.raises(ValidationError):
        SetupRequest("setup-1", method_kinds=())
    with pytest.raises(ValidationError):
        RefundRequest("pi_1", 0, "EUR", "refund-1")
    with pytest.raises(ValidationError):
        ProviderEvent("stripe", "evt_1", "charge_succeeded", datetime(2026, 7, 15), "pi_1")
    event = ProviderEvent("stripe", "evt_1", "dispute_opened", NOW, "dp_1", amount_minor=500, currency="JPY")
    assert event.kind is EventKind.DISPUTE_OPENED


def test_the_abstract_contract_must_be_complete():
    class Half(Provider):
        code = "half"

        def charge(self, request):  # pragma: no cover - never instantiated
            raise NotImplementedError

    with pytest.raises(TypeError):
        Half()
    assert Provider.webhook_tolerance == timedelta(seconds=300)


def test_memory_provider_follows_the_contract():
    provider = MemoryProvider({"pm_stolen": "stolen_card"})
    first = provider.charge(request())
    assert first.succeeded and provider.charge(request()) == first  # same key: same result, once
    declined = provider.charge(request(idempotency_key="inv-2-attempt-1", method_ref="pm_stolen"))
    assert declined.status is ChargeStatus.FAILED and declined.decline.category is DeclineCategory.HARD
    assert provider.recover_charge(request(), sent_at=NOW, now=NOW) == first
    assert provider.recover_charge(request(idempotency_key="never-sent"), sent_at=NOW, now=NOW) is None
    with pytest.raises(WebhookRejected) as err:
        provider.parse_webhook(b"{}", {}, now=NOW)
    assert err.value.http_status == 400


def test_registry_registers_and_finds_by_code():
    providers = ProviderRegistry()
    providers.register("memory", MemoryProvider)
    providers.register("memory", MemoryProvider)  # idempotent
    assert providers.codes() == ("memory",) and "memory" in providers
    built = providers.get("memory", decline_methods={"pm_x": "lost_card"})
    assert isinstance(built, MemoryProvider) and built.decline_methods == {"pm_x": "lost_card"}
    assert providers.get("memory") is not providers.get("memory")

    @providers.register("other")
    class Other(MemoryProvider):
        code = "other"

    assert providers.codes() == ("memory", "other")
    with pytest.raises(Conflict):
        providers.register("memory", Other)
    with pytest.raises(UnknownProvider) as err:
        providers.get("paypal")
    assert isinstance(err.value, NotFound)
    assert "'paypal'" in err.value.message and "memory, other" in err.value.message
    for bad in ("Stripe", "", "x", "a-b", None):
        with pytest.raises(ValidationError):
            providers.register(bad, MemoryProvider)
    providers.register("broken", lambda: object())
    with pytest.raises(ValidationError):
        providers.get("broken")
    providers.unregister("broken")
    assert "broken" not in providers


def test_empty_registry_says_so():
    with pytest.raises(UnknownProvider, match="registered providers are none"):
        ProviderRegistry().get("stripe")
