"""Payment allocation: which open invoices a payment settles, and what is left as customer credit.

Order of application
    1. Explicit allocations (``invoice id → amount``, e.g. from a remittance advice) are
       honoured first, in the order given. Each must be positive, fit the currency's minor
       unit and not exceed that invoice's open balance
       (:class:`~duly.domain.errors.AllocationExceedsBalance`); together they must not exceed
       the payment (:class:`~duly.domain.errors.Overpayment`).
    2. The rest of the payment goes to the open balances still unpaid, oldest due date first,
       then oldest issue date, then lowest invoice id. This includes what an explicit
       allocation left open on its invoice: money is never parked as credit while an invoice
       of the customer is still open.
    3. Any remainder is ``unapplied``: it becomes customer credit when the customer may hold
       credit (``allow_credit``), otherwise the payment is refused with
       :class:`~duly.domain.errors.Overpayment`.

The result has one :class:`Allocation` per invoice (explicit ones first, in the order given,
then the others in application order), every amount positive, and
``sum(allocations) + unapplied == amount`` exactly.

Every open item must be in the payment's currency
(:class:`~duly.domain.errors.CurrencyMismatch`): amounts are never converted silently.
Items with a zero or negative balance (settled, or over-credited) cannot receive money and
are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Mapping, Sequence

from .errors import AllocationExceedsBalance, CurrencyMismatch, Overpayment, ValidationError
from .money import ZERO, check_currency, exponent, quantum, round_money, to_decimal


@dataclass(frozen=True)
class OpenBalance:
    """An invoice that can receive money, as of the moment of allocation."""

    invoice_id: int
    currency: str
    due_date: date
    issue_date: date
    balance: Decimal


@dataclass(frozen=True)
class Allocation:
    invoice_id: int
    amount: Decimal


@dataclass(frozen=True)
class AllocationResult:
    allocations: tuple[Allocation, ...]
    #: What the payment leaves over: customer credit.
    unapplied: Decimal


def allocate_payment(
    amount: Decimal,
    currency: str,
    open_items: Sequence[OpenBalance],
    explicit: Mapping[int, Decimal] | None = None,
    allow_credit: bool = True,
) -> AllocationResult:
    """Allocate a payment of ``amount`` to ``open_items`` (see the module notes for the rules)."""
    check_currency(currency)
    payment = _amount(amount, currency, "payment")
    if payment <= 0:
        raise ValidationError(f"A payment amount must be positive (got {_fmt(payment, currency)}).")

    balances: dict[int, Decimal] = {}
    for item in open_items:
        if item.currency != currency:
            raise CurrencyMismatch(
                f"Invoice {item.invoice_id} is in {item.currency}; a payment in {currency} cannot be applied "
                "to it (no silent conversion).",
                invoice_id=item.invoice_id, expected=item.currency, got=currency,
            )
        if item.invoice_id in balances:
            raise ValidationError(f"Invoice {item.invoice_id} is listed twice among the open items.",
                                  invoice_id=item.invoice_id)
        balance = _amount(item.balance, currency, f"invoice {item.invoice_id}: balance")
        balances[item.invoice_id] = max(balance, _zero(currency))
    open_total = sum(balances.values(), _zero(currency))

    applied: dict[int, Decimal] = {}
    for invoice_id, requested in (explicit or {}).items():
        if invoice_id not in balances:
            raise ValidationError(
                f"Invoice {invoice_id} is not among the customer's open invoices in {currency}.",
                invoice_id=invoice_id,
            )
        value = _amount(requested, currency, f"allocation to invoice {invoice_id}")
        if value <= 0:
            raise ValidationError(
                f"The allocation to invoice {invoice_id} must be positive (got {_fmt(value, currency)}).",
                invoice_id=invoice_id,
            )
        if value > balances[invoice_id]:
            raise AllocationExceedsBalance(
                f"The allocation of {_fmt(value, currency)} to invoice {invoice_id} exceeds its open balance "
                f"of {_fmt(balances[invoice_id], currency)}.",
                invoice_id=invoice_id,
            )
        applied[invoice_id] = value
    explicit_total = sum(applied.values(), _zero(currency))
    if explicit_total > payment:
        raise Overpayment(
            f"The explicit allocations total {_fmt(explicit_total, currency)} but the payment is only "
            f"{_fmt(payment, currency)}.",
        )

    left = payment - explicit_total
    fifo = sorted(open_items, key=lambda item: (item.due_date, item.issue_date, item.invoice_id))
    for item in fifo:
        if left <= 0:
            break
        room = balances[item.invoice_id] - applied.get(item.invoice_id, ZERO)
        if room <= 0:
            continue
        take = min(room, left)
        applied[item.invoice_id] = applied.get(item.invoice_id, _zero(currency)) + take
        left -= take

    if left > 0 and not allow_credit:
        raise Overpayment(
            f"The payment of {_fmt(payment, currency)} exceeds the open balance {_fmt(open_total, currency)} "
            "and the customer has no credit policy.",
            amount=str(payment), open_balance=str(open_total), currency=currency,
        )
    return AllocationResult(
        allocations=tuple(Allocation(invoice_id=i, amount=a) for i, a in applied.items()),
        unapplied=left,
    )


def apply_credit(credit: Decimal, invoice_balance: Decimal) -> Decimal:
    """How much of a customer's ``credit`` to apply to an invoice: all of it, up to the balance.

    Both amounts are in the invoice's currency and must not be negative.
    """
    available = to_decimal(credit)
    balance = to_decimal(invoice_balance)
    if available < 0:
        raise ValidationError(f"A customer credit cannot be negative (got {available}).")
    if balance < 0:
        raise ValidationError(f"An invoice balance to settle cannot be negative (got {balance}).")
    return min(available, balance)


def _amount(value: object, currency: str, what: str) -> Decimal:
    """A monetary input, which must fit the currency's minor unit; never rounded silently."""
    try:
        amount = to_decimal(value)
    except ValidationError as err:
        raise ValidationError(f"{what}: {err.message}") from None
    rounded = round_money(amount, currency)
    if rounded != amount:
        raise ValidationError(
            f"{what}: {amount} has more decimals than {currency} allows ({exponent(currency)}).", currency=currency
        )
    return abs(rounded) if rounded == 0 else rounded


def _zero(currency: str) -> Decimal:
    return ZERO.quantize(quantum(currency))


def _fmt(amount: Decimal, currency: str) -> str:
    return f"{amount:.{exponent(currency)}f} {currency}"
