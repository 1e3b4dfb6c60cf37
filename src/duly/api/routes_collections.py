"""/api/v1 collections: disputes (list, get, open, resolve) and promises to pay (list, get, create) through
duly.collections.services; statements of account (JSON, PDF) and aging (organization, customer) from the insights
readers, which duly.urls connects to duly.api.reports (the API and insights never import each other)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from django.http import HttpResponse
from django.utils import timezone
from ninja import Query, Router
from pydantic import Field

from duly.collections.services import disputes as dispute_services
from duly.collections.services import promises as promise_services
from duly.customers.services import local_today
from duly.domain.aging import BUCKETS
from duly.domain.bounds import check_date_range
from duly.domain.money import to_minor

from . import readers, reports
from .core import (ERRORS, In, Money, MoneyIn, PageOf, Paging, QueryIn, Schema, idempotent, major_in, money,
                   page_body, require)

router = Router(tags=["collections"])


# --- disputes -------------------------------------------------------------------------------------------------
class DisputeOut(Schema):
    id: int
    customer_id: int
    invoice_id: int
    status: str
    opened_by: str
    opened_at: datetime
    question: str
    sla_due_on: date
    answered_at: datetime | None
    answer: str
    credit_note_id: int | None


def dispute_body(d) -> dict:
    return {"id": d.pk, "customer_id": d.customer_id, "invoice_id": d.invoice_id, "status": d.status,
            "opened_by": d.opened_by, "opened_at": d.opened_at, "question": d.question, "sla_due_on": d.sla_due_on,
            "answered_at": d.answered_at, "answer": d.answer, "credit_note_id": d.credit_note_id}


class DisputeFilters(Paging):
    status: Literal["open", "resolved"] | None = None
    customer: int | None = Field(None, ge=1, description="A customer id")


@router.get("/disputes", response={200: PageOf[DisputeOut], **ERRORS}, summary="List disputes (queries)")
def list_disputes(request, filters: Query[DisputeFilters]):
    org = require(request, "view", DisputeFilters)
    qs = readers.disputes(org, status=filters.status, customer_id=filters.customer)
    return page_body(readers.page(qs, limit=filters.limit, starting_after=filters.starting_after), dispute_body)


@router.get("/disputes/{dispute_id}", response={200: DisputeOut, **ERRORS}, summary="Get a dispute")
def get_dispute(request, dispute_id: int):
    org = require(request, "view")
    return dispute_body(readers.dispute(org, dispute_id))


class DisputeIn(In):
    invoice_id: int
    question: str = Field(min_length=1, max_length=5000)
    opened_by: Literal["customer", "staff"] = "staff"


@router.post("/disputes", response={201: DisputeOut, **ERRORS},
             summary="Open a dispute on an invoice: its reminders pause until it is resolved")
def open_dispute(request, body: DisputeIn):
    org = require(request, "collect")
    readers.invoice(org, body.invoice_id)

    def run():
        d = dispute_services.open_dispute(org, body.invoice_id, question=body.question, now=timezone.now(),
                                          opened_by=body.opened_by)
        return 201, dispute_body(d)
    return idempotent(request, run)


class ResolveIn(In):
    answer: str = Field(min_length=1, max_length=5000)
    credit: Literal["none", "whole"] = Field("none", description="whole: credit the whole invoice")
    credit_amount: MoneyIn | None = Field(None, description="Credit this amount (tax included) instead")


@router.post("/disputes/{dispute_id}/resolve", response={200: DisputeOut, **ERRORS},
             summary="Answer a dispute, optionally with a credit note; the customer is told")
def resolve_dispute(request, dispute_id: int, body: ResolveIn):
    org = require(request, "collect")
    dispute = readers.dispute(org, dispute_id)
    amount = None
    if body.credit_amount is not None:
        amount = major_in(body.credit_amount, dispute.invoice.currency, "The credit amount")
    if amount is not None or body.credit == "whole":
        require(request, "bill")  # crediting a customer is billing work (docs/roles.md)

    def run():
        d = dispute_services.resolve_dispute(org, dispute_id, answer=body.answer, now=timezone.now(),
                                             credit_note=body.credit == "whole", credit_amount=amount)
        return 200, dispute_body(d)
    return idempotent(request, run)


# --- promises to pay ------------------------------------------------------------------------------------------
class PromiseOut(Schema):
    id: int
    customer_id: int
    promised_date: date
    amount: Money
    invoice_ids: list[int]
    note: str
    state: str = Field(description="running, kept or broken")
    created_at: datetime


def promise_body(p, state: str) -> dict:
    return {"id": p.pk, "customer_id": p.customer_id, "promised_date": p.promised_date,
            "amount": money(p.amount_minor, p.currency), "invoice_ids": sorted(i.pk for i in p.invoices.all()),
            "note": p.note, "state": state, "created_at": p.created_at}


def _promise_page(org, pg) -> dict:
    today = local_today(org)
    states = promise_services.promise_states(pg.rows, lambda _: today)
    return page_body(pg, lambda p: promise_body(p, states[p.pk]))


class PromiseFilters(Paging):
    customer: int | None = Field(None, ge=1, description="A customer id")


@router.get("/promises", response={200: PageOf[PromiseOut], **ERRORS}, summary="List promises to pay")
def list_promises(request, filters: Query[PromiseFilters]):
    org = require(request, "view", PromiseFilters)
    qs = readers.promises(org, customer_id=filters.customer)
    return _promise_page(org, readers.page(qs, limit=filters.limit, starting_after=filters.starting_after))


@router.get("/promises/{promise_id}", response={200: PromiseOut, **ERRORS}, summary="Get a promise to pay")
def get_promise(request, promise_id: int):
    org = require(request, "view")
    p = readers.promise(org, promise_id)
    return promise_body(p, promise_services.promise_state(p, local_today(org)))


class PromiseIn(In):
    customer_id: int
    promised_date: date
    amount: MoneyIn
    invoice_ids: list[int] | None = Field(None, min_length=1, max_length=500,
                                          description="Default: the customer's overdue invoices in that currency")
    note: str = Field("", max_length=2000)


@router.post("/promises", response={201: PromiseOut, **ERRORS},
             summary="Record a promise to pay: reminders for its invoices pause until the date")
def create_promise(request, body: PromiseIn):
    org = require(request, "collect")
    customer = readers.customer(org, body.customer_id)
    currency = body.amount.currency.upper()
    amount = body.amount.major()

    def run():
        p = promise_services.record_promise(org, customer, promised_date=body.promised_date, amount=amount,
                                            now=timezone.now(), currency=currency, invoice_ids=body.invoice_ids,
                                            note=body.note)
        return 201, promise_body(readers.promise(org, p.pk), "running")
    return idempotent(request, run)


# --- statements and aging -------------------------------------------------------------------------------------
class BucketAmount(Schema):
    bucket: str = Field(description="current, 1-30, 31-60, 61-90 or 90+ days past due")
    amount: Money


class CurrencyAging(Schema):
    currency: str
    buckets: list[BucketAmount]
    total_open: Money
    overdue: Money | None = None
    invoices: int | None = None


def _minor(value, currency: str) -> dict:
    return money(to_minor(Decimal(value), currency), currency)


def _buckets(amounts, currency: str) -> list[dict]:
    return [{"bucket": b, "amount": _minor(amounts[b], currency)} for b in BUCKETS]


class StatementLine(Schema):
    number: str
    issue_date: date
    due_date: date | None
    total: Money
    open: Money
    interest: Money
    days_past_due: int
    bucket: str


class StatementOut(Schema):
    customer_id: int
    as_of: date
    lines: list[StatementLine]
    totals: list[CurrencyAging]
    credit: list[Money]
    retainer: list[Money]
    interest: list[Money]


class AsOf(QueryIn):
    as_of: date | None = Field(None, description="Default: today in the organization's time zone")


def _as_of(org, query: AsOf) -> date:
    return check_date_range(query.as_of, "The report date") if query.as_of else local_today(org)


class StatementQuery(AsOf):
    format: Literal["json", "pdf"] = "json"


def _statement_body(customer, as_of: date) -> dict:
    st = reports.statement(customer, as_of=as_of)
    return {
        "customer_id": customer.pk, "as_of": as_of,
        "lines": [{"number": li.number, "issue_date": li.issue_date, "due_date": li.due_date,
                   "total": _minor(li.total, li.currency), "open": _minor(li.open_amount, li.currency),
                   "interest": _minor(li.interest, li.currency), "days_past_due": li.days_past_due,
                   "bucket": li.bucket} for li in st["lines"]],
        "totals": [{"currency": cur, "buckets": _buckets(amounts, cur), "total_open": _minor(st["total_open"][cur], cur)}
                   for cur, amounts in sorted(st["buckets"].items())],
        "credit": [_minor(v, cur) for cur, v in sorted(st["credit"].items())],
        "retainer": [_minor(v, cur) for cur, v in sorted(st["retainer"].items())],
        "interest": [_minor(v, cur) for cur, v in sorted(st["interest"].items())],
    }


@router.get("/customers/{customer_id}/statement", response={200: StatementOut, **ERRORS},
            summary="A customer's statement of account (JSON, or PDF with format=pdf)",
            openapi_extra={"responses": {"200": {"description": "The statement", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/StatementOut"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}})
def statement(request, customer_id: int, query: Query[StatementQuery]):
    org = require(request, "view", StatementQuery)
    customer = readers.customer(org, customer_id)
    as_of = _as_of(org, query)
    if query.format == "pdf":
        response = HttpResponse(reports.statement_pdf(customer, as_of=as_of), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="statement-{customer.code}-{as_of}.pdf"'
        return response
    return _statement_body(customer, as_of)


class CustomerAgingOut(Schema):
    customer_id: int
    as_of: date
    totals: list[CurrencyAging]


@router.get("/customers/{customer_id}/aging", response={200: CustomerAgingOut, **ERRORS},
            summary="A customer's open receivables by aging bucket")
def customer_aging(request, customer_id: int, query: Query[AsOf]):
    org = require(request, "view", AsOf)
    customer = readers.customer(org, customer_id)
    body = _statement_body(customer, _as_of(org, query))
    return {"customer_id": customer.pk, "as_of": body["as_of"], "totals": body["totals"]}


class AgingCustomer(CurrencyAging):
    customer_code: str
    customer_name: str


class AgingOut(Schema):
    as_of: date
    totals: list[CurrencyAging]
    customers: list[AgingCustomer]


@router.get("/aging", response={200: AgingOut, **ERRORS}, summary="The organization's aged receivables")
def aging(request, query: Query[AsOf]):
    org = require(request, "view", AsOf)
    as_of = _as_of(org, query)
    report = reports.aging(org, as_of=as_of)

    def row(cur: str, data: dict) -> dict:
        return {"currency": cur, "buckets": _buckets(data["buckets"], cur),
                "total_open": _minor(data["total_open"], cur), "overdue": _minor(data["overdue"], cur),
                "invoices": data["invoices"]}
    return {"as_of": as_of, "totals": [row(cur, data) for cur, data in report["totals"].items()],
            "customers": [{**row(r["currency"], r), "customer_code": r["code"], "customer_name": r["name"]}
                          for r in report["customers"]]}
