"""Receivables KPIs of the staff dashboard: balances through time, DSO trend, CEI, average days delinquent.

Every function is pure and takes explicit dates; amounts are Decimal and kept per currency (never added across
currencies). Formulas (``AR`` = open receivables, ``sales`` = credit sales of the period: invoices issued in it,
less credit notes issued in it, ``days`` = the period's length in days):

    DSO  = AR at the period end / sales × days                       (the simple, "period-end" method)
    CEI  = (AR at start + sales − AR at end) / (AR at start + sales − current AR at end) × 100
    ADD  = DSO − best possible DSO = (AR at end − current AR at end) / sales × days

"Current" AR is what is not yet past due at the end of the period (due on that day or later, or without a due
date). A value is None when its denominator is zero (no sales, nothing collectable).
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Hashable, Iterable, Mapping, Sequence

from .aging import dso as _dso
from .money import MONEY_CONTEXT, ZERO, check_currency, to_decimal

__all__ = [
    "BalanceEvent",
    "Period",
    "PeriodFigures",
    "DsoPoint",
    "Ranked",
    "average_days_delinquent",
    "balances_at",
    "cei",
    "dso_trend",
    "last_month",
    "last_quarter",
    "month_periods",
    "top_by_amount",
]

_ONE_DECIMAL = Decimal("0.1")


@dataclass(frozen=True)
class Period:
    """A closed range of days, ``start`` to ``end`` inclusive."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}" if self.start.day == 1 else f"{self.start.isoformat()}–{self.end.isoformat()}"


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _months_back(day: date, n: int) -> date:
    """The first day of the month ``n`` months before ``day``'s month."""
    index = day.year * 12 + day.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def month_periods(as_of: date, count: int = 12) -> list[Period]:
    """The last ``count`` calendar months, oldest first; the month of ``as_of`` ends on ``as_of`` (to date)."""
    periods = []
    for n in range(count - 1, -1, -1):
        start = _months_back(as_of, n)
        periods.append(Period(start, as_of if n == 0 else _month_end(start)))
    return periods


def last_month(as_of: date) -> Period:
    """The last complete calendar month before ``as_of``'s month."""
    start = _months_back(as_of, 1)
    return Period(start, _month_end(start))


def last_quarter(as_of: date) -> Period:
    """The last complete calendar quarter before the quarter of ``as_of``."""
    first_of_quarter = date(as_of.year, (as_of.month - 1) // 3 * 3 + 1, 1)
    start = _months_back(first_of_quarter, 3)
    return Period(start, first_of_quarter - timedelta(days=1))


@dataclass(frozen=True)
class BalanceEvent:
    """A change of the receivables balance on a day: + an invoice issued, − money applied or an invoice closed."""

    day: date
    currency: str
    amount: Decimal

    def __post_init__(self) -> None:
        check_currency(self.currency)
        object.__setattr__(self, "amount", to_decimal(self.amount))


def balances_at(events: Iterable[BalanceEvent], days: Sequence[date]) -> dict[str, dict[date, Decimal]]:
    """The running balance per currency at the end of each of ``days``: the sum of the events on or before it."""
    per_currency: dict[str, list[BalanceEvent]] = {}
    for event in events:
        per_currency.setdefault(event.currency, []).append(event)
    out: dict[str, dict[date, Decimal]] = {}
    for currency in sorted(per_currency):
        ordered = sorted(per_currency[currency], key=lambda e: e.day)
        running, cumulative = ZERO, []
        for event in ordered:
            running += event.amount
            cumulative.append(running)
        dates = [e.day for e in ordered]
        out[currency] = {d: (cumulative[i - 1] if (i := bisect_right(dates, d)) else ZERO) for d in days}
    return out


@dataclass(frozen=True)
class PeriodFigures:
    """What the KPIs of one period need, in one currency."""

    period: Period
    currency: str
    receivables_start: Decimal  # open at the end of the day before the period starts
    credit_sales: Decimal
    receivables_end: Decimal
    current_end: Decimal  # of ``receivables_end``, what is not yet past due at the period's end

    def __post_init__(self) -> None:
        check_currency(self.currency)
        for name in ("receivables_start", "credit_sales", "receivables_end", "current_end"):
            object.__setattr__(self, name, to_decimal(getattr(self, name)))


@dataclass(frozen=True)
class DsoPoint:
    period: Period
    currency: str
    dso: Decimal | None


def dso_trend(figures: Iterable[PeriodFigures]) -> dict[str, list[DsoPoint]]:
    """DSO of each period per currency (periods in the order given): AR at the end / sales × days."""
    out: dict[str, list[DsoPoint]] = {}
    for f in figures:
        value = _dso(f.receivables_end, max(f.credit_sales, ZERO), f.period.days)
        out.setdefault(f.currency, []).append(DsoPoint(f.period, f.currency, value))
    return {cur: out[cur] for cur in sorted(out)}


def _ratio(numerator: Decimal, denominator: Decimal, scale: Decimal | int) -> Decimal | None:
    if denominator <= 0:
        return None
    with localcontext(MONEY_CONTEXT):
        return (numerator / denominator * scale).quantize(_ONE_DECIMAL, rounding=ROUND_HALF_UP)


def cei(f: PeriodFigures) -> Decimal | None:
    """Collection effectiveness index in percent, one decimal (None when nothing was collectable)."""
    collectable = f.receivables_start + f.credit_sales
    return _ratio(collectable - f.receivables_end, collectable - f.current_end, 100)


def average_days_delinquent(f: PeriodFigures) -> Decimal | None:
    """Average days delinquent: DSO less the best possible DSO (overdue AR at the end / sales × days)."""
    return _ratio(f.receivables_end - f.current_end, f.credit_sales, f.period.days)


@dataclass(frozen=True)
class Ranked:
    key: Hashable
    currency: str
    amount: Decimal


def top_by_amount(amounts: Mapping[tuple[Hashable, str], Decimal], limit: int = 10) -> dict[str, list[Ranked]]:
    """The ``limit`` largest positive amounts per currency (ties by key), from ``{(key, currency): amount}``."""
    per_currency: dict[str, list[Ranked]] = {}
    for (key, currency), amount in amounts.items():
        if amount > 0:
            per_currency.setdefault(currency, []).append(Ranked(key, currency, to_decimal(amount)))
    return {cur: sorted(rows, key=lambda r: (-r.amount, str(r.key)))[:limit]
            for cur, rows in sorted(per_currency.items())}
