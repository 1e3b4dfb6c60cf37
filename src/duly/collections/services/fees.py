"""Late fees and interest: assessed once per (invoice, level), on late-fee invoices.

An invoice's new charges are invoiced on their own late-fee invoice when they reach ``DULY_LATE_FEE_MINIMUM``
(default 5.00 in the currency). Smaller ones are pooled per customer and currency and invoiced together once the
pool reaches it; otherwise they are carried: nothing is recorded, their levels stay open, and the next run
charges them with what followed (:func:`duly.domain.late_fees.split_by_minimum`).

``assess_late_fees`` is idempotent: each fee is charged at most once per (invoice, level) — a
unique constraint, not luck — so running it twice, or two runs at once, changes nothing the
second time. Each overdue invoice is handled in its own transaction: a failure on one never
half-writes another. The dunning run (:mod:`.run`) calls it for the invoices of a step carrying
``assess_late_fee``; the batch path (``duly fees assess``, :func:`duly.collections.tasks.scheduled_late_fees`)
for every overdue invoice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Sequence

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Prefetch, Q
from django.utils.translation import gettext, gettext_lazy, ngettext, override, pgettext_lazy

from duly.customers import services as customers_services
from duly.customers.models import Customer, Organization
from duly.db import partition as partitions
from duly.domain import late_fees
from duly.domain.bounds import check_date_range
from duly.domain.errors import DomainError, IssueDateBeforeLastIssued
from duly.domain.money import to_minor
from duly.invoicing import services as invoicing
from duly.invoicing.models import Invoice
from duly.messaging.formatting import Formatter, language_of
from duly.payments.models import Allocation
from duly.translation import render

from ..interest import open_item_for
from ..models import LateFee

FEE_TAX_CATEGORY = "O"
#: Why a late-fee line carries no VAT (English message id; the line states it in the customer's language).
FEE_TAX_REASON = gettext_lazy("Late-payment interest and compensation are not subject to VAT")

#: What each kind of late charge is called on its line (English message ids, translated in duly/collections/locale).
FEE_TITLES = {
    "fixed_fee": pgettext_lazy("late fee", "Late-payment fee"),
    "compensation": pgettext_lazy("late fee", "Fixed compensation for recovery costs"),
    "interest": pgettext_lazy("late fee", "Late-payment interest"),
    "": pgettext_lazy("late fee", "Late-payment charge"),
}


@dataclass
class FeeRunResult:
    as_of: date
    assessed: list[tuple[str, str, str, str]] = field(default_factory=list)  # (invoice, level, amount, currency)
    fee_invoices: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (invoice, reason)

    def summary(self) -> str:
        if not self.assessed:
            return f"No new late fees as of {self.as_of.isoformat()}."
        return (f"Assessed {len(self.assessed)} fee(s) on {len(self.fee_invoices)} late-fee invoice(s) as of "
                f"{self.as_of.isoformat()}: " + ", ".join(self.fee_invoices))

    def as_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "assessed": [dict(zip(("invoice", "level", "amount", "currency"), row)) for row in self.assessed],
            "fee_invoices": self.fee_invoices,
            "skipped": [dict(zip(("invoice", "reason"), row)) for row in self.skipped],
        }


def late_fee_candidates(org: Organization, *, as_of: date, invoice_ids: Sequence[int] | None = None,
                        partition: tuple[int, int] | None = None):
    """Invoices that may still owe a late-fee level as of ``as_of`` (a queryset, oldest due first).

    Open invoices past their due date, and invoices paid in full after their due date that were
    not assessed since the payment (once paid, the final partial interest month and any fixed fee
    are final: one assessment on or after the payment day charges everything that is left).
    Invoices settled in part by a credit note are left to a person: the corrected amount decides.
    """
    assessed_since_paid = Exists(LateFee.objects.filter(invoice=OuterRef("pk"), assessed_on__gt=OuterRef("paid_on")))
    credited = Exists(Allocation.objects.filter(invoice=OuterRef("pk"), credit_note__isnull=False))
    late_paid = (Q(status=Invoice.PAID, paid_on__isnull=False, paid_on__gt=F("due_date"), paid_on__lte=as_of)
                 & ~assessed_since_paid & ~credited)
    qs = (
        Invoice.objects.filter(Q(status__in=Invoice.OPEN_STATUSES) | late_paid,
                               organization=org, due_date__lt=as_of,
                               kind__in=[Invoice.KIND_STANDARD, Invoice.KIND_DEPOSIT], contract__isnull=False)
        .exclude(contract__late_fee_kind="none")
        .select_related("contract", "customer", "organization")
        .prefetch_related("allocations", Prefetch("late_fees", queryset=LateFee.objects.only("invoice_id", "level")))
        .order_by("due_date", "id")
    )
    if invoice_ids is not None:
        qs = qs.filter(pk__in=list(invoice_ids))
    return partitions.filter_queryset(qs, partition)


def assess_late_fees(org: Organization, *, as_of: date, invoice_ids: Sequence[int] | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     partition: tuple[int, int] | None = None) -> FeeRunResult:
    """Assess the late fees and interest the contracts allow as of ``as_of`` (the manual/batch path).

    Covers open overdue invoices and invoices paid late (their last interest month up to the
    payment day, a fixed fee never charged while they were open); see :func:`late_fee_candidates`.
    Each level is charged once (unique per invoice and level), so a rerun changes nothing. The
    dunning run calls this for the invoices of a step carrying ``assess_late_fee``.
    ``progress(done, total)`` is called after each invoice. ``partition``: only the invoices of that partition's
    customers (:mod:`duly.db.partition`; fees are charged per customer, so partitions never share one).
    """
    check_date_range(as_of, "The assessment date")
    result = FeeRunResult(as_of=as_of)
    invoices = list(late_fee_candidates(org, as_of=as_of, invoice_ids=invoice_ids, partition=partition))
    if invoices:  # numbers follow issue dates: a run dated before the last invoice issued is refused whole
        invoicing.check_issue_date(org, "invoice", as_of, hint=lambda last: (
            f"Assess late fees as of {last.isoformat()} or later (interest then runs to that day)."))
    rates = customers_services.reference_rates_for_contracts(inv.contract for inv in invoices)  # one query at most
    total = len(invoices)
    pending: dict[tuple[int, str], list[tuple[Invoice, list]]] = {}
    for done, invoice in enumerate(invoices, start=1):
        fees = _fees_of(invoice, as_of, result, rates)
        if fees:
            pending.setdefault((invoice.customer_id, invoice.currency), []).append((invoice, fees))
        if progress is not None:
            progress(done, total)
    minimum = minimum_fee_invoice()
    for charges in pending.values():
        groups, carried = late_fees.split_by_minimum(charges, minimum)
        for group in groups:
            _charge_group(org, group, as_of, result, rates)
        for invoice, fees in carried:
            amount = sum(f.amount for f in fees)
            result.skipped.append((invoice.number, (
                f"late charges of {amount} {invoice.currency} are under the minimum of {minimum} for a fee invoice: "
                "carried to the next one")))
    return result


@dataclass(frozen=True)
class CarriedCharge:
    """A late charge due and not invoiced because it is under the minimum for a fee invoice (carried)."""

    invoice_number: str
    currency: str
    kind: str
    level: str
    amount: object  # Decimal, in the invoice's currency
    explanation: str


def carried_late_fees(customer: Customer, *, as_of: date, invoice_ids: Sequence[int]) -> list[CarriedCharge]:
    """The late charges of ``customer``'s invoices ``invoice_ids`` (the statement: its open overdue items) as of
    ``as_of`` that an assessment on that day would carry (under ``DULY_LATE_FEE_MINIMUM``, alone and pooled per
    currency): what the statement of account lists as carried. Reads only (no query without ids); nothing is
    recorded (the next assessment charges them with what follows)."""
    ids = list(invoice_ids)
    invoices = [inv for inv in late_fee_candidates(customer.organization, as_of=as_of, invoice_ids=ids)
                if inv.customer_id == customer.pk] if ids else []
    if not invoices:
        return []
    rates = customers_services.reference_rates_for_contracts(inv.contract for inv in invoices)
    scratch = FeeRunResult(as_of=as_of)
    pending: dict[str, list[tuple[Invoice, list]]] = {}
    for invoice in invoices:
        fees = _fees_of(invoice, as_of, scratch, rates)
        if fees:
            pending.setdefault(invoice.currency, []).append((invoice, fees))
    minimum = minimum_fee_invoice()
    carried = []
    for currency in sorted(pending):
        for invoice, fees in late_fees.split_by_minimum(pending[currency], minimum)[1]:
            carried += [CarriedCharge(invoice.number, invoice.currency, f.kind, f.level, f.amount, f.explanation)
                        for f in fees]
    return carried


def minimum_fee_invoice():
    """Late charges under this total are not invoiced alone (``DULY_LATE_FEE_MINIMUM``, default 5.00)."""
    from django.conf import settings

    return getattr(settings, "DULY_LATE_FEE_MINIMUM", late_fees.MINIMUM_FEE_INVOICE)


def _fees_of(invoice: Invoice, as_of: date, result: FeeRunResult, rates: dict) -> list:
    """The new fees ``invoice`` owes as of ``as_of`` (none when it waits, with the reason in ``result``)."""
    item = open_item_for(invoice, {f.level for f in invoice.late_fees.all()})
    try:
        fees = late_fees.assess(item, invoice.contract.late_fee_policy(rates), as_of)
    except DomainError as exc:  # e.g. no reference rate recorded for a semester: this invoice waits, others go on
        result.skipped.append((invoice.number, exc.message))
        return []
    if fees and invoice.customer.status == Customer.STATUS_TERMINATED and invoice.is_open:
        result.skipped.append((invoice.number, "customer terminated: fees are claimed with the final statement"))
        return []
    return fees


def _charge_group(org: Organization, group: list, as_of: date, result: FeeRunResult, rates: dict) -> None:
    numbers = ", ".join(invoice.number for invoice, _ in group)
    try:
        fee_invoice = _charge(org, group, as_of, rates)
    except IntegrityError:
        result.skipped.append((numbers, "already assessed by a concurrent run"))
        return
    except IssueDateBeforeLastIssued:
        raise  # a later invoice was issued meanwhile: every other fee of this run would be refused too
    except DomainError as exc:
        result.skipped.append((numbers, exc.message))
        return
    result.fee_invoices.append(fee_invoice.number)
    result.assessed += [(invoice.number, f.level, str(f.amount), f.currency) for invoice, fees in group for f in fees]


@transaction.atomic
def _charge(org: Organization, group: list, as_of: date, rates: dict) -> Invoice:
    """Record the fees (unique per invoice and level) and issue one late-fee invoice for them, referencing the
    overdue invoice (the first one, when small charges of several invoices are invoiced together)."""
    first = group[0][0]
    LateFee.objects.bulk_create([
        LateFee(organization=org, invoice=invoice, level=f.level, kind=f.kind,
                amount_minor=to_minor(f.amount, invoice.currency), currency=invoice.currency,
                days_late=f.days_late, explanation=f.explanation, assessed_on=as_of)
        for invoice, fees in group for f in fees
    ])
    language = language_of(first.customer.locale)
    fmt = Formatter.for_locale(first.customer.locale)
    with override(language):
        reason = str(FEE_TAX_REASON)
        lines = [
            invoicing.LineData(
                description=gettext("{charge} — invoice {number} due {date}").format(
                    charge=str(FEE_TITLES.get(f.kind, FEE_TITLES[""])), number=invoice.number,
                    date=fmt.date(invoice.due_date)),
                quantity=1, unit_price=f.amount, tax_category=FEE_TAX_CATEGORY, tax_rate=0,
                tax_exemption_reason=reason,
                explanation=render(f.text, first.customer.locale) if f.text is not None else f.explanation,
            )
            for invoice, fees in group for f in fees
        ]
        notes = ngettext("Late-payment charges on invoice {invoices}.", "Late-payment charges on invoices {invoices}.",
                         len(group)).format(invoices=", ".join(
                             gettext("{number} (due {date})").format(number=invoice.number,
                                                                     date=fmt.date(invoice.due_date))
                             for invoice, _ in group))
    draft = invoicing.create_draft(
        org, first.customer, lines, kind=Invoice.KIND_LATE_FEE, contract=first.contract,
        currency=first.currency, related_invoice=first, notes=notes,
        po_number=first.po_number, buyer_reference=first.buyer_reference, cost_centre=first.cost_centre,
        ap_contact=first.ap_contact, billing_address=first.billing_address,
        custom_fields=first.custom_fields,
    )
    fee_invoice = invoicing.issue_invoice(org, draft.pk, issue_date=as_of, reference_rates=rates)
    for invoice, fees in group:
        LateFee.objects.filter(invoice=invoice, level__in=[f.level for f in fees]).update(fee_invoice=fee_invoice)
    return fee_invoice
