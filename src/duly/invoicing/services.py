"""Invoice life cycle: draft → issued → partially paid → paid, or void / uncollectible.

Every public function is one transaction. An issued invoice is immutable: it is corrected only by
a credit note or a void. Totals always come from :func:`duly.domain.invoice_math.compute_totals`.
What a draft becomes when issued is :func:`duly.domain.issuing.plan_issue` (as on the bulk path);
its status, settled amounts and document snapshot are written by :mod:`duly.invoicing.lifecycle`
only. Customer credit and retainer balances are asked of payments and billing through
:mod:`duly.invoicing.hooks` (invoicing imports neither).
"""

from __future__ import annotations

import hashlib
import mimetypes
import string
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Callable, Iterable, Sequence

from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Min, Sum
from django.utils import timezone

from duly.customers.links import check_public_url
from duly.customers.models import Contract, Customer, Organization
from duly.customers.services import current_contract, reference_rates_for_contracts
from duly.domain import invoice_math, issuing
from duly.domain.errors import (
    AttachmentTypeNotAllowed,
    CreditExceedsInvoiceTotal,
    CreditExceedsOpenAmount,
    DomainError,
    InvalidState,
    InvoiceImmutable,
    InvoiceNotDraft,
    IssueDateBeforeLastIssued,
    NotFound,
    ReasonRequired,
    SeveralTaxRates,
    ValidationError,
)
from duly.domain.bounds import check_date_range
from duly.domain.late_fees import LateFeePolicy
from duly.domain.money import from_minor, to_decimal, to_minor
from duly.domain.payment_terms import PaymentTerms
from duly.domain.references import rf_for_invoice
from duly.domain.text import Text
from duly.translation import render

from . import hooks, lifecycle
from .documents.i18n import late_terms_in, terms_due
from .credit_limit import check_credit_limit
from .models import Attachment, Invoice, InvoiceLine, NumberSeries, SeriesCounter, StoredDocument
from .signals import invoices_issued

DEFAULT_PATTERNS = {"invoice": "INV-{year}-{seq:05}", "credit_note": "CN-{year}-{seq:05}"}
#: Terms used when a customer has no contract: an exact due date 30 days after issue.
DEFAULT_TERMS = PaymentTerms(kind="net", days=30)
#: Late-payment policy of an invoice without a contract: nothing is charged, and the invoice says so.
NO_LATE_FEES = LateFeePolicy(kind="none")

REQUIRED_FIELD_LABELS = issuing.REQUIRED_FIELD_LABELS


def customer_facts(customer: Customer) -> issuing.CustomerFacts:
    """The customer as the issuing rules read it (:mod:`duly.domain.issuing`)."""
    return issuing.CustomerFacts(
        id=customer.pk, organization_id=customer.organization_id, name=customer.name, code=customer.code,
        terminated=customer.status == Customer.STATUS_TERMINATED, currency=customer.currency,
        locale=customer.locale, buyer_reference=customer.buyer_reference, cost_centre=customer.cost_centre,
        ap_contact=customer.ap_contact, invoice_address=customer.invoice_address,
        required_fields=tuple(customer.required_fields or ()),
        custom_required_fields=tuple(customer.custom_required_fields or ()))


def contract_facts(contract: Contract | None) -> issuing.ContractFacts | None:
    """The contract as the issuing rules read it (None: no contract)."""
    if contract is None:
        return None
    return issuing.ContractFacts(id=contract.pk, reference=contract.reference, customer_id=contract.customer_id,
                                 currency=contract.currency, po_number=contract.po_number)


# --- number series -------------------------------------------------------------------------------
def ensure_number_series(org: Organization) -> None:
    for kind, pattern in DEFAULT_PATTERNS.items():
        NumberSeries.objects.get_or_create(organization=org, kind=kind, defaults={"pattern": pattern})


def validate_pattern(pattern: str) -> str:
    """A pattern names only ``{year}`` and ``{seq}``, with at most a format spec (``{seq:05}``): no
    attribute, index or nested field, so a stored pattern can never reach anything else."""
    try:
        for _, name, spec, _ in string.Formatter().parse(pattern):
            if name is not None and (name not in ("year", "seq") or "{" in (spec or "")):
                raise KeyError(name)
        sample = pattern.format(year=2026, seq=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValidationError(f"Invalid number pattern {pattern!r}: {exc}. Use {{year}} and {{seq}}.") from None
    if "{seq" not in pattern or sample == pattern.format(year=2026, seq=2):
        raise ValidationError(f"Number pattern {pattern!r} must contain {{seq}}.")
    if sample == pattern.format(year=2027, seq=1):
        # The counter starts again each year: without the year, January's numbers would repeat last year's.
        raise ValidationError(f"Number pattern {pattern!r} must contain {{year}}: the sequence starts again each "
                              "year, so the year keeps every number unique (e.g. INV-{year}-{seq:05}).")
    return pattern


@transaction.atomic
def set_number_pattern(org: Organization, kind: str, pattern: str) -> NumberSeries:
    """Change the numbering pattern of a series (numbers already issued keep theirs; the counter goes on)."""
    if kind not in dict(NumberSeries.KIND_CHOICES):
        raise ValidationError(f"Unknown number series {kind!r}.")
    validate_pattern(pattern)
    limit = NumberSeries._meta.get_field("pattern").max_length
    if len(pattern) > limit:
        raise ValidationError(f"A number pattern has at most {limit} characters.")
    sample = pattern.format(year=2026, seq=9_999_999)
    if len(sample) > Invoice._meta.get_field("number").max_length:
        raise ValidationError(f"Numbers made by {pattern!r} would be too long (e.g. {sample}).")
    series, _ = NumberSeries.objects.select_for_update().get_or_create(organization=org, kind=kind,
                                                                        defaults={"pattern": pattern})
    series.pattern = pattern
    series.save(update_fields=["pattern"])
    return series


def next_number(org: Organization, kind: str, issue_date: date) -> str:
    """Take the next number of a series for an invoice dated ``issue_date`` (see :func:`take_numbers`)."""
    return take_numbers(org, kind, issue_date, 1)[0]


def take_numbers(org: Organization, kind: str, issue_date: date, count: int) -> list[str]:
    """Take ``count`` consecutive numbers of a series for invoices dated ``issue_date``: gapless and chronological.

    Must run inside the issuing transaction. One statement advances the year's counter and records
    ``issue_date`` as the date of its last number, only if that last number is not dated after it; the
    counter row then stays locked to the commit (PostgreSQL row lock; SQLite serialises writers with
    IMMEDIATE transactions), so concurrent issuers wait for each other and a rollback gives the numbers
    back. An earlier ``issue_date`` is refused (:class:`IssueDateBeforeLastIssued`): within a series a
    later number never carries an earlier issue date (French and German law require it).
    """
    if count <= 0:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("numbers must be taken inside the issuing transaction (they would leak).")
    series, _ = NumberSeries.objects.get_or_create(
        organization=org, kind=kind, defaults={"pattern": DEFAULT_PATTERNS[kind]}
    )
    year = issue_date.year
    last = _advance_counter(org, series, issue_date, count)
    if last is None:
        try:
            with transaction.atomic():
                SeriesCounter.objects.create(series=series, year=year, last_value=count, last_issue_date=issue_date)
            last = count
        except IntegrityError:
            # Another issuer created the counter first: take our block after theirs.
            last = _advance_counter(org, series, issue_date, count)
            if last is None:  # pragma: no cover - the counter exists now
                raise RuntimeError("the number series counter vanished while issuing") from None
    return [series.pattern.format(year=year, seq=seq) for seq in range(last - count + 1, last + 1)]


def _advance_counter(org: Organization, series: NumberSeries, issue_date: date, count: int) -> int | None:
    """``last_value += count`` and ``last_issue_date = issue_date`` in one ``UPDATE … RETURNING`` (PostgreSQL,
    SQLite ≥ 3.35) where the last number is not dated after ``issue_date``. None: the year has no counter yet.
    Raises :class:`IssueDateBeforeLastIssued` when its last number is dated after ``issue_date``."""
    table, quote = SeriesCounter._meta.db_table, connection.ops.quote_name
    day = connection.ops.adapt_datefield_value(issue_date)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(table)} SET {quote('last_value')} = {quote('last_value')} + %s, "
            f"{quote('last_issue_date')} = %s WHERE {quote('series_id')} = %s AND {quote('year')} = %s "
            f"AND ({quote('last_issue_date')} IS NULL OR {quote('last_issue_date')} <= %s) "
            f"RETURNING {quote('last_value')}",
            [count, day, series.pk, issue_date.year, day],
        )
        row = cursor.fetchone()
    if row:
        return row[0]
    latest = SeriesCounter.objects.filter(series=series, year=issue_date.year).values_list(
        "last_issue_date", flat=True).first()
    if latest is not None:
        if latest > issue_date:  # its last number is dated after issue_date
            raise _out_of_order(org, series.kind, issue_date, latest)
        # A concurrent issuer created the counter between our UPDATE and this read: take our block after theirs.
        return _advance_counter(org, series, issue_date, count)
    return None


def check_issue_date(org: Organization, kind: str, issue_date: date, *,
                     hint: Callable[[date], str] | None = None) -> None:
    """Refuse (:class:`IssueDateBeforeLastIssued`) an issue date before the last number of its series and year.

    Reads only: a run (billing, late fees) checks before it starts, so it is refused whole with one clear
    error; taking the numbers (:func:`take_numbers`) checks again under the counter's lock. ``hint(last
    issue date)``: what the error tells the user to do instead.
    """
    latest = SeriesCounter.objects.filter(series__organization=org, series__kind=kind, year=issue_date.year).values_list(
        "last_issue_date", flat=True).first()
    if latest is not None and issue_date < latest:
        raise _out_of_order(org, kind, issue_date, latest, hint=hint)


def _out_of_order(org: Organization, kind: str, issue_date: date, latest: date, *,
                  hint: Callable[[date], str] | None = None) -> IssueDateBeforeLastIssued:
    notes = Invoice.objects.filter(organization=org, number__isnull=False, issue_date=latest,
                                   kind=Invoice.KIND_CREDIT_NOTE)
    last = (notes if kind == "credit_note" else Invoice.objects.filter(
        organization=org, number__isnull=False, issue_date=latest).exclude(kind=Invoice.KIND_CREDIT_NOTE))
    number = last.order_by("-issued_at", "-id").values_list("number", flat=True).first()
    what = "credit note" if kind == "credit_note" else "invoice"
    named = f"{what} {number}" if number else f"{what} numbered in {issue_date.year}"
    return IssueDateBeforeLastIssued(
        f"Cannot issue an {what} dated {issue_date.isoformat()}: the last {named} is dated {latest.isoformat()}, "
        f"and a later number never carries an earlier date. "
        + (hint(latest) if hint else f"Issue it dated {latest.isoformat()} or later."),
        series=kind, issue_date=issue_date.isoformat(), last_issue_date=latest.isoformat(), last_number=number,
    )


# --- drafts ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineData:
    """One line of a draft. Its words (description, explanation, tax exemption reason) may be structured text
    (:class:`duly.domain.text.Text`): the draft puts them in its customer's language (:func:`in_language`)."""

    description: str | Text
    quantity: Decimal
    unit_price: Decimal
    unit: str = "C62"
    tax_category: str = "S"
    tax_rate: Decimal = Decimal(0)
    discount_percent: Decimal | None = None
    tax_exemption_reason: str | Text = ""
    period_start: date | None = None
    period_end: date | None = None
    explanation: str | Text = ""


_WORDS = ("description", "explanation", "tax_exemption_reason")


def in_language(lines: Sequence, locale: str) -> list:
    """``lines`` (:class:`LineData` or the billing run's lines) with their structured text rendered in the
    customer's ``locale``: words, numbers, money and dates as the customer reads them; plain text kept."""
    done = []
    for line in lines:
        words = {name: render(getattr(line, name), locale) for name in _WORDS
                 if isinstance(getattr(line, name), Text)}
        done.append(replace(line, **words) if words else line)
    return done


def _get_invoice(org: Organization, invoice_id: int, lock: bool = False) -> Invoice:
    qs = Invoice.objects.select_related("customer", "contract", "organization")
    if lock:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(organization=org, pk=invoice_id)
    except Invoice.DoesNotExist:
        raise NotFound(f"Invoice {invoice_id} not found in {org.name}.", invoice_id=invoice_id) from None


def get_invoice_by_number(org: Organization, number: str) -> Invoice:
    try:
        return Invoice.objects.select_related("customer", "contract").get(organization=org, number=number)
    except Invoice.DoesNotExist:
        raise NotFound(f"No invoice numbered {number!r} in {org.name}.", number=number) from None


def _line_input(line: LineData | InvoiceLine) -> invoice_math.LineInput:
    if isinstance(line, InvoiceLine):  # a stored line may carry what an imported e-invoice stated
        return line.line_input()
    return invoice_math.LineInput(
        quantity=to_decimal(line.quantity),
        unit_price=to_decimal(line.unit_price),
        tax_category=line.tax_category,
        tax_rate=to_decimal(line.tax_rate),
        discount_percent=to_decimal(line.discount_percent) if line.discount_percent is not None else None,
    )


def _check_lines(lines: Sequence[LineData], currency: str) -> invoice_math.InvoiceTotals:
    from duly.customers.services import check_model_values

    for i, line in enumerate(lines, 1):
        if not line.description or not str(line.description).strip():
            raise ValidationError(f"line {i}: a description is required.")
        # What each column stores exactly (text lengths, digits and decimals), before any arithmetic.
        check_model_values(InvoiceLine, {
            "description": line.description, "quantity": line.quantity, "unit_price": line.unit_price,
            "unit": line.unit, "tax_rate": line.tax_rate, "discount_percent": line.discount_percent,
            "tax_exemption_reason": line.tax_exemption_reason, "period_start": line.period_start,
            "period_end": line.period_end}, f"line {i}")
    return invoice_math.compute_totals([_line_input(x) for x in lines], currency)


def check_lines(lines: Sequence[LineData], currency: str) -> invoice_math.InvoiceTotals:
    """The checks every draft's lines pass (descriptions, quantities, prices, tax), and their totals."""
    return _check_lines(lines, currency)


def check_draft(
    org: Organization,
    customer: Customer,
    *,
    kind: str = Invoice.KIND_STANDARD,
    contract: Contract | None = None,
    currency: str | None = None,
    service_period: tuple[date, date] | None = None,
    custom_fields: dict | None = None,
    fields: dict | None = None,
) -> str:
    """The checks a draft's header passes before anything is written; returns the invoice currency.

    Used by :func:`create_draft` and :func:`update_draft`, and by the admin form to show the same
    errors as form errors.
    """
    from duly.customers.services import check_model_values

    currency = issuing.check_header(org.id, org.name, customer_facts(customer), contract_facts(contract), kind,
                                    currency)
    if service_period is not None:
        start, end = service_period
        if start is None or end is None:
            raise ValidationError("A service period needs both a start and an end date.")
        if end < start:
            raise ValidationError(
                f"The service period ends ({end.isoformat()}) before it starts ({start.isoformat()}).")
    if custom_fields is not None and (
            not isinstance(custom_fields, dict)
            or not all(isinstance(k, str) and isinstance(v, (str, int)) for k, v in custom_fields.items())):
        raise ValidationError("Custom fields must map names to texts, e.g. {\"Project code\": \"P-12\"}.")
    values = {k: v for k, v in (fields or {}).items() if v is not None}
    unknown = set(values) - set(REQUIRED_FIELD_LABELS)
    if unknown:
        raise ValidationError(f"Unknown invoice field(s): {sorted(unknown)}")
    check_model_values(Invoice, values, "Invoice")
    return currency


@transaction.atomic
def create_draft(
    org: Organization,
    customer: Customer,
    lines: Sequence[LineData] = (),
    *,
    kind: str = Invoice.KIND_STANDARD,
    contract: Contract | None = None,
    currency: str | None = None,
    service_period: tuple[date, date] | None = None,
    related_invoice: Invoice | None = None,
    notes: str | Text = "",
    custom_fields: dict | None = None,
    **fields,
) -> Invoice:
    """Create a draft invoice with its lines. Field defaults (PO number, references) come from the customer/contract.
    Structured text in the lines and notes is written in the customer's language (:func:`in_language`)."""
    lines = in_language(lines, customer.locale)
    notes = render(notes, customer.locale) if isinstance(notes, Text) else notes
    currency = check_draft(org, customer, kind=kind, contract=contract, currency=currency,
                           service_period=service_period, custom_fields=custom_fields, fields=fields)
    totals = _check_lines(lines, currency)
    if kind == Invoice.KIND_CREDIT_NOTE and related_invoice is not None:
        _check_credit_note_total(to_minor(totals.tax_inclusive, currency), _lock_credited(related_invoice.pk))
    defaults = issuing.header_defaults(customer_facts(customer), contract_facts(contract))
    defaults.update({k: v for k, v in fields.items() if v is not None})
    invoice = Invoice.objects.create(
        organization=org,
        customer=customer,
        contract=contract,
        kind=kind,
        currency=currency,
        locale=customer.locale,
        service_period_start=service_period[0] if service_period else None,
        service_period_end=service_period[1] if service_period else None,
        related_invoice=related_invoice,
        notes=notes,
        custom_fields=custom_fields or {},
        **defaults,
    )
    _write_lines(invoice, lines)
    return invoice


@transaction.atomic
def create_imported_draft(org: Organization, customer: Customer, *, related: Invoice | None, fields: dict,
                          snapshot: dict, lines: Sequence[dict], allowances: Sequence[dict]) -> Invoice:
    """Write a draft imported from an e-invoice (:mod:`duly.invoicing.documents.imports` read and checked the
    values): the invoice with its parties frozen as its source stated them, its lines and allowances/charges."""
    from .models import InvoiceAllowanceCharge

    invoice = Invoice(organization=org, customer=customer, related_invoice=related, **fields)
    lifecycle.set_document_snapshot(invoice, snapshot, save=False)  # written with the draft
    invoice.save(force_insert=True)
    InvoiceLine.objects.bulk_create([InvoiceLine(invoice=invoice, **values) for values in lines])
    InvoiceAllowanceCharge.objects.bulk_create([InvoiceAllowanceCharge(invoice=invoice, **values)
                                                for values in allowances])
    return invoice


def freeze_imported_totals(invoice: Invoice, minor: dict) -> None:
    """Store an imported draft's document totals (:func:`duly.domain.invoice_math.totals_to_minor`)."""
    invoice.line_total_minor = minor["line_total_minor"]
    invoice.allowance_total_minor = minor["allowance_total_minor"]
    invoice.charge_total_minor = minor["charge_total_minor"]
    invoice.tax_exclusive_minor = minor["tax_exclusive_minor"]
    invoice.tax_total_minor = minor["tax_total_minor"]
    invoice.total_minor = minor["tax_inclusive_minor"]
    invoice.tax_breakdown = minor["tax_breakdown"]
    invoice.save(update_fields=["line_total_minor", "allowance_total_minor", "charge_total_minor",
                                "tax_exclusive_minor", "tax_total_minor", "total_minor", "tax_breakdown"])


_UNCHANGED = object()


@transaction.atomic
def update_draft(
    org: Organization,
    invoice_id: int,
    *,
    lines: Sequence[LineData] | None = None,
    customer: Customer | None = None,
    contract: Contract | None | object = _UNCHANGED,
    currency: str | None = None,
    service_period: tuple[date, date] | None | object = _UNCHANGED,
    notes: str | None = None,
    custom_fields: dict | None = None,
    **fields,
) -> Invoice:
    """Change a draft's header and (when ``lines`` is given) replace its lines; totals are recomputed.

    The same checks as :func:`create_draft` apply. Fields left out keep their value; an issued
    invoice is refused (only a credit note or a void corrects it).
    """
    invoice = _get_invoice(org, invoice_id, lock=True)
    if invoice.status != Invoice.DRAFT:
        raise InvoiceImmutable(f"Invoice {invoice} is {invoice.status}: an issued invoice can only be corrected "
                               "by a credit note or a void.")
    customer = customer or invoice.customer
    contract = invoice.contract if contract is _UNCHANGED else contract
    if service_period is _UNCHANGED:
        service_period = ((invoice.service_period_start, invoice.service_period_end)
                          if invoice.service_period_start or invoice.service_period_end else None)
    currency = check_draft(org, customer, kind=invoice.kind, contract=contract, currency=currency or invoice.currency,
                           service_period=service_period, custom_fields=custom_fields, fields=fields)
    new_lines = list(lines) if lines is not None else [_line_data(x) for x in invoice.lines.all()]
    if invoice.is_credit_note and invoice.related_invoice_id:
        invoice.related_invoice = _lock_credited(invoice.related_invoice_id)
    check_draft_lines(invoice, new_lines, currency)
    invoice.customer, invoice.contract, invoice.currency = customer, contract, currency
    invoice.service_period_start, invoice.service_period_end = service_period or (None, None)
    if notes is not None:
        invoice.notes = notes
    if custom_fields is not None:
        invoice.custom_fields = custom_fields
    for name, value in fields.items():
        if value is not None:
            setattr(invoice, name, value)
    invoice.lines.all().delete()
    _write_lines(invoice, new_lines)
    return invoice


def _lock_credited(invoice_id: int) -> Invoice:
    """Lock the invoice a credit note corrects (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers).

    Every path that creates, changes or issues a credit note takes this lock before it reads what is
    already credited, so two concurrent credit notes on one invoice wait for each other and the
    second one sees the first (:func:`_check_credit_note_total`).
    """
    return Invoice.objects.select_for_update(of=("self",)).get(pk=invoice_id)


def credited_minor(original: Invoice, *, exclude_id: int | None = None) -> int:
    """What the credit notes correcting ``original`` credit, issued or draft (void ones do not count)."""
    notes = Invoice.objects.filter(related_invoice_id=original.pk, kind=Invoice.KIND_CREDIT_NOTE).exclude(
        status=Invoice.VOID)
    if exclude_id is not None:
        notes = notes.exclude(pk=exclude_id)
    return notes.aggregate(s=Sum("total_minor"))["s"] or 0


def _check_credit_note_total(total_minor: int, original: Invoice, *, note_id: int | None = None) -> None:
    """Refuse (``credit_exceeds_invoice_total``) a credit note that would bring what is credited on
    ``original`` (every credit note but ``note_id``, issued or draft) above the invoice's total."""
    already = credited_minor(original, exclude_id=note_id)
    if already + total_minor > original.total_minor:
        cur = original.currency
        room = max(original.total_minor - already, 0)

        def money(minor: int) -> str:
            return f"{from_minor(minor, cur)} {cur}"

        credited = (f"{money(already)} is already credited by other credit notes (issued or draft), so at most "
                    f"{money(room)} can still be credited" if already else "")
        raise CreditExceedsInvoiceTotal(
            f"The credit note ({money(total_minor)}) exceeds the invoice {original} it corrects (total "
            f"{money(original.total_minor)})" + (f": {credited}." if credited else "."),
            invoice=str(original), total=str(from_minor(original.total_minor, cur)),
            credited=str(from_minor(already, cur)), available=str(from_minor(room, cur)),
        )


def check_draft_lines(invoice: Invoice, lines: Sequence[LineData], currency: str) -> invoice_math.InvoiceTotals:
    """The checks a draft's new lines pass: :func:`check_lines`, and a credit note never brings what is
    credited on the invoice it corrects above that invoice's total (the caller that writes holds the lock
    on that invoice, see :func:`_lock_credited`)."""
    totals = _check_lines(lines, currency)
    if invoice.is_credit_note and invoice.related_invoice_id:
        _check_credit_note_total(to_minor(totals.tax_inclusive, currency), invoice.related_invoice,
                                 note_id=invoice.pk)
    return totals


def _line_data(line: InvoiceLine) -> LineData:
    return LineData(description=line.description, quantity=line.quantity, unit_price=line.unit_price, unit=line.unit,
                    tax_category=line.tax_category, tax_rate=line.tax_rate, discount_percent=line.discount_percent,
                    tax_exemption_reason=line.tax_exemption_reason, period_start=line.period_start,
                    period_end=line.period_end, explanation=line.explanation)


def _write_lines(invoice: Invoice, lines: Sequence[LineData]) -> None:
    totals = _check_lines(lines, invoice.currency)
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                position=i,
                description=line.description,
                quantity=to_decimal(line.quantity),
                unit=line.unit,
                unit_price=to_decimal(line.unit_price),
                discount_percent=line.discount_percent,
                tax_category=line.tax_category,
                tax_rate=to_decimal(line.tax_rate),
                tax_exemption_reason=line.tax_exemption_reason,
                period_start=line.period_start,
                period_end=line.period_end,
                explanation=line.explanation,
                net_minor=to_minor(res.net_amount, invoice.currency),
                discount_minor=to_minor(res.discount_amount, invoice.currency),
            )
            for i, (line, res) in enumerate(zip(lines, totals.lines), 1)
        ]
    )
    _store_totals(invoice, totals)


def _store_totals(invoice: Invoice, totals: invoice_math.InvoiceTotals) -> None:
    cur = invoice.currency
    invoice.line_total_minor = to_minor(totals.line_total, cur)
    invoice.allowance_total_minor = to_minor(totals.allowance_total, cur)
    invoice.charge_total_minor = to_minor(totals.charge_total, cur)
    invoice.tax_exclusive_minor = to_minor(totals.tax_exclusive, cur)
    invoice.tax_total_minor = to_minor(totals.tax_total, cur)
    invoice.total_minor = to_minor(totals.tax_inclusive, cur)
    invoice.tax_breakdown = [
        {
            "category": t.category,
            "rate": str(t.rate),
            "taxable_minor": to_minor(t.taxable_amount, cur),
            "tax_minor": to_minor(t.tax_amount, cur),
        }
        for t in totals.tax_breakdown
    ]
    invoice.save()


@transaction.atomic
def replace_lines(org: Organization, invoice_id: int, lines: Sequence[LineData]) -> Invoice:
    invoice = _get_invoice(org, invoice_id, lock=True)
    if invoice.status != Invoice.DRAFT:
        raise InvoiceImmutable(f"Invoice {invoice} is {invoice.status}: an issued invoice can only be corrected "
                               "by a credit note or a void.")
    if invoice.is_credit_note and invoice.related_invoice_id:
        invoice.related_invoice = _lock_credited(invoice.related_invoice_id)
    check_draft_lines(invoice, lines, invoice.currency)
    invoice.lines.all().delete()
    _write_lines(invoice, lines)
    return invoice


def recompute_totals(invoice: Invoice, lines: Sequence[InvoiceLine] | None = None) -> invoice_math.InvoiceTotals:
    """Recompute a draft's totals from its stored lines (``lines``, when the caller read them) and, for an
    imported invoice, its document allowances/charges and negative (returned) lines as its source had them
    (only the importer writes document allowances; a render checks the totals frozen here)."""
    from .documents.adapter import document_allowances
    from .documents.snapshot import is_imported

    lines = list(invoice.lines.all()) if lines is None else list(lines)
    imported = is_imported(invoice.document_snapshot)
    totals = invoice_math.compute_totals([_line_input(x) for x in lines], invoice.currency,
                                         document_allowances(invoice) if imported else (), allow_negative=imported)
    for line, res in zip(lines, totals.lines):
        line.net_minor = to_minor(res.net_amount, invoice.currency)
        line.discount_minor = to_minor(res.discount_amount, invoice.currency)
    InvoiceLine.objects.bulk_update(lines, ["net_minor", "discount_minor"])
    _store_totals(invoice, totals)
    return totals


def check_attachment(filename: str, content: bytes, description: str = "", content_type: str | None = None) -> str:
    """What every stored attachment must be: a plain, non-empty file name that fits, some content, and a
    type EN 16931 e-invoices can embed (BR-CL-24: PDF, PNG, JPEG, CSV, XLSX, ODS; else
    :class:`AttachmentTypeNotAllowed` names the file and the allowed types). Returns the content type
    (given, or guessed from the file name)."""
    from .einvoice.model import ATTACHMENT_MIME_CODES, ATTACHMENT_TYPE_NAMES

    if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
        raise ValidationError(f"Invalid attachment file name {filename!r}.")
    limit = Attachment._meta.get_field("filename").max_length
    if len(filename) > limit:
        raise ValidationError(f"The attachment file name {filename!r} is longer than {limit} characters.")
    if len(description) > Attachment._meta.get_field("description").max_length:
        raise ValidationError("The attachment description is too long.")
    if not content:
        raise ValidationError(f"Attachment {filename!r} is empty.")
    ctype = (content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream").split(";")[0]
    ctype = ctype.strip().lower()
    if ctype not in ATTACHMENT_MIME_CODES:
        raise AttachmentTypeNotAllowed(
            f"Attachment {filename!r} is of type {ctype}, which e-invoices cannot embed (EN 16931 BR-CL-24); "
            f"allowed: {ATTACHMENT_TYPE_NAMES}.", filename=filename, content_type=ctype,
            allowed=sorted(ATTACHMENT_MIME_CODES))
    return ctype


def check_attachable(invoice: Invoice) -> None:
    """Refuse (:class:`InvoiceImmutable`) once the invoice's documents are stored: they list the attachments
    it had then. Also used by the back office to show the refusal on the form."""
    from .models import StoredDocument

    if invoice.pk is not None and StoredDocument.objects.filter(invoice=invoice).exists():
        raise InvoiceImmutable(
            f"Invoice {invoice} has been sent or exported: its documents are stored and list the attachments "
            "it had then, so no attachment can be added now.", invoice=str(invoice))


@transaction.atomic
def add_attachment(org: Organization, invoice_id: int, filename: str, content: bytes, description: str = "",
                   content_type: str | None = None) -> Attachment:
    """Store a supporting document with an invoice (checked by :func:`check_attachment`).

    Attachments are listed on the invoice's PDF and embedded in its e-invoices, so they may be
    added until the first of its documents is stored (sent or exported: see
    :func:`duly.invoicing.documents.document_bytes`, which locks the invoice the same way); after
    that the documents are what the customer received and :class:`InvoiceImmutable` is raised.
    """
    invoice = _get_invoice(org, invoice_id, lock=True)
    check_attachable(invoice)
    ctype = check_attachment(filename, content, description, content_type)
    att = Attachment(invoice=invoice, filename=filename, description=description, content_type=ctype,
                     size=len(content), sha256=hashlib.sha256(content).hexdigest())
    att.file.save(filename, ContentFile(content), save=False)
    att.save()
    return att


@transaction.atomic
def store_document(invoice: Invoice, fmt: str, *, filename: str, content_type: str,
                   render: Callable[[], bytes]) -> StoredDocument:
    """Store the document of an issued invoice in ``fmt``, rendered by ``render`` once (the bytes are then kept
    forever: :func:`duly.invoicing.documents.document_bytes`); the stored one when it already is.

    The invoice row is locked while its first documents are rendered and stored, as :func:`add_attachment`
    locks it: an attachment is on every document or on none.
    """
    list(Invoice.objects.select_for_update().filter(pk=invoice.pk).values_list("pk", flat=True))
    existing = StoredDocument.objects.filter(invoice=invoice, format=fmt).first()
    if existing is not None:  # stored by someone else while we waited
        return existing
    content = render()
    try:
        with transaction.atomic():
            return StoredDocument.objects.create(
                organization_id=invoice.organization_id, invoice=invoice, format=fmt, filename=filename,
                content_type=content_type, content=content, size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
            )
    except IntegrityError:
        # Rendered concurrently by someone else (a database without row locks): theirs is the document.
        return StoredDocument.objects.get(invoice=invoice, format=fmt)


# --- issuing -----------------------------------------------------------------------------------
def missing_required_fields(invoice: Invoice) -> list[str]:
    """The fields the invoice's customer requires that it leaves empty (:mod:`duly.domain.issuing`)."""
    return issuing.missing_required_fields(customer_facts(invoice.customer), _header(invoice), invoice.custom_fields)


def _header(invoice: Invoice) -> dict[str, str]:
    return {code: getattr(invoice, code, "") for code in REQUIRED_FIELD_LABELS}


def draft_facts(invoice: Invoice, lines: Sequence[InvoiceLine]) -> issuing.DraftFacts:
    """A stored draft as the issuing rules read it (its lines as loaded)."""
    return issuing.DraftFacts(
        kind=invoice.kind, currency=invoice.currency, lines=tuple(_line_input(x) for x in lines),
        descriptions=tuple(x.description for x in lines), header=tuple(_header(invoice).items()),
        custom_fields=tuple((invoice.custom_fields or {}).items()), name=f"Invoice {invoice}",
        rounding_minor=invoice.rounding_minor)


def late_policy_for(invoice: Invoice, reference_rates: dict | None = None) -> LateFeePolicy:
    """The late-payment policy stated on the invoice: its contract's, or none (which is stated too).

    ``reference_rates`` (per series, :func:`~duly.customers.services.reference_rates_for`) are read
    for the contract when not given, only if it follows the recorded statutory rates.
    """
    if invoice.contract is not None:
        if reference_rates is None:
            reference_rates = reference_rates_for_contracts([invoice.contract])
        return invoice.contract.late_fee_policy(reference_rates)
    return NO_LATE_FEES


def terms_for(invoice: Invoice) -> PaymentTerms:
    if invoice.contract is not None:
        return invoice.contract.payment_terms()
    return DEFAULT_TERMS


@transaction.atomic
def issue_invoice(org: Organization, invoice_id: int, *, issue_date: date,
                  reference_rates: dict | None = None, prepaid_minor: int | None = None,
                  over_credit_limit_by=None, over_credit_limit_note: str = "") -> Invoice:
    """Issue a draft: check required fields, compute the exact due date, number it gaplessly, freeze it.

    What it becomes is planned by :func:`duly.domain.issuing.plan_issue`, as on the bulk path.
    ``prepaid_minor``: a deposit or retainer deducted (BT-113; default: the draft's, an imported one's).

    The late-payment terms state the rate in force on ``issue_date`` (a run issuing many invoices
    passes the ``reference_rates`` it loaded once; see :func:`late_policy_for`).

    When the customer has a Peppol address, the invoice's UBL must pass the Peppol BIS Billing 3.0
    rules, or it is not issued (:class:`~duly.domain.errors.PeppolInvalid` names the rules).
    An invoice that would take the customer's open balance over its credit limit is refused
    (:mod:`duly.invoicing.credit_limit`) unless an owner or admin (``over_credit_limit_by``) says why
    (``over_credit_limit_note``).
    """
    check_date_range(issue_date, "The issue date")
    check_public_url()  # its documents will carry the customer's pay link
    invoice = _get_invoice(org, invoice_id, lock=True)
    if invoice.status != Invoice.DRAFT:
        raise InvoiceNotDraft(f"Invoice {invoice} is already {invoice.get_status_display().lower()}.",
                              invoice=str(invoice))
    customer = invoice.customer
    lines = list(invoice.lines.all())
    if invoice.contract is None and invoice.kind != Invoice.KIND_CREDIT_NOTE:
        invoice.contract = current_contract(customer, issue_date)
    plan = issuing.plan_issue(
        draft_facts(invoice, lines), customer_facts(customer), contract_facts(invoice.contract),
        issuing.TermsFacts(DEFAULT_TERMS if invoice.is_credit_note else terms_for(invoice)),
        issuing.PrepaidFacts(deposit_minor=invoice.prepaid_minor if prepaid_minor is None else prepaid_minor),
        issuing.CreditFacts(), issue_date,
        totals=lambda: recompute_totals(invoice, lines),
        due=lambda terms, day: terms_due(terms, day, invoice.locale or customer.locale),  # in the customer's words
        late=lambda: late_terms_in(late_policy_for(invoice, reference_rates), invoice.currency, issue_date,
                                   invoice.locale or customer.locale))  # in the customer's words too
    if invoice.is_credit_note and invoice.related_invoice_id:  # also an imported credit note naming its invoice
        original = _lock_credited(invoice.related_invoice_id)
        if original.status == Invoice.VOID:
            raise InvalidState(f"Invoice {original} is void: there is nothing left to credit; void this credit note "
                               "instead.", invoice=str(original))
        _check_credit_note_total(invoice.total_minor, original, note_id=invoice.pk)
    payable = (plan.fields.get("total_minor", invoice.total_minor)
               - plan.fields.get("prepaid_minor", invoice.prepaid_minor) + invoice.rounding_minor)
    override = check_credit_limit(org, invoice, payable_minor=payable, by=over_credit_limit_by,
                                  note=over_credit_limit_note, now=timezone.now())
    series = "credit_note" if invoice.is_credit_note else "invoice"
    invoice.number = next_number(org, series, issue_date)
    invoice.issue_date = issue_date
    invoice.issued_at = timezone.now()
    invoice.rf_reference = rf_for_invoice(org.slug, invoice.number)
    for name in ("due_date", "payment_terms_text", "late_terms_text"):  # the terms the plan states
        if name in plan.fields:
            setattr(invoice, name, plan.fields[name])
    from .documents.snapshot import check_seller_identified, is_imported, live_snapshot

    snapshot = None
    if not is_imported(invoice.document_snapshot):  # an imported draft keeps the parties its source stated
        check_seller_identified(org)  # BR-CO-26: a seller identifier, registration id or VAT id
        snapshot = live_snapshot(invoice, strict=True)  # what its documents show, frozen
    elif not invoice.is_credit_note:  # ... and, like every invoice, states the customer's retainer balance
        retainer = hooks.retainer_entry(invoice.customer, invoice.currency, issue_date)
        if retainer is not None:
            lifecycle.set_retainer(invoice, retainer)
    lifecycle.issue(invoice, plan, snapshot=snapshot)
    if override is not None:
        override.save()  # kept with the invoice: who issued it over the limit, when and why
    if invoice.is_credit_note:
        hooks.apply_credit_note(invoice)
    elif invoice.kind in (Invoice.KIND_STANDARD, Invoice.KIND_LATE_FEE):
        hooks.apply_customer_credit(invoice, on=issue_date)
    invoice.refresh_from_db()
    if invoice.paid_minor and not invoice.is_credit_note:  # customer credit settled at issue: "already paid"
        lifecycle.freeze_paid_at_issue(invoice, invoice.paid_minor)
    if customer.electronic_address:  # it goes through Peppol: refuse what an access point would reject
        from .documents.store import check_peppol

        check_peppol(invoice)  # raises PeppolInvalid; this transaction rolls back
        from .documents.store import check_br_fr, in_french_reform

        if in_french_reform(invoice):  # the French reform's rules too (BR-FR)
            check_br_fr(invoice)  # raises BrFrInvalid; this transaction rolls back
    invoices_issued.send(sender=Invoice, organization=org, invoice_ids=[invoice.pk])
    return invoice


@transaction.atomic
def issue_invoices(org: Organization, invoice_ids: Sequence[int], *, issue_date: date) -> list[Invoice]:
    """Issue several drafts, in the order given, all or nothing: one refusal issues none of them.

    The error names the invoice that was refused; numbers taken by the others are given back.
    """
    ids = list(invoice_ids)
    if not ids:
        raise ValidationError("Give at least one invoice to issue.")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValidationError(f"Invoice(s) {', '.join(map(str, duplicates))} given more than once.")
    contracts = Contract.objects.filter(organization=org, pk__in=Invoice.objects.filter(
        organization=org, pk__in=ids).values("contract_id"))
    rates = reference_rates_for_contracts(contracts)  # once for the batch: every series involved
    issued = []
    for invoice_id in ids:
        try:
            issued.append(issue_invoice(org, invoice_id, issue_date=issue_date, reference_rates=rates))
        except DomainError as exc:
            if len(ids) > 1:
                exc.message = f"invoice {invoice_id}: {exc.message} Nothing was issued (all or nothing)."
            raise
    return issued


@transaction.atomic
def void_invoice(org: Organization, invoice_id: int, *, reason: str) -> Invoice:
    invoice = _get_invoice(org, invoice_id, lock=True)
    return lifecycle.void(invoice, reason)


@transaction.atomic
def mark_uncollectible(org: Organization, invoice_id: int, *, reason: str) -> Invoice:
    """Write off an open invoice as uncollectible (bad debt), with a reason.

    The write-off is timestamped in ``voided_at`` like a void, so reports as of an earlier date
    still show the invoice open.
    """
    if not reason or not reason.strip():
        raise ReasonRequired("A reason is required to write an invoice off as uncollectible.")
    invoice = _get_invoice(org, invoice_id, lock=True)
    return lifecycle.write_off(invoice, reason)


@transaction.atomic
def create_credit_note(org: Organization, invoice_id: int, *, reason: str,
                       lines: Sequence[LineData] | None = None, issue_date: date | None = None) -> Invoice:
    """A credit note correcting an issued invoice: the whole invoice, or the given lines.

    What the invoice's credit notes credit together (issued or draft; void ones do not count) never
    exceeds its total: a note that would is refused (``credit_exceeds_invoice_total``) and nothing is
    written. The invoice stays locked from that check to the commit, so of two concurrent notes that
    would together exceed it, the second is refused.
    """
    original = _get_invoice(org, invoice_id, lock=True)
    if original.status in (Invoice.DRAFT, Invoice.VOID) or original.is_credit_note:
        raise InvalidState(f"Only an issued invoice can be credited; {original} is {original.status}.")
    if lines is None:
        lines = [replace(_line_data(x), explanation="") for x in original.lines.all()]
    note = create_draft(
        org, original.customer, lines, kind=Invoice.KIND_CREDIT_NOTE, contract=original.contract,
        currency=original.currency, related_invoice=original, notes=reason,
        service_period=(original.service_period_start, original.service_period_end)
        if original.service_period_start else None,
        po_number=original.po_number, buyer_reference=original.buyer_reference, cost_centre=original.cost_centre,
        ap_contact=original.ap_contact, billing_address=original.billing_address,
    )
    note.custom_fields = original.custom_fields
    note.save(update_fields=["custom_fields"])
    if issue_date is not None:
        note = issue_invoice(org, note.pk, issue_date=issue_date)
    return note


def partial_credit_lines(org: Organization, invoice_id: int, amount: Decimal | str, *,
                         description: str) -> list[LineData]:
    """The one credit-note line that credits ``amount`` (tax included, in the invoice's currency) of an invoice.

    The line carries the invoice's tax category and rate, with the net amount whose total with tax
    is exactly ``amount``. Refused: an amount that is not positive or has more decimals than the
    currency allows (``value_out_of_range``), more than the invoice's open amount
    (``credit_exceeds_open_amount``), an invoice with several tax rates (``several_tax_rates``: credit
    it whole, or give the lines), an amount no net reaches exactly (``credit_amount_not_exact``).
    Reads only; :func:`create_credit_note` writes the note.
    """
    invoice = _get_invoice(org, invoice_id)
    if invoice.is_credit_note or invoice.status == Invoice.DRAFT:
        raise InvalidState(f"Only an issued invoice can be credited; {invoice} is {invoice.status}.")
    value = to_decimal(amount)
    rates = sorted({(x.tax_category, x.tax_rate.normalize(), x.tax_exemption_reason) for x in invoice.lines.all()})
    if len(rates) > 1:
        raise SeveralTaxRates(
            f"Invoice {invoice} has several tax rates ({', '.join(f'{c} {r:f}%' for c, r, _ in rates)}); "
            "one amount cannot say how much falls under each: credit the whole invoice, or credit lines.")
    category, rate, exemption = rates[0] if rates else ("S", Decimal(0), "")
    net = invoice_math.net_for_tax_inclusive(value, invoice.currency, tax_category=category, tax_rate=rate)
    open_minor = invoice.balance_minor if invoice.is_open else 0
    if to_minor(value, invoice.currency) > open_minor:
        raise CreditExceedsOpenAmount(
            f"The credit ({value} {invoice.currency}) is more than what is open on {invoice} "
            f"({from_minor(open_minor, invoice.currency)} {invoice.currency}).",
            open=str(from_minor(open_minor, invoice.currency)))
    text = " ".join(description.split())
    return [LineData(text if len(text) <= 500 else text[:499] + "…", Decimal(1), net, unit="C62",
                     tax_category=category, tax_rate=rate, tax_exemption_reason=exemption)]


def first_invoice_date(org: Organization) -> date | None:
    """The issue date of the organization's first issued invoice (None before it issued any)."""
    return (Invoice.objects.filter(organization=org, number__isnull=False)
            .aggregate(first=Min("issue_date"))["first"])


def invoices_for(org: Organization, *, status: Iterable[str] | None = None, customer: Customer | None = None):
    qs = Invoice.objects.filter(organization=org).select_related("customer")
    if status:
        qs = qs.filter(status__in=list(status))
    if customer is not None:
        qs = qs.filter(customer=customer)
    return qs
