"""Calendar arithmetic: month steps that keep their anchor day, and business days per country.

Month arithmetic
    :func:`add_months` clamps to the end of shorter months *and* remembers the day it is anchored
    to, so a schedule anchored on the 31st goes Jan 31 → Feb 28 (29 in a leap year) → Mar 31,
    never drifting to the 28th.

Business days
    :class:`HolidayCalendar` wraps the ``holidays`` package for one country (and optionally one
    subdivision, ISO 3166-2: ``DE-BY``, ``ES-CT``, ``US-NY``). It is THE business-day calendar of
    Duly: due dates, sending windows and dunning all ask it. A business day is a day outside that
    country's weekend that is not a public holiday there (observed days included, e.g. US
    Independence Day observed on Friday 3 July 2026). The weekend is the country's own, as the
    ``holidays`` package knows it: Saturday-Sunday in most countries, Friday-Saturday in KW, BH, SA,
    IL..., Friday alone in IR; a weekend day the country declares a working day (China's make-up
    Saturdays) is a business day. Holiday tables are built lazily, one calendar year at a time,
    and cached per (country, subdivision, year) for the whole process.
    :func:`holiday_region` says whose holidays apply to a party (the value snapshots carry) and
    :func:`region_calendar` gives its calendar; :func:`calendar_for` is the lenient variant that
    falls back to Monday to Friday.

Time zones
    :func:`zone` is the one helper that turns an IANA name into a ``ZoneInfo`` (an unknown name is
    refused, or replaced by a ``default`` zone when one is given).

Nothing here reads the clock: every function takes the date it works on.
"""

from __future__ import annotations

import calendar as _stdcalendar
import re
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Literal, Mapping, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from .errors import UnknownHolidayCountry, UnknownSubdivision, ValidationError

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


#: The weekend of :class:`WeekdayCalendar` (and of every country the holiday data says nothing else about).
SATURDAY_SUNDAY = frozenset({5, 6})


class _Year(NamedTuple):
    """One country's (subdivision's) calendar year: holidays, weekend days and weekend days worked."""

    holidays: Mapping[date, str]
    weekend: frozenset[int]
    workdays: frozenset[date]


@lru_cache(maxsize=1024)
def _year(country: str, subdivision: str | None, year: int) -> _Year:
    table = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return _Year(
        MappingProxyType({day: name for day, name in table.items() if day.year == year}),
        frozenset(getattr(table, "weekend", SATURDAY_SUNDAY)),
        frozenset(d for d in getattr(table, "weekend_workdays", ()) if d.year == year),
    )


def _holidays_for(country: str, subdivision: str | None, year: int) -> Mapping[date, str]:
    """Public holidays (observed days included) of one country/subdivision in one year."""
    return _year(country, subdivision, year).holidays


_ISO_SUBDIVISION = re.compile(r"[A-Z0-9]{1,3}")


def subdivisions(country: str) -> tuple[str, ...]:
    """The ISO 3166-2 subdivisions of ``country`` the holiday data has its own holidays for
    (``("DE-BB", "DE-BE", ..., "DE-BY", ...)``); empty for an unknown country."""
    code = _normalise_country(country)
    return tuple(f"{code}-{sub}" for sub in _supported().get(code, ()) if _ISO_SUBDIVISION.fullmatch(sub))


def check_subdivision(country: str, subdivision: str | None) -> str:
    """``subdivision`` as its ISO 3166-2 code (``"by"`` or ``"DE-BY"`` with country DE → ``"DE-BY"``), or
    ``""`` for none. Refuses (:class:`~duly.domain.errors.UnknownSubdivision`) a subdivision of another
    country and one the holiday data has no holidays for."""
    text = subdivision.strip().upper() if isinstance(subdivision, str) else ""
    if not text:
        return ""
    code = _normalise_country(country)
    prefix, dash, rest = text.partition("-")
    if dash and prefix != code:
        raise UnknownSubdivision(
            f"Subdivision {subdivision!r} is not in {code}: give an ISO 3166-2 code of {code}, such as "
            f"{_example(code)}.", country=code, subdivision=str(subdivision))
    full = f"{code}-{rest if dash else text}"
    if full not in subdivisions(code):
        known = subdivisions(code)
        hint = (f"one of {', '.join(known[:12])}{'...' if len(known) > 12 else ''}" if known
                else f"none: {code} has no regional public holidays in the calendar")
        raise UnknownSubdivision(
            f"No public-holiday calendar for subdivision {subdivision!r} of {code}: use an ISO 3166-2 code, "
            f"{hint}.", country=code, subdivision=str(subdivision))
    return full


def _example(code: str) -> str:
    known = subdivisions(code)
    return known[0] if known else "DE-BY"


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
            if sub.startswith(f"{code}-"):
                sub = sub[len(code) + 1:]
            try:
                holidays.country_holidays(code, subdiv=sub, years=[])
            except NotImplementedError:
                raise UnknownSubdivision(
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

    @property
    def region(self) -> str:
        """``"DE-BY"`` with a subdivision, else the country (``"FR"``)."""
        return f"{self.country}-{self.subdivision}" if self.subdivision else self.country

    def _year(self, year: int) -> _Year:
        return _year(self.country, self.subdivision, year)

    def holidays_in(self, year: int) -> Mapping[date, str]:
        """All public holidays of ``year``: date → English name."""
        return self._year(year).holidays

    def holiday_name(self, d: date) -> str | None:
        """Name of the public holiday on ``d``, or None."""
        return self.holidays_in(d.year).get(d)

    def is_holiday(self, d: date) -> bool:
        return d in self.holidays_in(d.year)

    def weekend(self, year: int) -> frozenset[int]:
        """The weekend days of ``year`` (``date.weekday()`` numbers: 4 Friday, 5 Saturday, 6 Sunday)."""
        return self._year(year).weekend

    def is_weekend(self, d: date) -> bool:
        """A day of the country's weekend that is not declared a working day."""
        year = self._year(d.year)
        return d.weekday() in year.weekend and d not in year.workdays

    def is_business_day(self, d: date) -> bool:
        """Outside the country's weekend (or a weekend day declared worked) and not a public holiday."""
        year = self._year(d.year)
        return (d.weekday() not in year.weekend or d in year.workdays) and d not in year.holidays

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

    def _year(self, year: int) -> _Year:
        return _WEEKDAYS_ONLY


_WEEKDAYS_ONLY = _Year(MappingProxyType({}), SATURDAY_SUNDAY, frozenset())


@lru_cache(maxsize=4096)
def calendar_for(country: str | None, subdivision: str | None = None) -> HolidayCalendar:
    """The business-day calendar of a country, or of a region given as ``"US-NY"`` (or as ``("US", "NY")``).

    Monday to Friday (:class:`WeekdayCalendar`) when the holiday data does not know the country
    (or none is given); the country's own calendar when it does not know the subdivision.
    Calendars are immutable values: one is shared per region for the whole process.
    """
    if not country:
        return WeekdayCalendar()
    if subdivision is None and "-" in country:
        country, _, subdivision = country.partition("-")
    try:
        return HolidayCalendar(country, subdivision or None)
    except UnknownSubdivision:
        return calendar_for(country)
    except UnknownHolidayCountry:
        return WeekdayCalendar()


@lru_cache(maxsize=4096)
def region_calendar(region: str | None) -> HolidayCalendar:
    """The business-day calendar of a region as a snapshot names it (``"FR"``, or ``"US-CA"`` for a
    subdivision): the country's own weekend and public holidays; ``None``: Monday to Friday.

    Unlike :func:`calendar_for`, an unknown country or subdivision is refused
    (:class:`~duly.domain.errors.UnknownHolidayCountry`, :class:`~duly.domain.errors.UnknownSubdivision`):
    :func:`holiday_region` names only regions the holiday data knows.
    """
    if region is None:
        return WeekdayCalendar()
    code, _, subdivision = region.partition("-")
    return HolidayCalendar(code, subdivision or None)


def holiday_region(country: str, subdivision: str = "") -> str | None:
    """Whose public holidays apply to a party of ``country`` (and ``subdivision``, an ISO 3166-2 code
    stored validated): the subdivision (``"DE-BY"``) or the country when the holiday data knows the
    country, else ``None`` (Monday to Friday). The value :func:`region_calendar` takes."""
    if country not in _supported():
        return None
    return subdivision or country


@lru_cache(maxsize=None)
def zone(name: str, default: str | None = None) -> ZoneInfo:
    """The IANA time zone ``name`` (``"Europe/Paris"``), shared per process.

    An unknown or empty name is refused (:class:`~duly.domain.errors.ValidationError`), unless a
    ``default`` zone name is given: that zone is returned instead.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        if default is not None:
            return zone(default)
        raise ValidationError(
            f"Unknown time zone {name!r}: use an IANA name such as Europe/Paris.", timezone=str(name)
        ) from None


__all__ += ["SATURDAY_SUNDAY", "WeekdayCalendar", "calendar_for", "check_subdivision", "holiday_region",
            "region_calendar", "subdivisions", "zone"]
