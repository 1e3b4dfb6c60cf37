"""Worked examples and validation rules of :mod:`duly.domain.invoice_math` (EN 16931 arithmetic)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from duly.domain.errors import AllowanceExceedsTaxGroup, NegativeQuantity, UnknownCurrency, ValidationError
from duly.domain.invoice_math import (
    AllowanceCharge,
    InvoiceTotals,
    LineInput,
    LineResult,
    TaxSubtotal,
    compute_totals,
    totals_to_minor,
)

ZERO_RATE = ["Z", "E", "AE", "K", "G", "O"]


def line(qty, price, cat="S", rate="20", **kw) -> LineInput:
    return LineInput(quantity=D(qty), unit_price=D(price), tax_category=cat, tax_rate=D(rate), **kw)


def amounts(totals: InvoiceTotals) -> dict[str, D]:
    return {
        "line_total": totals.line_total,
        "allowance_total": totals.allowance_total,
        "charge_total": totals.charge_total,
        "tax_exclusive": totals.tax_exclusive,
        "tax_total": totals.tax_total,
        "tax_inclusive": totals.tax_inclusive,
        "prepaid": totals.prepaid,
        "rounding": totals.rounding,
        "payable": totals.payable,
    }


def assert_exponent(totals: InvoiceTotals, exp: int) -> None:
    values = list(amounts(totals).values())
    values += [v for r in totals.lines for v in (r.net_amount, r.discount_amount)]
    values += [v for t in totals.tax_breakdown for v in (t.taxable_amount, t.tax_amount)]
    for v in values:
        assert v.as_tuple().exponent == -exp, v
        assert not (v == 0 and v.is_signed()), "negative zero"


# --- worked examples -----------------------------------------------------------------------------
def test_eur_mixed_categories_with_prepaid():
    lines = [
        line("2", "49.99", "S", "20"),      # 99.98
        line("3", "12.345", "S", "5.5"),    # 37.035 -> 37.04 (half up)
        line("1", "15.00", "Z", "0"),       # 15.00
        line("1", "200", "E", "0"),         # 200.00
        line("10", "7.5", "AE", "0"),       # 75.00
    ]
    t = compute_totals(lines, "EUR", prepaid=D("100.00"))
    assert [r.net_amount for r in t.lines] == [D("99.98"), D("37.04"), D("15.00"), D("200.00"), D("75.00")]
    assert t.tax_breakdown == (
        TaxSubtotal("S", D("20"), D("99.98"), D("20.00")),    # 19.996 -> 20.00
        TaxSubtotal("S", D("5.5"), D("37.04"), D("2.04")),    # 2.0372 -> 2.04
        TaxSubtotal("Z", D("0"), D("15.00"), D("0.00")),
        TaxSubtotal("E", D("0"), D("200.00"), D("0.00")),
        TaxSubtotal("AE", D("0"), D("75.00"), D("0.00")),
    )
    assert amounts(t) == {
        "line_total": D("427.02"), "allowance_total": D("0.00"), "charge_total": D("0.00"),
        "tax_exclusive": D("427.02"), "tax_total": D("22.04"), "tax_inclusive": D("449.06"),
        "prepaid": D("100.00"), "rounding": D("0.00"), "payable": D("349.06"),
    }
    assert_exponent(t, 2)


def test_jpy_has_no_decimals():
    lines = [
        line("3", "1234", "S", "10", discount_percent=D("5")),  # 3702 - 185.1 -> 185 = 3517
        line("1", "980", "S", "8"),                             # reduced rate on food
    ]
    t = compute_totals(lines, "JPY")
    assert t.lines == (LineResult(D("3517"), D("185")), LineResult(D("980"), D("0")))
    assert t.tax_breakdown == (
        TaxSubtotal("S", D("10"), D("3517"), D("352")),  # 351.7
        TaxSubtotal("S", D("8"), D("980"), D("78")),     # 78.4
    )
    assert (t.line_total, t.tax_total, t.tax_inclusive, t.payable) == (D("4497"), D("430"), D("4927"), D("4927"))
    assert_exponent(t, 0)


def test_jpy_rounds_half_up_to_whole_yen():
    t = compute_totals([line("1", "0.5", "S", "10")], "JPY")
    assert t.line_total == D("1")


def test_bhd_has_three_decimals():
    lines = [line("7", "1.2345", "S", "10"), line("2", "0.5005", "S", "10")]  # 8.6415 -> 8.642; 1.001
    t = compute_totals(lines, "BHD")
    assert [r.net_amount for r in t.lines] == [D("8.642"), D("1.001")]
    assert t.tax_breakdown == (TaxSubtotal("S", D("10"), D("9.643"), D("0.964")),)
    assert (t.tax_exclusive, t.tax_inclusive) == (D("9.643"), D("10.607"))
    assert_exponent(t, 3)


def test_tax_is_rounded_per_group_not_per_line():
    # Per line: 0.02 x 20% = 0.004 -> 0.00, three times 0.00. Per group (BR-CO-17): 0.06 x 20% = 0.012 -> 0.01.
    t = compute_totals([line("1", "0.02")] * 3, "EUR")
    assert t.tax_breakdown == (TaxSubtotal("S", D("20"), D("0.06"), D("0.01")),)
    assert t.tax_total == D("0.01")


def test_discount_percent_and_amount():
    lines = [
        line("3", "9.99", discount_percent=D("10")),      # 29.97 - 2.997 -> 3.00 = 26.97
        line("4", "25", discount_amount=D("7.50")),       # 100.00 - 7.50 = 92.50
        line("1", "10", discount_percent=D("100")),       # free of charge
        line("1", "10", discount_percent=D("0")),
    ]
    t = compute_totals(lines, "EUR")
    assert t.lines == (
        LineResult(D("26.97"), D("3.00")),
        LineResult(D("92.50"), D("7.50")),
        LineResult(D("0.00"), D("10.00")),
        LineResult(D("10.00"), D("0.00")),
    )
    assert t.line_total == D("129.47")


def test_percent_discount_is_taken_of_the_rounded_base_amount():
    # gross 10.005 -> base (BT-137) 10.01; 50% of it = 5.005 -> 5.01 (BT-136 = BT-137 x BT-138 / 100 exactly).
    t = compute_totals([line("1", "10.005", discount_percent=D("50"))], "EUR")
    assert t.lines == (LineResult(D("5.00"), D("5.01")),)


def test_a_discount_never_flips_the_sign_of_a_line():
    t = compute_totals([line("1", "0.005", discount_percent=D("100"))], "EUR")
    assert t.lines == (LineResult(D("0.00"), D("0.01")),)
    t = compute_totals([line("1", "9.995", discount_amount=D("10.00"))], "EUR")
    assert t.lines == (LineResult(D("0.00"), D("10.00")),)
    t = compute_totals([line("-1", "0.005", discount_percent=D("100"))], "EUR", allow_negative=True)
    assert t.lines == (LineResult(D("0.00"), D("-0.01")),)


def test_price_base_quantity():
    # 12.50 per 100 pieces (BT-149), 250 pieces.
    t = compute_totals([line("250", "12.50", base_quantity=D("100"))], "EUR")
    assert t.lines[0].net_amount == D("31.25")
    # 1 per 3 units, 1 unit: 0.3333.. -> 0.33
    assert compute_totals([line("1", "1", base_quantity=D("3"))], "EUR").line_total == D("0.33")


def test_unit_price_with_many_decimals_is_rounded_once_per_line():
    # 1000 x 0.0049 = 4.90 exactly; rounding the price first would give 0.00.
    t = compute_totals([line("1000", "0.0049")], "EUR")
    assert t.line_total == D("4.90")


def test_document_allowance_and_charge():
    lines = [line("1", "100.00", "S", "20"), line("1", "50.00", "E", "0")]
    ac = [
        AllowanceCharge(is_charge=False, percent=D("10"), tax_category="S", tax_rate=D("20"), reason="Loyalty"),
        AllowanceCharge(is_charge=True, amount=D("9.90"), tax_category="S", tax_rate=D("20"), reason="Freight"),
        AllowanceCharge(is_charge=False, amount=D("5.00"), tax_category="E", tax_rate=D("0")),
    ]
    t = compute_totals(lines, "EUR", ac)
    # The 10% allowance is of the line total BT-106 (150.00) = 15.00.
    assert (t.line_total, t.allowance_total, t.charge_total) == (D("150.00"), D("20.00"), D("9.90"))
    assert t.tax_exclusive == D("139.90")
    assert t.tax_breakdown == (
        TaxSubtotal("S", D("20"), D("94.90"), D("18.98")),  # 100 - 15 + 9.90
        TaxSubtotal("E", D("0"), D("45.00"), D("0.00")),
    )
    assert (t.tax_total, t.tax_inclusive, t.payable) == (D("18.98"), D("158.88"), D("158.88"))


def test_document_charge_can_open_its_own_tax_group():
    t = compute_totals([line("1", "10.00", "Z", "0")], "EUR",
                       [AllowanceCharge(is_charge=True, amount=D("5.00"), tax_rate=D("20"))])
    assert t.tax_breakdown == (
        TaxSubtotal("S", D("20"), D("5.00"), D("1.00")),
        TaxSubtotal("Z", D("0"), D("10.00"), D("0.00")),
    )


def test_a_document_allowance_larger_than_its_vat_group_is_refused():
    # 100.00 at 20% and 50.00 exempt: an allowance of 120.00 at 20% would make that group -20.00 with -4.00 VAT,
    # although the document total (30.00) is still positive.
    lines = [line("1", "100.00", "S", "20"), line("1", "50.00", "E", "0")]
    big = AllowanceCharge(is_charge=False, amount=D("120.00"), tax_category="S", tax_rate=D("20"), reason="Promo")
    with pytest.raises(AllowanceExceedsTaxGroup, match=r"^document allowance 1 \(Promo\): 120.00 EUR is more than "
                                                       r"the 100.00 EUR .* category S at 20%") as refused:
        compute_totals(lines, "EUR", [big])
    assert refused.value.code == "allowance_exceeds_tax_group"
    # Two allowances that together exceed the group, or one in a group without lines, are refused too ...
    halves = [AllowanceCharge(is_charge=False, amount=D("60.00"), tax_category="S", tax_rate=D("20"))] * 2
    with pytest.raises(AllowanceExceedsTaxGroup, match=r"^document allowance 1, 2: 120.00 EUR"):
        compute_totals(lines, "EUR", halves)
    with pytest.raises(AllowanceExceedsTaxGroup, match="category S at 10%"):
        compute_totals(lines, "EUR", [AllowanceCharge(is_charge=False, amount=D("1.00"), tax_rate=D("10"))])
    # ... but a charge of the same group makes room, and the whole group may be taken off.
    freight = AllowanceCharge(is_charge=True, amount=D("20.00"), tax_category="S", tax_rate=D("20"))
    t = compute_totals(lines, "EUR", [big, freight])
    assert t.tax_breakdown[0] == TaxSubtotal("S", D("20"), D("0.00"), D("0.00"))
    whole = AllowanceCharge(is_charge=False, amount=D("100.00"), tax_category="S", tax_rate=D("20"))
    assert compute_totals(lines, "EUR", [whole]).tax_exclusive == D("50.00")


def test_rounding_amount_and_prepaid():
    t = compute_totals([line("1", "9.99", "S", "0")], "CHF", prepaid=D("4"), rounding_amount=D("0.01"))
    assert (t.tax_inclusive, t.prepaid, t.rounding, t.payable) == (D("9.99"), D("4.00"), D("0.01"), D("6.00"))
    negative_rounding = compute_totals([line("1", "9.99", "S", "0")], "CHF", rounding_amount=D("-0.04"))
    assert negative_rounding.payable == D("9.95")


def test_prepaid_larger_than_total_gives_negative_payable():
    t = compute_totals([line("1", "10", "S", "0")], "EUR", prepaid=D("12.00"))
    assert t.payable == D("-2.00")


def test_equal_rates_are_one_group_with_a_canonical_rate():
    t = compute_totals([line("1", "10", "S", "20.0000"), line("1", "10", "S", "20"),
                        line("1", "10", "S", "5.50")], "EUR")
    assert [(s.category, str(s.rate)) for s in t.tax_breakdown] == [("S", "20"), ("S", "5.5")]
    assert t.tax_breakdown[0].taxable_amount == D("20.00")


def test_breakdown_order_does_not_depend_on_line_order():
    lines = [line("1", "1", "E", "0"), line("1", "1", "S", "5.5"), line("1", "1", "AE", "0"),
             line("1", "1", "S", "20"), line("1", "1", "Z", "0"), line("1", "1", "L", "7")]
    order = [(s.category, s.rate) for s in compute_totals(lines, "EUR").tax_breakdown]
    assert order == [("S", D("20")), ("S", D("5.5")), ("Z", 0), ("E", 0), ("AE", 0), ("L", D("7"))]
    assert [(s.category, s.rate) for s in compute_totals(lines[::-1], "EUR").tax_breakdown] == order


@pytest.mark.parametrize("category", ["L", "M"])
def test_canary_islands_and_ceuta_melilla_carry_their_own_rates(category):
    t = compute_totals([line("1", "100", category, "7")], "EUR")
    assert t.tax_breakdown == (TaxSubtotal(category, D("7"), D("100.00"), D("7.00")),)


def test_no_lines_gives_zero_totals():
    t = compute_totals([], "BHD")
    assert t.lines == () and t.tax_breakdown == ()
    assert set(amounts(t).values()) == {D("0.000")}
    assert_exponent(t, 3)


def test_negative_line_with_allow_negative_is_the_mirror_of_a_positive_one():
    lines = [line("5", "10.00"), line("-1", "10.00", discount_percent=D("10")),
             line("-1", "3.333", discount_amount=D("1.00"))]
    t = compute_totals(lines, "EUR", allow_negative=True)
    assert t.lines == (
        LineResult(D("50.00"), D("0.00")),
        LineResult(D("-9.00"), D("-1.00")),
        LineResult(D("-2.33"), D("-1.00")),   # -3.333 - (-1.00) = -2.333 -> -2.33
    )
    assert t.tax_breakdown == (TaxSubtotal("S", D("20"), D("38.67"), D("7.73")),)  # 7.734
    assert t.payable == D("46.40")


def test_negative_half_rounds_away_from_zero():
    t = compute_totals([line("-1", "0.005", "S", "0")], "EUR", allow_negative=True)
    assert t.line_total == D("-0.01")


def test_credit_note_uses_positive_amounts():
    """A credit note repeats the corrected lines with positive quantities: its type carries the sign."""
    invoice = compute_totals([line("2", "49.99"), line("1", "5", "E", "0")], "EUR")
    credit_note = compute_totals([line("2", "49.99"), line("1", "5", "E", "0")], "EUR")
    assert credit_note == invoice
    assert credit_note.payable > 0


def test_totals_to_minor():
    t = compute_totals([line("1", "1.2345", "S", "10")], "BHD",
                       [AllowanceCharge(is_charge=True, amount=D("0.100"), tax_rate=D("10"))], prepaid=D("0.5"))
    assert totals_to_minor(t) == {
        "line_total_minor": 1235, "allowance_total_minor": 0, "charge_total_minor": 100,
        "tax_exclusive_minor": 1335, "tax_total_minor": 134, "tax_inclusive_minor": 1469,
        "prepaid_minor": 500, "rounding_minor": 0, "payable_minor": 969,
        "lines": [{"net_minor": 1235, "discount_minor": 0}],
        "tax_breakdown": [{"category": "S", "rate": "10", "taxable_minor": 1335, "tax_minor": 134}],
    }
    jpy = totals_to_minor(compute_totals([line("2", "500", "S", "10")], "JPY"))
    assert (jpy["line_total_minor"], jpy["tax_total_minor"], jpy["payable_minor"]) == (1000, 100, 1100)


def test_inputs_may_be_strings_or_ints():
    t = compute_totals([LineInput(quantity="2", unit_price=3, tax_rate="20")], "EUR", prepaid="1")
    assert t.payable == D("6.20")


# --- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("currency", ["EURO", "eur", "XXX", ""])
def test_unknown_currency(currency):
    with pytest.raises(UnknownCurrency) as exc:
        compute_totals([line("1", "1")], currency)
    assert exc.value.code == "unknown_currency"


def test_unknown_tax_category_names_the_line():
    with pytest.raises(ValidationError, match=r"^line 2: unknown tax category 'X'") as exc:
        compute_totals([line("1", "1"), line("1", "1", "X", "0")], "EUR")
    assert exc.value.code == "invalid_input"


def test_lowercase_category_is_unknown():
    with pytest.raises(ValidationError, match="unknown tax category 's'"):
        compute_totals([line("1", "1", "s", "20")], "EUR")


def test_reverse_charge_with_a_rate_is_refused():
    lines = [line("1", "1"), line("1", "1"), line("1", "100", "AE", "20")]
    with pytest.raises(ValidationError) as exc:
        compute_totals(lines, "EUR")
    assert exc.value.message.startswith("line 3: category AE (reverse charge) must have a 0% rate")


@pytest.mark.parametrize("category", ZERO_RATE)
def test_zero_rate_categories_refuse_a_rate(category):
    with pytest.raises(ValidationError, match=rf"^line 1: category {category} \(.+\) must have a 0% rate, not 7.5%"):
        compute_totals([line("1", "1", category, "7.50")], "EUR")


@pytest.mark.parametrize("category", ZERO_RATE)
def test_zero_rate_categories_have_no_tax(category):
    t = compute_totals([line("3", "33.33", category, "0")], "EUR")
    assert t.tax_breakdown == (TaxSubtotal(category, D("0"), D("99.99"), D("0.00")),)
    assert t.tax_total == D("0.00")


def test_zero_rate_category_on_a_document_allowance_is_checked_too():
    ac = [AllowanceCharge(is_charge=False, amount=D("1.00"), tax_category="K", tax_rate=D("20"), reason="Promo")]
    with pytest.raises(ValidationError, match=r"^document allowance 1 \(Promo\): category K .* must have a 0% rate"):
        compute_totals([line("1", "10", "K", "0")], "EUR", ac)


def test_negative_rate_is_refused():
    with pytest.raises(ValidationError, match="line 1: the tax rate cannot be negative"):
        compute_totals([line("1", "1", "S", "-20")], "EUR")


def test_negative_quantity_is_refused_by_default():
    with pytest.raises(NegativeQuantity) as exc:
        compute_totals([line("1", "1"), line("-2", "5")], "EUR")
    assert exc.value.code == "negative_quantity"
    assert exc.value.message.startswith("line 2: quantity -2 is negative")
    assert exc.value.context["line"] == 2


def test_zero_quantity_is_allowed():
    assert compute_totals([line("0", "99.99")], "EUR").line_total == D("0.00")


def test_both_discounts_are_refused():
    with pytest.raises(ValidationError, match="^line 1: give either a discount percentage or a discount amount"):
        compute_totals([line("1", "10", discount_percent=D("10"), discount_amount=D("1.00"))], "EUR")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"discount_percent": D("101")}, "between 0 and 100"),
        ({"discount_percent": D("-1")}, "between 0 and 100"),
        ({"discount_amount": D("-1.00")}, "cannot be negative"),
        ({"discount_amount": D("10.01")}, "exceeds the line amount 10.00"),
        ({"discount_amount": D("1.005")}, "has more decimals than EUR allows"),
        ({"base_quantity": D("0")}, "base quantity must be positive"),
    ],
)
def test_invalid_line_discounts_and_base_quantity(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        compute_totals([line("1", "10", **kwargs)], "EUR")


def test_negative_unit_price_is_refused():
    with pytest.raises(ValidationError, match="line 1: the unit price cannot be negative"):
        compute_totals([line("1", "-10")], "EUR")


@pytest.mark.parametrize("field", ["quantity", "unit_price", "tax_rate", "discount_percent", "base_quantity"])
def test_floats_are_refused_in_lines(field):
    values = dict(quantity=D(1), unit_price=D(1), tax_rate=D(0), discount_percent=None, base_quantity=D(1))
    values[field] = 1.5
    with pytest.raises(ValidationError, match="never floats"):
        compute_totals([LineInput(**values)], "EUR")


def test_floats_are_refused_in_document_amounts():
    with pytest.raises(ValidationError, match="^prepaid amount: .*never floats"):
        compute_totals([line("1", "1")], "EUR", prepaid=0.5)
    with pytest.raises(ValidationError, match="never floats"):
        compute_totals([line("1", "1")], "EUR", [AllowanceCharge(is_charge=True, amount=1.0)])


@pytest.mark.parametrize(
    "item, message",
    [
        (AllowanceCharge(is_charge=False), "either an amount or a percentage"),
        (AllowanceCharge(is_charge=False, amount=D("1.00"), percent=D("1")), "either an amount or a percentage"),
        (AllowanceCharge(is_charge=False, amount=D("-1.00")), "cannot be negative .*use a charge instead"),
        (AllowanceCharge(is_charge=True, amount=D("-1.00")), "cannot be negative .*use an allowance instead"),
        (AllowanceCharge(is_charge=True, percent=D("-5")), "percentage cannot be negative"),
        (AllowanceCharge(is_charge=True, amount=D("0.001")), "more decimals than EUR allows"),
        (AllowanceCharge(is_charge=True, amount=D("1"), tax_category="VAT"), "unknown tax category"),
    ],
)
def test_invalid_document_allowances_and_charges(item, message):
    with pytest.raises(ValidationError, match=message):
        compute_totals([line("1", "10")], "EUR", [item])


def test_prepaid_and_rounding_must_fit_the_currency():
    with pytest.raises(ValidationError, match="prepaid amount: 1.5 has more decimals than JPY allows"):
        compute_totals([line("1", "10")], "JPY", prepaid=D("1.5"))
    with pytest.raises(ValidationError, match="rounding amount: 0.001 has more decimals"):
        compute_totals([line("1", "10")], "EUR", rounding_amount=D("0.001"))
    with pytest.raises(ValidationError, match="prepaid amount cannot be negative"):
        compute_totals([line("1", "10")], "EUR", prepaid=D("-1"))


def test_not_a_number_names_the_field():
    with pytest.raises(ValidationError, match="^line 1: quantity: Not a number"):
        compute_totals([LineInput(quantity="two", unit_price=D(1))], "EUR")
