"""/api/v1/subscriptions: create with items, list, get; add, change and remove items (prorated); pause, resume,
cancel. Every write goes through duly.billing.services (subscriptions, changes).

Adding, changing and removing an item and cancelling each have a ``…/preview`` route taking the same body: it
answers what the change would settle now (the proration), computed by the same service function that books it,
and writes nothing. Sending the previewed ``net`` back as ``expected_net`` confirms it: the change is refused
(409 ``proration_changed``) when the net is no longer the one shown."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from ninja import Query, Router
from pydantic import Field

from duly.billing import services as billing
from duly.customers.services import local_today
from duly.domain.money import from_minor, to_minor

from . import readers
from .core import ERRORS, In, Money, Out, PageOf, Paging, Schema, idempotent, money, page_body, require

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


class PeriodOut(Out):
    start: date
    end: date = Field(description="The last day (inclusive)")


class ProrationLineOut(Out):
    kind: Literal["credit", "charge"] = Field(description="credit: a credit-note line against the invoiced period; "
                                                          "charge: a pending charge for the next invoice")
    description: str
    amount: Money
    period: PeriodOut
    explanation: str


class ProrationOut(Out):
    """What a change settles now, as the service that books it computes it; nothing is written."""

    what: str
    booked: Literal["charge", "credit", "none"] = Field(
        description="charge: the net waits for the next invoice; credit: a credit note is issued; none")
    credit: Money = Field(description="The unused part of the period already invoiced")
    charge: Money = Field(description="The rest of that period at the new price (an added or changed item)")
    net: Money = Field(description="charge − credit: send its amount_minor back as expected_net to confirm")
    credit_note: Money = Field(description="What the credit note credits (the credit less absorbed)")
    absorbed: Money = Field(description="Part of the credit taken off charges not invoiced yet (days credited "
                                        "before), not credited again")
    invoice_number: str | None = Field(None, description="The invoice of the period being settled")
    lines: list[ProrationLineOut]
    ends_on: date | None = Field(None, description="A cancellation: the subscription's new end (exclusive)")
    explanation: str


def _m(amount: Decimal, currency: str) -> dict:
    return money(to_minor(amount, currency), currency)


def settlement_body(s, *, ends_on: date | None = None) -> dict:
    cur = s.currency
    return {"what": s.what, "booked": s.booked, "credit": _m(s.credit, cur), "charge": _m(s.charge, cur),
            "net": _m(s.net, cur), "credit_note": _m(s.credit_note, cur), "absorbed": _m(s.absorbed, cur),
            "invoice_number": s.invoice_number or None, "ends_on": ends_on, "explanation": s.explanation,
            "lines": [{"kind": line.kind, "description": line.description, "amount": _m(line.amount, cur),
                       "period": {"start": line.period.start, "end": line.period.last_day},
                       "explanation": line.explanation} for line in s.lines]}


def change_body(change) -> dict:
    """A seat or plan change's proration in the same shape (nothing to settle: zeros, ``booked`` none)."""
    sub, p = change.subscription, change.proration
    cur = sub.currency
    if p is None:
        zero = _m(Decimal(0), cur)
        return {"what": f"item {change.item.pk} from {change.on.isoformat()}", "booked": "none", "credit": zero,
                "charge": zero, "net": zero, "credit_note": zero, "absorbed": zero, "invoice_number": None,
                "ends_on": None, "lines": [], "explanation": "The change falls in a period not invoiced yet (or "
                "billed in arrears): the next invoice bills each item for the days it applies."}
    period = {"start": p.rest.start, "end": p.rest.last_day}
    return {"what": p.what, "booked": p.booked, "credit": _m(p.credit, cur), "charge": _m(p.charge, cur),
            "net": _m(p.net, cur), "credit_note": _m(max(-p.net, Decimal(0)), cur), "absorbed": _m(Decimal(0), cur),
            "invoice_number": p.invoice_number, "ends_on": None, "explanation": p.explanation,
            "lines": [{"kind": "credit", "description": f"Unused part of the period already invoiced "
                       f"({p.invoice_number}) at the old price", "amount": _m(p.credit, cur), "period": period,
                       "explanation": p.explanation},
                      {"kind": "charge", "description": p.description, "amount": _m(p.charge, cur),
                       "period": period, "explanation": p.explanation}]}


ExpectedNet = Field(None, description="Confirm a preview: the `net.amount_minor` it answered; the change is refused "
                                      "(409 proration_changed) when the net is no longer that")


def _expected(subscription, amount_minor: int | None) -> Decimal | None:
    return None if amount_minor is None else from_minor(amount_minor, subscription.currency)


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
    expected_net: int | None = ExpectedNet


@router.post("/subscriptions/{subscription_id}/items", response={201: SubscriptionOut, **ERRORS},
             summary="Add an item (an add-on): its prorated rest of an invoiced period waits for the next invoice")
def add_item(request, subscription_id: int, body: AddItemIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    price = readers.price(org, body.price_id)
    today = local_today(org)

    def run():
        billing.add_item(org, sub, price, body.quantity, on=body.on or today, as_of=today,
                         expected_net=_expected(sub, body.expected_net))
        return 201, _fresh(org, sub.pk)
    return idempotent(request, run)


@router.post("/subscriptions/{subscription_id}/items/preview", response={200: ProrationOut, **ERRORS},
             summary="Preview adding an item: what it would settle now; nothing is written")
def preview_add_item(request, subscription_id: int, body: AddItemIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    price = readers.price(org, body.price_id)
    prepared = billing.preview_add_item(org, sub, price, body.quantity, on=body.on or local_today(org))
    return settlement_body(prepared.settlement)


class ChangeItemIn(In):
    quantity: Decimal | None = Field(None, ge=0, description="The new seat count or quantity")
    price_id: int | None = Field(None, description="The new price (a plan change)")
    on: date | None = On
    expected_net: int | None = ExpectedNet


@router.post("/subscriptions/{subscription_id}/items/{item_id}/change", response={200: SubscriptionOut, **ERRORS},
             summary="Change an item's quantity (seats) or price from a day, prorated")
def change_item(request, subscription_id: int, item_id: int, body: ChangeItemIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    price = readers.price(org, body.price_id) if body.price_id is not None else None
    today = local_today(org)

    def run():
        billing.change_item(org, sub, item_id, on=body.on or today, as_of=today, quantity=body.quantity,
                            price=price, expected_net=_expected(sub, body.expected_net))
        return 200, _fresh(org, sub.pk)
    return idempotent(request, run)


@router.post("/subscriptions/{subscription_id}/items/{item_id}/change/preview",
             response={200: ProrationOut, **ERRORS},
             summary="Preview a seat or plan change: its proration; nothing is written")
def preview_change_item(request, subscription_id: int, item_id: int, body: ChangeItemIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    price = readers.price(org, body.price_id) if body.price_id is not None else None
    change = billing.preview_change(org, sub, item_id, on=body.on or local_today(org), quantity=body.quantity,
                                    price=price)
    return change_body(change)


class RemoveItemIn(In):
    on: date | None = On
    expected_net: int | None = ExpectedNet


@router.post("/subscriptions/{subscription_id}/items/{item_id}/remove", response={200: SubscriptionOut, **ERRORS},
             summary="End an item from a day; the unused part of an invoiced period is credited")
def remove_item(request, subscription_id: int, item_id: int, body: RemoveItemIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    today = local_today(org)

    def run():
        billing.remove_item(org, sub, item_id, on=body.on or today, as_of=today,
                            expected_net=_expected(sub, body.expected_net))
        return 200, _fresh(org, sub.pk)
    return idempotent(request, run)


@router.post("/subscriptions/{subscription_id}/items/{item_id}/remove/preview",
             response={200: ProrationOut, **ERRORS},
             summary="Preview removing an item: the credit for the unused part; nothing is written")
def preview_remove_item(request, subscription_id: int, item_id: int, body: RemoveItemIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    prepared = billing.preview_remove_item(org, sub, item_id, on=body.on or local_today(org))
    return settlement_body(prepared.settlement)


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
    expected_net: int | None = ExpectedNet


@router.post("/subscriptions/{subscription_id}/cancel", response={200: SubscriptionOut, **ERRORS},
             summary="Cancel at the end of the period, or at once with a prorated credit")
def cancel(request, subscription_id: int, body: CancelIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    today = local_today(org)

    def run():
        billing.cancel_subscription(org, sub, on=body.on or today, as_of=today, at_period_end=body.at_period_end,
                                    reason=body.reason, expected_net=_expected(sub, body.expected_net))
        return 200, _fresh(org, sub.pk)
    return idempotent(request, run)


@router.post("/subscriptions/{subscription_id}/cancel/preview", response={200: ProrationOut, **ERRORS},
             summary="Preview a cancellation: its end and the credit for the unused days; nothing is written")
def preview_cancel(request, subscription_id: int, body: CancelIn):
    org = require(request, "bill")
    sub = readers.subscription(org, subscription_id)
    prepared = billing.preview_cancel(org, sub, on=body.on or local_today(org), at_period_end=body.at_period_end)
    return settlement_body(prepared.settlement, ends_on=prepared.ends_on)
