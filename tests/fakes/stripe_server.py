"""A loopback fake of the Stripe API endpoints Duly uses, for tests and benchmarks. No test reaches Stripe.

Written from Stripe's published documentation, not from Stripe's code:

- API reference (docs.stripe.com/api): form-encoded POST bodies with bracketed nested keys
  (``metadata[invoice]=F-1``, ``payment_method_types[0]=card``), JSON answers, ``Bearer`` secret keys,
  object ids with their prefixes (``cus_``, ``pm_``, ``seti_``, ``pi_``, ``ch_``, ``re_``, ``evt_``),
  lower-case currencies, amounts in the currency's smallest unit, a ``Request-Id`` header;
  the objects and fields of Customers, PaymentMethods, SetupIntents, PaymentIntents
  (create / confirm / retrieve / list) and Refunds.
- Errors (docs.stripe.com/api/errors, docs.stripe.com/error-codes): ``{"error": {"type", "code",
  "decline_code", "message", "param", "doc_url", "payment_intent", ...}}``; 400 invalid request
  (``parameter_missing``, ``parameter_unknown``, ``resource_missing`` as 404, ``amount_too_small``),
  401 without a valid key, 402 ``card_error`` for a declined card (the PaymentIntent goes back to
  ``requires_payment_method`` with ``last_payment_error``), 500 ``api_error``.
- Idempotent requests (docs.stripe.com/api/idempotent_requests): every POST may carry an
  ``Idempotency-Key`` (at most 255 characters). The first response of an endpoint's execution is
  saved, whether it succeeded or failed (a decline included); the same key with the same parameters
  returns it again (with ``Idempotent-Replayed: true``); the same key with other parameters, or on
  another endpoint, is a 400 ``idempotency_error``. A request that fails validation is not saved.
- Testing (docs.stripe.com/testing): card numbers and ``pm_card_*`` test PaymentMethods behave as
  documented: 4242424242424242 succeeds, 4000000000000002 generic decline, 4000000000009995
  insufficient_funds, 4000000000009987 lost_card, 4000000000009979 stolen_card, 4000000000000069
  expired_card, 4000000000000127 incorrect_cvc, 4000000000000119 processing_error, 4000000000006975
  card_velocity_exceeded, 4100000000000019 blocked as fraudulent, 4000000000000341 attaches but every
  charge fails, 4000002760003184 always requires authentication, 4000000000000259 succeeds and is
  disputed, 4242424242424241 fails the Luhn check (incorrect_number). SEPA Debit test IBANs
  DE89370400440532013000 (succeeds) and DE62370400440532013001 (fails) go to ``processing`` first and
  settle when the test calls :meth:`StripeFake.settle`.
- Webhook signatures (docs.stripe.com/webhooks, "verify manually"): header
  ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed with the endpoint
  secret>``; see :func:`sign_payload`.

Extra knobs for tests: :meth:`StripeFake.fail_next` (a 500 outage that executes nothing) and
:meth:`StripeFake.lose_next_responses` (execute, then drop the connection: the client never learns
the outcome, as after a kill -9 or a network cut).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .stripe_js import STRIPE_JS

API_VERSION = "2025-09-30.clover"

# --- webhook signing --------------------------------------------------------------------------


def sign_payload(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header of ``payload`` for the endpoint ``secret`` (Stripe's v1 scheme)."""
    text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    t = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode("utf-8"), f"{t}.{text}".encode("utf-8"), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


# --- test cards -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardBehaviour:
    code: str | None = None          # error code when a charge fails
    decline_code: str | None = None  # decline code when a charge fails
    message: str = ""
    param: str | None = None
    fails_setup: bool = True         # a setup (attach) with this card fails as well
    requires_authentication: bool = False
    #: Answer ``requires_action`` even to an off-session confirmation (the fake's assumption, see CARDS).
    action_off_session: bool = False
    disputed: bool = False


_DECLINED = "Your card was declined."
CARDS: dict[str, CardBehaviour] = {
    "4242424242424242": CardBehaviour(),
    "4000056655665556": CardBehaviour(),
    "5555555555554444": CardBehaviour(),
    "378282246310005": CardBehaviour(),
    "6011111111111117": CardBehaviour(),
    "4000000000000002": CardBehaviour("card_declined", "generic_decline", _DECLINED),
    "4000000000009995": CardBehaviour("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "4000000000009987": CardBehaviour("card_declined", "lost_card", _DECLINED),
    "4000000000009979": CardBehaviour("card_declined", "stolen_card", _DECLINED),
    "4000000000000069": CardBehaviour("expired_card", "expired_card", "Your card has expired.", "exp_month"),
    "4000000000000127": CardBehaviour("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.",
                                      "cvc"),
    "4000000000000119": CardBehaviour("processing_error", "processing_error",
                                      "An error occurred while processing your card. Try again in a little bit."),
    "4000000000006975": CardBehaviour("card_declined", "card_velocity_exceeded",
                                      "Your card was declined for making repeated attempts too frequently or "
                                      "exceeding its amount limit."),
    "4100000000000019": CardBehaviour("card_declined", "fraudulent", _DECLINED),
    "4000000000000341": CardBehaviour("card_declined", "generic_decline", _DECLINED, fails_setup=False),
    "4000002760003184": CardBehaviour("authentication_required", "authentication_required",
                                      "Your card was declined. This transaction requires authentication.",
                                      fails_setup=False, requires_authentication=True),
    "4000000000000259": CardBehaviour(disputed=True),
    # 3-D Secure 2 required (docs.stripe.com/testing#regulatory-cards: "must be completed for the payment to be
    # successful"). Stripe's docs do not show its off-session answer; this fake leaves the PaymentIntent in
    # ``requires_action`` (the status Stripe documents for a PaymentIntent waiting for authentication), so a caller's
    # handling of that status is tested too; :meth:`StripeFake.authenticate` then completes or fails it.
    "4000000000003220": CardBehaviour(fails_setup=False, requires_authentication=True, action_off_session=True),
}

#: Stripe's test PaymentMethods (docs.stripe.com/testing) and the card each stands for.
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_chargeDeclinedVelocityLimitExceeded": "4000000000006975",
    "pm_card_radarBlock": "4100000000000019",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000000000003220",
    "pm_card_createDispute": "4000000000000259",
}

SEPA_IBANS = {
    "DE89370400440532013000": None,  # succeeds
    "AT611904300234573201": None,
    "DE62370400440532013001": "insufficient_funds",  # fails after processing
    "AT861904300235473202": "insufficient_funds",
}

_MINIMUM = {"usd": 50, "eur": 50, "gbp": 30, "chf": 50, "cad": 50, "aud": 50, "jpy": 50}


def _luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if number[:2] in {str(n) for n in range(51, 56)} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number.startswith("6011") or number.startswith("65"):
        return "discover"
    return "unknown"


# --- form decoding ----------------------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's bracketed form encoding into nested dicts and lists (``a[0]``, ``a[]`` and ``a[b][c]``)."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        match = _KEY.match(key)
        if not match:
            raise _Fail(400, _invalid(f"Invalid parameter name: {key}", param=key))
        parts = [match.group(1)] + re.findall(r"\[([^\[\]]*)\]", match.group(2))
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise _Fail(400, _invalid(f"Invalid parameter: {key}", param=key))
    return _listify(root)


def _listify(node):
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


# --- errors -----------------------------------------------------------------------------------


class _Fail(Exception):
    def __init__(self, status: int, body: dict, *, save: bool = False):
        super().__init__(body["error"].get("message"))
        self.status, self.body, self.save = status, body, save


def _invalid(message: str, *, code: str | None = None, param: str | None = None) -> dict:
    error: dict[str, Any] = {"message": message, "type": "invalid_request_error"}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        error["param"] = param
    return {"error": error}


def _missing(resource: str, ident: str, param: str) -> _Fail:
    return _Fail(404, _invalid(f"No such {resource}: '{ident}'", code="resource_missing", param=param))


# --- the fake ---------------------------------------------------------------------------------


@dataclass
class _Saved:
    endpoint: str
    params: dict
    status: int
    body: bytes


@dataclass
class _State:
    objects: dict[str, dict] = field(default_factory=dict)
    cards: dict[str, str] = field(default_factory=dict)       # pm id -> card number (never sent back)
    ibans: dict[str, str] = field(default_factory=dict)       # pm id -> IBAN
    idempotency: dict[tuple[str, str], _Saved] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)


class StripeFake:
    """``with StripeFake() as fake: stripe.api_base = fake.url``: a threading HTTP server on 127.0.0.1."""

    def __init__(self, api_key: str | None = "sk_test_duly", *, host: str = "127.0.0.1", port: int = 0,
                 publishable_key: str = "pk_test_duly"):
        self.api_key = api_key
        self.publishable_key = publishable_key
        self.state = _State()
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self._fail: list[int] = []
        self._lose = 0
        fake = self

        class Handler(_Handler):
            owner = fake

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    # lifecycle
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def point_settings(self, settings, *, webhook_secret: str | None = None) -> None:
        """Point Duly's Stripe settings (pytest-django's ``settings``) at this fake: its secret and publishable keys,
        its API base and its Stripe.js stand-in, no network retries; and the webhook signing secret when given."""
        settings.DULY_STRIPE_SECRET_KEY = self.api_key
        settings.DULY_STRIPE_PUBLISHABLE_KEY = self.publishable_key
        settings.DULY_STRIPE_API_BASE = self.url
        settings.DULY_STRIPE_JS_URL = f"{self.url}/v3/"
        settings.DULY_STRIPE_MAX_NETWORK_RETRIES = 0
        if webhook_secret is not None:
            settings.DULY_STRIPE_WEBHOOK_SECRET = webhook_secret

    def start(self) -> "StripeFake":
        self.thread = threading.Thread(target=self.server.serve_forever, name="stripe-fake", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "StripeFake":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # test knobs
    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """The next ``count`` requests answer ``status`` (``api_error``) without executing anything."""
        with self.lock:
            self._fail.extend([status] * count)

    def lose_next_responses(self, count: int = 1) -> None:
        """The next ``count`` requests execute, then the connection closes without an answer."""
        with self.lock:
            self._lose += count

    def objects(self, prefix: str) -> list[dict]:
        with self.lock:
            return [json.loads(json.dumps(o)) for k, o in self.state.objects.items() if k.startswith(prefix)]

    @property
    def events(self) -> list[dict]:
        with self.lock:
            return list(self.state.events)

    def event_payload(self, event: dict, secret: str, timestamp: int | None = None) -> tuple[bytes, str]:
        """The JSON body and ``Stripe-Signature`` header Stripe would POST for ``event``."""
        payload = json.dumps(event, indent=2).encode("utf-8")
        return payload, sign_payload(payload, secret, timestamp)

    def settle(self, payment_intent: str) -> dict:
        """Finish a ``processing`` SEPA debit as its test IBAN says (succeeded or failed)."""
        with self.lock:
            pi = self._get("pi_", payment_intent, "payment_intent", "intent")
            if pi["status"] != "processing":
                return pi
            failure = SEPA_IBANS.get(self.state.ibans.get(pi["payment_method"], ""))
            if failure:
                # The shape of an asynchronous SEPA failure is this fake's assumption: the test IBAN's failure
                # code as the error code, like a card's, with the PaymentMethod.
                error = {"code": failure, "message": "The customer's account has insufficient funds to cover this "
                         "payment.", "type": "card_error", "payment_method": self._public_pm(pi["payment_method"])}
                pi.update(status="requires_payment_method", last_payment_error=error)
                self._event("payment_intent.payment_failed", pi)
            else:
                pi.update(status="succeeded", amount_received=pi["amount"])
                self._event("payment_intent.succeeded", pi)
            return json.loads(json.dumps(pi))

    def close_dispute(self, dispute: str, *, won: bool) -> dict:
        """The card network decided a dispute: ``won`` (status ``won``, the money comes back to the merchant) or
        lost (``lost``); Stripe then sends ``charge.dispute.closed`` (docs.stripe.com/disputes/how-disputes-work)."""
        with self.lock:
            obj = self._get("dp_", dispute, "dispute", "dispute")
            obj["status"] = "won" if won else "lost"
            self._event("charge.dispute.closed", obj)
            return json.loads(json.dumps(obj))

    def authenticate(self, payment_intent: str, *, succeed: bool = True) -> dict:
        """The customer completes (or fails) 3-D Secure on session for a PaymentIntent that needs it: the
        PaymentIntent succeeds, or goes back to ``requires_payment_method`` with ``authentication_required`` as its
        last error (Stripe: docs.stripe.com/payments/paymentintents/lifecycle), with its webhook event."""
        with self.lock:
            pi = self._get("pi_", payment_intent, "payment_intent", "intent")
            if pi["status"] not in ("requires_action", "requires_payment_method") or not pi["latest_charge"]:
                return json.loads(json.dumps(pi))
            if succeed:
                pm = pi["payment_method"] or pi["last_payment_error"]["payment_method"]["id"]
                pi.update(status="succeeded", amount_received=pi["amount"], last_payment_error=None, next_action=None,
                          payment_method=pm)
                self.state.objects[pi["latest_charge"]] = {
                    "id": pi["latest_charge"], "object": "charge", "amount": pi["amount"], "amount_refunded": 0,
                    "currency": pi["currency"], "payment_intent": pi["id"], "refunded": False, "disputed": False,
                    "status": "succeeded"}
                self._event("payment_intent.succeeded", pi)
            else:
                pm = self._public_pm(pi["payment_method"]) if pi["payment_method"] else (
                    pi["last_payment_error"] or {}).get("payment_method")
                pi.update(status="requires_payment_method", next_action=None, payment_method=None, last_payment_error={
                    "code": "payment_intent_authentication_failure", "type": "invalid_request_error",
                    "message": "The provided PaymentMethod has failed authentication.", "payment_method": pm})
                self._event("payment_intent.payment_failed", pi)
            return json.loads(json.dumps(pi))

    # helpers
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}{secrets.token_hex(8)}"

    def _now(self) -> int:
        return int(time.time())

    def _get(self, prefix: str, ident: str, resource: str, param: str) -> dict:
        obj = self.state.objects.get(ident) if ident.startswith(prefix) else None
        if obj is None:
            raise _missing(resource, ident, param)
        return obj

    def _event(self, kind: str, obj: dict) -> None:
        self.state.events.append({
            "id": self._new_id("evt_"), "object": "event", "api_version": API_VERSION, "created": self._now(),
            "data": {"object": json.loads(json.dumps(obj))}, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": kind})

    def _public_pm(self, ident: str) -> dict:
        return json.loads(json.dumps(self.state.objects[ident]))

    # dispatch
    def handle(self, method: str, path: str, query: str, headers, body: str) -> tuple[int, dict, dict[str, str]]:
        """One API request: (status, JSON body, extra headers)."""
        extra: dict[str, str] = {}
        auth = headers.get("Authorization", "")
        key = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if not key:
            return 401, _invalid("You did not provide an API key. You need to provide your API key in the "
                                 "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
                                 ), extra
        browser = key.startswith("pk_")
        if browser and key != self.publishable_key:
            return 401, _invalid(f"Invalid API Key provided: {key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}"), extra
        if not browser and self.api_key is not None and key != self.api_key:
            return 401, _invalid(f"Invalid API Key provided: {key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}"), extra
        with self.lock:
            self.state.requests.append((method, path))
            if self._fail:
                status = self._fail.pop(0)
                return status, {"error": {"type": "api_error",
                                          "message": "An unknown error occurred while processing this request."}}, extra
        params = decode_form(body if method == "POST" else query)
        if browser:
            try:
                self._browser_allowed(method, path, params)
            except _Fail as fail:
                return fail.status, fail.body, extra
        idem = headers.get("Idempotency-Key") if method == "POST" else None
        if idem is not None and len(idem) > 255:
            return 400, _invalid("Idempotency-Key must be at most 255 characters.", param="Idempotency-Key"), extra
        endpoint = f"{method} {re.sub(r'/(cus|pm|seti|pi|re|ch)_[A-Za-z0-9_]+', r'/{id}', path)}"
        with self.lock:
            if idem is not None:
                saved = self.state.idempotency.get((key, idem))
                if saved is not None:
                    if saved.endpoint != endpoint:
                        return 400, {"error": {"type": "idempotency_error", "message": (
                            f"Keys for idempotent requests can only be used for the same endpoint they were first "
                            f"used for ('{saved.endpoint}' vs '{endpoint}'). Try using a key other than '{idem}' "
                            "if you meant to execute a different request.")}}, extra
                    if saved.params != params:
                        return 400, {"error": {"type": "idempotency_error", "message": (
                            "Keys for idempotent requests can only be used with the same parameters they were first "
                            f"used with. Try using a key other than '{idem}' if you meant to execute a different "
                            "request.")}}, extra
                    extra["Idempotent-Replayed"] = "true"
                    return saved.status, json.loads(saved.body), extra
            try:
                status, result = self._route(method, path, params)
                save = True
            except _Fail as fail:
                status, result, save = fail.status, fail.body, fail.save
            if idem is not None and save:
                self.state.idempotency[(key, idem)] = _Saved(endpoint, params, status, json.dumps(result).encode())
            return status, result, extra

    #: What Stripe.js may do with a publishable key: confirm or read the intent whose client secret it holds.
    _BROWSER = re.compile(r"^/v1/(payment_intents|setup_intents)/((?:pi|seti)_[A-Za-z0-9_]+)(/confirm)?$")

    def _browser_allowed(self, method: str, path: str, params: dict) -> None:
        """A publishable key opens only ``GET`` and ``POST .../confirm`` of an intent, with its client secret
        (docs.stripe.com/keys: publishable keys identify the account in Stripe.js; the client secret
        authorises the one intent); the secret is not a parameter of the endpoint itself."""
        match = self._BROWSER.match(path)
        if match is None or (method == "POST") != bool(match.group(3)):
            raise _Fail(401, _invalid("This API call cannot be made with a publishable API key. Please use a "
                                      "secret API key."))
        secret = params.pop("client_secret", "")
        with self.lock:
            obj = self.state.objects.get(match.group(2))
        if obj is None or not secret or not hmac.compare_digest(str(obj.get("client_secret")), str(secret)):
            raise _missing(obj.get("object", "intent") if obj else "intent", match.group(2), "intent")

    def _from_payment_method_data(self, params: dict) -> None:
        """``payment_method_data`` (what the payment element sends): a new PaymentMethod, used as ``payment_method``."""
        data = params.pop("payment_method_data", None)
        if data is not None:
            if not isinstance(data, dict):
                raise _Fail(400, _invalid("Invalid object", param="payment_method_data"))
            params["payment_method"] = self._create_payment_method(data)["id"]

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            raise self._unrecognised(method, path)
        parts = parts[1:]
        routes = {
            ("POST", "customers", None): self._create_customer,
            ("GET", "customers", "id"): lambda p, i: self._get("cus_", i, "customer", "id"),
            ("POST", "payment_methods", None): self._create_payment_method,
            ("GET", "payment_methods", "id"): self._retrieve_payment_method,
            ("POST", "payment_methods", "attach"): self._attach_payment_method,
            ("POST", "payment_methods", "detach"): self._detach_payment_method,
            ("POST", "setup_intents", None): self._create_setup_intent,
            ("GET", "setup_intents", "id"): lambda p, i: self._get("seti_", i, "setup_intent", "intent"),
            ("POST", "setup_intents", "confirm"): self._confirm_setup_intent,
            ("POST", "payment_intents", None): self._create_payment_intent,
            ("GET", "payment_intents", None): self._list_payment_intents,
            ("GET", "payment_intents", "id"): lambda p, i: self._get("pi_", i, "payment_intent", "intent"),
            ("POST", "payment_intents", "confirm"): self._confirm_payment_intent,
            ("POST", "payment_intents", "cancel"): self._cancel_payment_intent,
            ("POST", "refunds", None): self._create_refund,
            ("GET", "refunds", "id"): lambda p, i: self._get("re_", i, "refund", "refund"),
        }
        if len(parts) == 1:
            handler, ident = routes.get((method, parts[0], None)), None
        elif len(parts) == 2:
            handler, ident = routes.get((method, parts[0], "id")), parts[1]
        elif len(parts) == 3:
            handler, ident = routes.get((method, parts[0], parts[2])), parts[1]
        else:
            handler, ident = None, None
        if handler is None:
            raise self._unrecognised(method, path)
        if method == "GET" and ident is not None:
            self._check(params, set())
        result = handler(params) if ident is None else handler(params, ident)
        return 200, json.loads(json.dumps(result))

    @staticmethod
    def _unrecognised(method: str, path: str) -> _Fail:
        return _Fail(404, _invalid(f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
                                   "or we can help at https://support.stripe.com/."))

    @staticmethod
    def _check(params: dict, allowed: set[str], required: tuple[str, ...] = ()) -> None:
        for name in params:
            if name not in allowed and name != "expand":
                raise _Fail(400, _invalid(f"Received unknown parameter: {name}", code="parameter_unknown",
                                          param=name))
        for name in required:
            if params.get(name) in (None, ""):
                raise _Fail(400, _invalid(f"Missing required param: {name}.", code="parameter_missing", param=name))

    @staticmethod
    def _metadata(params: dict) -> dict:
        value = params.get("metadata") or {}
        if not isinstance(value, dict):
            raise _Fail(400, _invalid("Invalid object", param="metadata"))
        return dict(value)

    @staticmethod
    def _bool(params: dict, name: str) -> bool:
        value = params.get(name, "false")
        if value not in ("true", "false"):
            raise _Fail(400, _invalid(f"Invalid boolean: {value}", param=name))
        return value == "true"

    # customers
    def _create_customer(self, params: dict) -> dict:
        self._check(params, {"email", "name", "description", "metadata", "phone", "payment_method",
                             "invoice_settings", "preferred_locales"})
        ident = self._new_id("cus_")
        customer = {"id": ident, "object": "customer", "address": None, "balance": 0, "created": self._now(),
                    "currency": None, "default_source": None, "delinquent": False,
                    "description": params.get("description"), "email": params.get("email"),
                    "invoice_prefix": ident[4:12].upper(), "invoice_settings": {
                        "custom_fields": None, "default_payment_method": (params.get("invoice_settings") or {}).get(
                            "default_payment_method"), "footer": None, "rendering_options": None},
                    "livemode": False, "metadata": self._metadata(params), "name": params.get("name"),
                    "phone": params.get("phone"), "preferred_locales": params.get("preferred_locales") or [],
                    "shipping": None, "tax_exempt": "none", "test_clock": None}
        self.state.objects[ident] = customer
        return customer

    # payment methods
    def _create_payment_method(self, params: dict) -> dict:
        self._check(params, {"type", "card", "sepa_debit", "billing_details", "metadata"}, ("type",))
        kind = params["type"]
        ident = self._new_id("pm_")
        pm = {"id": ident, "object": "payment_method", "allow_redisplay": "unspecified",
              "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                              "postal_code": None, "state": None},
                                  "email": None, "name": None, "phone": None, **(params.get("billing_details") or {})},
              "created": self._now(), "customer": None, "livemode": False, "metadata": self._metadata(params),
              "type": kind}
        if kind == "card":
            card = params.get("card") or {}
            number = re.sub(r"\s", "", str(card.get("number", "")))
            if not number:
                raise _Fail(400, _invalid("Missing required param: card[number].", code="parameter_missing",
                                          param="card[number]"))
            if not number.isdigit() or not _luhn(number):
                raise _Fail(402, {"error": {"code": "incorrect_number", "message": "Your card number is incorrect.",
                                            "param": "number", "type": "card_error",
                                            "doc_url": "https://stripe.com/docs/error-codes/incorrect-number"}})
            pm["card"] = self._card(number, card.get("exp_month", "12"), card.get("exp_year", "2034"))
            self.state.cards[ident] = number
        elif kind == "sepa_debit":
            iban = re.sub(r"\s", "", str((params.get("sepa_debit") or {}).get("iban", ""))).upper()
            if not iban:
                raise _Fail(400, _invalid("Missing required param: sepa_debit[iban].", code="parameter_missing",
                                          param="sepa_debit[iban]"))
            pm["sepa_debit"] = {"bank_code": iban[4:12], "branch_code": "", "country": iban[:2],
                                "fingerprint": hashlib.sha256(iban.encode()).hexdigest()[:16], "last4": iban[-4:],
                                "generated_from": {"charge": None, "setup_attempt": None}}
            self.state.ibans[ident] = iban
        else:
            raise _Fail(400, _invalid(f"Invalid type: must be one of card, sepa_debit (this fake's types).",
                                      param="type"))
        self.state.objects[ident] = pm
        return pm

    @staticmethod
    def _card(number: str, exp_month, exp_year) -> dict:
        brand = _brand(number)
        return {"brand": brand, "display_brand": brand, "checks": {"address_line1_check": None,
                                                                   "address_postal_code_check": None,
                                                                   "cvc_check": "unchecked"},
                "country": "US", "exp_month": int(exp_month), "exp_year": int(exp_year),
                "fingerprint": hashlib.sha256(number.encode()).hexdigest()[:16], "funding": "credit",
                "generated_from": None, "last4": number[-4:],
                "networks": {"available": [brand], "preferred": None},
                "three_d_secure_usage": {"supported": True}, "wallet": None}

    def _test_pm(self, ident: str) -> dict | None:
        number = TEST_PAYMENT_METHODS.get(ident)
        if number is None:
            return None
        if ident not in self.state.objects:
            self.state.objects[ident] = {
                "id": ident, "object": "payment_method", "allow_redisplay": "unspecified",
                "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                                "postal_code": None, "state": None},
                                    "email": None, "name": None, "phone": None},
                "card": self._card(number, 12, 2034), "created": self._now(), "customer": None, "livemode": False,
                "metadata": {}, "type": "card"}
            self.state.cards[ident] = number
        return self.state.objects[ident]

    def _payment_method(self, ident: str, param: str = "payment_method") -> dict:
        pm = self._test_pm(ident) or self.state.objects.get(ident)
        if pm is None or pm.get("object") != "payment_method":
            raise _missing("PaymentMethod", ident, param)
        return pm

    def _retrieve_payment_method(self, params: dict, ident: str) -> dict:
        return self._payment_method(ident, "payment_method")

    def _attach_payment_method(self, params: dict, ident: str) -> dict:
        self._check(params, {"customer"}, ("customer",))
        pm = self._payment_method(ident)
        self._get("cus_", params["customer"], "customer", "customer")
        self._card_setup_check(pm)
        pm["customer"] = params["customer"]
        return pm

    def _detach_payment_method(self, params: dict, ident: str) -> dict:
        """docs.stripe.com/api/payment_methods/detach: a method attached to no customer cannot be detached."""
        self._check(params, set())
        pm = self._payment_method(ident)
        if not pm.get("customer"):
            raise _Fail(400, _invalid(f"The payment method you provided is not attached to a customer so "
                                      "detachment is impossible.", code="payment_method_unexpected_state"))
        pm["customer"] = None
        self._event("payment_method.detached", pm)
        return pm

    def _card_setup_check(self, pm: dict) -> None:
        number = self.state.cards.get(pm["id"])
        behaviour = CARDS.get(number or "", CardBehaviour())
        if number and behaviour.code and behaviour.fails_setup:
            raise _Fail(402, self._card_error(behaviour, pm, None), save=True)

    # setup intents
    def _create_setup_intent(self, params: dict) -> dict:
        self._check(params, {"customer", "payment_method", "payment_method_types", "usage", "confirm", "metadata",
                             "description", "automatic_payment_methods", "mandate_data", "return_url"})
        if params.get("customer"):
            self._get("cus_", params["customer"], "customer", "customer")
        ident = self._new_id("seti_")
        seti = {"id": ident, "object": "setup_intent", "application": None,
                "automatic_payment_methods": None, "cancellation_reason": None,
                "client_secret": f"{ident}_secret_{secrets.token_hex(12)}", "created": self._now(),
                "customer": params.get("customer"), "description": params.get("description"),
                "last_setup_error": None, "latest_attempt": None, "livemode": False, "mandate": None,
                "metadata": self._metadata(params), "next_action": None, "payment_method": None,
                "payment_method_types": params.get("payment_method_types") or ["card"],
                "status": "requires_payment_method", "usage": params.get("usage", "off_session")}
        self.state.objects[ident] = seti
        if params.get("payment_method"):
            seti["payment_method"] = self._payment_method(params["payment_method"])["id"]
            seti["status"] = "requires_confirmation"
        if self._bool(params, "confirm"):
            return self._confirm_setup(seti, {})
        return seti

    def _confirm_setup_intent(self, params: dict, ident: str) -> dict:
        self._check(params, {"payment_method", "payment_method_data", "mandate_data", "return_url"})
        self._from_payment_method_data(params)
        seti = self._get("seti_", ident, "setup_intent", "intent")
        return self._confirm_setup(seti, params)

    def _confirm_setup(self, seti: dict, params: dict) -> dict:
        if seti["status"] == "succeeded":
            raise _Fail(400, _invalid("You cannot confirm this SetupIntent because it has already succeeded.",
                                      code="setup_intent_unexpected_state"))
        if params.get("payment_method"):
            seti["payment_method"] = self._payment_method(params["payment_method"])["id"]
        if not seti["payment_method"]:
            raise _Fail(400, _invalid("You cannot confirm this SetupIntent because it's missing a payment method.",
                                      code="setup_intent_unexpected_state"))
        pm = self.state.objects[seti["payment_method"]]
        try:
            self._card_setup_check(pm)
        except _Fail as fail:
            error = dict(fail.body["error"])
            seti.update(status="requires_payment_method", last_setup_error=error, payment_method=None)
            fail.body["error"]["setup_intent"] = json.loads(json.dumps(seti))
            self._event("setup_intent.setup_failed", seti)
            raise
        if seti["customer"]:
            pm["customer"] = seti["customer"]
        if pm["type"] == "sepa_debit":
            seti["mandate"] = self._new_id("mandate_")
        seti.update(status="succeeded", last_setup_error=None)
        self._event("setup_intent.succeeded", seti)
        return seti

    # payment intents
    _PI_PARAMS = {"amount", "currency", "customer", "payment_method", "payment_method_types", "confirm",
                  "off_session", "metadata", "description", "capture_method", "setup_future_usage",
                  "statement_descriptor", "receipt_email", "automatic_payment_methods", "mandate_data",
                  "return_url", "error_on_requires_action"}

    def _create_payment_intent(self, params: dict) -> dict:
        self._check(params, self._PI_PARAMS, ("amount", "currency"))
        amount_text = params["amount"]
        if not re.fullmatch(r"\d+", amount_text):
            raise _Fail(400, _invalid(f"Invalid integer: {amount_text}", param="amount"))
        amount, currency = int(amount_text), params["currency"].lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise _Fail(400, _invalid(f"Invalid currency: {currency}.", param="currency"))
        if amount < _MINIMUM.get(currency, 1):
            raise _Fail(400, _invalid(f"Amount must be at least {_MINIMUM[currency]} {currency} minor units",
                                      code="amount_too_small", param="amount"))
        if params.get("customer"):
            self._get("cus_", params["customer"], "customer", "customer")
        if params.get("payment_method"):
            self._payment_method(params["payment_method"])
        off_session = params.get("off_session")
        ident = self._new_id("pi_")
        pi = {"id": ident, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
              "amount_details": {"tip": {}}, "amount_received": 0, "application": None,
              "application_fee_amount": None, "automatic_payment_methods": None, "canceled_at": None,
              "cancellation_reason": None, "capture_method": params.get("capture_method", "automatic"),
              "client_secret": f"{ident}_secret_{secrets.token_hex(12)}", "confirmation_method": "automatic",
              "created": self._now(), "currency": currency, "customer": params.get("customer"),
              "description": params.get("description"), "last_payment_error": None, "latest_charge": None,
              "livemode": False, "metadata": self._metadata(params), "next_action": None, "on_behalf_of": None,
              "payment_method": params.get("payment_method"),
              "payment_method_types": params.get("payment_method_types") or ["card"],
              "processing": None, "receipt_email": params.get("receipt_email"), "review": None,
              "setup_future_usage": params.get("setup_future_usage"), "shipping": None,
              "statement_descriptor": params.get("statement_descriptor"), "status": (
                  "requires_confirmation" if params.get("payment_method") else "requires_payment_method"),
              "transfer_data": None, "transfer_group": None}
        self.state.objects[ident] = pi
        if self._bool(params, "confirm"):
            return self._confirm(pi, off_session in ("true", "one_off", "recurring"))
        return pi

    def _confirm_payment_intent(self, params: dict, ident: str) -> dict:
        self._check(params, {"payment_method", "payment_method_data", "off_session", "return_url", "mandate_data",
                             "setup_future_usage", "error_on_requires_action"})
        pi = self._get("pi_", ident, "payment_intent", "intent")
        self._from_payment_method_data(params)
        if pi["status"] in ("succeeded", "processing", "canceled"):
            raise _Fail(400, _invalid(f"You cannot confirm this PaymentIntent because it has a status of "
                                      f"{pi['status']}.", code="payment_intent_unexpected_state"))
        if params.get("payment_method"):
            pi["payment_method"] = self._payment_method(params["payment_method"])["id"]
        return self._confirm(pi, params.get("off_session") in ("true", "one_off", "recurring"))

    def _cancel_payment_intent(self, params: dict, ident: str) -> dict:
        self._check(params, {"cancellation_reason"})
        pi = self._get("pi_", ident, "payment_intent", "intent")
        if pi["status"] in ("succeeded", "processing", "canceled"):
            raise _Fail(400, _invalid(f"You cannot cancel this PaymentIntent because it has a status of "
                                      f"{pi['status']}.", code="payment_intent_unexpected_state"))
        pi.update(status="canceled", canceled_at=self._now(), next_action=None,
                  cancellation_reason=params.get("cancellation_reason") or None)
        self._event("payment_intent.canceled", pi)
        return pi

    def _confirm(self, pi: dict, off_session: bool) -> dict:
        if not pi["payment_method"]:
            raise _Fail(400, _invalid("You cannot confirm this PaymentIntent because it's missing a payment "
                                      "method.", code="payment_intent_unexpected_state"))
        pm = self._payment_method(pi["payment_method"])
        if pm["type"] == "sepa_debit":
            pi.update(status="processing", last_payment_error=None, latest_charge=self._new_id("py_"))
            self._event("payment_intent.processing", pi)
            return pi
        behaviour = CARDS.get(self.state.cards.get(pm["id"], ""), CardBehaviour())
        charge = self._new_id("ch_")
        pi["latest_charge"] = charge
        if behaviour.requires_authentication and (not off_session or behaviour.action_off_session):
            pi.update(status="requires_action", next_action={
                "type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}})
            self._event("payment_intent.requires_action", pi)
            return pi
        if behaviour.code:
            error = self._card_error(behaviour, pm, charge)
            last = dict(error["error"])
            pi.update(status="requires_payment_method", last_payment_error=last, payment_method=None)
            self._event("payment_intent.payment_failed", pi)
            error["error"]["payment_intent"] = json.loads(json.dumps(pi))
            raise _Fail(402, error, save=True)
        pi.update(status="succeeded", amount_received=pi["amount"], last_payment_error=None, next_action=None)
        if pi.get("setup_future_usage") and pi.get("customer"):  # saved for later: attached to the customer
            pm["customer"] = pi["customer"]
        self.state.objects[charge] = {"id": charge, "object": "charge", "amount": pi["amount"],
                                      "amount_refunded": 0, "currency": pi["currency"], "payment_intent": pi["id"],
                                      "refunded": False, "disputed": behaviour.disputed, "status": "succeeded"}
        self._event("payment_intent.succeeded", pi)
        if behaviour.disputed:
            dispute = {"id": self._new_id("dp_"), "object": "dispute", "amount": pi["amount"], "charge": charge,
                       "currency": pi["currency"], "payment_intent": pi["id"], "reason": "fraudulent",
                       "status": "needs_response", "created": self._now(), "livemode": False, "metadata": {}}
            self.state.objects[dispute["id"]] = dispute
            self._event("charge.dispute.created", dispute)
        return pi

    def _card_error(self, behaviour: CardBehaviour, pm: dict, charge: str | None) -> dict:
        error: dict[str, Any] = {"code": behaviour.code, "doc_url": f"https://stripe.com/docs/error-codes/"
                                 f"{behaviour.code.replace('_', '-')}", "message": behaviour.message,
                                 "type": "card_error", "payment_method": json.loads(json.dumps(pm))}
        if behaviour.decline_code:
            error["decline_code"] = behaviour.decline_code
        if behaviour.param:
            error["param"] = behaviour.param
        if charge:
            error["charge"] = charge
        return {"error": error}

    def _list_payment_intents(self, params: dict) -> dict:
        self._check(params, {"customer", "limit", "created", "starting_after", "ending_before"})
        limit = int(params.get("limit", "10"))
        found = [o for k, o in self.state.objects.items() if k.startswith("pi_")
                 and (not params.get("customer") or o["customer"] == params["customer"])]
        found.sort(key=lambda o: o["id"], reverse=True)
        return {"object": "list", "data": found[:limit], "has_more": len(found) > limit, "url": "/v1/payment_intents"}

    # refunds
    def _create_refund(self, params: dict) -> dict:
        self._check(params, {"payment_intent", "charge", "amount", "reason", "metadata", "instructions_email"})
        if not params.get("payment_intent") and not params.get("charge"):
            raise _Fail(400, _invalid("One of the following params should be provided for this request: "
                                      "payment_intent or charge.", code="parameter_missing"))
        if params.get("payment_intent"):
            pi = self._get("pi_", params["payment_intent"], "payment_intent", "payment_intent")
            charge = self.state.objects.get(pi["latest_charge"] or "") if pi["status"] == "succeeded" else None
            if charge is None:
                raise _Fail(400, _invalid(f"This PaymentIntent ({pi['id']}) does not have a successful charge to "
                                          "refund.", param="payment_intent"))
        else:
            charge = self._get("ch_", params["charge"], "charge", "charge")
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise _Fail(400, _invalid(f"Charge {charge['id']} has already been refunded.",
                                      code="charge_already_refunded"))
        amount = int(params.get("amount", remaining))
        if amount <= 0 or amount > remaining:
            raise _Fail(400, _invalid(f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                                      f"({remaining})", code="amount_too_large", param="amount"))
        reason = params.get("reason")
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise _Fail(400, _invalid(f"Invalid reason: must be one of duplicate, fraudulent, or "
                                      "requested_by_customer", param="reason"))
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        ident = self._new_id("re_")
        refund = {"id": ident, "object": "refund", "amount": amount, "balance_transaction": self._new_id("txn_"),
                  "charge": charge["id"], "created": self._now(), "currency": charge["currency"],
                  "destination_details": None, "metadata": self._metadata(params),
                  "payment_intent": charge["payment_intent"], "reason": reason, "receipt_number": None,
                  "source_transfer_reversal": None, "status": "succeeded", "transfer_reversal": None}
        self.state.objects[ident] = refund
        self._event("refund.created", refund)
        self._event("charge.refunded", charge)
        return refund


class _Handler(BaseHTTPRequestHandler):
    owner: StripeFake
    protocol_version = "HTTP/1.1"
    #: Replies go out at once (TCP_NODELAY): with Nagle's algorithm a keep-alive client waits for the delayed
    #: ACK, about 40 ms per call.
    disable_nagle_algorithm = True
    server_version = "stripe-fake"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def _cors(self) -> None:
        """The browser calls the API from the merchant's page (Stripe.js does so from js.stripe.com)."""
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type, Stripe-Version")
        self.send_header("Access-Control-Allow-Methods", "GET, POST")

    def _script(self) -> None:
        data = STRIPE_JS.replace("__API__", json.dumps(self.owner.url)).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/javascript; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self._cors()
        self.end_headers()
        self.wfile.write(data)

    def do_OPTIONS(self):  # noqa: N802 - a CORS preflight
        self.send_response(204)
        self._cors()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        split = urlsplit(self.path)
        if method == "GET" and split.path in ("/v3", "/v3/"):
            self._script()
            return
        try:
            status, payload, extra = self.owner.handle(method, split.path, split.query, self.headers, body)
        except _Fail as fail:
            status, payload, extra = fail.status, fail.body, {}
        with self.owner.lock:
            lose = self.owner._lose > 0
            if lose:
                self.owner._lose -= 1
        if lose:
            self.close_connection = True
            self.connection.close()
            return
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
        self.send_header("Stripe-Version", self.headers.get("Stripe-Version") or API_VERSION)
        for name, value in extra.items():
            if value:
                self.send_header(name, value)
        if status >= 500:
            self.send_header("Stripe-Should-Retry", "true")
        self._cors()
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def do_DELETE(self):  # noqa: N802
        self._serve("DELETE")


def main(argv: list[str] | None = None) -> None:
    """Serve the fake on the loopback until interrupted (for ``duly demo`` or a manual try of autopay):
    ``python tests/fakes/stripe_server.py [--port 12111] [--key sk_test_duly]``."""
    import argparse

    parser = argparse.ArgumentParser(description="A loopback fake of the Stripe API endpoints Duly uses.")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--key", default="sk_test_duly", help="the secret key clients must send")
    args = parser.parse_args(argv)
    fake = StripeFake(args.key, port=args.port)
    print(f"Stripe fake on {fake.url} (key {args.key}): DULY_STRIPE_API_BASE={fake.url} "
          f"DULY_STRIPE_SECRET_KEY={args.key}", flush=True)
    try:
        fake.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake.server.server_close()


if __name__ == "__main__":
    main()
