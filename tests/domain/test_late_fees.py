"""Late fees and interest: worked examples with the arithmetic beside each case.

Interest is simple, actual/365: amount = balance × annual rate × days / 365, rounded half up per
calendar month (level ``interest:YYYY-MM``). Day d is late when d > due date; a payment dated p
stops interest on its amount from day p + 1.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duly.domain.errors import InvalidLateFeePolicy, InvalidTerms, ValidationError
from duly.domain.late_fees import (
    EU_COMPENSATION_EUR,
    Fee,
    LateFeePolicy,
    OpenItem,
    assess,
    describe_policy,
    format_amount,
    interest_level,
)

D = Decimal

EU = LateFeePolicy("eu_statutory", reference_rate_percent=D("2.15"))  # 2.15 + 8 = 10.15 % per year
ANNUAL_12_PLUS_40 = LateFeePolicy("interest_annual", rate_percent=D("12"), fixed_fee=D("40.00"))
ANNUAL_12 = LateFeePolicy("interest_annual", rate_percent=D("12"))


def item(due, unpaid="1000.00", *, currency="EUR", payments=(), principal=None, levels=(), charged=None):
    return OpenItem(
        invoice_id=1,
        currency=currency,
        due_date=due,
        unpaid_principal=D(unpaid),
        principal=D(principal) if principal is not None else None,
        payments=tuple((d, D(a)) for d, a in payments),
        assessed_levels=frozenset(levels),
        already_charged={k: D(v) for k, v in (charged or {}).items()},
    )


def amounts(fees: list[Fee]) -> dict[str, Decimal]:
    return {f.level: f.amount for f in fees}


# --- simple annual interest + fixed fee -----------------------------------------------------------


def test_annual_interest_and_fixed_fee_worked_example():
    # 1,000.00 EUR due Sat 31 Jan 2026, 12 % per year + EUR 40 fee, assessed on 31 March 2026 (59 days late).
    fees = assess(item(date(2026, 1, 31)), ANNUAL_12_PLUS_40, date(2026, 3, 31))
    assert amounts(fees) == {
        "fixed": D("40.00"),
        "interest:2026-02": D("9.21"),  # 1,000.00 × 12% × 28/365 = 9.2055 → 9.21
        "interest:2026-03": D("10.19"),  # 1,000.00 × 12% × 31/365 = 10.1918 → 10.19
    }
    fixed, feb, mar = fees
    assert (fixed.kind, fixed.days_late, fixed.rate) == ("fixed_fee", 59, None)
    assert fixed.explanation == "Fixed late-payment fee: EUR 40.00 (59 days late on 31 March 2026)"
    assert feb.explanation == "Interest 1–28 February 2026: 1,000.00 × 12% × 28/365 = 9.21"
    assert mar.explanation == "Interest 1–31 March 2026: 1,000.00 × 12% × 31/365 = 10.19"
    assert (feb.kind, feb.rate, feb.days, feb.days_late) == ("interest", D("12"), 28, 28)
    assert (feb.period_start, feb.period_end) == (date(2026, 2, 1), date(2026, 2, 28))
    assert all(f.currency == "EUR" for f in fees)


def test_only_complete_months_are_charged():
    due = date(2026, 1, 31)
    # 30 March: March is not over yet → only February (and the fixed fee).
    assert list(amounts(assess(item(due), ANNUAL_12_PLUS_40, date(2026, 3, 30)))) == ["fixed", "interest:2026-02"]
    # 15 February: no complete month yet, but the fixed fee is due.
    assert list(amounts(assess(item(due), ANNUAL_12_PLUS_40, date(2026, 2, 15)))) == ["fixed"]


def test_interest_starting_mid_month():
    # Due 15 March 2026: late days 16..31 March = 16 days.
    fees = assess(item(date(2026, 3, 15)), EU, date(2026, 3, 31))
    interest = fees[-1]
    # 1,000.00 × 10.15% × 16/365 = 4.4493 → 4.45
    assert interest.amount == D("4.45")
    assert interest.explanation == "Interest 16–31 March 2026: 1,000.00 × 10.15% × 16/365 = 4.45"


def test_leap_year_february_has_29_interest_days_on_a_365_basis():
    # 1,000.00 × 12% × 29/365 = 9.5342 → 9.53
    fees = assess(item(date(2028, 1, 31)), ANNUAL_12, date(2028, 2, 29))
    assert amounts(fees) == {"interest:2028-02": D("9.53")}
    assert fees[0].days == 29


def test_monthly_rate_is_twelve_times_per_year_on_actual_365():
    policy = LateFeePolicy("interest_monthly", rate_percent=D("1.5"))
    fees = assess(item(date(2026, 2, 28)), policy, date(2026, 3, 31))
    # 1,000.00 × 1.5% × 12 × 31/365 = 15.2877 → 15.29
    assert amounts(fees) == {"interest:2026-03": D("15.29")}
    assert fees[0].rate == D("18.0")
    assert fees[0].explanation == "Interest 1–31 March 2026: 1,000.00 × 1.5% × 12 × 31/365 = 15.29"


def test_currency_without_decimals():
    policy = LateFeePolicy("interest_annual", rate_percent=D("14.6"), fixed_fee=D(1000))
    fees = assess(item(date(2026, 3, 31), "100000", currency="JPY"), policy, date(2026, 4, 30))
    # 100,000 × 14.6% × 30/365 = 1,200 exactly (14.6 % / 365 = 0.04 % a day)
    assert amounts(fees) == {"fixed": D(1000), "interest:2026-04": D(1200)}
    assert fees[1].explanation == "Interest 1–30 April 2026: 100,000 × 14.6% × 30/365 = 1,200"
    assert format_amount(D(1234567), "JPY") == "1,234,567"


# --- EU statutory ---------------------------------------------------------------------------------


def test_eu_statutory_reference_plus_eight_points_and_40_eur_compensation():
    # ECB reference rate 2.15 % + 8 points = 10.15 % per year.
    fees = assess(item(date(2026, 2, 28)), EU, date(2026, 3, 31))
    assert amounts(fees) == {
        "compensation": D("40.00"),  # Directive 2011/7/EU art. 6
        "interest:2026-03": D("8.62"),  # 1,000.00 × 10.15% × 31/365 = 8.6205 → 8.62
    }
    compensation, interest = fees
    assert compensation.kind == "compensation" and compensation.days_late == 31
    assert compensation.explanation == (
        "Fixed compensation for recovery costs under Directive 2011/7/EU: EUR 40.00 (31 days late on 31 March 2026)"
    )
    assert interest.rate == D("10.15")
    assert interest.explanation == "Interest 1–31 March 2026: 1,000.00 × 10.15% × 31/365 = 8.62"
    assert EU.annual_rate_percent == D("10.15") and EU_COMPENSATION_EUR == D("40.00")


def test_eu_statutory_with_a_zero_reference_rate():
    policy = LateFeePolicy("eu_statutory", reference_rate_percent=D("0"))
    # 1,000.00 × 8% × 31/365 = 6.7945 → 6.79
    assert amounts(assess(item(date(2026, 2, 28)), policy, date(2026, 3, 31)))["interest:2026-03"] == D("6.79")


def test_eu_compensation_is_never_converted():
    gbp = item(date(2026, 2, 28), currency="GBP")
    with pytest.raises(InvalidLateFeePolicy, match="never converted"):
        assess(gbp, EU, date(2026, 3, 31))
    explicit = LateFeePolicy("eu_statutory", reference_rate_percent=D("2.15"), compensation_amount=D("35.00"))
    assert amounts(assess(gbp, explicit, date(2026, 3, 31)))["compensation"] == D("35.00")
    waived = LateFeePolicy("eu_statutory", reference_rate_percent=D("2.15"), compensation_amount=D("0"))
    assert "compensation" not in amounts(assess(gbp, waived, date(2026, 3, 31)))


def test_one_day_late():
    # Due 28 Feb 2026, paid in full on 1 March: one late day, the final (partial) month is charged.
    fees = assess(item(date(2026, 2, 28), "0", payments=[(date(2026, 3, 1), "1000.00")]), EU, date(2026, 3, 5))
    # 1,000.00 × 10.15% × 1/365 = 0.2781 → 0.28
    assert amounts(fees) == {"compensation": D("40.00"), "interest:2026-03": D("0.28")}
    assert fees[0].days_late == 1
    assert fees[0].explanation.endswith("(paid 1 day late on 1 March 2026)")
    assert fees[1].explanation == "Interest 1 March 2026: 1,000.00 × 10.15% × 1/365 = 0.28"


@pytest.mark.parametrize("as_of", [date(2026, 2, 1), date(2026, 2, 28)])
def test_nothing_before_or_on_the_due_date(as_of):
    assert assess(item(date(2026, 2, 28)), EU, as_of) == []


def test_paid_on_the_due_date_is_not_late():
    paid = item(date(2026, 2, 28), "0", payments=[(date(2026, 2, 28), "1000.00")])
    assert assess(paid, EU, date(2026, 6, 30)) == []


def test_none_policy_charges_nothing():
    policy = LateFeePolicy("none", fixed_fee=D("40"), rate_percent=D("12"))  # leftovers are ignored
    assert assess(item(date(2026, 1, 31)), policy, date(2026, 12, 31)) == []


# --- partial payments -----------------------------------------------------------------------------


def test_partial_payments_reduce_the_principal_per_segment():
    due = date(2026, 2, 28)
    payments = [(date(2026, 3, 10), "400.00"), (date(2026, 4, 20), "600.00")]
    open_item = item(due, "0", payments=payments)
    fees = assess(open_item, EU, date(2026, 4, 25))
    assert amounts(fees) == {
        "compensation": D("40.00"),
        # 1 – 10 March on 1,000.00, 11 – 31 March on 600.00:
        # 1,000.00 × 10.15% × 10/365 = 2.7808; 600.00 × 10.15% × 21/365 = 3.5038; 6.2846 → 6.28
        "interest:2026-03": D("6.28"),
        # Paid in full on 20 April: the final month is charged although April is not over.
        # 600.00 × 10.15% × 20/365 = 3.3370 → 3.34
        "interest:2026-04": D("3.34"),
    }
    compensation, march, april = fees
    assert march.explanation == (
        "Interest 1–31 March 2026: 1,000.00 × 10.15% × 10/365 + 600.00 × 10.15% × 21/365 = 6.28"
    )
    assert march.days == 31
    assert (april.days, april.days_late, april.period_end) == (20, 51, date(2026, 4, 20))
    assert compensation.days_late == 51  # 28 Feb → 20 April
    # Fully paid: no later run ever charges more.
    assert assess(item(due, "0", payments=payments, levels=amounts(fees)), EU, date(2026, 12, 31)) == []


def test_payments_after_as_of_are_ignored():
    # The 1,000.00 arrived on 10 April, but on 31 March it was still fully open.
    open_item = item(date(2026, 2, 28), "0", payments=[(date(2026, 4, 10), "1000.00")])
    # 1,000.00 × 10.15% × 31/365 = 8.62
    assert amounts(assess(open_item, EU, date(2026, 3, 31)))["interest:2026-03"] == D("8.62")


def test_payment_before_the_due_date_lowers_the_late_principal():
    open_item = item(date(2026, 2, 28), "700.00", payments=[(date(2026, 2, 10), "300.00")])
    # 700.00 × 12% × 31/365 = 7.1342 → 7.13
    assert amounts(assess(open_item, ANNUAL_12, date(2026, 3, 31))) == {"interest:2026-03": D("7.13")}


def test_overpayment_stops_interest():
    open_item = item(date(2026, 2, 28), "-50.00", payments=[(date(2026, 3, 5), "1050.00")])
    # 1,000.00 × 12% × 5/365 = 1.6438 → 1.64, then nothing.
    assert amounts(assess(open_item, ANNUAL_12, date(2026, 8, 31))) == {"interest:2026-03": D("1.64")}


# --- grace days -----------------------------------------------------------------------------------


def test_grace_days_for_a_fixed_fee():
    policy = LateFeePolicy("fixed_fee", fixed_fee=D("25.00"), grace_days=10)
    due = date(2026, 3, 31)
    assert assess(item(due), policy, date(2026, 4, 10)) == []  # 10 days late: still in grace
    fees = assess(item(due), policy, date(2026, 4, 11))  # 11 days late
    assert amounts(fees) == {"fixed": D("25.00")} and fees[0].days_late == 11
    # Paid in full on the last grace day: never charged.
    paid_in_grace = item(due, "0", payments=[(date(2026, 4, 10), "1000.00")])
    assert assess(paid_in_grace, policy, date(2026, 6, 30)) == []
    # Paid one day after the grace period: charged.
    paid_late = item(due, "0", payments=[(date(2026, 4, 11), "1000.00")])
    assert amounts(assess(paid_late, policy, date(2026, 6, 30))) == {"fixed": D("25.00")}


def test_grace_days_with_interest_from_the_due_date():
    policy = LateFeePolicy("interest_annual", rate_percent=D("12"), grace_days=10)
    due = date(2026, 3, 25)
    # 31 March: March is complete but the invoice is only 6 days late → nothing yet.
    assert assess(item(due), policy, date(2026, 3, 31)) == []
    # 5 April: 11 days late → March is charged from the due date: 26–31 March = 6 days.
    # 1,000.00 × 12% × 6/365 = 1.9726 → 1.97
    assert amounts(assess(item(due), policy, date(2026, 4, 5))) == {"interest:2026-03": D("1.97")}


def test_grace_days_with_interest_only_after_the_grace_period():
    due = date(2026, 3, 31)
    from_due = LateFeePolicy("interest_annual", rate_percent=D("12"), grace_days=10)
    after_grace = LateFeePolicy("interest_annual", rate_percent=D("12"), grace_days=10, interest_from_due_date=False)
    # From the due date: 1–30 April = 30 days: 1,000.00 × 12% × 30/365 = 9.8630 → 9.86
    assert amounts(assess(item(due), from_due, date(2026, 4, 30))) == {"interest:2026-04": D("9.86")}
    # After grace: 11–30 April = 20 days: 1,000.00 × 12% × 20/365 = 6.5753 → 6.58
    fees = assess(item(due), after_grace, date(2026, 4, 30))
    assert amounts(fees) == {"interest:2026-04": D("6.58")}
    assert fees[0].explanation == "Interest 11–30 April 2026: 1,000.00 × 12% × 20/365 = 6.58"


# --- caps -----------------------------------------------------------------------------------------


def test_percent_cap_reduces_the_last_fee_and_drops_later_ones():
    policy = LateFeePolicy("interest_annual", rate_percent=D("12"), cap_percent=D("1"))  # 1% of 1,000.00 = 10.00
    fees = assess(item(date(2026, 1, 31)), policy, date(2026, 4, 30))
    assert amounts(fees) == {
        "interest:2026-02": D("9.21"),  # 1,000.00 × 12% × 28/365 = 9.21
        "interest:2026-03": D("0.79"),  # 10.19, reduced to 10.00 − 9.21 = 0.79
        # April (9.86) is dropped: the cap is reached.
    }
    assert fees[1].explanation == (
        "Interest 1–31 March 2026: 1,000.00 × 12% × 31/365 = 10.19; "
        "reduced to 0.79 by the cap of 10.00 on total late charges (9.21 already charged)"
    )
    assert sum(amounts(fees).values()) == D("10.00")


def test_the_lower_of_two_caps_applies_to_fees_and_interest_together():
    policy = LateFeePolicy(
        "interest_annual", rate_percent=D("12"), fixed_fee=D("40.00"), cap_percent=D("5"), cap_amount=D("45.00")
    )  # min(5% of 1,000.00 = 50.00, 45.00) = 45.00
    fees = assess(item(date(2026, 1, 31)), policy, date(2026, 3, 31))
    assert amounts(fees) == {"fixed": D("40.00"), "interest:2026-02": D("5.00")}  # 9.21 → 45.00 − 40.00


def test_cap_counts_charges_of_earlier_runs():
    policy = LateFeePolicy("interest_annual", rate_percent=D("12"), cap_percent=D("1"))  # cap 10.00
    due = date(2026, 1, 31)
    first = assess(item(due), policy, date(2026, 2, 28))
    assert amounts(first) == {"interest:2026-02": D("9.21")}
    # Known by name only: February is re-computed (9.21) → March gets 0.79.
    by_name = assess(item(due, levels=["interest:2026-02"]), policy, date(2026, 3, 31))
    assert amounts(by_name) == {"interest:2026-03": D("0.79")}
    # Known with the amount actually charged (say 9.50 after a manual correction) → March gets 0.50.
    by_amount = assess(item(due, charged={"interest:2026-02": "9.50"}), policy, date(2026, 3, 31))
    assert amounts(by_amount) == {"interest:2026-03": D("0.50")}
    # Charges under other levels count too: 6.00 already charged → February gets 4.00.
    other = assess(item(due, charged={"legacy": "6.00"}), policy, date(2026, 2, 28))
    assert amounts(other) == {"interest:2026-02": D("4.00")}
    # Cap exhausted: nothing more, never negative.
    assert assess(item(due, charged={"interest:2026-02": "10.00"}), policy, date(2026, 6, 30)) == []
    assert assess(item(due, charged={"legacy": "25.00"}), policy, date(2026, 6, 30)) == []


def test_zero_cap_charges_nothing():
    policy = LateFeePolicy("fixed_fee", fixed_fee=D("40.00"), cap_amount=D("0"))
    assert assess(item(date(2026, 1, 31)), policy, date(2026, 3, 31)) == []


def test_cap_percent_of_the_original_principal_despite_partial_payments():
    policy = LateFeePolicy("fixed_fee", fixed_fee=D("40.00"), cap_percent=D("2"))  # 2% of 1,000.00 = 20.00
    open_item = item(date(2026, 1, 31), "100.00", payments=[(date(2026, 2, 15), "900.00")])
    assert amounts(assess(open_item, policy, date(2026, 3, 31))) == {"fixed": D("20.00")}


# --- idempotency ----------------------------------------------------------------------------------


def test_assess_twice_never_double_charges():
    due = date(2026, 1, 31)
    first = assess(item(due), ANNUAL_12_PLUS_40, date(2026, 3, 31))
    charged = {f.level for f in first}
    assert charged == {"fixed", "interest:2026-02", "interest:2026-03"}
    # Same day again: nothing.
    assert assess(item(due, levels=charged), ANNUAL_12_PLUS_40, date(2026, 3, 31)) == []
    # A month later: only April.
    second = assess(item(due, levels=charged), ANNUAL_12_PLUS_40, date(2026, 4, 30))
    # 1,000.00 × 12% × 30/365 = 9.8630 → 9.86
    assert amounts(second) == {"interest:2026-04": D("9.86")}
    # Mid-May: May is not complete → nothing new.
    charged |= {f.level for f in second}
    assert assess(item(due, levels=charged), ANNUAL_12_PLUS_40, date(2026, 5, 15)) == []


def test_successive_runs_add_up_to_one_run():
    due = date(2026, 1, 31)
    single = amounts(assess(item(due), EU, date(2026, 6, 30)))
    collected: dict[str, Decimal] = {}
    for as_of in (date(2026, 2, 10), date(2026, 3, 15), date(2026, 3, 31), date(2026, 5, 2), date(2026, 6, 30)):
        for fee in assess(item(due, levels=collected), EU, as_of):
            assert fee.level not in collected
            collected[fee.level] = fee.amount
    assert collected == single
    assert list(single) == ["compensation"] + [interest_level(2026, m) for m in range(2, 7)]


# --- describe_policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "currency", "text"),
    [
        (
            EU,
            "EUR",
            "Late payment: interest at 10.15% per year (ECB reference rate 2.15% + 8 points) from the due date, "
            "plus EUR 40.00 fixed compensation.",
        ),
        (
            LateFeePolicy("interest_annual", rate_percent=D("12.0000"), fixed_fee=D("40.00")),
            "EUR",
            "Late payment: interest at 12% per year from the due date, plus a fixed fee of EUR 40.00.",
        ),
        (
            LateFeePolicy("interest_monthly", rate_percent=D("1.5")),
            "USD",
            "Late payment: interest at 1.5% per month (18% per year) from the due date.",
        ),
        (
            LateFeePolicy("fixed_fee", fixed_fee=D("25"), grace_days=10),
            "GBP",
            "Late payment: a fixed fee of GBP 25.00; charged only when payment is more than 10 days late.",
        ),
        (
            LateFeePolicy("fixed_fee", fixed_fee=D("1000"), grace_days=1),
            "JPY",
            "Late payment: a fixed fee of JPY 1,000; charged only when payment is more than 1 day late.",
        ),
        (
            LateFeePolicy("interest_annual", rate_percent=D("8"), grace_days=10, interest_from_due_date=False,
                          cap_percent=D("10"), cap_amount=D("100")),
            "EUR",
            "Late payment: interest at 8% per year from 10 days after the due date; charged only when payment is "
            "more than 10 days late; total late charges capped at 10% of the invoice amount or EUR 100.00, "
            "whichever is lower.",
        ),
        (
            LateFeePolicy("eu_statutory", reference_rate_percent=D("4.5"), compensation_amount=D("35"),
                          cap_percent=D("15")),
            "GBP",
            "Late payment: interest at 12.5% per year (ECB reference rate 4.5% + 8 points) from the due date, "
            "plus GBP 35.00 fixed compensation; total late charges capped at 15% of the invoice amount.",
        ),
        (LateFeePolicy("none"), "EUR", "No late-payment charges."),
    ],
)
def test_describe_policy(policy, currency, text):
    assert describe_policy(policy, currency) == text


def test_describe_eu_policy_in_another_currency_needs_an_explicit_compensation():
    with pytest.raises(InvalidLateFeePolicy, match="GBP"):
        describe_policy(EU, "GBP")


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(kind="late"), "Unknown late-fee policy"),
        (dict(kind="fixed_fee"), "fixed_fee greater than 0"),
        (dict(kind="fixed_fee", fixed_fee=D("-5")), "cannot be negative"),
        (dict(kind="interest_annual"), "rate_percent greater than 0"),
        (dict(kind="interest_monthly", rate_percent=D("-1")), "cannot be negative"),
        (dict(kind="interest_annual", rate_percent=12.0), "never floats"),
        (dict(kind="interest_annual", rate_percent="twelve"), "Not a number"),
        (dict(kind="eu_statutory"), "ECB reference rate"),
        (dict(kind="eu_statutory", reference_rate_percent=D("-8")), "not a positive rate"),
        (dict(kind="interest_annual", rate_percent=D("12"), grace_days=-1), "Grace days"),
        (dict(kind="interest_annual", rate_percent=D("12"), grace_days=1.5), "Grace days"),
        (dict(kind="interest_annual", rate_percent=D("12"), cap_percent=D("-1")), "cannot be negative"),
        (dict(kind="interest_annual", rate_percent=D("12"), cap_amount=D("-1")), "cannot be negative"),
        (dict(kind="eu_statutory", reference_rate_percent=D("2"), compensation_amount=D("-40")), "cannot be negative"),
        (dict(kind="interest_annual", rate_percent=D("12"), interest_from_due_date="yes"), "True or False"),
    ],
)
def test_invalid_policies_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(InvalidLateFeePolicy, match=message) as exc:
        LateFeePolicy(**kwargs)
    assert isinstance(exc.value, InvalidTerms)
    assert exc.value.code == "invalid_late_fee_policy"


def test_policy_amounts_are_normalised_to_decimal():
    policy = LateFeePolicy("interest_annual", rate_percent="12", fixed_fee=40, cap_amount="100.00")
    assert policy.rate_percent == D("12") and policy.fixed_fee == D("40") and policy.cap_amount == D("100.00")


def test_a_fee_with_more_decimals_than_the_currency_is_refused():
    policy = LateFeePolicy("fixed_fee", fixed_fee=D("40.50"))
    with pytest.raises(InvalidLateFeePolicy, match="JPY"):
        assess(item(date(2026, 1, 31), "1000", currency="JPY"), policy, date(2026, 3, 31))


def test_open_item_validation():
    with pytest.raises(ValidationError, match="does not equal"):
        item(date(2026, 1, 31), "900.00", principal="1000.00")
    with pytest.raises(ValidationError, match="negative"):
        item(date(2026, 1, 31), "1100.00", payments=[(date(2026, 2, 1), "-100.00")])
    with pytest.raises(ValidationError, match="due date"):
        OpenItem(invoice_id=7, currency="EUR", due_date=None, unpaid_principal=D("1"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="principal cannot be negative"):
        item(date(2026, 1, 31), "-1.00")
    derived = item(date(2026, 1, 31), "600.00", payments=[(date(2026, 2, 1), "400.00")])
    assert derived.principal == D("1000.00")
    assert item(date(2026, 1, 31), levels=["a"], charged={"b": "1"}).charged_levels == {"a", "b"}


# --- properties -----------------------------------------------------------------------------------

POLICIES = st.sampled_from(
    [
        EU,
        ANNUAL_12_PLUS_40,
        LateFeePolicy("interest_monthly", rate_percent=D("1.5"), grace_days=5),
        LateFeePolicy("interest_annual", rate_percent=D("12"), grace_days=7, interest_from_due_date=False),
        LateFeePolicy("eu_statutory", reference_rate_percent=D("2.15"), cap_percent=D("3")),
        LateFeePolicy("interest_annual", rate_percent=D("20"), fixed_fee=D("15"), cap_amount=D("30")),
        LateFeePolicy("fixed_fee", fixed_fee=D("25"), grace_days=3),
    ]
)


@st.composite
def scenarios(draw):
    principal_minor = draw(st.integers(min_value=1, max_value=5_000_000))
    due = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31)))
    remaining = principal_minor
    payments = []
    for offset in sorted(draw(st.lists(st.integers(min_value=-20, max_value=200), max_size=4))):
        if remaining == 0:
            break
        part = draw(st.integers(min_value=1, max_value=remaining))
        remaining -= part
        payments.append((due + timedelta(days=offset), D(part) / 100))
    runs = sorted(draw(st.lists(st.integers(min_value=-5, max_value=260), min_size=1, max_size=8)))
    return D(principal_minor) / 100, due, payments, [due + timedelta(days=r) for r in runs]


@settings(max_examples=200, deadline=None)
@given(POLICIES, scenarios(), st.booleans())
def test_runs_never_double_charge_and_match_a_single_run(policy, scenario, levels_by_name_only):
    principal, due, payments, run_dates = scenario
    unpaid = principal - sum((a for _, a in payments), D(0))

    def snapshot(charged: dict[str, Decimal]) -> OpenItem:
        if levels_by_name_only:  # as the collections service passes them: names, amounts re-computed
            return OpenItem(1, "EUR", due, unpaid, principal=principal, payments=tuple(payments),
                            assessed_levels=frozenset(charged))
        return OpenItem(1, "EUR", due, unpaid, principal=principal, payments=tuple(payments),
                        already_charged=dict(charged))

    collected: dict[str, Decimal] = {}
    for as_of in run_dates:
        for fee in assess(snapshot(collected), policy, as_of):
            assert fee.level not in collected  # each level at most once
            assert fee.amount > 0 and fee.currency == "EUR"
            collected[fee.level] = fee.amount
    assert collected == amounts(assess(snapshot({}), policy, run_dates[-1]))
    cap = policy.cap_for(principal, "EUR")
    if cap is not None:
        assert sum(collected.values(), D(0)) <= cap
