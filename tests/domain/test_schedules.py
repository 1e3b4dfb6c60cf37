"""Billing periods walked through the calendar, proration, trials, pauses, cancellations and changes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duly.domain import errors
from duly.domain.money import round_money
from duly.domain.schedules import (
    DATES_PER_YEAR,
    Interval,
    Pause,
    Period,
    Schedule,
    billing_cycles,
    billing_date,
    cancellation_credit,
    change_proration,
    frequency_of,
    period_containing,
    periods,
    prorate,
    prorate_split,
    proration_ratio,
    split_part,
)

D = Decimal


def starts(ps):
    return [p.start for p in ps]


def assert_contiguous(ps):
    for before, after in zip(ps, ps[1:]):
        assert before.end == after.start


class TestPeriod:
    def test_end_is_exclusive(self):
        march = Period(date(2026, 3, 1), date(2026, 4, 1))
        assert march.days == 31
        assert march.last_day == date(2026, 3, 31)
        assert date(2026, 3, 31) in march and date(2026, 4, 1) not in march

    def test_empty_or_reversed_periods_are_refused(self):
        with pytest.raises(errors.InvalidSchedule, match="must end after it starts"):
            Period(date(2026, 3, 1), date(2026, 3, 1))


class TestMonthlyWalks:
    def test_anchor_31_follows_month_ends_without_drifting(self):
        ps = list(periods(date(2026, 1, 31), "monthly", 31, until=date(2027, 1, 31)))
        assert starts(ps) == [
            date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31),
            date(2026, 6, 30), date(2026, 7, 31), date(2026, 8, 31), date(2026, 9, 30), date(2026, 10, 31),
            date(2026, 11, 30), date(2026, 12, 31),
        ]
        assert ps[-1].end == date(2027, 1, 31)
        assert_contiguous(ps)

    def test_leap_year_february_ends_on_the_29th(self):
        ps = list(periods(date(2028, 1, 31), "monthly", 31, until=date(2028, 4, 1)))
        assert starts(ps) == [date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31)]

    def test_last_means_month_end(self):
        assert list(periods(date(2026, 1, 31), "monthly", "last", until=date(2027, 1, 1))) == \
            list(periods(date(2026, 1, 31), "monthly", 31, until=date(2027, 1, 1)))

    def test_anchor_30_clamps_in_february_then_returns_to_the_30th(self):
        ps = list(periods(date(2026, 1, 30), "monthly", 30, until=date(2026, 5, 1)))
        assert starts(ps) == [date(2026, 1, 30), date(2026, 2, 28), date(2026, 3, 30), date(2026, 4, 30)]

    def test_stub_to_the_first_billing_day_is_prorated_against_its_cycle(self):
        cycles = list(billing_cycles(date(2026, 1, 10), "monthly", 1, until=date(2026, 4, 1)))
        stub = cycles[0]
        assert stub.period == Period(date(2026, 1, 10), date(2026, 2, 1))
        assert stub.whole == Period(date(2026, 1, 1), date(2026, 2, 1))
        assert stub.is_stub and stub.ratio == Fraction(22, 31)
        assert [c.is_stub for c in cycles[1:]] == [False, False]

    def test_stub_before_a_billing_day_later_in_the_start_month(self):
        cycle = next(billing_cycles(date(2026, 3, 10), "monthly", "last", until=date(2026, 5, 1)))
        assert cycle.period == Period(date(2026, 3, 10), date(2026, 3, 31))
        assert cycle.whole == Period(date(2026, 2, 28), date(2026, 3, 31))
        assert cycle.ratio == Fraction(21, 31)

    def test_a_year_of_monthly_periods_on_the_15th_with_a_stub(self):
        ps = list(periods(date(2026, 1, 20), "monthly", 15, until=date(2027, 1, 20)))
        assert len(ps) == 13
        assert ps[0] == Period(date(2026, 1, 20), date(2026, 2, 15))
        assert all(p.start.day == 15 for p in ps[1:])
        assert_contiguous(ps)


class TestOtherIntervals:
    def test_weekly_on_mondays_from_a_thursday(self):
        ps = list(periods(date(2026, 1, 1), "weekly", "monday", until=date(2027, 1, 1)))
        assert ps[0] == Period(date(2026, 1, 1), date(2026, 1, 5))
        assert all(p.start.weekday() == 0 and p.days == 7 for p in ps[1:])
        assert len(ps) == 1 + 52  # the stub, then Mondays 5 Jan .. 28 Dec 2026
        assert_contiguous(ps)

    def test_biweekly_anchored_on_the_start(self):
        ps = list(periods(date(2026, 1, 5), "biweekly", until=date(2027, 1, 4)))
        assert len(ps) == 26
        assert all(p.days == 14 for p in ps)
        assert ps[-1].end == date(2027, 1, 4)

    def test_biweekly_stub_and_whole(self):
        cycle = next(billing_cycles(date(2026, 1, 7), "biweekly", "monday", until=date(2026, 2, 1)))
        assert cycle.period == Period(date(2026, 1, 7), date(2026, 1, 12))
        assert cycle.ratio == Fraction(5, 14)

    def test_quarterly_follows_the_start_month(self):
        cycles = list(billing_cycles(date(2026, 1, 10), "quarterly", 1, until=date(2027, 1, 1)))
        assert [c.period for c in cycles] == [
            Period(date(2026, 1, 10), date(2026, 4, 1)),
            Period(date(2026, 4, 1), date(2026, 7, 1)),
            Period(date(2026, 7, 1), date(2026, 10, 1)),
            Period(date(2026, 10, 1), date(2027, 1, 1)),
        ]
        assert cycles[0].ratio == Fraction(81, 90)

    def test_semiannual_on_month_ends(self):
        ps = list(periods(date(2026, 8, 31), "semiannual", "last", until=date(2028, 9, 1)))
        assert starts(ps) == [date(2026, 8, 31), date(2027, 2, 28), date(2027, 8, 31), date(2028, 2, 29),
                              date(2028, 8, 31)]

    def test_annual_from_29_february_comes_back_in_leap_years(self):
        ps = list(periods(date(2028, 2, 29), "annual", until=date(2033, 1, 1)))
        assert starts(ps) == [date(2028, 2, 29), date(2029, 2, 28), date(2030, 2, 28), date(2031, 2, 28),
                              date(2032, 2, 29)]

    def test_custom_rule_with_a_stub(self):
        interval = Interval.custom("FREQ=MONTHLY;BYMONTHDAY=15")
        cycles = list(billing_cycles(date(2026, 1, 20), interval, until=date(2026, 5, 1)))
        assert [c.period.start for c in cycles] == [date(2026, 1, 20), date(2026, 2, 15), date(2026, 3, 15),
                                                    date(2026, 4, 15)]
        # no occurrence before the start: the stub is measured against the first full period (28 days)
        assert cycles[0].whole == Period(date(2026, 1, 18), date(2026, 2, 15))
        assert cycles[0].ratio == Fraction(26, 28)

    def test_custom_rule_starting_on_an_occurrence(self):
        interval = Interval("custom", "FREQ=WEEKLY;INTERVAL=4")
        ps = list(periods(date(2026, 1, 5), interval, until=date(2026, 3, 31)))
        assert starts(ps) == [date(2026, 1, 5), date(2026, 2, 2), date(2026, 3, 2), date(2026, 3, 30)]

    def test_custom_rule_that_runs_out_ends_the_periods(self):
        interval = Interval.custom("FREQ=MONTHLY;COUNT=3")
        assert len(list(periods(date(2026, 1, 1), interval, until=date(2030, 1, 1)))) == 2
        with pytest.raises(errors.InvalidSchedule, match="no period containing"):
            period_containing(date(2026, 6, 1), date(2026, 1, 1), interval)

    @pytest.mark.parametrize("kind, rule, message", [
        ("fortnightly", None, "Unknown billing interval"),
        ("custom", None, "needs a recurrence rule"),
        ("monthly", "FREQ=MONTHLY", "Only a custom interval"),
        ("custom", "FREQ=SOMETIMES", "Invalid recurrence rule"),
        ("custom", "FREQ=HOURLY", "daily or less often"),
        ("custom", "DTSTART:20260101\nRRULE:FREQ=MONTHLY", "DTSTART"),
    ])
    def test_invalid_intervals(self, kind, rule, message):
        with pytest.raises(errors.InvalidSchedule, match=message):
            Interval(kind, rule)

    @pytest.mark.parametrize("kind, anchor", [
        ("monthly", 0), ("monthly", 32), ("monthly", "first"), ("monthly", True), ("weekly", 3),
        ("weekly", "Monday"), ("annual", "monday"),
    ])
    def test_invalid_anchors(self, kind, anchor):
        with pytest.raises(errors.InvalidSchedule, match="billing day"):
            list(periods(date(2026, 1, 1), kind, anchor, until=date(2026, 2, 1)))

    def test_custom_takes_no_anchor(self):
        with pytest.raises(errors.InvalidSchedule, match="takes no anchor"):
            list(periods(date(2026, 1, 1), Interval.custom("FREQ=DAILY"), 1, until=date(2026, 2, 1)))


class TestPeriodContaining:
    def test_finds_the_stub_and_later_periods(self):
        args = (date(2026, 1, 10), "monthly", 31)
        assert period_containing(date(2026, 1, 10), *args) == Period(date(2026, 1, 10), date(2026, 1, 31))
        assert period_containing(date(2026, 2, 27), *args) == Period(date(2026, 1, 31), date(2026, 2, 28))
        assert period_containing(date(2026, 2, 28), *args) == Period(date(2026, 2, 28), date(2026, 3, 31))
        assert period_containing(date(2036, 4, 30), *args) == Period(date(2036, 4, 30), date(2036, 5, 31))

    def test_before_the_start_is_refused(self):
        with pytest.raises(errors.InvalidSchedule, match="before the schedule starts"):
            period_containing(date(2025, 12, 31), date(2026, 1, 1), "monthly")


class TestBillingDateAndProration:
    march = Period(date(2026, 3, 1), date(2026, 4, 1))

    def test_advance_and_arrears(self):
        assert billing_date(self.march, "advance") == date(2026, 3, 1)
        assert billing_date(self.march, "arrears") == date(2026, 4, 1)
        with pytest.raises(errors.InvalidSchedule, match="advance or arrears"):
            billing_date(self.march, "whenever")

    def test_ratio_is_an_exact_fraction(self):
        assert proration_ratio(Period(date(2026, 3, 11), date(2026, 4, 1)), self.march) == Fraction(21, 31)
        with pytest.raises(errors.InvalidSchedule, match="not inside"):
            proration_ratio(Period(date(2026, 2, 20), date(2026, 3, 5)), self.march)

    def test_prorate_rounds_half_up_once(self):
        # 100.00 × 10 / 31 = 32.2580... → 32.26
        assert prorate(D("100.00"), "EUR", Period(date(2026, 3, 1), date(2026, 3, 11)), self.march) == D("32.26")
        # 1000 yen × 1 / 31 = 32.25... → 32
        assert prorate(D("1000"), "JPY", Period(date(2026, 3, 1), date(2026, 3, 2)), self.march) == D("32")
        assert prorate(D("10.000"), "BHD", self.march, self.march) == D("10.000")

    def test_split_parts_add_up_and_match_prorate(self):
        parts = prorate_split(D("100.00"), "EUR", self.march, [date(2026, 3, 11), date(2026, 3, 21)])
        assert parts == [D("32.26"), D("32.26"), D("35.48")]
        assert sum(parts) == D("100.00")

    def test_split_with_boundary_and_repeated_cuts(self):
        parts = prorate_split(D("31.00"), "EUR", self.march, [date(2026, 3, 1), date(2026, 3, 16), date(2026, 3, 16)])
        assert parts == [D("0.00"), D("15.00"), D("0.00"), D("16.00")]

    def test_a_split_never_has_a_negative_part(self):
        # 0.01 over two days, cut after the first day and on the end: each prorated day would be 0.01
        # (half up), so a remainder-absorbing last part was -0.01. Cumulative rounding gives 0.01 + 0.00 + 0.00.
        two_days = Period(date(2026, 3, 1), date(2026, 3, 3))
        assert prorate_split(D("0.01"), "EUR", two_days, [date(2026, 3, 2), date(2026, 3, 3)]) == [
            D("0.01"), D("0.00"), D("0.00")]
        assert prorate_split(D("0.01"), "EUR", two_days, [date(2026, 3, 2)]) == [D("0.01"), D("0.00")]
        three_days = Period(date(2026, 3, 1), date(2026, 3, 4))
        assert prorate_split(D("0.02"), "EUR", three_days, [date(2026, 3, 2), date(2026, 3, 3)]) == [
            D("0.01"), D("0.00"), D("0.01")]

    def test_split_cut_dates_must_be_ordered_and_inside(self):
        with pytest.raises(errors.InvalidSchedule, match="chronological"):
            prorate_split(D("1"), "EUR", self.march, [date(2026, 3, 20), date(2026, 3, 10)])
        with pytest.raises(errors.InvalidSchedule, match="outside the period"):
            prorate_split(D("1"), "EUR", self.march, [date(2026, 4, 2)])

    def test_floats_are_refused(self):
        with pytest.raises(errors.ValidationError, match="never floats"):
            prorate(31.0, "EUR", self.march, self.march)


class TestCancellationAndChanges:
    march = Period(date(2026, 3, 1), date(2026, 4, 1))

    def test_cancellation_credit_is_the_unused_part(self):
        # 31.00 for March, cancelled on 11 March: 10 days used = 10.00, credit 21.00
        assert cancellation_credit(D("31.00"), "EUR", self.march, date(2026, 3, 11)) == D("21.00")
        assert cancellation_credit(D("31.00"), "EUR", self.march, date(2026, 3, 1)) == D("31.00")
        assert cancellation_credit(D("31.00"), "EUR", self.march, date(2026, 4, 1)) == D("0.00")

    def test_credit_plus_used_is_exactly_the_amount_paid(self):
        used = prorate(D("100.00"), "EUR", Period(date(2026, 3, 1), date(2026, 3, 11)), self.march)
        credit = cancellation_credit(D("100.00"), "EUR", self.march, date(2026, 3, 11))
        assert (used, credit) == (D("32.26"), D("67.74"))
        assert credit == prorate_split(D("100.00"), "EUR", self.march, [date(2026, 3, 11)])[1]

    def test_cancel_date_outside_the_period(self):
        with pytest.raises(errors.InvalidSchedule, match="outside the period"):
            cancellation_credit(D("1"), "EUR", self.march, date(2026, 4, 2))

    def test_upgrade_mid_period(self):
        # 31.00 → 62.00 on 16 March: 16 of 31 days remain
        change = change_proration(D("31.00"), D("62.00"), "EUR", self.march, date(2026, 3, 16))
        assert change == (D("16.00"), D("32.00"))
        credit, charge = change
        assert change.net == D("16.00") == charge - credit

    def test_a_pause_is_never_taken_off_the_rest_twice(self):
        # Flat 100.00 for April (30 days), paused 6-10 April: 25 days invoiced, 100 × 25/30 = 83.33.
        april = Period(date(2026, 4, 1), date(2026, 5, 1))
        paused = [Pause(date(2026, 4, 6), date(2026, 4, 11))]
        # Cancelled on 16 April: the 15 days left are credited at 15/30 of the undiscounted 100.00.
        split = split_part(D("100.00"), "EUR", april, date(2026, 4, 16), pauses=paused)
        assert (split.billed, split.used, split.unused) == (D("83.33"), D("33.33"), D("50.00"))
        assert cancellation_credit(D("100.00"), "EUR", april, date(2026, 4, 16), pauses=paused) == D("50.00")
        # 10 → 15 seats at 10.00 on 16 April: 150 × 15/30 − 100 × 15/30 = 75.00 − 50.00 = 25.00.
        change = change_proration(D("100.00"), D("150.00"), "EUR", april, date(2026, 4, 16), pauses=paused)
        assert change == (D("50.00"), D("75.00")) and change.net == D("25.00")
        # Cancelled inside the pause, on 8 April: the 20 unpaused days after it (100 × 20/30 = 66.666…) are
        # credited as invoiced − used = 83.33 − 16.67 = 66.66, so used + credit = invoiced, to the cent.
        assert cancellation_credit(D("100.00"), "EUR", april, date(2026, 4, 8), pauses=paused) == D("66.66")

    def test_a_part_of_the_cycle_is_priced_on_the_whole_cycle(self):
        # An item added on 11 April was billed 100 × 20/30 = 66.67; removed on 21 April: 100 × 10/30 = 33.33.
        april = Period(date(2026, 4, 1), date(2026, 5, 1))
        part = Period(date(2026, 4, 11), date(2026, 5, 1))
        split = split_part(D("100.00"), "EUR", part, date(2026, 4, 21), whole=april)
        assert (split.billed, split.used, split.unused) == (D("66.67"), D("33.33"), D("33.34"))
        with pytest.raises(errors.InvalidSchedule, match="not inside"):
            split_part(D("1"), "EUR", april, date(2026, 4, 21), whole=part)

    def test_downgrade_gives_a_net_credit(self):
        change = change_proration(D("100.00"), D("40.00"), "EUR", self.march, date(2026, 3, 11))
        assert change.credit_for_unused_old == D("67.74")
        assert change.charge_for_remaining_new == D("27.10")  # 40.00 − 40.00 × 10/31 (12.90)
        assert change.net == D("-40.64")


class TestSubscriptionWalks:
    def test_trial_then_monthly_on_the_first(self):
        """Diary: free from 1 to 14 January; 17 days of January billed on the 15th, then each 1st."""
        schedule = Schedule(date(2026, 1, 1), Interval("monthly"), 1, trial_end=date(2026, 1, 15))
        assert schedule.trial == Period(date(2026, 1, 1), date(2026, 1, 15))
        charges = list(schedule.charges(D("31.00"), "EUR", until=date(2027, 1, 1)))
        first = charges[0]
        assert (first.period, first.amount, first.billing_date) == (
            Period(date(2026, 1, 15), date(2026, 2, 1)), D("17.00"), date(2026, 1, 15))
        assert first.note == "17 of 31 days: starts mid-cycle"
        assert [c.billing_date for c in charges[1:]] == [date(2026, m, 1) for m in range(2, 13)]
        assert all(c.amount == D("31.00") and c.note == "full period" for c in charges[1:])

    def test_trial_without_anchor_anchors_on_the_trial_end(self):
        schedule = Schedule(date(2026, 1, 1), Interval("monthly"), trial_end=date(2026, 1, 31))
        assert list(schedule.periods(until=date(2026, 4, 1))) == [
            Period(date(2026, 1, 31), date(2026, 2, 28)),
            Period(date(2026, 2, 28), date(2026, 3, 31)),
            Period(date(2026, 3, 31), date(2026, 4, 30)),
        ]

    def test_pauses_skip_whole_periods_and_prorate_partial_ones(self):
        schedule = Schedule(
            date(2026, 1, 1), Interval("monthly"), 1,
            pauses=((date(2026, 3, 1), date(2026, 4, 1)), Pause(date(2026, 5, 22), date(2026, 6, 11))),
        )
        charges = {c.period.start: c for c in schedule.charges(D("31.00"), "EUR", until=date(2026, 7, 1))}
        assert date(2026, 3, 1) not in charges  # paused the whole of March: nothing billed
        may, june = charges[date(2026, 5, 1)], charges[date(2026, 6, 1)]
        assert (may.billable_days, may.ratio, may.amount) == (21, Fraction(21, 31), D("21.00"))
        assert may.note == "21 of 31 days: paused 10 days"
        assert (june.billable_days, june.amount) == (20, D("20.67"))  # 31.00 × 20/30 = 20.666...
        assert charges[date(2026, 4, 1)].amount == D("31.00")

    def test_overlapping_pauses_are_merged(self):
        schedule = Schedule(date(2026, 1, 1), Interval("monthly"), pauses=(
            (date(2026, 2, 10), date(2026, 2, 20)), (date(2026, 2, 15), date(2026, 2, 25))))
        assert schedule.pauses == (Pause(date(2026, 2, 10), date(2026, 2, 25)),)
        assert schedule.paused_days(Period(date(2026, 2, 1), date(2026, 3, 1))) == 15

    def test_end_date_cuts_and_prorates_the_last_period(self):
        schedule = Schedule(date(2026, 1, 1), Interval("monthly"), end=date(2026, 3, 11))
        charges = list(schedule.charges(D("31.00"), "EUR", until=date(2027, 1, 1), timing="arrears"))
        assert [c.period for c in charges] == [
            Period(date(2026, 1, 1), date(2026, 2, 1)),
            Period(date(2026, 2, 1), date(2026, 3, 1)),
            Period(date(2026, 3, 1), date(2026, 3, 11)),
        ]
        assert charges[-1].amount == D("10.00")
        assert charges[-1].billing_date == date(2026, 3, 11)
        assert charges[-1].note == "10 of 31 days: ends mid-cycle"

    def test_cancel_at_period_end_versus_immediately(self):
        """Diary: paid 31.00 on 1 March; on 11 March the customer cancels."""
        schedule = Schedule(date(2026, 1, 1), Interval("monthly"), 1)
        at_end = schedule.cancel(date(2026, 3, 11), at_period_end=True)
        assert at_end.end == date(2026, 4, 1)
        assert [c.period.start for c in at_end.charges(D("31.00"), "EUR", until=date(2027, 1, 1))][-1] == \
            date(2026, 3, 1)

        now = schedule.cancel(date(2026, 3, 11), at_period_end=False)
        assert now.end == date(2026, 3, 11)
        march = Period(date(2026, 3, 1), date(2026, 4, 1))
        assert cancellation_credit(D("31.00"), "EUR", march, date(2026, 3, 11)) == D("21.00")
        # billed in arrears, the cut period charges exactly what the credit does not refund
        last = list(now.charges(D("31.00"), "EUR", until=date(2027, 1, 1), timing="arrears"))[-1]
        assert last.amount == D("10.00")

    def test_cancel_during_trial(self):
        schedule = Schedule(date(2026, 1, 1), Interval("monthly"), trial_end=date(2026, 1, 15))
        assert schedule.cancel(date(2026, 1, 5), at_period_end=True).end == date(2026, 1, 15)
        cancelled = schedule.cancel(date(2026, 1, 5), at_period_end=False)
        assert list(cancelled.charges(D("10"), "EUR", until=date(2027, 1, 1))) == []

    def test_cancel_keeps_an_earlier_end(self):
        schedule = Schedule(date(2026, 1, 1), Interval("monthly"), end=date(2026, 2, 1))
        assert schedule.cancel(date(2026, 6, 1), at_period_end=True) is schedule

    def test_mid_period_quantity_change_walk(self):
        """Diary: 10 seats at 3.10 = 31.00 per March, 20 seats from 16 March."""
        schedule = Schedule(date(2026, 1, 1), Interval("monthly"), 1)
        period = schedule.period_containing(date(2026, 3, 16))
        assert period == Period(date(2026, 3, 1), date(2026, 4, 1))
        change = change_proration(D("31.00"), D("62.00"), "EUR", period, date(2026, 3, 16))
        assert (change.credit_for_unused_old, change.charge_for_remaining_new, change.net) == (
            D("16.00"), D("32.00"), D("16.00"))

    def test_schedule_validation(self):
        with pytest.raises(errors.InvalidSchedule, match="trial cannot end before"):
            Schedule(date(2026, 1, 10), Interval("monthly"), trial_end=date(2026, 1, 1))
        with pytest.raises(errors.InvalidSchedule, match="resume after it starts"):
            Schedule(date(2026, 1, 1), Interval("monthly"), pauses=((date(2026, 2, 1), date(2026, 2, 1)),))
        with pytest.raises(errors.InvalidSchedule, match="advance or arrears"):
            list(Schedule(date(2026, 1, 1), Interval("monthly")).charges(D(1), "EUR", until=date(2026, 2, 1),
                                                                         timing="later"))
        with pytest.raises(errors.InvalidSchedule, match="before billing starts"):
            Schedule(date(2026, 1, 1), "monthly", trial_end=date(2026, 1, 15)).period_containing(date(2026, 1, 2))


# --------------------------------------------------------------------------- properties

DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))
AMOUNTS = st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
CURRENCIES = st.sampled_from(["EUR", "JPY", "BHD"])


@st.composite
def intervals_and_anchors(draw):
    kind = draw(st.sampled_from(["weekly", "biweekly", "monthly", "quarterly", "semiannual", "annual", "custom"]))
    if kind in ("weekly", "biweekly"):
        anchor = draw(st.none() | st.sampled_from(["monday", "wednesday", "sunday"]))
        return Interval(kind), anchor
    if kind == "custom":
        rule = draw(st.sampled_from(["FREQ=MONTHLY;BYMONTHDAY=15", "FREQ=MONTHLY;BYMONTHDAY=1,16",
                                     "FREQ=WEEKLY;BYDAY=FR", "FREQ=DAILY;INTERVAL=10"]))
        return Interval.custom(rule), None
    return Interval(kind), draw(st.none() | st.integers(min_value=1, max_value=31) | st.just("last"))


@given(intervals_and_anchors(), DATES)
def test_periods_are_contiguous_without_gaps_or_overlaps(interval_anchor, start):
    interval, anchor = interval_anchor
    until = start + timedelta(days=800)
    cycles = list(billing_cycles(start, interval, anchor, until=until))
    assert cycles[0].period.start == start
    assert cycles[-1].period.end >= until
    for before, after in zip(cycles, cycles[1:]):
        assert before.period.end == after.period.start
    for cycle in cycles:
        assert cycle.whole.start <= cycle.period.start < cycle.period.end == cycle.whole.end
        assert not cycle.is_stub or cycle is cycles[0]


@given(intervals_and_anchors(), DATES, st.integers(min_value=0, max_value=1500))
def test_period_containing_contains_the_day(interval_anchor, start, offset):
    interval, anchor = interval_anchor
    day = start + timedelta(days=offset)
    assert day in period_containing(day, start, interval, anchor)


@given(AMOUNTS, CURRENCIES, DATES, st.integers(min_value=1, max_value=400),
       st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_prorated_parts_always_add_up_to_the_whole(amount, currency, start, days, offsets):
    whole = Period(start, start + timedelta(days=days))
    cuts = sorted(start + timedelta(days=min(o, days)) for o in offsets)
    parts = prorate_split(amount, currency, whole, cuts)
    assert len(parts) == len(cuts) + 1
    assert sum(parts) == round_money(amount, currency)
    # Every part has the sign of the amount (never a negative part of a positive price) ...
    assert all(part * amount >= 0 for part in parts)
    # ... and the parts up to each cut add up to the prorated price of the days up to it, exactly.
    for k, cut in enumerate(cuts, start=1):
        upto = prorate(amount, currency, Period(start, cut), whole) if cut > start else D(0)
        assert sum(parts[:k]) == upto
        assert abs(parts[k - 1] - amount * D(((cut - (cuts[k - 2] if k > 1 else start)).days)) / days) < D(
            1).scaleb(-{"EUR": 2, "JPY": 0, "BHD": 3}[currency]) * 2


@given(AMOUNTS, AMOUNTS, CURRENCIES, DATES, st.integers(min_value=1, max_value=400),
       st.integers(min_value=0, max_value=400))
def test_used_plus_credit_is_the_amount_paid(old, new, currency, start, days, offset):
    period = Period(start, start + timedelta(days=days))
    change_date = start + timedelta(days=min(offset, days))
    credit = cancellation_credit(old, currency, period, change_date)
    used = round_money(old, currency) if change_date == period.end else (
        D(0) if change_date == start else prorate(old, currency, Period(start, change_date), period))
    assert used + credit == round_money(old, currency)
    change = change_proration(old, new, currency, period, change_date)
    assert change.credit_for_unused_old == credit
    assert change.charge_for_remaining_new == cancellation_credit(new, currency, period, change_date)


# --------------------------------------------------------------------------- agreed frequency


@pytest.mark.parametrize("rule, frequency", [
    ("FREQ=WEEKLY", "weekly"),
    ("FREQ=WEEKLY;INTERVAL=2;BYDAY=FR", "biweekly"),
    ("FREQ=MONTHLY;BYDAY=1MO", "monthly"),  # gaps of 28 or 35 days: still twelve dates a year
    ("FREQ=MONTHLY;BYMONTHDAY=-1", "monthly"),
    ("FREQ=MONTHLY;COUNT=4", "monthly"),
    ("FREQ=MONTHLY;INTERVAL=3", "quarterly"),
    ("FREQ=MONTHLY;INTERVAL=6", "semiannual"),
    ("FREQ=YEARLY", "annual"),
    ("FREQ=MONTHLY;BYMONTHDAY=1,15", None),  # twice a month: no agreed frequency
    ("FREQ=MONTHLY;BYMONTHDAY=31", None),  # seven months a year have a 31st
    ("FREQ=DAILY;INTERVAL=10", None),
    ("FREQ=MONTHLY;COUNT=1", None),  # one date: no cadence
])
def test_a_custom_rule_bills_at_the_frequency_with_as_many_dates_a_year(rule, frequency):
    assert frequency_of(Interval.custom(rule), date(2026, 1, 1)) == frequency


def test_a_fixed_interval_bills_at_its_own_frequency():
    for kind in DATES_PER_YEAR:
        assert frequency_of(kind, date(2026, 1, 31)) == kind
    with pytest.raises(errors.InvalidSchedule):
        frequency_of("fortnightly", date(2026, 1, 1))
