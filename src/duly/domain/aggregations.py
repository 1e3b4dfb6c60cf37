"""Usage aggregations: one small class per way of turning a window's events into a quantity, by code.

Each aggregation owns everything Duly asks of it, so no other module tests an aggregation's name:

``compute``               the quantity of a window from its events (see :mod:`duly.domain.usage` for
                          the rules of each, and :func:`duly.domain.usage.aggregate`, which validates
                          the input and calls it).
``reads_before_window``   whether events before the window matter: they set the level it opens with
                          (``time_weighted_average``). The others only see the events inside the window,
                          so a loader may fetch the window alone.
``uses_property``         whether the aggregation counts an event property (``unique_count``:
                          ``unique_property``, a metric's ``property_name``).
``takes_initial``         whether a level before any event (``initial``) applies (``last``,
                          ``time_weighted_average``).
``averaged``              whether the invoice summary shows the quantity as an average, one decimal
                          rounded half up (``average 41.3 active seats``).
``phrase``                the summary's words before the period: ``total 1250 API calls``.

:data:`SUMMARIES` also holds ``average_daily`` (daily licence counts averaged by
:func:`duly.domain.usage.average_daily_count`): a summary without events, so no aggregation of a metric.

Adding an aggregation
    1. In this module, write a class subclassing :class:`Aggregation` that sets ``code`` and every flag of
       :data:`REQUIRED_PARTS` and defines ``compute`` and ``phrase``; decorate it with ``@register``. A
       class missing a part is refused when the module is imported, so nothing can forget one.
    2. Add its vectors (a computed window and a summary line) to ``tests/domain/test_pricing_registry.py``:
       the registry test fails until every registered aggregation has them.
    Metrics (``billing.services.create_metric``), the admin's choices and the billing run read this
    registry: nothing else changes.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from datetime import datetime, timedelta, timezone
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, ClassVar, Hashable, Sequence

from .errors import InvalidUsageValue, UnknownAggregation
from .money import MONEY_CONTEXT, ZERO

if TYPE_CHECKING:  # pragma: no cover
    from .usage import UsageEvent

__all__ = [
    "AGGREGATIONS",
    "Aggregation",
    "REQUIRED_PARTS",
    "SUMMARIES",
    "Summary",
    "aggregation",
    "names",
    "register",
    "register_summary",
    "summary",
]


class Summary(ABC):
    """How an invoice line words a usage quantity (every aggregation is one; so is ``average_daily``)."""

    code: ClassVar[str]
    #: Shown as an average: one decimal, rounded half up.
    averaged: ClassVar[bool]

    @abstractmethod
    def phrase(self, text: str, label: str) -> str:
        """The words before the period, ``text`` being the quantity as shown: ``total 1250 API calls``."""


class Aggregation(Summary):
    """An aggregation of one metric's events over a half-open window ``[start, end)``."""

    #: Events before the window set the level it opens with (the others see only the window's events).
    reads_before_window: ClassVar[bool]
    #: Counts the distinct values of an event property (``unique_property``).
    uses_property: ClassVar[bool]
    #: A level before any event (``initial``) applies.
    takes_initial: ClassVar[bool]

    @abstractmethod
    def compute(self, events: Sequence[UsageEvent], start: datetime, end: datetime, *, level: Decimal,
                unique_property: str | None) -> Decimal:
        """The quantity of the window.

        ``events`` are distinct and of one metric: all of them when :attr:`reads_before_window`, else only
        those inside the window. ``level`` is the validated ``initial`` (0 without one).
        """


#: The parts every summary class, and every aggregation class, defines itself.
SUMMARY_PARTS = ("code", "averaged", "phrase")
REQUIRED_PARTS = (*SUMMARY_PARTS, "reads_before_window", "uses_property", "takes_initial", "compute")

#: Every aggregation by code, in the order they are defined.
AGGREGATIONS: dict[str, Aggregation] = {}
#: Every kind an invoice summary words by code: the aggregations, then ``average_daily``.
SUMMARIES: dict[str, Summary] = {}


def _check(cls: type, base: type, parts: Sequence[str]) -> str:
    if not isinstance(cls, type) or not issubclass(cls, base):
        raise TypeError(f"{cls!r} is not a subclass of duly.domain.aggregations.{base.__name__}.")
    code = cls.__dict__.get("code")
    missing = [part for part in parts if part not in cls.__dict__]
    if missing or inspect.isabstract(cls) or not isinstance(code, str) or not code:
        missing = missing or sorted(getattr(cls, "__abstractmethods__", ())) or ["code"]
        raise TypeError(f"{base.__name__} {cls.__name__} does not define {', '.join(missing)}; "
                        f"every one defines {', '.join(parts)}.")
    if code in SUMMARIES and type(SUMMARIES[code]) is not cls:
        raise TypeError(f"Aggregation code {code!r} is already registered by {type(SUMMARIES[code]).__name__}.")
    return code


def register(cls: type[Aggregation]) -> type[Aggregation]:
    """Class decorator: add an aggregation (and its summary) under its ``code``; refuses one missing a part."""
    code = _check(cls, Aggregation, REQUIRED_PARTS)
    AGGREGATIONS[code] = SUMMARIES[code] = cls()
    return cls


def register_summary(cls: type[Summary]) -> type[Summary]:
    """Class decorator: add a summary that is not an aggregation of events (``average_daily``)."""
    code = _check(cls, Summary, SUMMARY_PARTS)
    SUMMARIES[code] = cls()
    return cls


def aggregation(code: str) -> Aggregation:
    """The aggregation registered under ``code``, or :class:`~duly.domain.errors.UnknownAggregation`."""
    found = AGGREGATIONS.get(code) if isinstance(code, str) else None
    if found is None:
        raise UnknownAggregation(
            f"Unknown aggregation {code!r}: use one of {', '.join(AGGREGATIONS)}.", aggregation=str(code))
    return found


def summary(code: str) -> Summary:
    """The summary wording registered under ``code``, or :class:`~duly.domain.errors.UnknownAggregation`."""
    found = SUMMARIES.get(code) if isinstance(code, str) else None
    if found is None:
        raise UnknownAggregation(
            f"Unknown aggregation {code!r}: use one of {', '.join(SUMMARIES)}.", aggregation=str(code))
    return found


def names(*, uses_property: bool | None = None, takes_initial: bool | None = None) -> str:
    """The codes of the aggregations with the given flags, in words: ``last and time_weighted_average``."""
    codes = [code for code, agg in AGGREGATIONS.items()
             if (uses_property is None or agg.uses_property == uses_property)
             and (takes_initial is None or agg.takes_initial == takes_initial)]
    if len(codes) <= 1:
        return codes[0] if codes else "no aggregation"
    return f"{', '.join(codes[:-1])} and {codes[-1]}"


# --------------------------------------------------------------------------- aggregations


@register
class Sum(Aggregation):
    """The sum of the values."""

    code: ClassVar[str] = "sum"
    averaged: ClassVar[bool] = False
    reads_before_window: ClassVar[bool] = False
    uses_property: ClassVar[bool] = False
    takes_initial: ClassVar[bool] = False

    def compute(self, events: Sequence[UsageEvent], start: datetime, end: datetime, *, level: Decimal,
                unique_property: str | None) -> Decimal:
        with localcontext(MONEY_CONTEXT):
            return sum((e.value for e in events), ZERO)

    def phrase(self, text: str, label: str) -> str:
        return f"total {text} {label}"


@register
class Count(Aggregation):
    """The number of events."""

    code: ClassVar[str] = "count"
    averaged: ClassVar[bool] = False
    reads_before_window: ClassVar[bool] = False
    uses_property: ClassVar[bool] = False
    takes_initial: ClassVar[bool] = False

    def compute(self, events: Sequence[UsageEvent], start: datetime, end: datetime, *, level: Decimal,
                unique_property: str | None) -> Decimal:
        return Decimal(len(events))

    def phrase(self, text: str, label: str) -> str:
        return f"{text} {label}"


@register
class Max(Aggregation):
    """The largest value (0 without events)."""

    code: ClassVar[str] = "max"
    averaged: ClassVar[bool] = False
    reads_before_window: ClassVar[bool] = False
    uses_property: ClassVar[bool] = False
    takes_initial: ClassVar[bool] = False

    def compute(self, events: Sequence[UsageEvent], start: datetime, end: datetime, *, level: Decimal,
                unique_property: str | None) -> Decimal:
        return max((e.value for e in events), default=ZERO)

    def phrase(self, text: str, label: str) -> str:
        return f"peak {text} {label}"


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


@register
class UniqueCount(Aggregation):
    """Distinct values of ``properties[unique_property]`` (events without it are ignored), or of the values."""

    code: ClassVar[str] = "unique_count"
    averaged: ClassVar[bool] = False
    reads_before_window: ClassVar[bool] = False
    uses_property: ClassVar[bool] = True
    takes_initial: ClassVar[bool] = False

    def compute(self, events: Sequence[UsageEvent], start: datetime, end: datetime, *, level: Decimal,
                unique_property: str | None) -> Decimal:
        markers = {_unique_marker(e, unique_property) for e in events}
        markers.discard(None)
        return Decimal(len(markers))

    def phrase(self, text: str, label: str) -> str:
        return f"{text} unique {label}"


@register
class Last(Aggregation):
    """The value of the latest event (ties on the timestamp: the greatest key); ``initial`` without one."""

    code: ClassVar[str] = "last"
    averaged: ClassVar[bool] = False
    reads_before_window: ClassVar[bool] = False
    uses_property: ClassVar[bool] = False
    takes_initial: ClassVar[bool] = True

    def compute(self, events: Sequence[UsageEvent], start: datetime, end: datetime, *, level: Decimal,
                unique_property: str | None) -> Decimal:
        latest = max(events, key=lambda e: (e.timestamp, e.key), default=None)
        return level if latest is None else latest.value

    def phrase(self, text: str, label: str) -> str:
        return f"latest {text} {label}"


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@register
class TimeWeightedAverage(Aggregation):
    """Each value holds from its timestamp until the next event: ``∫ level dt / window length``."""

    code: ClassVar[str] = "time_weighted_average"
    averaged: ClassVar[bool] = True
    reads_before_window: ClassVar[bool] = True
    uses_property: ClassVar[bool] = False
    takes_initial: ClassVar[bool] = True

    def compute(self, events: Sequence[UsageEvent], start: datetime, end: datetime, *, level: Decimal,
                unique_property: str | None) -> Decimal:
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

    def phrase(self, text: str, label: str) -> str:
        return f"average {text} {label}"


# --------------------------------------------------------------------------- summaries without events


@register_summary
class AverageDaily(Summary):
    """Daily licence counts averaged over a period (:func:`duly.domain.usage.average_daily_count`)."""

    code: ClassVar[str] = "average_daily"
    averaged: ClassVar[bool] = True

    def phrase(self, text: str, label: str) -> str:
        return f"average {text} {label}"
