"""The invoice life cycle: its states, the transitions allowed between them and why each one happens.

::

    draft ──issue──▶ issued ──partial pay──▶ partially paid ──pay──▶ paid
      │                │  ▲                        │   ▲              │
      │                │  └──────refund────────────┘   └───refund─────┘
      │                ├──void (nothing paid)──▶ void
      │                └──write-off──▶ uncollectible        (also from partially paid)
      └──issue (prepaid in full, or a credit note that settles itself)──▶ paid

    uncollectible ──reverse write-off (a deliberate, audited undo by staff)──▶ issued | partially paid | paid

- An *import* creates a draft (its parties frozen as its source stated them); issuing it is an issue.
- A settled amount (a payment, customer credit, a credit note) moves an open invoice to partially paid
  or paid; a refund moves it back. A void or written-off invoice is closed: a settled amount added or
  taken back changes what it received, never its status. The one way out is a *reverse write-off*, a
  deliberate act of staff (undoing the bank match that wrote a short payment's rest off), never a side
  effect: :func:`reopened` says the state it leads to.

Pure: :func:`settle` and :func:`issued` compute the state an amount or an issue leads to;
:func:`check_void` and :func:`check_write_off` refuse what the life cycle does not allow, with the
stable codes of :mod:`duly.domain.errors`. The one module that writes an invoice's state is
:mod:`duly.invoicing.lifecycle`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .errors import InvalidState, InvoiceAlreadyVoid, InvoiceHasPayments, ReasonRequired

__all__ = [
    "CLOSED",
    "DRAFT",
    "ISSUED",
    "OPEN",
    "PAID",
    "PARTIALLY_PAID",
    "REASONS",
    "STATES",
    "TRANSITIONS",
    "UNCOLLECTIBLE",
    "VOID",
    "Settlement",
    "allowed",
    "check_transition",
    "check_void",
    "check_write_off",
    "issued",
    "reopened",
    "settle",
    "settle_reason",
]

DRAFT, ISSUED, PARTIALLY_PAID, PAID, VOID, UNCOLLECTIBLE = (
    "draft", "issued", "partially_paid", "paid", "void", "uncollectible",
)
STATES = (DRAFT, ISSUED, PARTIALLY_PAID, PAID, VOID, UNCOLLECTIBLE)
#: Open: something is (or may again be) due.
OPEN = (ISSUED, PARTIALLY_PAID)
#: Closed for good: a settled amount added or taken back never reopens them.
CLOSED = (VOID, UNCOLLECTIBLE)

#: Why an invoice changes state.
IMPORT, ISSUE, PAY, PARTIAL_PAY, REFUND, CREDIT, WRITE_OFF, VOIDING, REVERSE_WRITE_OFF = (
    "import", "issue", "pay", "partial_pay", "refund", "credit", "write_off", "void", "reverse_write_off",
)
REASONS = (IMPORT, ISSUE, PAY, PARTIAL_PAY, REFUND, CREDIT, WRITE_OFF, VOIDING, REVERSE_WRITE_OFF)

#: (from, to) -> the reasons that may move an invoice that way. A state to itself is listed where an
#: event changes what an invoice received without changing its state.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (DRAFT, ISSUED): frozenset({ISSUE, IMPORT}),  # import: a receivable migrated from another system
    (DRAFT, PAID): frozenset({ISSUE, IMPORT}),  # prepaid in full, or a credit note (it settles itself)
    (DRAFT, PARTIALLY_PAID): frozenset({ISSUE}),  # customer credit applied at issue
    (ISSUED, PARTIALLY_PAID): frozenset({PARTIAL_PAY, CREDIT}),
    (ISSUED, PAID): frozenset({PAY, CREDIT}),
    (ISSUED, ISSUED): frozenset({REFUND}),
    (PARTIALLY_PAID, PARTIALLY_PAID): frozenset({PARTIAL_PAY, REFUND, CREDIT}),
    (PARTIALLY_PAID, PAID): frozenset({PAY, CREDIT}),
    (PARTIALLY_PAID, ISSUED): frozenset({REFUND}),
    (PAID, PAID): frozenset({PAY, CREDIT, REFUND}),
    (PAID, PARTIALLY_PAID): frozenset({REFUND}),
    (PAID, ISSUED): frozenset({REFUND}),
    (ISSUED, VOID): frozenset({VOIDING}),
    (PARTIALLY_PAID, VOID): frozenset({VOIDING}),  # only once its payments are refunded (check_void)
    (DRAFT, VOID): frozenset({VOIDING}),
    (UNCOLLECTIBLE, VOID): frozenset({VOIDING}),  # nothing received: the write-off becomes a void
    (ISSUED, UNCOLLECTIBLE): frozenset({WRITE_OFF}),
    (PARTIALLY_PAID, UNCOLLECTIBLE): frozenset({WRITE_OFF}),
    (VOID, VOID): frozenset({PAY, PARTIAL_PAY, REFUND, CREDIT}),
    (UNCOLLECTIBLE, UNCOLLECTIBLE): frozenset({PAY, PARTIAL_PAY, REFUND, CREDIT}),
    # the only ways out of a closed state: a write-off reversed on purpose (never by a settled amount)
    (UNCOLLECTIBLE, ISSUED): frozenset({REVERSE_WRITE_OFF}),
    (UNCOLLECTIBLE, PARTIALLY_PAID): frozenset({REVERSE_WRITE_OFF}),
    (UNCOLLECTIBLE, PAID): frozenset({REVERSE_WRITE_OFF}),
}


def allowed(current: str, target: str, reason: str) -> bool:
    """Whether the life cycle lets an invoice move from ``current`` to ``target`` for ``reason``."""
    return reason in TRANSITIONS.get((current, target), frozenset())


def check_transition(current: str, target: str, reason: str) -> None:
    """Refuse (``invalid_state``) a transition the life cycle does not allow."""
    if not allowed(current, target, reason):
        raise InvalidState(f"An invoice cannot go from {current} to {target} ({reason.replace('_', ' ')}).",
                           current=current, target=target, reason=reason)


@dataclass(frozen=True)
class Settlement:
    """The settled part of an invoice: its state, what it received (minor units) and when it was paid in full."""

    status: str
    paid_minor: int
    paid_on: date | None


def settle(status: str, paid_minor: int, payable_minor: int, amount_minor: int, on: date) -> Settlement:
    """The state an invoice reaches when ``amount_minor`` is settled on it on ``on`` (negative: taken back).

    A void or written-off invoice stays closed: what it received changes (a refund takes a payment back,
    a credit note reduces the loss), its state and paid date do not (the returned ``paid_on`` is None:
    unchanged). Otherwise it is paid when it received its payable amount, partially paid when it
    received something, issued (open, nothing received) else.
    """
    paid = paid_minor + amount_minor
    if status in CLOSED:
        return Settlement(status, paid, None)
    if paid >= payable_minor:
        return Settlement(PAID, paid, on)
    if paid > 0:
        return Settlement(PARTIALLY_PAID, paid, None)
    return Settlement(ISSUED, paid, None)


def reopened(status: str, paid_minor: int, payable_minor: int, reason: str, on: date, *, invoice: str) -> Settlement:
    """The state a written-off invoice returns to when its write-off is reversed: what it received decides (issued,
    partially paid, or paid on ``on`` when it received its payable amount since). Refused (``invalid_state``) for an
    invoice that is not written off, and without a reason (``reason_required``)."""
    if not reason or not reason.strip():
        raise ReasonRequired("A reason is required to reverse a write-off.")
    if status != UNCOLLECTIBLE:
        raise InvalidState(f"Only a written-off invoice has a write-off to reverse; {invoice} is {status}.",
                           current=status, target=ISSUED, reason=REVERSE_WRITE_OFF)
    after = settle(ISSUED, paid_minor, payable_minor, 0, on)
    check_transition(status, after.status, REVERSE_WRITE_OFF)
    return after


def settle_reason(after: Settlement, amount_minor: int) -> str:
    """The reason a settlement moved an invoice: refund (taken back), pay or partial pay."""
    if amount_minor < 0:
        return REFUND
    return PAY if after.status == PAID else PARTIAL_PAY


def issued(total_minor: int, prepaid_minor: int, issue_date: date, *, rounding_minor: int = 0) -> Settlement:
    """The state of an invoice just issued with ``prepaid_minor`` deducted (BT-113): paid on its issue date
    when the deduction covers a positive total (nothing left due, rounding included), issued else. Nothing
    is settled yet."""
    if total_minor > 0 and prepaid_minor == total_minor and not rounding_minor:
        return Settlement(PAID, 0, issue_date)
    return Settlement(ISSUED, 0, None)


def check_void(status: str, paid_minor: int, reason: str, *, invoice: str) -> str:
    """Refuse a void the life cycle does not allow; returns the reason, stripped.

    A reason is required (``reason_required``); a void invoice is not voided again
    (``invoice_already_void``); an invoice that received payments is refunded or credited instead
    (``invoice_has_payments``).
    """
    if not reason or not reason.strip():
        raise ReasonRequired("A reason is required to void an invoice.")
    if status == VOID:
        raise InvoiceAlreadyVoid(f"Invoice {invoice} is already void.")
    if status == PAID or paid_minor > 0:
        raise InvoiceHasPayments(
            f"Invoice {invoice} has payments applied; refund them or issue a credit note instead of voiding."
        )
    return reason.strip()


def check_write_off(status: str, reason: str, *, invoice: str, status_label: str) -> str:
    """Refuse a write-off (bad debt) the life cycle does not allow; returns the reason, stripped.

    A reason is required (``reason_required``); only an open invoice is written off (``invalid_state``).
    """
    if not reason or not reason.strip():
        raise ReasonRequired("A reason is required to write an invoice off as uncollectible.")
    if status not in OPEN:
        raise InvalidState(f"Only open invoices can be written off; {invoice} is {status_label}.")
    return reason.strip()
