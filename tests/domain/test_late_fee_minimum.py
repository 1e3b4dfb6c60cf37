"""split_by_minimum: which late charges of one customer are invoiced now, and which are carried."""

from decimal import Decimal

from duly.domain.late_fees import MINIMUM_FEE_INVOICE, Fee, split_by_minimum


def fee(amount: str, level: str = "interest:2026-02") -> Fee:
    return Fee(level=level, kind="interest", amount=Decimal(amount), currency="EUR", days_late=10, rate=None,
               explanation="")


def test_default_minimum_is_five():
    assert MINIMUM_FEE_INVOICE == Decimal("5.00")


def test_large_charges_go_alone_small_ones_are_carried():
    groups, carried = split_by_minimum([("a", [fee("40.00")]), ("b", [fee("1.18")])], Decimal("5.00"))
    assert groups == [[("a", [fee("40.00")])]] and carried == [("b", [fee("1.18")])]


def test_small_charges_that_reach_the_minimum_together_go_as_one_group():
    small = [("a", [fee("2.50")]), ("b", [fee("1.50"), fee("1.00", "interest:2026-03")])]
    groups, carried = split_by_minimum(small, Decimal("5.00"))
    assert groups == [small] and carried == []


def test_zero_minimum_invoices_everything_alone():
    groups, carried = split_by_minimum([("a", [fee("0.01")]), ("b", [])], Decimal(0))
    assert groups == [[("a", [fee("0.01")])]] and carried == []
