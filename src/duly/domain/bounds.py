"""What Duly stores exactly, and the window of business dates it accepts.

Numbers
    Money is stored as integer minor units (``*_minor`` columns, 64-bit integers). An amount may
    have at most :data:`MAX_MINOR_DIGITS` digits in minor units (up to 99,999,999,999,999.99 in a
    currency with 2 decimals), so that a total of many such amounts still fits the column.
    Quantities, prices, rates and percentages are stored as decimals with a fixed number of
    decimals and digits (a ``DecimalField``'s ``decimal_places`` and ``max_digits``); SQLite keeps
    only :data:`EXACT_DIGITS` significant digits of a decimal exactly, so no stored decimal has
    more, on any database. :func:`check_minor` and :func:`check_decimal` refuse anything else with
    :class:`~duly.domain.errors.NumberOutOfRange`, naming the field and the limit.

Business dates
    A date a command records or bills by (an issue date, a billing or collections date, a payment
    date...) must lie in the organization's *window*: from a year before its first issued invoice
    (no lower bound while it has none) to :data:`FUTURE_DAYS` days after today. Outside the window
    the date is refused with :class:`~duly.domain.errors.DateOutsideWindow` unless the caller
    explicitly allows it (``--allow-date-outside-window``): a typo such as 2062 for 2026, or
    1900, is caught before it issues invoices. Whatever is allowed, a date must lie between
    :data:`EARLIEST_DATE` and :data:`LATEST_DATE` (:class:`~duly.domain.errors.DateOutOfRange`):
    beyond them, date arithmetic (due dates, periods, time zones) would overflow.

Nothing here reads the clock: ``today`` is always passed in.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from .errors import DateOutOfRange, DateOutsideWindow, NumberOutOfRange, ValidationError

__all__ = [
    "EARLIEST_DATE",
    "EARLIEST_STORED_DATE",
    "EXACT_DIGITS",
    "FUTURE_DAYS",
    "LATEST_DATE",
    "MAX_MINOR",
    "MAX_MINOR_DIGITS",
    "PAST_DAYS",
    "DateWindow",
    "check_business_date",
    "check_date_range",
    "check_datetime_range",
    "dates_in_range",
    "check_decimal",
    "check_minor",
    "date_window",
]

#: Digits an amount may have in minor units.
MAX_MINOR_DIGITS = 16
MAX_MINOR = 10**MAX_MINOR_DIGITS - 1
#: Significant digits every database Duly supports stores exactly in a decimal column (SQLite: 15).
EXACT_DIGITS = 15

#: The absolute bounds of any business date Duly accepts, even outside the window.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2199, 12, 31)
#: Other stored dates (a contact's birthday...) may go back to this day.
EARLIEST_STORED_DATE = date(1900, 1, 1)
#: The window opens this many days before the organization's first issued invoice ...
PAST_DAYS = 365
#: ... and closes this many days after today.
FUTURE_DAYS = 31


def check_minor(value: int, what: str = "The amount", currency: str = "") -> int:
    """``value`` (integer minor units) if it fits :data:`MAX_MINOR`; else a clear error."""
    if -MAX_MINOR <= value <= MAX_MINOR:
        return value
    from .money import from_minor  # money imports this module

    largest = f"{from_minor(MAX_MINOR, currency):,} {currency}" if currency else f"{MAX_MINOR:,} minor units"
    raise NumberOutOfRange(f"{what} is too large: Duly stores amounts up to {largest}.", limit=MAX_MINOR)


def check_decimal(value, *, max_digits: int, decimal_places: int, what: str = "The number") -> Decimal:
    """``value`` as a Decimal if a ``DecimalField(max_digits, decimal_places)`` stores it exactly everywhere.

    At most ``decimal_places`` decimals, ``max_digits - decimal_places`` digits before the point,
    and :data:`EXACT_DIGITS` significant digits in all (trailing zeros after the point do not count).
    """
    from .money import to_decimal  # money imports this module

    try:
        number = to_decimal(value)
    except NumberOutOfRange as exc:
        raise NumberOutOfRange(f"{what} {exc.message}", limit=max_digits) from None
    _, digits, exp = number.as_tuple()
    stripped = len(digits)
    while stripped > 1 and digits[stripped - 1] == 0:  # trailing zeros say nothing about precision
        stripped -= 1
        exp += 1
    if number == 0:
        return number
    whole_digits = max_digits - decimal_places
    if exp < -decimal_places or number.adjusted() >= whole_digits:
        raise NumberOutOfRange(
            f"{what} {_show(number)} does not fit: at most {decimal_places} decimals and {whole_digits} digits "
            "before the decimal point.", limit=max_digits)
    if stripped > EXACT_DIGITS:  # (a non-zero Decimal has no leading zero digit)
        raise NumberOutOfRange(
            f"{what} {_show(number)} has more than {EXACT_DIGITS} significant digits (what is stored exactly).",
            limit=EXACT_DIGITS)
    return number


def _show(number: Decimal) -> str:
    """A number for an error message: never thousands of digits long."""
    text = str(number)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"


# --- dates ---------------------------------------------------------------------------------------------


def check_date_range(value: date, what: str = "The date", *, earliest: date = EARLIEST_DATE) -> date:
    """``value`` if it lies within ``earliest`` (:data:`EARLIEST_DATE`) … :data:`LATEST_DATE` (always enforced)."""
    day = value.date() if isinstance(value, datetime) else value
    if not isinstance(day, date):
        raise ValidationError(f"{what} must be a date, got {value!r}.")
    if not earliest <= day <= LATEST_DATE:
        raise DateOutOfRange(
            f"{what} {day.isoformat()} is out of range: Duly accepts dates from {earliest.isoformat()} "
            f"to {LATEST_DATE.isoformat()}.", value=day.isoformat())
    return value


def dates_in_range(fn):
    """Decorate a service: every date (or datetime) argument must lie within the absolute bounds, else
    :class:`~duly.domain.errors.DateOutOfRange` naming the argument (``start_date`` → "The start date")."""

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        for value in args:
            if isinstance(value, date):
                check_date_range(value)
        for name, value in kwargs.items():
            if isinstance(value, date):
                check_date_range(value, f"The {_DATE_NAMES.get(name, name.replace('_', ' '))}")
        return fn(*args, **kwargs)

    return checked


_DATE_NAMES = {"on": "date", "as_of": "as-of date"}


def check_datetime_range(value: datetime, what: str = "The time") -> datetime:
    """``value`` if its date (in its own offset and in UTC) lies within the absolute bounds."""
    check_date_range(value.date(), what)
    if value.tzinfo is not None and value.utcoffset() is not None:
        # 2199-12-31T23:00-05:00 is 2200-01-01 in UTC: the stored instant must be in range as well.
        # Converting cannot overflow here: the local date is at most LATEST_DATE.
        check_date_range((value - value.utcoffset()).date(), what)
    return value


@dataclass(frozen=True)
class DateWindow:
    """The business dates an organization accepts without ``--allow-date-outside-window``."""

    today: date
    first_invoice_date: date | None

    @property
    def earliest(self) -> date | None:
        """None: no lower bound but the absolute one (the organization has issued no invoice yet)."""
        if self.first_invoice_date is None:
            return None
        return max(self.first_invoice_date - timedelta(days=PAST_DAYS), EARLIEST_DATE)

    @property
    def latest(self) -> date:
        return min(self.today + timedelta(days=FUTURE_DAYS), LATEST_DATE)

    def __contains__(self, day: date) -> bool:
        earliest = self.earliest
        return (earliest is None or day >= earliest) and day <= self.latest

    def describe(self) -> str:
        if self.earliest is None:
            return f"up to {self.latest.isoformat()}"
        return f"from {self.earliest.isoformat()} to {self.latest.isoformat()}"

    def check(self, value: date, what: str = "The date") -> date:
        """``value`` if it lies in the window and the absolute bounds; else the error saying which bound."""
        check_date_range(value, what)
        day = value.date() if isinstance(value, datetime) else value
        if day in self:
            return value
        if day > self.latest:
            why = f"more than {FUTURE_DAYS} days after today ({self.today.isoformat()})"
        else:
            why = f"more than {PAST_DAYS} days before the first invoice ({self.first_invoice_date.isoformat()})"
        earliest = self.earliest
        raise DateOutsideWindow(
            f"{what} {day.isoformat()} is {why}; business dates are accepted {self.describe()} "
            "(pass --allow-date-outside-window if it is really meant).",
            value=day.isoformat(), earliest=earliest.isoformat() if earliest else None,
            latest=self.latest.isoformat())


def date_window(*, today: date, first_invoice_date: date | None) -> DateWindow:
    """The window: from :data:`PAST_DAYS` before the first issued invoice to :data:`FUTURE_DAYS` after today."""
    return DateWindow(today, first_invoice_date)


def check_business_date(value: date, *, today: date, first_invoice_date: date | None, what: str = "The date",
                        allow_outside: bool = False) -> date:
    """``value`` if it lies in the organization's window (or ``allow_outside``) and the absolute bounds.

    Raises :class:`~duly.domain.errors.DateOutOfRange` beyond the absolute bounds (always), and
    :class:`~duly.domain.errors.DateOutsideWindow` outside the window (unless ``allow_outside``).
    """
    if allow_outside:
        return check_date_range(value, what)
    return date_window(today=today, first_invoice_date=first_invoice_date).check(value, what)
