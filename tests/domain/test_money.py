"""Money: exact rounding in JPY (0 decimals), EUR (2) and BHD (3), splits that add up, no floats, no mixing."""

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duly.domain.errors import CurrencyMismatch, UnknownCurrency, ValidationError
from duly.domain.money import (
    Money,
    allocate,
    exponent,
    from_minor,
    money_sum,
    quantum,
    round_money,
    to_decimal,
    to_minor,
)

CURRENCIES = ["JPY", "EUR", "BHD"]
currencies = st.sampled_from(CURRENCIES)
minor_units = st.integers(min_value=-10**15, max_value=10**15)
amounts = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=6, allow_nan=False,
                      allow_infinity=False)
weights = st.lists(st.decimals(min_value=0, max_value=Decimal("1e6"), places=4, allow_nan=False,
                               allow_infinity=False), min_size=1, max_size=12)


def test_exponents():
    assert [exponent(c) for c in CURRENCIES] == [0, 2, 3]
    assert [quantum(c) for c in CURRENCIES] == [Decimal("1"), Decimal("0.01"), Decimal("0.001")]


# --- minor units -----------------------------------------------------------------------------------------
@given(minor_units, currencies)
def test_minor_units_round_trip(minor, currency):
    amount = from_minor(minor, currency)
    assert to_minor(amount, currency) == minor
    assert -amount.as_tuple().exponent == exponent(currency)  # always written with the currency's decimals


@given(amounts, currencies)
def test_rounded_amounts_round_trip_through_minor_units(amount, currency):
    rounded = round_money(amount, currency)
    assert from_minor(to_minor(rounded, currency), currency) == rounded


@pytest.mark.parametrize("amount, currency, minor", [
    ("1234", "JPY", 1234), ("12.34", "EUR", 1234), ("1.234", "BHD", 1234), ("0.1", "BHD", 100), ("-5", "EUR", -500),
])
def test_to_minor_examples(amount, currency, minor):
    assert to_minor(Decimal(amount), currency) == minor


@pytest.mark.parametrize("amount, currency", [("0.5", "JPY"), ("0.005", "EUR"), ("0.0005", "BHD")])
def test_to_minor_refuses_unrounded_amounts(amount, currency):
    with pytest.raises(ValidationError, match="more decimals"):
        to_minor(Decimal(amount), currency)


# --- rounding: one function, an explicit mode ----------------------------------------------------------------
@pytest.mark.parametrize("value, currency, mode, expected", [
    # half up (the default, what EN 16931 expects): ties go away from zero
    ("2.345", "EUR", ROUND_HALF_UP, "2.35"), ("-2.345", "EUR", ROUND_HALF_UP, "-2.35"),
    ("0.5", "JPY", ROUND_HALF_UP, "1"), ("1.0005", "BHD", ROUND_HALF_UP, "1.001"),
    # half even (banker's rounding): ties go to the even digit
    ("2.345", "EUR", ROUND_HALF_EVEN, "2.34"), ("0.5", "JPY", ROUND_HALF_EVEN, "0"),
    ("1.0005", "BHD", ROUND_HALF_EVEN, "1.000"), ("1.0015", "BHD", ROUND_HALF_EVEN, "1.002"),
    # down (towards zero) and up (away from zero)
    ("2.349", "EUR", ROUND_DOWN, "2.34"), ("-2.349", "EUR", ROUND_DOWN, "-2.34"), ("999.99", "JPY", ROUND_DOWN, "999"),
    ("2.341", "EUR", ROUND_UP, "2.35"), ("1.0001", "BHD", ROUND_UP, "1.001"),
])
def test_round_money_modes(value, currency, mode, expected):
    result = round_money(Decimal(value), currency, mode)
    assert result == Decimal(expected) and str(result) == expected


def test_the_default_mode_is_half_up_and_the_global_context_has_no_say():
    assert round_money(Decimal("2.345"), "EUR") == Decimal("2.35")
    with localcontext() as ctx:
        ctx.prec, ctx.rounding = 3, ROUND_DOWN  # a hostile global context
        assert round_money(Decimal("123456.785"), "EUR") == Decimal("123456.79")
        assert round_money(Decimal("123456.785"), "EUR", ROUND_HALF_EVEN) == Decimal("123456.78")


@given(amounts, currencies)
def test_rounding_is_exact_and_within_half_a_minor_unit(amount, currency):
    rounded = round_money(amount, currency)
    assert rounded == rounded.quantize(quantum(currency))
    assert abs(rounded - amount) <= quantum(currency) / 2
    assert round_money(rounded, currency) == rounded  # idempotent


# --- splits: the last part absorbs the remainder ----------------------------------------------------------
@given(amounts, weights, currencies)
def test_allocate_adds_up_and_the_last_part_absorbs_the_remainder(total, ws, currency):
    parts = allocate(total, ws, currency)
    rounded_total = round_money(total, currency)
    assert len(parts) == len(ws)
    assert sum(parts, Decimal(0)) == rounded_total
    assert all(p == p.quantize(quantum(currency)) for p in parts)
    wsum = sum(ws, Decimal(0))
    if wsum:
        expected_head = [round_money(rounded_total * w / wsum, currency, ROUND_DOWN) for w in ws[:-1]]
        assert parts[:-1] == expected_head
        assert parts[-1] == rounded_total - sum(expected_head, Decimal(0))


def test_allocate_worked_example():
    # 100.00 EUR in thirds: 33.33 + 33.33 + 33.34 (the last absorbs the cent)
    assert allocate(Decimal("100"), [1, 1, 1], "EUR") == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    # 1000 JPY in thirds: 333 + 333 + 334; 1 BHD in thirds: 0.333 + 0.333 + 0.334
    assert allocate(Decimal("1000"), [1, 1, 1], "JPY") == [Decimal(333), Decimal(333), Decimal(334)]
    assert allocate(Decimal("1"), [1, 1, 1], "BHD") == [Decimal("0.333"), Decimal("0.333"), Decimal("0.334")]
    assert allocate(Decimal("10"), [], "EUR") == []
    with pytest.raises(ValidationError, match="negative"):
        allocate(Decimal("10"), [1, -1], "EUR")


# --- no floats, no unknown currencies ------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda: to_decimal(0.1),
    lambda: round_money(0.1, "EUR"),
    lambda: to_minor(1.5, "EUR"),
    lambda: Money(0.1, "EUR"),
    lambda: Money.of(2.5, "EUR"),
    lambda: Money(Decimal(1), "EUR") * 1.5,
    lambda: allocate(Decimal(10), [0.5, 0.5], "EUR"),
    lambda: allocate(10.0, [1, 1], "EUR"),
])
def test_floats_are_refused(call):
    with pytest.raises(ValidationError, match="never floats"):
        call()


@pytest.mark.parametrize("code", ["XYZ", "eur", "", "EURO", None])
def test_unknown_currencies_are_refused(code):
    with pytest.raises(UnknownCurrency):
        round_money(Decimal(1), code)


# --- Money never mixes currencies ----------------------------------------------------------------------------
def test_money_refuses_to_mix_currencies():
    eur, usd = Money.of("10.00", "EUR"), Money.of("10.00", "USD")
    for op in (lambda: eur + usd, lambda: eur - usd, lambda: eur < usd, lambda: eur <= usd, lambda: eur > usd,
               lambda: eur >= usd, lambda: money_sum([eur, usd], "EUR"), lambda: money_sum([usd], "EUR")):
        with pytest.raises(CurrencyMismatch, match="no silent conversion"):
            op()
    with pytest.raises(TypeError):
        eur + Decimal(1)


def test_money_arithmetic_in_one_currency():
    a, b = Money.of("10.005", "EUR"), Money.from_minor(250, "EUR")
    assert a.amount == Decimal("10.01")  # Money.of rounds half up
    assert (a + b).amount == Decimal("12.51") and (a - b).minor == 751 and (-b).minor == -250
    assert str(Money.of("1234.5", "JPY")) == "1235 JPY" and str(Money.from_minor(1234, "BHD")) == "1.234 BHD"
    assert money_sum([a, b, Money.zero("EUR")], "EUR").amount == Decimal("12.51")
    assert (b * Decimal("0.333")).rounded().amount == Decimal("0.83")  # 0.8325 → 0.83
    assert not Money.zero("JPY") and Money.of("0.001", "BHD")


@given(minor_units, minor_units, currencies)
def test_money_addition_matches_minor_unit_addition(x, y, currency):
    assert (Money.from_minor(x, currency) + Money.from_minor(y, currency)).minor == x + y
