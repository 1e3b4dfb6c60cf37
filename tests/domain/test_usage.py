"""Usage aggregation over a period, seat averages from daily snapshots, and the invoice summary line."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duly.domain import errors
from duly.domain.money import MONEY_CONTEXT
from duly.domain.schedules import Period
from duly.domain.usage import UsageEvent, aggregate, average_daily_count, format_period, usage_summary

D = Decimal


def ratio(numerator: int, denominator: int) -> Decimal:
    """The exact quotient at the 50-digit money precision the rules use."""
    return MONEY_CONTEXT.divide(D(numerator), D(denominator))


UTC = timezone.utc
PARIS = timezone(timedelta(hours=1))
START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
MARCH = Period(date(2026, 3, 1), date(2026, 4, 1))


def at(day, hour=0, tz=UTC):
    return datetime(2026, 3, day, hour, tzinfo=tz) if day <= 31 else datetime(2026, 4, day - 31, hour, tzinfo=tz)


def event(key, when, value, metric="api_calls", **properties):
    return UsageEvent(key, when, metric, D(value), properties)


CALLS = [
    event("e1", at(1), "10", user="ana"),
    event("e2", at(5, 12), "25", user="ben"),
    event("e3", at(5, 12), "5", user="ana"),
    event("e4", at(31, 23), "7", user="cleo"),
    event("before", datetime(2026, 2, 28, 23, tzinfo=UTC), "1000", user="dan"),
    event("at-end", END, "1000", user="eve"),
]


class TestAggregations:
    def test_sum_count_max_over_the_half_open_window(self):
        assert aggregate("sum", CALLS, START, END) == D("47")
        assert aggregate("count", CALLS, START, END) == D("4")
        assert aggregate("max", CALLS, START, END) == D("25")

    def test_unique_count_of_a_property_or_of_the_value(self):
        assert aggregate("unique_count", CALLS, START, END, unique_property="user") == D("3")
        assert aggregate("unique_count", CALLS, START, END) == D("4")
        without = [*CALLS, event("e5", at(9), "1")]
        assert aggregate("unique_count", without, START, END, unique_property="user") == D("3")

    def test_last_breaks_timestamp_ties_by_key(self):
        assert aggregate("last", CALLS[:3], START, END) == D("5")  # e2 and e3 at the same instant: e3
        assert aggregate("last", CALLS, START, END) == D("7")
        assert aggregate("last", [], START, END) == D("0")
        assert aggregate("last", [], START, END, initial=D("12")) == D("12")

    def test_empty_period(self):
        for kind in ("sum", "count", "max", "unique_count"):
            assert aggregate(kind, [], START, END) == 0

    def test_offsets_are_compared_as_instants(self):
        # 00:30 on 1 March in UTC+1 is 23:30 on 28 February in UTC: outside March
        early = event("p1", datetime(2026, 3, 1, 0, 30, tzinfo=PARIS), "3")
        assert aggregate("count", [early], START, END) == 0

    def test_retried_event_counts_once_but_conflicting_keys_are_refused(self):
        assert aggregate("sum", [*CALLS, event("e1", at(1), "10", user="ana")], START, END) == D("47")
        with pytest.raises(errors.DuplicateUsageEvent, match="'e1'"):
            aggregate("sum", [*CALLS, event("e1", at(1), "11")], START, END)


class TestTimeWeightedAverage:
    def test_seats_hold_until_the_next_event(self):
        seats = [event("s1", at(1), "10", "seats"), event("s2", at(16), "20", "seats")]
        # 10 seats for 15 days, 20 seats for 16 days: (150 + 320) / 31
        assert aggregate("time_weighted_average", seats, START, END) == ratio(470, 31)

    def test_level_before_the_first_event_is_zero_or_initial(self):
        seats = [event("s1", at(11), "31", "seats")]
        assert aggregate("time_weighted_average", seats, START, END) == D(21)  # 31 × 21 / 31
        assert aggregate("time_weighted_average", seats, START, END, initial=D(62)) == D(41)  # (620 + 651) / 31

    def test_events_before_the_period_set_the_opening_level(self):
        seats = [event("old", datetime(2026, 1, 20, tzinfo=UTC), "8", "seats"), event("s1", at(17), "39", "seats")]
        # 8 for 16 days, 39 for 15 days: (128 + 585) / 31 = 23
        assert aggregate("time_weighted_average", seats, START, END) == D(23)

    def test_events_at_or_after_the_end_are_ignored_and_hours_count(self):
        day = datetime(2026, 3, 1, tzinfo=UTC)
        seats = [event("a", day + timedelta(hours=6), "4", "seats"),
                 event("b", day + timedelta(hours=24), "100", "seats")]
        assert aggregate("time_weighted_average", seats, day, day + timedelta(days=1)) == D(3)  # 4 × 18/24

    def test_a_local_window_across_a_daylight_saving_change_counts_elapsed_hours(self):
        from zoneinfo import ZoneInfo

        paris = ZoneInfo("Europe/Paris")  # clocks go forward on 29 March 2026: March has 743 hours there
        start, end = datetime(2026, 3, 1, tzinfo=paris), datetime(2026, 4, 1, tzinfo=paris)
        seats = [event("s1", datetime(2026, 3, 15, 23, tzinfo=UTC), "20", "seats")]  # 16 March 00:00 in Paris
        # 0 seats for 15 days (360 h), 20 seats for 16 days less the lost hour (383 h): 7,660 / 743.
        assert aggregate("time_weighted_average", seats, start, end) == ratio(7660, 743)
        assert aggregate("time_weighted_average", [], start, end, initial=D(7)) == D(7)

    def test_same_instant_last_key_wins(self):
        seats = [event("a", at(1), "50", "seats"), event("b", at(1), "10", "seats")]
        assert aggregate("time_weighted_average", seats, START, END) == D(10)


class TestValidation:
    def test_unknown_aggregation(self):
        with pytest.raises(errors.UnknownAggregation, match="'median'") as info:
            aggregate("median", CALLS, START, END)
        assert isinstance(info.value, errors.InvalidPricing)
        assert info.value.code == "unknown_aggregation"

    @pytest.mark.parametrize("value, message", [
        ("-1", "cannot be negative"), ("ten", "Not a number"), ("NaN", "finite"), (True, "Not a number"),
    ])
    def test_invalid_values(self, value, message):
        with pytest.raises(errors.InvalidUsageValue, match=message):
            UsageEvent("k", at(1), "api_calls", value)

    def test_floats_are_refused(self):
        with pytest.raises(errors.InvalidUsageValue, match="never a float"):
            UsageEvent("k", at(1), "api_calls", 1.5)

    def test_naive_timestamps_are_refused(self):
        with pytest.raises(errors.ValidationError, match="timezone-aware"):
            UsageEvent("k", datetime(2026, 3, 1), "api_calls", D(1))
        with pytest.raises(errors.ValidationError, match="timezone-aware"):
            aggregate("sum", [], datetime(2026, 3, 1), END)

    def test_mixed_metrics_and_misplaced_options(self):
        with pytest.raises(errors.ValidationError, match="one metric at a time"):
            aggregate("sum", [event("a", at(1), "1"), event("b", at(1), "1", "seats")], START, END)
        with pytest.raises(errors.ValidationError, match="unique_property only applies"):
            aggregate("sum", CALLS, START, END, unique_property="user")
        with pytest.raises(errors.ValidationError, match="initial only applies"):
            aggregate("max", CALLS, START, END, initial=D(1))
        with pytest.raises(errors.InvalidUsageValue, match="initial value cannot be negative"):
            aggregate("last", CALLS, START, END, initial=D(-1))
        with pytest.raises(errors.ValidationError, match="must end after it starts"):
            aggregate("sum", CALLS, END, START)

    def test_unhashable_unique_property(self):
        with pytest.raises(errors.InvalidUsageValue, match="cannot be counted"):
            aggregate("unique_count", [event("a", at(1), "1", tags=["x"])], START, END, unique_property="tags")

    def test_events_are_immutable_snapshots(self):
        props = {"user": "ana"}
        e = UsageEvent("k", at(1), "api_calls", "2", props)
        props["user"] = "ben"
        assert e.properties["user"] == "ana" and e.value == D(2)
        with pytest.raises(TypeError):
            e.properties["user"] = "zoe"  # type: ignore[index]
        assert hash(e) == hash(UsageEvent("k", at(1), "api_calls", D(2), {"user": "ana"}))


class TestSeatSnapshots:
    def test_missing_days_carry_the_previous_count(self):
        """Diary: 40 seats since February; 42 from 10 March; 41 from 20 March."""
        snapshots = {date(2026, 2, 27): 40, date(2026, 3, 10): 42, date(2026, 3, 20): 41}
        # 9 × 40 + 10 × 42 + 12 × 41 = 360 + 420 + 492 = 1272; 1272 / 31 = 41.03...
        average = average_daily_count(snapshots, MARCH)
        assert average == ratio(1272, 31)
        assert usage_summary("average_daily", average, "active seats", MARCH) == \
            "average 41.0 active seats, 1–31 March 2026"

    def test_days_before_the_first_snapshot_count_zero(self):
        # 0 for 1–10 March, then 62: 21 × 62 / 31 = 42
        assert average_daily_count({date(2026, 3, 11): 62}, MARCH) == D(42)
        assert average_daily_count({}, MARCH) == 0

    def test_daily_snapshots_every_day(self):
        counts = {MARCH.start + timedelta(days=i): 40 + (i % 3) for i in range(31)}
        # i % 3 over 31 days: eleven 0s, ten 1s, ten 2s -> 40 × 31 + 10 + 20 = 1270
        assert average_daily_count(counts, MARCH) == ratio(1270, 31)
        assert usage_summary("average_daily", average_daily_count(counts, MARCH), "active seats", MARCH) == \
            "average 41.0 active seats, 1–31 March 2026"

    def test_later_snapshots_do_not_leak_backwards(self):
        assert average_daily_count({date(2026, 4, 5): 100, date(2026, 3, 1): 31}, MARCH) == D(31)

    @pytest.mark.parametrize("count", [-1, 1.5, "3", True, D("2")])
    def test_counts_must_be_whole_non_negative_integers(self, count):
        with pytest.raises(errors.InvalidUsageValue):
            average_daily_count({date(2026, 3, 1): count}, MARCH)

    def test_seat_average_rounds_to_41_3_in_the_summary(self):
        # 1280 seat-days / 31 = 41.29... → "41.3"
        snapshots = {date(2026, 3, 1): 41, date(2026, 3, 23): 42}  # 22 × 41 + 9 × 42 = 902 + 378 = 1280
        average = average_daily_count(snapshots, MARCH)
        assert usage_summary("average_daily", average, "active seats", MARCH) == \
            "average 41.3 active seats, 1–31 March 2026"


class TestSummary:
    @pytest.mark.parametrize("kind, value, text", [
        ("sum", D("1250"), "total 1250 API calls, 1–31 March 2026"),
        ("count", D("12"), "12 API calls, 1–31 March 2026"),
        ("max", D("9.50"), "peak 9.50 API calls, 1–31 March 2026"),
        ("unique_count", D("3"), "3 unique API calls, 1–31 March 2026"),
        ("last", D("1E+3"), "latest 1000 API calls, 1–31 March 2026"),
        ("time_weighted_average", D("41.25"), "average 41.3 API calls, 1–31 March 2026"),
    ])
    def test_kinds(self, kind, value, text):
        assert usage_summary(kind, value, "API calls", MARCH) == text

    @pytest.mark.parametrize("period, text", [
        (Period(date(2026, 3, 5), date(2026, 3, 6)), "5 March 2026"),
        (Period(date(2026, 3, 15), date(2026, 4, 15)), "15 March – 14 April 2026"),
        (Period(date(2025, 12, 15), date(2026, 1, 15)), "15 December 2025 – 14 January 2026"),
    ])
    def test_period_text(self, period, text):
        assert format_period(period) == text

    def test_unknown_kind(self):
        with pytest.raises(errors.UnknownAggregation):
            usage_summary("mean", D(1), "seats", MARCH)


VALUES = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=31 * 24 - 1), VALUES), max_size=30))
def test_time_weighted_average_lies_between_the_levels(points):
    events = [event(f"k{i}", START + timedelta(hours=h), v, "seats") for i, (h, v) in enumerate(points)]
    average = aggregate("time_weighted_average", events, START, END)
    levels = [D(0), *(e.value for e in events)]
    assert min(levels) <= average <= max(levels)


@given(st.dictionaries(st.integers(min_value=-10, max_value=40), st.integers(min_value=0, max_value=500), max_size=20))
def test_seat_average_matches_a_day_by_day_count(offsets):
    snapshots = {MARCH.start + timedelta(days=o): c for o, c in offsets.items()}
    level = 0
    earlier = [d for d in snapshots if d < MARCH.start]
    if earlier:
        level = snapshots[max(earlier)]
    total = 0
    for i in range(31):
        level = snapshots.get(MARCH.start + timedelta(days=i), level)
        total += level
    assert average_daily_count(snapshots, MARCH) == ratio(total, 31)
