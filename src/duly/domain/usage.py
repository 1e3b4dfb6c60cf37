"""Usage aggregation: from metered events (or daily licence snapshots) to the quantity that is priced.

Events
    A :class:`UsageEvent` carries an idempotency ``key``, a timezone-aware ``timestamp``, the
    ``metric`` it measures, a non-negative Decimal ``value`` and free-form ``properties``. Events
    repeated with the same key (a retried delivery) count once; two *different* events with one
    key are refused (:class:`~duly.domain.errors.DuplicateUsageEvent`). One call aggregates one
    metric: mixing metrics is refused.

Aggregations, over the half-open window ``[period_start, period_end)``
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
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Hashable, Iterable, Mapping

from .errors import DuplicateUsageEvent, InvalidUsageValue, UnknownAggregation, ValidationError
from .money import MONEY_CONTEXT, ZERO, to_decimal
from .schedules import Period

__all__ = [
    "AGGREGATIONS",
    "SUMMARY_KINDS",
    "UsageEvent",
    "aggregate",
    "average_daily_count",
    "format_period",
    "usage_summary",
]

AGGREGATIONS = ("sum", "count", "max", "unique_count", "last", "time_weighted_average")
#: Kinds :func:`usage_summary` describes: the aggregations plus ``average_daily`` (licence snapshots).
SUMMARY_KINDS = (*AGGREGATIONS, "average_daily")

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


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


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


def _unique_marker(event: UsageEvent, unique_property: str | None) -> Hashable | None:
    if unique_property is None:
        return event.value
    if unique_property not in event.properties:
        return None
    marker = event.properties[unique_property]
    try:
        hash(marker)
    except TypeError:
        raise InvalidUsageValue(
            f"Property {unique_property!r} of usage event {event.key!r} cannot be counted as a unique value "
            f"({type(marker).__name__}).") from None
    return ("property", marker)


def aggregate(kind: str, events: Iterable[UsageEvent], period_start: datetime, period_end: datetime, *,
              unique_property: str | None = None, initial: Decimal | None = None) -> Decimal:
    """Aggregate one metric's ``events`` over ``[period_start, period_end)`` (see the module notes)."""
    if kind not in AGGREGATIONS:
        raise UnknownAggregation(
            f"Unknown aggregation {kind!r}: use one of {', '.join(AGGREGATIONS)}.", aggregation=str(kind))
    _aware(period_start, "The period start")
    _aware(period_end, "The period end")
    if period_end <= period_start:
        raise ValidationError("The usage period must end after it starts.")
    if unique_property is not None and kind != "unique_count":
        raise ValidationError(f"unique_property only applies to unique_count, not {kind}.")
    if initial is not None and kind not in ("last", "time_weighted_average"):
        raise ValidationError(f"initial only applies to last and time_weighted_average, not {kind}.")
    level = ZERO if initial is None else _usage_value(initial, "The initial value")
    distinct = _distinct_events(events)
    if kind == "time_weighted_average":
        return _time_weighted_average(distinct, period_start, period_end, level)
    inside = [e for e in distinct if period_start <= e.timestamp < period_end]
    if kind == "sum":
        with localcontext(MONEY_CONTEXT):
            return sum((e.value for e in inside), ZERO)
    if kind == "count":
        return Decimal(len(inside))
    if kind == "max":
        return max((e.value for e in inside), default=ZERO)
    if kind == "unique_count":
        markers = {_unique_marker(e, unique_property) for e in inside}
        markers.discard(None)
        return Decimal(len(markers))
    latest = max(inside, key=lambda e: (e.timestamp, e.key), default=None)
    return level if latest is None else latest.value


def _time_weighted_average(events: list[UsageEvent], start: datetime, end: datetime, level: Decimal) -> Decimal:
    # In UTC: Python subtracts two datetimes of one zone as wall-clock times, so a local window across a
    # daylight-saving change (1 March to 1 April in Paris: 743 hours) would otherwise count 744.
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    cursor = start
    total = ZERO  # Σ level × microseconds held
    with localcontext(MONEY_CONTEXT):
        for event in sorted(events, key=lambda e: (e.timestamp, e.key)):
            if event.timestamp >= end:
                break
            if event.timestamp > cursor:
                total += level * _micros(event.timestamp - cursor)
                cursor = event.timestamp
            level = event.value
        total += level * _micros(end - cursor)
        return total / _micros(end - start)


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
    first, last = period.start, period.last_day
    if first == last:
        return f"{first.day} {_MONTH_NAMES[first.month - 1]} {first.year}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {_MONTH_NAMES[last.month - 1]} {last.year}"
    if first.year == last.year:
        return f"{first.day} {_MONTH_NAMES[first.month - 1]} – {last.day} {_MONTH_NAMES[last.month - 1]} {last.year}"
    return (f"{first.day} {_MONTH_NAMES[first.month - 1]} {first.year} – "
            f"{last.day} {_MONTH_NAMES[last.month - 1]} {last.year}")


def usage_summary(kind: str, value: Decimal, metric_label: str, period: Period) -> str:
    """One English line for an invoice, independent of the process locale.

    Averages (``time_weighted_average``, ``average_daily``) show one decimal, rounded half up:
    ``average 41.3 active seats, 1–31 March 2026``; other kinds show the value as it is:
    ``total 1250 API calls, 1–31 March 2026``.
    """
    if kind not in SUMMARY_KINDS:
        raise UnknownAggregation(f"Unknown aggregation {kind!r}: use one of {', '.join(SUMMARY_KINDS)}.",
                                 aggregation=str(kind))
    amount = to_decimal(value)
    if kind in ("time_weighted_average", "average_daily"):
        text = format(amount.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP, context=MONEY_CONTEXT), "f")
    else:
        text = format(amount, "f")
    phrase = {
        "sum": f"total {text} {metric_label}",
        "count": f"{text} {metric_label}",
        "max": f"peak {text} {metric_label}",
        "unique_count": f"{text} unique {metric_label}",
        "last": f"latest {text} {metric_label}",
    }.get(kind, f"average {text} {metric_label}")
    return f"{phrase}, {format_period(period)}"
