"""Usage aggregation: from metered events (or daily licence snapshots) to the quantity that is priced.

Events
    A :class:`UsageEvent` carries an idempotency ``key``, a timezone-aware ``timestamp``, the
    ``metric`` it measures, a non-negative Decimal ``value`` and free-form ``properties``. Events
    repeated with the same key (a retried delivery) count once; two *different* events with one
    key are refused (:class:`~duly.domain.errors.DuplicateUsageEvent`). One call aggregates one
    metric: mixing metrics is refused.

Aggregations, over the half-open window ``[period_start, period_end)``
    Each is a class of :mod:`duly.domain.aggregations`, their registry (which says how to add one).

    ``sum``                     sum of the values.
    ``count``                   number of events.
    ``max``                     largest value (0 without events).
    ``unique_count``            distinct values of ``properties[unique_property]`` (events without
                                that property are ignored), or of the values without one.
    ``last``                    value of the latest event (ties on the timestamp: the greatest key);
                                ``initial`` (or 0) without events in the window.
    ``time_weighted_average``   for levels such as seats: each value holds from its timestamp until
                                the next event; the level before the first event is ``initial``
                                (0 if not given). Events before the window set the level it opens
                                with; events at or after its end are ignored. The result is
                                ``∫ level dt / window length`` in elapsed time (a local window
                                across a daylight-saving change is an hour shorter or longer),
                                at microsecond resolution.

Licence snapshots
    :func:`average_daily_count` averages one count per day. A day without a snapshot carries the
    previous day's count (the latest earlier snapshot, even before the period); days before the
    first snapshot count 0.

Results are exact Decimals (divisions at the 50-digit :data:`~duly.domain.money.MONEY_CONTEXT`);
the price model rounds the money, once. :func:`usage_summary` writes the English line shown on an
invoice: ``average 41.3 active seats, 1–31 March 2026``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from . import aggregations
from .errors import DuplicateUsageEvent, InvalidUsageValue, ValidationError
from .money import MONEY_CONTEXT, ZERO, to_decimal
from .schedules import Period
from .text import DateSpan, Number, Text, text

__all__ = [
    "AGGREGATIONS",
    "SUMMARY_KINDS",
    "UsageEvent",
    "aggregate",
    "average_daily_count",
    "format_days",
    "format_period",
    "period_span",
    "usage_summary",
    "usage_summary_text",
]

#: The aggregation codes, in the order of :data:`duly.domain.aggregations.AGGREGATIONS` (their registry).
AGGREGATIONS = tuple(aggregations.AGGREGATIONS)
#: Kinds :func:`usage_summary` describes: the aggregations plus ``average_daily`` (licence snapshots).
SUMMARY_KINDS = tuple(aggregations.SUMMARIES)

_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


def _usage_value(value: Any, what: str) -> Decimal:
    if isinstance(value, float):
        raise InvalidUsageValue(f"{what} must be a Decimal, an integer or a numeric string, never a float.")
    try:
        result = to_decimal(value)
    except ValidationError as exc:
        raise InvalidUsageValue(f"{what}: {exc.message}", value=repr(value)) from None
    if result < 0:
        raise InvalidUsageValue(f"{what} cannot be negative (got {result}).", value=str(result))
    return result


def _aware(value: Any, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError(f"{what} must be a datetime, got {value!r}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{what} must be timezone-aware ({value.isoformat()} has no offset).")
    return value


@dataclass(frozen=True)
class UsageEvent:
    """One metered event. ``properties`` is copied into a read-only mapping."""

    key: str
    timestamp: datetime
    metric: str
    value: Decimal
    properties: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValidationError("A usage event needs a non-empty idempotency key.")
        if not isinstance(self.metric, str) or not self.metric:
            raise ValidationError(f"Usage event {self.key!r} needs a metric code.")
        timestamp, value, properties = self.timestamp, self.value, self.properties
        # The checks below build their message only when one fails (a run reads thousands of events).
        if not (isinstance(timestamp, datetime) and timestamp.tzinfo is not None
                and timestamp.utcoffset() is not None):
            _aware(timestamp, f"The timestamp of usage event {self.key!r}")
        if not (type(value) is Decimal and value.is_finite() and value >= 0):  # else checked and converted
            object.__setattr__(self, "value", _usage_value(value, f"The value of usage event {self.key!r}"))
        if type(properties) is dict and not properties:
            object.__setattr__(self, "properties", _NO_PROPERTIES)
            return
        if not isinstance(properties, Mapping):
            raise ValidationError(f"The properties of usage event {self.key!r} must be a mapping.")
        object.__setattr__(self, "properties", MappingProxyType(dict(properties)))


#: The read-only properties of every event that has none.
_NO_PROPERTIES: Mapping[str, Any] = MappingProxyType({})


def _distinct_events(events: Iterable[UsageEvent]) -> list[UsageEvent]:
    seen: dict[str, UsageEvent] = {}
    for event in events:
        if not isinstance(event, UsageEvent):
            raise ValidationError(f"Expected usage events, got {type(event).__name__}.")
        known = seen.get(event.key)
        if known is None:
            seen[event.key] = event
        elif known != event:
            raise DuplicateUsageEvent(
                f"Two different usage events share the idempotency key {event.key!r}.", key=event.key)
    metrics = sorted({e.metric for e in seen.values()})
    if len(metrics) > 1:
        raise ValidationError(f"Aggregate one metric at a time; got events for {', '.join(metrics)}.")
    return list(seen.values())


def aggregate(kind: str, events: Iterable[UsageEvent], period_start: datetime, period_end: datetime, *,
              unique_property: str | None = None, initial: Decimal | None = None) -> Decimal:
    """Aggregate one metric's ``events`` over ``[period_start, period_end)`` (see the module notes).

    The rules of each aggregation live in its class in :mod:`duly.domain.aggregations`.
    """
    aggregation = aggregations.aggregation(kind)
    _aware(period_start, "The period start")
    _aware(period_end, "The period end")
    if period_end <= period_start:
        raise ValidationError("The usage period must end after it starts.")
    if unique_property is not None and not aggregation.uses_property:
        raise ValidationError(f"unique_property only applies to {aggregations.names(uses_property=True)}, "
                              f"not {kind}.")
    if initial is not None and not aggregation.takes_initial:
        raise ValidationError(f"initial only applies to {aggregations.names(takes_initial=True)}, not {kind}.")
    level = ZERO if initial is None else _usage_value(initial, "The initial value")
    distinct = _distinct_events(events)
    if not aggregation.reads_before_window:
        distinct = [e for e in distinct if period_start <= e.timestamp < period_end]
    return aggregation.compute(distinct, period_start, period_end, level=level, unique_property=unique_property)


def average_daily_count(snapshots: Mapping[date, int], period: Period) -> Decimal:
    """Average of one count per day of ``period``; a missing day carries the previous day's count.

    The count entering the period is the latest snapshot before it (0 if there is none).
    """
    level = 0
    latest_before: date | None = None
    for day, count in snapshots.items():
        if isinstance(day, datetime) or not isinstance(day, date):
            raise ValidationError(f"Licence snapshots are keyed by date, got {day!r}.")
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidUsageValue(f"The licence count on {day.isoformat()} must be a whole number, got {count!r}.")
        if count < 0:
            raise InvalidUsageValue(f"The licence count on {day.isoformat()} cannot be negative (got {count}).")
        if day < period.start and (latest_before is None or day > latest_before):
            latest_before = day
    if latest_before is not None:
        level = snapshots[latest_before]
    total = 0
    day = period.start
    while day < period.end:
        level = snapshots.get(day, level)
        total += level
        day += timedelta(days=1)
    with localcontext(MONEY_CONTEXT):
        return Decimal(total) / period.days


@lru_cache(maxsize=4096)
def format_period(period: Period) -> str:
    """English, locale-free dates of a period, last day inclusive: ``1–31 March 2026``."""
    return format_days(period.start, period.last_day)


@lru_cache(maxsize=4096)
def format_days(first: date, last: date) -> str:
    """English, locale-free dates from ``first`` to ``last`` inclusive: ``1–31 March 2026``."""
    if first == last:
        return f"{first.day} {_MONTH_NAMES[first.month - 1]} {first.year}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {_MONTH_NAMES[last.month - 1]} {last.year}"
    if first.year == last.year:
        return f"{first.day} {_MONTH_NAMES[first.month - 1]} – {last.day} {_MONTH_NAMES[last.month - 1]} {last.year}"
    return (f"{first.day} {_MONTH_NAMES[first.month - 1]} {first.year} – "
            f"{last.day} {_MONTH_NAMES[last.month - 1]} {last.year}")


def period_span(period: Period) -> DateSpan:
    """A period's days (last day inclusive) as a value of structured text."""
    return DateSpan(period.start, period.last_day)


def usage_summary(kind: str, value: Decimal, metric_label: str, period: Period) -> str:
    """One English line for an invoice, independent of the process locale.

    Averages (``time_weighted_average``, ``average_daily``) show one decimal, rounded half up:
    ``average 41.3 active seats, 1–31 March 2026``; other kinds show the value as it is:
    ``total 1250 API calls, 1–31 March 2026``.
    """
    words = aggregations.summary(kind)
    amount = to_decimal(value)
    if words.averaged:
        text = format(amount.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP, context=MONEY_CONTEXT), "f")
    else:
        text = format(amount, "f")
    return f"{words.phrase(text, metric_label)}, {format_period(period)}"


def usage_summary_text(kind: str, value: Decimal, metric_label: str | Text, period: Period) -> Text:
    """:func:`usage_summary` as structured text (its ``str()`` is that English line), for the customer's language.
    The metric's name is the catalog's own (not translated); Duly's own labels come as :class:`Text`."""
    words = aggregations.summary(kind)
    amount = to_decimal(value)
    if words.averaged:
        amount = amount.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP, context=MONEY_CONTEXT)
    quantity, span = Number(amount), period_span(period)
    if kind == "sum":
        return text("total {quantity} {metric}, {period}", quantity=quantity, metric=metric_label, period=span)
    if kind == "count":
        return text("{quantity} {metric}, {period}", quantity=quantity, metric=metric_label, period=span,
                    context="usage count")
    if kind == "max":
        return text("peak {quantity} {metric}, {period}", quantity=quantity, metric=metric_label, period=span)
    if kind == "unique_count":
        return text("{quantity} unique {metric}, {period}", quantity=quantity, metric=metric_label, period=span)
    if kind == "last":
        return text("latest {quantity} {metric}, {period}", quantity=quantity, metric=metric_label, period=span)
    if kind in ("time_weighted_average", "average_daily"):
        return text("average {quantity} {metric}, {period}", quantity=quantity, metric=metric_label, period=span)
    # A summary registered without words of its own here: its English phrase, and the period in the locale.
    phrase = words.phrase(str(quantity), str(metric_label))
    return Text("{phrase}, {period}", (("phrase", phrase), ("period", span)))
