"""The dashboard's KPIs on worked examples: periods on the calendar, balances through time, DSO, CEI and ADD."""

from datetime import date
from decimal import Decimal as D

import pytest

from duly.domain import kpis
from duly.domain.kpis import BalanceEvent, Period, PeriodFigures


def test_the_last_twelve_months_end_with_the_month_to_date():
    months = kpis.month_periods(date(2026, 3, 15), 12)
    assert len(months) == 12
    assert months[0] == Period(date(2025, 4, 1), date(2025, 4, 30))
    assert months[-2] == Period(date(2026, 2, 1), date(2026, 2, 28))  # not a leap year
    assert months[-1] == Period(date(2026, 3, 1), date(2026, 3, 15))
    assert [p.days for p in months[-3:]] == [31, 28, 15]
    assert kpis.month_periods(date(2028, 3, 1), 2)[0].days == 29  # 2028 is a leap year


@pytest.mark.parametrize("as_of, month, quarter", [
    (date(2026, 1, 10), (date(2025, 12, 1), date(2025, 12, 31)), (date(2025, 10, 1), date(2025, 12, 31))),
    (date(2026, 3, 31), (date(2026, 2, 1), date(2026, 2, 28)), (date(2025, 10, 1), date(2025, 12, 31))),
    (date(2026, 4, 1), (date(2026, 3, 1), date(2026, 3, 31)), (date(2026, 1, 1), date(2026, 3, 31))),
    (date(2026, 12, 7), (date(2026, 11, 1), date(2026, 11, 30)), (date(2026, 7, 1), date(2026, 9, 30))),
])
def test_last_month_and_last_quarter_are_the_last_complete_ones(as_of, month, quarter):
    assert kpis.last_month(as_of) == Period(*month)
    assert kpis.last_quarter(as_of) == Period(*quarter)


def test_balances_walk_the_calendar_and_keep_currencies_apart():
    events = [
        BalanceEvent(date(2026, 1, 10), "EUR", D("100.00")),   # issued, due 31 Jan
        BalanceEvent(date(2026, 1, 31), "EUR", D("-100.00")),  # paid on its due date
        BalanceEvent(date(2026, 1, 15), "EUR", D("250.00")),   # issued
        BalanceEvent(date(2026, 2, 5), "EUR", D("-40.00")),    # a partial payment
        BalanceEvent(date(2026, 2, 6), "EUR", D("-30.00")),    # a credit note applied
        BalanceEvent(date(2026, 1, 20), "JPY", D("5000")),
    ]
    days = [date(2026, 1, 9), date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 28)]
    out = kpis.balances_at(events, days)
    assert out["EUR"] == {days[0]: D(0), days[1]: D("350.00"), days[2]: D("250.00"), days[3]: D("180.00")}
    assert out["JPY"] == {days[0]: D(0), days[1]: D(5000), days[2]: D(5000), days[3]: D(5000)}


def figures(start="1000", sales="2000", end="1200", current="800", period=Period(date(2026, 1, 1), date(2026, 1, 31))):
    return PeriodFigures(period, "EUR", D(start), D(sales), D(end), D(current))


def test_cei_and_add_on_a_worked_example():
    f = figures()
    # (1000 + 2000 − 1200) / (1000 + 2000 − 800) = 1800 / 2200 = 81.818…%
    assert kpis.cei(f) == D("81.8")
    # (1200 − 800) / 2000 × 31 days = 6.2 days
    assert kpis.average_days_delinquent(f) == D("6.2")
    # ADD is DSO less the best possible DSO: 1200/2000×31 − 800/2000×31 = 18.6 − 12.4
    assert kpis.dso_trend([f])["EUR"][0].dso == D("18.6")


def test_everything_collected_is_a_cei_of_100_and_no_delinquency():
    f = figures(start="500", sales="1000", end="300", current="300")
    assert kpis.cei(f) == D("100.0")
    assert kpis.average_days_delinquent(f) == D("0.0")


def test_without_sales_or_anything_collectable_the_kpis_are_none():
    assert kpis.average_days_delinquent(figures(sales="0")) is None
    assert kpis.cei(figures(start="0", sales="0", end="0", current="0")) is None
    assert kpis.dso_trend([figures(sales="0")])["EUR"][0].dso is None


def test_credit_notes_above_the_sales_count_as_no_sales_in_the_dso():
    assert kpis.dso_trend([figures(sales="-50")])["EUR"][0].dso is None


def test_dso_trend_keeps_currencies_apart():
    p = Period(date(2026, 2, 1), date(2026, 2, 28))
    out = kpis.dso_trend([PeriodFigures(p, "USD", 0, 100, 50, 0), PeriodFigures(p, "EUR", 0, 100, 25, 0)])
    assert list(out) == ["EUR", "USD"]
    assert out["EUR"][0].dso == D("7.0") and out["USD"][0].dso == D("14.0")


def test_top_by_amount_ranks_per_currency_and_skips_nothing_owed():
    amounts = {(i, "EUR"): D(i) for i in range(1, 15)} | {(1, "GBP"): D("5"), (2, "GBP"): D("0"), (3, "GBP"): D("-1")}
    out = kpis.top_by_amount(amounts, 10)
    assert [r.key for r in out["EUR"]] == list(range(14, 4, -1))
    assert [r.key for r in out["GBP"]] == [1]
