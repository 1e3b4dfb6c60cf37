"""Aging buckets, DSO and average days late (no database)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duly.domain.aging import (
    BUCKETS,
    DaysLate,
    OpenInvoice,
    age_buckets,
    average_days_late,
    bucket_for,
    days_past_due,
    dso,
)
from duly.domain.errors import UnknownCurrency, ValidationError

D = Decimal
AS_OF = date(2026, 6, 30)


def inv(customer, number, due, open_amount, currency="EUR", total=None):
    return OpenInvoice(
        customer_id=customer,
        invoice_id=number,
        number=number,
        currency=currency,
        issue_date=date(2026, 1, 1),
        due_date=due,
        total=D(total if total is not None else open_amount),
        open_amount=D(open_amount),
    )


ITEMS = [
    inv("c1", "INV-1", date(2026, 7, 15), "100.00"),  # not yet due → current
    inv("c1", "INV-2", date(2026, 6, 30), "50.00"),  # due today (0 days) → current
    inv("c1", "INV-3", date(2026, 6, 29), "10.00"),  # 1 day → 1-30
    inv("c1", "INV-4", date(2026, 5, 31), "20.00"),  # 30 days → 1-30
    inv("c2", "INV-5", date(2026, 5, 30), "30.00"),  # 31 days → 31-60
    inv("c2", "INV-6", date(2026, 5, 1), "40.00"),  # 60 days → 31-60
    inv("c2", "INV-7", date(2026, 4, 30), "60.00"),  # 61 days → 61-90
    inv("c2", "INV-8", date(2026, 4, 1), "70.00"),  # 90 days → 61-90
    inv("c2", "INV-9", date(2026, 3, 31), "80.00"),  # 91 days → 90+
    inv("c1", "INV-10", date(2026, 1, 1), "500.00", currency="USD"),  # 180 days → 90+, in USD
    inv("c1", "CN-1", None, "-25.00", total="-25.00"),  # credit note without due date → current
    inv("c2", "INV-11", date(2026, 1, 1), "0.00", total="99.00"),  # fully paid → left out
]


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(-10, "current"), (0, "current"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"),
     (61, "61-90"), (90, "61-90"), (91, "90+"), (1000, "90+")],
)
def test_bucket_boundaries(days, bucket):
    assert bucket_for(days) == bucket


def test_days_past_due():
    assert days_past_due(date(2026, 5, 31), AS_OF) == 30
    assert days_past_due(date(2026, 7, 15), AS_OF) == -15
    assert days_past_due(None, AS_OF) == 0


def test_overall_totals_per_currency():
    report = age_buckets(ITEMS, AS_OF)
    assert report.as_of == AS_OF
    assert list(report.overall) == ["EUR", "USD"]
    eur = report.overall["EUR"]
    assert dict(eur.amounts) == {
        "current": D("125.00"),  # 100.00 + 50.00 − 25.00
        "1-30": D("30.00"),  # 10.00 + 20.00
        "31-60": D("70.00"),  # 30.00 + 40.00
        "61-90": D("130.00"),  # 60.00 + 70.00
        "90+": D("80.00"),
    }
    assert dict(eur.counts) == {"current": 3, "1-30": 2, "31-60": 2, "61-90": 2, "90+": 1}
    assert eur.total == D("435.00") and eur.overdue == D("310.00") and eur.count == 10
    usd = report.overall["USD"]  # never mixed with EUR
    assert dict(usd.amounts) == {"current": 0, "1-30": 0, "31-60": 0, "61-90": 0, "90+": D("500.00")}
    assert usd.total == usd.overdue == D("500.00")


def test_totals_per_customer_and_currency():
    report = age_buckets(ITEMS, AS_OF)
    assert list(report.by_customer) == ["c1", "c2"]
    c1 = report.customer("c1")
    assert list(c1) == ["EUR", "USD"]
    assert c1["EUR"].amounts["current"] == D("125.00") and c1["EUR"].amounts["1-30"] == D("30.00")
    assert c1["EUR"].overdue == D("30.00")
    assert c1["USD"].amounts["90+"] == D("500.00")
    c2 = report.customer("c2")
    assert list(c2) == ["EUR"]
    assert [c2["EUR"].amounts[b] for b in BUCKETS] == [0, 0, D("70.00"), D("130.00"), D("80.00")]
    assert report.customer("nobody") == {}


def test_empty_report():
    report = age_buckets([], AS_OF)
    assert report.overall == {} and report.by_customer == {}


def test_report_is_read_only():
    report = age_buckets(ITEMS, AS_OF)
    with pytest.raises(TypeError):
        report.overall["EUR"].amounts["current"] = D(0)  # type: ignore[index]


def test_open_invoice_validation():
    with pytest.raises(UnknownCurrency):
        inv("c1", "X", AS_OF, "1.00", currency="EURO")
    with pytest.raises(ValidationError):
        OpenInvoice("c1", 1, "X", "EUR", AS_OF, AS_OF, D(1), 1.5)  # type: ignore[arg-type]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["EUR", "USD", "JPY"]),
            st.integers(min_value=-200, max_value=200),
            st.integers(min_value=-10**6, max_value=10**8),
        ),
        max_size=40,
    )
)
def test_buckets_add_up_per_currency(rows):
    items = [
        inv(cust, f"N{i}", AS_OF - timedelta(days=days), str(D(minor) / 100), currency=cur)
        for i, (cust, cur, days, minor) in enumerate(rows)
    ]
    report = age_buckets(items, AS_OF)
    for cur, totals in report.overall.items():
        assert totals.total == sum((i.open_amount for i in items if i.currency == cur), D(0))
        per_customer = sum((r[cur].total for r in report.by_customer.values() if cur in r), D(0))
        assert per_customer == totals.total
        assert set(totals.amounts) == set(BUCKETS)


# --- DSO ------------------------------------------------------------------------------------------


def test_dso_worked_examples():
    # 100,000 / 300,000 × 90 = 30.0 days
    assert dso(D("100000"), D("300000"), 90) == D("30.0")
    # 12,345.67 / 45,678.90 × 30 = 8.1081… → 8.1
    assert dso("12345.67", "45678.90", 30) == D("8.1")
    assert dso("12345.67", "45678.90", 30, places=3) == D("8.108")
    # 45,000 / 30,000 × 31 = 46.5 days (receivables above a month of sales)
    assert dso(45000, 30000, 31) == D("46.5")
    assert dso(0, 1000, 30) == D("0.0")


def test_dso_without_sales_is_none():
    assert dso(D("5000"), D("0"), 90) is None


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(("100", "-1", 30), {}), (("100", "100", 0), {}), (("100", "100", 1.5), {}), ((100.0, "100", 30), {}),
     (("100", "100", 30), {"places": -1})],
)
def test_dso_input_errors(args, kwargs):
    with pytest.raises(ValidationError):
        dso(*args, **kwargs)


# --- average days late ----------------------------------------------------------------------------

PAID = [
    (date(2026, 1, 31), date(2026, 2, 10), D("1000")),  # 10 days late
    (date(2026, 2, 28), date(2026, 2, 20), D("500")),  # 8 days early → 0 (or −8)
    (date(2026, 3, 31), date(2026, 5, 30), D("250")),  # 60 days late
]


def test_average_days_late_simple_and_weighted():
    result = average_days_late(PAID)
    # simple: (10 + 0 + 60) / 3 = 23.33 → 23.3
    # weighted: (10 × 1000 + 0 × 500 + 60 × 250) / 1750 = 25,000 / 1,750 = 14.29 → 14.3
    assert result == DaysLate(simple=D("23.3"), weighted=D("14.3"), count=3)


def test_average_days_late_counting_early_payments_as_negative():
    result = average_days_late(PAID, early_as_zero=False)
    # simple: (10 − 8 + 60) / 3 = 20.67 → 20.7
    # weighted: (10,000 − 4,000 + 15,000) / 1,750 = 12.0
    assert result == DaysLate(simple=D("20.7"), weighted=D("12.0"), count=3)


def test_average_days_late_edge_cases():
    assert average_days_late([]) == DaysLate(None, None, 0)
    # Zero amounts: no weighted average.
    assert average_days_late([(date(2026, 1, 1), date(2026, 1, 5), 0)]) == DaysLate(D("4.0"), None, 1)
    assert average_days_late([(date(2026, 1, 1), date(2026, 1, 4), "10")], places=0) == DaysLate(D(3), D(3), 1)
    with pytest.raises(ValidationError):
        average_days_late([(date(2026, 1, 1), date(2026, 1, 5), "-1")])
    with pytest.raises(ValidationError):
        average_days_late(PAID, places=-2)
