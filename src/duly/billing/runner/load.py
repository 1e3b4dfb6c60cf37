"""Loading: what a billing run reads, in bulk, into the plain-value snapshot the composition takes.

:class:`Catalog` is the organization's catalog, read once per run (or per service call) as a
:class:`~duly.domain.compose.PriceBook`; :func:`load_batch` reads everything a batch of customers needs
(locking their subscriptions first) and returns a :class:`~duly.domain.compose.inputs.BatchSnapshot`
plus the model instances the invoices are issued with (:class:`LoadedBatch`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone as dt_timezone
from typing import Iterable

from django.db.models import F, OuterRef, Subquery, Sum

from duly.customers.models import Contract, Customer, Organization
from duly.db.fastpath import fetch_rows, ids_in
from duly.domain import aggregations
from duly.domain import usage as domain_usage
from duly.domain.billing_plan import SubscriptionPlan, parse_anchor, plain_quantity, slots
from duly.domain.compose import PriceBook, zone
from duly.domain.compose.inputs import (
    BatchSnapshot,
    BilledWindow,
    CatalogSnapshot,
    ContractInput,
    EventSeries,
    ItemInput,
    LateEvent,
    MetricInfo,
    NoticeState,
    PendingChargeInput,
    PrepaidBalances,
    PriceChangeInfo,
    PriceInfo,
    ProductInfo,
    RetainerInput,
    SubscriptionInput,
)
from duly.domain.schedules import Pause
from duly.invoicing.bulk import fetch_instances
from duly.invoicing.models import Invoice

from ..models import (
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

__all__ = ["Catalog", "Due", "LoadedBatch", "due_customers", "load_batch"]

_UTC = dt_timezone.utc


# --- catalog ------------------------------------------------------------------------------------------
def product_info(p: Product) -> ProductInfo:
    return ProductInfo(p.pk, p.name, p.unit, p.tax_category, p.tax_rate, p.tax_exemption_reason)


def price_info(p: Price) -> PriceInfo:
    return PriceInfo(p.pk, p.product_id, p.code, p.nickname, p.currency, p.quantity_source, p.metric_id,
                     p.model_config)


def change_info(c: PriceChange) -> PriceChangeInfo:
    return PriceChangeInfo(c.pk, c.price_id, c.subscription_id, c.effective_date, c.new_model_config,
                           c.notice_days, c.justification)


class Catalog(PriceBook):
    """The organization's products, prices, metrics and price changes, read once per run (plain values).

    The price-change notices of a customer are read when first needed (:meth:`load_notices`).
    """

    def __init__(self, org: Organization) -> None:
        changes: dict[int, list[PriceChangeInfo]] = defaultdict(list)
        for change in PriceChange.objects.filter(organization=org).order_by("effective_date", "id"):
            changes[change.price_id].append(change_info(change))
        super().__init__(
            products={p.pk: product_info(p) for p in Product.objects.filter(organization=org)},
            metrics={m.pk: MetricInfo(m.pk, m.code, m.name, m.aggregation, m.property_name)
                     for m in Metric.objects.filter(organization=org)},
            prices={p.pk: price_info(p) for p in Price.objects.filter(organization=org)},
            changes=changes,
        )
        self._announced_for: set[int] = set()
        #: (payment terms, late-payment text in the customer's language) by (Contract.terms_key(), the customer's
        #: locale) (the run's reference rates and date).
        self.terms: dict[tuple, tuple] = {}

    def snapshot(self) -> CatalogSnapshot:
        return CatalogSnapshot(self.products, self.prices, self.metrics, self.changes)

    def notice(self, change_id: int, customer_id: int) -> NoticeState | None:
        self.load_notices((customer_id,))
        return self.announced.get((change_id, customer_id))

    def load_notices(self, customer_ids: Iterable[int]) -> None:
        """Read the price-change notices of these customers (once each; nothing without price changes)."""
        if not self.changes:
            return
        missing = [c for c in customer_ids if c not in self._announced_for]
        if not missing:
            return
        self.remember_notices(missing, fetch_rows(
            PriceChangeNotice.objects.filter(ids_in("customer_id", missing)).order_by().values_list(
                "price_change_id", "customer_id", "status", "sent_at", "send_on", "customer__timezone")))

    def remember_notices(self, customer_ids: Iterable[int], rows: Iterable[tuple]) -> None:
        """Record the notices of these customers: (change, customer, status, sent at, planned day, time zone)."""
        for change_id, customer_id, status, sent_at, send_on, tz in rows:
            sent = sent_at.astimezone(zone(tz)).date() if sent_at is not None else None
            self.announced[(change_id, customer_id)] = NoticeState(status, sent, send_on)
        self._announced_for.update(customer_ids)


# --- the customers due ------------------------------------------------------------------------------------
@dataclass
class Due:
    """The customers a run bills, and which of them have pending charges or late usage."""

    customers: list[int]
    with_pending: set[int]
    with_late: set[int]


def due_customers(org: Organization, as_of: date) -> Due:
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
    return Due(sorted(due), with_pending, with_late)


# --- one batch ------------------------------------------------------------------------------------------
@dataclass
class LoadedBatch:
    """A batch as read: the snapshot the composition takes, and the rows the invoices are issued with."""

    snapshot: BatchSnapshot
    customers: dict[int, Customer]
    contracts: dict[int, Contract]
    #: subscription → its status (a finished one becomes "ended").
    statuses: dict[int, str]
    has_retainers: bool
    #: The contracts of the due subscriptions (their ``customer`` is set; a late usage or pending charge's
    #: contract gets it when it bills on its own invoice).
    subscription_contracts: frozenset[int]


_SUB_COLUMNS = ("id", "customer_id", "contract_id", "reference", "currency", "interval", "rrule", "anchor_day",
                "timing", "start_date", "end_date", "trial_end", "status", "last_billed_period_start")


def load_batch(org: Organization, as_of: date, catalog: Catalog, customer_ids: list[int], *, has_retainers: bool,
               with_pending: list[int], with_late: list[int], lock: bool = True) -> LoadedBatch:
    """Read everything a batch of customers needs, in bulk (see :class:`_Batch`)."""
    return _Batch(org, as_of, catalog, customer_ids, has_retainers=has_retainers, with_pending=with_pending,
                  with_late=with_late, lock=lock).loaded()


class _Batch:
    """Reads everything a batch of customers needs, in bulk."""

    def __init__(self, org: Organization, as_of: date, catalog: Catalog, customer_ids: list[int],
                 *, has_retainers: bool, with_pending: list[int], with_late: list[int], lock: bool = True) -> None:
        self.org, self.as_of, self.cat = org, as_of, catalog
        self.customer_ids = customer_ids
        self.has_retainers = has_retainers
        self.with_pending, self.with_late = with_pending, with_late
        # Lock every subscription of the batch's customers (not only the due ones): a concurrent run, usage
        # import or subscription change of these customers waits for this batch, and this batch reads their
        # pending charges and late usage only once it holds the locks, so it cannot claim what another
        # run is claiming (see services.run_writer.claim for the second guard). The customers are the
        # organization's (see due_customers); filtering on them alone lets the database use the customer index.
        rows = []
        #: contract → its subscriptions still to be billed (before this run): a deposit held until the final
        #: invoice is deducted once none is left.
        self.running: dict[int, set[int]] = defaultdict(set)
        subscriptions = Subscription.objects.select_for_update() if lock else Subscription.objects.all()
        for row in fetch_rows(subscriptions.filter(ids_in("customer_id", customer_ids))
                              .order_by("id").values_list(*_SUB_COLUMNS, "organization_id", "next_bill_on")):
            if row[-2] != org.id or row[-1] is None:
                continue
            self.running[row[2]].add(row[0])
            if row[-1] <= as_of:
                rows.append(row[:-2])
        self.customers: dict[int, Customer] = {c.pk: c for c in fetch_instances(
            Customer.objects.filter(ids_in("id", customer_ids), organization=org).order_by())}
        self.contracts: dict[int, Contract] = {}
        contracts = Contract.objects.filter(ids_in("id", {r[2] for r in rows})).order_by()
        for contract in fetch_instances(contracts):
            # The same rows, cached as ``contract.customer = …`` would (no query when read; the ids already
            # match): its customer, and its organization (its calendar may move due dates).
            cache = contract._state.fields_cache
            cache["customer"] = self.customers[contract.customer_id]
            cache["organization"], contract.organization_id = org, org.id
            self.contracts[contract.pk] = contract
        self.subscription_contracts = frozenset(self.contracts)
        sub_ids = [r[0] for r in rows]
        self.items: dict[int, list[ItemInput]] = defaultdict(list)
        for pk, sub_id, price_id, qty, starts_on, ends_on in fetch_rows(SubscriptionItem.objects.filter(
            ids_in("subscription_id", sub_ids)
        ).order_by("starts_on", "id").values_list("id", "subscription_id", "price_id", "quantity", "starts_on",
                                                   "ends_on")):
            self.items[sub_id].append(ItemInput(pk, catalog.prices[price_id], plain_quantity(qty), starts_on,
                                                ends_on))
        self.pauses: dict[int, list[Pause]] = defaultdict(list)
        pauses = SubscriptionPause.objects.filter(ids_in("subscription_id", sub_ids)).order_by()
        for sub_id, start, resume in fetch_rows(pauses.values_list("subscription_id", "starts_on", "resumes_on")):
            self.pauses[sub_id].append(Pause(start, resume or date.max))
        self.subs: list[SubscriptionInput] = []
        self.statuses: dict[int, str] = {}
        for (pk, customer_id, contract_id, reference, currency, interval, rrule, anchor_day, timing, start_date,
             end_date, trial_end, status, last_key) in rows:
            metered = any(i.price.quantity_source != Price.SOURCE_QUANTITY for i in self.items[pk])
            plan = SubscriptionPlan(
                start=start_date, interval=interval, rule=rrule or None, anchor=parse_anchor(anchor_day, interval),
                trial_end=trial_end, end=end_date, pauses=tuple(self.pauses[pk]), timing=timing, metered=metered,
            )
            due, nxt = slots(plan, last_key=last_key, as_of=as_of)
            self.subs.append(SubscriptionInput(pk, customer_id, contract_id, reference, currency,
                                               self.customers[customer_id].timezone, end_date, last_key, plan,
                                               tuple(due), nxt))
            self.statuses[pk] = status
        self.events: dict[tuple[int, int], EventSeries] = {}
        self.late_window_events: dict[tuple[int, int], EventSeries] = {}
        self._load_usage()
        self._load_licences()
        self._load_pending()
        self._load_prepaid()
        self.notices: dict[tuple[int, int], int] = {}
        if catalog.changes:
            # Every notice of the batch's customers in one read: whether each change was announced in time,
            # and the ones not yet shown on an invoice.
            notices = list(PriceChangeNotice.objects.filter(ids_in("customer_id", self.customers),
                                                            organization=org).annotate(
                customer_zone=F("customer__timezone")).order_by())
            catalog.remember_notices(self.customer_ids, [
                (n.price_change_id, n.customer_id, n.status, n.sent_at, n.send_on, n.customer_zone) for n in notices])
            self.notices = {(n.price_change_id, n.customer_id): n.pk for n in notices
                            if n.first_invoice_id is None and n.status != PriceChangeNotice.CANCELED}

    def loaded(self) -> LoadedBatch:
        snapshot = BatchSnapshot(
            as_of=self.as_of, catalog=self.cat.snapshot(),
            customers={pk: c.timezone for pk, c in self.customers.items()},
            contracts={pk: ContractInput(pk, c.currency, c.deposit_deduction) for pk, c in self.contracts.items()},
            subscriptions=self.subs, items=self.items,
            running=self.running,
            events=self.events, late_window_events=self.late_window_events, licences=self.snapshots,
            pending=self.pending, late=self.late, late_windows=self.late_windows, notices=self.notices,
            prepaid=self.prepaid,
        )
        return LoadedBatch(snapshot, self.customers, self.contracts, self.statuses, self.has_retainers,
                           self.subscription_contracts)

    # usage ------------------------------------------------------------------------------------------------
    def _load_usage(self) -> None:
        """Events of every usage window due in the batch (one query), plus the level before for averages."""
        customers, metrics = set(), set()
        lo = hi = None
        for sub in self.subs:
            usage_metrics = {i.price.metric_id for i in self.items[sub.pk]
                             if i.price.quantity_source == Price.SOURCE_USAGE}
            for slot in sub.due:
                if slot.usage is None or not usage_metrics:
                    continue
                customers.add(sub.customer_id)
                metrics |= usage_metrics
                lo = slot.usage.start if lo is None else min(lo, slot.usage.start)
                hi = slot.usage.end if hi is None else max(hi, slot.usage.end)
        if customers:
            self.events = self._fetch_events(customers, metrics, lo, hi, include_late=False)

    def _fetch_events(self, customers: set[int], metrics: set[int], lo: date, hi: date,
                      *, include_late: bool) -> dict[tuple[int, int], EventSeries]:
        # Local-day windows: fetch a day more on each side, the exact bounds are applied per customer.
        start = datetime.combine(lo - timedelta(days=1), time.min, _UTC)
        end = datetime.combine(hi + timedelta(days=1), time.min, _UTC)
        # The aggregations that need the events' properties, or the level before a window (the registry says).
        needs_properties = any(aggregations.aggregation(self.cat.metrics[m].aggregation).uses_property
                               for m in metrics)
        columns = ["customer_id", "subscription_id", "metric_id", "idempotency_key", "timestamp", "value"]
        if needs_properties:
            columns.append("properties")
        qs = UsageEvent.objects.filter(ids_in("customer_id", customers), ids_in("metric_id", metrics),
                                       organization=self.org, timestamp__gte=start, timestamp__lt=end)
        if not include_late:
            qs = qs.filter(late=False)
        rows = fetch_rows(qs.order_by().values_list(*columns))
        averaged = sorted(m for m in metrics
                          if aggregations.aggregation(self.cat.metrics[m].aggregation).reads_before_window)
        if averaged:
            # The level a window opens with: the latest event before the fetched range, per customer and
            # metric (the one the aggregation would pick: latest timestamp, then greatest key). One index
            # seek per customer and metric, whatever the number of customers.
            def latest(metric_id: int) -> Subquery:
                return Subquery(UsageEvent.objects.filter(
                    organization=self.org, customer_id=OuterRef("pk"), metric_id=metric_id, timestamp__lt=start,
                ).order_by("-timestamp", "-idempotency_key").values("idempotency_key")[:1])

            keys = [key for row in Customer.objects.filter(ids_in("id", customers)).order_by().annotate(
                **{f"m{m}": latest(m) for m in averaged}).values_list(*(f"m{m}" for m in averaged))
                for key in row if key is not None]
            if keys:
                rows += fetch_rows(UsageEvent.objects.filter(organization=self.org, idempotency_key__in=keys)
                                   .order_by().values_list(*columns))
        store: dict[tuple[int, int], list[tuple]] = defaultdict(list)
        seen = set()
        for row in rows:
            customer_id, sub_id, metric_id, key, ts, value = row[:6]
            if key in seen:
                continue
            seen.add(key)
            props = row[6] if needs_properties else {}
            metric = self.cat.metrics[metric_id]
            store[(customer_id, metric_id)].append(
                (ts, sub_id, domain_usage.UsageEvent(key, ts, metric.code, value, props or {})))
        series = {}
        for k, events in store.items():
            events.sort(key=lambda e: e[0])
            series[k] = EventSeries(tuple(e[0] for e in events), tuple(e[1] for e in events),
                                    tuple(e[2] for e in events))
        return series

    def _load_licences(self) -> None:
        self.snapshots: dict[int, dict[date, int]] = defaultdict(dict)
        subs, lo, hi = set(), None, None
        for sub in self.subs:
            if not any(i.price.quantity_source == Price.SOURCE_LICENCES for i in self.items[sub.pk]):
                continue
            for slot in sub.due:
                if slot.usage is not None:
                    subs.add(sub.pk)
                    lo = slot.usage.start if lo is None else min(lo, slot.usage.start)
                    hi = slot.usage.end if hi is None else max(hi, slot.usage.end)
        if not subs:
            return
        rows = fetch_rows(LicenceSnapshot.objects.filter(ids_in("subscription_id", subs), day__gte=lo,
                                                        day__lt=hi).order_by().values_list(
            "subscription_id", "day", "active_count"))
        # The count a window opens with: each subscription's latest snapshot before the fetched range
        # (one index seek per subscription, whatever their number).
        before = LicenceSnapshot.objects.filter(subscription_id=OuterRef("pk"), day__lt=lo).order_by("-day")
        rows += [row for row in Subscription.objects.filter(ids_in("id", subs)).order_by().annotate(
            last_day=Subquery(before.values("day")[:1]), last_count=Subquery(before.values("active_count")[:1]),
        ).values_list("id", "last_day", "last_count") if row[1] is not None]
        for sub_id, day, count in rows:
            self.snapshots[sub_id][day] = count

    # pending charges and late usage --------------------------------------------------------------------------
    def _load_pending(self) -> None:
        self.pending: dict[int, list[PendingChargeInput]] = defaultdict(list)
        pending_contracts: list[Contract] = []
        if self.with_pending:
            for charge in PendingCharge.objects.filter(organization=self.org, customer_id__in=self.with_pending,
                                                       invoice__isnull=True).select_related(
                    "subscription__contract").order_by("created_on", "id"):
                self.pending[charge.customer_id].append(PendingChargeInput(
                    charge.pk, charge.subscription.contract_id, charge.description, charge.amount_minor,
                    charge.currency, charge.unit, charge.tax_category, charge.tax_rate, charge.tax_exemption_reason,
                    charge.period_start, charge.period_end, charge.explanation))
                pending_contracts.append(charge.subscription.contract)
        self.late: dict[int, list[LateEvent]] = defaultdict(list)
        if self.with_late:
            for pk, customer_id, sub_id, metric_id, ts in UsageEvent.objects.filter(
                    organization=self.org, customer_id__in=self.with_late, late=True,
                    late_billed_on__isnull=True).order_by().values_list(
                    "id", "customer_id", "subscription_id", "metric_id", "timestamp"):
                self.late[customer_id].append(LateEvent(pk, sub_id, metric_id, ts))
        self.late_windows: dict[int, list[BilledWindow]] = defaultdict(list)
        if self.late:
            late_customers = list(self.late)
            days = [e.timestamp for events in self.late.values() for e in events]
            lo, hi = min(days).date() - timedelta(days=1), max(days).date() + timedelta(days=1)
            records = list(BillingRecord.objects.filter(
                organization=self.org, subscription__customer_id__in=late_customers, usage_start__isnull=False,
                usage_start__lte=hi, usage_end__gt=lo,
            ).select_related("subscription", "subscription__customer", "subscription__contract", "invoice")
                .order_by())
            for record in records:
                sub = record.subscription
                self.late_windows[sub.customer_id].append(BilledWindow(
                    record.pk, sub.pk, sub.customer_id, sub.contract_id, sub.currency, sub.customer.timezone,
                    record.usage_start, record.usage_end, record.usage,
                    record.invoice.number if record.invoice_id else ""))
                self.contracts.setdefault(sub.contract_id, sub.contract)
            subs = {r.subscription_id for r in records}
            for pk, sub_id, price_id, qty, starts_on, ends_on in SubscriptionItem.objects.filter(
                subscription_id__in=subs - set(self.items)
            ).order_by("starts_on", "id").values_list("id", "subscription_id", "price_id", "quantity", "starts_on",
                                                       "ends_on"):
                self.items[sub_id].append(ItemInput(pk, self.cat.prices[price_id], plain_quantity(qty), starts_on,
                                                    ends_on))
            if records:
                metrics = {e.metric_id for events in self.late.values() for e in events}
                self.late_window_events = self._fetch_events(
                    set(late_customers), metrics, min(r.usage_start for r in records),
                    max(r.usage_end for r in records), include_late=True)
        for contract in pending_contracts:
            self.contracts.setdefault(contract.pk, contract)

    # deposits and retainers -----------------------------------------------------------------------------------
    def _load_prepaid(self) -> None:
        contract_ids = [c.pk for c in self.contracts.values()]
        available: dict[tuple[int, str], int] = defaultdict(int)
        open_topups: set[int] = set()
        deposit_invoices: dict[int, str] = {}
        retainers: dict[int, RetainerInput] = {}
        self.prepaid = PrepaidBalances()
        needs = [c.pk for c in self.contracts.values() if c.deposit_kind != "none"]
        if self.has_retainers:
            needs = contract_ids
        if not needs:
            return
        for contract_id, kind, status, total, number in PrepaidFunding.objects.filter(
            contract_id__in=needs
        ).order_by().values_list("contract_id", "kind", "invoice__status", "invoice__total_minor", "invoice__number"):
            if status == Invoice.PAID:
                available[(contract_id, kind)] += total
                if kind == PrepaidFunding.DEPOSIT:
                    deposit_invoices[contract_id] = number
            elif kind == PrepaidFunding.RETAINER and status in Invoice.OPEN_STATUSES:
                open_topups.add(contract_id)
        drawn = PrepaidDrawdown.objects.filter(contract_id__in=needs).order_by().values("contract_id", "kind")
        for row in drawn.annotate(s=Sum("amount_minor")):
            available[(row["contract_id"], row["kind"])] -= row["s"]
        if self.has_retainers:
            retainers = {r.contract_id: RetainerInput(r.contract_id, r.threshold_minor, r.topup_minor, r.currency)
                         for r in RetainerAgreement.objects.filter(contract_id__in=needs, active=True)}
        self.prepaid = PrepaidBalances(dict(available), frozenset(open_topups), deposit_invoices, retainers)
