"""Statutory late-payment interest by jurisdiction (issue 11, item 10): worked examples, arithmetic beside each.

Each regime is a row of ``REGIMES``: its reference-rate series, margin, half-year rule and fixed sums. Interest
is simple, actual/365, rounded half up once per calendar month. The reference rates below are examples chosen
for the arithmetic (they are not quoted as the official figures).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from duly.domain.errors import InvalidLateFeePolicy, ReferenceRateMissing, ValidationError
from duly.domain.late_fees import (
    REGIMES,
    LateFeePolicy,
    OpenItem,
    accrued_interest,
    assess,
    check_series,
    describe_policy,
    first_semester_from,
    reference_rate_in_force,
)

D = Decimal

ECB = ((date(2025, 6, 11), D("2.15")),)  # series EUR
BASIS = ((date(2025, 7, 1), D("1.27")), (date(2026, 7, 1), D("1.77")))  # series DE-BASIS
BOE = ((date(2025, 8, 7), D("4.00")), (date(2025, 12, 18), D("3.75")), (date(2026, 7, 1), D("3.50")))  # GBP


def item(due: date, unpaid: str, currency: str = "EUR", *, payments=(), levels=()) -> OpenItem:
    return OpenItem(invoice_id=1, currency=currency, due_date=due, unpaid_principal=D(unpaid),
                    payments=tuple((d, D(a)) for d, a in payments), assessed_levels=frozenset(levels))


def amounts(fees) -> dict[str, Decimal]:
    return {f.level: f.amount for f in fees}


def test_the_regimes_are_a_table_of_data():
    assert {kind: (r.series, r.margin, r.fixing, tuple(s for _, s in r.fixed_sums), r.sums_currency)
            for kind, r in REGIMES.items()} == {
        "eu_statutory": (None, D(8), "first_day", (D("40.00"),), "EUR"),
        "de_statutory_b2b": ("DE-BASIS", D(9), "first_day", (D("40.00"),), "EUR"),
        "de_statutory_b2c": ("DE-BASIS", D(5), "first_day", (), None),
        "fr_statutory": ("EUR", D(10), "first_day", (D("40.00"),), "EUR"),
        "uk_statutory": ("GBP", D(8), "day_before", (D("40.00"), D("70.00"), D("100.00")), "GBP"),
    }


def test_eu_generic_rule():
    # 1,000.00 EUR due 31 January 2026, unpaid; ECB rate 2.15% in force on 1 January 2026 → 10.15% a year.
    policy = LateFeePolicy("eu_statutory", reference_rates=ECB)
    fees = assess(item(date(2026, 1, 31), "1000.00"), policy, date(2026, 3, 31))
    assert amounts(fees) == {
        "compensation": D("40.00"),        # Directive 2011/7/EU art. 6: EUR 40
        "interest:2026-02": D("7.79"),     # 1,000.00 × 10.15% × 28/365 = 7.786…
        "interest:2026-03": D("8.62"),     # 1,000.00 × 10.15% × 31/365 = 8.620…
    }
    # On 10 April, 1–10 April has accrued (not invoiced yet): 1,000.00 × 10.15% × 10/365 = 2.780… → 2.78.
    charged = item(date(2026, 1, 31), "1000.00", levels=[f.level for f in fees])
    accrued = accrued_interest(charged, policy, date(2026, 4, 10))
    assert (accrued.amount, accrued.days, accrued.first_day, accrued.last_day) == (
        D("2.78"), 10, date(2026, 4, 1), date(2026, 4, 10))
    assert accrued.explanation == ("Interest 1–10 April 2026: 1,000.00 × 10.15% × 10/365 = 2.78 "
                                   "(ECB rate 2.15% for the 1st half of 2026 + 8 points)")


def test_germany_between_businesses():
    # §288(2) BGB: base rate 1.27% (1st half of 2026) + 9 points = 10.27%; §288(5): EUR 40 Pauschale.
    policy = LateFeePolicy("de_statutory_b2b", reference_rates=BASIS)
    fees = assess(item(date(2026, 1, 15), "5000.00"), policy, date(2026, 2, 28))
    assert amounts(fees) == {
        "compensation": D("40.00"),        # Pauschale, §288(5) BGB
        "interest:2026-01": D("22.51"),    # 5,000.00 × 10.27% × 16/365 = 22.509… (16–31 January)
        "interest:2026-02": D("39.39"),    # 5,000.00 × 10.27% × 28/365 = 39.391…
    }
    assert fees[0].explanation.startswith("Flat sum (Pauschale) under §288(5) BGB: EUR 40.00 (44 days late")
    assert fees[1].explanation == ("Interest 16–31 January 2026: 5,000.00 × 10.27% × 16/365 = 22.51 "
                                   "(base rate 1.27% for the 1st half of 2026 + 9 points, §288(2) BGB)")


def test_germany_with_a_consumer():
    # §288(1) BGB: base rate + 5 points = 6.27%; no flat sum with a consumer.
    policy = LateFeePolicy("de_statutory_b2c", reference_rates=BASIS)
    fees = assess(item(date(2026, 1, 31), "5000.00"), policy, date(2026, 2, 28))
    assert amounts(fees) == {"interest:2026-02": D("24.05")}  # 5,000.00 × 6.27% × 28/365 = 24.049…
    # From 1 July the base rate of the 2nd half applies: 1.77% + 5 = 6.77%; 5,000.00 × 6.77% × 31/365 = 28.749…
    july = assess(item(date(2026, 1, 31), "5000.00", levels=["interest:2026-0%d" % m for m in range(2, 7)]),
                  policy, date(2026, 7, 31))
    assert amounts(july) == {"interest:2026-07": D("28.75")}


def test_france():
    # L441-10 Code de commerce: ECB rate 2.15% + 10 points = 12.15%; D441-5: EUR 40 indemnité forfaitaire.
    policy = LateFeePolicy("fr_statutory", reference_rates=ECB)
    fees = assess(item(date(2026, 2, 28), "1000.00"), policy, date(2026, 3, 31))
    assert amounts(fees) == {
        "compensation": D("40.00"),
        "interest:2026-03": D("10.32"),    # 1,000.00 × 12.15% × 31/365 = 10.319…
    }
    assert fees[0].explanation.startswith(
        "Fixed indemnity for recovery costs under art. L441-10 and D441-5 Code de commerce: EUR 40.00")
    # Accrued to 20 April: 1,000.00 × 12.15% × 20/365 = 6.657… → 6.66.
    assert accrued_interest(item(date(2026, 2, 28), "1000.00", levels=[f.level for f in fees]), policy,
                            date(2026, 4, 20)).amount == D("6.66")


def test_united_kingdom_rate_in_force_the_day_before_each_half_year():
    policy = LateFeePolicy("uk_statutory", reference_rates=BOE)
    # 1st half of 2026: the rate in force on 31 December 2025 (3.75% since 18 December) + 8 = 11.75%.
    # 2nd half of 2026: the rate in force on 30 June 2026 — still 3.75%: the 1 July change waits until 2027.
    assert reference_rate_in_force(BOE, date(2026, 7, 15), "day_before") == D("3.75")
    assert reference_rate_in_force(BOE, date(2026, 7, 15), "first_day") == D("3.50")  # what 1 Jan/1 Jul would take
    assert first_semester_from(date(2026, 6, 30), "day_before") == date(2026, 7, 1)
    assert first_semester_from(date(2026, 7, 1), "day_before") == date(2027, 1, 1)
    fees = assess(item(date(2026, 6, 30), "2500.00", "GBP"), policy, date(2026, 7, 31))
    assert amounts(fees) == {
        "compensation": D("70.00"),        # a debt of 1,000.00 to 9,999.99: GBP 70
        "interest:2026-07": D("24.95"),    # 2,500.00 × 11.75% × 31/365 = 24.948…
    }
    assert fees[0].explanation.startswith(
        "Fixed sum under section 5A of the Late Payment of Commercial Debts (Interest) Act 1998: GBP 70.00 for a "
        "debt of GBP 2,500.00: 1,000.00 to 9,999.99")


@pytest.mark.parametrize(("debt", "fixed_sum"), [
    ("999.99", "40.00"), ("1000.00", "70.00"), ("9999.99", "70.00"), ("10000.00", "100.00"), ("250000.00", "100.00"),
])
def test_united_kingdom_fixed_sums_by_size_of_debt(debt, fixed_sum):
    policy = LateFeePolicy("uk_statutory", reference_rate_percent=D("3.75"))
    fees = assess(item(date(2026, 3, 31), debt, "GBP"), policy, date(2026, 4, 1))
    assert amounts(fees)["compensation"] == D(fixed_sum)


def test_fixed_sums_are_never_converted_and_may_be_agreed():
    with pytest.raises(InvalidLateFeePolicy, match=r"GBP 40.00 / GBP 70.00 / GBP 100.00 and is never converted"):
        assess(item(date(2026, 3, 31), "500.00", "EUR"), LateFeePolicy("uk_statutory", reference_rate_percent=D("4")),
               date(2026, 4, 1))
    agreed = LateFeePolicy("de_statutory_b2b", reference_rate_percent=D("1.27"), compensation_amount=D("35.00"))
    late = item(date(2026, 3, 31), "500.00", "CHF")
    assert amounts(assess(late, agreed, date(2026, 4, 1))) == {"compensation": D("35.00")}
    assert accrued_interest(late, agreed, date(2026, 4, 1)).amount == D("0.14")  # 500.00 × 10.27% × 1/365 = 0.140…


def test_each_regime_reads_its_own_series_and_names_it_when_a_rate_is_missing():
    assert LateFeePolicy("de_statutory_b2b", reference_rates=()).reference_series("EUR") == "DE-BASIS"
    assert LateFeePolicy("fr_statutory", reference_rates=()).reference_series("USD") == "EUR"
    assert LateFeePolicy("eu_statutory", reference_rates=()).reference_series("PLN") == "PLN"
    assert LateFeePolicy("interest_annual", rate_percent=D(12)).reference_series("EUR") is None
    with pytest.raises(ReferenceRateMissing, match=r"No GBP reference rate is recorded for the 1st half of 2026 "
                                                   r"\(the Bank of England base rate in force on 31 December 2025\)"
                                                   r".*duly rates set --series GBP") as missing:
        assess(item(date(2026, 1, 31), "100.00", "GBP"), LateFeePolicy("uk_statutory", reference_rates=()),
               date(2026, 2, 28))
    assert missing.value.context["series"] == "GBP" and missing.value.code == "reference_rate_missing"


def test_series_names():
    assert [check_series(s) for s in ("eur", "ECB", "boe", "de-basis", "PLN")] == [
        "EUR", "EUR", "GBP", "DE-BASIS", "PLN"]
    with pytest.raises(ValidationError, match="Unknown reference-rate series 'ZZZ'"):
        check_series("ZZZ")


@pytest.mark.parametrize(("kind", "rates", "currency", "words"), [
    ("eu_statutory", ECB, "EUR", "statutory interest at the reference rate + 8 points (currently 10.15% per year, "
                                 "ECB rate 2.15% for the 1st half of 2026) from the due date, plus EUR 40.00 fixed "
                                 "compensation."),
    ("de_statutory_b2b", BASIS, "EUR", "statutory interest under §288(2) BGB at the base rate + 9 points (currently "
                                       "10.27% per year, base rate 1.27% for the 1st half of 2026) from the due date, "
                                       "plus EUR 40.00 fixed compensation."),
    ("de_statutory_b2c", BASIS, "EUR", "statutory interest under §288(1) BGB at the base rate + 5 points (currently "
                                       "6.27% per year, base rate 1.27% for the 1st half of 2026) from the due date."),
    ("fr_statutory", ECB, "EUR", "statutory interest under art. L441-10 Code de commerce at the ECB rate + 10 points "
                                 "(currently 12.15% per year, ECB rate 2.15% for the 1st half of 2026) from the due "
                                 "date, plus EUR 40.00 fixed compensation."),
    ("uk_statutory", BOE, "GBP", "statutory interest under Late Payment of Commercial Debts (Interest) Act 1998 at "
                                 "the Bank of England base rate + 8 points (currently 11.75% per year, Bank of England "
                                 "base rate 3.75% for the 1st half of 2026) from the due date, plus GBP 40.00 (under "
                                 "1,000.00), GBP 70.00 (1,000.00 to 9,999.99) or GBP 100.00 (10,000.00 or more) fixed "
                                 "compensation by size of debt."),
])
def test_each_regime_states_its_terms_in_words(kind, rates, currency, words):
    assert describe_policy(LateFeePolicy(kind, reference_rates=rates), currency, date(2026, 3, 1)) == (
        "Late payment: " + words)


def test_accrued_interest_is_daily_and_leaves_out_what_was_invoiced():
    policy = LateFeePolicy("eu_statutory", reference_rates=ECB)
    # 1,000.00 due 31 January 2026, 400.00 paid on 10 February; nothing invoiced yet, seen on 5 March:
    # 1–10 February on 1,000.00: 1,000.00 × 10.15% × 10/365 = 2.780…; 11–28 February on 600.00:
    # 600.00 × 10.15% × 18/365 = 3.003… → February 5.78; 1–5 March: 600.00 × 10.15% × 5/365 = 0.834… → 0.83.
    open_item = item(date(2026, 1, 31), "600.00", payments=[(date(2026, 2, 10), "400.00")])
    accrued = accrued_interest(open_item, policy, date(2026, 3, 5))
    assert (accrued.amount, accrued.days) == (D("6.61"), 33)  # 5.78 + 0.83
    # Once February is invoiced, only March's days are accrued and shown.
    invoiced = item(date(2026, 1, 31), "600.00", payments=[(date(2026, 2, 10), "400.00")],
                    levels=["interest:2026-02", "compensation"])
    assert accrued_interest(invoiced, policy, date(2026, 3, 5)).amount == D("0.83")
    # Not late yet, or paid: nothing accrues.
    assert accrued_interest(item(date(2026, 3, 31), "600.00"), policy, date(2026, 3, 5)).amount == D("0.00")
