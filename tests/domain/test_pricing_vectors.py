"""Runs the hand-computed vector table in ``data/pricing_vectors.json`` through the price models.

A vector's ``model`` is either a full configuration or the name of one in the table's ``models``
section; a minimum commitment's wrapped ``charge`` may also be such a name.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from duly.domain.money import round_money
from duly.domain.pricing import model_from_config

TABLE = json.loads((Path(__file__).parent / "data" / "pricing_vectors.json").read_text(encoding="utf-8"))
VECTORS = TABLE["vectors"]


def _config(ref):
    config = dict(TABLE["models"][ref]) if isinstance(ref, str) else dict(ref)
    if "charge" in config:
        config["charge"] = _config(config["charge"])
    return config


def test_table_is_large_and_ids_are_unique():
    ids = [v["id"] for v in VECTORS]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)
    for vector in VECTORS:
        assert vector["arithmetic"].strip(), vector["id"]
        assert isinstance(vector["expected"], str), vector["id"]


def test_table_covers_every_model():
    codes = {_config(v["model"])["model"] for v in VECTORS}
    assert codes == {"flat", "per_unit", "graduated", "volume", "package", "percentage", "minimum_commitment"}
    assert {v["currency"] for v in VECTORS} >= {"EUR", "USD", "JPY", "BHD"}


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector(vector):
    model = model_from_config(_config(vector["model"]))
    transactions = [Decimal(t) for t in vector.get("transactions", [])]
    charge = model.charge(Decimal(vector["quantity"]), vector["currency"], transactions=transactions)

    # Exact string: the value AND its scale (JPY 0 decimals, EUR 2, BHD 3).
    assert str(charge.amount) == vector["expected"]
    assert charge.currency == vector["currency"]
    assert charge.quantity == Decimal(vector["quantity"])
    # The worked arithmetic ends on the charged amount.
    assert charge.explanation.endswith(vector["expected"]), charge.explanation
    # The exact breakdown adds up to the unrounded total, which rounds to the amount.
    if charge.breakdown:
        assert round_money(sum(line.amount for line in charge.breakdown), charge.currency) == charge.amount


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector_config_round_trips(vector):
    model = model_from_config(_config(vector["model"]))
    stored = json.loads(json.dumps(model.to_config()))
    assert model_from_config(stored) == model
