"""/api/v1/customers/{id}/payment_methods and /mandates: a customer's saved methods (list, get, set the default,
remove) and SEPA mandates (list), through duly.payments.method_services."""

from __future__ import annotations

from datetime import date, datetime

from ninja import Query, Router

from duly.payments import method_services

from . import readers
from .core import ERRORS, In, PageOf, Paging, Schema, idempotent, page_body, require

router = Router(tags=["payment methods"])


class MethodOut(Schema):
    id: int
    customer_id: int
    provider: str
    kind: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    is_default: bool
    created_at: datetime | None


def method_body(m) -> dict:
    return {"id": m.pk, "customer_id": m.customer_id, "provider": m.provider, "kind": m.kind, "brand": m.brand,
            "last4": m.last4, "exp_month": m.exp_month, "exp_year": m.exp_year, "is_default": m.is_default,
            "created_at": m.created_at}


@router.get("/customers/{customer_id}/payment_methods", response={200: PageOf[MethodOut], **ERRORS},
            summary="List a customer's saved payment methods")
def list_methods(request, customer_id: int, paging: Query[Paging]):
    org = require(request, "view", Paging)
    qs = readers.saved_methods(org, readers.customer(org, customer_id))
    return page_body(readers.page(qs, limit=paging.limit, starting_after=paging.starting_after), method_body)


@router.get("/customers/{customer_id}/payment_methods/{method_id}", response={200: MethodOut, **ERRORS},
            summary="Get a saved payment method")
def get_method(request, customer_id: int, method_id: int):
    org = require(request, "view")
    return method_body(readers.saved_method(org, readers.customer(org, customer_id), method_id))


@router.post("/customers/{customer_id}/payment_methods/{method_id}/default", response={200: MethodOut, **ERRORS},
             summary="Make a saved method the one autopay charges")
def set_default(request, customer_id: int, method_id: int, body: In | None = None):
    org = require(request, "record_payments")
    customer = readers.customer(org, customer_id)
    readers.saved_method(org, customer, method_id)

    def run():
        method_services.set_default_method(org, method_id, customer=customer)
        return 200, method_body(readers.saved_method(org, customer, method_id))
    return idempotent(request, run)


class RemovalOut(Schema):
    removed: MethodOut
    default_id: int | None
    detached: bool
    note: str


@router.delete("/customers/{customer_id}/payment_methods/{method_id}", response={200: RemovalOut, **ERRORS},
               summary="Remove a saved method (never charged again; the provider is asked to forget it)")
def remove(request, customer_id: int, method_id: int):
    org = require(request, "record_payments")
    customer = readers.customer(org, customer_id)
    readers.saved_method(org, customer, method_id)
    removal = method_services.remove_method(org, method_id, customer=customer)
    return {"removed": method_body(removal.method), "detached": removal.detached, "note": removal.note,
            "default_id": removal.new_default.pk if removal.new_default else None}


class MandateOut(Schema):
    id: int
    customer_id: int
    reference: str
    kind: str
    signed_on: date
    debtor_name: str
    iban_last4: str
    revoked_at: date | None


@router.get("/customers/{customer_id}/mandates", response={200: PageOf[MandateOut], **ERRORS},
            summary="List a customer's SEPA mandates")
def list_mandates(request, customer_id: int, paging: Query[Paging]):
    org = require(request, "view", Paging)
    qs = readers.mandates(org, readers.customer(org, customer_id))
    return page_body(readers.page(qs, limit=paging.limit, starting_after=paging.starting_after), lambda m: {
        "id": m.pk, "customer_id": m.customer_id, "reference": m.reference, "kind": m.kind,
        "signed_on": m.signed_on, "debtor_name": m.debtor_name, "iban_last4": m.iban[-4:],
        "revoked_at": m.revoked_at})
