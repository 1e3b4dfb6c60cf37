"""Which price applies to a subscription on a day: price changes, and whether their notice went out in time."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Mapping, Sequence

from .. import pricing
from ..billing_plan import describe_model_text
from .notes import PRICE_CHANGE, InvoiceNote
from .inputs import (
    NOTICE_CANCELED,
    NOTICE_SENT,
    MetricInfo,
    NoticeState,
    PriceChangeInfo,
    PriceInfo,
    ProductInfo,
)

__all__ = ["PriceBook", "product_label"]


def product_label(price: PriceInfo, product: ProductInfo) -> str:
    """How a price is named on an invoice line: the product, and the price's nickname when it has one."""
    return f"{product.name} ({price.nickname})" if price.nickname else product.name


class PriceBook:
    """The catalog's prices and their changes, and the price models they parse to (each parsed once).

    ``announced`` maps (price change, customer) to that customer's notice (:class:`NoticeState`); a
    caller that reads notices lazily overrides :meth:`notice`. A book lives as long as a billing run
    (or a service call): it remembers parsed models and the recurring lines customers share
    (``recurring_lines``, see :mod:`duly.domain.compose.lines`).
    """

    def __init__(self, products: Mapping[int, ProductInfo], prices: Mapping[int, PriceInfo],
                 metrics: Mapping[int, MetricInfo], changes: Mapping[int, Sequence[PriceChangeInfo]],
                 announced: dict[tuple[int, int], NoticeState] | None = None) -> None:
        self.products = products
        self.prices = prices
        self.metrics = metrics
        self.changes = changes
        self.announced: dict[tuple[int, int], NoticeState] = {} if announced is None else announced
        self._models: dict[tuple[int, int | None], pricing.PriceModel] = {}
        #: The recurring line of (price, quantity, period, cycle, paused days, currency), or None when the
        #: period is not billable: customers on the same plan share it (see lines.slot_lines).
        self.recurring_lines: dict[tuple, Any] = {}

    def notice(self, change_id: int, customer_id: int) -> NoticeState | None:
        return self.announced.get((change_id, customer_id))

    def model(self, price: PriceInfo, change: PriceChangeInfo | None) -> pricing.PriceModel:
        key = (price.id, change.id if change else None)
        model = self._models.get(key)
        if model is None:
            model = pricing.model_from_config(change.new_model_config if change else price.model_config)
            self._models[key] = model
        return model

    def change_at(self, price: PriceInfo, subscription_id: int, day: date, customer_id: int | None = None,
                  kept: list[tuple[int, str]] | None = None) -> PriceChangeInfo | None:
        """The price change in force on ``day`` for a subscription (a subscription's own change wins a tie).

        With ``customer_id``: only a change whose notice reached that customer at least its notice
        period before ``day`` (or that needed no notice: the customer came after it was announced);
        otherwise the price before it still applies, and ``kept`` gets ``(customer, why)``.
        """
        best = None
        for change in self.changes.get(price.id, ()):
            if change.effective_date > day:
                break
            if change.subscription_id not in (None, subscription_id):
                continue
            if best is None or change.effective_date > best.effective_date or change.subscription_id is not None:
                best = change
        if customer_id is None:
            return best
        while best is not None:
            why = self.not_announced(best, customer_id, day)
            if why is None:
                return best
            if kept is not None:
                kept.append((customer_id, why))
            best = self.change_at(price, subscription_id, best.effective_date - timedelta(days=1))
        return None

    def model_at(self, price: PriceInfo, subscription_id: int, day: date, customer_id: int | None = None,
                 kept: list[tuple[int, str]] | None = None) -> tuple[pricing.PriceModel, PriceChangeInfo | None]:
        change = self.change_at(price, subscription_id, day, customer_id, kept)
        return self.model(price, change), change

    def not_announced(self, change: PriceChangeInfo, customer_id: int, day: date) -> str | None:
        """Why ``change`` may not be billed to the customer for a period from ``day``, or None when it may:
        a new price is invoiced only after its notice was actually sent, at least the notice period before."""
        notice = self.notice(change.id, customer_id)
        if notice is None:
            return None  # no notice queued: the customer subscribed after the change was announced
        status, sent, planned = notice.status, notice.sent_on, notice.send_on
        if status == NOTICE_SENT and sent is not None and sent + timedelta(days=change.notice_days) <= day:
            return None
        if status == NOTICE_SENT:
            when = f"its notice went out on {sent.isoformat() if sent else '?'}, less than {change.notice_days} days before"
        elif status == NOTICE_CANCELED:
            when = "its notice was cancelled"
        else:
            when = f"its notice (planned for {planned.isoformat()}) has not been sent yet"
        price = self.prices.get(change.price_id)
        product = self.products.get(price.product_id) if price is not None else None
        label = product.name if product is not None else (price.code if price is not None else str(change.price_id))
        return (f"{label}: kept the previous price for the period from {day.isoformat()}, not the new price from "
                f"{change.effective_date.isoformat()}: {when}")

    def change_note(self, price: PriceInfo, subscription_id: int, customer_id: int,
                    change: PriceChangeInfo) -> InvoiceNote:
        """The first invoice at a new price says so: the old and new price and the justification."""
        before = self.change_at(price, subscription_id, change.effective_date - timedelta(days=1), customer_id)
        new, previous = (describe_model_text(self.model(price, c), price.currency) for c in (change, before))
        note = InvoiceNote.of(
            PRICE_CHANGE, product=product_label(price, self.products[price.product_id]),
            effective_date=change.effective_date, new=str(new), previous=str(previous),
            justification=change.justification)
        return InvoiceNote(note.code, note.params, words=(("new", new), ("previous", previous)))
