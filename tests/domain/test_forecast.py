"""The 13-week cash-in forecast and its backtest on worked examples."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from duly.domain import forecast as fc
from duly.domain.errors import ValidationError
from duly.domain.forecast import ExpectedItem

AS_OF = date(2026, 1, 5)  # a Monday: week 0 is 5–11 January


def item(pk, amount, due, *, currency="EUR", charge=None, promised=None, issued=date(2025, 12, 1)):
    return ExpectedItem(pk, currency, D(amount), issued, due, charge, promised)


def test_week_boundaries_follow_the_expected_day():
    out = fc.forecast([item(1, "10.00", date(2026, 1, 5)), item(2, "20.00", date(2026, 1, 11)),
                       item(3, "40.00", date(2026, 1, 12)), item(4, "80.00", AS_OF + timedelta(days=7 * 13 - 1))],
                      AS_OF)
    weeks = out.weeks["EUR"]
    assert len(weeks) == 13 and out.starts[1] == date(2026, 1, 12)
    assert weeks[0] == D("30.00") and weeks[1] == D("40.00") and weeks[12] == D("80.00")
    assert out.overdue["EUR"] == 0 and out.later["EUR"] == 0


def test_overdue_and_later_are_not_spread_over_the_weeks():
    out = fc.forecast([item(1, "10.00", date(2026, 1, 4)), item(2, "25.00", AS_OF + timedelta(weeks=13))], AS_OF)
    assert sum(out.weeks["EUR"]) == 0
    assert out.overdue["EUR"] == D("10.00") and out.later["EUR"] == D("25.00")


def test_a_promise_replaces_the_due_date_and_autopay_is_expected_on_its_charge_day():
    promised = item(1, "100.00", date(2026, 1, 6), promised=date(2026, 2, 2))
    autopay = item(2, "50.00", date(2026, 1, 20), charge=date(2026, 1, 13))
    out = fc.forecast([promised, autopay], AS_OF)
    assert out.weeks["EUR"][0] == 0
    assert out.weeks["EUR"][1] == D("50.00")  # charged on the 13th, a week before it is due
    assert out.weeks["EUR"][4] == D("100.00")  # 2 February: week 4


def test_an_expected_date_from_a_model_wins_over_every_rule():
    items = [item(1, "100.00", date(2026, 1, 6), promised=date(2026, 2, 2), charge=date(2026, 1, 6))]
    out = fc.forecast(items, AS_OF, expected={1: date(2026, 3, 30)})
    assert out.weeks["EUR"][12] == D("100.00")
    assert fc.expected_date(items[0], {2: date(2026, 3, 30)}) == date(2026, 2, 2)


def test_partial_payments_count_only_what_is_open_and_currencies_stay_apart():
    out = fc.forecast([item(1, "60.00", date(2026, 1, 7)), item(2, "1500", date(2026, 1, 7), currency="JPY"),
                       item(3, "-20.00", date(2026, 1, 8))], AS_OF)  # a credit note still open
    assert list(out.weeks) == ["EUR", "JPY"]
    assert out.weeks["EUR"][0] == D("40.00") and out.weeks["JPY"][0] == D("1500")


def test_without_a_due_date_the_issue_date_counts():
    assert fc.expected_date(item(1, "1", None, issued=date(2026, 1, 2))) == date(2026, 1, 2)


def test_the_latest_promise_of_an_invoice_counts():
    rows = [(1, date(2026, 2, 1), 1), (1, date(2026, 3, 1), 3), (1, date(2026, 1, 20), 2), (2, date(2026, 1, 9), 1)]
    assert fc.latest_promises(rows) == {1: date(2026, 3, 1), 2: date(2026, 1, 9)}


def test_a_forecast_needs_weeks():
    with pytest.raises(ValidationError):
        fc.forecast([], AS_OF, weeks=0)


def test_backtest_compares_each_week_with_what_was_received():
    past = fc.forecast([item(1, "100.00", date(2026, 1, 6)), item(2, "50.00", date(2026, 1, 13))], AS_OF)
    received = [
        (date(2026, 1, 4), "EUR", D("999.00")),   # before the forecast: left out
        (date(2026, 1, 9), "EUR", D("80.00")),    # week 0: 20 short
        (date(2026, 1, 14), "EUR", D("50.00")),   # week 1: on the mark
        (date(2026, 1, 20), "EUR", D("30.00")),   # week 2: not forecast
        (date(2026, 1, 21), "USD", D("10.00")),   # a currency never forecast
        (AS_OF + timedelta(weeks=13), "EUR", D("5.00")),  # after the last week: left out
    ]
    bt = fc.backtest(past, received)
    eur = bt.weeks["EUR"]
    assert [w.error for w in eur[:3]] == [D("-20.00"), D("0.00"), D("30.00")]
    assert bt.total_forecast("EUR") == D("150.00") and bt.total_actual("EUR") == D("160.00")
    assert bt.absolute_error("EUR") == D("50.00")
    assert bt.wape("EUR") == D("31.3")  # 50 / 160
    assert bt.bias("EUR") == D("10.00")
    assert bt.total_forecast("USD") == 0 and bt.wape("USD") == D("100.0")


def test_backtest_without_receipts_has_no_percentage_error():
    bt = fc.backtest(fc.forecast([item(1, "10.00", date(2026, 1, 6))], AS_OF), [])
    assert bt.wape("EUR") is None and bt.bias("EUR") == D("-10.00")
