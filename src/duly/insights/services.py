"""Accounts receivable reports: customer balance, statement of account, aging, DSO, days late.

Read-only: these functions never write. Every query is scoped to one organization, and amounts in
different currencies are never added together.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

from duly.customers.models import Customer, Organization
from duly.domain import aging
from duly.domain.money import from_minor, round_money
from duly.invoicing.models import Invoice

RECEIVABLE_KINDS = (Invoice.KIND_STANDARD, Invoice.KIND_DEPOSIT, Invoice.KIND_LATE_FEE)


def _open_items(org: Organization, customer: Customer | None = None, as_of: date | None = None):
    qs = (
        Invoice.objects.filter(organization=org, status__in=Invoice.OPEN_STATUSES, kind__in=RECEIVABLE_KINDS)
        .select_related("customer")
        .order_by("customer__name", "due_date", "id")
    )
    if customer is not None:
        qs = qs.filter(customer=customer)
    if as_of is not None:
        qs = qs.filter(issue_date__lte=as_of)
    return qs


def _as_open_invoice(inv: Invoice) -> aging.OpenInvoice:
    return aging.OpenInvoice(
        customer_id=inv.customer_id, invoice_id=inv.pk, number=inv.number, currency=inv.currency,
        issue_date=inv.issue_date, due_date=inv.due_date, total=from_minor(inv.payable_minor, inv.currency),
        open_amount=inv.balance,
    )


def aging_report(org: Organization, *, as_of: date) -> dict:
    """Aged receivables as a JSON-ready dict: bucket totals per customer and overall, and the total open."""
    invoices = list(_open_items(org, as_of=as_of))
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


def customer_balance(customer: Customer) -> dict[str, Decimal]:
    """Open receivable minus unapplied credit, per currency."""
    from duly.payments.models import CreditEntry

    balances: dict[str, int] = defaultdict(int)
    for inv in _open_items(customer.organization, customer):
        balances[inv.currency] += inv.balance_minor
    for row in CreditEntry.objects.filter(customer=customer).values("currency").annotate(s=Sum("amount_minor")):
        balances[row["currency"]] -= row["s"] or 0
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


def statement_of_account(customer: Customer, *, as_of: date) -> dict:
    """Open items with their aging bucket, bucket totals and credit, per currency."""
    from duly.payments.models import CreditEntry

    lines = []
    for inv in _open_items(customer.organization, customer, as_of=as_of):
        days = aging.days_past_due(inv.due_date, as_of)
        lines.append(StatementLine(inv.number, inv.issue_date, inv.due_date, inv.currency,
                                   from_minor(inv.payable_minor, inv.currency), inv.balance, days,
                                   aging.bucket_for(days)))
    report = aging.age_buckets([_as_open_invoice(i) for i in _open_items(customer.organization, customer,
                                                                         as_of=as_of)], as_of)
    credit = {
        row["currency"]: from_minor(row["s"], row["currency"])
        for row in CreditEntry.objects.filter(customer=customer, created_on__lte=as_of)
        .values("currency").annotate(s=Sum("amount_minor")) if row["s"]
    }
    return {
        "customer": customer,
        "as_of": as_of,
        "lines": lines,
        "buckets": {cur: {b: round_money(v, cur) for b, v in bt.amounts.items()}
                    for cur, bt in report.overall.items()},
        "total_open": {cur: bt.total for cur, bt in report.overall.items()},
        "credit": credit,
    }


def dso(org: Organization, *, as_of: date, days: int = 90) -> dict[str, Decimal | None]:
    """Days sales outstanding per currency over the ``days`` before ``as_of``."""
    start = as_of - timedelta(days=days)
    ar = defaultdict(int)
    for inv in _open_items(org, as_of=as_of).select_related(None).only("currency", "total_minor", "prepaid_minor",
                                                                       "paid_minor"):
        ar[inv.currency] += inv.balance_minor
    sales = defaultdict(int)
    issued = Invoice.objects.filter(organization=org, issue_date__gt=start, issue_date__lte=as_of).exclude(
        status=Invoice.VOID)
    for row in issued.values("currency", "kind").annotate(s=Sum("total_minor")):
        sign = -1 if row["kind"] == Invoice.KIND_CREDIT_NOTE else 1
        sales[row["currency"]] += sign * (row["s"] or 0)
    return {
        cur: aging.dso(from_minor(ar.get(cur, 0), cur), from_minor(max(sales.get(cur, 0), 0), cur), days)
        for cur in sorted(set(ar) | set(sales))
    }


def days_late(org: Organization, *, customer: Customer | None = None,
              since: date | None = None) -> dict[str, aging.DaysLate]:
    """Average days late of paid invoices (simple and amount-weighted), per currency."""
    qs = Invoice.objects.filter(organization=org, status=Invoice.PAID, kind__in=RECEIVABLE_KINDS,
                                paid_on__isnull=False, due_date__isnull=False)
    if customer is not None:
        qs = qs.filter(customer=customer)
    if since is not None:
        qs = qs.filter(Q(issue_date__gte=since))
    by_currency: dict[str, list] = defaultdict(list)
    for due, paid, total, cur in qs.values_list("due_date", "paid_on", "total_minor", "currency"):
        by_currency[cur].append((due, paid, from_minor(total, cur)))
    return {cur: aging.average_days_late(items) for cur, items in sorted(by_currency.items())}
