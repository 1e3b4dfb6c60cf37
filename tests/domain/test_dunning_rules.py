"""Pure rules every collections message follows: sending windows, contact fatigue, greeting days,
query SLAs and business-day calendars (no database)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from duly.domain.calendar import HolidayCalendar, WeekdayCalendar, calendar_for
from duly.domain.dunning import FatigueLimits, fatigue_allows, greeting_day, next_send_time, sla_missed
from duly.domain.errors import ValidationError

PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc


def paris(day: str, at: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(at), PARIS)


@pytest.mark.parametrize(("moment", "expected", "why"), [
    (paris("2026-03-04", "10:30"), paris("2026-03-04", "10:30"), "inside the window: at once"),
    (paris("2026-03-04", "03:00"), paris("2026-03-04", "09:00"), "a 03:00 bank import waits for 09:00"),
    (paris("2026-03-04", "17:00"), paris("2026-03-05", "09:00"), "the window closes at 17:00"),
    (paris("2026-03-06", "20:00"), paris("2026-03-09", "09:00"), "Friday evening: Monday morning"),
    (paris("2026-04-03", "18:00"), paris("2026-04-07", "09:00"), "Easter Monday in France"),
])
def test_next_send_time_keeps_to_the_customers_window_and_business_days(moment, expected, why):
    assert next_send_time(moment, "Europe/Paris", (time(9), time(17)), "FR") == expected.astimezone(UTC), why


def test_next_send_time_without_a_country_skips_weekends_only_and_refuses_a_bad_window():
    assert next_send_time(paris("2026-04-03", "18:00"), "Europe/Paris") == paris("2026-04-06", "09:00")
    with pytest.raises(ValidationError):
        next_send_time(paris("2026-04-03", "18:00"), "Europe/Paris", (time(17), time(9)))
    with pytest.raises(ValidationError):
        next_send_time(datetime(2026, 4, 3, 18), "Europe/Paris")  # naive: which zone?


def test_next_send_time_follows_the_countrys_own_weekend_and_regional_holidays():
    kuwait = ZoneInfo("Asia/Kuwait")
    thursday_evening = datetime(2026, 3, 5, 18, 0, tzinfo=kuwait)
    assert next_send_time(thursday_evening, "Asia/Kuwait", country="KW") == datetime(2026, 3, 8, 9, 0, tzinfo=kuwait)
    # Catalonia's National Day, Friday 11 September 2026: Monday 14 in Barcelona, the day itself in Madrid.
    moment = datetime(2026, 9, 11, 10, 0, tzinfo=PARIS)
    assert next_send_time(moment, "Europe/Madrid", country="ES-CT") == datetime(2026, 9, 14, 9, 0, tzinfo=PARIS)
    assert next_send_time(moment, "Europe/Madrid", country="ES-MD") == moment


def test_fatigue_allows_at_most_two_in_seven_days_and_48_hours_between_two():
    limits = FatigueLimits()
    monday = paris("2026-03-02", "10:00")
    assert fatigue_allows([], limits, monday)
    assert not fatigue_allows([monday], limits, monday + timedelta(hours=47))
    assert fatigue_allows([monday], limits, monday + timedelta(hours=48))
    two = [monday, monday + timedelta(days=2)]
    assert not fatigue_allows(two, limits, monday + timedelta(days=6, hours=23))
    assert fatigue_allows(two, limits, monday + timedelta(days=7))
    assert fatigue_allows([monday + timedelta(days=9)], limits, monday)  # later sends are not counted
    assert fatigue_allows([monday], FatigueLimits(max_per_window=None, min_gap_hours=None), monday)


def test_a_greeting_goes_out_on_the_day_or_within_the_grace_days_even_across_new_year():
    assert greeting_day(5, 14, date(2026, 5, 14)) == date(2026, 5, 14)
    assert greeting_day(5, 16, date(2026, 5, 18)) == date(2026, 5, 16)  # Saturday's birthday, on Monday
    assert greeting_day(5, 14, date(2026, 5, 18)) is None  # more than 3 days late: skipped this year
    assert greeting_day(5, 14, date(2026, 5, 13)) is None  # never early
    assert greeting_day(12, 31, date(2027, 1, 2)) == date(2026, 12, 31)
    assert greeting_day(2, 29, date(2027, 2, 28)) == date(2027, 2, 28)  # leap-day birthday


def test_a_query_is_late_when_answered_after_its_sla_day_or_still_open_after_it():
    due = date(2026, 3, 6)
    assert not sla_missed(due, date(2026, 3, 6), date(2026, 3, 9))
    assert sla_missed(due, date(2026, 3, 9), date(2026, 3, 9))
    assert not sla_missed(due, None, date(2026, 3, 6))
    assert sla_missed(due, None, date(2026, 3, 7))


def test_calendar_for_an_unknown_country_counts_weekdays():
    weekdays = calendar_for("XX")
    assert isinstance(weekdays, WeekdayCalendar) and calendar_for(None) == calendar_for("")
    assert weekdays.add_business_days(date(2026, 4, 3), 2) == date(2026, 4, 7)  # Easter Monday counts
    assert calendar_for("FR") == HolidayCalendar("FR")
    assert calendar_for("FR").add_business_days(date(2026, 4, 3), 2) == date(2026, 4, 8)
