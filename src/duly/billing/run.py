"""The billing run: every subscription slot due by a date, one invoice per customer and billing date.

:func:`run_billing` is what ``duly bill`` and the scheduler of ``duly serve`` call.

How it works
    1. The customers with something due are listed once (subscriptions whose ``next_bill_on`` is on
       or before ``as_of``, plus customers whose subscriptions are finished but who still have a
       pending charge or a late usage event).
    2. They are billed in batches (500 customers by default), each batch in ONE transaction: its
       subscriptions are locked, everything it needs is read in bulk (items, pauses, usage events,
       licence snapshots, pending charges, deposit and retainer balances), the invoices are planned
       in memory with the pure rules, then written in bulk (:mod:`duly.invoicing.bulk`: one counter
       update for a block of gapless numbers, bulk inserts of invoices, lines, billing records and
       prepaid drawdowns).
    3. Each billed slot has a :class:`~duly.billing.models.BillingRecord`, unique per
       (subscription, slot key). A second run finds the cursor moved and bills nothing; a concurrent
       run waits for the batch's row locks, then finds the same; and if a run still raced past them,
       the unique constraint rolls its batch back (numbers included) and the batch is retried.
       A run killed mid-way loses only its uncommitted batch: rerunning it bills what is left, with
       no duplicate and no gap in the numbering.
    4. A large run (see :func:`planning_workers`) reads and plans its batches in forked processes
       while this process writes them, committing windows of batches under locks taken before the
       planners read (see :func:`_bill_windows`): the same invoices, written about twice as fast on
       two cores.

Invoices
    Issue date: ``as_of`` (the day of the run; the scheduler runs daily, so it is the billing date).
    Due date, payment-terms text, late-payment text and RF reference come from the contract exactly
    as for a hand-issued invoice. Subscriptions of one customer under one contract that are due on
    the same billing date share one invoice (their billing day comes from the contract, see
    ``create_subscription``); a deposit (from the next invoices, or held until the contract's final
    invoice, as ``Contract.deposit_deduction`` says) or a retainer is deducted as the prepaid amount
    (BT-113) and explained in the notes. A customer whose invoice cannot be issued (for
    instance a required PO number is missing) is left out with the reason, and the others are billed.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone as dt_timezone
from functools import lru_cache
from decimal import Decimal
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from duly.customers.models import Contract, Customer, Organization
from duly.customers.services import reference_rates_for_contracts
from duly.domain import pricing
from duly.domain import usage as domain_usage
from duly.domain.billing_plan import (
    FixedCharge,
    Slot,
    SubscriptionPlan,
    billable_quantity,
    charge as cached_charge,
    commitment_share,
    describe_model,
    fixed_charge,
    parse_anchor,
    plain_quantity,
    slots,
)
from duly.domain.errors import DomainError
from duly.domain.bounds import check_date_range
from duly.domain.money import from_minor
from duly.domain.payment_terms import format_date
from duly.domain.schedules import Pause, Period
from duly.invoicing import bulk
from duly.invoicing.models import Invoice
from duly.invoicing.services import LineData, check_issue_date

from . import retainers
from .models import (
    BillingRecord,
    LicenceSnapshot,
    Metric,
    PendingCharge,
    PrepaidDrawdown,
    PrepaidFunding,
    Price,
    PriceChange,
    PriceChangeNotice,
    Product,
    RetainerAgreement,
    Subscription,
    SubscriptionItem,
    SubscriptionPause,
    UsageEvent,
)

__all__ = ["BATCH_SIZE", "BillingRunResult", "Catalog", "ScheduledBillingReport", "bill_all_organizations",
           "run_billing"]

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
PREPAID_TAX_CATEGORY = "O"
PREPAID_TAX_REASON = "Advance payment: VAT is charged on the invoices it is deducted from"
_RETRIES = 3
_UTC = dt_timezone.utc


# --- result ------------------------------------------------------------------------------------------
@dataclass
class BillingRunResult:
    """What a run did: invoices issued (by currency, with amounts), slots billed, customers left out."""

    as_of: date
    invoices: int = 0
    topups: int = 0
    slots: int = 0
    customers: int = 0
    batches: int = 0
    #: Processes that planned the batches (1: this one; see planning_workers).
    workers: int = 1
    #: currency → {"invoices": n, "total_minor": Σ total, "payable_minor": Σ total − prepaid}
    by_currency: dict[str, dict[str, int]] = field(default_factory=dict)
    #: (customer code, reason) of customers that could not be billed.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    #: (customer code, why) of customers billed at a previous price: the new price's notice was not sent
    #: (at least its notice period) before the period billed. Price notices come first.
    kept_prices: list[tuple[str, str]] = field(default_factory=list)

    def add_invoice(self, currency: str, total_minor: int, payable_minor: int) -> None:
        row = self.by_currency.setdefault(currency, {"invoices": 0, "total_minor": 0, "payable_minor": 0})
        row["invoices"] += 1
        row["total_minor"] += total_minor
        row["payable_minor"] += payable_minor

    def totals(self) -> dict[str, Decimal]:
        return {cur: from_minor(row["total_minor"], cur) for cur, row in sorted(self.by_currency.items())}

    def summary(self) -> str:
        if not self.invoices:
            text = f"Nothing to bill as of {self.as_of.isoformat()}."
        else:
            amounts = ", ".join(f"{amount} {cur}" for cur, amount in self.totals().items())
            text = (f"Issued {self.invoices} invoice(s) for {self.customers} customer(s) as of "
                    f"{self.as_of.isoformat()} ({self.slots} subscription period(s)): {amounts}.")
            if self.topups:
                text += f" Including {self.topups} retainer top-up invoice(s)."
        if self.skipped:
            text += f" {len(self.skipped)} customer(s) left out (see below)."
        if self.kept_prices:
            text += (f" {len({c for c, _ in self.kept_prices})} customer(s) kept a previous price: its change was not"
                     " announced in time (see below).")
        return text

    def as_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "invoices": self.invoices,
            "topups": self.topups,
            "subscription_periods": self.slots,
            "customers": self.customers,
            "batches": self.batches,
            "planning_processes": self.workers,
            "by_currency": {
                cur: {"invoices": row["invoices"], "total": str(from_minor(row["total_minor"], cur)),
                      "payable": str(from_minor(row["payable_minor"], cur))}
                for cur, row in sorted(self.by_currency.items())
            },
            "first_number": self.numbers[0] if self.numbers else None,
            "last_number": self.numbers[-1] if self.numbers else None,
            "skipped": [{"customer": c, "reason": r} for c, r in self.skipped],
            "kept_prices": [{"customer": c, "reason": r} for c, r in self.kept_prices],
        }


# --- catalog ------------------------------------------------------------------------------------------
class Catalog:
    """The organization's products, prices, metrics and price changes, read once per run."""

    def __init__(self, org: Organization) -> None:
        self.products = {p.pk: p for p in Product.objects.filter(organization=org)}
        self.metrics = {m.pk: m for m in Metric.objects.filter(organization=org)}
        self.prices = {p.pk: p for p in Price.objects.filter(organization=org)}
        self.changes: dict[int, list[PriceChange]] = defaultdict(list)
        for change in PriceChange.objects.filter(organization=org).order_by("effective_date", "id"):
            self.changes[change.price_id].append(change)
        #: (price change, customer) -> (notice status, local day it was sent or None, day it is planned for),
        #: read per customer as needed (load_notices).
        self.announced: dict[tuple[int, int], tuple[str, date | None, date]] = {}
        self._announced_for: set[int] = set()
        self._models: dict[tuple[int, int | None], pricing.PriceModel] = {}
        #: The recurring line of (price, quantity, period, cycle, paused days, currency), or None when the
        #: period is not billable: see _slot_lines.
        self.recurring_lines: dict[tuple, LineData | None] = {}
        #: (payment terms, late-payment text) by Contract.terms_key() (the run's reference rates and date).
        self.terms: dict[tuple, tuple] = {}

    def model(self, price: Price, change: PriceChange | None) -> pricing.PriceModel:
        key = (price.pk, change.pk if change else None)
        model = self._models.get(key)
        if model is None:
            model = pricing.model_from_config(change.new_model_config if change else price.model_config)
            self._models[key] = model
        return model

    def change_at(self, price: Price, subscription_id: int, day: date, customer_id: int | None = None,
                  kept: list[tuple[int, str]] | None = None) -> PriceChange | None:
        """The price change in force on ``day`` for a subscription (a subscription's own change wins a tie).

        With ``customer_id``: only a change whose notice reached that customer at least its notice
        period before ``day`` (or that needed no notice: the customer came after it was announced);
        otherwise the price before it still applies, and ``kept`` gets ``(customer, why)``.
        """
        best = None
        for change in self.changes.get(price.pk, ()):
            if change.effective_date > day:
                break
            if change.subscription_id not in (None, subscription_id):
                continue
            if best is None or change.effective_date > best.effective_date or change.subscription_id is not None:
                best = change
        if customer_id is None:
            return best
        while best is not None:
            why = self._not_announced(best, customer_id, day)
            if why is None:
                return best
            if kept is not None:
                kept.append((customer_id, why))
            best = self.change_at(price, subscription_id, best.effective_date - timedelta(days=1))
        return None

    def model_at(self, price: Price, subscription_id: int, day: date, customer_id: int | None = None,
                 kept: list[tuple[int, str]] | None = None) -> tuple[pricing.PriceModel, PriceChange | None]:
        change = self.change_at(price, subscription_id, day, customer_id, kept)
        return self.model(price, change), change

    def load_notices(self, customer_ids: Iterable[int]) -> None:
        """Read the price-change notices of these customers (once each; nothing without price changes)."""
        if not self.changes:
            return
        missing = [c for c in customer_ids if c not in self._announced_for]
        if not missing:
            return
        self.remember_notices(missing, bulk.fetch_rows(
            PriceChangeNotice.objects.filter(bulk.ids_in("customer_id", missing)).order_by().values_list(
                "price_change_id", "customer_id", "status", "sent_at", "send_on", "customer__timezone")))

    def remember_notices(self, customer_ids: Iterable[int], rows: Iterable[tuple]) -> None:
        """Record the notices of these customers: (change, customer, status, sent at, planned day, time zone)."""
        for change_id, customer_id, status, sent_at, send_on, zone in rows:
            sent = sent_at.astimezone(_zone(zone)).date() if sent_at is not None else None
            self.announced[(change_id, customer_id)] = (status, sent, send_on)
        self._announced_for.update(customer_ids)

    def _not_announced(self, change: PriceChange, customer_id: int, day: date) -> str | None:
        """Why ``change`` may not be billed to the customer for a period from ``day``, or None when it may:
        a new price is invoiced only after its notice was actually sent, at least the notice period before."""
        self.load_notices((customer_id,))
        notice = self.announced.get((change.pk, customer_id))
        if notice is None:
            return None  # no notice queued: the customer subscribed after the change was announced
        status, sent, planned = notice
        if status == PriceChangeNotice.SENT and sent is not None and sent + timedelta(days=change.notice_days) <= day:
            return None
        if status == PriceChangeNotice.SENT:
            when = f"its notice went out on {sent.isoformat() if sent else '?'}, less than {change.notice_days} days before"
        elif status == PriceChangeNotice.CANCELED:
            when = "its notice was cancelled"
        else:
            when = f"its notice (planned for {planned.isoformat()}) has not been sent yet"
        price = self.prices.get(change.price_id)
        product = self.products.get(price.product_id) if price is not None else None
        label = product.name if product is not None else (price.code if price is not None else str(change.price_id))
        return (f"{label}: kept the previous price for the period from {day.isoformat()}, not the new price from "
                f"{change.effective_date.isoformat()}: {when}")


# --- batch context --------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Item:
    pk: int
    price: Price
    quantity: Decimal
    starts_on: date
    ends_on: date | None

    def overlap(self, period: Period) -> Period | None:
        start = max(self.starts_on, period.start)
        end = min(self.ends_on or period.end, period.end)
        if start == period.start and end == period.end:
            return period
        return Period(start, end) if end > start else None


@lru_cache(maxsize=4096)
def _period_text(period: Period) -> str:
    return domain_usage.format_period(period)


@dataclass(slots=True)
class _Sub:
    """The columns of a subscription the run reads (no model instance: a batch reads thousands)."""

    COLUMNS = ("id", "customer_id", "contract_id", "reference", "currency", "interval", "rrule", "anchor_day",
               "timing", "start_date", "end_date", "trial_end", "status", "last_billed_period_start")
    pk: int
    customer_id: int
    contract_id: int
    reference: str
    currency: str
    interval: str
    rrule: str
    anchor_day: str
    timing: str
    start_date: date
    end_date: date | None
    trial_end: date | None
    status: str
    last_billed_period_start: date | None
    customer: Customer
    contract: Contract

    def __str__(self) -> str:
        return self.reference or f"Subscription {self.pk}"


@dataclass(slots=True)
class _Event:
    timestamp: datetime
    subscription_id: int | None
    domain: domain_usage.UsageEvent


@dataclass(slots=True)
class _Group:
    """One invoice in the making: a customer, a contract and a billing date."""

    customer: Customer
    contract: Contract
    billing_date: date
    lines: list[LineData] = field(default_factory=list)
    #: (subscription, slot, first line index, line count, usage quantities)
    slots: list[tuple[_Sub, Slot, int, int, dict]] = field(default_factory=list)
    pending: list[PendingCharge] = field(default_factory=list)
    late_events: list[int] = field(default_factory=list)
    late_records: list[BillingRecord] = field(default_factory=list)
    notices: list[tuple[PriceChangeNotice, str]] = field(default_factory=list)


def _chunks(values: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


@lru_cache(maxsize=4096)
def _bounds(period: Period, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local midnights that open and close ``period`` (customers of one zone share them: computed once)."""
    return datetime.combine(period.start, time.min, tz), datetime.combine(period.end, time.min, tz)


def _takes_transactions(model: pricing.PriceModel) -> bool:
    if isinstance(model, pricing.MinimumCommitment):
        return _takes_transactions(model.charge_model)
    return isinstance(model, pricing.PercentagePricing)


def _fits_line(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -6


def _product_label(price: Price, product: Product) -> str:
    return f"{product.name} ({price.nickname})" if price.nickname else product.name


def _line_for(price: Price, product: Product, model: pricing.PriceModel, amount: Decimal, quantity: Decimal,
              description: str, explanation: str, period: Period, *, prorated: bool) -> LineData:
    """An invoice line whose net amount is exactly ``amount``: quantity × price when that is exact, else 1 × amount."""
    if not prorated and isinstance(model, pricing.PerUnitPricing) and _fits_line(quantity) and _fits_line(
            model.unit_price):
        qty, unit_price = quantity, model.unit_price
    else:
        qty, unit_price = Decimal(1), amount
    return LineData(
        description=description[:500], quantity=qty, unit_price=unit_price, unit=product.unit,
        tax_category=product.tax_category, tax_rate=product.tax_rate,
        tax_exemption_reason=product.tax_exemption_reason, period_start=period.start, period_end=period.last_day,
        explanation=explanation,
    )


class _Batch:
    """Reads everything a batch of customers needs, in bulk, and plans their invoices."""

    def __init__(self, org: Organization, as_of: date, catalog: Catalog, customer_ids: list[int],
                 *, has_retainers: bool, with_pending: list[int], with_late: list[int], lock: bool = True) -> None:
        self.org, self.as_of, self.cat = org, as_of, catalog
        self.customer_ids = customer_ids
        self.has_retainers = has_retainers
        self.with_pending, self.with_late = with_pending, with_late
        # Lock every subscription of the batch's customers (not only the due ones): a concurrent run, usage
        # import or subscription change of these customers waits for this batch, and this batch reads their
        # pending charges and late usage only once it holds the locks, so it cannot claim what another
        # run is claiming (see _claim for the second guard). The customers are the organization's (see
        # _due_customers); filtering on them alone lets the database use the customer index.
        rows = []
        #: contract → its subscriptions still to be billed (before this run): a deposit held until the final
        #: invoice is deducted once none is left.
        self.running: dict[int, set[int]] = defaultdict(set)
        subscriptions = Subscription.objects.select_for_update() if lock else Subscription.objects.all()
        for row in bulk.fetch_rows(subscriptions.filter(bulk.ids_in("customer_id", customer_ids))
                                   .order_by("id").values_list(*_Sub.COLUMNS, "organization_id", "next_bill_on")):
            if row[-2] != org.id or row[-1] is None:
                continue
            self.running[row[2]].add(row[0])
            if row[-1] <= as_of:
                rows.append(row[:-2])
        self.customers: dict[int, Customer] = {c.pk: c for c in bulk.fetch_instances(
            Customer.objects.filter(bulk.ids_in("id", customer_ids), organization=org).order_by())}
        self.contracts: dict[int, Contract] = {}
        contracts = Contract.objects.filter(bulk.ids_in("id", {r[2] for r in rows})).order_by()
        for contract in bulk.fetch_instances(contracts):
            contract.customer = self.customers[contract.customer_id]  # the same row: no query when read
            contract.organization = org  # (its calendar may move due dates: Contract.business_day_calendar)
            self.contracts[contract.pk] = contract
        self.subs = [_Sub(*r, customer=self.customers[r[1]], contract=self.contracts[r[2]]) for r in rows]
        sub_ids = [s.pk for s in self.subs]
        self.items: dict[int, list[_Item]] = defaultdict(list)
        for pk, sub_id, price_id, qty, starts_on, ends_on in bulk.fetch_rows(SubscriptionItem.objects.filter(
            bulk.ids_in("subscription_id", sub_ids)
        ).order_by("starts_on", "id").values_list("id", "subscription_id", "price_id", "quantity", "starts_on",
                                                   "ends_on")):
            self.items[sub_id].append(_Item(pk, catalog.prices[price_id], plain_quantity(qty), starts_on, ends_on))
        self.pauses: dict[int, list[Pause]] = defaultdict(list)
        pauses = SubscriptionPause.objects.filter(bulk.ids_in("subscription_id", sub_ids)).order_by()
        for sub_id, start, resume in bulk.fetch_rows(pauses.values_list("subscription_id", "starts_on", "resumes_on")):
            self.pauses[sub_id].append(Pause(start, resume or date.max))
        self.plans: dict[int, tuple[SubscriptionPlan, list[Slot], Slot | None]] = {}
        for sub in self.subs:
            plan = self._plan(sub)
            due, nxt = slots(plan, last_key=sub.last_billed_period_start, as_of=as_of)
            self.plans[sub.pk] = (plan, due, nxt)
        self.events: dict[tuple[int, int], list[_Event]] = {}
        self.late_window_events: dict[tuple[int, int], list[_Event]] = {}
        self._times: dict[tuple[bool, int, int], list[datetime]] = {}
        self._load_usage()
        self._load_licences()
        self._load_pending()
        self._load_prepaid()
        self.notices: dict[tuple[int, int], PriceChangeNotice] = {}
        #: (customer, why) of prices kept because a change's notice did not go out in time (see Catalog.change_at).
        self.kept: list[tuple[int, str]] = []
        if catalog.changes:
            # Every notice of the batch's customers in one read: whether each change was announced in time,
            # and the ones not yet shown on an invoice.
            notices = list(PriceChangeNotice.objects.filter(bulk.ids_in("customer_id", self.customers),
                                                            organization=org).annotate(
                customer_zone=F("customer__timezone")).order_by())
            catalog.remember_notices(self.customer_ids, [
                (n.price_change_id, n.customer_id, n.status, n.sent_at, n.send_on, n.customer_zone) for n in notices])
            self.notices = {(n.price_change_id, n.customer_id): n for n in notices
                            if n.first_invoice_id is None and n.status != PriceChangeNotice.CANCELED}

    def _plan(self, sub: _Sub) -> SubscriptionPlan:
        metered = any(i.price.quantity_source != Price.SOURCE_QUANTITY for i in self.items[sub.pk])
        return SubscriptionPlan(
            start=sub.start_date, interval=sub.interval, rule=sub.rrule or None,
            anchor=parse_anchor(sub.anchor_day, sub.interval), trial_end=sub.trial_end, end=sub.end_date,
            pauses=tuple(self.pauses[sub.pk]), timing=sub.timing, metered=metered,
        )

    # usage ------------------------------------------------------------------------------------------------
    def _load_usage(self) -> None:
        """Events of every usage window due in the batch (one query), plus the level before for averages."""
        customers, metrics = set(), set()
        lo = hi = None
        for sub in self.subs:
            _, due, _ = self.plans[sub.pk]
            usage_metrics = {i.price.metric_id for i in self.items[sub.pk]
                             if i.price.quantity_source == Price.SOURCE_USAGE}
            for slot in due:
                if slot.usage is None or not usage_metrics:
                    continue
                customers.add(sub.customer_id)
                metrics |= usage_metrics
                lo = slot.usage.start if lo is None else min(lo, slot.usage.start)
                hi = slot.usage.end if hi is None else max(hi, slot.usage.end)
        if customers:
            self.events = self._fetch_events(customers, metrics, lo, hi, include_late=False)

    def _fetch_events(self, customers: set[int], metrics: set[int], lo: date, hi: date,
                      *, include_late: bool) -> dict[tuple[int, int], list[_Event]]:
        # Local-day windows: fetch a day more on each side, the exact bounds are applied per customer.
        start = datetime.combine(lo - timedelta(days=1), time.min, _UTC)
        end = datetime.combine(hi + timedelta(days=1), time.min, _UTC)
        needs_properties = any(self.cat.metrics[m].aggregation == "unique_count" for m in metrics)
        columns = ["customer_id", "subscription_id", "metric_id", "idempotency_key", "timestamp", "value"]
        if needs_properties:
            columns.append("properties")
        qs = UsageEvent.objects.filter(bulk.ids_in("customer_id", customers), bulk.ids_in("metric_id", metrics),
                                       organization=self.org, timestamp__gte=start, timestamp__lt=end)
        if not include_late:
            qs = qs.filter(late=False)
        rows = bulk.fetch_rows(qs.order_by().values_list(*columns))
        averaged = sorted(m for m in metrics if self.cat.metrics[m].aggregation == "time_weighted_average")
        if averaged:
            # The level a window opens with: the latest event before the fetched range, per customer and
            # metric (the one the aggregation would pick: latest timestamp, then greatest key). One index
            # seek per customer and metric, whatever the number of customers.
            def latest(metric_id: int) -> Subquery:
                return Subquery(UsageEvent.objects.filter(
                    organization=self.org, customer_id=OuterRef("pk"), metric_id=metric_id, timestamp__lt=start,
                ).order_by("-timestamp", "-idempotency_key").values("idempotency_key")[:1])

            keys = [key for row in Customer.objects.filter(bulk.ids_in("id", customers)).order_by().annotate(
                **{f"m{m}": latest(m) for m in averaged}).values_list(*(f"m{m}" for m in averaged))
                for key in row if key is not None]
            if keys:
                rows += list(UsageEvent.objects.filter(organization=self.org, idempotency_key__in=keys)
                             .order_by().values_list(*columns))
        store: dict[tuple[int, int], list[_Event]] = defaultdict(list)
        seen = set()
        for row in rows:
            customer_id, sub_id, metric_id, key, ts, value = row[:6]
            if key in seen:
                continue
            seen.add(key)
            props = row[6] if needs_properties else {}
            metric = self.cat.metrics[metric_id]
            store[(customer_id, metric_id)].append(
                _Event(ts, sub_id, domain_usage.UsageEvent(key, ts, metric.code, value, props or {})))
        for events in store.values():
            events.sort(key=lambda e: e.timestamp)
        return store

    def usage_quantity(self, sub: _Sub | Subscription, metric: Metric, window: Period, *,
                       late: bool = False) -> tuple[Decimal, list[Decimal]]:
        """The aggregated quantity of a metric over a window, and the values (transactions) in it.

        ``late``: re-aggregate an already invoiced window, late events included.
        """
        tz = _zone(sub.customer.timezone)
        start, end = _bounds(window, tz)
        store = self.late_window_events if late else self.events
        events = store.get((sub.customer_id, metric.pk), [])
        times = self._times.get((late, sub.customer_id, metric.pk))
        if times is None:
            times = self._times[(late, sub.customer_id, metric.pk)] = [e.timestamp for e in events]
        lo = 0 if metric.aggregation == "time_weighted_average" else bisect.bisect_left(times, start)
        hi = bisect.bisect_left(times, end)
        chosen = [e for e in events[lo:hi] if e.subscription_id in (None, sub.pk)]
        quantity = domain_usage.aggregate(
            metric.aggregation, [e.domain for e in chosen], start, end,
            unique_property=(metric.property_name or None) if metric.aggregation == "unique_count" else None,
        )
        return plain_quantity(quantity), [e.domain.value for e in chosen if start <= e.timestamp < end]

    def _load_licences(self) -> None:
        self.snapshots: dict[int, dict[date, int]] = defaultdict(dict)
        subs, lo, hi = set(), None, None
        for sub in self.subs:
            if not any(i.price.quantity_source == Price.SOURCE_LICENCES for i in self.items[sub.pk]):
                continue
            for slot in self.plans[sub.pk][1]:
                if slot.usage is not None:
                    subs.add(sub.pk)
                    lo = slot.usage.start if lo is None else min(lo, slot.usage.start)
                    hi = slot.usage.end if hi is None else max(hi, slot.usage.end)
        if not subs:
            return
        rows = bulk.fetch_rows(LicenceSnapshot.objects.filter(bulk.ids_in("subscription_id", subs), day__gte=lo,
                                                             day__lt=hi).order_by().values_list(
            "subscription_id", "day", "active_count"))
        # The count a window opens with: each subscription's latest snapshot before the fetched range
        # (one index seek per subscription, whatever their number).
        before = LicenceSnapshot.objects.filter(subscription_id=OuterRef("pk"), day__lt=lo).order_by("-day")
        rows += [row for row in Subscription.objects.filter(bulk.ids_in("id", subs)).order_by().annotate(
            last_day=Subquery(before.values("day")[:1]), last_count=Subquery(before.values("active_count")[:1]),
        ).values_list("id", "last_day", "last_count") if row[1] is not None]
        for sub_id, day, count in rows:
            self.snapshots[sub_id][day] = count

    # pending charges and late usage --------------------------------------------------------------------------
    def _load_pending(self) -> None:
        self.pending: dict[int, list[PendingCharge]] = defaultdict(list)
        if self.with_pending:
            for charge in PendingCharge.objects.filter(organization=self.org, customer_id__in=self.with_pending,
                                                       invoice__isnull=True).select_related(
                    "subscription__contract").order_by("created_on", "id"):
                self.pending[charge.customer_id].append(charge)
        self.late: dict[int, list[tuple]] = defaultdict(list)
        if self.with_late:
            for row in UsageEvent.objects.filter(organization=self.org, customer_id__in=self.with_late, late=True,
                                                 late_billed_on__isnull=True).order_by().values_list(
                    "id", "customer_id", "subscription_id", "metric_id", "timestamp"):
                self.late[row[1]].append(row)
        self.late_records: dict[int, list[BillingRecord]] = defaultdict(list)
        if self.late:
            late_customers = list(self.late)
            days = [row[4] for rows in self.late.values() for row in rows]
            lo, hi = min(days).date() - timedelta(days=1), max(days).date() + timedelta(days=1)
            records = list(BillingRecord.objects.filter(
                organization=self.org, subscription__customer_id__in=late_customers, usage_start__isnull=False,
                usage_start__lte=hi, usage_end__gt=lo,
            ).select_related("subscription", "subscription__customer", "subscription__contract", "invoice")
                .order_by())
            for record in records:
                self.late_records[record.subscription.customer_id].append(record)
                self.contracts.setdefault(record.subscription.contract_id, record.subscription.contract)
            subs = {r.subscription_id for r in records}
            for pk, sub_id, price_id, qty, starts_on, ends_on in SubscriptionItem.objects.filter(
                subscription_id__in=subs - set(self.items)
            ).order_by("starts_on", "id").values_list("id", "subscription_id", "price_id", "quantity", "starts_on",
                                                       "ends_on"):
                self.items[sub_id].append(_Item(pk, self.cat.prices[price_id], plain_quantity(qty), starts_on,
                                                ends_on))
            if records:
                metrics = {row[3] for rows in self.late.values() for row in rows}
                self.late_window_events = self._fetch_events(
                    set(late_customers), metrics, min(r.usage_start for r in records),
                    max(r.usage_end for r in records), include_late=True)
        for charges in self.pending.values():
            for charge in charges:
                self.contracts.setdefault(charge.subscription.contract_id, charge.subscription.contract)

    # deposits and retainers -----------------------------------------------------------------------------------
    def _load_prepaid(self) -> None:
        contract_ids = [c.pk for c in self.contracts.values()]
        self.available: dict[tuple[int, str], int] = defaultdict(int)
        self.open_topups: set[int] = set()
        self.deposit_invoices: dict[int, str] = {}
        self.retainers: dict[int, RetainerAgreement] = {}
        needs = [c.pk for c in self.contracts.values() if c.deposit_kind != "none"]
        if self.has_retainers:
            needs = contract_ids
        if not needs:
            return
        for contract_id, kind, status, total, number in PrepaidFunding.objects.filter(
            contract_id__in=needs
        ).order_by().values_list("contract_id", "kind", "invoice__status", "invoice__total_minor", "invoice__number"):
            if status == Invoice.PAID:
                self.available[(contract_id, kind)] += total
                if kind == PrepaidFunding.DEPOSIT:
                    self.deposit_invoices[contract_id] = number
            elif kind == PrepaidFunding.RETAINER and status in Invoice.OPEN_STATUSES:
                self.open_topups.add(contract_id)
        drawn = PrepaidDrawdown.objects.filter(contract_id__in=needs).order_by().values("contract_id", "kind")
        for row in drawn.annotate(s=Sum("amount_minor")):
            self.available[(row["contract_id"], row["kind"])] -= row["s"]
        if self.has_retainers:
            self.retainers = {r.contract_id: r for r in RetainerAgreement.objects.filter(contract_id__in=needs,
                                                                                        active=True)}


def _slot_lines(batch: _Batch, sub: _Sub, plan: SubscriptionPlan, slot: Slot,
                notices: list[tuple[PriceChangeNotice, str]]) -> tuple[list[LineData], dict]:
    """The lines of one slot (recurring prices for its period, metered prices for its usage window).

    A line at a new price whose customer was sent a notice and has not been invoiced at that price
    yet explains the change; the notice and its sentence are appended to ``notices``.
    """
    cat, currency = batch.cat, sub.currency
    lines: list[LineData] = []
    quantities: dict[str, str] = {}
    schedule_pauses = plan.pauses
    for item in batch.items[sub.pk]:
        price = item.price
        product = cat.products[price.product_id]
        if price.quantity_source == Price.SOURCE_QUANTITY:
            if slot.cycle is None:
                continue
            part = item.overlap(slot.cycle.period)
            if part is None:
                continue
            whole = slot.cycle.whole
            paused = sum(p.period.overlap_days(part) for p in schedule_pauses) if schedule_pauses else 0
            # Customers on the same price, quantity and period get the same line: computed once per run
            # (only for a price that never changes: a change may bring a notice, shown once per customer).
            shared = None if cat.changes.get(price.pk) else (
                price.pk, item.quantity.as_tuple(), part, whole, paused, currency)
            if shared is not None and shared in cat.recurring_lines:
                line = cat.recurring_lines[shared]
                if line is not None:
                    lines.append(line)
                continue
            reasons = []
            if part.start > whole.start:
                reasons.append("starts mid-cycle")
            if part.end < whole.end:
                reasons.append("ends mid-cycle")
            if paused:
                reasons.append(f"paused {paused} day{'s' if paused != 1 else ''}")
            model, change = cat.model_at(price, sub.pk, slot.cycle.period.start, sub.customer_id, batch.kept)
            fc: FixedCharge = fixed_charge(model, item.quantity, currency, whole=whole, part=part,
                                           paused_days=paused, reasons=reasons)
            if fc.billable_days == 0:
                if shared is not None:
                    cat.recurring_lines[shared] = None
                continue
            label = _product_label(price, product)
            if not isinstance(model, pricing.FlatPricing):
                label += f" × {item.quantity:f}"
            explanation = _change_note(batch, price, sub, change, notices) + fc.explanation
            line = _line_for(price, product, model, fc.amount, item.quantity, f"{label}, {_period_text(part)}",
                             explanation, part, prorated=fc.ratio != 1)
            if shared is not None:
                cat.recurring_lines[shared] = line  # LineData is immutable: invoices may share it
            lines.append(line)
        elif slot.usage is not None:
            window = item.overlap(slot.usage)
            if window is None:
                continue
            model, change = cat.model_at(price, sub.pk, window.start, sub.customer_id, batch.kept)
            share, prorated = None, ""
            if isinstance(model, pricing.MinimumCommitment):  # agreed per period: prorated on a part of one
                whole = slot.usage_whole or slot.usage
                share = (window.days, whole.days) if window.days < whole.days else None
                model, prorated = commitment_share(model, currency, share)
            transactions: list[Decimal] = []
            if price.quantity_source == Price.SOURCE_USAGE:
                metric = cat.metrics[price.metric_id]
                raw, values = batch.usage_quantity(sub, metric, window)
                summary = domain_usage.usage_summary(metric.aggregation, raw, metric.name, window)
                key = metric.code
                if _takes_transactions(model):
                    transactions = values
                    raw = sum(values, Decimal(0))
            else:
                raw = domain_usage.average_daily_count(batch.snapshots.get(sub.pk, {}), window)
                summary = domain_usage.usage_summary("average_daily", raw, "active seats", window)
                key = f"licences:{price.code}"
            quantity = billable_quantity(raw)
            charge = model.charge(quantity, currency, transactions=transactions) if transactions else \
                cached_charge(model, quantity, currency)
            quantities[key] = {"quantity": str(quantity), "amount": str(charge.amount)}
            if prorated:
                quantities[key]["share"] = list(share)  # type: ignore[arg-type]  # re-priced alike if usage is late
            explanation = (_change_note(batch, price, sub, change, notices) + prorated
                           + f"{summary}: {charge.explanation}")
            lines.append(_line_for(price, product, model, charge.amount, quantity,
                                   f"{_product_label(price, product)}: {summary}", explanation, window,
                                   prorated=False))
    return lines, quantities


def _change_note(batch: _Batch, price: Price, sub: _Sub, change: PriceChange | None,
                 notices: list[tuple[PriceChangeNotice, str]]) -> str:
    """The first time a customer is invoiced at a new price: the old and new price and the justification."""
    if change is None:
        return ""
    notice = batch.notices.pop((change.pk, sub.customer_id), None)  # shown once: on the first invoice at it
    if notice is None:
        return ""
    cat = batch.cat
    before = cat.change_at(price, sub.pk, change.effective_date - timedelta(days=1), sub.customer_id)
    old = describe_model(cat.model(price, before), price.currency)
    new = describe_model(cat.model(price, change), price.currency)
    text = (f"{_product_label(price, cat.products[price.product_id])}: new price from "
            f"{format_date(change.effective_date)}: {new} (previously {old}). Why: {change.justification.strip()}")
    if all(n is not notice for n, _ in notices):
        notices.append((notice, text))
    return text + " — "


def _late_lines(batch: _Batch, customer_id: int
                ) -> tuple[list[LineData], list[int], list[BillingRecord], Contract | None]:
    """Late-adjustment lines for late usage events of a customer, priced as a difference per closed window."""
    rows = batch.late.get(customer_id, [])
    if not rows:
        return [], [], [], None
    cat = batch.cat
    lines: list[LineData] = []
    handled: list[int] = []
    touched: list[BillingRecord] = []
    contract = None
    records = batch.late_records.get(customer_id, [])
    for record in sorted(records, key=lambda r: (r.usage_start, r.subscription_id)):
        sub = record.subscription
        window = Period(record.usage_start, record.usage_end)
        tz = _zone(sub.customer.timezone)
        start, end = _bounds(window, tz)
        mine = [r for r in rows if r[0] not in handled and start <= r[4] < end and r[2] in (None, sub.pk)]
        if not mine:
            continue
        metrics = {r[3] for r in mine}
        for item in batch.items.get(sub.pk, []):
            price = item.price
            if price.quantity_source != Price.SOURCE_USAGE or price.metric_id not in metrics:
                continue
            metric = cat.metrics[price.metric_id]
            if metric.code not in record.usage:
                continue
            billed = record.usage[metric.code]
            share = tuple(billed["share"]) if billed.get("share") else None
            model, _ = commitment_share(cat.model_at(price, sub.pk, window.start, sub.customer_id)[0], sub.currency,
                                        share)
            raw, values = batch.usage_quantity(sub, metric, window, late=True)
            transactions: list[Decimal] = []
            if _takes_transactions(model):
                transactions, raw = values, sum(values, Decimal(0))
            new_quantity = billable_quantity(raw)
            old_quantity, old_amount = Decimal(billed["quantity"]), Decimal(billed["amount"])
            new = model.charge(new_quantity, sub.currency, transactions=transactions)
            difference = new.amount - old_amount
            count = sum(1 for r in mine if r[3] == metric.pk)
            invoice_ref = f" (invoice {record.invoice.number})" if record.invoice_id else ""
            explanation = (
                f"{count} {metric.name} event(s) of {domain_usage.format_period(window)} arrived after that period "
                f"was invoiced{invoice_ref}. Billed {old_quantity} → now {new_quantity}: "
                f"{new.amount} − {old_amount} = {difference}."
            )
            if difference:
                product = cat.products[price.product_id]
                lines.append(LineData(
                    description=(f"Late usage adjustment — {_product_label(price, product)}, "
                                 f"{domain_usage.format_period(window)}")[:500],
                    quantity=Decimal(1 if difference > 0 else -1), unit_price=abs(difference), unit=product.unit,
                    tax_category=product.tax_category, tax_rate=product.tax_rate,
                    tax_exemption_reason=product.tax_exemption_reason, period_start=window.start,
                    period_end=window.last_day, explanation=explanation,
                ))
            record.usage = {**record.usage, metric.code: {**billed, "quantity": str(new_quantity),
                                                          "amount": str(new.amount)}}
            touched.append(record)
            contract = contract or sub.contract
        handled += [r[0] for r in mine]
    # Late events no billed window claims (no usage price for them then) are settled without a line.
    handled += [r[0] for r in rows if r[0] not in handled]
    return lines, handled, touched, contract


# --- the run ------------------------------------------------------------------------------------------------
@dataclass
class _Due:
    """The customers a run bills, and which of them have pending charges or late usage."""

    customers: list[int]
    with_pending: set[int]
    with_late: set[int]


def _due_customers(org: Organization, as_of: date) -> _Due:
    due = set(Subscription.objects.filter(organization=org, next_bill_on__lte=as_of).order_by()
              .values_list("customer_id", flat=True).distinct())
    with_pending = set(PendingCharge.objects.filter(organization=org, invoice__isnull=True).order_by()
                       .values_list("customer_id", flat=True).distinct())
    with_late = set(UsageEvent.objects.filter(organization=org, late=True, late_billed_on__isnull=True).order_by()
                    .values_list("customer_id", flat=True).distinct())
    others = (with_pending | with_late) - due
    if others:
        waiting = set(Subscription.objects.filter(organization=org, customer_id__in=others,
                                                  next_bill_on__isnull=False).order_by()
                      .values_list("customer_id", flat=True).distinct())
        due |= others - waiting
    return _Due(sorted(due), with_pending, with_late)


def run_billing(org: Organization, as_of: date, *, progress: Callable[[int, int], None] | None = None,
                batch_size: int = BATCH_SIZE, customers: Iterable[int] | None = None,
                checkpoint: Callable[[int], None] | None = None, workers: int | None = None) -> BillingRunResult:
    """Bill every subscription slot of ``org`` due by ``as_of``; idempotent and resumable (see the module notes).

    ``progress(done, total)`` is called after each committed batch with the number of customers handled.
    ``customers`` (ids) limits the run to those customers (the back office's "bill now").
    ``checkpoint(n)`` is called inside batch ``n`` (0, 1, …), after its writes and before its commit:
    the crash test kills the process there; nothing else needs it.
    ``workers``: planning processes (see :func:`planning_workers`; None: one per CPU when the run can
    use them, 1: plan in this process).
    """
    check_date_range(as_of, "The billing date")
    result = BillingRunResult(as_of=as_of)
    due = _due_customers(org, as_of)
    customer_ids = due.customers
    if customers is not None:
        wanted = set(customers)
        customer_ids = [c for c in customer_ids if c in wanted]
    if not customer_ids:
        return result
    # Numbers follow issue dates: a run dated before the last invoice issued is refused whole, before it bills.
    check_issue_date(org, "invoice", as_of, hint=lambda last: (
        f"Run billing as of {last.isoformat()} or later: it bills every period due by then, those due by "
        f"{as_of.isoformat()} included (their service periods stay what they are)."))
    run = _Run(org, as_of, Catalog(org), RetainerAgreement.objects.filter(organization=org, active=True).exists(),
               due)
    chunks = list(_chunks(customer_ids, batch_size))
    done = 0

    def committed(outcome: BillingRunResult, chunk: list[int]) -> None:
        nonlocal done
        _merge(result, outcome)
        result.batches += 1
        done += len(chunk)
        if progress is not None:
            progress(done, len(customer_ids))

    count = result.workers = planning_workers(workers, len(chunks))
    if count > 1:
        # The last batches smaller: the planners finish together, and the run's end waits less on one of them.
        tail = 2 * count * batch_size
        if len(customer_ids) > 2 * tail:
            chunks = (list(_chunks(customer_ids[:-tail], batch_size))
                      + list(_chunks(customer_ids[-tail:], max(1, batch_size // 4))))
        _bill_windows(run, chunks, count, result, committed, checkpoint)
    else:
        for chunk in chunks:
            committed(_bill_chunk(run, chunk, result.batches, checkpoint), chunk)
    return result


@dataclass
class _Run:
    """What every batch of a run shares (read once; planning processes inherit it)."""

    org: Organization
    as_of: date
    catalog: Catalog
    has_retainers: bool
    due: _Due


def _bill_chunk(run: _Run, chunk: list[int], number: int,
                checkpoint: Callable[[int], None] | None) -> BillingRunResult:
    """Bill one batch in its own transaction (retried when it meets a concurrent run)."""
    for attempt in range(_RETRIES):
        outcome = BillingRunResult(as_of=run.as_of)
        try:
            with _gc_paused(), transaction.atomic():
                _bill_batch(run.org, run.as_of, run.catalog, chunk, outcome, run.has_retainers, run.due)
                if checkpoint is not None:
                    checkpoint(number)
            return outcome
        except (IntegrityError, _AlreadyClaimed):
            # A concurrent run billed some of these slots (or claimed a pending charge, notice or late
            # event) first: our batch rolled back, numbers included; bill what is left.
            pass
    outcome = BillingRunResult(as_of=run.as_of)
    codes = dict(Customer.objects.filter(pk__in=chunk).values_list("pk", "code"))
    outcome.skipped = [(codes.get(c, str(c)), "conflict with a concurrent billing run; retry") for c in chunk]
    return outcome


# --- parallel planning ------------------------------------------------------------------------------------
#: A run with planning processes writes at most this many batches per transaction, and starts no new
#: batch in a transaction open this long (seconds), unless only a few are left: it holds the locks
#: about that long (see _bill_windows).
WINDOW_BATCHES = 64
WINDOW_SECONDS = 3.0
#: The fewest batches worth starting planning processes for.
PARALLEL_MIN_BATCHES = 4
MAX_WORKERS = 4
_RUN: _Run | None = None  # the run planning processes serve (inherited when they are forked)
_PARENT = 0  # the run's process
_INHERITED: list = []  # database connections a planning process inherited: its parent's, never used nor closed


def planning_workers(requested: int | None, batches: int) -> int:
    """How many planning processes a run uses: 1 (plan in this process) unless it can use more.

    More needs: at least :data:`PARALLEL_MIN_BATCHES` batches; Linux (workers are forked, inheriting the
    run's catalog); a single-threaded, non-daemon process (forking a threaded process such as ``duly serve``
    is unsafe, and a Celery worker may not have children); no transaction already open; and a database
    other processes can read (not an in-memory SQLite database, such as the tests'). ``requested``: None
    for one per CPU (at most :data:`MAX_WORKERS`)."""
    import multiprocessing
    import sys
    import threading

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    count = requested if requested is not None else min(cpus, MAX_WORKERS)  # the CPUs this process may use
    if count < 2 or batches < PARALLEL_MIN_BATCHES or not sys.platform.startswith("linux"):
        return 1
    if threading.active_count() > 1 or multiprocessing.current_process().daemon:
        return 1
    if connection.in_atomic_block or (connection.vendor == "sqlite" and connection.is_in_memory_db()):
        return 1
    return count


def _bill_windows(run: _Run, chunks: list[list[int]], workers: int, result: BillingRunResult,
                  committed: Callable[[BillingRunResult, list[int]], None],
                  checkpoint: Callable[[int], None] | None) -> None:
    """Bill the batches with ``workers`` forked processes planning them while this one writes.

    The batches are written in windows, one transaction per window (at most :data:`WINDOW_BATCHES`
    batches; no new batch is started once the window has been open :data:`WINDOW_SECONDS`). The
    transaction is opened before any batch of the window is planned (on SQLite ``BEGIN IMMEDIATE``
    takes the database's write lock; on PostgreSQL each batch's subscriptions are locked ``FOR UPDATE``
    before it is handed out) and committed once all of them are written. So the planning processes
    read committed data that nobody can change meanwhile (usage imports, subscription changes and
    other runs wait for the locks), and each plan is what the batch read inside the transaction would
    have planned. A window that meets a concurrent run rolls back (numbers included) and is billed
    again batch by batch. A crash loses the uncommitted window only: a rerun bills it, with no
    duplicate and no gap. If a planning process dies (killed, out of memory), its window rolls back
    and the rest of the run is planned in this process.
    """
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from time import monotonic

    global _RUN, _PARENT
    _RUN, _PARENT = run, os.getpid()
    locks = connection.vendor != "sqlite"
    start = 0
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_worker_init) as pool:
            for started in [pool.submit(os.getpid) for _ in range(workers)]:
                started.result()  # every planner forked now, before any transaction is open
            while start < len(chunks):
                opened = monotonic()
                outcomes: list[BillingRunResult] | None = []
                window: list[list[int]] = []
                try:
                    with _gc_paused(), transaction.atomic():
                        flying: deque = deque()
                        while True:
                            while (start + len(window) < len(chunks) and len(flying) < 2 * workers
                                   and len(window) < WINDOW_BATCHES
                                   and (not window or monotonic() - opened < WINDOW_SECONDS
                                        # a last few batches: in this window, not in one of their own
                                        or len(chunks) - start - len(window) <= 2 * workers)):
                                chunk = chunks[start + len(window)]
                                if locks:
                                    list(Subscription.objects.select_for_update().filter(
                                        bulk.ids_in("customer_id", chunk)).order_by("id").values_list("id", flat=True))
                                window.append(chunk)
                                flying.append(pool.submit(_plan_in_worker, chunk))
                            if not flying:
                                break
                            plan = flying.popleft().result()
                            outcome = BillingRunResult(as_of=run.as_of)
                            _write_plan(run.org, run.as_of, plan, outcome)
                            outcomes.append(outcome)
                            if checkpoint is not None:
                                checkpoint(result.batches + len(outcomes) - 1)
                except (IntegrityError, _AlreadyClaimed):
                    outcomes = None  # a concurrent run got there first: the window again, batch by batch
                if outcomes is None:
                    for chunk in window:
                        committed(_bill_chunk(run, chunk, result.batches, checkpoint), chunk)
                else:
                    for outcome, chunk in zip(outcomes, window):
                        committed(outcome, chunk)
                start += len(window)
    except BrokenProcessPool:
        logger.warning("A billing planning process died; the run goes on in one process from batch %d.",
                       result.batches)
        result.workers = 1
        for chunk in chunks[start:]:
            committed(_bill_chunk(run, chunk, result.batches, checkpoint), chunk)
    finally:
        _RUN = None


def _worker_init() -> None:
    """In a forked planning process: leave the parent's database connections alone (a fresh one opens)."""
    import signal

    from django.db import connections

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops its workers
    _die_with_parent()
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _INHERITED.append(conn.connection)  # closing it here would close the parent's session
            conn.connection = None


def _die_with_parent() -> None:
    """A planning process ends when the run's process does, even killed (Linux's parent-death signal)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux (planners are forked on Linux only)
        return
    if os.getppid() != _PARENT:  # the parent died before the signal was set
        os._exit(1)


def _plan_in_worker(chunk: list[int]) -> _ChunkPlan:
    run = _RUN
    assert run is not None, "planning process without a run"
    with _gc_paused():
        return _plan_batch(run.org, run.as_of, run.catalog, chunk, run.has_retainers, run.due, lock=False)


@contextlib.contextmanager
def _gc_paused():
    """No cyclic garbage collection while a batch runs (it allocates many small objects that all live until
    its end, so the collector would only walk them again and again); what was alive before the batch is
    frozen out of the collections that follow. The collector's state is restored afterwards, even on error."""
    if not gc.isenabled():
        yield
        return
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


@dataclass
class ScheduledBillingReport:
    """What a scheduled pass did: each organization's run (by slug), and the organizations whose run failed."""

    results: dict[str, BillingRunResult] = field(default_factory=dict)
    #: slug → the error that stopped that organization's run (its committed batches stay billed).
    failures: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        text = "; ".join(f"{slug}: {result.summary()}" for slug, result in self.results.items())
        if self.failures:
            text += (" " if text else "") + "Failed: " + "; ".join(
                f"{slug} ({reason})" for slug, reason in self.failures.items())
        return text or "No organization to bill."


def bill_all_organizations(now: datetime) -> ScheduledBillingReport:
    """Bill every organization as of its own local date at ``now`` (what the scheduler runs daily).

    Each organization is billed on its own: an error in one is logged and reported, and the next
    organizations are billed all the same (the failed one is retried by the next pass; its run is
    idempotent and its committed batches stay billed).
    """
    report = ScheduledBillingReport()
    for org in Organization.objects.order_by("id"):
        as_of = now.astimezone(_zone(org.timezone)).date()
        try:
            report.results[org.slug] = run_billing(org, as_of)
        except Exception as exc:  # noqa: BLE001 - one organization's failure must not stop the others
            logger.exception("Billing run of %s as of %s failed", org.slug, as_of.isoformat())
            report.failures[org.slug] = f"{type(exc).__name__}: {exc}"
    return report


def _merge(result: BillingRunResult, outcome: BillingRunResult) -> None:
    result.invoices += outcome.invoices
    result.topups += outcome.topups
    result.slots += outcome.slots
    result.customers += outcome.customers
    result.skipped += outcome.skipped
    result.kept_prices += outcome.kept_prices
    result.numbers += outcome.numbers
    for cur, row in outcome.by_currency.items():
        mine = result.by_currency.setdefault(cur, {"invoices": 0, "total_minor": 0, "payable_minor": 0})
        for k, v in row.items():
            mine[k] += v


def _bill_batch(org: Organization, as_of: date, catalog: Catalog, customer_ids: list[int],
                result: BillingRunResult, has_retainers: bool, due: _Due) -> None:
    """Plan and write one batch (inside the caller's transaction, which locks its subscriptions first)."""
    _write_plan(org, as_of, _plan_batch(org, as_of, catalog, customer_ids, has_retainers, due, lock=True), result)


def _plan_batch(org: Organization, as_of: date, catalog: Catalog, customer_ids: list[int], has_retainers: bool,
                due: _Due, *, lock: bool) -> _ChunkPlan:
    """Read what a batch needs and plan what it writes (no write). ``lock``: lock the batch's subscriptions
    (in the caller's transaction); without it, the caller holds the locks (see _bill_windows)."""
    batch = _Batch(org, as_of, catalog, customer_ids, has_retainers=has_retainers,
                   with_pending=[c for c in customer_ids if c in due.with_pending],
                   with_late=[c for c in customer_ids if c in due.with_late], lock=lock)
    groups: dict[tuple[int, int, date], _Group] = {}
    failed: dict[int, str] = {}
    cursor: dict[int, tuple[date | None, date | None, str]] = {}
    #: contract → billing date of the last slot of its subscriptions that finish in this run
    last_slot: dict[int, date] = {}

    for sub in batch.subs:
        plan, due, nxt = batch.plans[sub.pk]
        planned = []
        try:
            for slot in due:
                notices: list[tuple[PriceChangeNotice, str]] = []
                lines, quantities = _slot_lines(batch, sub, plan, slot, notices)
                planned.append((slot, lines, quantities, notices))
        except DomainError as exc:
            failed[sub.customer_id] = f"subscription {sub.reference or sub.pk}: {exc.message}"
            continue
        for slot, lines, quantities, notices in planned:
            key = (sub.customer_id, sub.contract_id, slot.billing_date)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(sub.customer, sub.contract, slot.billing_date)
            group.slots.append((sub, slot, len(group.lines), len(lines), quantities))
            group.lines += lines
            group.notices += [(n, t) for n, t in notices if all(n is not m for m, _ in group.notices)]
        last_key = due[-1].key if due else sub.last_billed_period_start
        status = sub.status
        if nxt is None and sub.end_date is not None and status == Subscription.ACTIVE:
            status = Subscription.ENDED
        cursor[sub.pk] = (last_key, nxt.billing_date if nxt else None, status)
        if nxt is None:
            batch.running[sub.contract_id].discard(sub.pk)
            if due:
                last_slot[sub.contract_id] = max(last_slot.get(sub.contract_id, date.min), due[-1].billing_date)

    # Pending charges and late usage go on the customer's first invoice of this run (or on their own).
    settled: list[int] = []
    settled_records: list[BillingRecord] = []
    for customer_id, customer in batch.customers.items():
        if customer_id in failed:
            continue
        try:
            late_lines, late_ids, touched, late_contract = _late_lines(batch, customer_id)
        except DomainError as exc:
            failed[customer_id] = f"late usage: {exc.message}"
            continue
        pending = batch.pending.get(customer_id, [])
        if not (late_lines or pending):
            settled += late_ids  # late events that change nothing: settled without a line
            settled_records += touched
            continue
        mine = sorted((k for k in groups if k[0] == customer_id), key=lambda k: k[2])
        if mine:
            group = groups[mine[0]]
        else:
            contract = late_contract or pending[0].subscription.contract
            contract.customer = customer
            group = groups[(customer_id, contract.id, as_of)] = _Group(customer, contract, as_of)
        for charge in pending:
            group.lines.append(LineData(
                description=charge.description, quantity=Decimal(1),
                unit_price=from_minor(charge.amount_minor, charge.currency), unit=charge.unit,
                tax_category=charge.tax_category, tax_rate=charge.tax_rate,
                tax_exemption_reason=charge.tax_exemption_reason, period_start=charge.period_start,
                period_end=charge.period_end, explanation=charge.explanation,
            ))
        group.pending += pending
        group.lines += late_lines
        group.late_events += late_ids
        group.late_records += touched

    # Prepare every invoice (pure); a customer with any error is left out whole.
    terms_cache: dict[int, tuple] = {}
    rates = reference_rates_for_contracts(g.contract for g in groups.values())  # one query at most
    prepared: list[tuple[_Group, bulk.PreparedInvoice]] = []
    for key in sorted(groups, key=lambda k: (k[0], k[2], k[1])):
        group = groups[key]
        customer_id = key[0]
        if customer_id in failed or not any(line.unit_price for line in group.lines):
            continue
        contract = group.contract
        try:
            if contract.id not in terms_cache:
                key = contract.terms_key()
                shared = batch.cat.terms.get(key)
                if shared is None:
                    shared = batch.cat.terms[key] = (
                        contract.payment_terms(),  # = terms_for(an invoice under it)
                        bulk.describe_late_terms(contract.late_fee_policy(rates), contract.currency, as_of))
                terms_cache[contract.id] = shared
            terms, late_text = terms_cache[contract.id]
            dated = [(line.period_start, line.period_end) for line in group.lines if line.period_start]
            item = bulk.BulkInvoice(
                customer=group.customer, contract=contract, lines=group.lines,
                service_period=(min(d[0] for d in dated), max(d[1] for d in dated)) if dated else None,
                allow_negative=any(line.quantity < 0 for line in group.lines),
            )
            prepared.append((group, bulk.prepare(org, item, issue_date=as_of, terms=terms, late_terms_text=late_text)))
        except DomainError as exc:
            failed[customer_id] = exc.message
    prepared = [(g, p) for g, p in prepared if g.customer.id not in failed]

    # A contract's final invoice: no subscription left to bill, on or after the billing date of its last slot.
    final = {id(group) for group, _ in prepared if not batch.running.get(group.contract.id)
             and group.billing_date >= last_slot.get(group.contract.id, date.min)}
    topups = _apply_prepaid(org, batch, prepared, terms_cache, as_of, final)
    drawdowns = [d for _, p in prepared for d in getattr(p, "drawdowns", [])]

    # Everything the batch writes, as rows (the invoices' document snapshots frozen, values adapted): the
    # writer only numbers the invoices and fills in their ids.
    preps = [p for _, p in prepared] + [t for _, t in topups]
    index = {id(p): i for i, p in enumerate(preps)}
    now = timezone.now()
    records: list[tuple[int | None, list]] = []
    billed = set()
    charges: dict[int, int] = {}
    notices: dict[int, int] = {}
    late: dict[int, int | None] = {pk: None for pk in settled}
    for group, prep in prepared:
        billed.add(id(group))
        i = index[id(prep)]
        for sub, slot, first, count, quantities in group.slots:
            amount = sum(line["net_minor"] for line in prep.lines[first:first + count])
            records.append((i, _record(org, sub, slot, None, amount, quantities) + [now]))
        for charge in group.pending:
            charges[charge.pk] = i
        for notice, _ in group.notices:
            notices[notice.pk] = i
        for pk in group.late_events:
            late[pk] = i
    for group in groups.values():
        if id(group) in billed or group.customer.id in failed:
            continue
        for sub, slot, _, _, quantities in group.slots:  # nothing to charge (e.g. paused): billed once all the same
            records.append((None, _record(org, sub, slot, None, 0, quantities) + [now]))
        for pk in group.late_events:
            late[pk] = None
    touched = [r for g in groups.values() if g.customer.id not in failed for r in g.late_records] + settled_records
    updates: dict[tuple, list[int]] = defaultdict(list)
    for sub in batch.subs:
        if sub.customer_id not in failed and sub.pk in cursor:
            updates[cursor[sub.pk]].append(sub.pk)
    codes = {c.id: c.code for c in batch.customers.values()}
    return _ChunkPlan(
        rows=bulk.invoice_rows(org, preps, now=now) if preps else None,
        topups=[(index[id(top)], retainer.contract_id) for retainer, top in topups],
        records=records,
        records_adapted=bulk.adapt_rows(BillingRecord, _RECORD_COLUMNS, [row for _, row in records]),
        charges=list(charges.items()), notices=list(notices.items()), late=list(late.items()),
        touched=[(r.pk, r.usage) for r in touched],
        drawdowns=[(index[id(prep)], prep.fields["contract_id"], kind, amount) for prep, kind, amount in drawdowns],
        cursors=list(updates.items()),
        retainers=batch.has_retainers,
        customers=len({g.customer.id for g, _ in prepared}),
        skipped=[(codes.get(cid, str(cid)), reason) for cid, reason in sorted(failed.items())],
        kept=[(codes.get(cid, str(cid)), why) for cid, why in dict.fromkeys(batch.kept) if cid not in failed],
    )


@dataclass
class _ChunkPlan:
    """What a batch writes, planned from reads alone: plain values, no model instance, so it pickles cheaply
    (a planning process hands it to the process that writes, see :func:`_plan_in_worker`)."""

    #: The invoices (the top-ups last), unnumbered; None when the batch issues none.
    rows: bulk.InvoiceRows | None
    #: (index of a top-up invoice in ``rows``, contract of its retainer).
    topups: list[tuple[int, int]]
    #: (index of its invoice or None, billing record values in _RECORD_COLUMNS order, invoice_id unset).
    records: list[tuple[int | None, list]]
    records_adapted: frozenset[str]
    #: (pending charge id, invoice index), (price change notice id, invoice index), (late event id, index or None).
    charges: list[tuple[int, int]]
    notices: list[tuple[int, int]]
    late: list[tuple[int, int | None]]
    #: (billing record id, its re-priced usage) of windows with late usage.
    touched: list[tuple[int, dict]]
    #: (invoice index, contract id, kind, minor units) of deposit and retainer drawdowns.
    drawdowns: list[tuple[int, int, str, int]]
    #: ((last billed period, next billing date, status), subscription ids).
    cursors: list[tuple[tuple, list[int]]]
    retainers: bool
    customers: int
    skipped: list[tuple[str, str]]
    #: (customer code, why) of new prices not billed yet: their notice did not go out in time.
    kept: list[tuple[str, str]] = field(default_factory=list)


def _write_plan(org: Organization, as_of: date, plan: _ChunkPlan, result: BillingRunResult) -> None:
    """Write a planned batch (inside the caller's transaction): numbers, invoices and lines, claims, records,
    drawdowns, top-ups, retainer balances and subscription cursors."""
    ids, numbers = bulk.write_invoice_rows(org, plan.rows, issue_date=as_of) if plan.rows else ([], [])
    # Claim the pending charges, notices and late events in bulk, each only if still unclaimed.
    _claim(PendingCharge.objects.filter(invoice__isnull=True),
           [PendingCharge(pk=pk, invoice_id=ids[i]) for pk, i in plan.charges], ["invoice"])
    _claim(PriceChangeNotice.objects.filter(first_invoice__isnull=True),
           [PriceChangeNotice(pk=pk, first_invoice_id=ids[i]) for pk, i in plan.notices], ["first_invoice"])
    _claim(UsageEvent.objects.filter(late_billed_on__isnull=True),
           [UsageEvent(pk=pk, late_billed_on=as_of, adjusted_on_id=None if i is None else ids[i])
            for pk, i in plan.late], ["late_billed_on", "adjusted_on"])
    if plan.touched:
        BillingRecord.objects.bulk_update([BillingRecord(pk=pk, usage=usage) for pk, usage in plan.touched],
                                          ["usage"])
    invoice_at = _RECORD_COLUMNS.index("invoice_id")
    records = []
    for i, row in plan.records:
        if i is not None:
            row[invoice_at] = ids[i]
        records.append(row)
    bulk.insert_rows(BillingRecord, _RECORD_COLUMNS, records, adapted=plan.records_adapted)
    meta = plan.rows.meta if plan.rows else []
    PrepaidDrawdown.objects.bulk_create([
        PrepaidDrawdown(organization=org, customer_id=meta[i][0], contract_id=contract_id, kind=kind,
                        invoice_id=ids[i], currency=meta[i][2], amount_minor=amount, applied_on=as_of)
        for i, contract_id, kind, amount in plan.drawdowns
    ])
    PrepaidFunding.objects.bulk_create([
        PrepaidFunding(organization=org, customer_id=meta[i][0], contract_id=contract_id,
                       kind=PrepaidFunding.RETAINER, invoice_id=ids[i], currency=meta[i][2],
                       amount_minor=meta[i][3], created_on=as_of)
        for i, contract_id in plan.topups
    ])
    # The retainer balance on each invoice of a customer with a retainer, once this run's drawdowns are written.
    if plan.retainers and ids:
        retainers.freeze_on_invoices(
            Invoice.objects.filter(bulk.ids_in("id", ids)).only("id", "customer_id", "currency", "document_snapshot")
            .order_by("id"), as_of=as_of)
    for (last_key, next_on, status), sub_ids in plan.cursors:
        Subscription.objects.filter(bulk.ids_in("id", sub_ids)).update(last_billed_period_start=last_key,
                                                                       next_bill_on=next_on, status=status)
    for (_, _, currency, total, prepaid), number in zip(meta, numbers):
        result.add_invoice(currency, total, total - prepaid)
    result.numbers += numbers
    result.invoices += len(ids)
    result.topups += len(plan.topups)
    result.slots += len(plan.records)
    result.customers += plan.customers
    result.skipped += plan.skipped
    result.kept_prices += plan.kept


class _AlreadyClaimed(Exception):
    """Rows this batch read as unbilled were claimed by a concurrent run: the batch rolls back and is retried."""


def _claim(unclaimed: QuerySet, rows: list, fields: list[str]) -> None:
    """Write ``fields`` of ``rows`` in bulk, only on rows still matching ``unclaimed``; all of them, or raise.

    The row count is the guard: if another run claimed one of these rows since this batch read it,
    fewer rows match and :class:`_AlreadyClaimed` rolls the whole batch back (numbers included).
    """
    if rows and unclaimed.bulk_update(rows, fields) != len(rows):
        raise _AlreadyClaimed(f"{unclaimed.model.__name__}: claimed by a concurrent billing run")


def _apply_prepaid(org: Organization, batch: _Batch, prepared: list[tuple[_Group, bulk.PreparedInvoice]],
                   terms_cache: dict[int, tuple], as_of: date,
                   final: set[int]) -> list[tuple[RetainerAgreement, bulk.PreparedInvoice]]:
    """Deduct available deposits, then retainers; plan a top-up for a retainer that fell below its threshold.

    A paid deposit is deducted as the contract says (``Contract.deposit_deduction``): from the next
    invoices until used up (the default), or held until the contract's final invoice (``final``: the
    groups billed once no subscription of the contract is left to bill), whose notes then show what
    is left to pay back. Sets ``prep.drawdowns`` ([(prep, kind, minor)]) and the invoice notes;
    returns the top-up invoices.
    """
    topups: list[tuple[RetainerAgreement, bulk.PreparedInvoice]] = []
    for group, prep in prepared:
        contract, currency = group.contract, prep.currency
        remaining = prep.total_minor
        notes = [text + "." if not text.endswith(".") else text for _, text in group.notices]
        drawdowns = []
        key = (contract.id, PrepaidFunding.DEPOSIT)
        available = max(batch.available.get(key, 0), 0)
        at_end = contract.deposit_deduction == Contract.DEPOSIT_FINAL_INVOICE
        deposit_ref = f"deposit invoice {batch.deposit_invoices.get(contract.id, '')}"
        if available and at_end and id(group) not in final:
            notes.append(f"Deposit held until the final invoice under this contract: "
                         f"{from_minor(available, currency)} {currency} ({deposit_ref}).")
            available = 0
        deposit = min(available, remaining)
        if deposit:
            batch.available[key] -= deposit
            remaining -= deposit
            drawdowns.append((prep, PrepaidFunding.DEPOSIT, deposit))
            notes.append(f"Deposit deducted: {from_minor(deposit, currency)} {currency} ({deposit_ref}).")
        if at_end and available > deposit:
            rest = available - deposit
            notes.append(f"Deposit left after this final invoice: {from_minor(rest, currency)} {currency}, "
                         "owed back to you.")
        retainer = batch.retainers.get(contract.id)
        if retainer is not None:
            key = (contract.id, PrepaidFunding.RETAINER)
            drawn = min(max(batch.available.get(key, 0), 0), remaining)
            if drawn:
                batch.available[key] -= drawn
                remaining -= drawn
                drawdowns.append((prep, PrepaidFunding.RETAINER, drawn))
                notes.append(f"Retainer drawdown: {from_minor(drawn, currency)} {currency}.")
            balance = batch.available.get(key, 0)
            notes.append(f"Retainer balance after this invoice: {from_minor(balance, currency)} {currency}.")
            if balance < retainer.threshold_minor and contract.id not in batch.open_topups:
                terms, late_text = terms_cache[contract.id]
                topups.append((retainer, bulk.prepare(org, topup_invoice(group.customer, contract, retainer, balance),
                                                      issue_date=as_of, terms=terms, late_terms_text=late_text)))
                batch.open_topups.add(contract.id)
                notes.append(f"A retainer top-up of {from_minor(retainer.topup_minor, retainer.currency)} "
                             f"{retainer.currency} is invoiced separately.")
        if remaining != prep.total_minor:
            bulk.set_prepaid(prep, prep.total_minor - remaining)
        prep.drawdowns = drawdowns  # type: ignore[attr-defined]
        if notes:
            prep.fields["notes"] = "\n".join(notes)
    return topups


def topup_invoice(customer: Customer, contract: Contract, retainer: RetainerAgreement,
                  balance_minor: int | None = None) -> bulk.BulkInvoice:
    """A retainer (top-up) invoice: an advance payment, not subject to VAT itself (see PREPAID_TAX_REASON)."""
    why = ""
    if balance_minor is not None:
        why = (f"The retainer balance fell to {from_minor(balance_minor, retainer.currency)} {retainer.currency}, "
               f"below the threshold of {from_minor(retainer.threshold_minor, retainer.currency)}.")
    return bulk.BulkInvoice(
        customer=customer, contract=contract, kind=Invoice.KIND_DEPOSIT,
        lines=[LineData(
            description=f"Retainer top-up — contract {contract.reference}", quantity=Decimal(1),
            unit_price=from_minor(retainer.topup_minor, retainer.currency), tax_category=PREPAID_TAX_CATEGORY,
            tax_exemption_reason=PREPAID_TAX_REASON, explanation=why,
        )],
        notes="Retainer: once paid, this amount is drawn down by your recurring and usage charges.",
    )


_RECORD_COLUMNS = ("organization_id", "subscription_id", "period_start", "period_end", "usage_start", "usage_end",
                   "billing_date", "invoice_id", "amount_minor", "currency", "usage", "created_at")


def _record(org: Organization, sub: _Sub, slot: Slot, invoice_id: int | None, amount: int,
            quantities: dict) -> list:
    """A billing record's values in :data:`_RECORD_COLUMNS` order (``created_at`` appended when written)."""
    return [org.id, sub.pk, slot.key, slot.cycle.period.end if slot.cycle else slot.key,
            slot.usage.start if slot.usage else None, slot.usage.end if slot.usage else None,
            slot.billing_date, invoice_id, amount, sub.currency, quantities]
