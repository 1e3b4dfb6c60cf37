"""Billing periods: intervals, billing-day anchors, stubs, trials, pauses, cancellations and proration.

Periods
    A :class:`Period` is ``[start, end)``: ``end`` is exclusive, so consecutive periods share a
    boundary date and ``days`` is simply ``end − start``. A schedule's periods are contiguous:
    no gap, no overlap.

Intervals and anchors
    ``weekly``/``biweekly`` step 7/14 days; ``monthly``/``quarterly``/``semiannual``/``annual``
    step 1/3/6/12 months; ``custom`` follows an RFC 5545 rule such as
    ``FREQ=MONTHLY;BYMONTHDAY=15`` (parsed by :func:`dateutil.rrule.rrulestr` with the schedule
    start as the explicit ``dtstart``; the rule itself may not carry a DTSTART).

    The anchor is the billing day:

    * month-based intervals: a day of month 1..31 or ``"last"`` (month end). A day the month does
      not have is clamped to its last day, and every boundary is computed from the anchor, never
      from the previous boundary, so anchor 31 gives Jan 31 → Feb 28 (29) → Mar 31 → Apr 30 and
      never drifts to the 28th. The cycle months follow the start month: with a quarterly anchor on
      the 1st and a start on 10 January, the cycles start on 1 April, 1 July, 1 October...
    * weekly/biweekly: a weekday name (``"monday"`` ... ``"sunday"``).
    * ``None``: anchored on the start date itself (its day of month or weekday): no stub.
    * custom rules take no anchor: the rule's occurrences are the boundaries.

Stubs
    When the start date is not an anchor date, the first period is a *stub* from the start to the
    first anchor date. The stub is prorated: it is charged ``stub days / cycle days`` of the full
    price, where the cycle is the full anchored cycle containing the start (10 January, monthly on
    the 1st: 22/31 of January's price). A custom rule has no occurrence before the start, so its
    stub is measured against the length of the first full period (or charged in full if longer).

Proration
    Ratios are exact :class:`fractions.Fraction` of whole days. Amounts are computed at full
    precision and rounded once with :func:`~duly.domain.money.round_money`; a split is rounded
    cumulatively so its parts add up to the whole and are never negative, and a credit is always
    "amount billed − the prorated part used", so used + credit = billed exactly. No floats.

    A change, a removal or a cancellation inside a billed period is priced from the undiscounted
    price of the whole cycle and the days actually paused (:func:`split_part`): the rest it credits
    or charges is the price of its unpaused days, never a share of an amount a pause already reduced.

Subscriptions
    :class:`Schedule` adds a trial (free until ``trial_end``; billing cycles then start on
    ``trial_end``), pause windows ``[pause_start, resume)`` (a period paused throughout is skipped,
    a partly paused one is prorated on its unpaused days) and an end date (exclusive: the first
    day without service; the last period is prorated up to it). Nothing here reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import Iterable, Iterator, Literal, NamedTuple, Sequence

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr

from .errors import InvalidSchedule
from .money import MONEY_CONTEXT, round_money, to_decimal

__all__ = [
    "DATES_PER_YEAR",
    "Anchor",
    "ChangeProration",
    "Cycle",
    "INTERVAL_KINDS",
    "Interval",
    "PartSplit",
    "Pause",
    "Period",
    "Schedule",
    "ScheduledCharge",
    "TIMINGS",
    "WEEKDAYS",
    "billing_cycles",
    "billing_date",
    "cancellation_credit",
    "change_proration",
    "frequency_of",
    "period_containing",
    "periods",
    "prorate",
    "prorate_days",
    "prorate_split",
    "proration_ratio",
    "split_part",
]

_MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}
_WEEKS = {"weekly": 1, "biweekly": 2}
INTERVAL_KINDS = ("weekly", "biweekly", "monthly", "quarterly", "semiannual", "annual", "custom")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TIMINGS = ("advance", "arrears")

#: Billing-day anchor: a day of month 1..31, ``"last"``, a weekday name, or None (the start date).
Anchor = int | Literal["last"] | str | None

_SUB_DAILY = ("FREQ=HOURLY", "FREQ=MINUTELY", "FREQ=SECONDLY")


def _check_date(value: object, what: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidSchedule(f"{what} must be a date (not a datetime), got {value!r}.")
    return value


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True, order=True)
class Period:
    """The days ``start`` up to but excluding ``end``."""

    start: date
    end: date

    def __post_init__(self) -> None:
        _check_date(self.start, "A period start")
        _check_date(self.end, "A period end")
        if self.end <= self.start:
            raise InvalidSchedule(
                f"A period must end after it starts (start {self.start.isoformat()}, end {self.end.isoformat()}).")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        """The last day inside the period (``end`` is exclusive)."""
        return self.end - timedelta(days=1)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and not isinstance(day, datetime) and self.start <= day < self.end

    def overlap_days(self, other: "Period") -> int:
        """Number of days the two periods share."""
        return max(0, (min(self.end, other.end) - max(self.start, other.start)).days)


@dataclass(frozen=True)
class Interval:
    """How long a billing cycle is: a kind from :data:`INTERVAL_KINDS`, plus the rule for ``custom``."""

    kind: str
    rule: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in INTERVAL_KINDS:
            raise InvalidSchedule(
                f"Unknown billing interval {self.kind!r}: use one of {', '.join(INTERVAL_KINDS)}.", kind=str(self.kind))
        if self.kind == "custom":
            if not isinstance(self.rule, str) or not self.rule.strip():
                raise InvalidSchedule('A custom interval needs a recurrence rule, e.g. "FREQ=MONTHLY;BYMONTHDAY=15".')
            self._parse(date(2000, 1, 1))
        elif self.rule is not None:
            raise InvalidSchedule(f"Only a custom interval takes a recurrence rule, not {self.kind!r}.")

    @classmethod
    def custom(cls, rule: str) -> "Interval":
        return cls("custom", rule)

    @property
    def months(self) -> int | None:
        """Months per cycle for month-based kinds, else None."""
        return _MONTHS.get(self.kind)

    @property
    def weeks(self) -> int | None:
        """Weeks per cycle for ``weekly``/``biweekly``, else None."""
        return _WEEKS.get(self.kind)

    def _parse(self, dtstart: date) -> Iterable[datetime]:
        assert self.rule is not None
        text = self.rule.strip()
        upper = text.upper().replace(" ", "")
        if "DTSTART" in upper:
            raise InvalidSchedule("A custom rule may not carry its own DTSTART: the schedule start is used.")
        if any(freq in upper for freq in _SUB_DAILY):
            raise InvalidSchedule("A custom rule must recur daily or less often (no HOURLY/MINUTELY/SECONDLY).")
        try:
            return rrulestr(text, dtstart=datetime.combine(dtstart, time.min))
        except (ValueError, TypeError) as exc:
            raise InvalidSchedule(f"Invalid recurrence rule {self.rule!r}: {exc}.", rule=self.rule) from None


#: Billing dates a year of each fixed interval kind (the billing frequencies a contract agrees).
DATES_PER_YEAR = {"weekly": 52, "biweekly": 26, "monthly": 12, "quarterly": 4, "semiannual": 2, "annual": 1}
_FREQUENCY_BY_DATES = {n: kind for kind, n in DATES_PER_YEAR.items()}
#: Days of an average Gregorian year: 146,097 days every 400 years.
_YEAR = Fraction(146097, 400)


def frequency_of(interval: Interval | str, start: date) -> str | None:
    """The billing frequency an interval bills at: its kind, or, for a custom rule, the kind of
    :data:`DATES_PER_YEAR` with as many billing dates a year.

    A custom rule is measured on its occurrences during four years from ``start``: its gaps over the
    days they span, scaled to an average year and rounded (``FREQ=MONTHLY;BYDAY=1MO``, the first
    Monday of each month, is monthly although its gaps are 28 or 35 days). None: a rule with fewer
    than two occurrences, or a cadence no kind has (e.g. the 1st and the 15th of each month).
    """
    interval = _interval(interval)
    if interval.kind != "custom":
        return interval.kind
    _check_date(start, "The schedule start")
    horizon = start + timedelta(days=4 * 366)
    days: list[date] = []
    for day in _distinct_dates(interval._parse(start)):
        if day >= horizon:
            break
        days.append(day)
    if len(days) < 2:
        return None
    per_year = round(Fraction(len(days) - 1) * _YEAR / (days[-1] - days[0]).days)
    return _FREQUENCY_BY_DATES.get(per_year)


def _interval(value: Interval | str) -> Interval:
    return value if isinstance(value, Interval) else Interval(value)


def _check_anchor(interval: Interval, anchor: Anchor) -> None:
    if anchor is None:
        return
    if interval.months is not None:
        if anchor == "last" or (isinstance(anchor, int) and not isinstance(anchor, bool) and 1 <= anchor <= 31):
            return
        raise InvalidSchedule(
            f"A {interval.kind} billing day must be 1..31 or \"last\", got {anchor!r}.", anchor=str(anchor))
    if interval.weeks is not None:
        if isinstance(anchor, str) and anchor in WEEKDAYS:
            return
        raise InvalidSchedule(
            f"A {interval.kind} billing day is a weekday name ({', '.join(WEEKDAYS)}), got {anchor!r}.",
            anchor=str(anchor))
    raise InvalidSchedule("A custom interval takes no anchor: its rule's occurrences are the billing dates.")


@dataclass(frozen=True)
class Cycle:
    """A billed ``period`` and the ``whole`` anchored cycle it is priced against.

    They are equal except for a stub (the period starts after the cycle) and, in a
    :class:`Schedule`, a last period cut short by the end date.
    """

    period: Period
    whole: Period

    @property
    def is_stub(self) -> bool:
        return self.period.start > self.whole.start

    @property
    def ratio(self) -> Fraction:
        return proration_ratio(self.period, self.whole)


def _month_cycles(start: date, months: int, anchor: Anchor) -> Iterator[Cycle]:
    day = 31 if anchor == "last" else (anchor if isinstance(anchor, int) else start.day)
    base = date(start.year, start.month, 1)

    def boundary(k: int) -> date:
        # Always from the anchor month and day: relativedelta clamps day 31 to the month end.
        return base + relativedelta(months=k * months, day=day)

    k = 0 if boundary(0) >= start else 1
    if boundary(k) > start:
        yield Cycle(Period(start, boundary(k)), Period(boundary(k - 1), boundary(k)))
    while True:
        yield Cycle(Period(boundary(k), boundary(k + 1)), Period(boundary(k), boundary(k + 1)))
        k += 1


def _week_cycles(start: date, weeks: int, anchor: Anchor) -> Iterator[Cycle]:
    step = timedelta(days=7 * weeks)
    target = WEEKDAYS.index(anchor) if isinstance(anchor, str) else start.weekday()
    first = start + timedelta(days=(target - start.weekday()) % 7)
    if first > start:
        yield Cycle(Period(start, first), Period(first - step, first))
    while True:
        yield Cycle(Period(first, first + step), Period(first, first + step))
        first += step


def _rule_cycles(start: date, interval: Interval) -> Iterator[Cycle]:
    occurrences = _distinct_dates(interval._parse(start))
    first = next(occurrences, None)
    if first is None:
        raise InvalidSchedule(f"The rule {interval.rule!r} has no occurrence on or after {start.isoformat()}.")
    following = next(occurrences, None)
    if first > start:
        whole_start = start if following is None else min(start, first - (following - first))
        yield Cycle(Period(start, first), Period(whole_start, first))
    while following is not None:
        yield Cycle(Period(first, following), Period(first, following))
        first, following = following, next(occurrences, None)


def _distinct_dates(occurrences: Iterable[datetime]) -> Iterator[date]:
    previous: date | None = None
    for occurrence in occurrences:
        day = occurrence.date()
        if day != previous:
            yield day
            previous = day


def _cycles(start: date, interval: Interval | str, anchor: Anchor) -> Iterator[Cycle]:
    _check_date(start, "The schedule start")
    interval = _interval(interval)
    _check_anchor(interval, anchor)
    if interval.months is not None:
        return _month_cycles(start, interval.months, anchor)
    if interval.weeks is not None:
        return _week_cycles(start, interval.weeks, anchor)
    return _rule_cycles(start, interval)


def billing_cycles(start: date, interval: Interval | str, anchor: Anchor = None, *, until: date) -> Iterator[Cycle]:
    """The cycles from ``start`` whose period starts before ``until``, each with its whole cycle."""
    _check_date(until, "until")
    for cycle in _cycles(start, interval, anchor):
        if cycle.period.start >= until:
            return
        yield cycle


def periods(start: date, interval: Interval | str, anchor: Anchor = None, *, until: date) -> Iterator[Period]:
    """Contiguous billing periods from ``start`` that start before ``until``; the first may be a stub.

    The last period is not cut at ``until`` (use :class:`Schedule` with an end date for that).
    """
    for cycle in billing_cycles(start, interval, anchor, until=until):
        yield cycle.period


def period_containing(day: date, start: date, interval: Interval | str, anchor: Anchor = None) -> Period:
    """The billing period of the schedule starting on ``start`` that contains ``day``."""
    _check_date(day, "The day")
    if day < start:
        raise InvalidSchedule(f"{day.isoformat()} is before the schedule starts ({start.isoformat()}).")
    for cycle in _cycles(start, interval, anchor):
        if day < cycle.period.end:
            return cycle.period
    raise InvalidSchedule(f"The schedule's rule has no period containing {day.isoformat()}.")


def billing_date(period: Period, timing: str) -> date:
    """When a period is billed: at its start in ``advance``, at its (exclusive) end in ``arrears``."""
    if timing == "advance":
        return period.start
    if timing == "arrears":
        return period.end
    raise InvalidSchedule(f"Unknown billing timing {timing!r}: use advance or arrears.", timing=str(timing))


# --------------------------------------------------------------------------- proration


def proration_ratio(part: Period, whole: Period) -> Fraction:
    """Exact share of ``whole`` covered by ``part`` (which must lie inside it): days / days."""
    if part.start < whole.start or part.end > whole.end:
        raise InvalidSchedule(
            f"The part {part.start.isoformat()}–{part.end.isoformat()} is not inside the period "
            f"{whole.start.isoformat()}–{whole.end.isoformat()}.")
    return Fraction(part.days, whole.days)


def _apply_ratio(amount: Decimal, currency: str, ratio: Fraction) -> Decimal:
    whole = round_money(amount, currency)
    if ratio == 1:
        return whole
    with localcontext(MONEY_CONTEXT):
        return round_money(whole * ratio.numerator / ratio.denominator, currency, ROUND_HALF_UP)


def prorate_days(amount: Decimal, currency: str, days: int, whole_days: int) -> Decimal:
    """``amount`` × ``days`` / ``whole_days``, rounded half up: :func:`prorate` when only the day counts are known."""
    if isinstance(days, bool) or isinstance(whole_days, bool) or not 0 <= days <= whole_days or whole_days <= 0:
        raise InvalidSchedule(f"Cannot prorate {days} of {whole_days} days.")
    return _apply_ratio(to_decimal(amount), currency, Fraction(days, whole_days))


def prorate(amount: Decimal, currency: str, part: Period, whole: Period) -> Decimal:
    """``amount`` (the price of ``whole``, rounded to the currency) × part days / whole days, rounded half up."""
    return _apply_ratio(to_decimal(amount), currency, proration_ratio(part, whole))


def prorate_split(amount: Decimal, currency: str, whole: Period, cut_dates: Sequence[date]) -> list[Decimal]:
    """Split the price of ``whole`` at ``cut_dates``: ``len(cut_dates) + 1`` parts that add up to it exactly.

    The parts are rounded cumulatively: the first ``k`` parts add up to :func:`prorate` of the days
    up to the ``k``-th cut (half up), so the first part is :func:`prorate` of its own days, the
    last one is the :func:`cancellation_credit` of the last cut, each part is within one minor unit
    of its exact share, and no part is ever negative (0.01 split over two days is 0.01 + 0.00,
    whatever the cuts). Cut dates must be in order and within ``[whole.start, whole.end]``; a cut
    on a boundary or a repeated cut gives a zero part.
    """
    bounds = [whole.start]
    for cut in cut_dates:
        _check_date(cut, "A cut date")
        if not whole.start <= cut <= whole.end:
            raise InvalidSchedule(
                f"The cut date {cut.isoformat()} is outside the period "
                f"{whole.start.isoformat()}–{whole.end.isoformat()}.")
        if cut < bounds[-1]:
            raise InvalidSchedule("Cut dates must be in chronological order.")
        bounds.append(cut)
    total = round_money(to_decimal(amount), currency)
    parts, before = [], total - total  # a zero of the currency's exponent
    for cut in bounds[1:]:
        upto = _apply_ratio(total, currency, Fraction((cut - whole.start).days, whole.days))
        parts.append(upto - before)
        before = upto
    parts.append(total - before)
    return parts


class PartSplit(NamedTuple):
    """A billed part of a period cut on a date: what was billed for it, and what its days before the date cost.

    Both are priced from the price of the whole cycle over the whole cycle's days, counting only
    unpaused days; ``billed − used`` is the unused rest (see :func:`split_part`).
    """

    billed: Decimal
    used: Decimal
    #: Unpaused days of the part, and of the part before the date.
    billed_days: int
    used_days: int
    whole_days: int

    @property
    def unused(self) -> Decimal:
        return self.billed - self.used

    @property
    def unused_days(self) -> int:
        return self.billed_days - self.used_days


def _pauses(pauses: Iterable["Pause | tuple[date, date]"]) -> tuple["Pause", ...]:
    return _merge(p if isinstance(p, Pause) else Pause(*p) for p in pauses)


def _unpaused_days(span: Period, pauses: Sequence["Pause"]) -> int:
    return span.days - sum(p.period.overlap_days(span) for p in pauses)


def split_part(amount: Decimal, currency: str, period: Period, day: date, *, whole: Period | None = None,
               pauses: Iterable["Pause | tuple[date, date]"] = (), what: str = "Date") -> PartSplit:
    """Cut the billed ``period`` on ``day``: ``amount`` is the undiscounted price of ``whole`` (default:
    ``period`` itself), and paused days cost nothing.

    ``billed`` = amount × unpaused days of ``period`` / days of ``whole``, and ``used`` = amount ×
    unpaused days of ``[period.start, day)`` / days of ``whole``, each rounded once, half up. So
    the rest a change or a cancellation credits is priced on the days it really leaves, never
    reduced twice by a pause: flat 100.00 for April (30 days), paused 6–10 April, cancelled on
    16 April: billed 100 × 25/30 = 83.33, used 100 × 10/30 = 33.33, unused 50.00 (= 100 × 15/30).
    """
    _check_date(day, what)
    if not period.start <= day <= period.end:
        raise InvalidSchedule(
            f"The {what.lower()} {day.isoformat()} is outside the period "
            f"{period.start.isoformat()}–{period.end.isoformat()}.")
    whole = period if whole is None else whole
    if period.start < whole.start or period.end > whole.end:
        raise InvalidSchedule(
            f"The part {period.start.isoformat()}–{period.end.isoformat()} is not inside the period "
            f"{whole.start.isoformat()}–{whole.end.isoformat()}.")
    merged = _pauses(pauses)
    price = to_decimal(amount)
    billed_days = _unpaused_days(period, merged)
    used_days = _unpaused_days(Period(period.start, day), merged) if day > period.start else 0
    return PartSplit(
        billed=_apply_ratio(price, currency, Fraction(billed_days, whole.days)),
        used=_apply_ratio(price, currency, Fraction(used_days, whole.days)),
        billed_days=billed_days, used_days=used_days, whole_days=whole.days,
    )


def cancellation_credit(amount_paid: Decimal, currency: str, period: Period, cancel_date: date, *,
                        whole: Period | None = None, pauses: Iterable["Pause | tuple[date, date]"] = ()) -> Decimal:
    """Credit for the unused days ``[cancel_date, period.end)`` of a period paid in advance.

    It is ``billed − used`` (see :func:`split_part`), so the used part and the credit add up to
    what was billed. Cancelling on the period start credits everything, on its end nothing. With
    ``whole`` and ``pauses``, ``amount_paid`` is the undiscounted price of the whole cycle and the
    paused days count for nothing: neither billed nor credited.
    """
    return split_part(amount_paid, currency, period, cancel_date, whole=whole, pauses=pauses,
                      what="Cancellation date").unused


class ChangeProration(NamedTuple):
    """A mid-period plan or quantity change: credit the old price's rest, charge the new price's rest."""

    credit_for_unused_old: Decimal
    charge_for_remaining_new: Decimal

    @property
    def net(self) -> Decimal:
        """What the customer owes for the change (negative: what they are owed)."""
        return self.charge_for_remaining_new - self.credit_for_unused_old


def change_proration(old_amount: Decimal, new_amount: Decimal, currency: str, period: Period,
                     change_date: date, *, whole: Period | None = None,
                     pauses: Iterable["Pause | tuple[date, date]"] = ()) -> ChangeProration:
    """Prorate a change on ``change_date``: both amounts are undiscounted prices of ``whole`` (default:
    ``period``); the new one applies from the change, and paused days cost nothing at either price."""
    pauses = _pauses(pauses)
    return ChangeProration(
        split_part(old_amount, currency, period, change_date, whole=whole, pauses=pauses, what="Change date").unused,
        split_part(new_amount, currency, period, change_date, whole=whole, pauses=pauses, what="Change date").unused,
    )


# --------------------------------------------------------------------------- subscriptions


@dataclass(frozen=True)
class Pause:
    """No service (and no charge) from ``start`` up to but excluding ``resume``."""

    start: date
    resume: date

    def __post_init__(self) -> None:
        _check_date(self.start, "A pause start")
        _check_date(self.resume, "A resume date")
        if self.resume <= self.start:
            raise InvalidSchedule(
                f"A pause must resume after it starts (pause {self.start.isoformat()}, "
                f"resume {self.resume.isoformat()}).")

    @property
    def period(self) -> Period:
        return Period(self.start, self.resume)


@dataclass(frozen=True)
class ScheduledCharge:
    """One billed period of a :class:`Schedule`: what is charged, when, and why."""

    #: The service days billed (a stub, a full cycle, or a last period cut at the end date).
    period: Period
    #: The full anchored cycle the price is quoted for.
    whole: Period
    #: Days of ``period`` that are not paused.
    billable_days: int
    #: ``billable_days / whole.days``.
    ratio: Fraction
    amount: Decimal
    currency: str
    billing_date: date
    #: English, e.g. ``"22 of 31 days: starts mid-cycle"`` or ``"full period"``.
    note: str


def _merge(pauses: Iterable[Pause]) -> tuple[Pause, ...]:
    merged: list[Pause] = []
    for pause in sorted(pauses, key=lambda p: (p.start, p.resume)):
        if merged and pause.start <= merged[-1].resume:
            last = merged.pop()
            pause = Pause(last.start, max(last.resume, pause.resume))
        merged.append(pause)
    return tuple(merged)


@dataclass(frozen=True)
class Schedule:
    """A subscription's billing calendar.

    ``trial_end``: days before it are free and the billing cycles start on it (so with no anchor
    the cycles are anchored on the trial end). ``end``: the first day without service (exclusive).
    ``pauses``: ``Pause`` objects or ``(pause_start, resume)`` pairs; overlapping ones are merged.
    """

    start: date
    interval: Interval
    anchor: Anchor = None
    trial_end: date | None = None
    end: date | None = None
    pauses: tuple[Pause, ...] = ()

    def __post_init__(self) -> None:
        _check_date(self.start, "The subscription start")
        interval = _interval(self.interval)
        object.__setattr__(self, "interval", interval)
        _check_anchor(interval, self.anchor)
        if self.trial_end is not None and _check_date(self.trial_end, "The trial end") < self.start:
            raise InvalidSchedule("The trial cannot end before the subscription starts.")
        if self.end is not None and _check_date(self.end, "The end date") < self.start:
            raise InvalidSchedule("The subscription cannot end before it starts.")
        pauses = [p if isinstance(p, Pause) else Pause(*p) for p in self.pauses]
        object.__setattr__(self, "pauses", _merge(pauses))

    @property
    def billing_start(self) -> date:
        """The first billed day: the trial end, or the start without a trial."""
        return self.trial_end if self.trial_end is not None else self.start

    @property
    def trial(self) -> Period | None:
        """The free trial period, if any."""
        return Period(self.start, self.trial_end) if self.trial_end and self.trial_end > self.start else None

    def cycles(self, *, until: date) -> Iterator[Cycle]:
        """Billing cycles starting before ``until`` (and the end date); the last is cut at the end date."""
        stop = until if self.end is None else min(until, self.end)
        for cycle in billing_cycles(self.billing_start, self.interval, self.anchor, until=stop):
            if self.end is not None and cycle.period.end > self.end:
                cycle = Cycle(Period(cycle.period.start, self.end), cycle.whole)
            yield cycle

    def periods(self, *, until: date) -> Iterator[Period]:
        """The service periods starting before ``until``, paused ones included."""
        for cycle in self.cycles(until=until):
            yield cycle.period

    def period_containing(self, day: date) -> Period:
        """The service period containing ``day`` (after the trial, before the end date)."""
        _check_date(day, "The day")
        if day < self.billing_start:
            raise InvalidSchedule(f"{day.isoformat()} is before billing starts ({self.billing_start.isoformat()}).")
        if self.end is not None and day >= self.end:
            raise InvalidSchedule(f"{day.isoformat()} is after the subscription ended ({self.end.isoformat()}).")
        for cycle in self.cycles(until=day + timedelta(days=1)):
            if day in cycle.period:
                return cycle.period
        raise InvalidSchedule(f"The schedule has no period containing {day.isoformat()}.")

    def paused_days(self, period: Period) -> int:
        """Days of ``period`` inside a pause."""
        return sum(p.period.overlap_days(period) for p in self.pauses)

    def charges(
        self, amount: Decimal, currency: str, *, until: date, timing: str = "advance"
    ) -> Iterator[ScheduledCharge]:
        """The charges for ``amount`` per cycle, for periods starting before ``until``.

        Periods paused throughout are skipped; stubs, partly paused periods and a last period cut
        by the end date are prorated on their billable days over the whole cycle.
        """
        if timing not in TIMINGS:
            raise InvalidSchedule(f"Unknown billing timing {timing!r}: use advance or arrears.", timing=str(timing))
        for cycle in self.cycles(until=until):
            paused = self.paused_days(cycle.period)
            billable = cycle.period.days - paused
            if billable == 0:
                continue
            ratio = Fraction(billable, cycle.whole.days)
            reasons = []
            if cycle.is_stub:
                reasons.append("starts mid-cycle")
            if paused:
                reasons.append(f"paused {paused} day{'s' if paused != 1 else ''}")
            if cycle.period.end < cycle.whole.end:
                reasons.append("ends mid-cycle")
            note = "full period" if ratio == 1 else f"{billable} of {cycle.whole.days} days: {', '.join(reasons)}"
            yield ScheduledCharge(
                period=cycle.period,
                whole=cycle.whole,
                billable_days=billable,
                ratio=ratio,
                amount=_apply_ratio(to_decimal(amount), currency, ratio),
                currency=currency,
                billing_date=billing_date(cycle.period, timing),
                note=note,
            )

    def cancel(self, cancel_date: date, *, at_period_end: bool) -> "Schedule":
        """The schedule after a cancellation requested on ``cancel_date``.

        At period end, service runs to the end of the period containing the date (to the trial end
        during a trial); immediately, it stops on ``cancel_date`` (credit the unused days of a
        period paid in advance with :func:`cancellation_credit`). An earlier end date is kept.
        """
        _check_date(cancel_date, "The cancellation date")
        if cancel_date < self.start:
            raise InvalidSchedule("A subscription cannot be cancelled before it starts.")
        if self.end is not None and cancel_date >= self.end:
            return self
        if not at_period_end:
            end = cancel_date
        elif cancel_date < self.billing_start:
            end = self.billing_start
        else:
            end = self.period_containing(cancel_date).end
        return Schedule(self.start, self.interval, self.anchor, self.trial_end, end, self.pauses)
