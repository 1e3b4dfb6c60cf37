"""The payment provider contract: plain frozen dataclasses and one abstract class. No Django here.

A provider (Stripe, a fake, a future gateway) turns these requests into its own API calls and its answers
back into these results. Money crosses the seam as integer minor units with an ISO 4217 currency; ids
are the provider's own (``cus_...``, ``pm_...``, ``pi_...``): Duly never sees or stores card data.

The provider's idempotency key makes a charge happen once: the caller derives it from (invoice,
attempt), stores it *before* calling :meth:`Provider.charge`, and after a crash calls
:meth:`Provider.recover_charge` with the same request to learn what happened instead of charging again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from types import MappingProxyType
from typing import ClassVar, Mapping

from duly.domain.bounds import check_minor
from duly.domain.errors import ProviderError, ProviderUnavailable, ValidationError, WebhookRejected
from duly.domain.money import check_currency
from duly.domain.retries import classify

__all__ = [
    "ChargeResult",
    "ChargeStatus",
    "CheckoutRequest",
    "CheckoutSession",
    "Decline",
    "DeclineCategory",
    "EventKind",
    "MethodKind",
    "PaymentRequest",
    "Provider",
    "ProviderError",
    "ProviderEvent",
    "ProviderUnavailable",
    "RefundRequest",
    "RefundResult",
    "RefundStatus",
    "SavedMethod",
    "SetupRequest",
    "SetupResult",
    "WebhookRejected",
    "classify_decline",
]


def _text(value, name: str, *, required: bool = True, limit: int = 255) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise ValidationError(f"{name} must be a non-empty text of at most {limit} characters, got {value!r}.")
    return value


def _amount(amount_minor, currency: str, name: str = "The amount", *, positive: bool = True) -> None:
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool):
        raise ValidationError(f"{name} crosses the provider seam as integer minor units, got {amount_minor!r}.")
    check_currency(currency)
    check_minor(amount_minor, name, currency)
    if positive and amount_minor <= 0:
        raise ValidationError(f"{name} must be positive, got {amount_minor} minor units.")


def _frozen_map(value) -> Mapping[str, str]:
    items = dict(value or {})
    for k, v in items.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ValidationError(f"Metadata keys and values are texts, got {k!r}: {v!r}.")
    return MappingProxyType(items)


class DeclineCategory(str, Enum):
    HARD = "hard"
    SOFT = "soft"


@dataclass(frozen=True)
class Decline:
    """Why the provider declined: hard (never retry this method) or soft, with the provider's code."""

    category: DeclineCategory
    #: The provider's most specific code (Stripe: ``decline_code`` when present, else ``code``).
    code: str
    message: str = ""
    #: The provider's general code when it differs (Stripe: ``card_declined``).
    provider_code: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "category", DeclineCategory(self.category))
        _text(self.code, "A decline code", limit=100)


class MethodKind(str, Enum):
    CARD = "card"
    SEPA_DEBIT = "sepa_debit"
    WALLET = "wallet"
    OTHER = "other"


@dataclass(frozen=True)
class SetupRequest:
    """Save a method for later (off-session) charges."""

    idempotency_key: str
    customer_ref: str = ""  # the provider's customer id; empty: the provider creates one
    email: str = ""
    name: str = ""
    method_kinds: tuple[MethodKind, ...] = (MethodKind.CARD,)
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: A payment method the provider already holds (staff attaching a test method, a method the browser
    #: collected): the setup is confirmed with it at once. Empty: the customer finishes it in the browser.
    method_ref: str = ""

    def __post_init__(self) -> None:
        _text(self.idempotency_key, "The idempotency key")
        _text(self.method_ref, "The provider's payment method id", required=False)
        object.__setattr__(self, "method_kinds", tuple(MethodKind(k) for k in self.method_kinds))
        if not self.method_kinds:
            raise ValidationError("A setup offers at least one method kind.")
        object.__setattr__(self, "metadata", _frozen_map(self.metadata))


@dataclass(frozen=True)
class SetupResult:
    setup_ref: str
    customer_ref: str
    status: str
    #: What the browser needs to finish the setup (Stripe: the SetupIntent's client secret).
    client_secret: str = ""
    method_ref: str = ""
    #: The metadata the setup was started with (who it is for).
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SavedMethod:
    """A saved method as the provider describes it (only what Duly shows: brand, last four, expiry)."""

    provider: str
    method_ref: str
    customer_ref: str
    kind: MethodKind
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    wallet: str = ""
    mandate_ref: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", MethodKind(self.kind))
        if self.last4 and (len(self.last4) != 4 or not self.last4.isdigit()):
            raise ValidationError(f"last4 is four digits, got {self.last4!r}.")

    def describe(self) -> str:
        """``"Visa •••• 4242"``, ``"SEPA Direct Debit •••• 3000"``."""
        label = {"card": (self.brand or "Card").replace("_", " ").title() if self.brand != "amex"
                 else "American Express", "sepa_debit": "SEPA Direct Debit"}.get(self.kind.value, self.kind.value)
        return f"{label} •••• {self.last4}" if self.last4 else label


@dataclass(frozen=True)
class PaymentRequest:
    """Charge a saved method (autopay) or confirm a payment the customer started."""

    amount_minor: int
    currency: str
    idempotency_key: str
    customer_ref: str
    method_ref: str
    description: str = ""
    off_session: bool = True
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _amount(self.amount_minor, self.currency)
        _text(self.idempotency_key, "The idempotency key")
        _text(self.customer_ref, "The provider's customer id")
        _text(self.method_ref, "The provider's payment method id")
        _text(self.description, "The description", required=False, limit=1000)
        object.__setattr__(self, "metadata", _frozen_map(self.metadata))


class ChargeStatus(str, Enum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"            # accepted, money not yet certain (SEPA debits, processing cards)
    REQUIRES_ACTION = "requires_action"  # the customer must authenticate (3-D Secure)
    FAILED = "failed"


@dataclass(frozen=True)
class ChargeResult:
    provider: str
    charge_ref: str
    status: ChargeStatus
    amount_minor: int
    currency: str
    idempotency_key: str = ""
    decline: Decline | None = None
    #: The provider's own status word (``requires_payment_method``...), for staff and logs.
    provider_status: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ChargeStatus(self.status))
        _amount(self.amount_minor, self.currency, positive=False)
        if (self.status is ChargeStatus.FAILED) != (self.decline is not None):
            raise ValidationError("A failed charge carries its decline, and only a failed one does.")

    @property
    def succeeded(self) -> bool:
        return self.status is ChargeStatus.SUCCEEDED


@dataclass(frozen=True)
class CheckoutRequest:
    """A payment the customer makes now, in the browser (the provider's payment element): nothing is charged
    until the customer confirms it there. ``save_for_future`` keeps the method for later off-session charges."""

    amount_minor: int
    currency: str
    idempotency_key: str
    customer_ref: str = ""  # the provider's customer id; empty: the provider creates one when it must save
    email: str = ""
    name: str = ""
    save_for_future: bool = False
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _amount(self.amount_minor, self.currency)
        _text(self.idempotency_key, "The idempotency key")
        _text(self.description, "The description", required=False, limit=1000)
        object.__setattr__(self, "metadata", _frozen_map(self.metadata))


@dataclass(frozen=True)
class CheckoutSession:
    """A browser payment as the provider sees it: what the page needs (``client_secret``) and where it stands."""

    payment_ref: str
    client_secret: str
    charge: ChargeResult
    method_ref: str = ""
    customer_ref: str = ""
    #: ``card`` or ``sepa_debit``: how the customer paid (empty until they did).
    method_kind: str = ""
    #: The customer tried to pay (a decline then means this attempt failed, not that nobody tried yet).
    attempted: bool = False


@dataclass(frozen=True)
class RefundRequest:
    charge_ref: str
    amount_minor: int
    currency: str
    idempotency_key: str
    reason: str = ""  # Stripe: duplicate, fraudulent, requested_by_customer

    def __post_init__(self) -> None:
        _text(self.charge_ref, "The charge id")
        _amount(self.amount_minor, self.currency, "The refund")
        _text(self.idempotency_key, "The idempotency key")


class RefundStatus(str, Enum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class RefundResult:
    provider: str
    refund_ref: str
    charge_ref: str
    status: RefundStatus
    amount_minor: int
    currency: str
    failure_reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RefundStatus(self.status))
        _amount(self.amount_minor, self.currency, "The refund")


class EventKind(str, Enum):
    CHARGE_SUCCEEDED = "charge_succeeded"
    CHARGE_FAILED = "charge_failed"
    CHARGE_PENDING = "charge_pending"
    REFUND_UPDATED = "refund_updated"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_CLOSED = "dispute_closed"
    SETUP_SUCCEEDED = "setup_succeeded"
    SETUP_FAILED = "setup_failed"
    METHOD_DETACHED = "method_detached"
    OTHER = "other"


@dataclass(frozen=True)
class ProviderEvent:
    """A verified webhook, normalised. ``event_id`` is processed once (a unique constraint downstream);
    ``created`` orders events that arrive out of order."""

    provider: str
    event_id: str
    kind: EventKind
    created: datetime
    object_ref: str
    provider_type: str = ""
    charge_ref: str = ""
    amount_minor: int | None = None
    currency: str = ""
    decline: Decline | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", EventKind(self.kind))
        _text(self.event_id, "The event id")
        if self.created.tzinfo is None:
            raise ValidationError("An event's creation time is an aware datetime.")
        if self.amount_minor is not None:
            _amount(self.amount_minor, self.currency, positive=False)
        object.__setattr__(self, "metadata", _frozen_map(self.metadata))


class Provider(ABC):
    """What every payment provider does. Register a subclass with :mod:`.registry`."""

    #: Stable short code (``"stripe"``), also the key of its settings.
    code: ClassVar[str]
    #: How long the provider keeps an idempotency key (Stripe: at least 24 hours). A charge older than
    #: this cannot be recovered by replaying its request: :meth:`recover_charge` must look it up instead.
    idempotency_window: ClassVar[timedelta] = timedelta(hours=24)
    #: Default tolerance of a webhook's timestamp.
    webhook_tolerance: ClassVar[timedelta] = timedelta(seconds=300)

    @abstractmethod
    def create_setup(self, request: SetupRequest) -> SetupResult:
        """Start saving a method (the customer finishes it in the browser)."""

    @abstractmethod
    def saved_method(self, method_ref: str) -> SavedMethod:
        """Describe a saved method (brand, last four digits, expiry; never the card number)."""

    def detach_method(self, method_ref: str) -> None:
        """Stop the provider keeping a saved method for the customer (staff removed it). A provider without
        the notion keeps the default: nothing to do."""
        return None

    @abstractmethod
    def charge(self, request: PaymentRequest) -> ChargeResult:
        """Charge with ``request.idempotency_key``; a decline is a FAILED result, not an exception.
        Raises :class:`ProviderUnavailable` when the outcome is unknown."""

    @abstractmethod
    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund all or part of a charge, idempotently."""

    @abstractmethod
    def parse_webhook(self, payload: bytes, headers: Mapping[str, str], *, now: datetime) -> ProviderEvent:
        """Verify the signature (refusing one older than the tolerance at ``now``) and normalise the event.
        Raises :class:`WebhookRejected`."""

    @abstractmethod
    def retrieve_charge(self, charge_ref: str) -> ChargeResult:
        """The current state of a charge (recovery, reconciliation)."""

    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """Start a payment the customer confirms in the browser (idempotent on ``request.idempotency_key``).
        A provider without a browser payment element does not offer paying now."""
        raise ProviderError(f"Payment provider {self.code!r} does not take payments in the browser.",
                            provider=self.code)

    def retrieve_setup(self, setup_ref: str) -> SetupResult:
        """Where a setup started with :meth:`create_setup` stands (the customer finishes it in the browser)."""
        raise ProviderError(f"Payment provider {self.code!r} does not save methods in the browser.",
                            provider=self.code)

    def retrieve_checkout(self, payment_ref: str) -> CheckoutSession:
        """Where a browser payment started with :meth:`start_checkout` stands."""
        raise ProviderError(f"Payment provider {self.code!r} does not take payments in the browser.",
                            provider=self.code)

    def cancel_checkout(self, payment_ref: str) -> CheckoutSession:
        """Cancel a browser payment nobody paid yet (the browser can no longer confirm it); refused when it
        succeeded or is processing."""
        raise ProviderError(f"Payment provider {self.code!r} does not take payments in the browser.",
                            provider=self.code)

    @abstractmethod
    def recover_charge(self, request: PaymentRequest, *, sent_at: datetime, now: datetime) -> ChargeResult | None:
        """After a crash between :meth:`charge` and recording its result: what became of ``request``
        (sent at ``sent_at``), without charging twice; None when the provider never received it."""


#: Stripe's ``advice_code`` of an issuer decline (docs.stripe.com/declines, "retrying issuer declines"):
#: when the issuer gives one, it overrides the reading of the decline code.
ADVICE_CATEGORY = MappingProxyType({
    "do_not_try_again": DeclineCategory.HARD,
    "confirm_card_data": DeclineCategory.HARD,  # the customer must update the card's details first
    "try_again_later": DeclineCategory.SOFT,
})


def classify_decline(rail: str, code: str | None, *, provider_code: str = "", message: str = "",
                     advice_code: str | None = None) -> Decline:
    """A seam :class:`Decline` whose category the domain's rules decide (:func:`duly.domain.retries.classify`),
    unless the issuer's ``advice_code`` says otherwise."""
    decision = classify(rail, code)
    category = ADVICE_CATEGORY.get(advice_code or "", DeclineCategory(decision.category.value))
    return Decline(category, decision.code, message, provider_code)
