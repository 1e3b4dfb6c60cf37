"""Issuing many invoices at once: the fast path used by the billing run.

It produces exactly what :func:`duly.invoicing.services.create_draft` followed by
:func:`~duly.invoicing.services.issue_invoice` produces (same defaults from the customer and
contract, same required-field check, same due date, terms text, late-payment text, RF reference and
totals from :func:`duly.domain.invoice_math.compute_totals`), but for a whole block of invoices with
a constant number of queries:

1. :func:`prepare` validates one invoice and computes its totals (pure: no query) with
   :func:`duly.domain.issuing.plan_issue`, the rule the one-by-one path issues by too. It raises the
   same :class:`~duly.domain.errors.DomainError` as the one-by-one path, so a caller can leave one
   bad customer out and bill the others. What is left here is numbering and inserting.
2. :func:`issue_prepared` takes a block of gapless numbers with ONE counter ``UPDATE``
   (``last_value + N``, refused when the series' last number is dated after the issue date:
   :func:`~duly.invoicing.services.take_numbers`), then inserts the invoices and their lines in bulk
   (:func:`insert_rows`: multi-row ``INSERT … RETURNING id`` statements whose values are adapted once
   per column, not through the ORM's per-field machinery).

:func:`issue_prepared` must run inside the caller's transaction: a rollback gives the whole block of
numbers back, so a crashed or failed batch leaves neither a gap nor a half-written invoice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import json
from datetime import date, datetime as _datetime, timezone as _dt_timezone
from functools import lru_cache
from typing import Any, Callable, Sequence

import operator
import sqlite3

from django.core.exceptions import EmptyResultSet
from django.conf import settings
from django.db import connection, connections, models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import F, Lookup
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from duly.customers.links import check_public_url
from duly.customers.models import Contract, Customer, Organization
from duly.db.fastpath import adapt_rows, fetch_rows, ids_in, insert_rows  # the generic ORM fast path, re-exported
from duly.domain import invoice_math, issuing
from duly.domain.errors import DomainError, EInvoiceInvalid, PeppolInvalid, ValidationError
from duly.domain.late_fees import LateFeePolicy
from duly.domain.payment_terms import PaymentTerms
from duly.domain.references import rf_for_invoice
from duly.domain.text import Text
from duly.translation import render

from . import hooks, lifecycle
from .documents.i18n import late_terms_in, terms_due
from .models import Invoice, InvoiceLine
from .signals import invoices_issued
from .services import (
    LineData,
    _line_input,
    contract_facts,
    customer_facts,
    in_language,
    late_policy_for,
    take_numbers,
    terms_for,
)

__all__ = [
    "BulkInvoice",
    "IssueChecks",
    "PeppolRefused",
    "check_peppol_block",
    "PreparedInvoice",
    "build_instances",
    "fetch_instances",
    "fetch_rows",
    "ids_in",
    "InvoiceRows",
    "adapt_rows",
    "insert_rows",
    "invoice_rows",
    "describe_late_terms",
    "issue_prepared",
    "prepare",
    "set_prepaid",
    "take_numbers",
    "where_to_fill",
    "write_invoice_rows",
]


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
    notes: str | Text = ""
    #: Accept negative lines (corrections inside one document, such as a late usage credit).
    allow_negative: bool = False


@dataclass
class PreparedInvoice:
    """A validated invoice with its totals, ready to be numbered and written.

    ``fields`` holds the invoice's column values (``Invoice`` attribute names) and ``lines`` those of
    its lines; :func:`issue_prepared` adds the number and sets ``invoice`` to the saved row.
    """

    source: BulkInvoice
    fields: dict[str, Any]
    totals: invoice_math.InvoiceTotals
    lines: list[dict[str, Any]] = field(default_factory=list)
    invoice: Invoice | None = None
    inputs: tuple[invoice_math.LineInput, ...] = ()
    #: What :func:`duly.domain.issuing.plan_issue` planned (the fields come from it).
    plan: issuing.IssuePlan | None = None

    @property
    def currency(self) -> str:
        return self.fields["currency"]

    @property
    def total_minor(self) -> int:
        return self.fields["total_minor"]

    @property
    def prepaid_minor(self) -> int:
        return self.fields["prepaid_minor"]

    @property
    def payable_minor(self) -> int:
        return self.total_minor - self.prepaid_minor


# --- pure preparation ----------------------------------------------------------------------------------
def describe_late_terms(policy: LateFeePolicy, currency: str, as_of: date, locale: str | None) -> str:
    """The late-payment terms frozen at issue on ``as_of``, in the language of the customer's ``locale``
    (:func:`~duly.invoicing.documents.i18n.late_terms_in`: English customers keep
    :func:`duly.domain.late_fees.describe_policy`'s sentence), remembered (contracts often share a policy)."""
    return late_terms_in(policy, currency, as_of, locale)


@lru_cache(maxsize=8192)
def _totals(inputs: tuple[invoice_math.LineInput, ...], currency: str,
            allow_negative: bool) -> invoice_math.InvoiceTotals:
    """compute_totals, remembered: invoices of customers on the same plan share their arithmetic."""
    return invoice_math.compute_totals(inputs, currency, allow_negative=allow_negative)


def where_to_fill(customer: Customer, contract: Contract | None, missing: Sequence[str]) -> str:
    """Where each missing required field of a generated invoice is filled in
    (:func:`duly.domain.issuing.where_to_fill`)."""
    return issuing.where_to_fill(customer_facts(customer), contract_facts(contract), missing)


class IssueChecks:
    """What refuses one invoice of a bulk issue before anything is written, as the one-by-one path refuses it:
    a seller without the identifiers BR-CO-26 wants (checked once), and an invoice whose VAT must also be stated
    in an accounting currency with no exchange rate entered on or before ``issue_date`` (one query per currency).
    Call it on each :class:`PreparedInvoice`; the billing run leaves the customer of a refused one out, naming
    what to fix (its DomainError's message), and bills the rest."""

    def __init__(self, org: Organization, issue_date: date) -> None:
        self.org, self.issue_date = org, issue_date
        self._seller: DomainError | None | bool = False  # False: not checked yet
        self._rates: dict[str, DomainError | None] = {}

    def __call__(self, prep: PreparedInvoice) -> None:
        from .documents.snapshot import check_seller_identified
        from .exchange_rate_services import vat_accounting_currency, vat_accounting_entry

        if self._seller is False:
            try:
                check_seller_identified(self.org)
                self._seller = None
            except DomainError as exc:
                self._seller = exc
        if self._seller is not None:
            raise self._seller
        currency, tax = prep.fields["currency"], prep.fields["tax_total_minor"]
        if not tax or not vat_accounting_currency(self.org, currency):
            return
        if currency not in self._rates:
            try:
                vat_accounting_entry(self.org, currency, self.issue_date, tax)
                self._rates[currency] = None
            except DomainError as exc:
                self._rates[currency] = exc
        if self._rates[currency] is not None:
            raise self._rates[currency]


def prepare(org: Organization, item: BulkInvoice, *, issue_date: date, terms: PaymentTerms | None = None,
            late_terms_text: str | None = None, reference_rates: dict | None = None) -> PreparedInvoice:
    """Validate one invoice and compute its totals, without touching the database.

    What it becomes is planned by :func:`duly.domain.issuing.plan_issue`, exactly as
    :func:`~duly.invoicing.services.issue_invoice` plans a stored draft: this function only turns the plan
    into the rows :func:`issue_prepared` numbers and inserts.
    ``terms`` and ``late_terms_text`` (in the customer's language) may be given when the caller already built them
    for the contract and the customer's locale (they are otherwise derived from it exactly as :func:`~duly.invoicing.services.issue_invoice` does;
    a contract following the recorded statutory rates then needs ``reference_rates``: when not given they are
    read here, the one query this function may make).
    Raises :class:`~duly.domain.errors.CustomerNotActive`, :class:`~duly.domain.errors.CurrencyMismatch`,
    :class:`~duly.domain.errors.RequiredFieldMissing` or :class:`~duly.domain.errors.ValidationError`
    exactly like the one-by-one path.
    """
    customer, contract = item.customer, item.contract
    # The billing run's words (structured text) in the customer's language and formats, at issue.
    lines = in_language(item.lines, customer.locale)
    if isinstance(item.notes, Text) or any(a is not b for a, b in zip(lines, item.lines)):
        item = replace(item, lines=lines,
                       notes=render(item.notes, customer.locale) if isinstance(item.notes, Text) else item.notes)
    facts, under = customer_facts(customer), contract_facts(contract)
    currency = issuing.check_header(org.id, org.name, facts, under, item.kind, item.currency)
    if item.kind not in (Invoice.KIND_STANDARD, Invoice.KIND_DEPOSIT):
        raise ValidationError(f"The bulk path issues invoices and deposit invoices, not {item.kind!r}.")
    header = issuing.header_defaults(facts, under)
    inputs = tuple(_line_input(x) for x in item.lines)
    draft = issuing.DraftFacts(kind=item.kind, currency=currency, lines=inputs,
                               descriptions=tuple(x.description for x in item.lines), header=tuple(header.items()),
                               allow_negative=item.allow_negative)
    if terms is None:
        terms = terms_for(Invoice(customer=customer, contract=contract))

    def late() -> str:
        if late_terms_text is not None:
            return late_terms_text
        return describe_late_terms(late_policy_for(Invoice(contract=contract), reference_rates), currency, issue_date,
                                   customer.locale)

    plan = issuing.plan_issue(draft, facts, under, issuing.TermsFacts(terms), _NOTHING_PREPAID, _NO_CREDIT,
                              issue_date,
                              totals=lambda: _totals(inputs, currency, item.allow_negative),
                              due=lambda terms, day: terms_due(terms, day, customer.locale), late=late,
                              explain_fix=True)
    values: dict[str, Any] = {
        "organization_id": org.id,
        "customer_id": customer.id,
        "contract_id": contract.id if contract is not None else None,
        "locale": customer.locale,
        "service_period_start": item.service_period[0] if item.service_period else None,
        "service_period_end": item.service_period[1] if item.service_period else None,
        **header,
        "custom_fields": {},
        "notes": item.notes,
        "rf_reference": "",
        "related_invoice_id": None,
        "void_reason": "",
        "voided_at": None,
    }
    values.update((k, v) for k, v in plan.fields.items() if k not in _STATE)
    lifecycle.issued_row(values, plan)
    lines = [
        {
            "position": i,
            "description": line.description,
            "quantity": line.quantity,
            "unit": line.unit,
            "unit_price": line.unit_price,
            "discount_percent": line.discount_percent,
            "tax_category": line.tax_category,
            "tax_rate": line.tax_rate,
            "tax_exemption_reason": line.tax_exemption_reason,
            "period_start": line.period_start,
            "period_end": line.period_end,
            "explanation": line.explanation,
            "net_minor": net,
            "discount_minor": discount,
        }
        for i, (line, (net, discount)) in enumerate(zip(item.lines, plan.line_amounts), 1)
    ]
    prepared = PreparedInvoice(source=item, fields=values, totals=plan.totals, lines=lines, inputs=inputs, plan=plan)
    prepaid_minor = min(max(item.prepaid_minor, 0), values["total_minor"])
    if prepaid_minor or values["total_minor"] < 0:  # else the plan already has nothing prepaid
        set_prepaid(prepared, prepaid_minor)
    return prepared


_NOTHING_PREPAID, _NO_CREDIT = issuing.PrepaidFacts(), issuing.CreditFacts()
#: The state columns of a planned invoice, which only :mod:`duly.invoicing.lifecycle` writes.
_STATE = frozenset({"status", "paid_on", "paid_minor", "prepaid_minor"})


def set_prepaid(prepared: PreparedInvoice, prepaid_minor: int) -> None:
    """Deduct a deposit or retainer (BT-113) from a prepared invoice; fully covered, it is paid on issue
    (:func:`duly.domain.issuing.with_prepaid`)."""
    plan = issuing.with_prepaid(prepared.plan, issuing.PrepaidFacts(deposit_minor=prepaid_minor),
                                lines=prepared.inputs, allow_negative=prepared.source.allow_negative)
    if prepaid_minor:
        # The amount due (BT-115) as EN 16931 computes it: tax inclusive total − prepaid amount.
        prepared.totals = plan.totals
    prepared.plan = plan
    lifecycle.issued_row(prepared.fields, plan)


# --- writing -----------------------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def _columns(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields if not f.primary_key)


@lru_cache(maxsize=16)
def _defaults(model: type[models.Model]) -> tuple[tuple[str, bool, Callable[[], Any]], ...]:
    """(attname, auto_now(_add), default factory) of each non-primary-key column (``Field.get_default``)."""
    return tuple(
        (f.attname, bool(getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)), f.get_default)
        for f in model._meta.concrete_fields if not f.primary_key
    )


_UNSET: dict[tuple, list[tuple[str, bool, Callable[[], Any]]]] = {}


def _complete(model: type[models.Model], values: dict[str, Any], now) -> dict[str, Any]:
    """Fill the columns a caller did not set with their model defaults (``auto_now(_add)``: ``now``)."""
    key = (model, *values)  # a block's rows set the same columns: which are unset is found once
    unset = _UNSET.get(key)
    if unset is None:
        if len(_UNSET) > 256:
            _UNSET.clear()
        unset = _UNSET[key] = [d for d in _defaults(model) if d[0] not in values]
    for attname, auto, default in unset:
        values[attname] = now if auto else default()
    return values


def _attnames(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields)


def build_instances(model: type[models.Model], rows: Sequence[Sequence[Any]], *,
                    db: str | None = None) -> list[models.Model]:
    """Saved instances of ``model`` from rows of all its concrete columns (``concrete_fields`` order, the
    values as the database returned them, converted), as :meth:`Model.from_db` builds them, without its
    per-field ``setattr``: the values go into the instances' ``__dict__`` at once (a concrete field's
    attribute is a plain one). Falls back to ``from_db`` when a model has init signal receivers."""
    db = db or connection.alias
    names = _attnames(model)
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        return [model.from_db(db, names, list(row)) for row in rows]
    new = model.__new__
    result = []
    for row in rows:
        obj = new(model)
        state = obj.__dict__["_state"] = ModelState()
        state.adding, state.db = False, db
        obj.__dict__.update(zip(names, row))
        result.append(obj)
    return result


def fetch_instances(queryset: models.QuerySet) -> list[models.Model]:
    """``list(queryset)`` (all columns, no ``select_related``), built by :func:`build_instances`."""
    model = queryset.model
    return build_instances(model, fetch_rows(queryset.values_list(*_attnames(model))), db=queryset.db)


@dataclass
class InvoiceRows:
    """A block of prepared invoices as rows ready to insert: everything but their numbers, RF references and ids.

    Built by :func:`invoice_rows` (reads the customers' contacts, writes nothing: the billing run builds
    them in its planning processes) and written by :func:`write_invoice_rows` inside the issuing
    transaction, which only numbers them. Values are already adapted for the driver (``adapted_*``
    name the columns), and everything here pickles cheaply (no model instance).
    """

    #: Invoice rows, in :func:`_columns` (Invoice) order.
    invoices: list[list[Any]]
    #: (index of the line's invoice in ``invoices``, InvoiceLine row in :func:`_columns` order).
    lines: list[tuple[int, list[Any]]]
    #: Per invoice: (customer_id, kind, currency, total_minor, prepaid_minor).
    meta: list[tuple[int, str, str, int, int]]
    adapted_invoice: frozenset[str]
    adapted_line: frozenset[str]
    #: Indexes in ``invoices`` of those whose customers receive e-invoices through Peppol (checked once written:
    #: :func:`check_peppol_block`).
    peppol: list[int] = field(default_factory=list)


def invoice_rows(org: Organization, prepared: Sequence[PreparedInvoice], *, now) -> InvoiceRows:
    """The rows of prepared invoices (document snapshots frozen, defaults filled in, values adapted),
    unnumbered. ``now`` is their issue time. Sets each ``prepared.fields`` to the values written."""
    snapshots = _document_snapshots(org, prepared)
    invoice_columns = _columns(Invoice)
    for p, snapshot in zip(prepared, snapshots):
        p.fields["number"] = ""  # given at write time (see write_invoice_rows), with the RF reference
        p.fields["issued_at"] = now
        lifecycle.row_snapshot(p.fields, snapshot)
        _complete(Invoice, p.fields, now)
    invoice_row = operator.itemgetter(*invoice_columns)  # a row's values in column order, in one call
    invoices = [list(invoice_row(p.fields)) for p in prepared]
    line_columns = _columns(InvoiceLine)
    line_row = operator.itemgetter(*line_columns)
    lines: list[tuple[int, list[Any]]] = []
    for index, p in enumerate(prepared):
        for line in p.lines:
            line["invoice_id"] = None
            _complete(InvoiceLine, line, now)
            lines.append((index, list(line_row(line))))
    return InvoiceRows(
        invoices=invoices, lines=lines,
        meta=[(p.fields["customer_id"], p.fields["kind"], p.fields["currency"], p.fields["total_minor"],
               p.fields["prepaid_minor"]) for p in prepared],
        adapted_invoice=adapt_rows(Invoice, invoice_columns, invoices),
        adapted_line=adapt_rows(InvoiceLine, line_columns, [row for _, row in lines]),
        peppol=[i for i, p in enumerate(prepared) if p.source.customer.electronic_address],
    )


def _insert_invoice_rows(org: Organization, rows: InvoiceRows, issue_date: date) -> tuple[list[int], list[str]]:
    """Number the invoices of ``rows`` (one counter update) and insert them and their lines: (ids, numbers)."""
    if not connection.in_atomic_block:
        raise RuntimeError("invoices must be written inside the caller's transaction.")
    check_public_url()  # their documents will carry the customers' pay links
    numbers = take_numbers(org, "invoice", issue_date, len(rows.invoices))
    columns = _columns(Invoice)
    number_at, rf_at = columns.index("number"), columns.index("rf_reference")
    slug = org.slug
    for row, number in zip(rows.invoices, numbers):
        row[number_at] = number
        row[rf_at] = rf_for_invoice(slug, number)
    ids = insert_rows(Invoice, columns, rows.invoices, adapted=rows.adapted_invoice)
    invoice_id_at = _columns(InvoiceLine).index("invoice_id")
    line_rows = []
    for index, row in rows.lines:
        row[invoice_id_at] = ids[index]
        line_rows.append(row)
    insert_rows(InvoiceLine, _columns(InvoiceLine), line_rows, adapted=rows.adapted_line)
    return ids, numbers


class PeppolRefused(PeppolInvalid):
    """Invoices of a block whose customers receive e-invoices through Peppol and whose UBL would break the
    Peppol BIS Billing 3.0 rules (or, a French seller's business buyer, the French reform's BR-FR rules).
    ``refused`` maps each such customer's id to its invoice's :class:`~duly.domain.errors.PeppolInvalid` or
    :class:`~duly.domain.errors.BrFrInvalid` (which names the rules); the message is the first one's."""

    def __init__(self, refused: dict[int, EInvoiceInvalid]) -> None:
        first = next(iter(refused.values()))
        rule_ids = list(dict.fromkeys(r for error in refused.values() for r in error.context.get("rule_ids", [])))
        super().__init__(first.message, rule_ids=rule_ids)
        self.refused = refused


def check_peppol_block(ids: Sequence[int]) -> None:
    """Check the just-written invoices ``ids`` of customers with a Peppol electronic address (inside the
    issuing transaction) as :func:`~duly.invoicing.services.issue_invoice` checks one: they must pass the
    Peppol BIS Billing 3.0 rules. The caller gives only those (``InvoiceRows.peppol``): a block without Peppol
    customers costs nothing, and only Peppol customers' invoices are read and rendered. Raises :class:`PeppolRefused` naming every refused invoice's customer and rules: the
    caller's transaction rolls back (numbers included) and may write the block again without them."""
    from .documents.store import check_br_fr, check_peppol, in_french_reform

    if not ids:
        return
    refused: dict[int, EInvoiceInvalid] = {}
    peppol = Invoice.objects.filter(ids_in("id", list(ids))).exclude(customer__electronic_address="")
    for invoice in peppol.select_related("customer", "organization", "contract").order_by("id"):
        try:
            check_peppol(invoice)
            if in_french_reform(invoice):  # a French seller's business buyer: the reform's rules (BR-FR) too
                check_br_fr(invoice)
        except EInvoiceInvalid as exc:  # PeppolInvalid or BrFrInvalid
            refused.setdefault(invoice.customer_id, exc)
    if refused:
        raise PeppolRefused(refused)


def write_invoice_rows(org: Organization, rows: InvoiceRows, *, issue_date: date) -> tuple[list[int], list[str]]:
    """Number and write invoice rows (inside the caller's transaction); returns their (ids, numbers), in order.

    Available customer credit is applied to the new standard invoices, as :func:`issue_prepared` does
    (the invoices of customers with credit are read back for it: one query when nobody has any). The caller
    then checks the invoices of Peppol customers (:func:`check_peppol_block`) once the block is complete."""
    if not rows.invoices:
        return [], []
    ids, numbers = _insert_invoice_rows(org, rows, issue_date)
    payable = {pk: (customer_id, currency) for pk, (customer_id, kind, currency, total, prepaid) in zip(ids, rows.meta)
               if kind == Invoice.KIND_STANDARD and total - prepaid > 0}
    with_credit = _credit_balances({customer_id for customer_id, _ in payable.values()})
    if with_credit:
        invoices = Invoice.objects.filter(ids_in("id", [pk for pk, key in payable.items() if key in with_credit]))
        _apply_customer_credit(list(invoices.order_by("id")), issue_date, with_credit=with_credit)
    invoices_issued.send(sender=Invoice, organization=org, invoice_ids=list(ids))
    return ids, numbers


def issue_prepared(org: Organization, prepared: Sequence[PreparedInvoice], *, issue_date: date) -> list[Invoice]:
    """Number and write prepared invoices in bulk; returns the saved invoices (with their ids).

    Invoices are numbered in the order given. Available customer credit is applied to the new
    standard invoices, as :func:`~duly.invoicing.services.issue_invoice` does, and the invoices of customers
    with a Peppol address are checked as it checks them (:func:`check_peppol_block`).
    """
    if not prepared:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("issue_prepared must run inside the caller's transaction.")
    rows = invoice_rows(org, prepared, now=timezone.now())
    ids, numbers = _insert_invoice_rows(org, rows, issue_date)
    for p, pk, number in zip(prepared, ids, numbers):
        p.fields["id"], p.fields["number"] = pk, number
        p.fields["rf_reference"] = rf_for_invoice(org.slug, number)
        for line in p.lines:
            line["invoice_id"] = pk
    all_values = operator.itemgetter(*_attnames(Invoice))
    invoices = build_instances(Invoice, [all_values(p.fields) for p in prepared])
    for p, invoice in zip(prepared, invoices):
        p.invoice = invoice
    _apply_customer_credit([inv for inv in invoices if inv.kind == Invoice.KIND_STANDARD], issue_date)
    # raises PeppolRefused: the caller's transaction gives the block back
    check_peppol_block([pk for p, pk in zip(prepared, ids) if p.source.customer.electronic_address])
    invoices_issued.send(sender=Invoice, organization=org, invoice_ids=list(ids))
    return invoices


def _document_snapshots(org: Organization, prepared: Sequence[PreparedInvoice]) -> list[dict[str, Any]]:
    """What each invoice's documents will show, frozen as at :func:`~duly.invoicing.services.issue_invoice`
    (see :mod:`duly.invoicing.documents.snapshot`): one query for the block's contacts, a few for how the
    block's invoices will be paid, no rendering."""
    from duly.customers.models import Contact

    from .documents.snapshot import issue_snapshot, seller_snapshot

    contacts: dict[int, list[Contact]] = {}
    customer_ids = {p.fields["customer_id"] for p in prepared}
    for contact in Contact.objects.filter(ids_in("customer_id", customer_ids)).order_by().only(
            "id", "customer_id", "name", "email", "phone", "role"):
        contacts.setdefault(contact.customer_id, []).append(contact)
    seller = seller_snapshot(org)
    from .hooks import InstructionRequest, payment_instructions

    payments = payment_instructions([
        InstructionRequest(p.source.customer, p.source.contract, p.fields["kind"], p.fields["currency"],
                           p.fields["issue_date"], p.fields.get("due_date")) for p in prepared])
    from .exchange_rate_services import vat_accounting_entry

    return [
        issue_snapshot(org, p.source.customer, contacts.get(p.fields["customer_id"], ()), p.source.contract,
                       ap_contact=p.fields["ap_contact"], billing_address=p.fields["billing_address"], seller=seller,
                       payment=payment,
                       vat_accounting=vat_accounting_entry(org, p.fields["currency"], p.fields["issue_date"],
                                                           p.fields["tax_total_minor"]))
        for p, payment in zip(prepared, payments)
    ]


def _apply_customer_credit(invoices: list[Invoice], on: date, *,
                           with_credit: set[tuple[int, str]] | None = None) -> None:
    """Apply available customer credit (one query for the block, none when the caller read ``with_credit``,
    the (customer, currency) pairs with credit; a write only where there is credit).

    The credit an invoice gets at issue is frozen in its document snapshot ("already paid").
    """
    payable = [inv for inv in invoices if inv.payable_minor > 0]
    if not payable:
        return
    if with_credit is None:
        with_credit = _credit_balances({inv.customer_id for inv in payable})
    for inv in payable:
        if (inv.customer_id, inv.currency) in with_credit:
            applied = hooks.apply_customer_credit(inv, on=on)
            if applied:  # the invoice was issued unpaid: what the credit settled is what it has "already paid"
                lifecycle.freeze_paid_at_issue(inv, applied, query=True)


def _credit_balances(customer_ids: set[int]) -> set[tuple[int, str]]:
    """(customer, currency) pairs with a positive credit balance, among ``customer_ids`` (one query)."""
    if not customer_ids:
        return set()
    return hooks.credit_balances(customer_ids)
