"""What is billed on which date: billing slots, prorated recurring charges, metered shares and their wording."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from duly.domain import errors, pricing
from duly.domain.billing_plan import (
    SubscriptionPlan,
    billable_quantity,
    commitment_share,
    describe_model,
    fixed_charge,
    parse_anchor,
    plain_quantity,
    slots,
)
from duly.domain.schedules import Pause, Period

D = Decimal
JAN, FEB, MAR = (Period(date(2026, m, 1), date(2026, m + 1, 1)) for m in (1, 2, 3))


def _keys(found):
    return [(s.key, s.billing_date, s.cycle.period if s.cycle else None, s.usage) for s in found]


# --- slots ---------------------------------------------------------------------------------------------------
def test_arrears_bills_each_period_and_its_usage_at_its_end():
    plan = SubscriptionPlan(start=date(2026, 1, 1), interval="monthly", anchor=1, timing="arrears", metered=True)
    due, nxt = slots(plan, last_key=None, as_of=date(2026, 3, 1))
    assert _keys(due) == [(date(2026, 1, 1), date(2026, 2, 1), JAN, JAN),
                          (date(2026, 2, 1), date(2026, 3, 1), FEB, FEB)]
    assert (nxt.key, nxt.billing_date, nxt.usage, nxt.usage_whole) == (date(2026, 3, 1), date(2026, 4, 1), MAR, MAR)
    # Nothing is due before the first period ends.
    assert slots(plan, last_key=None, as_of=date(2026, 1, 31))[0] == []


def test_advance_bills_the_period_ahead_plus_the_usage_of_the_previous_one_and_closes_with_the_last_usage():
    plan = SubscriptionPlan(start=date(2026, 1, 1), interval="monthly", anchor=1, end=date(2026, 3, 1),
                            timing="advance", metered=True)
    due, nxt = slots(plan, last_key=None, as_of=date(2026, 12, 31))
    assert nxt is None
    assert _keys(due) == [
        (date(2026, 1, 1), date(2026, 1, 1), JAN, None),  # nothing used yet
        (date(2026, 2, 1), date(2026, 2, 1), FEB, JAN),
        (date(2026, 3, 1), date(2026, 3, 1), None, FEB),  # the closing slot, keyed on the end date: usage only
    ]
    assert due[-1].previous_start == date(2026, 2, 1) and due[-1].usage_whole == FEB
    # Without metered prices there is no closing slot.
    recurring = SubscriptionPlan(start=date(2026, 1, 1), interval="monthly", anchor=1, end=date(2026, 3, 1))
    assert [s.key for s in slots(recurring, last_key=None, as_of=date(2026, 12, 31))[0]] == [
        date(2026, 1, 1), date(2026, 2, 1)]


def test_slots_after_the_last_billed_key_and_the_same_calendar_when_restarted():
    plan = SubscriptionPlan(start=date(2025, 11, 1), interval="monthly", anchor=1, timing="arrears")
    after, nxt = slots(plan, last_key=date(2026, 1, 1), as_of=date(2026, 4, 1))
    assert [(s.key, s.billing_date) for s in after] == [(date(2026, 2, 1), date(2026, 3, 1)),
                                                         (date(2026, 3, 1), date(2026, 4, 1))]
    full, _ = slots(plan, last_key=None, as_of=date(2026, 4, 1))
    assert [(s.key, s.billing_date, s.cycle) for s in full if s.key > date(2026, 1, 1)] == [
        (s.key, s.billing_date, s.cycle) for s in after]
    assert nxt.billing_date == date(2026, 5, 1)


def test_a_stub_and_a_trial_start_the_calendar():
    stub = SubscriptionPlan(start=date(2026, 1, 10), interval="monthly", anchor=1)
    first = slots(stub, last_key=None, as_of=date(2026, 1, 10))[0][0]
    assert (first.key, first.cycle.period, first.cycle.whole) == (
        date(2026, 1, 10), Period(date(2026, 1, 10), date(2026, 2, 1)), JAN)
    trial = SubscriptionPlan(start=date(2026, 1, 1), interval="monthly", trial_end=date(2026, 1, 15))
    due, nxt = slots(trial, last_key=None, as_of=date(2026, 1, 14))
    assert due == [] and (nxt.key, nxt.billing_date) == (date(2026, 1, 15), date(2026, 1, 15))


def test_month_end_anchor_walks_jan_31_feb_28_mar_31():
    plan = SubscriptionPlan(start=date(2026, 1, 31), interval="monthly", anchor="last")
    due, _ = slots(plan, last_key=None, as_of=date(2026, 4, 30))
    assert [s.billing_date for s in due] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31),
                                             date(2026, 4, 30)]


# --- recurring charges and proration ---------------------------------------------------------------------
FLAT = pricing.model_from_config({"model": "flat", "amount": "100.00"})
SEAT = pricing.model_from_config({"model": "per_unit", "unit_price": "10.00"})


def test_a_full_period_is_charged_in_full():
    fc = fixed_charge(SEAT, D(3), "EUR", whole=JAN, part=JAN)
    assert (fc.amount, fc.ratio, fc.billable_days, fc.whole_days) == (D("30.00"), Fraction(1), 31, 31)
    assert fc.explanation == fc.full.explanation


def test_a_part_period_is_prorated_on_exact_days_and_explained():
    part = Period(date(2026, 1, 10), date(2026, 2, 1))
    fc = fixed_charge(FLAT, D(1), "EUR", whole=JAN, part=part, reasons=["starts mid-cycle"])
    # 100.00 × 22/31 = 70.9677… → 70.97 (half up, once).
    assert (fc.amount, fc.ratio, fc.billable_days) == (D("70.97"), Fraction(22, 31), 22)
    assert fc.explanation.endswith("; 22 of 31 days (starts mid-cycle): 100.00 × 22/31 = 70.97")
    # Paused days are not charged; a period paused throughout charges nothing.
    paused = fixed_charge(FLAT, D(1), "EUR", whole=JAN, part=JAN, paused_days=11)
    assert (paused.amount, paused.billable_days) == (D("64.52"), 20)  # 100.00 × 20/31
    nothing = fixed_charge(FLAT, D(1), "EUR", whole=JAN, part=JAN, paused_days=31)
    assert (nothing.amount, nothing.explanation) == (D("0.00"), "paused throughout")


def test_the_parts_of_a_split_period_never_exceed_the_whole():
    whole = fixed_charge(FLAT, D(1), "EUR", whole=FEB, part=FEB).amount
    for cut in range(2, 28):
        day = date(2026, 2, cut)
        left = fixed_charge(FLAT, D(1), "EUR", whole=FEB, part=Period(FEB.start, day)).amount
        right = fixed_charge(FLAT, D(1), "EUR", whole=FEB, part=Period(day, FEB.end)).amount
        assert abs(left + right - whole) <= D("0.01")


# --- metered shares ----------------------------------------------------------------------------------------------
MINIMUM = pricing.model_from_config({"model": "minimum_commitment", "minimum": "25.00",
                                     "charge": {"model": "per_unit", "unit_price": "0.001"}})


def test_a_minimum_commitment_is_prorated_to_the_share_of_its_cycle():
    model, why = commitment_share(MINIMUM, "EUR", (10, 31))
    assert model == pricing.MinimumCommitment(D("8.06"), MINIMUM.charge_model)  # 25.00 × 10/31 = 8.0645…
    assert why == "minimum commitment for 10 of 31 days: 25.00 EUR × 10/31 = 8.06 EUR; "
    assert model.charge(D(4000), "EUR").amount == D("8.06")
    assert model.charge(D(9000), "EUR").amount == D("9.00")
    # A whole cycle, no share, or another model: unchanged.
    assert commitment_share(MINIMUM, "EUR", (31, 31)) == (MINIMUM, "")
    assert commitment_share(MINIMUM, "EUR", None) == (MINIMUM, "")
    assert commitment_share(SEAT, "EUR", (10, 31)) == (SEAT, "")
    assert commitment_share(MINIMUM, "JPY", (1, 3))[0].minimum == D("8")  # 25 × 1/3 in yen


# --- anchors, quantities, wording -------------------------------------------------------------------------------------
def test_stored_anchors_are_read_back():
    assert [parse_anchor(v, "monthly") for v in ("15", "Last", " 1 ", "", None, 31)] == [15, "last", 1, None, None,
                                                                                         31]
    assert parse_anchor("Friday", "weekly") == "friday"
    with pytest.raises(errors.InvalidSchedule, match="Invalid billing day 'mid-month'"):
        parse_anchor("mid-month", "monthly")


def test_quantities_are_billed_with_at_most_six_decimals():
    assert billable_quantity(D(1280) / D(31)) == D("41.290323")
    assert billable_quantity(D("2.5")) == D("2.5")
    assert plain_quantity(D("5.000000")) == D(5) and str(plain_quantity(D("5.000000"))) == "5"
    assert str(plain_quantity(D("2.500000"))) == "2.5"


def test_each_price_model_is_described_in_words():
    def words(config):
        return describe_model(pricing.model_from_config(config), "EUR")

    assert words({"model": "flat", "amount": "100"}) == "100.00 EUR per period"
    assert words({"model": "per_unit", "unit_price": "0.015"}) == "0.015 EUR per unit"
    assert words({"model": "graduated", "tiers": [{"up_to": "10", "unit_price": "12"},
                                                  {"up_to": None, "unit_price": "9", "flat_fee": "5"}]}) == (
        "graduated: 1–10 at 12.00 EUR, 11+ at 9.00 EUR + 5.00 EUR flat")
    assert words({"model": "volume", "tiers": [{"up_to": "2.5", "unit_price": "1"},
                                               {"up_to": None, "unit_price": "0.5"}]}) == (
        "volume: 1–2.5 at 1.00 EUR, over 2.5 at 0.50 EUR")
    assert words({"model": "package", "package_size": "100", "amount": "5", "free_units": "50"}) == (
        "5.00 EUR per 100 units (50 free)")
    assert words({"model": "percentage", "rate": "1.5", "fixed_fee": "0.25", "min_per_transaction": "0.50"}) == (
        "1.5% per transaction + 0.25 EUR, at least 0.50 EUR")
    assert describe_model(MINIMUM, "EUR") == "0.001 EUR per unit, minimum 25.00 EUR per period"


def test_pauses_in_a_plan_reach_the_schedule():
    plan = SubscriptionPlan(start=date(2026, 1, 1), interval="monthly", anchor=1,
                            pauses=(Pause(date(2026, 2, 1), date(2026, 3, 1)),))
    assert plan.schedule().paused_days(FEB) == 28 and plan.schedule().paused_days(MAR) == 0
