"""Accounts receivable reports: customer balance, statement of account, aging, DSO, days late.

Read-only: these functions never write. Every query is scoped to one organization, and amounts in
different currencies are never added together.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import BigIntegerField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from duly.customers.models import Customer, Organization
from duly.domain import aging
from duly.domain.money import from_minor, round_money
from duly.invoicing.models import PAYABLE_MINOR, Invoice

RECEIVABLE_KINDS = (Invoice.KIND_STANDARD, Invoice.KIND_DEPOSIT, Invoice.KIND_LATE_FEE)
#: Statuses an issued invoice can have; void and uncollectible ones were open until they were closed.
ISSUED_STATUSES = (Invoice.ISSUED, Invoice.PARTIALLY_PAID, Invoice.PAID, Invoice.VOID, Invoice.UNCOLLECTIBLE)
CLOSED_STATUSES = (Invoice.VOID, Invoice.UNCOLLECTIBLE)


def _open_items(org: Organization, customer: Customer | None = None):
    """Invoices open today (current status and balance)."""
    qs = (
        Invoice.objects.filter(organization=org, status__in=Invoice.OPEN_STATUSES, kind__in=RECEIVABLE_KINDS)
        .select_related("customer")
        .order_by("customer__name", "due_date", "id")
    )
    if customer is not None:
        qs = qs.filter(customer=customer)
    return qs


def end_of_day(org: Organization, day: date) -> datetime:
    """The first instant after ``day`` in the organization's time zone (for comparing timestamps with a date)."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=ZoneInfo(org.timezone))


def _sum_minor(qs: QuerySet) -> Coalesce:
    total = qs.order_by().values("invoice").annotate(s=Sum("amount_minor")).values("s")
    return Coalesce(Subquery(total, output_field=BigIntegerField()), Value(0), output_field=BigIntegerField())


def open_items_at(org: Organization, *, as_of: date, customer: Customer | None = None) -> QuerySet:
    """Receivables as they stood at the end of ``as_of``, each annotated with ``open_at_minor``. One query.

    An invoice counts when it was issued on or before ``as_of`` and not yet void or written off by then
    (``voided_at`` in the organization's time zone). Its open amount is what was payable (total − prepaid
    amount + rounding amount, EN 16931 BT-115) less every
    allocation (payments, customer credit, credit notes) applied on or before ``as_of``; parts a later
    refund took back still count as paid on ``as_of``. Invoices with nothing open are left out.
    """
    from duly.payments.models import Allocation, RefundedAllocation

    paid = _sum_minor(Allocation.objects.filter(invoice=OuterRef("pk"), applied_on__lte=as_of))
    refunded_later = _sum_minor(RefundedAllocation.objects.filter(
        invoice=OuterRef("pk"), allocated_on__lte=as_of, refund__refunded_on__gt=as_of))
    closed_by_then = Q(status__in=CLOSED_STATUSES) & (
        Q(voided_at__isnull=True) | Q(voided_at__lt=end_of_day(org, as_of)))
    qs = (
        Invoice.objects.filter(organization=org, kind__in=RECEIVABLE_KINDS, status__in=ISSUED_STATUSES,
                               issue_date__lte=as_of)
        .exclude(closed_by_then)
        .annotate(open_at_minor=PAYABLE_MINOR - paid - refunded_later)
        .exclude(open_at_minor=0)
        .select_related("customer")
        .order_by("customer__name", "due_date", "id")
    )
    if customer is not None:
        qs = qs.filter(customer=customer)
    return qs


def _as_open_invoice(inv: Invoice) -> aging.OpenInvoice:
    return aging.OpenInvoice(
        customer_id=inv.customer_id, invoice_id=inv.pk, number=inv.number, currency=inv.currency,
        issue_date=inv.issue_date, due_date=inv.due_date, total=from_minor(inv.payable_minor, inv.currency),
        open_amount=from_minor(inv.open_at_minor, inv.currency),
    )


def aging_report(org: Organization, *, as_of: date) -> dict:
    """Aged receivables as of ``as_of`` as a JSON-ready dict: bucket totals per customer and overall, total open."""
    invoices = list(open_items_at(org, as_of=as_of))
    report = aging.age_buckets([_as_open_invoice(i) for i in invoices], as_of)
    customers = {i.customer_id: i.customer for i in invoices}

    def buckets(bt: aging.BucketTotals) -> dict:
        return {b: str(round_money(bt.amounts[b], bt.currency)) for b in aging.BUCKETS}

    rows = []
    for cust_id, per_currency in report.by_customer.items():
        c = customers[cust_id]
        for currency, bt in sorted(per_currency.items()):
            rows.append({"code": c.code, "name": c.name, "currency": currency, "buckets": buckets(bt),
                         "total_open": str(round_money(bt.total, currency)),
                         "overdue": str(round_money(bt.overdue, currency)), "invoices": bt.count})
    rows.sort(key=lambda r: (r["name"], r["currency"]))
    return {
        "as_of": as_of.isoformat(),
        "organization": org.slug,
        "buckets": list(aging.BUCKETS),
        "customers": rows,
        "totals": {cur: {"buckets": buckets(bt), "total_open": str(round_money(bt.total, cur)),
                         "overdue": str(round_money(bt.overdue, cur)),
                         "invoices": bt.count}
                   for cur, bt in sorted(report.overall.items())},
    }


def _credit_minor(customer: Customer) -> dict[str, int]:
    from duly.payments.models import CreditEntry

    return {row["currency"]: row["s"] or 0
            for row in CreditEntry.objects.filter(customer=customer).order_by().values("currency")
            .annotate(s=Sum("amount_minor"))}


def customer_credit(customer: Customer) -> dict[str, Decimal]:
    """Unapplied customer credit (overpayments, credit kept on account), per currency (none: left out)."""
    return {cur: from_minor(v, cur) for cur, v in sorted(_credit_minor(customer).items()) if v}


def customer_balance(customer: Customer) -> dict[str, Decimal]:
    """Open receivable minus unapplied credit, per currency."""
    balances: dict[str, int] = defaultdict(int)
    for inv in _open_items(customer.organization, customer):
        balances[inv.currency] += inv.balance_minor
    for currency, credit in _credit_minor(customer).items():
        balances[currency] -= credit
    return {cur: from_minor(v, cur) for cur, v in sorted(balances.items()) if v}


@dataclass(frozen=True)
class StatementLine:
    number: str
    issue_date: date
    due_date: date | None
    currency: str
    total: Decimal
    open_amount: Decimal
    days_past_due: int
    bucket: str
    #: Late-payment interest accrued on it up to the statement date and not invoiced by then (never part of
    #: ``open_amount``: the interest invoiced is on the late-fee invoices, lines of their own).
    interest: Decimal = Decimal(0)


def statement_of_account(customer: Customer, *, as_of: date) -> dict:
    """Open items as of ``as_of`` with their aging bucket, bucket totals and credit, per currency.

    ``retainer`` is the customer's retainer (prepaid) balance at the end of ``as_of`` in each currency
    they have a retainer in (:func:`duly.billing.retainers.retainer_balances`); empty without one.
    ``interest`` is the late-payment interest accrued up to ``as_of`` and not invoiced by then, per
    currency (:mod:`duly.collections.interest`); each line carries its own.
    ``carried`` lists the late charges of the overdue open items due by ``as_of`` and carried because they are
    under the minimum for a fee invoice (:func:`duly.collections.services.carried_late_fees`), and ``carried_total`` their total per
    currency: they are invoiced with the customer's next late charges.
    """
    from duly.billing.retainers import retainer_balances
    from duly.collections.interest import accrued_interest, may_accrue, totals
    from duly.collections.services import carried_late_fees
    from duly.payments.models import CreditEntry

    invoices = list(open_items_at(customer.organization, as_of=as_of, customer=customer))
    accrued = accrued_interest(customer.organization_id, [inv.pk for inv in invoices if may_accrue(inv, as_of)],
                               as_of)  # no query when nothing is overdue
    lines = []
    for inv in invoices:
        days = aging.days_past_due(inv.due_date, as_of)
        interest = accrued[inv.pk].amount if inv.pk in accrued else round_money(Decimal(0), inv.currency)
        lines.append(StatementLine(inv.number, inv.issue_date, inv.due_date, inv.currency,
                                   from_minor(inv.payable_minor, inv.currency),
                                   from_minor(inv.open_at_minor, inv.currency), days, aging.bucket_for(days),
                                   interest))
    report = aging.age_buckets([_as_open_invoice(i) for i in invoices], as_of)
    credit = {
        row["currency"]: from_minor(row["s"], row["currency"])
        for row in CreditEntry.objects.filter(customer=customer, created_on__lte=as_of)
        .values("currency").annotate(s=Sum("amount_minor")) if row["s"]
    }
    carried = carried_late_fees(customer, as_of=as_of,  # no query when nothing is overdue
                                invoice_ids=[inv.pk for inv, line in zip(invoices, lines) if line.days_past_due > 0])
    carried_total: dict[str, Decimal] = {}
    for charge in carried:
        carried_total[charge.currency] = carried_total.get(charge.currency, Decimal(0)) + charge.amount
    return {
        "customer": customer,
        "as_of": as_of,
        "lines": lines,
        "buckets": {cur: {b: round_money(v, cur) for b, v in bt.amounts.items()}
                    for cur, bt in report.overall.items()},
        "total_open": {cur: bt.total for cur, bt in report.overall.items()},
        "credit": credit,
        "retainer": {cur: b.balance for (_, cur), b in retainer_balances([customer.pk], as_of=as_of).items()},
        "interest": totals(accrued.values()),
        "carried": carried,
        "carried_total": carried_total,
    }


def dso(org: Organization, *, as_of: date, days: int = 90) -> dict[str, Decimal | None]:
    """Days sales outstanding per currency: receivables open on ``as_of`` over the sales of the ``days`` before."""
    start = as_of - timedelta(days=days)
    ar: dict[str, int] = defaultdict(int)
    for currency, open_minor in open_items_at(org, as_of=as_of).select_related(None).order_by().values_list(
            "currency", "open_at_minor"):
        ar[currency] += open_minor
    sales: dict[str, int] = defaultdict(int)
    voided_by_then = Q(status=Invoice.VOID) & (Q(voided_at__isnull=True) | Q(voided_at__lt=end_of_day(org, as_of)))
    issued = (Invoice.objects.filter(organization=org, status__in=ISSUED_STATUSES, issue_date__gt=start,
                                     issue_date__lte=as_of)
              .exclude(voided_by_then).order_by())
    for row in issued.values("currency", "kind").annotate(s=Sum("total_minor")):
        sign = -1 if row["kind"] == Invoice.KIND_CREDIT_NOTE else 1
        sales[row["currency"]] += sign * (row["s"] or 0)
    return {
        cur: aging.dso(from_minor(ar.get(cur, 0), cur), from_minor(max(sales.get(cur, 0), 0), cur), days)
        for cur in sorted(set(ar) | set(sales))
    }


def days_late(org: Organization, *, as_of: date, customer: Customer | None = None,
              since: date | None = None) -> dict[str, aging.DaysLate]:
    """Average days late of the invoices paid in full on or before ``as_of`` (simple and amount-weighted), per currency.

    ``since`` keeps only invoices issued on or after that date.
    """
    qs = Invoice.objects.filter(organization=org, status=Invoice.PAID, kind__in=RECEIVABLE_KINDS,
                                paid_on__isnull=False, paid_on__lte=as_of, due_date__isnull=False).order_by()
    if customer is not None:
        qs = qs.filter(customer=customer)
    if since is not None:
        qs = qs.filter(issue_date__gte=since)
    by_currency: dict[str, list] = defaultdict(list)
    for due, paid, total, cur in qs.values_list("due_date", "paid_on", "total_minor", "currency"):
        by_currency[cur].append((due, paid, from_minor(total, cur)))
    return {cur: aging.average_days_late(items) for cur, items in sorted(by_currency.items())}
