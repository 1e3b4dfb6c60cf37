"""Read-only queries of the API, each scoped to the key's organization (views read only through these).

Lists are cursor-paginated by id: ``starting_after`` must name a row of the same list in the same
organization (a cursor from another organization is refused, it reveals nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from duly.customers.models import Contract, Customer, Organization
from duly.domain.errors import InvalidCursor, NotFound
from duly.invoicing.models import Invoice
from duly.invoicing.services import invoices_for
from duly.payments.models import Payment

MAX_LIMIT = 100


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    has_more: bool


def page(qs: QuerySet, *, limit: int, starting_after: int | None) -> Page:
    if starting_after is not None:
        if not qs.filter(pk=starting_after).exists():
            raise InvalidCursor(f"starting_after={starting_after} names no row of this list.",
                                starting_after=starting_after)
        qs = qs.filter(pk__gt=starting_after)
    rows = list(qs.order_by("pk")[: limit + 1])
    return Page(rows[:limit], len(rows) > limit)


def _one(qs: QuerySet, pk: int, what: str):
    row = qs.filter(pk=pk).first()
    if row is None:
        raise NotFound(f"{what} {pk} not found.", id=pk)
    return row


def customers(org: Organization) -> QuerySet:
    return Customer.objects.filter(organization=org)


def customer(org: Organization, pk: int) -> Customer:
    return _one(customers(org), pk, "Customer")


def contracts(org: Organization, customer_obj: Customer) -> QuerySet:
    return Contract.objects.filter(organization=org, customer=customer_obj)


def contract(org: Organization, pk: int) -> Contract:
    return _one(Contract.objects.filter(organization=org), pk, "Contract")


def invoices(org: Organization, *, status: list[str] | None = None, customer_id: int | None = None) -> QuerySet:
    cust = customer(org, customer_id) if customer_id is not None else None
    return invoices_for(org, status=status or None, customer=cust)


def invoice(org: Organization, pk: int) -> Invoice:
    return _one(Invoice.objects.filter(organization=org).select_related("customer", "contract", "organization"),
                pk, "Invoice")


def payments(org: Organization, *, customer_id: int | None = None) -> QuerySet:
    qs = Payment.objects.filter(organization=org).prefetch_related("allocations")
    if customer_id is not None:
        qs = qs.filter(customer=customer(org, customer_id))
    return qs


def payment(org: Organization, pk: int) -> Payment:
    return _one(payments(org), pk, "Payment")


def api_keys(org: Organization, *, include_revoked: bool = False) -> QuerySet:
    from .models import ApiKey

    qs = ApiKey.objects.filter(organization=org).order_by("pk")
    return qs if include_revoked else qs.filter(revoked_at__isnull=True)
