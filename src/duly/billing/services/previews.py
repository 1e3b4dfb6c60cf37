"""Previews: what a change would book, and what a price would charge, computed with the same rules the
writers use (the writers book what the same ``prepare_*`` function returns); nothing is written. The back office,
``duly subscriptions change|add-item|remove-item|cancel --preview`` and the API's ``…/preview`` routes show them
before anything is confirmed."""

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
from .changes import (
    ChangeProration,
    PreparedCancel,
    PreparedChange,
    PreparedItem,
    Settlement,
    prepare_add_item,
    prepare_cancel,
    prepare_change,
    prepare_remove_item,
)
from .common import _own

__all__ = ["ChangeProration", "PreparedCancel", "PreparedChange", "PreparedItem", "PriceExample", "Settlement",
           "preview_add_item", "preview_cancel", "preview_change", "preview_remove_item", "price_example"]


def _subscription(org: Organization, subscription: Subscription) -> Subscription:
    _own(org, subscription, "Subscription")
    return Subscription.objects.select_related("customer", "contract").get(pk=subscription.pk)


@dates_in_range
def preview_change(org: Organization, subscription: Subscription, item_id: int, *, on: date,
                   quantity: Decimal | int | str | None = None, price: Price | None = None) -> PreparedChange:
    """The change :func:`~duly.billing.services.changes.change_item` would make, and its proration (the credit
    for the unused old price, the charge for the rest at the new one, the net booked); nothing is written."""
    sub = _subscription(org, subscription)
    return prepare_change(org, sub, item_id, on=on, quantity=quantity, price=price)


@dates_in_range
def preview_add_item(org: Organization, subscription: Subscription, price: Price,
                     quantity: Decimal | int | str = 1, *, on: date) -> PreparedItem:
    """What :func:`~duly.billing.services.changes.add_item` would settle (the prorated rest of an invoiced
    period, charged on the next invoice); nothing is written."""
    return prepare_add_item(org, _subscription(org, subscription), price, quantity, on=on)


@dates_in_range
def preview_remove_item(org: Organization, subscription: Subscription, item_id: int, *, on: date) -> PreparedItem:
    """What :func:`~duly.billing.services.changes.remove_item` would settle (the unused part of an invoiced period,
    credited); nothing is written."""
    return prepare_remove_item(org, _subscription(org, subscription), item_id, on=on)


@dates_in_range
def preview_cancel(org: Organization, subscription: Subscription, *, on: date,
                   at_period_end: bool = True) -> PreparedCancel:
    """What :func:`~duly.billing.services.changes.cancel_subscription` would do: the new end, and (immediately) the
    unused days of an invoiced period credited; nothing is written."""
    return prepare_cancel(org, _subscription(org, subscription), on=on, at_period_end=at_period_end)


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
