"""EU statutory interest at the reference rate of each semester (Directive 2011/7/EU art. 2(6)-(7)).

The rate in force on 1 January applies to January-June, the rate in force on 1 July to July-December:
the rate of a semester is the latest recorded rate whose valid_from is on or before the semester's first
day. Interest = balance × (reference rate + 8) % × days / 365, rounded half up once per calendar month;
a month never spans two semesters, so each month is charged at its own semester's rate.
The rates below are made up for the examples (they are not historic ECB figures).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duly.domain.errors import InvalidLateFeePolicy, ReferenceRateMissing, ValidationError
from duly.domain.late_fees import (
    LateFeePolicy,
    OpenItem,
    assess,
    describe_policy,
    first_semester_from,
    reference_rate_in_force,
    semester_label,
    semester_start,
)

D = Decimal

#: 2.15 % since 11 June 2025, 2.65 % since 12 March 2026 (a change in March counts only from 1 July).
RATES = ((date(2025, 6, 11), D("2.15")), (date(2026, 3, 12), D("2.65")))
TABLE = LateFeePolicy("eu_statutory", reference_rates=RATES)


def item(due, unpaid="1000.00", *, currency="EUR", payments=(), levels=(), charged=None):
    return OpenItem(invoice_id=7, currency=currency, due_date=due, unpaid_principal=D(unpaid),
                    payments=tuple((d, D(a)) for d, a in payments), assessed_levels=frozenset(levels),
                    already_charged={k: D(v) for k, v in (charged or {}).items()})


def amounts(fees):
    return {f.level: f.amount for f in fees}


# --- which rate applies -----------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "start", "label", "rate"), [
    (date(2025, 6, 30), date(2025, 1, 1), "1st half of 2025", None),  # 11 June 2025 is after 1 January
    (date(2025, 7, 1), date(2025, 7, 1), "2nd half of 2025", D("2.15")),  # in force on 1 July 2025
    (date(2026, 1, 1), date(2026, 1, 1), "1st half of 2026", D("2.15")),
    (date(2026, 6, 30), date(2026, 1, 1), "1st half of 2026", D("2.15")),  # 12 March change not yet
    (date(2026, 7, 1), date(2026, 7, 1), "2nd half of 2026", D("2.65")),
    (date(2031, 12, 31), date(2031, 7, 1), "2nd half of 2031", D("2.65")),  # the latest rate stays in force
])
def test_the_rate_of_a_semester_is_the_one_in_force_on_its_first_day(day, start, label, rate):
    assert semester_start(day) == start
    assert semester_label(day) == label
    assert reference_rate_in_force(RATES, day) == rate


@pytest.mark.parametrize(("valid_from", "first"), [
    (date(2026, 1, 1), date(2026, 1, 1)), (date(2026, 1, 2), date(2026, 7, 1)), (date(2026, 6, 30), date(2026, 7, 1)),
    (date(2026, 7, 1), date(2026, 7, 1)), (date(2026, 7, 2), date(2027, 1, 1)), (date(2026, 12, 31), date(2027, 1, 1)),
])
def test_a_rate_applies_from_the_next_first_of_january_or_july(valid_from, first):
    assert first_semester_from(valid_from) == first


# --- worked examples ----------------------------------------------------------------------------------


def test_an_invoice_late_across_30_june_and_1_july_is_charged_each_semesters_rate():
    # 1,000.00 EUR due 31 May 2026, assessed on 31 July 2026.
    fees = assess(item(date(2026, 5, 31)), TABLE, date(2026, 7, 31))
    assert amounts(fees) == {
        "compensation": D("40.00"),  # Directive 2011/7/EU art. 6
        "interest:2026-06": D("8.34"),  # 1,000.00 × (2.15 + 8 = 10.15)% × 30/365 = 8.3425 → 8.34
        "interest:2026-07": D("9.05"),  # 1,000.00 × (2.65 + 8 = 10.65)% × 31/365 = 9.0452 → 9.05
    }
    _, june, july = fees
    assert (june.rate, july.rate) == (D("10.15"), D("10.65"))
    assert june.explanation == ("Interest 1–30 June 2026: 1,000.00 × 10.15% × 30/365 = 8.34 "
                                "(ECB rate 2.15% for the 1st half of 2026 + 8 points)")
    assert july.explanation == ("Interest 1–31 July 2026: 1,000.00 × 10.65% × 31/365 = 9.05 "
                                "(ECB rate 2.65% for the 2nd half of 2026 + 8 points)")


def test_a_payment_on_30_june_lowers_the_july_balance_charged_at_the_new_rate():
    # 1,000.00 due 31 May 2026, 400.00 paid on 30 June: June bears 1,000.00, July the 600.00 left.
    fees = assess(item(date(2026, 5, 31), "600.00", payments=[(date(2026, 6, 30), "400.00")]), TABLE,
                  date(2026, 7, 31))
    assert amounts(fees) == {
        "compensation": D("40.00"),
        "interest:2026-06": D("8.34"),  # 1,000.00 × 10.15% × 30/365 = 8.3425 → 8.34 (paid on day 30: still late)
        "interest:2026-07": D("5.43"),  # 600.00 × 10.65% × 31/365 = 5.4271 → 5.43
    }


def test_a_rerun_in_the_new_semester_charges_only_the_new_month():
    due = date(2026, 5, 31)
    first = assess(item(due), TABLE, date(2026, 6, 30))
    assert amounts(first) == {"compensation": D("40.00"), "interest:2026-06": D("8.34")}  # 1,000 × 10.15% × 30/365
    later = assess(item(due, levels=amounts(first)), TABLE, date(2026, 7, 31))
    assert amounts(later) == {"interest:2026-07": D("9.05")}  # 1,000.00 × 10.65% × 31/365 = 9.0452


def test_a_missing_semester_rate_is_an_error_naming_the_currency_and_the_semester():
    # Rates recorded only from 1 July 2026: June 2026 (1st half) has no rate in force on 1 January 2026.
    policy = LateFeePolicy("eu_statutory", reference_rates=((date(2026, 7, 1), D("2.15")),))
    with pytest.raises(ReferenceRateMissing) as exc:
        assess(item(date(2026, 5, 31)), policy, date(2026, 7, 31))
    assert exc.value.code == "reference_rate_missing"
    assert "EUR" in exc.value.message and "1st half of 2026" in exc.value.message
    assert "1 January 2026" in exc.value.message
    assert exc.value.context["currency"] == "EUR" and exc.value.context["semester"] == "2026-H1"


def test_no_rate_is_needed_before_a_month_is_charged_nor_for_months_charged_before():
    policy = LateFeePolicy("eu_statutory", reference_rates=((date(2026, 7, 1), D("2.15")),))
    due = date(2026, 5, 31)
    # 15 June: June is not complete, only the compensation is due; no rate is needed yet.
    assert amounts(assess(item(due), policy, date(2026, 6, 15))) == {"compensation": D("40.00")}
    # June was charged before (at an agreed rate, say): July needs only the 2nd-half rate.
    fees = assess(item(due, charged={"compensation": "40.00", "interest:2026-06": "8.34"}), policy,
                  date(2026, 7, 31))
    assert amounts(fees) == {"interest:2026-07": D("8.62")}  # 1,000.00 × 10.15% × 31/365 = 8.6205 → 8.62
    # Known by name only and no cap: its amount is not needed either.
    assert amounts(assess(item(due, levels={"compensation", "interest:2026-06"}), policy, date(2026, 7, 31))) == {
        "interest:2026-07": D("8.62")}


def test_no_recorded_rate_at_all_is_an_error_only_once_interest_is_charged():
    policy = LateFeePolicy("eu_statutory", reference_rates=())
    assert policy.uses_reference_rates and policy.annual_rate_percent is None
    with pytest.raises(ReferenceRateMissing, match="No EUR reference rate is recorded for the 1st half of 2026"):
        assess(item(date(2026, 1, 31)), policy, date(2026, 2, 28))


def test_an_agreed_fixed_reference_rate_overrides_the_recorded_rates():
    # The contract agrees 3 % whatever the ECB does: 3 + 8 = 11 % in both semesters.
    policy = LateFeePolicy("eu_statutory", reference_rate_percent=D("3"), reference_rates=RATES)
    assert not policy.uses_reference_rates and policy.annual_rate_percent == D("11")
    fees = assess(item(date(2026, 5, 31)), policy, date(2026, 7, 31))
    assert amounts(fees) == {
        "compensation": D("40.00"),
        "interest:2026-06": D("9.04"),  # 1,000.00 × 11% × 30/365 = 9.0411 → 9.04
        "interest:2026-07": D("9.34"),  # 1,000.00 × 11% × 31/365 = 9.3425 → 9.34
    }
    assert fees[1].explanation == "Interest 1–30 June 2026: 1,000.00 × 11% × 30/365 = 9.04"  # no semester note


def test_the_cap_applies_across_semesters():
    policy = LateFeePolicy("eu_statutory", reference_rates=RATES, compensation_amount=D("0"), cap_amount=D("12.00"))
    fees = assess(item(date(2026, 5, 31)), policy, date(2026, 7, 31))
    # June 8.34 (1,000.00 × 10.15% × 30/365), then July 9.05 reduced to the 3.66 left under the 12.00 cap.
    assert amounts(fees) == {"interest:2026-06": D("8.34"), "interest:2026-07": D("3.66")}


# --- the terms in words ---------------------------------------------------------------------------------


def test_terms_state_the_rate_of_the_issue_dates_semester():
    assert describe_policy(TABLE, "EUR", as_of=date(2026, 3, 31)) == (
        "Late payment: statutory interest at the reference rate + 8 points (currently 10.15% per year, ECB rate "
        "2.15% for the 1st half of 2026) from the due date, plus EUR 40.00 fixed compensation."
    )
    assert describe_policy(TABLE, "EUR", as_of=date(2026, 7, 1)) == (
        "Late payment: statutory interest at the reference rate + 8 points (currently 10.65% per year, ECB rate "
        "2.65% for the 2nd half of 2026) from the due date, plus EUR 40.00 fixed compensation."
    )


def test_terms_in_another_currency_name_its_central_bank_rate():
    policy = LateFeePolicy("eu_statutory", reference_rates=((date(2026, 1, 1), D("5.75")),),
                           compensation_amount=D("170"), grace_days=3)
    assert describe_policy(policy, "PLN", as_of=date(2026, 2, 2)) == (
        "Late payment: statutory interest at the reference rate + 8 points (currently 13.75% per year, PLN central "
        "bank rate 5.75% for the 1st half of 2026) from the due date, plus PLN 170.00 fixed compensation; charged "
        "only when payment is more than 3 days late."
    )


def test_terms_need_the_date_and_a_known_rate():
    with pytest.raises(ValidationError, match="as_of"):
        describe_policy(TABLE, "EUR")
    with pytest.raises(ReferenceRateMissing, match="1st half of 2025"):
        describe_policy(TABLE, "EUR", as_of=date(2025, 3, 1))
    # a fixed rate (agreed, or another kind) needs no date
    assert describe_policy(LateFeePolicy("eu_statutory", reference_rate_percent=D("2")), "EUR").startswith(
        "Late payment: interest at 10% per year")


# --- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rates", "message"), [
    (((date(2026, 1, 1), 2.15),), "never floats"),
    (((date(2026, 1, 1), D("2")), (date(2026, 1, 1), D("3"))), "two rates from 2026-01-01"),
    ((("2026-01-01", D("2")),), "not a \\(valid_from date, rate_percent\\) pair"),
    (((date(2026, 1, 1),),), "not a \\(valid_from date, rate_percent\\) pair"),
    (((date(2026, 1, 1), D("-8")),), "not a positive rate"),
    (5, "pairs"),
])
def test_bad_reference_rates_are_refused(rates, message):
    with pytest.raises(InvalidLateFeePolicy, match=message):
        LateFeePolicy("eu_statutory", reference_rates=rates)


def test_rates_are_sorted_and_a_policy_with_rates_stays_hashable():
    policy = LateFeePolicy("eu_statutory", reference_rates=[(date(2026, 7, 1), "2.4"), (date(2026, 1, 1), D(2))])
    assert policy.reference_rates == ((date(2026, 1, 1), D(2)), (date(2026, 7, 1), D("2.4")))
    assert hash(policy) == hash(LateFeePolicy("eu_statutory", reference_rates=policy.reference_rates))


def test_a_statutory_policy_needs_recorded_rates_or_an_agreed_rate():
    with pytest.raises(InvalidLateFeePolicy, match="reference_rates"):
        LateFeePolicy("eu_statutory")
    assert LateFeePolicy("eu_statutory", reference_rates=()).uses_reference_rates


# --- property: runs never double charge across semester changes ----------------------------------------

RATE_TABLE = tuple((date(2024 + i // 3, 1 + (i % 3) * 4, 9), D(v)) for i, v in enumerate(
    ["3.5", "4.25", "4.5", "4.0", "3.65", "2.9", "2.15", "2.15", "2.4", "1.9", "0", "-0.5", "1.25", "2"]))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([None, D("5"), D("40")]), st.integers(1, 5_000_000),
       st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 6, 30)),
       st.lists(st.integers(min_value=-5, max_value=400), min_size=1, max_size=6))
def test_runs_at_any_dates_charge_what_one_run_charges(cap, principal_minor, due, offsets):
    policy = LateFeePolicy("eu_statutory", reference_rates=RATE_TABLE, cap_amount=cap)
    principal = D(principal_minor) / 100
    collected: dict[str, Decimal] = {}
    run_dates = sorted(due + timedelta(days=o) for o in offsets)
    for as_of in run_dates:
        for fee in assess(item(due, str(principal), levels=collected), policy, as_of):
            assert fee.level not in collected
            collected[fee.level] = fee.amount
    assert collected == amounts(assess(item(due, str(principal)), policy, run_dates[-1]))
    if cap is not None:
        assert sum(collected.values(), D(0)) <= cap
