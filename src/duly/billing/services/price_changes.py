"""Price changes and their notices to customers."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Mapping, Sequence

from django.db import transaction
from django.db.models import Q

from duly.customers.models import Organization
from duly.domain import usage as domain_usage
from duly.domain.billing_plan import describe_model_text
from duly.domain.calendar import calendar_for
from duly.domain.errors import NotFound, NoticePeriodTooShort, ValidationError
from duly.domain.bounds import dates_in_range
from duly.domain.text import Text, text

from ..models import Price, PriceChange, PriceChangeNotice, Subscription, SubscriptionItem
from ..runner.load import Catalog, change_info
from ..words import words
from .catalog import validate_price_config
from .common import _label, _own, _plan


# --- price changes -----------------------------------------------------------------------------------------
@transaction.atomic
@dates_in_range
def schedule_price_change(org: Organization, price: Price, *, effective_date: date,
                          new_model_config: Mapping[str, Any], justification: str, as_of: date,
                          notice_days: int = 30, subscription: Subscription | None = None) -> PriceChange:
    """Change a price (for every subscription on it, or one) from ``effective_date``, and queue the notices.

    Each affected customer gets one :class:`~duly.billing.models.PriceChangeNotice`, to be sent
    ``notice_days`` before the change; a change scheduled with less notice is refused. A period is
    billed at the price in force on its first day, so the first period at the new price is the
    first one starting on or after ``effective_date`` (the notice names it). A customer who takes the
    price later but before the change is effective (a new subscription, an added item, a plan
    change) gets the same notice then (see :func:`_notify_new_items`).
    """
    _own(org, price, "Price")
    if subscription is not None:
        _own(org, subscription, "Subscription")
        if not subscription.items.filter(price=price).exists():
            raise ValidationError(f"{subscription} has no item on price {price.code}.")
    if not justification or not justification.strip():
        raise ValidationError("Explain the price change: the justification (what improved, why) is shown to "
                              "every customer.")
    check_notice(effective_date, as_of, notice_days)
    config = validate_price_config(new_model_config)
    change = PriceChange.objects.create(
        organization=org, price=price, subscription=subscription, effective_date=effective_date,
        new_model_config=config, justification=justification.strip(), notice_days=notice_days, scheduled_on=as_of)
    subs = Subscription.objects.filter(
        Q(items__ends_on__isnull=True) | Q(items__ends_on__gt=effective_date), organization=org,
        items__price=price).filter(
        Q(end_date__isnull=True) | Q(end_date__gt=effective_date)).exclude(status=Subscription.ENDED).distinct()
    if subscription is not None:
        subs = subs.filter(pk=subscription.pk)
    _queue_notices(org, change, list(subs.select_related("customer").prefetch_related("items__price", "pauses")),
                   as_of, Catalog(org))
    return change


def _queue_notices(org: Organization, change: PriceChange, subs: Sequence[Subscription], as_of: date,
                   catalog: Catalog) -> None:
    """Queue one notice of ``change`` per customer of ``subs`` (a customer who already has one keeps it).

    The notice is sent ``notice_days`` before the change (on the customer's last business day by
    then, so that it can go out in time: the new price is billed only once the notice went out the
    full notice period before), or on ``as_of`` when that is already later (a customer who
    subscribes inside the notice period is told at once).
    """
    by_customer: dict[int, list[Subscription]] = {}
    for sub in subs:
        by_customer.setdefault(sub.customer_id, []).append(sub)
    price = catalog.prices[change.price_id]
    label = _label(price, catalog.products[price.product_id])
    effective_date = change.effective_date
    new = describe_model_text(catalog.model(price, change_info(change)), price.currency)
    notices = []
    for customer_subs in by_customer.values():
        customer = customer_subs[0].customer
        before = catalog.change_at(price, customer_subs[0].pk, effective_date - timedelta(days=1))
        old = describe_model_text(catalog.model(price, before), price.currency)
        firsts = []
        for s in customer_subs:
            cycle = next((c for c in _plan(s).schedule().cycles(until=effective_date + timedelta(days=800))
                          if c.period.start >= effective_date), None)
            if cycle is not None:
                firsts.append(cycle.period)
        # Written in the customer's language, as the message that sends it is (staff read the same words).
        values = {"label": label, "date": effective_date, "old": old, "new": new, "name": customer.name,
                  "why": change.justification}
        if firsts:
            body = text("Dear {name},\n\nFrom {date}, the price of {label} changes from {old} to {new}. Your first "
                        "period at the new price: {period}.\n\nWhy: {why}\n",
                        period=domain_usage.period_span(min(firsts)), **values)
        else:
            body = text("Dear {name},\n\nFrom {date}, the price of {label} changes from {old} to {new}.\n\n"
                        "Why: {why}\n", **values)
        subject: Text = text("Price change for {label} from {date}", label=label, date=effective_date)
        notices.append(PriceChangeNotice(
            organization=org, price_change=change, customer=customer,
            send_on=max(as_of, calendar_for(customer.country).adjust(
                effective_date - timedelta(days=change.notice_days), "preceding")),
            subject=words(subject, customer.locale), body=words(body, customer.locale),
        ))
    PriceChangeNotice.objects.bulk_create(notices, ignore_conflicts=True)


def _notify_new_items(org: Organization, sub: Subscription, items: Sequence[SubscriptionItem], as_of: date) -> None:
    """Queue the notices of price changes already scheduled for prices a subscription now has.

    A customer who subscribes (or adds or switches to a price) after a change of that price was
    scheduled, and who will be billed at the old price before it takes effect, gets the same notice
    as the customers who were there when it was scheduled, so their first invoice at the new price
    shows the old and new price and the justification. A change effective on or before the item
    starts needs no notice: the customer only ever pays the new price.
    """
    if not items:
        return
    ends = sub.end_date or date.max
    wanted = Q()
    for item in items:  # the few items of one subscription
        wanted |= Q(price_id=item.price_id, effective_date__gt=item.starts_on,
                    effective_date__lt=min(item.ends_on or date.max, ends))
    changes = list(PriceChange.objects.filter(wanted, Q(subscription__isnull=True) | Q(subscription=sub),
                                              organization=org).order_by("effective_date", "id"))
    if not changes:
        return
    catalog = Catalog(org)
    for change in changes:
        _queue_notices(org, change, [sub], as_of, catalog)


def check_notice(effective_date: date, as_of: date, notice_days: int) -> None:
    """Refuse a price change announced with less than ``notice_days`` days' notice."""
    if isinstance(notice_days, bool) or not isinstance(notice_days, int) or notice_days < 0:
        raise ValidationError(f"The notice period is a number of days ≥ 0, got {notice_days!r}.")
    if (effective_date - as_of).days < notice_days:
        raise NoticePeriodTooShort(
            f"A price change effective {effective_date.isoformat()} needs {notice_days} days' notice, so it must "
            f"be scheduled by {(effective_date - timedelta(days=notice_days)).isoformat()}; scheduled today, the "
            f"earliest effective date is {(as_of + timedelta(days=notice_days)).isoformat()}.",
            effective_date=effective_date.isoformat(), notice_days=notice_days)


def pending_price_notices(org: Organization, as_of: date) -> list[PriceChangeNotice]:
    """Price-change notices queued and due to be sent by ``as_of`` (for the messaging outbox)."""
    return list(PriceChangeNotice.objects.filter(organization=org, status=PriceChangeNotice.QUEUED,
                                                 send_on__lte=as_of)
                .select_related("customer", "price_change", "price_change__price").order_by("send_on", "id"))


@transaction.atomic
def mark_price_notice_sent(org: Organization, notice_id: int, *, sent_at: datetime) -> PriceChangeNotice:
    """Record that a notice was delivered (idempotent)."""
    notice = PriceChangeNotice.objects.select_for_update().filter(organization=org, pk=notice_id).first()
    if notice is None:
        raise NotFound(f"Price-change notice {notice_id} not found in {org.name}.")
    if notice.status == PriceChangeNotice.QUEUED:
        notice.status, notice.sent_at = PriceChangeNotice.SENT, sent_at
        notice.save(update_fields=["status", "sent_at"])
    return notice
