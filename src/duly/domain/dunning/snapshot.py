"""What the rules see of one customer (:class:`AccountSnapshot` and its parts) and what they decide
(:class:`Action`), with the natural key of a reminder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Iterable, Mapping

from ..errors import ValidationError
from ..money import ZERO, check_currency, to_decimal
from .policy import (
    ITEM_STATUSES,
    ActionKind,
    Channel,
    CustomerId,
    InvoiceId,
    ItemStatus,
    StepAction,
    Tone,
    _UTC,
)


def _as_utc(value: datetime, what: str) -> datetime:
    if type(value) is datetime and value.tzinfo is _UTC:
        return value
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError(f"{what} must be a timezone-aware datetime, got {value!r}.")
    return value.astimezone(_UTC)


def _check_aware(value: datetime, what: str) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError(f"{what} must be a timezone-aware datetime, got {value!r}.")


def _id_sort_key(invoice_id: InvoiceId) -> tuple[int, int, str]:
    """Integers sort numerically and before strings; mixed id types never compare directly."""
    if isinstance(invoice_id, int):
        return (0, invoice_id, "")
    return (1, 0, str(invoice_id))


def _sorted_ids(ids: Iterable[InvoiceId]) -> tuple[InvoiceId, ...]:
    return tuple(sorted(set(ids), key=_id_sort_key))


def reminder_key(customer_id: CustomerId, step_code: str, invoice_ids: Iterable[InvoiceId]) -> str:
    """The natural key of one reminder: ``"<customer>:<step>:<id,id,...>"`` with the ids sorted."""
    return _key(customer_id, step_code, _sorted_ids(invoice_ids))


def _key(customer_id: CustomerId, step_code: str, sorted_ids: tuple[InvoiceId, ...]) -> str:
    return f"{customer_id}:{step_code}:{','.join(map(str, sorted_ids))}"


# --- the account snapshot -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenItem:
    """An invoice of the customer as the calculator saw it."""

    invoice_id: InvoiceId
    number: str
    currency: str
    issue_date: date
    due_date: date
    service_date: date | None = None
    total: Decimal
    open_amount: Decimal
    status: ItemStatus = "issued"
    #: Start of the contract the invoice belongs to (anchor ``contract_start``).
    contract_start: date | None = None
    #: Predicted probability (0-1) that the invoice is paid late (the late-payment model); ``None``: no
    #: prediction. Read by the ``min_late_probability`` step condition.
    late_probability: Decimal | None = None
    #: Predicted days paid after the due date (the same model; ``None``: no prediction).
    expected_days_late: int | None = None

    def __post_init__(self) -> None:
        if self.status not in ITEM_STATUSES:
            raise ValidationError(
                f"Invoice {self.number}: unknown status {self.status!r}; expected one of {', '.join(ITEM_STATUSES)}."
            )
        check_currency(self.currency)
        if type(self.total) is not Decimal:
            object.__setattr__(self, "total", to_decimal(self.total))
        if type(self.open_amount) is not Decimal:
            object.__setattr__(self, "open_amount", to_decimal(self.open_amount))
        if self.late_probability is not None and type(self.late_probability) is not Decimal:
            object.__setattr__(self, "late_probability", to_decimal(self.late_probability))


@dataclass(frozen=True, slots=True)
class PastReminder:
    """A reminder already sent (or handed over as a task) to the customer.

    ``delivered_at``: when it reached the customer, or, when it could not be delivered, when staff
    handled that (the phone call made, the letter posted); ``None`` means at ``sent_at``.
    ``undelivered``: set while it has not reached the customer and nobody has handled that yet
    (why, e.g. ``"queued"`` or ``"bounced: phone task open"``); the next step waits for it.
    """

    step_code: str
    sent_at: datetime
    invoice_ids: tuple[InvoiceId, ...]
    delivered_at: datetime | None = None
    undelivered: str | None = None

    def __post_init__(self) -> None:
        _check_aware(self.sent_at, "PastReminder.sent_at")
        if self.delivered_at is not None:
            _check_aware(self.delivered_at, "PastReminder.delivered_at")
        object.__setattr__(self, "invoice_ids", tuple(self.invoice_ids))


@dataclass(frozen=True, slots=True)
class Promise:
    """A promise to pay ``amount`` on ``promised_date`` for these invoices.

    ``paid_since``: what was paid on these invoices from the day the promise was made up to the
    promised date. The promise is kept once it reaches ``amount`` (see :func:`promise_outcome`).
    """

    invoice_ids: tuple[InvoiceId, ...]
    promised_date: date
    amount: Decimal
    created_at: datetime
    paid_since: Decimal = ZERO

    def __post_init__(self) -> None:
        _check_aware(self.created_at, "Promise.created_at")
        object.__setattr__(self, "invoice_ids", tuple(self.invoice_ids))
        if type(self.amount) is not Decimal:
            object.__setattr__(self, "amount", to_decimal(self.amount))
        if type(self.paid_since) is not Decimal:
            object.__setattr__(self, "paid_since", to_decimal(self.paid_since))


@dataclass(frozen=True, slots=True)
class Contact:
    id: Any
    name: str
    email: str | None = None
    phone: str | None = None
    role: str = "other"
    opted_out: bool = False


@dataclass(frozen=True, kw_only=True)
class AccountSnapshot:
    """Everything the rules need to know about one customer, gathered at one moment."""

    customer_id: CustomerId
    segment: str | None = None
    risk_level: str | None = None
    payment_method: str | None = None
    #: IANA time zone of the customer (sending window and local dates).
    timezone: str = "UTC"
    #: Holiday country (``"FR"``, or ``"US-CA"`` with a subdivision); ``None``: weekends only.
    country: str | None = None
    send_window: tuple[time, time] = (time(9), time(17))
    open_items: tuple[OpenItem, ...] = ()
    reminders: tuple[PastReminder, ...] = ()
    #: Invoice ids with an open dispute.
    disputes: frozenset[InvoiceId] = frozenset()
    #: Invoice ids whose automatic payment is under way (a retry scheduled, a charge pending): reminders wait,
    #: and resume after the last failure.
    payment_retries: frozenset[InvoiceId] = frozenset()
    promises: tuple[Promise, ...] = ()
    #: Payments received but not applied yet (unreconciled bank lines included), per currency.
    unreconciled_credits: Mapping[str, Decimal] = field(default_factory=dict)
    contacts: tuple[Contact, ...] = ()
    #: Local hour (0-23) learned from past payments and opens, see :func:`learn_best_hour`.
    best_hour: int | None = None
    segment_default_hour: int | None = None
    #: ``(invoice_id, step_code)`` pairs whose late fee was already assessed.
    fee_levels_assessed: frozenset[tuple[InvoiceId, str]] = frozenset()
    #: When the other messages that count toward the contact-fatigue limits went out: invoice
    #: e-mails, notices, greetings (the one contact budget; reminders are in ``reminders``).
    other_messages: tuple[datetime, ...] = ()
    #: ``active``, ``suspended`` or ``terminated``: greetings and notices wait while not active.
    status: str = "active"

    def __post_init__(self) -> None:
        start, end = self.send_window
        if not (isinstance(start, time) and isinstance(end, time)) or start.tzinfo or end.tzinfo or not start < end:
            raise ValidationError(
                f"Customer {self.customer_id}: the sending window must be two local times, start before end,"
                f" got {self.send_window!r}."
            )
        for name in ("best_hour", "segment_default_hour"):
            hour = getattr(self, name)
            if hour is not None and (not isinstance(hour, int) or isinstance(hour, bool) or not 0 <= hour <= 23):
                raise ValidationError(f"Customer {self.customer_id}: {name} must be an hour 0-23, got {hour!r}.")
        for name in ("open_items", "reminders", "promises", "contacts", "other_messages"):
            value = getattr(self, name)
            if type(value) is not tuple:
                object.__setattr__(self, name, tuple(value))
        if type(self.disputes) is not frozenset:
            object.__setattr__(self, "disputes", frozenset(self.disputes))
        if type(self.payment_retries) is not frozenset:
            object.__setattr__(self, "payment_retries", frozenset(self.payment_retries))
        if type(self.fee_levels_assessed) is not frozenset:
            object.__setattr__(self, "fee_levels_assessed", frozenset(self.fee_levels_assessed))
        credits = self.unreconciled_credits
        if credits and any(type(v) is not Decimal for v in credits.values()):
            normalised = {check_currency(c): to_decimal(v) for c, v in credits.items()}
            object.__setattr__(self, "unreconciled_credits", normalised)


# --- the decision -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """What Duly does for one customer and one step now: ``send``, ``defer`` or ``skip``."""

    kind: ActionKind
    customer_id: CustomerId
    step_code: str
    channel: Channel
    template: str
    tone: Tone
    invoice_ids: tuple[InvoiceId, ...]
    #: The step's side effects (``assess_late_fee``, ``suspend``...); empty for skips.
    actions: tuple[StepAction, ...]
    contact_id: Any
    fallback_reason: str | None
    #: When to send (UTC): the slot it is planned for; for a ``send`` that slot is ``as_of`` or
    #: earlier (today's window is still open). ``None`` for a skip.
    scheduled_for: datetime | None
    reason: str
    idempotency_key: str
