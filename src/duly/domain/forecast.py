"""The 13-week cash-in forecast and its backtest against the money actually received.

Each open receivable is expected on one day, the first of these that applies:

1. ``expected`` — a mapping invoice id -> expected payment date given by the caller (a risk model's prediction
   plugs in here; without one, the rules below decide);
2. the promised date of the latest promise to pay on the invoice (a promise replaces its due date);
3. the autopay charge date or direct debit collection date (the money is taken then, whatever the due date);
4. the due date (no due date: the issue date).

Its open amount then falls in the week holding that day: week 0 starts on ``as_of`` and each week is 7 days.
A day before ``as_of`` (overdue, promise already broken) counts in ``overdue``, one after the last week in
``later``: neither is spread over the weeks. Currencies are kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Hashable, Iterable, Mapping

from .errors import ValidationError
from .money import MONEY_CONTEXT, ZERO, check_currency, to_decimal

__all__ = ["ExpectedItem", "Forecast", "Backtest", "WeekError", "expected_date", "forecast", "backtest",
           "week_starts", "latest_promises"]

WEEKS = 13


@dataclass(frozen=True)
class ExpectedItem:
    """An open receivable as the forecast sees it."""

    invoice_id: Hashable
    currency: str
    open_amount: Decimal
    issue_date: date
    due_date: date | None = None
    charge_date: date | None = None  # autopay charge or direct debit collection
    promised_date: date | None = None

    def __post_init__(self) -> None:
        check_currency(self.currency)
        object.__setattr__(self, "open_amount", to_decimal(self.open_amount))


def expected_date(item: ExpectedItem, expected: Mapping[Hashable, date] | None = None) -> date:
    """The day ``item`` is expected to be paid (see the module's rules)."""
    if expected is not None and item.invoice_id in expected:
        return expected[item.invoice_id]
    return item.promised_date or item.charge_date or item.due_date or item.issue_date


def week_starts(as_of: date, weeks: int = WEEKS) -> list[date]:
    return [as_of + timedelta(days=7 * k) for k in range(weeks)]


def _week_index(day: date, as_of: date) -> int:
    return (day - as_of).days // 7


@dataclass(frozen=True)
class Forecast:
    """Expected cash-in per currency: ``weeks[currency][k]`` for the week starting ``as_of + 7k``."""

    as_of: date
    weeks: Mapping[str, tuple[Decimal, ...]]
    overdue: Mapping[str, Decimal]
    later: Mapping[str, Decimal]

    @property
    def starts(self) -> list[date]:
        return week_starts(self.as_of, len(next(iter(self.weeks.values()), ())) or WEEKS)


def forecast(items: Iterable[ExpectedItem], as_of: date, *, weeks: int = WEEKS,
             expected: Mapping[Hashable, date] | None = None) -> Forecast:
    """Spread the open amounts of ``items`` over ``weeks`` weeks from ``as_of`` by their expected dates."""
    if not isinstance(weeks, int) or isinstance(weeks, bool) or weeks <= 0:
        raise ValidationError(f"A forecast needs a positive number of weeks, got {weeks!r}.")
    buckets: dict[str, list[Decimal]] = {}
    overdue: dict[str, Decimal] = {}
    later: dict[str, Decimal] = {}
    for item in items:
        cur = item.currency
        row = buckets.setdefault(cur, [ZERO] * weeks)
        overdue.setdefault(cur, ZERO)
        later.setdefault(cur, ZERO)
        k = _week_index(expected_date(item, expected), as_of)
        if k < 0:
            overdue[cur] += item.open_amount
        elif k >= weeks:
            later[cur] += item.open_amount
        else:
            row[k] += item.open_amount
    order = sorted(buckets)
    return Forecast(as_of, {c: tuple(buckets[c]) for c in order}, {c: overdue[c] for c in order},
                    {c: later[c] for c in order})


def latest_promises(promises: Iterable[tuple[Hashable, date, object]]) -> dict[Hashable, date]:
    """From ``(invoice id, promised date, made at)`` rows, the promised date of each invoice's latest promise."""
    latest: dict[Hashable, tuple[object, date]] = {}
    for invoice_id, promised, made in promises:
        if invoice_id not in latest or made > latest[invoice_id][0]:
            latest[invoice_id] = (made, promised)
    return {k: v[1] for k, v in latest.items()}


@dataclass(frozen=True)
class WeekError:
    start: date
    forecast: Decimal
    actual: Decimal

    @property
    def error(self) -> Decimal:
        """Actual less forecast: positive when more came in than expected."""
        return self.actual - self.forecast


@dataclass(frozen=True)
class Backtest:
    """A past forecast against what was received, per currency and week."""

    weeks: Mapping[str, tuple[WeekError, ...]]

    def total_forecast(self, currency: str) -> Decimal:
        return sum((w.forecast for w in self.weeks[currency]), ZERO)

    def total_actual(self, currency: str) -> Decimal:
        return sum((w.actual for w in self.weeks[currency]), ZERO)

    def absolute_error(self, currency: str) -> Decimal:
        """The sum of the weekly errors' absolute values."""
        return sum((abs(w.error) for w in self.weeks[currency]), ZERO)

    def wape(self, currency: str) -> Decimal | None:
        """Weighted absolute percentage error: the absolute error over the total received, in percent."""
        actual = self.total_actual(currency)
        if actual <= 0:
            return None
        with localcontext(MONEY_CONTEXT):
            return (self.absolute_error(currency) / actual * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    def bias(self, currency: str) -> Decimal:
        """Total received less total forecast over the weeks."""
        return self.total_actual(currency) - self.total_forecast(currency)


def backtest(past: Forecast, received: Iterable[tuple[date, str, Decimal]]) -> Backtest:
    """Compare ``past`` with the money received ``(day, currency, amount)`` in each of its weeks.

    Money received before ``past.as_of`` or after its last week is left out; a currency only received (never
    forecast) gets forecasts of zero.
    """
    n = len(next(iter(past.weeks.values()), ())) or WEEKS
    actual: dict[str, list[Decimal]] = {c: [ZERO] * n for c in past.weeks}
    for day, currency, amount in received:
        k = _week_index(day, past.as_of)
        if 0 <= k < n:
            actual.setdefault(currency, [ZERO] * n)[k] += to_decimal(amount)
    starts = week_starts(past.as_of, n)
    out = {}
    for cur in sorted(actual):
        planned = past.weeks.get(cur, (ZERO,) * n)
        out[cur] = tuple(WeekError(starts[k], planned[k], actual[cur][k]) for k in range(n))
    return Backtest(out)
