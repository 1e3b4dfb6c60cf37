"""/api/v1/subscriptions: create with items, list, get; add, change and remove items (prorated); pause, resume,
cancel. Every write goes through duly.billing.services (subscriptions, changes)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from ninja import Query, Router
from pydantic import Field

from duly.billing import services as billing
from duly.customers.services import local_today

from . import readers
from .core import ERRORS, In, PageOf, Paging, Schema, idempotent, page_body, require

router = Router(tags=["subscriptions"])


class ItemOut(Schema):
    id: int
    price_id: int
    price_code: str
    quantity: Decimal
    starts_on: date
    ends_on: date | None


class PauseOut(Schema):
    starts_on: date
    resumes_on: date | None
    reason: str


class SubscriptionOut(Schema):
    id: int
    customer_id: int
    contract_id: int
    reference: str
    currency: str
    interval: str
    anchor_day: str
    timing: str
    start_date: date
    end_date: date | None
    trial_end: date | None
    status: str
    cancel_at_period_end: bool
    canceled_on: date | None
    next_bill_on: date | None
    items: list[ItemOut]
    pauses: list[PauseOut]
    created_at: datetime | None = None


def subscription_body(s) -> dict:
    return {"id": s.pk, "customer_id": s.customer_id, "contract_id": s.contract_id, "reference": s.reference,
            "currency": s.currency, "interval": s.interval, "anchor_day": s.anchor_day, "timing": s.timing,
            "start_date": s.start_date, "end_date": s.end_date, "trial_end": s.trial_end, "status": s.status,
            "cancel_at_period_end": s.cancel_at_period_end, "canceled_on": s.canceled_on,
            "next_bill_on": s.next_bill_on, "created_at": s.created_at,
            "items": [{"id": i.pk, "price_id": i.price_id, "price_code": i.price.code, "quantity": i.quantity,
                       "starts_on": i.starts_on, "ends_on": i.ends_on}
                      for i in sorted(s.items.all(), key=lambda i: i.pk)],
            "pauses": [{"starts_on": p.starts_on, "resumes_on": p.resumes_on, "reason": p.reason}
                       for p in sorted(s.pauses.all(), key=lambda p: p.pk)]}


def _fresh(org, pk: int) -> dict:
    return subscription_body(readers.subscription(org, pk))


class SubscriptionFilters(Paging):
    customer: int | None = Field(None, ge=1, description="A customer id")


@router.get("/subscriptions", response={200: PageOf[SubscriptionOut], **ERRORS}, summary="List subscriptions")
def list_subscriptions(request, filters: Query[SubscriptionFilters]):
    org = require(request, "view", SubscriptionFilters)
    qs = readers.subscriptions(org, customer_id=filters.customer)
    return page_body(readers.page(qs, limit=filters.limit, starting_after=filters.starting_after),
                     subscription_body)


@router.get("/subscriptions/{subscription_id}", response={200: SubscriptionOut, **ERRORS},
            summary="Get a subscription")
def get_subscription(request, subscription_id: int):
    org = require(request, "view")
    return _fresh(org, subscription_id)


Quantity = Field(Decimal(1), ge=0, description="Seats or units, a decimal string with at most 6 decimals")


class ItemIn(In):
    price_id: int
    quantity: Decimal = Quantity


class SubscriptionIn(In):
    customer_id: int
    items: list[ItemIn] = Field(min_length=1, max_length=50)
    start_date: date | None = Field(None, description="Default: today in the organization's time zone")
    contract_id: int | None = Field(None, description="Default: the customer's contract in force on start_date")
    interval: Literal["weekly", "biweekly", "monthly", "quarterly", "semiannual", "annual", "custom"] | None = None
    rrule: str = Field("", max_length=500, description="custom interval: an RFC 5545 RRULE")
    anchor_day: str | None = Field(None, max_length=10, description="1..31, last, or a weekday name")
    timing: Literal["advance", "arrears"] = "advance"
    trial_end: date | None = None
    end_date: date | None = None
    reference: str = Field("", max_length=60)


@router.post("/subscriptions", response={201: SubscriptionOut, **ERRORS}, summary="Create a subscription")
def create_subscription(request, body: SubscriptionIn):
    org = require(request, "bill")
    customer = readers.customer(org, body.customer_id)
    contract = readers.contract(org, body.contract_id) if body.contract_id is not None else None
    items = [billing.ItemSpec(readers.price(org, i.price_id), i.quantity) for i in body.items]
    today = local_today(org)

    def run():
        sub = billing.create_subscription(
            org, customer, items, start_date=body.start_date or today, as_of=today, contract=contract,
            interval=body.interval, anchor_day=body.anchor_day, rrule=body.rrule, timing=body.timing,
            trial_end=body.trial_end, end_date=body.end_date, reference=body.reference)
        return 201, _fresh(org, sub.pk)
    return idempotent(request, run)


On = Field(None, description="Default: today in the organization's time zone")


class AddItemIn(In):
    price_id: int
    quantity: Decimal = Quantity
    on: date | None = On


@router.post("/subscriptions/{subscription_id}/items", response={201: SubscriptionOut, **ERRORS},
             summary="Add an item (an add-on): its prorated rest of an invoiced period waits for the next invoice")
def add_item(request, subscription_id: int, body: AddItemIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    price = readers.price(org, body.price_id)
    today = local_today(org)

    def run():
        billing.add_item(org, sub, price, body.quantity, on=body.on or today, as_of=today)
        return 201, _fresh(org, sub.pk)
    return idempotent(request, run)


class ChangeItemIn(In):
    quantity: Decimal | None = Field(None, ge=0, description="The new seat count or quantity")
    price_id: int | None = Field(None, description="The new price (a plan change)")
    on: date | None = On


@router.post("/subscriptions/{subscription_id}/items/{item_id}/change", response={200: SubscriptionOut, **ERRORS},
             summary="Change an item's quantity (seats) or price from a day, prorated")
def change_item(request, subscription_id: int, item_id: int, body: ChangeItemIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    price = readers.price(org, body.price_id) if body.price_id is not None else None
    today = local_today(org)

    def run():
        billing.change_item(org, sub, item_id, on=body.on or today, as_of=today, quantity=body.quantity,
                            price=price)
        return 200, _fresh(org, sub.pk)
    return idempotent(request, run)


class RemoveItemIn(In):
    on: date | None = On


@router.post("/subscriptions/{subscription_id}/items/{item_id}/remove", response={200: SubscriptionOut, **ERRORS},
             summary="End an item from a day; the unused part of an invoiced period is credited")
def remove_item(request, subscription_id: int, item_id: int, body: RemoveItemIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    today = local_today(org)

    def run():
        billing.remove_item(org, sub, item_id, on=body.on or today, as_of=today)
        return 200, _fresh(org, sub.pk)
    return idempotent(request, run)


class PauseIn(In):
    starts_on: date | None = On
    resumes_on: date | None = Field(None, description="Default: paused until resumed")
    reason: str = Field("", max_length=200)


@router.post("/subscriptions/{subscription_id}/pause", response={200: SubscriptionOut, **ERRORS},
             summary="Pause recurring charges; paused days of an invoiced period are credited")
def pause(request, subscription_id: int, body: PauseIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    today = local_today(org)

    def run():
        billing.pause_subscription(org, sub, starts_on=body.starts_on or today, as_of=today,
                                   resumes_on=body.resumes_on, reason=body.reason)
        return 200, _fresh(org, sub.pk)
    return idempotent(request, run)


class ResumeIn(In):
    on: date | None = On


@router.post("/subscriptions/{subscription_id}/resume", response={200: SubscriptionOut, **ERRORS},
             summary="End the open pause")
def resume(request, subscription_id: int, body: ResumeIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    today = local_today(org)

    def run():
        billing.resume_subscription(org, sub, on=body.on or today, as_of=today)
        return 200, _fresh(org, sub.pk)
    return idempotent(request, run)


class CancelIn(In):
    on: date | None = On
    at_period_end: bool = Field(True, description="false: end on `on`, crediting the unused days")
    reason: str = Field("", max_length=200)


@router.post("/subscriptions/{subscription_id}/cancel", response={200: SubscriptionOut, **ERRORS},
             summary="Cancel at the end of the period, or at once with a prorated credit")
def cancel(request, subscription_id: int, body: CancelIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    today = local_today(org)

    def run():
        billing.cancel_subscription(org, sub, on=body.on or today, as_of=today, at_period_end=body.at_period_end,
                                    reason=body.reason)
        return 200, _fresh(org, sub.pk)
    return idempotent(request, run)
