"""Previews: what a change would book, and what a price would charge, computed with the same rules the
writers use; nothing is written (the back office and ``duly subscriptions change --dry-run`` show them before
anything is confirmed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Mapping

from duly.customers.models import Organization
from duly.domain import pricing
from duly.domain.bounds import dates_in_range
from duly.domain.errors import ValidationError
from duly.domain.money import to_decimal

from ..models import Price, Subscription
from .changes import ChangeProration, PreparedChange, prepare_change
from .common import _own

__all__ = ["ChangeProration", "PreparedChange", "PriceExample", "preview_change", "price_example"]


@dates_in_range
def preview_change(org: Organization, subscription: Subscription, item_id: int, *, on: date,
                   quantity: Decimal | int | str | None = None, price: Price | None = None) -> PreparedChange:
    """The change :func:`~duly.billing.services.changes.change_item` would make, and its proration (the credit
    for the unused old price, the charge for the rest at the new one, the net booked); nothing is written."""
    _own(org, subscription, "Subscription")
    sub = Subscription.objects.select_related("customer", "contract").get(pk=subscription.pk)
    return prepare_change(org, sub, item_id, on=on, quantity=quantity, price=price)


@dataclass(frozen=True)
class PriceExample:
    """A price model's charge for an example quantity: ``150 units → 560.00``, with its arithmetic."""

    quantity: Decimal
    amount: Decimal
    currency: str
    explanation: str
    description: str

    def __str__(self) -> str:
        return f"{self.quantity:f} units → {self.amount} {self.currency}: {self.explanation}"


def price_example(model_config: Mapping[str, Any], currency: str, quantity: Decimal | int | str,
                  transactions: tuple[Decimal | int | str, ...] = ()) -> PriceExample:
    """The charge of a price configuration (validated as :func:`~duly.billing.services.catalog.validate_price_config`
    does) for ``quantity`` (a percentage price: for ``transactions``), computed by :mod:`duly.domain.pricing`."""
    qty = to_decimal(quantity)
    if qty < 0:
        raise ValidationError("The example quantity cannot be negative.")
    model = pricing.model_from_config(model_config)
    txs = tuple(to_decimal(t) for t in transactions)
    if model.takes_transactions() and not txs:
        txs = (qty,)  # a percentage price: the example quantity is one transaction's amount
    charge = model.charge(qty, currency, transactions=txs)
    return PriceExample(qty, charge.amount, currency, charge.explanation, model.describe(currency))
