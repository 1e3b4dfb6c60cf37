"""What Duly stores exactly, and the window of business dates (duly.domain.bounds): plain values, no database."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from duly.domain.bounds import (
    EARLIEST_DATE,
    LATEST_DATE,
    MAX_MINOR,
    check_business_date,
    check_date_range,
    check_datetime_range,
    check_decimal,
    check_minor,
    date_window,
)
from duly.domain.errors import DateOutOfRange, DateOutsideWindow, NumberOutOfRange
from duly.domain.money import round_money, to_minor

TODAY = date(2026, 12, 7)
FIRST = date(2026, 5, 1)


def window_check(day, **kw):
    return check_business_date(day, today=TODAY, first_invoice_date=FIRST, what="The issue date", **kw)


def test_the_window_runs_from_a_year_before_the_first_invoice_to_31_days_after_today():
    window = date_window(today=TODAY, first_invoice_date=FIRST)
    assert (window.earliest, window.latest) == (date(2025, 5, 1), date(2027, 1, 7))
    assert window_check(date(2025, 5, 1)) == date(2025, 5, 1)
    assert window_check(date(2027, 1, 7)) == date(2027, 1, 7)
    with pytest.raises(DateOutsideWindow) as too_late:
        window_check(date(2027, 1, 8))
    assert too_late.value.code == "date_outside_window"
    assert "2027-01-08 is more than 31 days after today (2026-12-07)" in too_late.value.message
    assert "--allow-date-outside-window" in too_late.value.message
    with pytest.raises(DateOutsideWindow) as too_early:
        window_check(date(2025, 4, 30))
    assert "more than 365 days before the first invoice (2026-05-01)" in too_early.value.message


def test_an_organization_without_invoices_has_no_lower_bound_but_the_absolute_one():
    assert date_window(today=TODAY, first_invoice_date=None).earliest is None
    assert check_business_date(date(2001, 1, 1), today=TODAY, first_invoice_date=None) == date(2001, 1, 1)
    with pytest.raises(DateOutOfRange):
        check_business_date(date(1900, 1, 1), today=TODAY, first_invoice_date=None)


def test_allowing_a_date_outside_the_window_still_keeps_the_absolute_bounds():
    assert window_check(date(2100, 1, 1), allow_outside=True) == date(2100, 1, 1)
    assert window_check(date(2000, 1, 1), allow_outside=True) == date(2000, 1, 1)
    for day in (date(9999, 12, 31), date(1, 1, 1), date(1999, 12, 31), date(2200, 1, 1)):
        with pytest.raises(DateOutOfRange) as err:
            window_check(day, allow_outside=True)
        assert err.value.code == "date_out_of_range" and "2000-01-01 to 2199-12-31" in err.value.message
    assert check_date_range(LATEST_DATE) == LATEST_DATE and check_date_range(EARLIEST_DATE) == EARLIEST_DATE


def test_a_time_is_in_range_in_its_own_offset_and_in_utc():
    ok = datetime(2199, 12, 31, 12, tzinfo=timezone.utc)
    assert check_datetime_range(ok) == ok
    west = timezone(timedelta(hours=-5))
    with pytest.raises(DateOutOfRange):  # 2200-01-01 04:00 UTC
        check_datetime_range(datetime(2199, 12, 31, 23, tzinfo=west))
    with pytest.raises(DateOutOfRange):
        check_datetime_range(datetime(9999, 12, 31, 23, tzinfo=west))


def test_amounts_are_limited_to_16_digits_of_minor_units():
    assert to_minor(Decimal("99999999999999.99"), "EUR") == MAX_MINOR
    assert to_minor(Decimal("-99999999999999.99"), "EUR") == -MAX_MINOR
    assert to_minor(Decimal("9999999999999999"), "JPY") == MAX_MINOR
    for amount, currency in (("100000000000000.00", "EUR"), ("1e30", "EUR"), ("1E+999999999", "EUR"),
                             ("-1e17", "JPY"), ("10000000000000.000", "BHD")):
        with pytest.raises(NumberOutOfRange) as err:
            to_minor(amount, currency)
        assert err.value.code == "number_out_of_range"
    assert "up to 99,999,999,999,999.99 EUR" in str(pytest.raises(NumberOutOfRange, to_minor, "1e30", "EUR").value)
    with pytest.raises(NumberOutOfRange):  # 60 digits: beyond the money context, never an InvalidOperation
        round_money(Decimal("1e60"), "EUR")
    assert check_minor(5) == 5


@pytest.mark.parametrize("value, ok", [
    ("12.500000", True), ("1.10000000", True), ("0", True), ("99999999999999", True),
    ("123456789.123456", True), ("-123456789.123456", True), ("1.5E+3", True),
    ("0.0000001", False),            # 7 decimals
    ("100000000000000", False),      # 15 digits before the point (14 allowed)
    ("1e30", False), ("1E+999999999", False), ("1E-999999999", False),
    ("1234567890.123456", False),    # 16 significant digits: SQLite would round it
])
def test_decimals_must_fit_their_column_exactly(value, ok):
    if ok:
        assert check_decimal(value, max_digits=20, decimal_places=6) == Decimal(value)
    else:
        with pytest.raises(NumberOutOfRange) as err:
            check_decimal(value, max_digits=20, decimal_places=6, what="The quantity")
        assert err.value.message.startswith("The quantity ") and len(err.value.message) < 160
