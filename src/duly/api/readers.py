"""Read-only queries of the API, each scoped to the key's organization (views read only through these).

Lists are cursor-paginated by id: ``starting_after`` must name a row of the same list in the same
organization (a cursor from another organization is refused, it reveals nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from duly.billing.models import Metric, Price, Product, Subscription
from duly.collections.models import Dispute, PromiseToPay
from duly.customers.models import Contact, Contract, Customer, Organization
from duly.domain.errors import InvalidCursor, NotFound
from duly.invoicing.models import Invoice
from duly.invoicing.services import invoices_for
from duly.payments.models import Mandate, Payment, SavedPaymentMethod

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


# --- contacts, catalog, subscriptions --------------------------------------------------------------------------
def contacts(org: Organization, customer_obj: Customer) -> QuerySet:
    return Contact.objects.filter(organization=org, customer=customer_obj)


def contact(org: Organization, customer_obj: Customer, pk: int):
    return _one(contacts(org, customer_obj), pk, "Contact")


def products(org: Organization) -> QuerySet:
    return Product.objects.filter(organization=org)


def product(org: Organization, pk: int):
    return _one(products(org), pk, "Product")


def prices(org: Organization, *, product_id: int | None = None) -> QuerySet:
    qs = Price.objects.filter(organization=org).select_related("product", "metric")
    if product_id is not None:
        qs = qs.filter(product=product(org, product_id))
    return qs


def price(org: Organization, pk: int):
    return _one(prices(org), pk, "Price")


def metric_by_code(org: Organization, code: str):
    row = Metric.objects.filter(organization=org, code=code).first()
    if row is None:
        raise NotFound(f"Metric {code!r} not found.", metric=code)
    return row


def subscriptions(org: Organization, *, customer_id: int | None = None) -> QuerySet:
    qs = Subscription.objects.filter(organization=org).prefetch_related("items__price", "pauses")
    if customer_id is not None:
        qs = qs.filter(customer=customer(org, customer_id))
    return qs


def subscription(org: Organization, pk: int):
    return _one(subscriptions(org).select_related("customer", "contract"), pk, "Subscription")


# --- payment methods, collections ------------------------------------------------------------------------------
def saved_methods(org: Organization, customer_obj: Customer) -> QuerySet:
    return SavedPaymentMethod.objects.filter(organization=org, customer=customer_obj, removed_at__isnull=True)


def saved_method(org: Organization, customer_obj: Customer, pk: int):
    return _one(saved_methods(org, customer_obj), pk, "Payment method")


def mandates(org: Organization, customer_obj: Customer) -> QuerySet:
    return Mandate.objects.filter(organization=org, customer=customer_obj)


def disputes(org: Organization, *, status: str | None = None, customer_id: int | None = None) -> QuerySet:
    qs = Dispute.objects.filter(organization=org)
    if status is not None:
        qs = qs.filter(status=status)
    if customer_id is not None:
        qs = qs.filter(customer=customer(org, customer_id))
    return qs


def dispute(org: Organization, pk: int):
    return _one(disputes(org), pk, "Dispute")


def promises(org: Organization, *, customer_id: int | None = None) -> QuerySet:
    qs = PromiseToPay.objects.filter(organization=org).select_related("customer").prefetch_related("invoices")
    if customer_id is not None:
        qs = qs.filter(customer=customer(org, customer_id))
    return qs


def promise(org: Organization, pk: int):
    return _one(promises(org), pk, "Promise")
