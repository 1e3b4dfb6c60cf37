"""Payment terms → exact due dates, their English description, and instalment splits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duly.domain.errors import InvalidTerms, UnknownCurrency, UnknownHolidayCountry, ValidationError
from duly.domain.payment_terms import (
    Instalment,
    PaymentTerms,
    describe,
    due_date,
    format_date,
    instalments,
    summarize,
)

D = Decimal


# --- due dates per kind ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "issued", "expected"),
    [
        # net N: issue date + N days.
        (PaymentTerms("net", 30), date(2026, 3, 1), date(2026, 3, 31)),
        (PaymentTerms("net", 30), date(2026, 1, 31), date(2026, 3, 2)),  # 31 Jan + 30 days (28-day February)
        (PaymentTerms("net", 30), date(2028, 1, 31), date(2028, 3, 1)),  # leap year: 29 February counts
        (PaymentTerms("net", 0), date(2026, 3, 1), date(2026, 3, 1)),
        (PaymentTerms("net", 14), date(2026, 12, 20), date(2027, 1, 3)),  # crosses the year
        # end of month + N: end of the issue month, then + N days.
        (PaymentTerms("end_of_month"), date(2026, 1, 10), date(2026, 1, 31)),
        (PaymentTerms("end_of_month", 30), date(2026, 1, 10), date(2026, 3, 2)),  # 31 Jan + 30
        (PaymentTerms("end_of_month", 10), date(2026, 2, 27), date(2026, 3, 10)),  # 28 Feb + 10
        (PaymentTerms("end_of_month", 10), date(2028, 2, 27), date(2028, 3, 10)),  # 29 Feb 2028 + 10
        (PaymentTerms("end_of_month"), date(2028, 2, 1), date(2028, 2, 29)),
        # fixed day of the next month, clamped to its last day.
        (PaymentTerms("day_of_next_month", day_of_month=10), date(2026, 1, 20), date(2026, 2, 10)),
        (PaymentTerms("day_of_next_month", day_of_month=31), date(2026, 1, 31), date(2026, 2, 28)),
        (PaymentTerms("day_of_next_month", day_of_month=31), date(2028, 1, 5), date(2028, 2, 29)),
        (PaymentTerms("day_of_next_month", day_of_month=31), date(2026, 2, 28), date(2026, 3, 31)),
        (PaymentTerms("day_of_next_month", day_of_month=30), date(2026, 12, 1), date(2027, 1, 30)),
        (PaymentTerms("day_of_next_month", day_of_month=5, days=30), date(2026, 3, 1), date(2026, 4, 5)),
        # on receipt: the issue date (days ignored).
        (PaymentTerms("on_receipt"), date(2026, 3, 14), date(2026, 3, 14)),
        (PaymentTerms("on_receipt", days=30), date(2026, 3, 14), date(2026, 3, 14)),
    ],
)
def test_due_date_per_kind(terms, issued, expected):
    assert due_date(terms, issued) == expected


def test_weekend_adjustments():
    # Issued Thursday 12 Feb 2026, net 30 → Saturday 14 March 2026.
    issued = date(2026, 2, 12)
    assert due_date(PaymentTerms("net", 30), issued) == date(2026, 3, 14)
    assert due_date(PaymentTerms("net", 30, business_day_adjustment="following", country="FR"), issued) == date(
        2026, 3, 16
    )
    assert due_date(PaymentTerms("net", 30, business_day_adjustment="preceding", country="FR"), issued) == date(
        2026, 3, 13
    )
    assert due_date(
        PaymentTerms("net", 30, business_day_adjustment="modified_following", country="FR"), issued
    ) == date(2026, 3, 16)


@pytest.mark.parametrize(
    ("country", "issued", "adjustment", "expected"),
    [
        # France, Bastille Day: net 30 from 14 June 2026 → Tuesday 14 July → Wednesday 15 July.
        ("FR", date(2026, 6, 14), "following", date(2026, 7, 15)),
        ("FR", date(2026, 6, 14), "preceding", date(2026, 7, 13)),
        ("DE", date(2026, 6, 14), "following", date(2026, 7, 14)),  # an ordinary day in Germany
        # France, Labour Day: net 30 from 1 April 2026 → Friday 1 May → Monday 4 May.
        ("FR", date(2026, 4, 1), "following", date(2026, 5, 4)),
        ("FR", date(2026, 4, 1), "modified_following", date(2026, 5, 4)),
        ("US", date(2026, 4, 1), "following", date(2026, 5, 1)),
        # Germany, German Unity Day: net 30 from 3 Sep 2025 → Friday 3 October → Monday 6 October.
        ("DE", date(2025, 9, 3), "following", date(2025, 10, 6)),
        ("DE", date(2025, 9, 3), "preceding", date(2025, 10, 2)),
        ("FR", date(2025, 9, 3), "following", date(2025, 10, 3)),  # an ordinary Friday in France
        # US, Independence Day: net 30 from 4 June 2026 → Saturday 4 July; Friday 3 July is the
        # observed holiday, so following → Monday 6 July and preceding → Thursday 2 July.
        ("US", date(2026, 6, 4), "following", date(2026, 7, 6)),
        ("US", date(2026, 6, 4), "preceding", date(2026, 7, 2)),
        ("FR", date(2026, 6, 4), "preceding", date(2026, 7, 3)),
    ],
)
def test_national_holidays_move_the_due_date(country, issued, adjustment, expected):
    terms = PaymentTerms("net", 30, business_day_adjustment=adjustment, country=country)
    assert due_date(terms, issued) == expected


def test_modified_following_stays_in_the_month():
    # Day-31 terms issued in September 2026 → Saturday 31 October. Following would be Monday 2 November
    # (Sunday 1 November is All Saints' Day), so modified following goes back to Friday 30 October.
    terms = PaymentTerms("day_of_next_month", day_of_month=31, business_day_adjustment="modified_following",
                         country="FR")
    assert due_date(terms, date(2026, 9, 15)) == date(2026, 10, 30)
    following = PaymentTerms("day_of_next_month", day_of_month=31, business_day_adjustment="following",
                             country="FR")
    assert due_date(following, date(2026, 9, 15)) == date(2026, 11, 2)


def test_adjustment_never_moves_the_due_date_before_the_issue_date():
    # Due on receipt, issued Saturday 14 March 2026: "preceding" would give Friday 13 March.
    terms = PaymentTerms("on_receipt", business_day_adjustment="preceding", country="FR")
    assert due_date(terms, date(2026, 3, 14)) == date(2026, 3, 14)
    terms = PaymentTerms("on_receipt", business_day_adjustment="following", country="FR")
    assert due_date(terms, date(2026, 3, 14)) == date(2026, 3, 16)


def test_subdivision_holidays_apply():
    # Epiphany (Tuesday 6 Jan 2026) is a holiday in Bavaria, not in Germany as a whole.
    bavaria = PaymentTerms("net", 30, business_day_adjustment="following", country="DE", subdivision="BY")
    germany = PaymentTerms("net", 30, business_day_adjustment="following", country="DE")
    assert due_date(bavaria, date(2025, 12, 7)) == date(2026, 1, 7)
    assert due_date(germany, date(2025, 12, 7)) == date(2026, 1, 6)


# --- descriptions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "issued", "text"),
    [
        (PaymentTerms("net", 30), date(2026, 3, 1), "Payment due by 31 March 2026 (30 days net)"),
        (PaymentTerms("net", 1), date(2026, 3, 1), "Payment due by 2 March 2026 (1 day net)"),
        (PaymentTerms("net", 0), date(2026, 3, 1), "Payment due by 1 March 2026 (net, due on the issue date)"),
        (PaymentTerms("end_of_month"), date(2026, 1, 10), "Payment due by 31 January 2026 (end of month)"),
        (PaymentTerms("end_of_month", 30), date(2026, 1, 10), "Payment due by 2 March 2026 (end of month + 30 days)"),
        (
            PaymentTerms("day_of_next_month", day_of_month=10),
            date(2026, 1, 20),
            "Payment due by 10 February 2026 (10th of the following month)",
        ),
        (
            PaymentTerms("day_of_next_month", day_of_month=31),
            date(2028, 1, 5),
            "Payment due by 29 February 2028 (31st of the following month, or its last day)",
        ),
        (
            PaymentTerms("day_of_next_month", day_of_month=31),
            date(2026, 2, 5),
            "Payment due by 31 March 2026 (31st of the following month)",
        ),
        (
            PaymentTerms("day_of_next_month", day_of_month=22),
            date(2026, 2, 5),
            "Payment due by 22 March 2026 (22nd of the following month)",
        ),
        (
            PaymentTerms("day_of_next_month", day_of_month=13),
            date(2026, 2, 5),
            "Payment due by 13 March 2026 (13th of the following month)",
        ),
        (PaymentTerms("on_receipt"), date(2026, 3, 2), "Payment due on receipt, by 2 March 2026"),
        (
            PaymentTerms("net", 30, business_day_adjustment="following", country="FR"),
            date(2026, 6, 14),
            "Payment due by 15 July 2026 (30 days net; moved from Tuesday 14 July 2026, a public holiday in FR, "
            "to the next business day)",
        ),
        (
            PaymentTerms("net", 30, business_day_adjustment="preceding", country="FR"),
            date(2026, 2, 12),
            "Payment due by 13 March 2026 (30 days net; moved from Saturday 14 March 2026 to the previous business day)",
        ),
        (
            PaymentTerms("net", 30, business_day_adjustment="following", country="FR"),
            date(2026, 3, 1),
            "Payment due by 31 March 2026 (30 days net)",  # not moved: no mention
        ),
        (
            PaymentTerms("on_receipt", business_day_adjustment="following", country="FR"),
            date(2026, 3, 14),
            "Payment due on receipt, by 16 March 2026 (moved from Saturday 14 March 2026 to the next business day)",
        ),
    ],
)
def test_describe_always_states_the_exact_date(terms, issued, text):
    assert describe(terms, issued) == text
    assert format_date(due_date(terms, issued)) in text


def test_summary_has_structured_fields():
    terms = PaymentTerms("net", 30, business_day_adjustment="following", country="fr")
    s = summarize(terms, date(2026, 6, 14))
    assert (s.kind, s.days, s.country, s.business_day_adjustment) == ("net", 30, "FR", "following")
    assert s.issue_date == date(2026, 6, 14)
    assert s.unadjusted_due_date == date(2026, 7, 14) and s.due_date == date(2026, 7, 15)
    assert s.adjusted and s.holiday_name == "National Day"
    plain = summarize(PaymentTerms("net", 30), date(2026, 3, 1))
    assert not plain.adjusted and plain.holiday_name is None and plain.country is None


def test_format_date_is_locale_independent():
    assert format_date(date(2028, 2, 29)) == "29 February 2028"
    assert format_date(date(2028, 2, 29), weekday=True) == "Tuesday 29 February 2028"


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(kind="net60"), "Unknown payment terms"),
        (dict(kind="net", days=-1), "cannot be negative"),
        (dict(kind="net", days=1.5), "whole number"),
        (dict(kind="net", days=True), "whole number"),
        (dict(kind="day_of_next_month"), "need a day_of_month"),
        (dict(kind="day_of_next_month", day_of_month=0), "between 1 and 31"),
        (dict(kind="day_of_next_month", day_of_month=32), "between 1 and 31"),
        (dict(kind="net", days=30, business_day_adjustment="nearest", country="FR"), "Unknown business-day"),
        (dict(kind="net", days=30, business_day_adjustment="following"), "needs the country"),
    ],
)
def test_invalid_terms_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(InvalidTerms, match=message) as exc:
        PaymentTerms(**kwargs)
    assert exc.value.code == "invalid_terms"


def test_unknown_holiday_country_is_refused_on_creation():
    with pytest.raises(UnknownHolidayCountry, match="XX"):
        PaymentTerms("net", 30, business_day_adjustment="following", country="XX")


def test_country_without_adjustment_is_harmless():
    terms = PaymentTerms("net", 30, country="FR")
    assert terms.calendar() is None
    assert due_date(terms, date(2026, 2, 12)) == date(2026, 3, 14)  # a Saturday, not adjusted


# --- instalments ----------------------------------------------------------------------------------


def test_instalments_split_evenly_and_last_absorbs_the_remainder():
    # 100.00 / 3 = 33.333… → 33.33 + 33.33 + (100.00 − 66.66 = 33.34)
    parts = instalments(D("100.00"), "EUR", [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)])
    assert [p.amount for p in parts] == [D("33.33"), D("33.33"), D("33.34")]
    assert [p.number for p in parts] == [1, 2, 3]
    assert parts[0] == Instalment(1, date(2026, 1, 31), D("33.33"), "EUR")


def test_monthly_instalments_keep_month_ends():
    parts = instalments("1000.00", "EUR", count=4, first_due=date(2026, 1, 31))
    assert [p.due_date for p in parts] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    assert [p.amount for p in parts] == [D("250.00")] * 4
    leap = instalments("10.00", "EUR", count=2, first_due=date(2028, 1, 31))
    assert [p.due_date for p in leap] == [date(2028, 1, 31), date(2028, 2, 29)]
    pinned = instalments("10.00", "EUR", count=3, first_due=date(2026, 2, 28), anchor_day="last")
    assert [p.due_date for p in pinned] == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    quarterly = instalments("10.00", "EUR", count=3, first_due=date(2026, 1, 15), interval_months=3)
    assert [p.due_date for p in quarterly] == [date(2026, 1, 15), date(2026, 4, 15), date(2026, 7, 15)]


def test_instalments_every_n_days_and_with_weights():
    parts = instalments("90.00", "EUR", count=3, first_due=date(2026, 1, 1), interval_days=30)
    assert [p.due_date for p in parts] == [date(2026, 1, 1), date(2026, 1, 31), date(2026, 3, 2)]
    # 30 % deposit, 70 % balance of 1,234.57: 370.371 → 370.37; 1,234.57 − 370.37 = 864.20
    parts = instalments("1234.57", "EUR", [date(2026, 1, 1), date(2026, 2, 1)], weights=[30, 70])
    assert [p.amount for p in parts] == [D("370.37"), D("864.20")]


def test_instalments_respect_the_currency_minor_unit():
    # JPY has no decimals: 1,000 / 3 → 333 + 333 + 334
    parts = instalments(1000, "JPY", count=3, first_due=date(2026, 1, 1))
    assert [p.amount for p in parts] == [D(333), D(333), D(334)]
    # BHD has three: 10.000 / 3 → 3.333 + 3.333 + 3.334
    parts = instalments("10.000", "BHD", count=3, first_due=date(2026, 1, 1))
    assert [p.amount for p in parts] == [D("3.333"), D("3.333"), D("3.334")]


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("-1.00", "EUR", [date(2026, 1, 1)]), {}, InvalidTerms),
        (("1.001", "EUR", [date(2026, 1, 1)]), {}, ValidationError),
        (("1.00", "XYZ", [date(2026, 1, 1)]), {}, UnknownCurrency),
        ((1.0, "EUR", [date(2026, 1, 1)]), {}, ValidationError),
        (("1.00", "EUR", []), {}, InvalidTerms),
        (("1.00", "EUR", [date(2026, 2, 1), date(2026, 1, 1)]), {}, InvalidTerms),
        (("1.00", "EUR", [date(2026, 1, 1), date(2026, 1, 1)]), {}, InvalidTerms),
        (("1.00", "EUR", [date(2026, 1, 1)]), dict(count=2), InvalidTerms),
        (("1.00", "EUR"), dict(count=2), InvalidTerms),
        (("1.00", "EUR"), dict(count=0, first_due=date(2026, 1, 1)), InvalidTerms),
        (("1.00", "EUR"), dict(count=2, first_due=date(2026, 1, 1), interval_days=0), InvalidTerms),
        (("1.00", "EUR"), dict(count=2, first_due=date(2026, 1, 1), interval_months=0), InvalidTerms),
        (("1.00", "EUR"), dict(count=2, first_due=date(2026, 1, 1), interval_months=1, interval_days=7), InvalidTerms),
        (("1.00", "EUR", [date(2026, 1, 1)]), dict(weights=[1, 2]), InvalidTerms),
        (("1.00", "EUR", [date(2026, 1, 1), date(2026, 2, 1)]), dict(weights=[0, 0]), InvalidTerms),
        (("1.00", "EUR", [date(2026, 1, 1), date(2026, 2, 1)]), dict(weights=[-1, 2]), InvalidTerms),
    ],
)
def test_instalment_input_errors(args, kwargs, error):
    with pytest.raises(error):
        instalments(*args, **kwargs)


# --- properties -----------------------------------------------------------------------------------

CURRENCIES = st.sampled_from(["EUR", "JPY", "BHD"])


@given(
    CURRENCIES,
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=1, max_value=36),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    st.integers(min_value=1, max_value=12),
)
def test_instalments_always_sum_to_the_total(currency, minor, count, first, interval):
    from duly.domain.money import from_minor

    total = from_minor(minor, currency)
    parts = instalments(total, currency, count=count, first_due=first, interval_months=interval)
    assert len(parts) == count
    assert sum(p.amount for p in parts) == total
    assert all(p.amount >= 0 for p in parts)
    assert all(a.due_date < b.due_date for a, b in zip(parts, parts[1:]))
    # Only the last part absorbs the remainder: the others are equal.
    assert len({p.amount for p in parts[:-1]}) <= 1


TERMS = st.one_of(
    st.builds(PaymentTerms, kind=st.just("net"), days=st.integers(0, 365)),
    st.builds(PaymentTerms, kind=st.just("end_of_month"), days=st.integers(0, 120)),
    st.builds(PaymentTerms, kind=st.just("day_of_next_month"), day_of_month=st.integers(1, 31)),
    st.builds(PaymentTerms, kind=st.just("on_receipt")),
).flatmap(
    lambda t: st.builds(
        PaymentTerms,
        kind=st.just(t.kind),
        days=st.just(t.days),
        day_of_month=st.just(t.day_of_month),
        business_day_adjustment=st.sampled_from(["following", "preceding", "modified_following"]),
        country=st.sampled_from(["FR", "DE", "US"]),
    )
    | st.just(t)
)


@given(TERMS, st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)))
def test_due_date_is_never_before_the_issue_date(terms, issued):
    due = due_date(terms, issued)
    assert due >= issued
    unadjusted = terms.unadjusted_due_date(issued)
    if terms.business_day_adjustment is None:
        assert due == unadjusted
    else:
        cal = terms.calendar()
        assert cal.is_business_day(due) or due == unadjusted
        assert abs((due - unadjusted).days) <= 10
    assert format_date(due) in describe(terms, issued)
