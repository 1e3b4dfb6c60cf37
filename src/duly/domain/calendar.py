"""Calendar arithmetic: month steps that keep their anchor day, and business days per country.

Month arithmetic
    :func:`add_months` clamps to the end of shorter months *and* remembers the day it is anchored
    to, so a schedule anchored on the 31st goes Jan 31 → Feb 28 (29 in a leap year) → Mar 31,
    never drifting to the 28th.

Business days
    :class:`HolidayCalendar` wraps the ``holidays`` package for one country (and optionally one
    subdivision). A business day is Monday to Friday and not a public holiday of that country
    (observed days included, e.g. US Independence Day observed on Friday 3 July 2026). Holiday
    tables are built lazily, one calendar year at a time, and cached per (country, subdivision,
    year) for the whole process.

Nothing here reads the clock: every function takes the date it works on.
"""

from __future__ import annotations

import calendar as _stdcalendar
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Literal, Mapping

import holidays

from .errors import UnknownHolidayCountry, ValidationError

__all__ = [
    "AnchorDay",
    "BUSINESS_DAY_CONVENTIONS",
    "HolidayCalendar",
    "add_months",
    "days_in_month",
    "end_of_month",
]

#: ``anchor_day`` of :func:`add_months`: a day number 1..31, or ``"last"`` for the month end.
AnchorDay = int | Literal["last"]

#: Business-day conventions understood by :meth:`HolidayCalendar.adjust`.
BUSINESS_DAY_CONVENTIONS = ("following", "preceding", "modified_following")

#: Upper bound on consecutive non-business days; protects the search loops from bad data.
_MAX_CLOSED_RUN = 366


def days_in_month(year: int, month: int) -> int:
    """Number of days of ``month`` in ``year`` (28..31)."""
    return _stdcalendar.monthrange(year, month)[1]


def end_of_month(d: date) -> date:
    """Last day of the month containing ``d``."""
    return d.replace(day=days_in_month(d.year, d.month))


def add_months(d: date, n: int, anchor_day: AnchorDay | None = None) -> date:
    """Move ``d`` by ``n`` calendar months (negative ``n`` goes back).

    The day of the result is ``anchor_day`` (default: ``d.day``) clamped to the length of the target
    month; ``anchor_day="last"`` always gives the month end. Passing the original anchor when chaining
    keeps schedules on their day::

        add_months(date(2026, 1, 31), 1)                  # 2026-02-28
        add_months(date(2026, 2, 28), 1, anchor_day=31)   # 2026-03-31
        add_months(date(2028, 1, 31), 1, anchor_day="last")  # 2028-02-29
    """
    if not isinstance(n, int) or isinstance(n, bool):
        raise ValidationError(f"Number of months must be an integer, got {n!r}.")
    index = d.year * 12 + (d.month - 1) + n
    year, month = divmod(index, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise ValidationError(f"{d.isoformat()} plus {n} months is outside the supported calendar.")
    last = days_in_month(year, month)
    if anchor_day is None:
        day = d.day
    elif anchor_day == "last":
        day = last
    elif isinstance(anchor_day, int) and not isinstance(anchor_day, bool) and 1 <= anchor_day <= 31:
        day = anchor_day
    else:
        raise ValidationError(f"anchor_day must be a day 1..31 or 'last', got {anchor_day!r}.")
    return date(year, month, min(day, last))


def _normalise_country(country: str) -> str:
    if not isinstance(country, str) or not country.strip():
        raise UnknownHolidayCountry(
            f"Holiday country must be an ISO 3166 code such as FR, DE or US, got {country!r}.",
            country=str(country),
        )
    return country.strip().upper()


@lru_cache(maxsize=1)
def _supported() -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({k: tuple(v) for k, v in holidays.list_supported_countries().items()})


@lru_cache(maxsize=1024)
def _holidays_for(country: str, subdivision: str | None, year: int) -> Mapping[date, str]:
    """Public holidays (observed days included) of one country/subdivision in one year."""
    table = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return MappingProxyType({day: name for day, name in table.items() if day.year == year})


class HolidayCalendar:
    """Business days of one country (optionally one subdivision, e.g. ``("DE", "BY")``).

    The country and subdivision are checked when the calendar is created; an unknown code raises
    :class:`~duly.domain.errors.UnknownHolidayCountry`. Holiday data is loaded on first use, one
    year at a time.
    """

    __slots__ = ("country", "subdivision")

    def __init__(self, country: str, subdivision: str | None = None) -> None:
        code = _normalise_country(country)
        if code not in _supported():
            raise UnknownHolidayCountry(
                f"No public-holiday calendar for country {country!r}: use an ISO 3166 code such as FR, DE or US.",
                country=str(country),
            )
        sub = subdivision.strip().upper() if isinstance(subdivision, str) and subdivision.strip() else None
        if sub is not None:
            try:
                holidays.country_holidays(code, subdiv=sub, years=[])
            except NotImplementedError:
                raise UnknownHolidayCountry(
                    f"Country {code} has no subdivision {subdivision!r} in the public-holiday calendar.",
                    country=code,
                    subdivision=str(subdivision),
                ) from None
        self.country = code
        self.subdivision = sub

    def __repr__(self) -> str:
        sub = f", {self.subdivision!r}" if self.subdivision else ""
        return f"HolidayCalendar({self.country!r}{sub})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HolidayCalendar):
            return NotImplemented
        return (self.country, self.subdivision) == (other.country, other.subdivision)

    def __hash__(self) -> int:
        return hash((self.country, self.subdivision))

    def holidays_in(self, year: int) -> Mapping[date, str]:
        """All public holidays of ``year``: date → English name."""
        return _holidays_for(self.country, self.subdivision, year)

    def holiday_name(self, d: date) -> str | None:
        """Name of the public holiday on ``d``, or None."""
        return self.holidays_in(d.year).get(d)

    def is_holiday(self, d: date) -> bool:
        return d in self.holidays_in(d.year)

    def is_business_day(self, d: date) -> bool:
        """Monday to Friday and not a public holiday."""
        return d.weekday() < 5 and not self.is_holiday(d)

    def _step(self, d: date, step: int) -> date:
        for _ in range(_MAX_CLOSED_RUN):
            d = d + timedelta(days=step)
            if self.is_business_day(d):
                return d
        raise ValidationError(  # pragma: no cover - no real calendar closes for a year
            f"No business day within {_MAX_CLOSED_RUN} days of {d.isoformat()} in {self.country}."
        )

    def next_business_day(self, d: date) -> date:
        """First business day strictly after ``d``."""
        return self._step(d, 1)

    def previous_business_day(self, d: date) -> date:
        """Last business day strictly before ``d``."""
        return self._step(d, -1)

    def add_business_days(self, d: date, n: int) -> date:
        """The ``n``-th business day after ``d`` (before it when ``n`` < 0).

        ``d`` itself need not be a business day. ``n == 0`` returns ``d`` when it is a business day,
        otherwise the following business day.
        """
        if not isinstance(n, int) or isinstance(n, bool):
            raise ValidationError(f"Number of business days must be an integer, got {n!r}.")
        if n == 0:
            return d if self.is_business_day(d) else self.next_business_day(d)
        step = 1 if n > 0 else -1
        for _ in range(abs(n)):
            d = self._step(d, step)
        return d

    def adjust(self, d: date, convention: str | None) -> date:
        """Move a non-business day according to ``convention``; business days are returned unchanged.

        - ``None``: no adjustment.
        - ``"following"``: the next business day.
        - ``"preceding"``: the previous business day.
        - ``"modified_following"``: the next business day, unless that falls in the next month,
          then the previous business day.
        """
        if convention is not None and convention not in BUSINESS_DAY_CONVENTIONS:
            raise ValidationError(
                f"Unknown business-day convention {convention!r}: use one of {', '.join(BUSINESS_DAY_CONVENTIONS)}."
            )
        if convention is None or self.is_business_day(d):
            return d
        if convention == "following":
            return self.next_business_day(d)
        if convention == "preceding":
            return self.previous_business_day(d)
        following = self.next_business_day(d)
        return following if following.month == d.month else self.previous_business_day(d)


class WeekdayCalendar(HolidayCalendar):
    """Business days are Monday to Friday: for a country the holiday data does not know."""

    __slots__ = ()

    def __init__(self) -> None:  # noqa: D107 - no country to check
        self.country = ""
        self.subdivision = None

    def __repr__(self) -> str:
        return "WeekdayCalendar()"

    def holidays_in(self, year: int) -> Mapping[date, str]:
        return MappingProxyType({})


def calendar_for(country: str | None, subdivision: str | None = None) -> HolidayCalendar:
    """The country's holiday calendar; Monday to Friday (:class:`WeekdayCalendar`) when the
    holiday data does not know the country (or none is given)."""
    if not country:
        return WeekdayCalendar()
    try:
        return HolidayCalendar(country, subdivision)
    except UnknownHolidayCountry:
        return WeekdayCalendar()


__all__ += ["WeekdayCalendar", "calendar_for"]
