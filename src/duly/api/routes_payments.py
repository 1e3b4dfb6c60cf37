"""/api/v1/payments: list, get, record (with allocations to invoices), allocate what is unapplied, refund."""

from __future__ import annotations

from datetime import date

from ninja import Query, Router
from pydantic import Field

from duly.customers.services import local_today
from duly.domain.errors import CurrencyMismatch, ValidationError
from duly.payments import allocation_services
from duly.payments import services as payment_services

from . import readers
from .core import (ERRORS, In, Money, MoneyIn, PageOf, QueryIn, Schema, idempotent, major_in, money, page_body,
                   require)

router = Router(tags=["payments"])


class AllocationOut(Schema):
    invoice_id: int
    amount: Money
    applied_on: date


class PaymentOut(Schema):
    id: int
    customer_id: int
    amount: Money
    refunded: Money
    method: str
    received_on: date
    external_reference: str
    allocations: list[AllocationOut]


def payment_body(p) -> dict:
    cur = p.currency
    return {"id": p.pk, "customer_id": p.customer_id, "amount": money(p.amount_minor, cur),
            "refunded": money(p.refunded_minor, cur), "method": p.method, "received_on": p.received_on,
            "external_reference": p.external_reference,
            "allocations": [{"invoice_id": a.invoice_id, "amount": money(a.amount_minor, cur),
                             "applied_on": a.applied_on} for a in p.allocations.all()]}


class PaymentFilters(QueryIn):
    limit: int = Field(20, ge=1, le=readers.MAX_LIMIT)
    starting_after: int | None = Field(None, ge=1)
    customer: int | None = Field(None, ge=1)


@router.get("/payments", response={200: PageOf[PaymentOut], **ERRORS}, summary="List payments")
def list_payments(request, filters: Query[PaymentFilters]):
    org = require(request, "view", PaymentFilters)
    qs = readers.payments(org, customer_id=filters.customer)
    return page_body(readers.page(qs, limit=filters.limit, starting_after=filters.starting_after), payment_body)


@router.get("/payments/{payment_id}", response={200: PaymentOut, **ERRORS}, summary="Get a payment")
def get_payment(request, payment_id: int):
    org = require(request, "view")
    return payment_body(readers.payment(org, payment_id))


class AllocationIn(In):
    invoice_id: int
    amount: MoneyIn


class PaymentIn(In):
    customer_id: int
    amount: MoneyIn
    method: str = Field(max_length=20, description="bank_transfer, card, sepa_debit, cash, check, ...")
    received_on: date | None = Field(None, description="Default: today in the organization's time zone")
    external_reference: str = Field("", max_length=120)
    note: str = Field("", max_length=2000)
    allocations: list[AllocationIn] | None = Field(
        None, max_length=500, description="Where the money goes; default: the oldest open invoices first")


@router.post("/payments", response={201: PaymentOut, **ERRORS}, summary="Record a payment")
def record_payment(request, body: PaymentIn):
    org = require(request, "record_payments")
    customer = readers.customer(org, body.customer_id)
    currency = body.amount.currency.upper()
    allocations = None
    if body.allocations is not None:
        allocations = {}
        for a in body.allocations:
            if a.amount.currency.upper() != currency:
                raise CurrencyMismatch(f"An allocation is in {a.amount.currency}, the payment in {currency}.",
                                       invoice_id=a.invoice_id)
            if a.invoice_id in allocations:
                raise ValidationError(f"Invoice {a.invoice_id} is allocated twice.", invoice_id=a.invoice_id)
            allocations[a.invoice_id] = a.amount.major()
    amount = body.amount.major()
    received_on = body.received_on or local_today(org)

    def run():
        payment = payment_services.record_payment(
            org, customer, amount=amount, currency=currency, method=body.method, received_on=received_on,
            external_reference=body.external_reference, allocations=allocations, note=body.note)
        return 201, payment_body(readers.payment(org, payment.pk))
    return idempotent(request, run)


class RefundIn(In):
    amount: MoneyIn
    reason: str = Field(min_length=1, max_length=200)
    refunded_on: date | None = None
    external_reference: str = Field("", max_length=120)


class RefundOut(Schema):
    id: int
    payment_id: int
    amount: Money
    refunded_on: date
    reason: str


@router.post("/payments/{payment_id}/refunds", response={201: RefundOut, **ERRORS}, summary="Refund a payment")
def refund(request, payment_id: int, body: RefundIn):
    org = require(request, "record_payments")
    payment = readers.payment(org, payment_id)
    if body.amount.currency.upper() != payment.currency:
        raise CurrencyMismatch(f"The refund is in {body.amount.currency}, the payment in {payment.currency}.")
    amount = body.amount.major()
    refunded_on = body.refunded_on or local_today(org)

    def run():
        r = payment_services.refund_payment(org, payment_id, amount=amount, refunded_on=refunded_on,
                                            reason=body.reason, external_reference=body.external_reference)
        return 201, {"id": r.pk, "payment_id": r.payment_id, "amount": money(r.amount_minor, payment.currency),
                     "refunded_on": r.refunded_on, "reason": r.reason}
    return idempotent(request, run)


class AllocateIn(In):
    allocations: list[AllocationIn] = Field(min_length=1, max_length=500)
    applied_on: date | None = Field(None, description="Default: today in the organization's time zone")


class AllocatedOut(Schema):
    payment_id: int
    allocations: list[AllocationOut]
    unapplied: Money


@router.post("/payments/{payment_id}/allocations", response={201: AllocatedOut, **ERRORS},
             summary="Allocate a payment's unapplied part (held as credit) to open invoices")
def allocate(request, payment_id: int, body: AllocateIn):
    org = require(request, "record_payments")
    payment = readers.payment(org, payment_id)
    allocations: dict[int, object] = {}
    for a in body.allocations:
        if a.invoice_id in allocations:
            raise ValidationError(f"Invoice {a.invoice_id} is allocated twice.", invoice_id=a.invoice_id)
        allocations[a.invoice_id] = major_in(a.amount, payment.currency, "An allocation")
    on = body.applied_on or local_today(org)

    def run():
        rows = allocation_services.allocate_unapplied(org, payment_id, allocations, on=on)
        cur = payment.currency
        return 201, {"payment_id": payment_id, "unapplied": money(
            payment_services.payment_unapplied_minor(readers.payment(org, payment_id)), cur),
            "allocations": [{"invoice_id": r.invoice_id, "amount": money(r.amount_minor, cur),
                             "applied_on": r.applied_on} for r in rows]}
    return idempotent(request, run)
