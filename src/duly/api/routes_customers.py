"""/api/v1/customers and their contracts: read through duly.api.readers, write through duly.customers.services."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from django.http import HttpResponse
from ninja import Query, Router
from pydantic import Field

from duly.customers import services as customer_services
from duly.domain.errors import CurrencyMismatch

from . import readers
from .core import ERRORS, In, Money, MoneyIn, PageOf, Paging, Schema, idempotent, money, page_body, require

router = Router(tags=["customers"])


class CustomerOut(Schema):
    id: int
    code: str
    name: str
    email: str
    address_line1: str
    postcode: str
    city: str
    country: str
    tax_id: str
    currency: str
    locale: str
    timezone: str
    status: str
    created_at: datetime | None = None


class CustomerIn(In):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    address_line1: str = Field("", max_length=200)
    address_line2: str = Field("", max_length=200)
    postcode: str = Field("", max_length=20)
    city: str = Field("", max_length=100)
    country: str = Field(min_length=2, max_length=2)
    tax_id: str = Field("", max_length=40)
    email: str = Field("", max_length=254)
    currency: str | None = Field(None, min_length=3, max_length=3)
    locale: str | None = Field(None, max_length=10)
    timezone: str | None = Field(None, max_length=64)
    buyer_reference: str = Field("", max_length=100)


class CustomerPatch(In):
    name: str | None = Field(None, min_length=1, max_length=200)
    address_line1: str | None = Field(None, max_length=200)
    address_line2: str | None = Field(None, max_length=200)
    postcode: str | None = Field(None, max_length=20)
    city: str | None = Field(None, max_length=100)
    country: str | None = Field(None, min_length=2, max_length=2)
    tax_id: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    locale: str | None = Field(None, max_length=10)
    timezone: str | None = Field(None, max_length=64)
    buyer_reference: str | None = Field(None, max_length=100)


def customer_body(c) -> dict:
    return {"id": c.pk, "code": c.code, "name": c.name, "email": c.email, "address_line1": c.address_line1,
            "postcode": c.postcode, "city": c.city, "country": c.country, "tax_id": c.tax_id,
            "currency": c.currency, "locale": c.locale, "timezone": c.timezone, "status": c.status,
            "created_at": getattr(c, "created_at", None)}


@router.get("/customers", response={200: PageOf[CustomerOut], **ERRORS}, summary="List customers")
def list_customers(request, paging: Query[Paging]):
    org = require(request, "view", Paging)
    return page_body(readers.page(readers.customers(org), limit=paging.limit, starting_after=paging.starting_after),
                     customer_body)


@router.get("/customers/{customer_id}", response={200: CustomerOut, **ERRORS}, summary="Get a customer")
def get_customer(request, customer_id: int):
    org = require(request, "view")
    return customer_body(readers.customer(org, customer_id))


@router.post("/customers", response={201: CustomerOut, **ERRORS}, summary="Create a customer")
def create_customer(request, body: CustomerIn):
    org = require(request, "manage_customers")
    fields = {k: v for k, v in body.model_dump().items() if v is not None}

    def run():
        return 201, customer_body(customer_services.create_customer(org, **fields))
    return idempotent(request, run)


@router.patch("/customers/{customer_id}", response={200: CustomerOut, **ERRORS}, summary="Update a customer")
def update_customer(request, customer_id: int, body: CustomerPatch):
    org = require(request, "manage_customers")
    customer = readers.customer(org, customer_id)
    fields = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return customer_body(customer_services.update_customer(customer, **fields))


# --- contracts ------------------------------------------------------------------------------------------------
class ContractOut(Schema):
    id: int
    customer_id: int
    reference: str
    currency: str
    start_date: date
    end_date: date | None = None
    terms_kind: str
    terms_days: int
    late_fee_kind: str
    billing_frequency: str
    po_number: str
    compensation: Money | None = None


class ContractIn(In):
    reference: str = Field(min_length=1, max_length=60)
    start_date: date
    end_date: date | None = None
    currency: str | None = Field(None, min_length=3, max_length=3)
    terms_kind: str | None = Field(None, max_length=20)
    terms_days: int | None = Field(None, ge=0, le=3650)
    late_fee_kind: str | None = Field(None, max_length=20)
    late_fixed_fee: MoneyIn | None = None
    compensation: MoneyIn | None = None
    billing_frequency: str | None = Field(None, max_length=12)
    po_number: str | None = Field(None, max_length=100)


def contract_body(c) -> dict:
    return {"id": c.pk, "customer_id": c.customer_id, "reference": c.reference, "currency": c.currency,
            "start_date": c.start_date, "end_date": c.end_date, "terms_kind": c.terms_kind,
            "terms_days": c.terms_days, "late_fee_kind": c.late_fee_kind, "billing_frequency": c.billing_frequency,
            "po_number": c.po_number,
            "compensation": None if c.compensation_minor is None else money(c.compensation_minor, c.currency)}


@router.get("/customers/{customer_id}/contracts", response={200: PageOf[ContractOut], **ERRORS},
            summary="List a customer's contracts")
def list_contracts(request, customer_id: int, paging: Query[Paging]):
    org = require(request, "view", Paging)
    qs = readers.contracts(org, readers.customer(org, customer_id))
    return page_body(readers.page(qs, limit=paging.limit, starting_after=paging.starting_after), contract_body)


@router.post("/customers/{customer_id}/contracts", response={201: ContractOut, **ERRORS},
             summary="Create a contract")
def create_contract(request, customer_id: int, body: ContractIn):
    org = require(request, "manage_customers")
    customer = readers.customer(org, customer_id)
    fields = {k: v for k, v in body.model_dump(exclude={"late_fixed_fee", "compensation"}).items() if v is not None}
    currency = (body.currency or customer.currency).upper()
    fields["currency"] = currency
    for name in ("late_fixed_fee", "compensation"):
        amount = getattr(body, name)
        if amount is not None:
            if amount.currency.upper() != currency:
                raise CurrencyMismatch(f"{name} is in {amount.currency}, the contract in {currency}.", field=name)
            fields[name] = amount.major()

    def run():
        return 201, contract_body(customer_services.create_contract(org, customer, **fields))
    return idempotent(request, run)


# --- contacts -------------------------------------------------------------------------------------------------
ContactRole = Literal["billing", "accounts_payable", "owner", "other"]


class ContactOut(Schema):
    id: int
    customer_id: int
    name: str
    email: str
    phone: str
    role: str
    locale: str
    opted_out: bool


class ContactIn(In):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=40)
    role: ContactRole = "billing"
    locale: str = Field("", max_length=10)
    opted_out: bool = False


class ContactPatch(In):
    name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    role: ContactRole | None = None
    locale: str | None = Field(None, max_length=10)
    opted_out: bool | None = None


def contact_body(c) -> dict:
    return {"id": c.pk, "customer_id": c.customer_id, "name": c.name, "email": c.email, "phone": c.phone,
            "role": c.role, "locale": c.locale, "opted_out": c.opted_out}


@router.get("/customers/{customer_id}/contacts", response={200: PageOf[ContactOut], **ERRORS},
            summary="List a customer's contacts")
def list_contacts(request, customer_id: int, paging: Query[Paging]):
    org = require(request, "view", Paging)
    qs = readers.contacts(org, readers.customer(org, customer_id))
    return page_body(readers.page(qs, limit=paging.limit, starting_after=paging.starting_after), contact_body)


@router.post("/customers/{customer_id}/contacts", response={201: ContactOut, **ERRORS}, summary="Add a contact")
def create_contact(request, customer_id: int, body: ContactIn):
    org = require(request, "manage_customers")
    customer = readers.customer(org, customer_id)

    def run():
        return 201, contact_body(customer_services.add_contact(customer, **body.model_dump()))
    return idempotent(request, run)


@router.patch("/customers/{customer_id}/contacts/{contact_id}", response={200: ContactOut, **ERRORS},
              summary="Update a contact")
def update_contact(request, customer_id: int, contact_id: int, body: ContactPatch):
    org = require(request, "manage_customers")
    contact = readers.contact(org, readers.customer(org, customer_id), contact_id)
    fields = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return contact_body(customer_services.update_contact(contact, **fields))


@router.delete("/customers/{customer_id}/contacts/{contact_id}", response={204: None, **ERRORS},
               summary="Remove a contact")
def delete_contact(request, customer_id: int, contact_id: int):
    org = require(request, "manage_customers")
    customer_services.remove_contact(readers.contact(org, readers.customer(org, customer_id), contact_id))
    return HttpResponse(status=204)
