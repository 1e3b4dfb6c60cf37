"""Interest accrued to a day on overdue invoices and not invoiced yet: what reminders, statements and the pay
page show beside what has been invoiced.

Late-payment interest is invoiced once per complete calendar month (:mod:`duly.domain.late_fees`), so the
days of the current month, and of months a fee run has not charged yet, are owed but appear on no invoice.
:func:`accrued_interest` computes them day by day up to a given day with
:func:`duly.domain.late_fees.accrued_interest`, from the contract's agreed policy, the payments applied
up to that day and the interest months charged by then. It writes nothing and never invoices: the months
charged are the late-fee invoices, listed as such.

A fixed number of queries whatever the number of invoices (the invoices with their contracts, their
allocations, their late fees, the reference rates); none when no invoice can accrue interest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Iterable

from django.db.models import Prefetch

from duly.customers.services import reference_rates_for_contracts
from duly.domain import late_fees
from duly.domain.errors import DomainError
from duly.domain.money import from_minor
from duly.invoicing.models import Invoice

from .models import LateFee

log = logging.getLogger("duly.collections")

#: Kinds of invoices that bear late-payment interest (not late-fee invoices themselves).
INTEREST_BEARING = (Invoice.KIND_STANDARD, Invoice.KIND_DEPOSIT)
#: Late-fee kinds that never charge interest.
NO_INTEREST = ("none", "fixed_fee")


@dataclass(frozen=True)
class InvoiceInterest:
    invoice_id: int
    currency: str
    amount: Decimal
    days: int
    first_day: date
    last_day: date
    #: The worked arithmetic, month by month.
    explanation: str


def open_item_for(invoice: Invoice, assessed_levels: set[str]) -> late_fees.OpenItem:
    """The invoice as the late-fee rules see it (its allocations and late fees prefetched): what is unpaid,
    the payments applied and when, the levels already charged. Late-fee assessment uses it too."""
    payments = sorted(
        (a.applied_on, from_minor(a.amount_minor, invoice.currency)) for a in invoice.allocations.all()
    )
    return late_fees.OpenItem(
        invoice_id=invoice.pk,
        currency=invoice.currency,
        due_date=invoice.due_date,
        unpaid_principal=from_minor(invoice.payable_minor, invoice.currency) - sum(
            (amt for _, amt in payments), from_minor(0, invoice.currency)),
        principal=from_minor(invoice.payable_minor, invoice.currency),
        payments=tuple(payments),
        assessed_levels=frozenset(assessed_levels),
    )


def accrued_interest(organization_id: int, invoice_ids: Iterable[int], as_of: date, *,
                     explain: bool = True) -> dict[int, InvoiceInterest]:
    """Interest accrued up to ``as_of`` (included) and not invoiced by then, per invoice (only those with some).
    ``explain=False``: the explanations are left empty (a message shows only the amounts).

    An invoice whose policy cannot be applied (a reference rate not recorded for a semester) is left out
    and logged: its terms already say the rate is missing.
    """
    ids = sorted(set(invoice_ids))
    if not ids:
        return {}
    invoices = list(
        Invoice.objects.filter(organization_id=organization_id, pk__in=ids, kind__in=INTEREST_BEARING,
                               due_date__lt=as_of, contract__isnull=False)
        .exclude(contract__late_fee_kind__in=NO_INTEREST)
        .select_related("contract")
        .prefetch_related("allocations", Prefetch("late_fees", queryset=LateFee.objects.filter(
            assessed_on__lte=as_of).only("invoice_id", "level")))
    )
    if not invoices:
        return {}
    rates = reference_rates_for_contracts(inv.contract for inv in invoices)
    found = {}
    for invoice in invoices:
        try:
            accrued = late_fees.accrued_interest(
                open_item_for(invoice, {fee.level for fee in invoice.late_fees.all()}),
                invoice.contract.late_fee_policy(rates), as_of, explain=explain)
        except DomainError as exc:
            log.info("no accrued interest shown on %s: %s", invoice.number, exc.message)
            continue
        if accrued.amount > 0:
            found[invoice.pk] = InvoiceInterest(invoice.pk, invoice.currency, accrued.amount, accrued.days,
                                                accrued.first_day, accrued.last_day, accrued.explanation)
    return found


def may_accrue(invoice: Invoice, as_of: date) -> bool:
    """Whether ``invoice`` can bear interest accrued by ``as_of`` at all (read from the row: no query)."""
    return (invoice.kind in INTEREST_BEARING and invoice.contract_id is not None and invoice.due_date is not None
            and invoice.due_date < as_of)


def totals(accrued: Iterable[InvoiceInterest]) -> dict[str, Decimal]:
    """Accrued interest per currency (never summed across currencies)."""
    out: dict[str, Decimal] = {}
    for item in accrued:
        out[item.currency] = out.get(item.currency, Decimal(0)) + item.amount
    return out
