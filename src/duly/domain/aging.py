"""Receivables aging, days sales outstanding and average days late.

Aging buckets by days past due on ``as_of`` (``as_of - due_date``):

    ``current``  not yet due (0 days or fewer past due), or no due date
    ``1-30``, ``31-60``, ``61-90``
    ``90+``      more than 90 days past due

Totals are always kept per currency: amounts in different currencies are never added together.
Credit notes and other negative open amounts reduce the bucket they fall in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from types import MappingProxyType
from typing import Hashable, Iterable, Mapping, Sequence

from .errors import ValidationError
from .money import MONEY_CONTEXT, ZERO, check_currency, to_decimal

__all__ = [
    "BUCKETS",
    "AgingReport",
    "BucketTotals",
    "DaysLate",
    "OpenInvoice",
    "age_buckets",
    "average_days_late",
    "bucket_for",
    "days_past_due",
    "dso",
]

BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice with an open amount, as seen by the aging report."""

    customer_id: Hashable
    invoice_id: Hashable
    number: str
    currency: str
    issue_date: date
    due_date: date | None
    total: Decimal
    open_amount: Decimal

    def __post_init__(self) -> None:
        check_currency(self.currency)
        object.__setattr__(self, "total", to_decimal(self.total))
        object.__setattr__(self, "open_amount", to_decimal(self.open_amount))


def days_past_due(due_date: date | None, as_of: date) -> int:
    """Days between the due date and ``as_of``; 0 or less when not yet due, 0 without a due date."""
    return 0 if due_date is None else (as_of - due_date).days


def bucket_for(days: int) -> str:
    """Aging bucket for a number of days past due."""
    if days <= 0:
        return "current"
    if days <= 30:
        return "1-30"
    if days <= 60:
        return "31-60"
    if days <= 90:
        return "61-90"
    return "90+"


@dataclass(frozen=True)
class BucketTotals:
    """Open amounts and invoice counts per bucket, in one currency. Every bucket is present."""

    currency: str
    amounts: Mapping[str, Decimal]
    counts: Mapping[str, int]

    @property
    def total(self) -> Decimal:
        return sum(self.amounts.values(), ZERO)

    @property
    def overdue(self) -> Decimal:
        return self.total - self.amounts["current"]

    @property
    def count(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class AgingReport:
    """Aging as of ``as_of``: per customer then per currency, and overall per currency.

    Currencies are in alphabetical order; customers in order of first appearance.
    """

    as_of: date
    by_customer: Mapping[Hashable, Mapping[str, BucketTotals]]
    overall: Mapping[str, BucketTotals]

    def customer(self, customer_id: Hashable) -> Mapping[str, BucketTotals]:
        """Totals of one customer per currency (empty when the customer has nothing open)."""
        return self.by_customer.get(customer_id, MappingProxyType({}))


class _Accumulator:
    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.amounts = {b: ZERO for b in BUCKETS}
        self.counts = {b: 0 for b in BUCKETS}

    def add(self, bucket: str, amount: Decimal) -> None:
        self.amounts[bucket] += amount
        self.counts[bucket] += 1

    def freeze(self) -> BucketTotals:
        return BucketTotals(self.currency, MappingProxyType(dict(self.amounts)), MappingProxyType(dict(self.counts)))


def _freeze(accs: dict[str, _Accumulator]) -> Mapping[str, BucketTotals]:
    return MappingProxyType({cur: accs[cur].freeze() for cur in sorted(accs)})


def age_buckets(items: Iterable[OpenInvoice], as_of: date) -> AgingReport:
    """Bucket the open amounts of ``items`` by days past due on ``as_of``.

    Items with a zero open amount are left out (they are neither amounts nor counts).
    """
    overall: dict[str, _Accumulator] = {}
    per_customer: dict[Hashable, dict[str, _Accumulator]] = {}
    for item in items:
        if item.open_amount == 0:
            continue
        bucket = bucket_for(days_past_due(item.due_date, as_of))
        for accs in (overall, per_customer.setdefault(item.customer_id, {})):
            accs.setdefault(item.currency, _Accumulator(item.currency)).add(bucket, item.open_amount)
    return AgingReport(
        as_of=as_of,
        by_customer=MappingProxyType({cid: _freeze(accs) for cid, accs in per_customer.items()}),
        overall=_freeze(overall),
    )


def _check_places(places: int) -> Decimal:
    if not isinstance(places, int) or isinstance(places, bool) or places < 0:
        raise ValidationError(f"places must be a whole number 0 or more, got {places!r}.")
    return Decimal(1).scaleb(-places)


def dso(
    receivables_end: Decimal | int | str,
    credit_sales: Decimal | int | str,
    days: int,
    *,
    places: int = 1,
) -> Decimal | None:
    """Days sales outstanding: ``receivables_end / credit_sales × days``, rounded half up to ``places``.

    ``receivables_end`` is the open receivables at the end of the period, ``credit_sales`` the credit
    sales of the period (same currency) and ``days`` its length. Returns None when there were no sales.
    """
    receivables = to_decimal(receivables_end)
    sales = to_decimal(credit_sales)
    if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
        raise ValidationError(f"The DSO period must be a positive number of days, got {days!r}.")
    if sales < 0:
        raise ValidationError(f"Credit sales cannot be negative ({sales}).")
    if sales == 0:
        return None
    with localcontext(MONEY_CONTEXT):
        return (receivables / sales * days).quantize(_check_places(places), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class DaysLate:
    """Average days late: ``simple`` (per invoice) and ``weighted`` (by amount); None without data."""

    simple: Decimal | None
    weighted: Decimal | None
    count: int


def average_days_late(
    paid_items: Sequence[tuple[date, date, Decimal | int | str]],
    *,
    early_as_zero: bool = True,
    places: int = 1,
) -> DaysLate:
    """Average days late of paid invoices given as ``(due_date, paid_date, amount)``.

    Days late = ``paid_date - due_date``. Early payments count as 0 days late unless
    ``early_as_zero=False`` (then they count negative). ``weighted`` weights each invoice by its
    amount (amounts must be in one currency and not negative; None when they sum to 0).
    Results are rounded half up to ``places`` decimals.
    """
    quantum = _check_places(places)
    if not paid_items:
        return DaysLate(None, None, 0)
    total_days = 0
    weighted_sum = ZERO
    total_amount = ZERO
    for due, paid, raw_amount in paid_items:
        amount = to_decimal(raw_amount)
        if amount < 0:
            raise ValidationError(f"Paid amounts cannot be negative ({amount}).")
        late = (paid - due).days
        if early_as_zero:
            late = max(0, late)
        total_days += late
        weighted_sum += amount * late
        total_amount += amount
    with localcontext(MONEY_CONTEXT):
        simple = (Decimal(total_days) / len(paid_items)).quantize(quantum, rounding=ROUND_HALF_UP)
        weighted = (
            (weighted_sum / total_amount).quantize(quantum, rounding=ROUND_HALF_UP) if total_amount else None
        )
    return DaysLate(simple, weighted, len(paid_items))
