"""Price-change notices: which are due to be sent, what each announces, and from when the new price applies.

Billing queues one :class:`~duly.billing.models.PriceChangeNotice` per price change and customer
(:func:`duly.billing.services.change_price`), ``notice_days`` before the change. This module decides
what a due notice announces: the price per period for the customer's current quantity before and
after, the product, and the first day billed at the new price, which is later than the change's when
the notice goes out late (it waited for a query, a final step...): the billing run keeps the previous
price until a notice was sent the full notice period before (``billing.run``, ``_not_announced``:
:func:`first_day_at_new_price` is that rule).

Billing decides and records; it does not send. The sending (who receives it, in which language,
whether the customer's situation lets it go now) is the collections run's
(``duly.collections.services.price_notices``), which calls :func:`mark_price_notice_sent` in the
transaction that queues the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Sequence
from zoneinfo import ZoneInfo

from duly.customers.models import Organization
from duly.domain.pricing import model_from_config

from .models import PriceChange, PriceChangeNotice, Product, SubscriptionItem
from .services import mark_price_notice_sent, pending_price_notices

__all__ = ["NoticeTerms", "PriceNotices", "due_notices", "first_day_at_new_price", "mark_price_notice_sent",
           "pending_price_notices"]


@dataclass(frozen=True)
class NoticeTerms:
    """What one notice announces to its customer, on the customer's ``today``."""

    notice: PriceChangeNotice
    product: str
    old: Decimal
    new: Decimal
    currency: str
    #: The first day billed at the new price (see :func:`first_day_at_new_price`).
    effective: date
    today: date


def _local_date(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone or "UTC")).date()


def first_day_at_new_price(change: PriceChange, sent_on: date) -> date:
    """The first day a customer told on ``sent_on`` (their local day) is billed at ``change``'s price:
    its effective date, or the full notice period after the notice when it went out late."""
    return max(change.effective_date, sent_on + timedelta(days=change.notice_days))


def due_notices(org: Organization, now: datetime) -> list[PriceChangeNotice]:
    """The queued notices due by ``now`` on their customer's own local date (send day, then id)."""
    # Every customer's local date is at most one day ahead of UTC; each notice is checked against its own.
    notices = pending_price_notices(org, now.astimezone(dt_timezone.utc).date() + timedelta(days=1))
    return [n for n in notices if n.send_on <= _local_date(now, n.customer.timezone)]


class PriceNotices:
    """Reads what the terms of these notices need at once (two queries, whatever their number)."""

    def __init__(self, org: Organization, notices: Sequence[PriceChangeNotice]) -> None:
        self.quantities: dict[tuple[int, int], Decimal] = {}
        for cid, price_id, qty in SubscriptionItem.objects.filter(
                organization=org, subscription__customer_id__in={n.customer_id for n in notices},
                price_id__in={n.price_change.price_id for n in notices}, subscription__status="active").values_list(
                "subscription__customer_id", "price_id", "quantity"):
            self.quantities[(cid, price_id)] = self.quantities.get((cid, price_id), Decimal(0)) + qty
        self.earlier: dict[int, list[PriceChange]] = {}
        for change in PriceChange.objects.filter(organization=org, price_id__in={n.price_change.price_id
                                                                                 for n in notices}).order_by(
                "effective_date", "id"):
            self.earlier.setdefault(change.price_id, []).append(change)

    def terms(self, notice: PriceChangeNotice, now: datetime) -> NoticeTerms:
        """What ``notice`` announces when it is sent at ``now``: the price per period of the customer's
        current quantity (1 when they have none) before the change and after it, and from when."""
        change, customer = notice.price_change, notice.customer
        price = change.price
        before = [c for c in self.earlier.get(price.pk, []) if c.effective_date < change.effective_date
                  and c.subscription_id in (None, change.subscription_id) and c.pk != change.pk]
        old_config = before[-1].new_model_config if before else price.model_config
        qty = self.quantities.get((customer.pk, price.pk)) or Decimal(1)
        old = model_from_config(old_config).charge(qty, price.currency).amount
        new = model_from_config(change.new_model_config).charge(qty, price.currency).amount
        product = Product.objects.filter(pk=price.product_id).values_list("name", flat=True).first() or price.code
        today = _local_date(now, customer.timezone)
        return NoticeTerms(notice=notice, product=product, old=old, new=new, currency=price.currency,
                           effective=first_day_at_new_price(change, today), today=today)
