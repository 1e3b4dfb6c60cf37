"""/api/v1/invoices: list, get, create a draft, issue, void, export (PDF, UBL, CII, Factur-X)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from django.http import HttpResponse
from ninja import Query, Router
from pydantic import Field

from duly.customers.services import local_today
from duly.invoicing import services as invoicing
from duly.invoicing.documents import document_bytes
from duly.invoicing.models import Invoice

from . import readers
from .core import ERRORS, In, Out, QueryIn, Money, PageOf, idempotent, money, page_body, require

router = Router(tags=["invoices"])
STATUSES = tuple(code for code, _ in Invoice.STATUS_CHOICES)


class InvoiceOut(Out):
    id: int
    number: str | None
    kind: str
    status: str
    customer_id: int
    contract_id: int | None
    currency: str
    issue_date: date | None
    due_date: date | None
    po_number: str
    tax_exclusive: Money
    tax_total: Money
    total: Money
    amount_due: Money
    paid: Money
    balance: Money


def invoice_body(i) -> dict:
    cur = i.currency
    return {"id": i.pk, "number": i.number, "kind": i.kind, "status": i.status, "customer_id": i.customer_id,
            "contract_id": i.contract_id, "currency": cur, "issue_date": i.issue_date, "due_date": i.due_date,
            "po_number": i.po_number, "tax_exclusive": money(i.tax_exclusive_minor, cur),
            "tax_total": money(i.tax_total_minor, cur), "total": money(i.total_minor, cur),
            "amount_due": money(i.payable_minor, cur), "paid": money(i.paid_minor, cur),
            "balance": money(i.balance_minor, cur)}


#: The columns invoice_body reads (a list loads only these, and no customer).
LIST_FIELDS = ("id", "number", "kind", "status", "customer_id", "contract_id", "currency", "issue_date", "due_date",
               "po_number", "tax_exclusive_minor", "tax_total_minor", "total_minor", "prepaid_minor", "rounding_minor",
               "paid_minor")


class InvoiceFilters(QueryIn):
    limit: int = Field(20, ge=1, le=readers.MAX_LIMIT)
    starting_after: int | None = Field(None, ge=1)
    status: list[Literal[STATUSES]] | None = Field(None, description="One or more statuses")  # type: ignore[valid-type]
    customer: int | None = Field(None, ge=1, description="A customer id")


@router.get("/invoices", response={200: PageOf[InvoiceOut], **ERRORS}, summary="List invoices")
def list_invoices(request, filters: Query[InvoiceFilters]):
    org = require(request, "view", InvoiceFilters)
    qs = readers.invoices(org, status=filters.status, customer_id=filters.customer).select_related(None).only(
        *LIST_FIELDS)
    return page_body(readers.page(qs, limit=filters.limit, starting_after=filters.starting_after), invoice_body)


@router.get("/invoices/{invoice_id}", response={200: InvoiceOut, **ERRORS}, summary="Get an invoice")
def get_invoice(request, invoice_id: int):
    org = require(request, "view")
    return invoice_body(readers.invoice(org, invoice_id))


class LineIn(In):
    description: str = Field(min_length=1, max_length=1000)
    quantity: Decimal = Field(description="Decimal quantity, e.g. \"1.5\"")
    unit_price: Decimal = Field(description="Net unit price in major units of the invoice currency, e.g. \"80.00\"")
    unit: str = Field("C62", max_length=3, description="UN/ECE Rec 20 unit code")
    tax_category: str = Field("S", max_length=2)
    tax_rate: Decimal = Field(Decimal(0), description="Percent, e.g. \"20\"")
    tax_exemption_reason: str = Field("", max_length=500)


class DraftIn(In):
    customer_id: int
    contract_id: int | None = None
    currency: str | None = Field(None, min_length=3, max_length=3)
    po_number: str | None = Field(None, max_length=100)
    notes: str = Field("", max_length=2000)
    lines: list[LineIn] = Field(min_length=1, max_length=500)


@router.post("/invoices", response={201: InvoiceOut, **ERRORS}, summary="Create a draft invoice")
def create_draft(request, body: DraftIn):
    org = require(request, "bill")
    customer = readers.customer(org, body.customer_id)
    contract = readers.contract(org, body.contract_id) if body.contract_id is not None else None
    lines = [invoicing.LineData(description=li.description, quantity=li.quantity, unit_price=li.unit_price,
                                unit=li.unit, tax_category=li.tax_category, tax_rate=li.tax_rate,
                                tax_exemption_reason=li.tax_exemption_reason) for li in body.lines]
    extra = {"po_number": body.po_number} if body.po_number is not None else {}

    def run():
        invoice = invoicing.create_draft(org, customer, lines, contract=contract,
                                         currency=body.currency.upper() if body.currency else None,
                                         notes=body.notes, **extra)
        return 201, invoice_body(readers.invoice(org, invoice.pk))
    return idempotent(request, run)


class IssueIn(In):
    issue_date: date | None = Field(None, description="Default: today in the organization's time zone")


@router.post("/invoices/{invoice_id}/issue", response={200: InvoiceOut, **ERRORS}, summary="Issue a draft")
def issue(request, invoice_id: int, body: IssueIn | None = None):
    org = require(request, "bill")
    readers.invoice(org, invoice_id)
    issue_date = body.issue_date if body and body.issue_date else local_today(org)

    def run():
        invoicing.issue_invoice(org, invoice_id, issue_date=issue_date)
        return 200, invoice_body(readers.invoice(org, invoice_id))
    return idempotent(request, run)


class VoidIn(In):
    reason: str = Field(min_length=1, max_length=200)


@router.post("/invoices/{invoice_id}/void", response={200: InvoiceOut, **ERRORS}, summary="Void an invoice")
def void(request, invoice_id: int, body: VoidIn):
    org = require(request, "bill")
    readers.invoice(org, invoice_id)

    def run():
        invoicing.void_invoice(org, invoice_id, reason=body.reason)
        return 200, invoice_body(readers.invoice(org, invoice_id))
    return idempotent(request, run)


@router.get("/invoices/{invoice_id}/document", response={200: bytes, **ERRORS},
            summary="Export an invoice: pdf, ubl, cii or facturx",
            openapi_extra={"responses": {"200": {"description": "The document", "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "application/xml": {"schema": {"type": "string", "format": "binary"}}}}}})
def export(request, invoice_id: int, format: Literal["pdf", "ubl", "cii", "facturx"] = "pdf"):
    org = require(request, "view", {"format"})
    invoice = readers.invoice(org, invoice_id)
    rendered = document_bytes(invoice, format, as_of=local_today(org))
    response = HttpResponse(rendered.content, content_type=rendered.content_type)
    response["Content-Disposition"] = f'attachment; filename="{rendered.filename}"'
    return response


class CreditIn(In):
    reason: str = Field(min_length=1, max_length=2000)
    lines: list[LineIn] | None = Field(None, min_length=1, max_length=500,
                                       description="What to credit; default: every line of the invoice")
    issue: bool = Field(True, description="Issue the credit note now (today), or keep it as a draft")


@router.post("/invoices/{invoice_id}/credit_notes", response={201: InvoiceOut, **ERRORS},
             summary="Credit an issued invoice (whole, or given lines)")
def credit(request, invoice_id: int, body: CreditIn):
    org = require(request, "bill")
    readers.invoice(org, invoice_id)
    lines = None if body.lines is None else [
        invoicing.LineData(description=li.description, quantity=li.quantity, unit_price=li.unit_price, unit=li.unit,
                           tax_category=li.tax_category, tax_rate=li.tax_rate,
                           tax_exemption_reason=li.tax_exemption_reason) for li in body.lines]
    issue_date = local_today(org) if body.issue else None

    def run():
        note = invoicing.create_credit_note(org, invoice_id, reason=body.reason, lines=lines, issue_date=issue_date)
        return 201, invoice_body(readers.invoice(org, note.pk))
    return idempotent(request, run)
