"""Stripe behind the provider contract, with the official SDK (``stripe`` pinned in pyproject.toml).

Every provider object owns its :class:`stripe.StripeClient` built from its own secret key and endpoint:
nothing is set on the ``stripe`` module, so two organizations' keys never meet. Amounts cross as minor
units; Stripe's minor units are the ISO 4217 ones for the currencies Duly knows (JPY has no decimals), and
its currency codes are lower-case.

Settings (``duly.settings``, from the environment variables of the same names but the last; each may be
overridden by a keyword of the factory): ``DULY_STRIPE_SECRET_KEY``, ``DULY_STRIPE_WEBHOOK_SECRET``,
``DULY_STRIPE_API_BASE`` (tests point it at the loopback fake), ``DULY_STRIPE_MAX_NETWORK_RETRIES``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Mapping

import stripe as stripe_sdk

from duly.domain.errors import ProviderError, ProviderUnavailable, ValidationError, WebhookRejected

from .base import (
    ChargeResult,
    ChargeStatus,
    CheckoutRequest,
    CheckoutSession,
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
    classify_decline,
)

__all__ = ["IDEMPOTENCY_METADATA", "StripeProvider", "event_kind", "intent_result"]

CODE = "stripe"
#: The metadata key a PaymentIntent carries its Duly idempotency key under (recovery finds it by this).
IDEMPOTENCY_METADATA = "duly_idempotency_key"

_EVENT_KINDS = {
    "payment_intent.succeeded": EventKind.CHARGE_SUCCEEDED,
    "payment_intent.payment_failed": EventKind.CHARGE_FAILED,
    "payment_intent.processing": EventKind.CHARGE_PENDING,
    "charge.refunded": EventKind.REFUND_UPDATED,
    "refund.created": EventKind.REFUND_UPDATED,
    "refund.updated": EventKind.REFUND_UPDATED,
    "charge.dispute.created": EventKind.DISPUTE_OPENED,
    "charge.dispute.closed": EventKind.DISPUTE_CLOSED,
    "setup_intent.succeeded": EventKind.SETUP_SUCCEEDED,
    "setup_intent.setup_failed": EventKind.SETUP_FAILED,
    "payment_method.detached": EventKind.METHOD_DETACHED,
}

_PI_STATUS = {
    "succeeded": ChargeStatus.SUCCEEDED,
    "processing": ChargeStatus.PENDING,
    "requires_capture": ChargeStatus.PENDING,
    "requires_confirmation": ChargeStatus.PENDING,
    "requires_action": ChargeStatus.REQUIRES_ACTION,
}


def event_kind(stripe_type: str) -> EventKind:
    return _EVENT_KINDS.get(stripe_type, EventKind.OTHER)


def _setting(name: str, default: Any) -> Any:
    from django.conf import settings

    return getattr(settings, name, default)


def _plain(obj) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj or {})


def _unavailable(err: Exception) -> ProviderUnavailable:
    # never the key or the request body: only the SDK's class and Stripe's own message
    return ProviderUnavailable(f"Stripe could not be reached or failed ({type(err).__name__}); the outcome is "
                               "unknown: recover the charge before retrying.", provider=CODE)


def _refused(err: stripe_sdk.StripeError) -> ProviderError:
    error = (err.json_body or {}).get("error") or {}
    return ProviderError(f"Stripe refused the request: {error.get('message') or err.user_message or 'error'}",
                         provider=CODE, provider_code=str(error.get("code") or error.get("type") or ""))


class StripeProvider(Provider):
    """Stripe's SetupIntents, PaymentIntents and Refunds, and its signed webhooks."""

    code = CODE

    def __init__(self, *, api_key: str | None = None, webhook_secret: str | None = None,
                 api_base: str | None = None, max_network_retries: int | None = None) -> None:
        self.api_key = api_key if api_key is not None else _setting("DULY_STRIPE_SECRET_KEY", "")
        self.webhook_secret = (webhook_secret if webhook_secret is not None
                               else _setting("DULY_STRIPE_WEBHOOK_SECRET", ""))
        base = api_base if api_base is not None else _setting("DULY_STRIPE_API_BASE", "")
        retries = (max_network_retries if max_network_retries is not None
                   else _setting("DULY_STRIPE_MAX_NETWORK_RETRIES", 2))
        self._base = base or None
        self._retries = int(retries)
        self._client: stripe_sdk.StripeClient | None = None

    @property
    def api_base(self) -> str:
        return self._base or stripe_sdk.DEFAULT_API_BASE

    def __repr__(self) -> str:  # never the key
        return f"StripeProvider(api_base={self._base!r})"

    @property
    def client(self) -> stripe_sdk.StripeClient:
        if self._client is None:
            if not self.api_key:
                raise ProviderError("Stripe is not configured: DULY_STRIPE_SECRET_KEY is empty.", provider=CODE)
            kwargs: dict[str, Any] = {"max_network_retries": self._retries}
            if self._base:
                kwargs["base_addresses"] = {"api": self._base}
            self._client = stripe_sdk.StripeClient(self.api_key, **kwargs)
        return self._client

    def _call(self, fn, *args, **kwargs):
        """One SDK call; Stripe's own errors become domain errors (a card error is the caller's to read)."""
        try:
            return fn(*args, **kwargs)
        except stripe_sdk.CardError:
            raise
        except (stripe_sdk.APIConnectionError, stripe_sdk.RateLimitError) as err:
            raise _unavailable(err) from None
        except stripe_sdk.APIError as err:
            raise _unavailable(err) from None
        except stripe_sdk.StripeError as err:
            if (err.http_status or 0) >= 500:
                raise _unavailable(err) from None
            raise _refused(err) from None

    # setup ---------------------------------------------------------------------------------------

    def _new_customer(self, request: SetupRequest | CheckoutRequest) -> str:
        """A Stripe customer for a method about to be saved (its e-mail and name, Duly's metadata), created once per
        request's idempotency key."""
        params: dict[str, Any] = {"metadata": dict(request.metadata)}
        if request.email:
            params["email"] = request.email
        if request.name:
            params["name"] = request.name
        return self._call(self.client.v1.customers.create, params=params,
                          options={"idempotency_key": f"{request.idempotency_key}:customer"}).id

    def create_setup(self, request: SetupRequest) -> SetupResult:
        v1 = self.client.v1
        customer = request.customer_ref or self._new_customer(request)
        params = {"customer": customer, "usage": "off_session",
                  "payment_method_types": [k.value for k in request.method_kinds if k is not MethodKind.OTHER
                                           and k is not MethodKind.WALLET] or ["card"],
                  "metadata": dict(request.metadata)}
        if request.method_ref:  # a method Stripe already holds: confirm the setup with it now
            params.update(payment_method=request.method_ref, confirm=True)
        try:
            seti = self._call(v1.setup_intents.create, params=params,
                              options={"idempotency_key": request.idempotency_key})
        except stripe_sdk.CardError as err:  # the card refused to be saved (a declined test card)
            error = (err.json_body or {}).get("error") or {}
            raise ProviderError(f"Stripe refused to save the card: {error.get('message') or 'declined'}",
                                provider=CODE, provider_code=str(error.get("decline_code") or error.get("code")
                                                                 or "card_declined")) from None
        return _setup_result(_plain(seti))

    def retrieve_setup(self, setup_ref: str) -> SetupResult:
        return _setup_result(_plain(self._call(self.client.v1.setup_intents.retrieve, setup_ref)))

    def saved_method(self, method_ref: str) -> SavedMethod:
        pm = _plain(self._call(self.client.v1.payment_methods.retrieve, method_ref))
        kind = pm.get("type")
        if kind == "card":
            card = pm.get("card") or {}
            wallet = (card.get("wallet") or {}).get("type", "") if card.get("wallet") else ""
            return SavedMethod(CODE, pm["id"], pm.get("customer") or "",
                               MethodKind.WALLET if wallet else MethodKind.CARD, card.get("brand") or "",
                               card.get("last4") or "", card.get("exp_month"), card.get("exp_year"), wallet)
        if kind == "sepa_debit":
            return SavedMethod(CODE, pm["id"], pm.get("customer") or "", MethodKind.SEPA_DEBIT,
                               last4=(pm.get("sepa_debit") or {}).get("last4") or "")
        return SavedMethod(CODE, pm["id"], pm.get("customer") or "", MethodKind.OTHER)

    def detach_method(self, method_ref: str) -> None:
        self._call(self.client.v1.payment_methods.detach, method_ref)

    # charges -------------------------------------------------------------------------------------

    def _params(self, request: PaymentRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "amount": request.amount_minor, "currency": request.currency.lower(),
            "customer": request.customer_ref, "payment_method": request.method_ref, "confirm": True,
            "metadata": {**request.metadata, IDEMPOTENCY_METADATA: request.idempotency_key}}
        if request.off_session:
            params["off_session"] = True
        if request.description:
            params["description"] = request.description
        return params

    def charge(self, request: PaymentRequest) -> ChargeResult:
        try:
            pi = self._call(self.client.v1.payment_intents.create, params=self._params(request),
                            options={"idempotency_key": request.idempotency_key})
        except stripe_sdk.CardError as err:
            error = (err.json_body or {}).get("error") or {}
            intent = error.get("payment_intent") or {}
            return ChargeResult(CODE, intent.get("id") or error.get("charge") or "declined", ChargeStatus.FAILED,
                                request.amount_minor, request.currency, request.idempotency_key,
                                _decline(error), intent.get("status", ""))
        return self._result(_plain(pi), request.idempotency_key)

    def retrieve_charge(self, charge_ref: str) -> ChargeResult:
        pi = _plain(self._call(self.client.v1.payment_intents.retrieve, charge_ref))
        return self._result(pi, (pi.get("metadata") or {}).get(IDEMPOTENCY_METADATA, ""))

    def recover_charge(self, request: PaymentRequest, *, sent_at: datetime, now: datetime) -> ChargeResult | None:
        """Look the PaymentIntent up by the idempotency key its metadata carries (never a new request: a
        replay would charge when Stripe never received the first one)."""
        since = int(sent_at.timestamp()) - 300
        page = self._call(self.client.v1.payment_intents.list,
                          params={"customer": request.customer_ref, "created": {"gte": since}, "limit": 100})
        for pi in (_plain(p) for p in page.data):
            if (pi.get("metadata") or {}).get(IDEMPOTENCY_METADATA) == request.idempotency_key:
                return self._result(pi, request.idempotency_key)
        return None

    def _result(self, pi: Mapping[str, Any], key: str) -> ChargeResult:
        return intent_result(pi, key)

    # payments the customer confirms in the browser (the payment element) -----------------------

    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        v1 = self.client.v1
        customer = request.customer_ref
        if not customer and request.save_for_future:  # a saved method belongs to a Stripe customer
            customer = self._new_customer(request)
        params = {"amount": request.amount_minor, "currency": request.currency.lower(),
                  "payment_method_types": ["card", "sepa_debit"] if request.currency == "EUR" else ["card"],
                  "metadata": {**request.metadata, IDEMPOTENCY_METADATA: request.idempotency_key}}
        if customer:
            params["customer"] = customer
        if request.save_for_future:
            params["setup_future_usage"] = "off_session"
        if request.description:
            params["description"] = request.description
        pi = self._call(v1.payment_intents.create, params=params, options={"idempotency_key": request.idempotency_key})
        return self._session(_plain(pi))

    def retrieve_checkout(self, payment_ref: str) -> CheckoutSession:
        return self._session(_plain(self._call(self.client.v1.payment_intents.retrieve, payment_ref)))

    def cancel_checkout(self, payment_ref: str) -> CheckoutSession:
        return self._session(_plain(self._call(self.client.v1.payment_intents.cancel, payment_ref,
                                               params={"cancellation_reason": "abandoned"})))

    def _session(self, pi: Mapping[str, Any]) -> CheckoutSession:
        key = (pi.get("metadata") or {}).get(IDEMPOTENCY_METADATA, "")
        status = pi.get("status", "")
        error = pi.get("last_payment_error") or None
        if status == "requires_payment_method" and not error:  # nobody tried yet: waiting, not failed
            charge = ChargeResult(CODE, pi["id"], ChargeStatus.PENDING, int(pi["amount"]),
                                  str(pi.get("currency", "")).upper(), key, None, status)
        else:
            charge = self._result(pi, key)
        method = pi.get("payment_method")
        method_ref = method.get("id", "") if isinstance(method, dict) else (method or "")
        kind = ""
        if method_ref and charge.succeeded:  # how the customer paid: what a saved method is kept as
            kind = "sepa_debit" if self.saved_method(method_ref).kind is MethodKind.SEPA_DEBIT else "card"
        return CheckoutSession(pi["id"], pi.get("client_secret") or "", charge, method_ref,
                               pi.get("customer") or "", kind, bool(error))

    # refunds -------------------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> RefundResult:
        params: dict[str, Any] = {"amount": request.amount_minor}
        params["charge" if request.charge_ref.startswith(("ch_", "py_")) else "payment_intent"] = request.charge_ref
        if request.reason:
            params["reason"] = request.reason
        re_ = _plain(self._call(self.client.v1.refunds.create, params=params,
                                options={"idempotency_key": request.idempotency_key}))
        currency = str(re_.get("currency", "")).upper()
        if currency != request.currency:
            raise ValidationError(f"Stripe refunded in {currency}, not {request.currency}.")
        return RefundResult(CODE, re_["id"], request.charge_ref, _refund_status(re_.get("status")),
                            int(re_["amount"]), currency, re_.get("failure_reason") or "")

    # webhooks ------------------------------------------------------------------------------------

    def verify_webhook(self, payload: bytes, signature_header: str | None) -> dict:
        """The event as a plain dict, once its signature is checked (tolerance 300 s); else WebhookRejected."""
        if not self.webhook_secret:
            raise WebhookRejected("Stripe webhooks are not configured.", provider=CODE)
        try:
            stripe_sdk.Webhook.construct_event(payload, signature_header or "", self.webhook_secret,
                                               tolerance=int(self.webhook_tolerance.total_seconds()),
                                               api_key=self.api_key or "sk_unused")
            event = json.loads(payload)
        except stripe_sdk.SignatureVerificationError:
            raise WebhookRejected("The Stripe signature is missing, forged or expired.", provider=CODE) from None
        except ValueError:
            raise WebhookRejected("The Stripe webhook is not valid JSON.", provider=CODE) from None
        if not isinstance(event, dict) or not event.get("id") or not isinstance(event.get("data"), dict):
            raise WebhookRejected("The Stripe webhook is not an event.", provider=CODE)
        return event

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str], *, now: datetime) -> ProviderEvent:
        header = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), "")
        stamp = re.search(r"(?:^|,)t=(\d+)", header or "")
        if stamp is None or abs(now.timestamp() - int(stamp.group(1))) > self.webhook_tolerance.total_seconds():
            raise WebhookRejected("The Stripe signature is missing, forged or expired.", provider=CODE)
        return normalise(self.verify_webhook(payload, header))


def _setup_result(seti: Mapping[str, Any]) -> SetupResult:
    method = seti.get("payment_method")
    return SetupResult(seti["id"], seti.get("customer") or "", seti.get("status", ""), seti.get("client_secret") or "",
                       (method.get("id") if isinstance(method, dict) else method) or "",
                       {str(k): str(v) for k, v in (seti.get("metadata") or {}).items()})


def intent_result(pi: Mapping[str, Any], key: str) -> ChargeResult:
    """A PaymentIntent (as the API or a webhook event shows it) as the seam's :class:`ChargeResult`."""
    status = pi.get("status", "")
    currency = str(pi.get("currency", "")).upper()
    mapped = _PI_STATUS.get(status)
    decline = None
    if mapped is None:  # requires_payment_method (declined), canceled
        mapped = ChargeStatus.FAILED
        decline = _decline(pi.get("last_payment_error") or {"code": status or "failed"})
    return ChargeResult(CODE, pi["id"], mapped, int(pi["amount"]), currency, key, decline, status)


def normalise(event: Mapping[str, Any]) -> ProviderEvent:
    """A verified Stripe event as the seam's :class:`ProviderEvent`."""
    obj = (event.get("data") or {}).get("object") or {}
    kind = event_kind(event.get("type", ""))
    charge_ref = ""
    if obj.get("object") == "payment_intent":
        charge_ref = obj.get("id", "")
    elif obj.get("payment_intent"):
        charge_ref = obj["payment_intent"]
    amount = obj.get("amount")
    currency = str(obj.get("currency") or "").upper()
    decline = None
    if kind is EventKind.CHARGE_FAILED:
        decline = _decline(obj.get("last_payment_error") or {"code": "failed"})
    metadata = {str(k): str(v) for k, v in (obj.get("metadata") or {}).items()}
    return ProviderEvent(CODE, event["id"], kind, datetime.fromtimestamp(int(event.get("created", 0)), timezone.utc),
                         obj.get("id", ""), event.get("type", ""), charge_ref,
                         int(amount) if isinstance(amount, int) and currency else None, currency if amount else "",
                         decline, metadata)


#: Stripe's failure codes of a SEPA debit, as the ISO 20022 reason codes the domain classifies.
SEPA_FAILURES = {
    "insufficient_funds": "AM04",
    "generic_could_not_process": "MS03",
    "account_closed": "AC04",
    "bank_account_restricted": "AG01",
    "debit_not_authorized": "MD01",
    "no_account": "AC01",
    "incorrect_account_holder_name": "AC01",
}


def _ref(value) -> str:
    """An id Stripe may answer expanded (an object) or as a plain string."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(getattr(value, "id", "") or "")


def _decline(error: Mapping[str, Any]):
    rail = "sepa" if (error.get("payment_method") or {}).get("type") == "sepa_debit" else "card"
    code = error.get("decline_code") or error.get("code") or "generic_decline"
    if rail == "sepa":
        code = SEPA_FAILURES.get(code, code)  # an unknown one is hard, for staff (the domain's rule)
    return classify_decline(rail, code, provider_code=str(error.get("code") or ""),
                            message=str(error.get("message") or ""), advice_code=error.get("advice_code"))


def _refund_status(status) -> RefundStatus:
    try:
        return RefundStatus(status)
    except ValueError:
        return RefundStatus.PENDING
