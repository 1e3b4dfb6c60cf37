"""Receivables migrated from another system: invoices issued there, kept here exactly as they were issued.

Two ways in:

- an e-invoice (UBL 2.1 or CII) imported *as issued* (``duly invoices import-ubl --as-issued``): read like
  any import (:func:`duly.invoicing.documents.imports.import_einvoice`: seller, buyer, lines and totals),
  then issued with its source's number, issue date, due date and payment terms;
- the rows of a CSV export from another invoicing tool (``duly receivables import``, :func:`import_receivables`;
  the columns are described in ``docs/input.md``): customer code, number, issue date, due date, amount,
  currency and amount already paid. All or nothing: every row is checked first, and one bad row imports none.

The migrated number series
    A migrated invoice keeps its source's number (``Invoice.origin`` is ``migrated``). Its number is
    never taken from Duly's series counters, so Duly's own numbering is untouched; a number that has the
    form of one of the organization's own series is refused, since Duly could give it to a new invoice
    later (change the series' pattern first).
The same invoice is never imported twice
    An invoice number is unique per organization, and so is the SHA-256 of an imported e-invoice file:
    database constraints (``uniq_invoice_number``, ``uniq_migrated_source``), not a lookup that two
    imports at once could both pass.
What was already paid
    Is the invoice's prepaid amount (EN 16931 BT-113): the open amount is what is left. Nothing is
    settled in Duly, and no payment is invented.
Collections
    Migrated invoices are open receivables like any other. The dunning run treats those it finds already
    overdue as :mod:`duly.domain.dunning` says for receivables brought over from another system: the
    first message is the first overdue reminder, then one step at a time, each after its wait. They have
    no contract, so no late fee is charged on them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import string
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from duly.customers.links import check_public_url
from duly.customers.models import Customer, Organization
from duly.domain.bounds import check_date_range
from duly.domain.errors import Conflict, DomainError, InvalidState, ValidationError
from duly.domain.money import exponent, to_minor
from duly.domain.references import rf_for_invoice

from . import lifecycle
from .models import Invoice, NumberSeries
from .services import LineData, create_draft
from .signals import invoices_issued

__all__ = ["CSV_COLUMNS", "MigratedReceivable", "import_receivables", "issue_as_migrated", "parse_receivables"]

#: The columns of a receivables CSV (``docs/input.md``); ``terms`` is optional.
CSV_COLUMNS = ("customer", "number", "issue_date", "due_date", "amount", "currency", "paid")
OPTIONAL_COLUMNS = ("terms",)
MAX_ROWS = 100_000
MIGRATED_LINE = "Invoice {number}, issued in the previous system (amount including tax)"
MIGRATED_TAX_REASON = "Migrated receivable: the tax was stated on the invoice as issued"


# --- the migrated series ---------------------------------------------------------------------------
def _series_regex(pattern: str) -> re.Pattern:
    parts = []
    for literal, name, _spec, _conv in string.Formatter().parse(pattern):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(r"\d+")
    return re.compile("".join(parts) + r"\Z")


def check_migrated_number(org: Organization, number: str) -> str:
    """A migrated invoice's number: not empty, fits the column, and not of the form of Duly's own series."""
    number = (number or "").strip()
    if not number:
        raise ValidationError("An invoice number is required.")
    if len(number) > Invoice._meta.get_field("number").max_length:
        raise ValidationError(f"Invoice number {number[:40]!r}… is longer than 40 characters.")
    for kind, pattern in NumberSeries.objects.filter(organization=org).values_list("kind", "pattern"):
        if _series_regex(pattern).match(number):
            raise ValidationError(
                f"Invoice number {number} has the form of Duly's own {kind.replace('_', ' ')} series ({pattern}): "
                "Duly could give the same number to a new invoice. Change that series' pattern first.",
                number=number, pattern=pattern)
    return number


def _already(org: Organization, number: str) -> Conflict:
    existing = Invoice.objects.filter(organization=org, number=number).first()
    if existing is not None and existing.origin == Invoice.ORIGIN_MIGRATED:
        return Conflict(f"Invoice {number} was already imported (invoice #{existing.pk}).",
                        code="already_imported", number=number)
    return Conflict(f"Invoice number {number} is already used in {org.name}.", code="already_imported", number=number)


@transaction.atomic
def issue_as_migrated(org: Organization, invoice_id: int, *, number: str, source_sha256: str = "",
                      snapshot: dict | None = None, fields: dict | None = None) -> Invoice:
    """Issue a draft as its source issued it: ``number``, and the issue date, due date and terms it carries
    (or ``fields`` sets: ``issue_date``, ``due_date``, ``payment_terms_text``, ``prepaid_minor``).

    Refused (``already_imported``) when the number or the source file was imported before."""
    check_public_url()  # its documents will carry the customer's pay link
    invoice = Invoice.objects.select_for_update(of=("self",)).select_related("customer", "organization").get(
        organization=org, pk=invoice_id)
    if invoice.status != Invoice.DRAFT:
        raise InvalidState(f"Invoice {invoice} is not a draft.", invoice=str(invoice))
    for name, value in (fields or {}).items():
        if name not in ("issue_date", "due_date", "payment_terms_text", "prepaid_minor"):
            raise ValueError(name)
        setattr(invoice, name, value)
    number = check_migrated_number(org, number)
    if invoice.is_credit_note:
        raise ValidationError(f"Credit note {number} cannot be migrated as issued: migrate what is still open on the "
                              "invoice it corrects instead (or import it as a draft, without --as-issued).",
                              number=number)
    if invoice.issue_date is None or invoice.due_date is None:
        missing = "issue date" if invoice.issue_date is None else "due date"
        raise ValidationError(f"Invoice {number} states no {missing}: a migrated invoice keeps its source's "
                              "dates. Import it as a draft instead (without --as-issued).", number=number)
    if invoice.due_date < invoice.issue_date:
        raise ValidationError(f"Invoice {number} is due ({invoice.due_date}) before it was issued "
                              f"({invoice.issue_date}).", number=number)
    if source_sha256 and Invoice.objects.filter(organization=org, source_sha256=source_sha256).exists():
        raise Conflict(f"This file was already imported (invoice {number}).", code="already_imported")
    invoice.number = number
    invoice.origin = Invoice.ORIGIN_MIGRATED
    invoice.source_sha256 = source_sha256
    invoice.issued_at = timezone.now()
    invoice.rf_reference = rf_for_invoice(org.slug, number)
    try:
        with transaction.atomic():  # a savepoint: the constraint's refusal leaves the transaction usable
            lifecycle.issue_migrated(invoice, snapshot=snapshot)
    except IntegrityError:
        if source_sha256 and Invoice.objects.filter(organization=org, source_sha256=source_sha256).exists():
            raise Conflict(f"This file was already imported (invoice {number}).", code="already_imported") from None
        raise _already(org, number) from None
    # Integrators learn of the receivable as of any invoice issued here (``invoice.issued``, its ``origin``
    # "migrated"); sent in this transaction, so a refused import tells nothing.
    invoices_issued.send(sender=Invoice, organization=org, invoice_ids=[invoice.pk], migrated=True)
    return invoice


@transaction.atomic
def import_einvoice_as_issued(org: Organization, xml: bytes):
    """Import an e-invoice as issued (see the module notes); returns the import's
    :class:`~duly.invoicing.documents.imports.ImportedDraft`, its invoice now issued."""
    from dataclasses import replace

    from .documents.imports import import_einvoice

    digest = hashlib.sha256(xml).hexdigest()
    if Invoice.objects.filter(organization=org, source_sha256=digest).exists():
        raise Conflict("This file was already imported.", code="already_imported")
    result = import_einvoice(org, xml)
    invoice = issue_as_migrated(org, result.invoice.pk, number=result.source.number, source_sha256=digest)
    return replace(result, invoice=invoice)


# --- receivables from a CSV export --------------------------------------------------------------------
@dataclass(frozen=True)
class MigratedReceivable:
    """One checked row of a receivables CSV."""

    row: int
    customer: Customer
    number: str
    issue_date: date
    due_date: date
    amount: Decimal
    currency: str
    paid: Decimal
    terms: str = ""


def _date(text: str, row: int, column: str) -> date:
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"row {row}, column {column}: {text.strip()[:20]!r} is not a date (YYYY-MM-DD).",
                              row=row, column=column) from None
    try:
        check_date_range(value, f"row {row}, column {column}")
    except DomainError as exc:
        raise ValidationError(exc.message, row=row, column=column) from None
    return value


def _amount(text: str, currency: str, row: int, column: str) -> Decimal:
    shown = text.strip()[:20]
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValidationError(f"row {row}, column {column}: {shown!r} is not an amount (e.g. 1250.00).",
                              row=row, column=column) from None
    if not value.is_finite() or value < 0:
        raise ValidationError(f"row {row}, column {column}: {shown!r} is not an amount of zero or more.",
                              row=row, column=column)
    if value.adjusted() > 14 or value != value.quantize(Decimal(1).scaleb(-exponent(currency))):
        raise ValidationError(f"row {row}, column {column}: {shown!r} has more decimals than {currency} has, "
                              "or too many digits.", row=row, column=column)
    return value


def _check_row(org: Organization, raw: dict, row: int, customers: dict[str, Customer]) -> MigratedReceivable:
    values = {k: (raw.get(k) or "").strip() for k in (*CSV_COLUMNS, *OPTIONAL_COLUMNS)}
    for column in CSV_COLUMNS:
        if not values[column]:
            raise ValidationError(f"row {row}, column {column}: empty.", row=row, column=column)
    customer = customers.get(values["customer"])
    if customer is None:
        raise ValidationError(f"row {row}, column customer: no customer with the code {values['customer'][:40]!r}.",
                              row=row, column="customer")
    currency = values["currency"].upper()
    if currency != customer.currency:
        raise ValidationError(f"row {row}, column currency: {currency[:3]!r} is not the currency of {customer.name} "
                              f"({customer.currency}).", row=row, column="currency")
    try:
        number = check_migrated_number(org, values["number"])
    except ValidationError as exc:
        raise ValidationError(f"row {row}, column number: {exc.message}", row=row, column="number") from None
    issue_date = _date(values["issue_date"], row, "issue_date")
    due_date = _date(values["due_date"], row, "due_date")
    if due_date < issue_date:
        raise ValidationError(f"row {row}, column due_date: {due_date} is before the issue date {issue_date}.",
                              row=row, column="due_date")
    amount = _amount(values["amount"], currency, row, "amount")
    if amount == 0:
        raise ValidationError(f"row {row}, column amount: an invoice of 0 is not a receivable.",
                              row=row, column="amount")
    paid = _amount(values["paid"], currency, row, "paid")
    if paid > amount:
        raise ValidationError(f"row {row}, column paid: {paid} paid is more than the amount {amount}.",
                              row=row, column="paid")
    if len(values["terms"]) > 1000:
        raise ValidationError(f"row {row}, column terms: longer than 1000 characters.", row=row, column="terms")
    return MigratedReceivable(row, customer, number, issue_date, due_date, amount, currency, paid, values["terms"])


def parse_receivables(org: Organization, data: bytes) -> list[MigratedReceivable]:
    """Every row of a receivables CSV checked (nothing is written); the first bad row is refused, naming
    its row (the header is row 1) and column."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("The file is not UTF-8 text.") from None
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ValidationError(f"row 1: not a readable CSV header ({exc}).") from None
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise ValidationError(f"row 1: missing column(s) {', '.join(missing)} (expected: {', '.join(CSV_COLUMNS)}).")
    reader.fieldnames = header
    try:
        return _check_rows(org, reader)
    except csv.Error as exc:
        raise ValidationError(f"row {reader.line_num}: not a readable CSV row ({exc}).") from None


def _check_rows(org: Organization, reader: csv.DictReader) -> list[MigratedReceivable]:
    customers = {c.code: c for c in Customer.objects.filter(organization=org)}
    rows, seen = [], {}
    for n, raw in enumerate(reader, 2):
        if n - 1 > MAX_ROWS:
            raise ValidationError(f"More than {MAX_ROWS} rows: split the file.")
        if raw.get(None):
            raise ValidationError(f"row {n}: more values than columns.", row=n)
        if not any((v or "").strip() for v in raw.values()):
            continue  # a blank line
        item = _check_row(org, raw, n, customers)
        if item.number in seen:
            raise ValidationError(f"row {n}, column number: invoice {item.number} is also on row {seen[item.number]}.",
                                  row=n, column="number")
        seen[item.number] = n
        rows.append(item)
    if not rows:
        raise ValidationError("The file has no rows to import.")
    taken = dict(Invoice.objects.filter(organization=org, number__in=list(seen)).values_list("number", "origin"))
    for item in rows:
        if item.number in taken:
            what = "was already imported" if taken[item.number] == Invoice.ORIGIN_MIGRATED else "is already used"
            raise Conflict(f"row {item.row}, column number: invoice {item.number} {what}.", code="already_imported",
                           row=item.row, column="number")
    return rows


@transaction.atomic
def import_receivables(org: Organization, data: bytes) -> list[Invoice]:
    """Import the receivables of a CSV export (bytes), all or nothing (see the module notes)."""
    from .documents.snapshot import live_snapshot

    imported = []
    for item in parse_receivables(org, data):
        draft = create_draft(
            org, item.customer,
            [LineData(MIGRATED_LINE.format(number=item.number), Decimal(1), item.amount, tax_category="O",
                      tax_exemption_reason=MIGRATED_TAX_REASON)],
            currency=item.currency)
        fields = {"issue_date": item.issue_date, "due_date": item.due_date, "payment_terms_text": item.terms,
                  "prepaid_minor": to_minor(item.paid, item.currency)}
        try:
            invoice = issue_as_migrated(org, draft.pk, number=item.number, snapshot=live_snapshot(draft),
                                        fields=fields)
        except DomainError as exc:
            exc.message = f"row {item.row}: {exc.message} Nothing was imported (all or nothing)."
            raise
        imported.append(invoice)
    return imported
