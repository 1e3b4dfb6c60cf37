"""Price models: validation, explanations, breakdowns, registry round trips and properties."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duly.domain import errors
from duly.domain.pricing import (
    REGISTRY,
    Charge,
    GraduatedPricing,
    MinimumCommitment,
    PackagePricing,
    PercentagePricing,
    PerUnitPricing,
    PriceModel,
    Tier,
    VolumePricing,
    model_from_config,
    price_model,
)

D = Decimal

GRADUATED = {"model": "graduated", "tiers": [
    {"up_to": "10", "unit_price": "10.00"},
    {"up_to": "50", "unit_price": "8.00"},
    {"up_to": None, "unit_price": "6.00"},
]}


def tiers(*rows):
    return [{"up_to": up_to, "unit_price": price} for up_to, price in rows]


class TestRegistry:
    def test_every_model_is_registered_under_its_code(self):
        assert set(REGISTRY) == {"flat", "per_unit", "graduated", "volume", "package", "percentage",
                                 "minimum_commitment"}
        for code, cls in REGISTRY.items():
            assert cls.code == code

    def test_models_satisfy_the_protocol(self):
        model = model_from_config(GRADUATED)
        assert isinstance(model, PriceModel)
        assert isinstance(model, GraduatedPricing)

    def test_unknown_code_is_refused_with_the_known_codes(self):
        with pytest.raises(errors.InvalidPricing, match="Unknown price model 'tiered_magic'.*graduated"):
            price_model("tiered_magic")
        with pytest.raises(errors.InvalidPricing, match='"model" key'):
            model_from_config({"tiers": []})

    def test_unknown_and_missing_settings_are_refused(self):
        with pytest.raises(errors.InvalidPricing, match="unknown setting.*price"):
            price_model("per_unit", price="1.00")
        with pytest.raises(errors.InvalidPricing, match="missing setting.*unit_price"):
            price_model("per_unit")

    def test_floats_are_refused_in_config_and_quantity(self):
        with pytest.raises(errors.InvalidPricing, match="never floats"):
            price_model("per_unit", unit_price=0.1)
        with pytest.raises(errors.ValidationError, match="never floats"):
            price_model("per_unit", unit_price="0.10").charge(1.5, "EUR")

    def test_price_model_from_keywords_equals_model_from_config(self):
        assert price_model("graduated", tiers=GRADUATED["tiers"]) == model_from_config(GRADUATED)

    @pytest.mark.parametrize("config", [
        {"model": "flat", "amount": "49.00"},
        {"model": "per_unit", "unit_price": "0.0001"},
        GRADUATED,
        {"model": "volume", "tiers": [{"up_to": "100", "unit_price": "1", "flat_fee": "5"},
                                      {"up_to": None, "unit_price": "0.5"}]},
        {"model": "package", "package_size": "100", "amount": "5.00", "free_units": "100"},
        {"model": "percentage", "rate": "2.9", "fixed_fee": "0.30", "min_per_transaction": "0.50",
         "max_per_transaction": "5.00"},
        {"model": "minimum_commitment", "minimum": "100.00", "charge": GRADUATED},
    ])
    def test_config_round_trips_through_json(self, config):
        model = model_from_config(config)
        stored = json.loads(json.dumps(model.to_config()))
        assert stored["model"] == config["model"]
        assert model_from_config(stored) == model
        assert model.to_config() == stored


class TestTierValidation:
    def test_open_bound_is_none_and_strings_are_accepted(self):
        tier = Tier(None, "8")
        assert tier.up_to is None and tier.unit_price == D("8") and tier.flat_fee == 0

    def test_equal_bounds_overlap(self):
        with pytest.raises(errors.OverlappingTiers, match="tier 2 ends at 10, which is not above 10"):
            GraduatedPricing(tiers(("10", "1"), ("10", "1"), (None, "1")))

    def test_decreasing_bounds_overlap(self):
        with pytest.raises(errors.OverlappingTiers, match="strictly increasing"):
            VolumePricing(tiers(("50", "1"), ("10", "1"), (None, "1")))

    def test_only_the_last_tier_may_be_open(self):
        with pytest.raises(errors.OverlappingTiers, match="tier 1 of 2 is open"):
            GraduatedPricing(tiers((None, "1"), ("10", "1")))

    def test_last_tier_must_be_open_so_there_is_no_gap_above(self):
        with pytest.raises(errors.InvalidPricing, match="last tier ends at 50.*up_to null") as info:
            GraduatedPricing(tiers(("10", "1"), ("50", "1")))
        assert not isinstance(info.value, errors.OverlappingTiers)

    def test_no_tiers(self):
        with pytest.raises(errors.InvalidPricing, match="non-empty list of tiers"):
            GraduatedPricing([])

    @pytest.mark.parametrize("row", [
        {"up_to": "10", "unit_price": "-1"},
        {"up_to": "10", "unit_price": "1", "flat_fee": "-0.01"},
    ])
    def test_negative_prices_are_refused(self, row):
        with pytest.raises(errors.InvalidPricing, match="cannot be negative"):
            GraduatedPricing([row, {"up_to": None, "unit_price": "1"}])

    def test_zero_or_negative_bound_is_refused(self):
        with pytest.raises(errors.InvalidPricing, match="above 0"):
            Tier(D(0), D(1))

    def test_single_open_tier_is_valid(self):
        charge = GraduatedPricing([Tier(None, D("2.5"))]).charge(D(4), "EUR")
        assert charge.amount == D("10.00")
        assert charge.breakdown[0].label == "1+"


class TestModelValidation:
    def test_negative_settings(self):
        with pytest.raises(errors.InvalidPricing, match="unit_price cannot be negative"):
            PerUnitPricing(D("-1"))
        with pytest.raises(errors.InvalidPricing, match="amount cannot be negative"):
            price_model("flat", amount="-5")
        with pytest.raises(errors.InvalidPricing, match="minimum cannot be negative"):
            price_model("minimum_commitment", minimum="-1", charge={"model": "flat", "amount": "1"})

    def test_package_size_must_be_positive(self):
        with pytest.raises(errors.InvalidPricing, match="package_size must be above 0"):
            PackagePricing(D(0), D(1))

    def test_percentage_limits(self):
        with pytest.raises(errors.InvalidPricing, match="cannot exceed 100"):
            PercentagePricing(D("101"))
        with pytest.raises(errors.InvalidPricing, match="min_per_transaction 5 is above max_per_transaction 1"):
            PercentagePricing(D("1"), min_per_transaction=D("5"), max_per_transaction=D("1"))

    def test_negative_quantity_and_transactions(self):
        model = model_from_config(GRADUATED)
        with pytest.raises(errors.NegativeQuantity):
            model.charge(D("-1"), "EUR")
        with pytest.raises(errors.NegativeQuantity):
            PercentagePricing(D("1")).charge(D("0"), "EUR", transactions=[D("5"), D("-5")])

    def test_unknown_currency(self):
        with pytest.raises(errors.UnknownCurrency):
            model_from_config(GRADUATED).charge(D(1), "EURO")

    def test_only_percentage_takes_transactions(self):
        with pytest.raises(errors.InvalidPricing, match="only percentage"):
            model_from_config(GRADUATED).charge(D(1), "EUR", transactions=[D(1)])

    def test_percentage_quantity_must_be_the_sum_of_transactions(self):
        with pytest.raises(errors.InvalidPricing, match="sum of the transactions"):
            PercentagePricing(D("1")).charge(D("2"), "EUR", transactions=[D("10")])

    def test_minimum_commitment_passes_transactions_to_a_percentage_charge(self):
        model = price_model("minimum_commitment", minimum="10.00", charge={"model": "percentage", "rate": "2"})
        charge = model.charge(D("300"), "EUR", transactions=[D("100"), D("200")])
        assert charge.amount == D("10.00")
        assert charge.breakdown[-1].label == "minimum commitment true-up"
        assert charge.breakdown[-1].amount == D("4")


class TestExplanations:
    def test_graduated_shows_the_worked_arithmetic(self):
        charge = model_from_config(GRADUATED).charge(D(50), "EUR")
        assert charge == Charge(
            amount=D("420.00"), currency="EUR", quantity=D(50),
            breakdown=charge.breakdown, explanation="10 × 10.00 + 40 × 8.00 = 420.00",
        )
        assert [line.label for line in charge.breakdown] == ["1–10", "11–50"]
        assert charge.breakdown[1].describe("EUR") == "11–50: 40 × 8.00"
        assert charge.breakdown[1].amount == D("320.00")

    def test_graduated_flat_fee_and_open_tier_labels(self):
        model = GraduatedPricing([Tier(D(10), D(1), D(5)), Tier(None, D("0.5"), D(2))])
        charge = model.charge(D(12), "USD")
        assert charge.explanation == "10 × 1.00 + 5.00 flat + 2 × 0.50 + 2.00 flat = 18.00"
        assert [str(line) for line in charge.breakdown] == ["1–10: 10 × 1 + 5 flat", "11+: 2 × 0.5 + 2 flat"]

    def test_fractional_tier_bounds_get_readable_labels(self):
        model = GraduatedPricing([Tier(D("2.5"), D(1)), Tier(D("7.5"), D(2)), Tier(None, D(3))])
        charge = model.charge(D(8), "EUR")
        assert [line.label for line in charge.breakdown] == ["up to 2.5", "over 2.5 up to 7.5", "over 7.5"]
        assert charge.amount == D("14.00")  # 2.5 × 1 + 5 × 2 + 0.5 × 3

    def test_rounding_is_shown_when_it_changes_the_amount(self):
        charge = PerUnitPricing(D("0.333")).charge(D(3), "EUR")
        assert charge.explanation == "3 × 0.333 = 0.999, rounded to 1.00"
        assert charge.breakdown[0].amount == D("0.999")

    def test_volume_names_the_tier_the_total_falls_in(self):
        model = VolumePricing([Tier(D(100), D(1)), Tier(None, D("0.9"), D(10))])
        charge = model.charge(D(101), "EUR")
        assert charge.explanation == "101 × 0.90 + 10.00 flat = 100.90"
        assert charge.breakdown[0].label == "101+"

    def test_package_with_free_units(self):
        model = PackagePricing(D(100), D(5), free_units=D(100))
        assert model.charge(D(250), "EUR").explanation == "ceil((250 − 100 free) / 100) = 2 packages × 5.00 = 10.00"
        assert model.charge(D(80), "EUR").explanation == "80 units within 100 free = 0.00"
        free, packages = model.charge(D(250), "EUR").breakdown
        assert (free.label, free.units, free.amount) == ("free units", D(100), 0)
        assert (packages.label, packages.units, packages.amount) == ("packages of 100", D(2), D(10))

    def test_percentage_lists_clamped_transactions(self):
        model = price_model("percentage", rate="2.9", fixed_fee="0.30", min_per_transaction="0.50",
                            max_per_transaction="5.00")
        charge = model.charge(D("1105"), "EUR", transactions=[D("5"), D("100"), D("1000")])
        assert charge.explanation == (
            "(2.9% × 5.00 + 0.30 = 0.445 → minimum 0.50) + (2.9% × 100.00 + 0.30)"
            " + (2.9% × 1000.00 + 0.30 = 29.30 → maximum 5.00) = 8.70"
        )
        labels = [line.label for line in charge.breakdown]
        assert labels == ["2.9% of transactions", "fixed fee per transaction",
                          "raised to the minimum per transaction", "capped at the maximum per transaction"]
        assert sum(line.amount for line in charge.breakdown) == D("8.70")

    def test_percentage_summarises_many_transactions(self):
        model = price_model("percentage", rate="1", fixed_fee="0.10", max_per_transaction="0.50")
        transactions = [D("10")] * 11 + [D("100")]
        charge = model.charge(sum(transactions), "EUR", transactions=transactions)
        # 11 × (0.10 + 0.10) + min(1.00 + 0.10, 0.50) = 2.20 + 0.50
        assert charge.amount == D("2.70")
        assert charge.explanation == (
            "1% × 210.00 (12 transactions) + 12 × 0.10 fixed − 0.60 capped at the maximum = 2.70")

    def test_minimum_commitment_true_up(self):
        model = MinimumCommitment(D("100"), PerUnitPricing(D("2.50")))
        charge = model.charge(D(12), "EUR")
        assert charge.explanation == "12 × 2.50 + true-up 70.00 (minimum commitment 100.00) = 100.00"
        assert model.charge(D(50), "EUR").explanation == "50 × 2.50 (minimum commitment 100.00 met) = 125.00"


class TestExactness:
    def test_huge_quantity_is_exact(self):
        quantity = D(10) ** 12
        charge = model_from_config(GRADUATED).charge(quantity, "EUR")
        assert charge.amount == D("6000000000120.00")
        assert charge.breakdown[-1].units == quantity - 50

    def test_huge_quantity_with_tiny_price_keeps_every_digit(self):
        charge = PerUnitPricing(D("0.000000001")).charge(D(10) ** 15 + 1, "EUR")
        assert charge.amount == D("1000000.00")
        assert charge.breakdown[0].amount == D("1000000.000000001")

    def test_fractional_quantity_in_package(self):
        assert PackagePricing(D("0.5"), D("1.00")).charge(D("1.25"), "EUR").amount == D("3.00")


QUANTITIES = st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False)
PRICES = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def graduated_models(draw):
    count = draw(st.integers(min_value=1, max_value=5))
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=10**6), min_size=count - 1,
                                 max_size=count - 1)))
    rows = [Tier(D(b), draw(PRICES), draw(PRICES)) for b in bounds]
    rows.append(Tier(None, draw(PRICES), draw(PRICES)))
    return GraduatedPricing(rows)


@given(graduated_models(), QUANTITIES, QUANTITIES)
def test_graduated_charge_is_monotonic_in_quantity(model, a, b):
    low, high = sorted((a, b))
    assert model.charge(low, "EUR").amount <= model.charge(high, "EUR").amount


@given(graduated_models(), QUANTITIES)
def test_graduated_breakdown_covers_the_quantity_exactly(model, quantity):
    charge = model.charge(quantity, "EUR")
    assert sum((line.units for line in charge.breakdown), D(0)) == quantity


@given(graduated_models(), QUANTITIES)
def test_graduated_config_round_trip_prices_the_same(model, quantity):
    assert model_from_config(json.loads(json.dumps(model.to_config()))).charge(quantity, "EUR") == \
        model.charge(quantity, "EUR")
