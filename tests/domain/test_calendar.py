"""Month arithmetic and business days (no database)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duly.domain.calendar import (
    HolidayCalendar,
    WeekdayCalendar,
    add_months,
    calendar_for,
    check_subdivision,
    days_in_month,
    end_of_month,
    subdivisions,
)
from duly.domain.errors import InvalidTerms, UnknownHolidayCountry, UnknownSubdivision, ValidationError

FR = HolidayCalendar("FR")
DE = HolidayCalendar("DE")
US = HolidayCalendar("US")


# --- month arithmetic -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "anchor", "expected"),
    [
        (date(2026, 1, 31), 1, None, date(2026, 2, 28)),  # clamped to the end of February
        (date(2026, 1, 31), 2, None, date(2026, 3, 31)),  # computed from the 31st, not from Feb 28
        (date(2028, 1, 31), 1, None, date(2028, 2, 29)),  # leap year
        (date(2026, 2, 28), 1, None, date(2026, 3, 28)),  # no anchor: keeps the 28th
        (date(2026, 2, 28), 1, 31, date(2026, 3, 31)),  # anchor 31 brings the schedule back to the 31st
        (date(2026, 2, 28), 1, "last", date(2026, 3, 31)),
        (date(2026, 3, 31), 1, "last", date(2026, 4, 30)),
        (date(2028, 1, 15), 1, "last", date(2028, 2, 29)),
        (date(2026, 1, 30), 1, 30, date(2026, 2, 28)),
        (date(2026, 11, 30), 3, None, date(2027, 2, 28)),  # crosses the year
        (date(2026, 3, 31), -1, None, date(2026, 2, 28)),  # backwards
        (date(2026, 1, 15), -13, None, date(2024, 12, 15)),
        (date(2026, 5, 10), 0, None, date(2026, 5, 10)),
        (date(2026, 5, 10), 0, "last", date(2026, 5, 31)),
    ],
)
def test_add_months(start, months, anchor, expected):
    assert add_months(start, months, anchor_day=anchor) == expected


def test_chained_monthly_schedule_keeps_its_anchor():
    d, seen = date(2026, 1, 31), []
    for _ in range(4):
        d = add_months(d, 1, anchor_day=31)
        seen.append(d)
    assert seen == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31)]


@pytest.mark.parametrize("anchor", [0, 32, "first", True, 1.5])
def test_add_months_rejects_bad_anchor(anchor):
    with pytest.raises(ValidationError, match="anchor_day"):
        add_months(date(2026, 1, 1), 1, anchor_day=anchor)


def test_add_months_rejects_non_integer_months():
    with pytest.raises(ValidationError):
        add_months(date(2026, 1, 1), 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 2, 10), date(2026, 2, 28)),
        (date(2028, 2, 1), date(2028, 2, 29)),  # leap year
        (date(2100, 2, 1), date(2100, 2, 28)),  # divisible by 100: not a leap year
        (date(2000, 2, 1), date(2000, 2, 29)),  # divisible by 400: leap year
        (date(2026, 12, 31), date(2026, 12, 31)),
        (date(2026, 4, 1), date(2026, 4, 30)),
    ],
)
def test_end_of_month(d, expected):
    assert end_of_month(d) == expected
    assert days_in_month(d.year, d.month) == expected.day


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    st.integers(min_value=-600, max_value=600),
    st.one_of(st.none(), st.integers(min_value=1, max_value=31), st.just("last")),
)
def test_add_months_properties(d, n, anchor):
    result = add_months(d, n, anchor_day=anchor)
    assert (result.year * 12 + result.month) - (d.year * 12 + d.month) == n
    wanted = d.day if anchor is None else (31 if anchor == "last" else anchor)
    assert result.day == min(wanted, days_in_month(result.year, result.month))


# --- holidays and business days -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cal", "day", "name"),
    [
        (FR, date(2026, 7, 14), "National Day"),  # Tuesday
        (FR, date(2026, 5, 1), "Labor Day"),  # Friday
        (DE, date(2025, 10, 3), "German Unity Day"),  # Friday
        (US, date(2025, 7, 4), "Independence Day"),  # Friday
        (US, date(2026, 7, 3), "Independence Day (observed)"),  # Friday: 4 July 2026 is a Saturday
    ],
)
def test_national_holidays_are_not_business_days(cal, day, name):
    assert day.weekday() < 5
    assert cal.is_holiday(day)
    assert cal.holiday_name(day) == name
    assert not cal.is_business_day(day)


def test_holidays_differ_by_country():
    assert FR.is_business_day(date(2025, 10, 3))  # German Unity Day is an ordinary Friday in France
    assert DE.is_business_day(date(2026, 7, 14))  # Bastille Day is an ordinary Tuesday in Germany
    assert FR.is_business_day(date(2026, 7, 3)) and not US.is_business_day(date(2026, 7, 3))


def test_weekends_are_not_business_days():
    assert not FR.is_business_day(date(2026, 3, 14))  # Saturday
    assert not FR.is_business_day(date(2026, 3, 15))  # Sunday
    assert FR.is_business_day(date(2026, 3, 16))  # Monday
    assert FR.holiday_name(date(2026, 3, 14)) is None


def test_subdivision_holidays():
    bavaria = HolidayCalendar("DE", "BY")
    epiphany = date(2026, 1, 6)  # Tuesday, a holiday in Bavaria only
    assert not bavaria.is_business_day(epiphany)
    assert DE.is_business_day(epiphany)
    assert bavaria.subdivision == "BY"


def test_next_and_previous_business_day():
    # Thursday 30 April 2026 → Friday 1 May is Labour Day → Monday 4 May.
    assert FR.next_business_day(date(2026, 4, 30)) == date(2026, 5, 4)
    assert DE.next_business_day(date(2026, 4, 30)) == date(2026, 5, 4)
    assert US.next_business_day(date(2026, 4, 30)) == date(2026, 5, 1)
    # Strictly after / before, even from a business day.
    assert FR.next_business_day(date(2026, 3, 16)) == date(2026, 3, 17)
    assert FR.previous_business_day(date(2026, 3, 16)) == date(2026, 3, 13)
    # US: Saturday 4 July 2026, Friday 3 July observed → previous business day is Thursday 2 July.
    assert US.previous_business_day(date(2026, 7, 4)) == date(2026, 7, 2)
    assert US.next_business_day(date(2026, 7, 2)) == date(2026, 7, 6)


def test_add_business_days():
    # Wednesday 29 April 2026 + 2 business days in France: Thu 30 April, (Fri 1 May holiday, weekend), Mon 4 May.
    assert FR.add_business_days(date(2026, 4, 29), 2) == date(2026, 5, 4)
    assert FR.add_business_days(date(2026, 5, 4), -2) == date(2026, 4, 29)
    # From a Saturday: +1 is Monday.
    assert FR.add_business_days(date(2026, 3, 14), 1) == date(2026, 3, 16)
    # Zero: unchanged on a business day, rolled forward otherwise.
    assert FR.add_business_days(date(2026, 3, 16), 0) == date(2026, 3, 16)
    assert FR.add_business_days(date(2026, 3, 14), 0) == date(2026, 3, 16)
    # Ten business days from Monday 13 July 2026 in France skip Tuesday 14 July and the weekends.
    assert FR.add_business_days(date(2026, 7, 13), 10) == date(2026, 7, 28)
    with pytest.raises(ValidationError):
        FR.add_business_days(date(2026, 3, 16), 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("convention", "day", "expected"),
    [
        (None, date(2026, 10, 31), date(2026, 10, 31)),
        ("following", date(2026, 10, 31), date(2026, 11, 2)),  # Sat → (Sun 1 Nov All Saints) → Mon 2 Nov
        ("preceding", date(2026, 10, 31), date(2026, 10, 30)),
        ("modified_following", date(2026, 10, 31), date(2026, 10, 30)),  # following leaves the month → preceding
        ("modified_following", date(2026, 7, 14), date(2026, 7, 15)),  # stays in July → following
        ("following", date(2026, 7, 15), date(2026, 7, 15)),  # a business day is never moved
    ],
)
def test_adjust_conventions(convention, day, expected):
    assert FR.adjust(day, convention) == expected


def test_adjust_rejects_unknown_convention():
    with pytest.raises(ValidationError, match="modified_following"):
        FR.adjust(date(2026, 7, 14), "nearest")


def test_unknown_country_is_a_clear_terms_error():
    with pytest.raises(UnknownHolidayCountry) as exc:
        HolidayCalendar("XX")
    assert isinstance(exc.value, InvalidTerms)
    assert exc.value.code == "unknown_holiday_country"
    assert "XX" in exc.value.message and "FR" in exc.value.message
    for bad in ("", "  ", None):
        with pytest.raises(UnknownHolidayCountry):
            HolidayCalendar(bad)  # type: ignore[arg-type]
    with pytest.raises(UnknownHolidayCountry, match="subdivision"):
        HolidayCalendar("DE", "ZZ")


def test_country_code_is_normalised_and_calendars_compare_by_code():
    assert HolidayCalendar(" fr ") == FR
    assert hash(HolidayCalendar("fr")) == hash(FR)
    assert HolidayCalendar("DE", "by") == HolidayCalendar("DE", "BY") != DE
    assert repr(HolidayCalendar("DE", "BY")) == "HolidayCalendar('DE', 'BY')"


def test_holiday_tables_are_cached_per_year():
    first = FR.holidays_in(2031)
    assert HolidayCalendar("FR").holidays_in(2031) is first  # shared across instances
    assert date(2031, 7, 14) in first and all(d.year == 2031 for d in first)


@given(
    st.sampled_from([FR, DE, US]),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31)),
    st.integers(min_value=-40, max_value=40),
)
def test_add_business_days_lands_on_business_days(cal, d, n):
    result = cal.add_business_days(d, n)
    assert cal.is_business_day(result)
    if n > 0:
        assert result > d
        between = [d + timedelta(days=i) for i in range(1, (result - d).days + 1)]
        assert sum(cal.is_business_day(x) for x in between) == n
    elif n < 0:
        assert result < d
        between = [d - timedelta(days=i) for i in range(1, (d - result).days + 1)]
        assert sum(cal.is_business_day(x) for x in between) == -n


# --- each country's own weekend, and regional holidays (issue 11, item 9) ----------------------------------


@pytest.mark.parametrize("country", ["KW", "BH", "SA", "IL"])
def test_friday_saturday_weekends_come_from_the_country_calendar(country):
    cal = HolidayCalendar(country)
    # Thursday 5 March 2026 is a working day, Friday 6 and Saturday 7 are the weekend, Sunday 8 is a working day.
    assert cal.weekend(2026) == frozenset({4, 5})
    assert [cal.is_weekend(date(2026, 3, d)) for d in (5, 6, 7, 8)] == [False, True, True, False]
    assert cal.next_business_day(date(2026, 3, 5)) == date(2026, 3, 8)
    # A due date on Friday moves to Sunday (following), not to Monday; preceding gives Thursday.
    assert cal.adjust(date(2026, 3, 6), "following") == date(2026, 3, 8)
    assert cal.adjust(date(2026, 3, 7), "preceding") == date(2026, 3, 5)


def test_saturday_sunday_and_friday_only_weekends():
    assert FR.weekend(2026) == frozenset({5, 6}) and not FR.is_weekend(date(2026, 3, 6))
    iran = HolidayCalendar("IR")
    assert iran.weekend(2026) == frozenset({4})
    assert iran.is_business_day(date(2026, 5, 2))  # a Saturday


def test_a_weekend_day_the_country_declares_worked_is_a_business_day():
    china = HolidayCalendar("CN")
    assert date(2026, 2, 14).weekday() == 5 and not china.is_weekend(date(2026, 2, 14))  # make-up Saturday
    assert china.is_business_day(date(2026, 2, 14))
    assert china.is_weekend(date(2026, 2, 7))


@pytest.mark.parametrize(("region", "day", "name"), [
    ("DE-BY", date(2026, 1, 6), "Epiphany"),
    ("ES-CT", date(2026, 9, 11), "National Day of Catalonia"),
    ("US-NY", date(2026, 2, 12), "Lincoln's Birthday"),
])
def test_regional_holidays_are_reached_through_the_subdivision(region, day, name):
    country, _, subdivision = region.partition("-")
    assert not HolidayCalendar(country).is_holiday(day)
    regional = HolidayCalendar(country, region)  # the ISO 3166-2 code, or the part after the dash
    assert regional == HolidayCalendar(country, subdivision) and regional.region == region
    assert regional.holiday_name(day) == name and not regional.is_business_day(day)
    assert calendar_for(region) == regional == calendar_for(country, subdivision)


def test_subdivisions_are_checked_against_the_holiday_data():
    assert check_subdivision("DE", "by") == check_subdivision("de", "DE-BY") == "DE-BY"
    assert check_subdivision("DE", "") == check_subdivision("DE", None) == ""
    assert "ES-CT" in subdivisions("ES") and "DE-Augsburg" not in subdivisions("DE")  # ISO 3166-2 codes only
    with pytest.raises(UnknownSubdivision, match="not in DE") as other_country:
        check_subdivision("DE", "FR-IDF")
    assert other_country.value.code == "unknown_subdivision"
    with pytest.raises(UnknownSubdivision, match="DE-BB, DE-BE"):
        check_subdivision("DE", "ZZ")
    with pytest.raises(UnknownSubdivision, match="subdivision 'Augsburg'"):
        check_subdivision("DE", "Augsburg")
    # An unknown subdivision falls back to the country's calendar, an unknown country to Monday-Friday.
    assert calendar_for("DE", "ZZ") == DE
    assert isinstance(calendar_for("XX"), WeekdayCalendar) and calendar_for(None).weekend(2026) == {5, 6}
