"""The pricing and aggregation registries are complete: every registered model and aggregation owns every part.

Adding a price model (or an aggregation) means one class in its module plus one entry in ``MODEL_VECTORS``
(or ``AGGREGATION_VECTORS``) below: the completeness tests fail until the entry has every part. The expected
values are written by hand from each model's definition, never produced by running the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from duly.domain import aggregations, errors, pricing
from duly.domain.billing_plan import commitment_share, describe_model
from duly.domain.money import MONEY_CONTEXT
from duly.domain.schedules import Period
from duly.domain.usage import AGGREGATIONS, SUMMARY_KINDS, UsageEvent, aggregate, usage_summary

D = Decimal

# --------------------------------------------------------------------------- price models

#: Per registered code: a configuration and what the model answers, in EUR, for a usage window of 10 of 31 days.
MODEL_VECTORS: dict[str, dict[str, Any]] = {
    "flat": dict(
        config={"model": "flat", "amount": "100"},
        describe="100.00 EUR per period",
        takes_transactions=False,
        share=(None, ""),  # None: the model itself
        minimum_per_period=None,
        line_unit_price=None,
        prices_quantity=False,
    ),
    "per_unit": dict(
        config={"model": "per_unit", "unit_price": "0.015"},
        describe="0.015 EUR per unit",
        takes_transactions=False,
        share=(None, ""),
        minimum_per_period=None,
        line_unit_price=D("0.015"),
        prices_quantity=True,
    ),
    "graduated": dict(
        config={"model": "graduated", "tiers": [{"up_to": "10", "unit_price": "12"},
                                                {"up_to": None, "unit_price": "9", "flat_fee": "5"}]},
        describe="graduated: 1–10 at 12.00 EUR, 11+ at 9.00 EUR + 5.00 EUR flat",
        takes_transactions=False,
        share=(None, ""),
        minimum_per_period=None,
        line_unit_price=None,
        prices_quantity=True,
    ),
    "volume": dict(
        config={"model": "volume", "tiers": [{"up_to": "2.5", "unit_price": "1"},
                                             {"up_to": None, "unit_price": "0.5"}]},
        describe="volume: 1–2.5 at 1.00 EUR, over 2.5 at 0.50 EUR",
        takes_transactions=False,
        share=(None, ""),
        minimum_per_period=None,
        line_unit_price=None,
        prices_quantity=True,
    ),
    "package": dict(
        config={"model": "package", "package_size": "100", "amount": "5", "free_units": "50"},
        describe="5.00 EUR per 100 units (50 free)",
        takes_transactions=False,
        share=(None, ""),
        minimum_per_period=None,
        line_unit_price=None,
        prices_quantity=True,
    ),
    "percentage": dict(
        config={"model": "percentage", "rate": "1.5", "fixed_fee": "0.25", "min_per_transaction": "0.50",
                "max_per_transaction": "3"},
        describe="1.5% per transaction + 0.25 EUR, at least 0.50 EUR, at most 3.00 EUR",
        takes_transactions=True,
        share=(None, ""),
        minimum_per_period=None,
        line_unit_price=None,
        prices_quantity=True,
    ),
    "minimum_commitment": dict(
        config={"model": "minimum_commitment", "minimum": "25", "charge": {"model": "percentage", "rate": "2"}},
        describe="2% per transaction, minimum 25.00 EUR per period",
        takes_transactions=True,
        # 25 × 10/31 = 8.0645... → 8.06
        share=({"model": "minimum_commitment", "minimum": "8.06", "charge": {"model": "percentage", "rate": "2"}},
               "minimum commitment for 10 of 31 days: 25.00 EUR × 10/31 = 8.06 EUR; "),
        minimum_per_period=D("25"),
        line_unit_price=None,
        prices_quantity=True,
    ),
}

#: The questions every model answers (each a key of every vector).
MODEL_QUESTIONS = ("describe", "takes_transactions", "share", "minimum_per_period", "line_unit_price",
                   "prices_quantity")


def test_every_registered_model_has_every_vector():
    assert set(MODEL_VECTORS) == set(pricing.REGISTRY), "add the new model's vectors to MODEL_VECTORS"
    for code, vector in MODEL_VECTORS.items():
        missing = [q for q in ("config", *MODEL_QUESTIONS) if q not in vector]
        assert not missing, f"{code}: vectors missing for {missing}"


@pytest.mark.parametrize("code", sorted(pricing.REGISTRY))
def test_every_registered_model_defines_every_part_itself(code):
    cls = pricing.REGISTRY[code]
    assert cls.code == code
    assert issubclass(cls, pricing.BasePriceModel)
    assert not getattr(cls, "__abstractmethods__", None)
    for part in pricing.REQUIRED_PARTS:
        assert part in cls.__dict__, f"{code} does not define {part}"
    assert set(MODEL_QUESTIONS) <= set(pricing.REQUIRED_PARTS)


@pytest.mark.parametrize("code", sorted(MODEL_VECTORS))
def test_every_model_answers_its_vectors(code):
    vector = MODEL_VECTORS[code]
    model = pricing.model_from_config(vector["config"])
    assert type(model) is pricing.REGISTRY[code]
    assert model.describe("EUR") == describe_model(model, "EUR") == vector["describe"]
    assert model.takes_transactions() is vector["takes_transactions"]
    expected_config, why = vector["share"]
    shared, words = model.share("EUR", 10, 31)
    assert (shared if expected_config is None else shared.to_config()) == (
        model if expected_config is None else expected_config)
    assert words == why
    assert commitment_share(model, "EUR", (10, 31)) == (shared, words)
    assert commitment_share(model, "EUR", (31, 31)) == (model, "")
    assert commitment_share(model, "EUR", None) == (model, "")
    assert model.minimum_per_period() == vector["minimum_per_period"]
    assert model.line_unit_price() == vector["line_unit_price"]
    assert model.prices_quantity() is vector["prices_quantity"]


# The questions the billing run and the billing services used to answer with isinstance (kept here as the
# reference the registry's answers must equal, so switching a caller to the registry changes nothing).
def _run_takes_transactions(model):  # billing/run.py _takes_transactions
    if isinstance(model, pricing.MinimumCommitment):
        return _run_takes_transactions(model.charge_model)
    return isinstance(model, pricing.PercentagePricing)


def _services_takes_transactions(model):  # billing/services.py check_price
    return isinstance(model, pricing.PercentagePricing) or (
        isinstance(model, pricing.MinimumCommitment) and isinstance(model.charge_model, pricing.PercentagePricing))


NESTED = [
    {"model": "minimum_commitment", "minimum": "10", "charge": {"model": "per_unit", "unit_price": "2"}},
    {"model": "minimum_commitment", "minimum": "10", "charge": {"model": "flat", "amount": "2"}},
]


@pytest.mark.parametrize("config", [v["config"] for v in MODEL_VECTORS.values()] + NESTED)
def test_the_registry_answers_as_the_isinstance_checks_did(config):
    model = pricing.model_from_config(config)
    assert model.takes_transactions() is _run_takes_transactions(model) is _services_takes_transactions(model)
    # billing/run.py _line_for: quantity × unit price only for a per-unit price
    assert (model.line_unit_price() is not None) is isinstance(model, pricing.PerUnitPricing)
    if isinstance(model, pricing.PerUnitPricing):
        assert model.line_unit_price() == model.unit_price
    # billing/run.py _slot_lines: a recurring label names the quantity unless the price is flat
    assert model.prices_quantity() is (not isinstance(model, pricing.FlatPricing))
    # billing/run.py _slot_lines: a minimum commitment is prorated on a part of its period
    assert (model.minimum_per_period() is not None) is isinstance(model, pricing.MinimumCommitment)


def test_a_commitment_around_a_commitment_takes_the_inner_transactions_as_the_run_does():
    # The one model on which the two old answers differed: the run looked through every commitment, the
    # price check only through one. The registry answers as the run (which prices the transactions).
    model = pricing.model_from_config({"model": "minimum_commitment", "minimum": "20", "charge": {
        "model": "minimum_commitment", "minimum": "10", "charge": {"model": "percentage", "rate": "2"}}})
    assert model.takes_transactions() is True is _run_takes_transactions(model)
    assert _services_takes_transactions(model) is False
    assert model.describe("EUR") == "2% per transaction, minimum 10.00 EUR per period, minimum 20.00 EUR per period"


def test_an_unregistered_model_is_refused_not_guessed():
    @dataclass(frozen=True)
    class Unregistered(pricing.PerUnitPricing):
        code: ClassVar[str] = "per_unit"  # a subclass under a registered code is still not the registered class

    model = Unregistered(D("1"))
    with pytest.raises(errors.InvalidPricing, match="Unregistered is not a registered price model.*per_unit"):
        describe_model(model, "EUR")
    with pytest.raises(errors.InvalidPricing, match="not a registered price model"):
        commitment_share(model, "EUR", None)
    with pytest.raises(errors.InvalidPricing, match="dict is not a registered price model"):
        describe_model({"model": "per_unit", "unit_price": "1"}, "EUR")  # type: ignore[arg-type]


def _model_class(**parts):
    """A price model class defining exactly ``parts`` (every required part unless left out)."""
    body: dict[str, Any] = {
        "code": "test_model",
        "from_config": classmethod(lambda cls, config: cls()),
        "to_config": lambda self: {"model": "test_model"},
        "describe": lambda self, currency: "test",
        "takes_transactions": lambda self: False,
        "share": lambda self, currency, days, whole: (self, ""),
        "minimum_per_period": lambda self: None,
        "line_unit_price": lambda self: None,
        "prices_quantity": lambda self: True,
        "_price": lambda self, quantity, transactions, currency: None,
    }
    body.update(parts)
    return type("TestModel", (pricing.BasePriceModel,), {k: v for k, v in body.items() if v is not None})


@pytest.mark.parametrize("part", pricing.REQUIRED_PARTS)
def test_a_model_lacking_a_part_cannot_register(part):
    before = dict(pricing.REGISTRY)
    with pytest.raises(TypeError, match=f"does not define .*{part}"):
        pricing.register(_model_class(**{part: None}))
    assert pricing.REGISTRY == before


def test_a_model_inheriting_a_part_from_another_model_cannot_register():
    @dataclass(frozen=True)
    class Cheaper(pricing.PerUnitPricing):
        code: ClassVar[str] = "cheaper"

    with pytest.raises(TypeError, match="does not define"):
        pricing.register(Cheaper)
    assert "cheaper" not in pricing.REGISTRY


def test_registration_refuses_a_taken_code_a_missing_code_and_a_non_model():
    with pytest.raises(TypeError, match="already registered by PerUnitPricing"):
        pricing.register(_model_class(code="per_unit"))
    with pytest.raises(TypeError, match="needs its own code"):
        pricing.register(_model_class(code=None))
    with pytest.raises(TypeError, match="not a price model"):
        pricing.register(dict)
    assert pricing.register(pricing.FlatPricing) is pricing.FlatPricing  # registering again is harmless
    assert list(pricing.REGISTRY) == ["flat", "per_unit", "graduated", "volume", "package", "percentage",
                                      "minimum_commitment"]


def test_a_complete_model_registers_and_is_then_described(monkeypatch):
    monkeypatch.setattr(pricing, "REGISTRY", dict(pricing.REGISTRY))
    cls = pricing.register(_model_class())
    assert pricing.REGISTRY["test_model"] is cls
    assert describe_model(pricing.model_from_config({"model": "test_model"}), "EUR") == "test"


# --------------------------------------------------------------------------- aggregations

UTC = timezone.utc
START, END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
MARCH = Period(date(2026, 3, 1), date(2026, 4, 1))


def _event(key, day, month, value, user):
    return UsageEvent(key, datetime(2026, month, day, tzinfo=UTC), "seats", D(value), {"user": user})


#: One event before March (only an aggregation reading before the window sees it), three inside, one after.
EVENTS = [
    _event("e0", 20, 2, "9", "c"),
    _event("e1", 6, 3, "2", "a"),
    _event("e2", 11, 3, "5", "b"),
    _event("e3", 21, 3, "3", "a"),
    _event("e4", 1, 4, "7", "d"),
]

#: Per registered code: its flags, its quantity over March (unique_count counting "user") and its summary line.
AGGREGATION_VECTORS: dict[str, dict[str, Any]] = {
    "sum": dict(reads_before_window=False, uses_property=False, takes_initial=False, averaged=False,
                quantity=D("10"), summary="total 10 seats, 1–31 March 2026"),
    "count": dict(reads_before_window=False, uses_property=False, takes_initial=False, averaged=False,
                  quantity=D("3"), summary="3 seats, 1–31 March 2026"),
    "max": dict(reads_before_window=False, uses_property=False, takes_initial=False, averaged=False,
                quantity=D("5"), summary="peak 5 seats, 1–31 March 2026"),
    "unique_count": dict(reads_before_window=False, uses_property=True, takes_initial=False, averaged=False,
                         quantity=D("2"), summary="2 unique seats, 1–31 March 2026"),
    "last": dict(reads_before_window=False, uses_property=False, takes_initial=True, averaged=False,
                 quantity=D("3"), summary="latest 3 seats, 1–31 March 2026"),
    # 9 × 5 days + 2 × 5 + 5 × 10 + 3 × 11 = 138 seat-days over 31 days = 4.45... → "4.5"
    "time_weighted_average": dict(reads_before_window=True, uses_property=False, takes_initial=True, averaged=True,
                                  quantity=MONEY_CONTEXT.divide(D(138), D(31)),
                                  summary="average 4.5 seats, 1–31 March 2026"),
}
#: Summaries that aggregate no events: their flag and a summary line.
SUMMARY_VECTORS: dict[str, dict[str, Any]] = {
    "average_daily": dict(averaged=True, quantity=D("41.25"), summary="average 41.3 seats, 1–31 March 2026"),
}
AGGREGATION_FLAGS = ("reads_before_window", "uses_property", "takes_initial", "averaged")


def test_every_registered_aggregation_has_every_vector():
    assert list(AGGREGATION_VECTORS) == list(aggregations.AGGREGATIONS) == list(AGGREGATIONS), (
        "add the new aggregation's vectors to AGGREGATION_VECTORS (in registration order)")
    assert list(SUMMARY_KINDS) == [*AGGREGATION_VECTORS, *SUMMARY_VECTORS] == list(aggregations.SUMMARIES)
    for code, vector in AGGREGATION_VECTORS.items():
        missing = [part for part in (*AGGREGATION_FLAGS, "quantity", "summary") if part not in vector]
        assert not missing, f"{code}: vectors missing for {missing}"


@pytest.mark.parametrize("code", list(aggregations.AGGREGATIONS))
def test_every_registered_aggregation_defines_every_part_itself(code):
    agg = aggregations.aggregation(code)
    assert agg.code == code and isinstance(agg, aggregations.Aggregation)
    for part in aggregations.REQUIRED_PARTS:
        assert part in type(agg).__dict__, f"{code} does not define {part}"


@pytest.mark.parametrize("code", list(AGGREGATION_VECTORS))
def test_every_aggregation_answers_its_vectors(code):
    vector = AGGREGATION_VECTORS[code]
    agg = aggregations.aggregation(code)
    for flag in AGGREGATION_FLAGS:
        assert getattr(agg, flag) is vector[flag], f"{code}.{flag}"
    unique = "user" if agg.uses_property else None
    assert aggregate(code, EVENTS, START, END, unique_property=unique) == vector["quantity"]
    assert usage_summary(code, vector["quantity"], "seats", MARCH) == vector["summary"]


@pytest.mark.parametrize("code", list(SUMMARY_VECTORS))
def test_every_summary_answers_its_vectors(code):
    vector = SUMMARY_VECTORS[code]
    assert aggregations.summary(code).averaged is vector["averaged"]
    assert usage_summary(code, vector["quantity"], "seats", MARCH) == vector["summary"]
    with pytest.raises(errors.UnknownAggregation):
        aggregate(code, EVENTS, START, END)  # a summary, not an aggregation of events


def test_the_flags_name_what_the_run_asked_by_name():
    # billing/run.py and billing/services.py asked "== 'unique_count'" and "== 'time_weighted_average'".
    assert [c for c, a in aggregations.AGGREGATIONS.items() if a.uses_property] == ["unique_count"]
    assert [c for c, a in aggregations.AGGREGATIONS.items() if a.reads_before_window] == ["time_weighted_average"]
    assert aggregations.names(uses_property=True) == "unique_count"
    assert aggregations.names(takes_initial=True) == "last and time_weighted_average"


def test_unknown_aggregations_are_refused_with_the_known_ones():
    with pytest.raises(errors.UnknownAggregation, match="'mean': use one of sum, count, max, unique_count, last, "
                                                        "time_weighted_average\\.$"):
        aggregations.aggregation("mean")
    with pytest.raises(errors.UnknownAggregation, match="time_weighted_average, average_daily\\.$"):
        aggregations.summary("mean")


def _aggregation_class(**parts):
    body: dict[str, Any] = {
        "code": "test_aggregation", "averaged": False, "reads_before_window": False, "uses_property": False,
        "takes_initial": False,
        "compute": lambda self, events, start, end, *, level, unique_property: D(0),
        "phrase": lambda self, text, label: text,
    }
    body.update(parts)
    return type("TestAggregation", (aggregations.Aggregation,), {k: v for k, v in body.items() if v is not None})


@pytest.mark.parametrize("part", aggregations.REQUIRED_PARTS)
def test_an_aggregation_lacking_a_part_cannot_register(part):
    before = dict(aggregations.AGGREGATIONS), dict(aggregations.SUMMARIES)
    with pytest.raises(TypeError, match=f"does not define .*{part}"):
        aggregations.register(_aggregation_class(**{part: None}))
    assert (dict(aggregations.AGGREGATIONS), dict(aggregations.SUMMARIES)) == before


def test_an_aggregation_cannot_take_a_registered_code():
    with pytest.raises(TypeError, match="already registered by Sum"):
        aggregations.register(_aggregation_class(code="sum"))
    with pytest.raises(TypeError, match="is not a subclass of duly.domain.aggregations.Aggregation"):
        aggregations.register(dict)  # type: ignore[arg-type]
