"""Dunning asks the domain's one business-day calendar, and the one time-zone helper."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from duly.domain import dunning
from duly.domain.calendar import HolidayCalendar, WeekdayCalendar, holiday_region, region_calendar, zone
from duly.domain.errors import UnknownHolidayCountry, ValidationError


def test_zone_gives_the_iana_zone_and_refuses_an_unknown_name():
    assert zone("Europe/Paris") is ZoneInfo("Europe/Paris")
    with pytest.raises(ValidationError, match="Unknown time zone 'Nowhere/Town'"):
        zone("Nowhere/Town")
    with pytest.raises(ValidationError):
        zone("")


def test_zone_falls_back_to_a_default_when_asked():
    assert zone("Nowhere/Town", default="UTC") is ZoneInfo("UTC")
    assert zone("", default="UTC") is ZoneInfo("UTC")
    assert zone("Europe/Berlin", default="UTC") is ZoneInfo("Europe/Berlin")


def test_region_calendar_is_the_holiday_calendar_of_a_region_and_refuses_unknown_ones():
    assert region_calendar("FR") == HolidayCalendar("FR")
    assert region_calendar("US-CA") == HolidayCalendar("US", "CA")
    assert isinstance(region_calendar(None), WeekdayCalendar)
    with pytest.raises(UnknownHolidayCountry):
        region_calendar("XX")


def test_dunning_business_days_are_the_calendars():
    assert dunning.business_calendar is region_calendar
    for day in (date(2026, 7, 14), date(2026, 7, 15), date(2026, 7, 18)):
        assert dunning.is_business_day(day, "FR") == HolidayCalendar("FR").is_business_day(day)


def test_holiday_region_names_known_countries_only():
    assert holiday_region("FR") == "FR"
    assert holiday_region("DE", "DE-BY") == "DE-BY"
    assert holiday_region("XX") is None
    assert holiday_region("") is None
    assert holiday_region("fr") is None  # stored codes are upper case: as the calculator always had it
