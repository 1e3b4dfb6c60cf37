"""Snapshot readers of the staff dashboard: grouped SQL reads of one organization, handed to the pure rules of
:mod:`duly.domain.kpis`, :mod:`duly.domain.aging` and :mod:`duly.domain.forecast`.

Read-only. Every query is scoped to one organization and aggregated in the database (grouped by day, currency
or customer), never one query per invoice: the page stays fast with 100,000 open invoices (bench/dashboard.py).
Amounts in different currencies are never added together. See docs/dashboard.md for the formulas.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Hashable, Iterable, Mapping
from zoneinfo import ZoneInfo

from django.db.models import BooleanField, Case, Count, DateField, F, Q, Sum, Value, When
from django.db.models.functions import TruncDate

from duly.customers.models import Customer, Organization
from duly.domain import aging, forecast as fc, kpis
from duly.domain.money import from_minor
from duly.invoicing.models import PAYABLE_MINOR, Invoice

from .services import CLOSED_STATUSES, ISSUED_STATUSES, RECEIVABLE_KINDS, end_of_day

#: What a contract may prefer for autopay to charge the customer's default saved method (as autopay decides).
AUTOPAY_PREFERENCES = ("", "card", "sepa_debit")
OPEN_MINOR = PAYABLE_MINOR - F("paid_minor")


def _open_now(org: Organization):
    return Invoice.objects.filter(organization=org, status__in=Invoice.OPEN_STATUSES,
                                  kind__in=RECEIVABLE_KINDS).order_by()


# --- aging and overdue by customer (today's balances) -------------------------------------------------------
def aging_by_currency(org: Organization, *, as_of: date) -> dict[str, aging.BucketTotals]:
    """Open receivables per currency and bucket on ``as_of``: one query grouped by currency and due date."""
    rows = (_open_now(org).filter(issue_date__lte=as_of).values("currency", "due_date")
            .annotate(s=Sum(OPEN_MINOR), n=Count("id")))
    items = [aging.OpenInvoice(customer_id=None, invoice_id=(r["currency"], r["due_date"]), number="",
                               currency=r["currency"], issue_date=as_of, due_date=r["due_date"],
                               total=from_minor(r["s"], r["currency"]), open_amount=from_minor(r["s"], r["currency"]))
             for r in rows if r["s"]]
    return dict(aging.age_buckets(items, as_of).overall)


@dataclass(frozen=True)
class OverdueCustomer:
    customer_id: int
    code: str
    name: str
    currency: str
    amount: Decimal


def overdue_by_customer(org: Organization, *, as_of: date, limit: int = 10) -> dict[str, list[OverdueCustomer]]:
    """The ``limit`` customers owing the most past due on ``as_of``, per currency: one grouped query, one for names."""
    rows = (_open_now(org).filter(issue_date__lte=as_of, due_date__lt=as_of).values("customer_id", "currency")
            .annotate(s=Sum(OPEN_MINOR)))
    ranked = kpis.top_by_amount({(r["customer_id"], r["currency"]): from_minor(r["s"], r["currency"])
                                 for r in rows if r["s"]}, limit)
    ids = {r.key for rows_ in ranked.values() for r in rows_}
    names = dict((pk, (code, name)) for pk, code, name in
                 Customer.objects.filter(organization=org, pk__in=ids).values_list("pk", "code", "name"))
    return {cur: [OverdueCustomer(r.key, *names[r.key], cur, r.amount) for r in rows_]
            for cur, rows_ in ranked.items()}


# --- balances through time ----------------------------------------------------------------------------------
def receivable_events(org: Organization, *, until: date) -> list[kpis.BalanceEvent]:
    """Every change of the receivables balance up to ``until``, grouped per day and currency (four queries).

    + what an invoice made payable on its issue day; − each allocation (payment, credit, credit note) on the day
    it was applied; − a refunded part on the day it had been applied and + again on the refund's day; − what a
    void or written-off invoice still had open, on the day it was closed (in the organization's time zone).
    """
    tz = ZoneInfo(org.timezone)
    events: list[kpis.BalanceEvent] = []

    def add(rows, day_key, sign):
        for r in rows:
            if r["s"] and r[day_key] is not None:
                events.append(kpis.BalanceEvent(r[day_key], r["currency"], sign * from_minor(r["s"], r["currency"])))

    invoices = Invoice.objects.filter(organization=org, kind__in=RECEIVABLE_KINDS, status__in=ISSUED_STATUSES,
                                      issue_date__lte=until).order_by()
    add(invoices.values("issue_date", "currency").annotate(s=Sum(PAYABLE_MINOR)), "issue_date", 1)
    closed = invoices.filter(status__in=CLOSED_STATUSES)
    add(closed.filter(voided_at__isnull=False).annotate(day=TruncDate("voided_at", tzinfo=tz))
        .values("day", "currency").annotate(s=Sum(OPEN_MINOR)), "day", -1)
    add(closed.filter(voided_at__isnull=True).values("issue_date", "currency").annotate(s=Sum(OPEN_MINOR)),
        "issue_date", -1)

    from duly.payments.models import Allocation, RefundedAllocation

    add(Allocation.objects.filter(invoice__organization=org, invoice__kind__in=RECEIVABLE_KINDS,
                                  invoice__status__in=ISSUED_STATUSES, applied_on__lte=until).order_by()
        .values("applied_on", currency=F("invoice__currency")).annotate(s=Sum("amount_minor")), "applied_on", -1)
    refunded = RefundedAllocation.objects.filter(invoice__organization=org, invoice__kind__in=RECEIVABLE_KINDS,
                                                 invoice__status__in=ISSUED_STATUSES).order_by()
    add(refunded.filter(allocated_on__lte=until).values("allocated_on", currency=F("invoice__currency"))
        .annotate(s=Sum("amount_minor")), "allocated_on", -1)
    add(refunded.filter(refund__refunded_on__lte=until).values(day=F("refund__refunded_on"),
                                                               currency=F("invoice__currency"))
        .annotate(s=Sum("amount_minor")), "day", 1)
    return events


def credit_sales(org: Organization, periods: list[kpis.Period]) -> dict[tuple[int, str], Decimal]:
    """Credit sales per (period index, currency): invoices issued in the period, less credit notes issued in it;
    an invoice voided by the period's end is no sale. One grouped query."""
    if not periods:
        return {}
    tz = ZoneInfo(org.timezone)
    rows = (Invoice.objects.filter(organization=org, status__in=ISSUED_STATUSES,
                                   issue_date__gte=min(p.start for p in periods),
                                   issue_date__lte=max(p.end for p in periods)).order_by()
            .annotate(void_day=_void_day(tz))
            .values("issue_date", "currency", "kind", "status", "void_day").annotate(s=Sum("total_minor")))
    out: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for r in rows:
        sign = -1 if r["kind"] == Invoice.KIND_CREDIT_NOTE else 1
        for i, p in enumerate(periods):  # periods may overlap (a month inside its quarter)
            if not p.start <= r["issue_date"] <= p.end:
                continue
            if r["status"] == Invoice.VOID and (r["void_day"] is None or r["void_day"] <= p.end):
                continue
            out[(i, r["currency"])] += sign * from_minor(r["s"] or 0, r["currency"])
    return dict(out)


def _void_day(tz: ZoneInfo) -> Case:
    """The local day a void invoice was voided (None for the others). Only void rows convert their time: on SQLite
    the conversion is a Python function called per row, which cost a third of the scan of every issued invoice."""
    return Case(When(status=Invoice.VOID, then=TruncDate("voided_at", tzinfo=tz)), default=None,
                output_field=DateField())


def current_receivables(org: Organization, day: date) -> dict[str, Decimal]:
    """What was open and not yet past due at the end of ``day``, per currency: what those invoices made payable
    less what was applied to them by then (and parts refunded later), three grouped queries."""
    from duly.payments.models import Allocation, RefundedAllocation

    not_due = Q(due_date__gte=day) | Q(due_date__isnull=True)
    out: dict[str, int] = defaultdict(int)
    for currency, s in (Invoice.objects.filter(_receivable_at(org, day)).filter(not_due).order_by()
                        .values_list("currency").annotate(s=Sum(PAYABLE_MINOR))):
        out[currency] += s or 0
    due_then = Q(invoice__due_date__gte=day) | Q(invoice__due_date__isnull=True)
    for qs in (Allocation.objects.filter(applied_on__lte=day),
               RefundedAllocation.objects.filter(allocated_on__lte=day, refund__refunded_on__gt=day)):
        for currency, s in (qs.filter(_receivable_at(org, day, "invoice__")).filter(due_then).order_by()
                            .values_list("invoice__currency").annotate(s=Sum("amount_minor"))):
            out[currency] -= s or 0
    return {cur: from_minor(v, cur) for cur, v in sorted(out.items()) if v}


def period_figures(org: Organization, periods: list[kpis.Period],
                   events: list[kpis.BalanceEvent] | None = None, *,
                   current_from: int | None = None) -> list[kpis.PeriodFigures]:
    """The figures of each period per currency; the current AR at the end only for the periods from index
    ``current_from`` on (one query each; zero for the others)."""
    if events is None:
        events = receivable_events(org, until=max(p.end for p in periods))
    days = sorted({d for p in periods for d in (p.start - timedelta(days=1), p.end)})
    balances = kpis.balances_at(events, days)
    sales = credit_sales(org, periods)
    currencies = sorted(set(balances) | {cur for _, cur in sales})
    out = []
    for i, p in enumerate(periods):
        current = current_receivables(org, p.end) if current_from is not None and i >= current_from else {}
        for cur in currencies:
            bal = balances.get(cur, {})
            out.append(kpis.PeriodFigures(p, cur, bal.get(p.start - timedelta(days=1), Decimal(0)),
                                          sales.get((i, cur), Decimal(0)), bal.get(p.end, Decimal(0)),
                                          current.get(cur, Decimal(0))))
    return out


# --- collected ----------------------------------------------------------------------------------------------
def collected(org: Organization, *, as_of: date) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    """Money received per currency: (this month to ``as_of``, last month to the same day, all of last month).

    Payments as recorded (``received_on``), customer credit applied left out (it is no new money)."""
    this_start = as_of.replace(day=1)
    last = kpis.last_month(as_of)
    same_day = min(as_of.day, last.end.day)
    rows = _received(org, last.start, as_of)
    out: dict[str, list[Decimal]] = {}
    for day, cur, amount in rows:
        acc = out.setdefault(cur, [Decimal(0)] * 3)
        if day >= this_start:
            acc[0] += amount
        else:
            acc[2] += amount
            if day.day <= same_day:
                acc[1] += amount
    return {cur: tuple(v) for cur, v in sorted(out.items())}


def _received(org: Organization, start: date, end: date) -> list[tuple[date, str, Decimal]]:
    from duly.payments.models import Payment

    rows = (Payment.objects.filter(organization=org, received_on__gte=start, received_on__lte=end)
            .exclude(method="credit").order_by().values("received_on", "currency").annotate(s=Sum("amount_minor")))
    return [(r["received_on"], r["currency"], from_minor(r["s"], r["currency"])) for r in rows]


# --- forecast -----------------------------------------------------------------------------------------------
def _receivable_at(org: Organization, as_of: date, prefix: str = "") -> Q:
    """Invoices that were receivables, not closed and not yet paid in full at the end of ``as_of``."""
    p = prefix
    closed_by_then = Q(**{f"{p}status__in": CLOSED_STATUSES}) & (
        Q(**{f"{p}voided_at__isnull": True}) | Q(**{f"{p}voided_at__lt": end_of_day(org, as_of)}))
    return (Q(**{f"{p}organization": org, f"{p}kind__in": RECEIVABLE_KINDS, f"{p}status__in": ISSUED_STATUSES,
                 f"{p}issue_date__lte": as_of})
            & ~closed_by_then & (Q(**{f"{p}paid_on__isnull": True}) | Q(**{f"{p}paid_on__gt": as_of})))


def _known_then(org: Organization, as_of: date):
    """What was known at the end of ``as_of``: customers with a default saved method (autopay), the collection
    day of each invoice's live direct debit, and each invoice's latest promise."""
    from duly.collections.models import PromiseToPay
    from duly.payments.models import DirectDebit, SavedPaymentMethod

    cutoff = end_of_day(org, as_of)
    autopay = (SavedPaymentMethod.objects.filter(organization=org, is_default=True, created_at__lt=cutoff)
               .filter(Q(removed_at__isnull=True) | Q(removed_at__gte=cutoff)))
    debits: dict[int, date] = {}
    for invoice_id, day in (DirectDebit.objects.filter(organization=org, created_at__lt=cutoff,
                                                       collection_date__gte=as_of - timedelta(days=7))
                            .exclude(status=DirectDebit.FAILED).order_by("attempt")
                            .values_list("invoice_id", "collection_date")):
        debits[invoice_id] = day
    promised = fc.latest_promises(
        PromiseToPay.invoices.through.objects.filter(promisetopay__organization=org,
                                                     promisetopay__created_at__lt=cutoff).order_by()
        .values_list("invoice_id", "promisetopay__promised_date", "promisetopay__created_at"))
    return autopay, debits, promised


def _on_autopay(field: str, autopay) -> Case:
    """Whether the row's customer is on autopay: ``IN (SELECT …)``, which SQLite evaluates once (an ``EXISTS``
    would run per row)."""
    return Case(When(**{f"{field}__in": autopay.values("customer_id")}, then=Value(True)), default=Value(False),
                output_field=BooleanField())


_KEYS = ("currency", "issue_date", "due_date", "contract__autopay_days_before_due",
         "contract__preferred_payment_method")


def forecast_items(org: Organization, *, as_of: date, per_invoice: bool = False,
                   individual: Iterable[int] = ()) -> list[fc.ExpectedItem]:
    """The receivables open at the end of ``as_of`` with what was known then: due dates, autopay charge days
    (the default saved method set up by then), direct debits planned by then and promises made by then.

    Invoices with a promise or a direct debit are items of their own; the others are grouped in the database by
    what decides their expected day (currency, issue and due dates, autopay and the contract's charge day), so
    100,000 open invoices are a few thousand items. ``per_invoice`` makes every invoice an item of its own, keyed
    by its id; ``individual`` makes only these invoices items of their own (those with a predicted payment date)."""
    from duly.payments.autopay_services import charge_day
    from duly.payments.models import Allocation, RefundedAllocation

    autopay, debits, promised = _known_then(org, as_of)
    special = set(debits) | set(promised) | set(individual)
    items: list[fc.ExpectedItem] = []

    def add(key, cur, issued, due, days_before, preferred, on_autopay, open_minor):
        if not open_minor:
            return
        charge = debits.get(key) if isinstance(key, int) else None
        if charge is None and due is not None and on_autopay and (preferred or "") in AUTOPAY_PREFERENCES:
            charge = charge_day(due, issued, days_before)
        items.append(fc.ExpectedItem(key, cur, from_minor(open_minor, cur), issued, due, charge,
                                     promised.get(key) if isinstance(key, int) else None))

    for individual in ((True,) if per_invoice else (True, False)):
        if individual and not per_invoice and not special:
            continue
        keys = (["pk"] if individual else []) + list(_KEYS)
        flag = _on_autopay("customer_id", autopay)
        invoices = Invoice.objects.filter(_receivable_at(org, as_of)).order_by()
        if not per_invoice:
            invoices = invoices.filter(pk__in=special) if individual else invoices.exclude(pk__in=special)
        if individual:
            ikeys = ["invoice_id"] + ["invoice__" + k for k in _KEYS]
        else:
            ikeys = ["invoice__" + k for k in _KEYS]
        iflag = _on_autopay("invoice__customer_id", autopay)
        minus: dict[tuple, int] = defaultdict(int)
        allocs = Allocation.objects.filter(_receivable_at(org, as_of, "invoice__"), applied_on__lte=as_of)
        later = RefundedAllocation.objects.filter(_receivable_at(org, as_of, "invoice__"), allocated_on__lte=as_of,
                                                  refund__refunded_on__gt=as_of)
        for qs in (allocs, later):
            qs = qs.order_by()
            if not per_invoice:
                qs = (qs.filter(invoice_id__in=special) if individual else qs.exclude(invoice_id__in=special))
            for row in qs.annotate(ap=iflag).values_list(*ikeys, "ap").annotate(s=Sum("amount_minor")):
                minus[tuple(row[:-1])] += row[-1]
        for row in invoices.annotate(ap=flag).values_list(*keys, "ap").annotate(s=Sum(PAYABLE_MINOR)):
            key, total = tuple(row[:-1]), row[-1]
            fields = key[1:] if individual else key
            cur, issued, due, days_before, preferred, on_autopay = fields
            add(key[0] if individual else key, cur, issued, due, days_before, preferred, on_autopay,
                total - minus.get(key, 0))
    return items


#: Up to this many invoices with an expected date of their own are read by id; more: every invoice on its own.
INDIVIDUAL_LIMIT = 5000


def cash_forecast(org: Organization, *, as_of: date,
                  expected: Mapping[Hashable, date] | None = None) -> fc.Forecast:
    """The 13-week forecast from ``as_of``; ``expected`` (invoice id -> date) overrides the rules (the late-payment
    model's expected payment dates, :func:`duly.insights.risk_services.predicted_dates`)."""
    return _forecast(org, as_of, as_of, expected)


def _forecast(org: Organization, known_on: date, start: date, expected: Mapping[Hashable, date] | None):
    if expected and len(expected) > INDIVIDUAL_LIMIT:
        items = forecast_items(org, as_of=known_on, per_invoice=True)  # no list of ids too long for one query
    else:
        items = forecast_items(org, as_of=known_on, individual=expected or ())
    return fc.forecast(items, start, expected=expected)


def backtest_made_on(as_of: date) -> date:
    """The day the forecast judged by :func:`forecast_backtest` on ``as_of`` was made (13 weeks earlier)."""
    return as_of - timedelta(weeks=fc.WEEKS) - timedelta(days=1)


def forecast_backtest(org: Organization, *, as_of: date,
                      expected: Mapping[Hashable, date] | None = None) -> tuple[fc.Forecast, fc.Backtest]:
    """The forecast made 13 weeks before ``as_of`` with the data known then, against the payments received in its
    weeks (those up to the day before ``as_of``).

    It is made as the day before its first week closed (what was open at the end of that day, the promises,
    debits and saved methods known by then), so the money received on its first day is forecast too.
    ``expected``: the late-payment predictions as they were that day
    (:func:`duly.insights.risk_services.predictions_known_on` of :func:`backtest_made_on`), as the forecast used
    them; without it the rules alone."""
    start = as_of - timedelta(weeks=fc.WEEKS)
    past = _forecast(org, start - timedelta(days=1), start, expected)
    return past, fc.backtest(past, _received(org, start, as_of - timedelta(days=1)))
