"""What the billing services share: ownership checks, locks, a subscription's plan and cursor, labels."""

from __future__ import annotations

from datetime import date
from typing import Any, Sequence

from duly.customers.models import Organization
from duly.domain.billing_plan import SubscriptionPlan, parse_anchor, slots
from duly.domain.compose import product_label
from duly.domain.errors import NotFound
from duly.domain.schedules import Pause

from ..models import Price, Product, Subscription, SubscriptionItem, SubscriptionPause


def _own(org: Organization, obj: Any, what: str) -> None:
    if obj is None or obj.organization_id != org.id:
        raise NotFound(f"{what} not found in {org.name}.")


def _plan(sub: Subscription, items: Sequence[SubscriptionItem] | None = None,
          pauses: Sequence[SubscriptionPause] | None = None) -> SubscriptionPlan:
    items = list(sub.items.select_related("price")) if items is None else items
    pauses = list(sub.pauses.all()) if pauses is None else pauses
    return SubscriptionPlan(
        start=sub.start_date, interval=sub.interval, rule=sub.rrule or None,
        anchor=parse_anchor(sub.anchor_day, sub.interval), trial_end=sub.trial_end, end=sub.end_date,
        pauses=tuple(Pause(p.starts_on, p.resumes_on or date.max) for p in pauses), timing=sub.timing,
        metered=any(i.price.quantity_source != Price.SOURCE_QUANTITY for i in items),
    )


def _refresh_cursor(sub: Subscription) -> None:
    """Recompute when the subscription is next due (after a change of its schedule or items)."""
    _, nxt = slots(_plan(sub), last_key=sub.last_billed_period_start, as_of=date.min)
    sub.next_bill_on = nxt.billing_date if nxt else None
    if nxt is None and sub.end_date is not None and sub.status == Subscription.ACTIVE \
            and sub.last_billed_period_start is not None:
        sub.status = Subscription.ENDED
    sub.save(update_fields=["next_bill_on", "status", "end_date", "cancel_at_period_end", "canceled_on",
                            "trial_end"])


def _locked(org: Organization, subscription: Subscription) -> Subscription:
    _own(org, subscription, "Subscription")
    return Subscription.objects.select_for_update(of=("self",)).select_related("customer", "contract").get(
        pk=subscription.pk)


def _label(price: Price, product: Product | None = None) -> str:
    return product_label(price, product or price.product)