"""Issuing many invoices at once: the fast path used by the billing run.

It produces exactly what :func:`duly.invoicing.services.create_draft` followed by
:func:`~duly.invoicing.services.issue_invoice` produces (same defaults from the customer and
contract, same required-field check, same due date, terms text, late-payment text, RF reference and
totals from :func:`duly.domain.invoice_math.compute_totals`), but for a whole block of invoices with
a constant number of queries:

1. :func:`prepare` validates one invoice and computes its totals (pure: no query). It raises the
   same :class:`~duly.domain.errors.DomainError` as the one-by-one path, so a caller can leave one
   bad customer out and bill the others.
2. :func:`issue_prepared` takes a block of gapless numbers with ONE counter ``UPDATE``
   (``last_value + N``), then ``bulk_create``s the invoices and their lines.

:func:`issue_prepared` must run inside the caller's transaction: a rollback gives the whole block of
numbers back, so a crashed or failed batch leaves neither a gap nor a half-written invoice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Sequence

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from duly.customers.models import Contract, Customer, Organization
from duly.domain import invoice_math
from duly.domain.errors import CurrencyMismatch, CustomerNotActive, RequiredFieldMissing, ValidationError
from duly.domain.late_fees import LateFeePolicy, describe_policy
from duly.domain.money import check_currency, to_minor
from duly.domain.payment_terms import PaymentTerms, describe as describe_terms, due_date as compute_due_date
from duly.domain.references import rf_for_invoice

from .models import Invoice, InvoiceLine, NumberSeries, SeriesCounter
from .services import DEFAULT_PATTERNS, LineData, _line_input, missing_required_fields, terms_for

__all__ = ["BulkInvoice", "PreparedInvoice", "issue_prepared", "prepare", "set_prepaid", "take_numbers"]


@dataclass
class BulkInvoice:
    """One invoice to issue: who, under which contract, its lines and what was paid in advance."""

    customer: Customer
    contract: Contract | None
    lines: Sequence[LineData]
    kind: str = Invoice.KIND_STANDARD
    currency: str | None = None
    service_period: tuple[date, date] | None = None
    #: Deposit or retainer deducted on this invoice (EN 16931 BT-113), in minor units.
    prepaid_minor: int = 0
    notes: str = ""
    #: Accept negative lines (corrections inside one document, such as a deposit taken back).
    allow_negative: bool = False


@dataclass
class PreparedInvoice:
    """A validated invoice with its totals, ready to be numbered and written."""

    source: BulkInvoice
    invoice: Invoice
    totals: invoice_math.InvoiceTotals
    line_rows: list[InvoiceLine] = field(default_factory=list)

    @property
    def payable_minor(self) -> int:
        return self.invoice.total_minor - self.invoice.prepaid_minor


@lru_cache(maxsize=4096)
def _due(terms: PaymentTerms, issue_date: date) -> tuple[date, str]:
    return compute_due_date(terms, issue_date), describe_terms(terms, issue_date)


@lru_cache(maxsize=4096)
def _late_text(policy: LateFeePolicy, currency: str) -> str:
    return describe_policy(policy, currency)


def prepare(org: Organization, item: BulkInvoice, *, issue_date: date, terms: PaymentTerms | None = None,
            late_terms_text: str | None = None) -> PreparedInvoice:
    """Validate one invoice and compute its totals, without touching the database.

    ``terms`` and ``late_terms_text`` may be given when the caller already built them for the
    contract (they are otherwise derived from it exactly as :func:`~duly.invoicing.services.issue_invoice` does).

    Raises :class:`~duly.domain.errors.CustomerNotActive`, :class:`~duly.domain.errors.CurrencyMismatch`,
    :class:`~duly.domain.errors.RequiredFieldMissing` or :class:`~duly.domain.errors.ValidationError`
    exactly like the one-by-one path.
    """
    customer, contract = item.customer, item.contract
    if customer.organization_id != org.id:
        raise ValidationError(f"Customer {customer.pk} does not belong to {org.name}.")
    if customer.status == Customer.STATUS_TERMINATED:
        raise CustomerNotActive(f"{customer.name} is terminated: no new invoices can be issued.")
    if contract is not None and contract.customer_id != customer.id:
        raise ValidationError(f"Contract {contract.reference} does not belong to {customer.name}.")
    if item.kind not in (Invoice.KIND_STANDARD, Invoice.KIND_DEPOSIT):
        raise ValidationError(f"The bulk path issues invoices and deposit invoices, not {item.kind!r}.")
    currency = item.currency or (contract.currency if contract else customer.currency)
    check_currency(currency)
    if contract is not None and contract.currency != currency:
        raise CurrencyMismatch(
            f"Contract {contract.reference} is in {contract.currency}; the invoice cannot be in {currency}."
        )
    if not item.lines:
        raise ValidationError(f"An invoice for {customer.name} needs at least one line.")
    for i, line in enumerate(item.lines, 1):
        if not line.description or not str(line.description).strip():
            raise ValidationError(f"line {i}: a description is required.")
    totals = invoice_math.compute_totals(
        [_line_input(x) for x in item.lines], currency, allow_negative=item.allow_negative
    )
    if totals.tax_inclusive < 0:
        raise ValidationError(f"The invoice for {customer.name} has a negative total; issue a credit note instead.")
    prepaid = min(max(item.prepaid_minor, 0), to_minor(totals.tax_inclusive, currency))

    invoice = Invoice(
        organization=org,
        customer=customer,
        contract=contract,
        kind=item.kind,
        status=Invoice.ISSUED,
        currency=currency,
        locale=customer.locale,
        issue_date=issue_date,
        service_period_start=item.service_period[0] if item.service_period else None,
        service_period_end=item.service_period[1] if item.service_period else None,
        po_number=contract.po_number if contract is not None and contract.po_number else "",
        buyer_reference=customer.buyer_reference,
        cost_centre=customer.cost_centre,
        ap_contact=customer.ap_contact,
        billing_address=customer.invoice_address,
        notes=item.notes,
    )
    missing = missing_required_fields(invoice)
    if missing:
        raise RequiredFieldMissing(
            f"{customer.name} requires the field '{missing[0]}' on every invoice; it is missing"
            + (f" (also missing: {', '.join(missing[1:])})." if len(missing) > 1 else "."),
            field=missing[0], customer=customer.name,
        )
    invoice.due_date, invoice.payment_terms_text = _due(terms or terms_for(invoice), issue_date)
    if contract is not None:
        invoice.late_terms_text = (
            late_terms_text if late_terms_text is not None else _late_text(contract.late_fee_policy(), currency)
        )
    invoice.line_total_minor = to_minor(totals.line_total, currency)
    invoice.allowance_total_minor = to_minor(totals.allowance_total, currency)
    invoice.charge_total_minor = to_minor(totals.charge_total, currency)
    invoice.tax_exclusive_minor = to_minor(totals.tax_exclusive, currency)
    invoice.tax_total_minor = to_minor(totals.tax_total, currency)
    invoice.total_minor = to_minor(totals.tax_inclusive, currency)
    invoice.prepaid_minor = prepaid
    invoice.tax_breakdown = [
        {
            "category": t.category,
            "rate": str(t.rate),
            "taxable_minor": to_minor(t.taxable_amount, currency),
            "tax_minor": to_minor(t.tax_amount, currency),
        }
        for t in totals.tax_breakdown
    ]
    prepared = PreparedInvoice(source=item, invoice=invoice, totals=totals)
    set_prepaid(prepared, prepaid)
    prepared.line_rows = [
        InvoiceLine(
            position=i,
            description=line.description,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            discount_percent=line.discount_percent,
            tax_category=line.tax_category,
            tax_rate=line.tax_rate,
            tax_exemption_reason=line.tax_exemption_reason,
            period_start=line.period_start,
            period_end=line.period_end,
            explanation=line.explanation,
            net_minor=to_minor(res.net_amount, currency),
            discount_minor=to_minor(res.discount_amount, currency),
        )
        for i, (line, res) in enumerate(zip(item.lines, totals.lines), 1)
    ]
    return prepared


def set_prepaid(prepared: PreparedInvoice, prepaid_minor: int) -> None:
    """Deduct a deposit or retainer (BT-113) from a prepared invoice; fully covered, it is paid on issue."""
    invoice = prepared.invoice
    if not 0 <= prepaid_minor <= invoice.total_minor:
        raise ValidationError(
            f"The prepaid amount must be between 0 and the invoice total ({invoice.total_minor} minor units)."
        )
    invoice.prepaid_minor = prepaid_minor
    if invoice.payable_minor == 0 and invoice.total_minor > 0:
        invoice.status, invoice.paid_on = Invoice.PAID, invoice.issue_date
    else:
        invoice.status, invoice.paid_on = Invoice.ISSUED, None


def take_numbers(org: Organization, kind: str, year: int, count: int) -> list[str]:
    """Take ``count`` consecutive numbers of a series with one counter update (inside the caller's transaction).

    The counter row stays locked until the caller's transaction ends, exactly like
    :func:`duly.invoicing.services.next_number`; a rollback gives the whole block back.
    """
    if count <= 0:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("take_numbers must run inside the issuing transaction (numbers would leak).")
    series, _ = NumberSeries.objects.get_or_create(
        organization=org, kind=kind, defaults={"pattern": DEFAULT_PATTERNS[kind]}
    )
    updated = SeriesCounter.objects.filter(series=series, year=year).update(last_value=F("last_value") + count)
    if not updated:
        try:
            with transaction.atomic():
                SeriesCounter.objects.create(series=series, year=year, last_value=count)
        except IntegrityError:
            # Another issuer created the counter first: take our block after theirs.
            SeriesCounter.objects.filter(series=series, year=year).update(last_value=F("last_value") + count)
    last = SeriesCounter.objects.select_for_update().values_list("last_value", flat=True).get(series=series, year=year)
    return [series.pattern.format(year=year, seq=seq) for seq in range(last - count + 1, last + 1)]


def issue_prepared(org: Organization, prepared: Sequence[PreparedInvoice], *, issue_date: date) -> list[Invoice]:
    """Number and write prepared invoices in bulk; returns the saved invoices (with their ids).

    Invoices are numbered in the order given. Available customer credit is applied to the new
    standard invoices, as :func:`~duly.invoicing.services.issue_invoice` does.
    """
    if not prepared:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("issue_prepared must run inside the caller's transaction.")
    numbers = take_numbers(org, "invoice", issue_date.year, len(prepared))
    now = timezone.now()
    invoices = []
    for p, number in zip(prepared, numbers):
        inv = p.invoice
        inv.number = number
        inv.issued_at = now
        inv.rf_reference = rf_for_invoice(org.slug, number)
        invoices.append(inv)
    Invoice.objects.bulk_create(invoices)
    lines = []
    for p in prepared:
        for row in p.line_rows:
            row.invoice = p.invoice
            lines.append(row)
    InvoiceLine.objects.bulk_create(lines)
    _apply_customer_credit([inv for inv in invoices if inv.kind == Invoice.KIND_STANDARD], issue_date)
    return invoices


def _apply_customer_credit(invoices: list[Invoice], on: date) -> None:
    """Apply available customer credit (one query for the block; a write only where there is credit)."""
    payable = [inv for inv in invoices if inv.payable_minor > 0]
    if not payable:
        return
    from duly.payments.models import CreditEntry
    from duly.payments.services import apply_customer_credit

    with_credit = {
        (row["customer_id"], row["currency"])
        for row in CreditEntry.objects.filter(customer_id__in={inv.customer_id for inv in payable})
        .values("customer_id", "currency")
        .annotate(balance=Sum("amount_minor"))
        if row["balance"] > 0
    }
    for inv in payable:
        if (inv.customer_id, inv.currency) in with_credit:
            apply_customer_credit(inv, on=on)
