"""The calculator: gathers account snapshots for many customers with a fixed number of queries.

For a chunk of customers :func:`gather` runs one query per kind of fact (customers, profiles,
open invoices, 12 months of invoice history, past reminders and how far they got (delivered, or
waiting for a person to phone or post), the other recent messages of the contact budget, open disputes,
promises, customer credit, contacts, message opens and online payments for the best hour, the
contracts' late-fee terms) — never a query per customer or per invoice — and builds for each
customer the pure :class:`duly.domain.dunning.AccountSnapshot`, the policy chosen for it, and the
rows the messages need. Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable, Sequence

from dateutil.relativedelta import relativedelta
from django.db.models import F, Q, QuerySet

from duly.customers.models import Contact, Contract, Customer, Organization
from duly.customers.services import reference_rates_for
from duly.db import partition as partitions
from duly.db.fastpath import fetch_rows, ids_in
from duly.domain import dunning
from duly.domain.calendar import holiday_region, zone
from duly.domain.late_fees import LateFeePolicy
from duly.domain.money import from_minor
from duly.invoicing.models import PAYABLE_MINOR, Invoice
from duly.messaging.models import Message
from duly.messaging.services import custom_categories
from duly.payments.autopay_services import autopay_holds
from duly.payments.models import Payment
from duly.payments.return_services import debit_holds

from .models import (CollectionsSettings, CustomerProfile, Dispute, LatePaymentScore, Policy, PromiseToPay, Reminder,
                     SegmentRule, Task)
from .policies import TONE_CODES, PolicySpec, default_specs
from .receipts import pending_receipts

CHASED_KINDS = (Invoice.KIND_STANDARD, Invoice.KIND_DEPOSIT, Invoice.KIND_LATE_FEE)
#: Online payment methods: the time they were recorded is the time the customer paid.
ONLINE_METHODS = ("card", "paypal")
BEST_HOUR_LOOKBACK = timedelta(days=365)
#: A payment this soon after a reminder counts as a response to it (for the learned best hour).
RESPONSE_WINDOW = timedelta(days=14)
REMINDER_CATEGORIES = ("dunning", "termination")


def holiday_country(country: str, subdivision: str = "") -> str | None:
    """Whose public holidays apply: the region (``"DE-BY"``, stored validated) or the country when the
    holiday calendar knows the country, else None (Monday to Friday): the domain's
    :func:`duly.domain.calendar.holiday_region`, the value :class:`~duly.domain.calendar.HolidayCalendar`
    is then built from (:func:`duly.domain.calendar.region_calendar`)."""
    return holiday_region(country, subdivision)


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: int
    code: str
    name: str
    locale: str
    timezone: str
    country: str
    segment: str
    payment_method: str
    status: str
    currency: str
    pay_link_version: int = 1
    subdivision: str = ""


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    id: int
    customer_id: int
    contract_id: int | None
    number: str
    kind: str
    currency: str
    issue_date: date
    due_date: date
    service_date: date | None
    period_end: date | None
    payable_minor: int
    balance_minor: int
    contract_start: date | None = None


@dataclass(frozen=True, slots=True)
class ContactRow:
    id: int
    customer_id: int
    name: str
    email: str
    phone: str
    role: str
    locale: str
    opted_out: bool


@dataclass(frozen=True, slots=True)
class ReminderRow:
    step_code: str
    sent_at: datetime
    invoice_ids: tuple[int, ...]
    subject: str
    #: False when its message did not reach the customer (queued, bounced, failed, cancelled, or
    #: may not have arrived): a letter never cites it as a reminder sent.
    delivered: bool = True


#: Message statuses that do not show a reminder reached the customer.
UNDELIVERED = ("bounced", "failed", "cancelled", "unconfirmed")
#: Categories of the other messages that count toward the contact-fatigue limits (one contact budget):
#: invoice e-mails, notices and greetings. Thank-yous and answers to queries reply to the customer.
BUDGET_CATEGORIES = ("invoice", "notice", "relationship")


def delivery(channel: str, status: str | None, sent_at: datetime, message_sent_at: datetime | None,
             cancelled_at: datetime | None, handled_at: datetime | None) -> tuple[datetime | None, str | None]:
    """When a reminder reached the customer, or why it has not: ``(delivered_at, None)`` or
    ``(None, reason)`` (see :class:`duly.domain.dunning.PastReminder`).

    An e-mail reached them when it was sent. A letter, when staff marked its "print and post" task
    done; a phone step, when the call was marked done. An e-mail that bounced or failed counts once
    staff handled it (the phone task it raised is done). A message cancelled because its invoices
    were closed counts as handled then. Queued, sending or unconfirmed: not yet.
    """
    if status is None:
        if channel == "phone_task":
            return (handled_at, None) if handled_at is not None else (None, "phone call not made yet")
        return sent_at, None
    if status == "sent":
        return message_sent_at or sent_at, None
    if status == "cancelled":
        return cancelled_at or sent_at, None
    if status == "held":
        return (handled_at, None) if handled_at is not None else (None, "letter not posted yet")
    if status in ("bounced", "failed"):
        return (handled_at, None) if handled_at is not None else (None, f"{status}: phone task open")
    return None, f"{status}: not sent yet" if status != "unconfirmed" else "unconfirmed: check the outbox"


#: Message statuses whose reminder counts as delivered once a person completed its task.
_HANDLED_BY_TASK = ("held", "bounced", "failed")


@dataclass
class Account:
    """Everything gathered about one customer."""

    customer: CustomerRow
    snapshot: dunning.AccountSnapshot
    spec: PolicySpec
    policy_reason: str
    invoices: dict[int, InvoiceRow]
    contacts: dict[int, ContactRow]
    reminders: list[ReminderRow]
    #: Open invoices whose automatic payment failed for good: ``(rail, decline code)``, which reminders explain.
    declines: dict[int, tuple[str, str]] = field(default_factory=dict)

    @property
    def policy(self) -> dunning.Policy:
        return self.spec.policy


@dataclass
class RunContext:
    """What a run needs once per organization: settings, policies, segment rules, late-fee terms."""

    org: Organization
    send_window: tuple[time, time]
    thresholds: dunning.ToneThresholds
    specs: dict[str, PolicySpec]
    tone_policies: dict[str, str]
    segment_policies: dict[str, str]
    segment_hours: dict[str, int]
    sla_business_days: int
    greetings_enabled: bool
    #: Category of each of the organization's own (non-shipped) templates.
    template_categories: dict[str, str]
    late_fee_terms: dict[int, LateFeePolicy] = field(default_factory=dict)
    #: Recorded statutory reference rates per series, read once per run for the series met.
    reference_rates: dict[str, tuple] = field(default_factory=dict)
    #: The memos of the run's dunning evaluations (customer clocks, policy plans): one per run,
    #: passed to every :func:`duly.domain.dunning.evaluate` of it.
    evaluator: dunning.Evaluator = field(default_factory=dunning.Evaluator)

    @classmethod
    def load(cls, org: Organization) -> "RunContext":
        """Settings and policies of ``org`` (shipped defaults for what it has not defined)."""
        conf = CollectionsSettings.objects.filter(organization=org).select_related(
            "gentle_policy", "neutral_policy", "firm_policy").first() or CollectionsSettings(organization=org)
        specs = default_specs()
        rows = list(Policy.objects.filter(organization=org).prefetch_related("steps"))
        for row in rows:
            specs[row.code] = PolicySpec(policy=row.to_domain(list(row.steps.all())), restore_days=row.restore_days)
        tone_policies = {tone: tone for tone in TONE_CODES}
        for tone in TONE_CODES:
            chosen = getattr(conf, f"{tone}_policy", None)
            if chosen is not None:
                tone_policies[tone] = chosen.code
        segment_policies, segment_hours = {}, {}
        for segment, code, hour in SegmentRule.objects.filter(organization=org).values_list(
                "segment", "policy__code", "default_hour"):
            if code:
                segment_policies[segment] = code
            if hour is not None:
                segment_hours[segment] = hour
        return cls(
            org=org,
            send_window=(conf.send_window_start, conf.send_window_end),
            thresholds=dunning.ToneThresholds(conf.gentle_below, conf.firm_above, conf.firm_from_probability),
            specs=specs,
            tone_policies=tone_policies,
            segment_policies=segment_policies,
            segment_hours=segment_hours,
            sla_business_days=conf.dispute_sla_business_days,
            greetings_enabled=conf.greetings_enabled,
            template_categories=custom_categories(org),
        )

    def domain_policies(self) -> dict[str, dunning.Policy]:
        return {code: spec.policy for code, spec in self.specs.items()}


def customer_ids(org: Organization, *, only: Sequence[int] | None = None,
                 partition: tuple[int, int] | None = None, id_range: tuple[int, int] | None = None) -> list[int]:
    """Customers worth evaluating: those with an open invoice, an open dispute or a recent reminder.

    ``only`` keeps the customers listed; ``partition`` those of one partition (:mod:`duly.db.partition`);
    ``id_range`` = ``(first, last)`` (both included) those in a range of ids: a partition of a run split across
    workers."""
    qs = partitions.filter_queryset(
        Invoice.objects.filter(organization=org, status__in=Invoice.OPEN_STATUSES, kind__in=CHASED_KINDS), partition)
    if only is not None:
        qs = qs.filter(customer_id__in=list(only))
    if id_range is not None:
        qs = qs.filter(customer_id__gte=id_range[0], customer_id__lte=id_range[1])
    return sorted(set(qs.values_list("customer_id", flat=True)))


def chunks(ids: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def gather(rc: RunContext, ids: Sequence[int], as_of: datetime) -> list[Account]:
    """Build the accounts of these customers (a fixed number of queries, whatever their number)."""
    org = rc.org
    ids = sorted(ids)
    today = as_of.date()
    if not ids:
        return []
    # A dense chunk (consecutive ids) is read with a range, cheaper to build and to scan than IN (...).
    dense = ids[-1] - ids[0] < 2 * len(ids)
    by = {"customer_id__gte": ids[0], "customer_id__lte": ids[-1]} if dense else {"customer_id__in": ids}
    wanted = set(ids)
    # Bulk reads go through the ORM fast path (fetch_rows: dates and datetimes parsed in C on SQLite;
    # ids_in: an IN list without the ORM's per-value preparation), the same values as the ORM's.
    customers = [
        CustomerRow(*row) for row in fetch_rows(Customer.objects.filter(
            organization=org, **({"pk__range": (ids[0], ids[-1])} if dense else {})).filter(
            *(() if dense else (ids_in("pk", ids),))).values_list(
            "pk", "code", "name", "locale", "timezone", "country", "segment", "preferred_payment_method", "status",
            "currency", "pay_link_version", "subdivision"))
        if row[0] in wanted
    ]
    profiles = {cid: (code, risk) for cid, code, risk in CustomerProfile.objects.filter(
        organization=org, **by).values_list("customer_id", "policy__code", "risk_level")}

    invoices: dict[int, dict[int, InvoiceRow]] = defaultdict(dict)
    statuses: dict[int, str] = {}
    contract_ids: set[int] = set()
    history: dict[int, list[dunning.InvoiceRecord]] = defaultdict(list)
    # Local dates are at most a day either side of UTC's; choose_policy keeps each customer's own 12 months.
    since = today - timedelta(days=1) - relativedelta(months=12)
    # One read for the open invoices chased and the 12 months of history the policy's tone is judged on,
    # in the model's order (newest first), through the customer index (see _by_customer).
    history_kinds = (Invoice.KIND_STANDARD, Invoice.KIND_DEPOSIT)
    open_statuses = Invoice.OPEN_STATUSES
    # What is due (PAYABLE_MINOR: total - prepaid + rounding) is computed here from the three columns, so
    # that every selected column is a plain one the fast path reads.
    for (pk, cid, contract_id, number, kind, currency, issue, due, service, period_end, total, prepaid, rounding,
         paid, status, start, paid_on) in fetch_rows(_by_customer(Invoice.objects, org, by).filter(
            Q(status__in=open_statuses, kind__in=CHASED_KINDS)
            | Q(status=Invoice.PAID, kind__in=history_kinds, issue_date__gt=since),
            due_date__isnull=False).values_list(
            "pk", "customer_id", "contract_id", "number", "kind", "currency", "issue_date", "due_date",
            "service_period_start", "service_period_end", "total_minor", "prepaid_minor", "rounding_minor",
            "paid_minor", "status", "contract__start_date", "paid_on")):
        if cid not in wanted:
            continue
        if issue > since and kind in history_kinds:
            history[cid].append(dunning.InvoiceRecord(pk, issue, due, paid_on if status == Invoice.PAID else None))
        if status not in open_statuses:
            continue
        payable = total - prepaid + rounding
        invoices[cid][pk] = InvoiceRow(pk, cid, contract_id, number or str(pk), kind, currency, issue, due, service,
                                       period_end, payable, payable - paid, start)
        statuses[pk] = status
        if contract_id:
            contract_ids.add(contract_id)
    _load_late_fee_terms(rc, contract_ids)

    reminders: dict[int, list[ReminderRow]] = defaultdict(list)
    past: dict[int, list[dunning.PastReminder]] = defaultdict(list)
    fee_levels: dict[int, set[tuple[int, str]]] = defaultdict(set)
    rows = fetch_rows(Reminder.objects.filter(organization=org, **by).values_list(
        "pk", "customer_id", "step_code", "sent_at", "invoice_ids", "fee_assessed", "channel", "message__subject",
        "message__status", "message__sent_at", "message__cancelled_at"))
    handled: dict[int, datetime] = {}
    waiting_for_staff = [row[0] for row in rows if row[8] in _HANDLED_BY_TASK or (row[8] is None and row[6] == "phone_task")]
    if waiting_for_staff:
        for rid, done in Task.objects.filter(reminder_id__in=waiting_for_staff, kind__in=("phone", "letter"),
                                             done_at__isnull=False).values_list("reminder_id", "done_at"):
            if rid not in handled or done < handled[rid]:
                handled[rid] = done
    for pk, cid, step, sent_at, inv_ids, fee, channel, subject, status, message_sent, cancelled in rows:
        ids = tuple(inv_ids)
        delivered_at, undelivered = delivery(channel, status, sent_at, message_sent, cancelled, handled.get(pk))
        reminders[cid].append(ReminderRow(step, sent_at, ids, subject or "",
                                          undelivered is None and status not in UNDELIVERED))
        past[cid].append(dunning.PastReminder(step, sent_at, ids, delivered_at=delivered_at, undelivered=undelivered))
        if fee:
            fee_levels[cid].update((i, step) for i in inv_ids)
    # The other messages of the contact budget, as far back as the longest fatigue window looks.
    window = max((spec.policy.fatigue.window_days for spec in rc.specs.values()), default=7)
    others: dict[int, list[datetime]] = defaultdict(list)
    for cid, at in fetch_rows(Message.objects.filter(organization=org, **by, category__in=BUDGET_CATEGORIES,
                                                     created_at__gte=as_of - timedelta(days=window + 1)).exclude(
            status=Message.CANCELLED).values_list("customer_id", "created_at")):
        others[cid].append(at)

    disputes: dict[int, set[int]] = defaultdict(set)
    for cid, inv in Dispute.objects.filter(organization=org, **by, status=Dispute.OPEN).values_list(
            "customer_id", "invoice_id"):
        disputes[cid].add(inv)

    promise_parts: dict[int, dict[int, list[Any]]] = defaultdict(dict)
    through = PromiseToPay.invoices.through
    for cid, pid, inv, promised, amount, currency, created in through.objects.filter(
            promisetopay__organization=org, **{f"promisetopay__{k}": v for k, v in by.items()},
            invoice__status__in=Invoice.OPEN_STATUSES).values_list(
            "promisetopay__customer_id", "promisetopay_id", "invoice_id", "promisetopay__promised_date",
            "promisetopay__amount_minor", "promisetopay__currency", "promisetopay__created_at"):
        entry = promise_parts[cid].setdefault(pid, [[], promised, from_minor(amount, currency), created, currency])
        entry[0].append(inv)
    zones = {c.id: c.timezone or "UTC" for c in customers}
    paid_since = paid_towards_promises(
        [(pid, _local_day(e[3], zones.get(cid, "UTC")), e[1]) for cid, parts in promise_parts.items()
         for pid, e in parts.items()])

    credits = pending_receipts(org, **by)

    # Autopay: reminders wait while a retry is scheduled or a charge is under way; a final decline is explained.
    # SEPA debits alike: a re-presentation under way holds them, a return for good is explained.
    open_ids = [pk for rows in invoices.values() for pk in rows]
    retrying, declined = autopay_holds(open_ids, today)
    debits_held, debits_declined = debit_holds(open_ids, today)
    retrying |= debits_held
    declined = {**debits_declined, **declined}
    # Late-payment predictions (published by the insights app's scoring): one bulk read of the open invoices'.
    late_scores = {pk: (p, d) for start in range(0, len(open_ids), 5000)  # well under SQLite's bound variables
                   for pk, p, d in fetch_rows(LatePaymentScore.objects.filter(
                       ids_in("invoice_id", open_ids[start:start + 5000])).values_list(
                       "invoice_id", "probability", "expected_days_late"))}

    contacts: dict[int, dict[int, ContactRow]] = defaultdict(dict)
    people_of: dict[int, list[dunning.Contact]] = defaultdict(list)  # as the snapshot sees them
    for row in fetch_rows(Contact.objects.filter(organization=org, **by).order_by("pk").values_list(
            "pk", "customer_id", "name", "email", "phone", "role", "locale", "opted_out")):
        pk, cid, name, email, phone, role, _, opted_out = row
        contacts[cid][pk] = ContactRow(*row)
        people_of[cid].append(dunning.Contact(id=pk, name=name, email=email or None, phone=phone or None, role=role,
                                              opted_out=opted_out))

    # The best hour is learned from responses to reminders only: opens of reminder messages, and
    # online payments made within RESPONSE_WINDOW after a reminder (a payment nobody asked for says
    # nothing about when this customer reacts to one).
    events: dict[int, list[datetime]] = defaultdict(list)
    horizon = as_of - BEST_HOUR_LOOKBACK
    for cid, at in fetch_rows(Message.objects.filter(organization=org, **by, category__in=REMINDER_CATEGORIES,
                                                     opened_at__gte=horizon, opened_at__lte=as_of).values_list(
            "customer_id", "opened_at")):
        events[cid].append(at)
    for cid, at in fetch_rows(Payment.objects.filter(organization=org, **by, method__in=ONLINE_METHODS,
                                                     created_at__gte=horizon, created_at__lte=as_of).values_list(
            "customer_id", "created_at")):
        if any(r.sent_at < at <= r.sent_at + RESPONSE_WINDOW for r in reminders.get(cid, ())):
            events[cid].append(at)

    policies = rc.domain_policies()
    accounts = []
    # Memos of this chunk: the local day of ``as_of`` per time zone, the holiday region per country, amounts.
    local_days: dict[str, date] = {}
    regions: dict[tuple[str, str], str | None] = {}
    amounts: dict[str, dict[int, Any]] = {}  # per currency: minor units -> amount

    choices: dict[tuple[str | None, str], dunning.PolicyChoice] = {}
    nothing: frozenset = frozenset()

    def money(minor: int, currency: str):
        seen = amounts.get(currency)
        if seen is None:
            seen = amounts[currency] = {}
        value = seen.get(minor)
        if value is None:
            value = seen[minor] = from_minor(minor, currency)
        return value

    def item(r: InvoiceRow) -> dunning.OpenItem:
        score = late_scores.get(r.id) if late_scores else None
        return dunning.OpenItem(
            invoice_id=r.id, number=r.number, currency=r.currency, issue_date=r.issue_date, due_date=r.due_date,
            service_date=r.service_date, total=money(r.payable_minor, r.currency),
            open_amount=money(r.balance_minor, r.currency), status=statuses.get(r.id, "issued"),
            contract_start=r.contract_start,
            late_probability=score[0] if score is not None else None,
            expected_days_late=score[1] if score is not None else None,
        )

    for c in customers:
        tz = c.timezone or "UTC"
        local_day = local_days.get(tz)
        if local_day is None:
            local_day = local_days[tz] = _local_day(as_of, tz)
        region = regions.get((c.country, c.subdivision), False)
        if region is False:
            region = regions[c.country, c.subdivision] = holiday_country(c.country, c.subdivision)
        cid = c.id
        explicit, risk = profiles.get(cid, (None, ""))
        rows = invoices.get(cid, {})
        # An explicit or a segment's policy depends neither on the history nor on the predictions: chosen once
        # per chunk.
        memo = (explicit, c.segment) if explicit or (c.segment and c.segment in rc.segment_policies) else None
        choice = choices.get(memo) if memo is not None else None
        if choice is None:
            predicted = [late_scores[r][0] for r in rows if r in late_scores] if late_scores else None
            choice = dunning.choose_policy(
                dunning.CustomerProfile(cid, segment=c.segment or None, policy_code=explicit or None),
                policies, history.get(cid, ()), local_day, rc.thresholds,
                segment_policies=rc.segment_policies, tone_policies=rc.tone_policies,
                late_probability=max(predicted) if predicted else None,
            )
            if memo is not None:
                choices[memo] = choice
        open_items = tuple(map(item, rows.values()))
        people = contacts.get(cid, {})
        snapshot = dunning.AccountSnapshot(
            customer_id=c.id,
            segment=c.segment or None,
            risk_level=risk or None,
            payment_method=c.payment_method or None,
            timezone=tz,
            country=region,
            send_window=rc.send_window,
            open_items=open_items,
            reminders=tuple(past[cid]) if cid in past else (),
            other_messages=tuple(others[cid]) if cid in others else (),
            status=c.status or "active",
            disputes=frozenset(disputes[cid]) if cid in disputes else nothing,
            payment_retries=frozenset(rows.keys() & retrying) if retrying else nothing,
            promises=tuple(dunning.Promise(tuple(p[0]), p[1], p[2], p[3], from_minor(paid_since.get(pid, 0), p[4]))
                           for pid, p in promise_parts[cid].items()) if cid in promise_parts else (),
            unreconciled_credits=credits.get(cid, {}),
            contacts=tuple(people_of[cid]) if cid in people_of else (),
            best_hour=dunning.learn_best_hour(events[cid], tz) if cid in events else None,
            segment_default_hour=rc.segment_hours.get(c.segment) if c.segment else None,
            fee_levels_assessed=frozenset(fee_levels[cid]) if cid in fee_levels else nothing,
        )
        accounts.append(Account(
            customer=c, snapshot=snapshot, spec=rc.specs[choice.policy.code], policy_reason=choice.reason,
            invoices=rows, contacts=people,
            reminders=sorted(reminders[cid], key=lambda r: r.sent_at) if cid in reminders else [],
            declines={pk: declined[pk] for pk in rows if pk in declined} if declined else {},
        ))
    return accounts


def _by_customer(manager, org: Organization, by: dict[str, Any]) -> QuerySet:
    """``manager`` filtered on the organization and the chunk's customers, read through the customer
    index: the organization is compared as ``organization_id + 0``, so that SQLite, which has no
    statistics, does not pick an (organization, ...) index and scan every open invoice of the
    organization for each chunk (a run was quadratic in its number of customers). PostgreSQL
    plans it from its statistics either way."""
    return manager.alias(_org=F("organization_id") + 0).filter(_org=org.pk, **by)


def _local_day(moment: datetime, name: str) -> date:
    return moment.astimezone(zone(name)).date()


def paid_towards_promises(promises: Sequence[tuple[int, date, date]]) -> dict[int, int]:
    """Minor units paid (payments and customer credit, not credit notes) on the invoices of each
    promise ``(id, local day it was made, promised date)`` between those two days: two queries."""
    if not promises:
        return {}
    from duly.payments.models import Allocation

    through = PromiseToPay.invoices.through
    invoices_of: dict[int, list[int]] = defaultdict(list)
    for pid, inv in through.objects.filter(promisetopay_id__in=[p[0] for p in promises]).values_list(
            "promisetopay_id", "invoice_id"):
        invoices_of[pid].append(inv)
    first = min(p[1] for p in promises)
    last = max(p[2] for p in promises)
    paid: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for inv, on, minor in Allocation.objects.filter(
            invoice_id__in={i for ids in invoices_of.values() for i in ids}, credit_note__isnull=True,
            applied_on__gte=first, applied_on__lte=last).values_list("invoice_id", "applied_on", "amount_minor"):
        paid[inv].append((on, minor))
    return {pid: sum(minor for inv in invoices_of.get(pid, ()) for on, minor in paid.get(inv, ()) if made <= on <= by)
            for pid, made, by in promises}


_TERM_FIELDS = ("currency", "late_fee_kind", "late_fixed_fee_minor", "late_rate_percent", "reference_rate_percent",
                "late_grace_days", "late_cap_percent", "late_cap_minor", "compensation_minor")


def _load_late_fee_terms(rc: RunContext, contract_ids: Iterable[int]) -> None:
    """The late-fee policy of each contract; contracts with the same terms share one policy object."""
    missing = [pk for pk in contract_ids if pk not in rc.late_fee_terms]
    if not missing:
        return
    shared: dict[tuple, LateFeePolicy] = {}
    keys = {}
    for start in range(0, len(missing), 5000):  # well under SQLite's limit of bound variables
        for pk, *terms in fetch_rows(Contract.objects.filter(organization=rc.org).filter(
                ids_in("pk", missing[start:start + 5000])).values_list("pk", *_TERM_FIELDS)):
            keys[pk] = tuple(terms)
    # One unsaved Contract per distinct set of terms (not per contract): its methods turn them into a policy.
    contracts = {key: Contract(**dict(zip(_TERM_FIELDS, key))) for key in set(keys.values())}
    new = {c.reference_series for c in contracts.values() if c.uses_reference_rates} - set(rc.reference_rates)
    if new:
        rc.reference_rates.update(reference_rates_for(new))
    for pk, key in keys.items():
        policy = shared.get(key)
        if policy is None:
            policy = shared[key] = contracts[key].late_fee_policy(rc.reference_rates)
        rc.late_fee_terms[pk] = policy


def late_fee_terms_of(rc: RunContext, contract_id: int | None) -> LateFeePolicy | None:
    return rc.late_fee_terms.get(contract_id) if contract_id else None



@dataclass
class Figures:
    """A customer's open invoices as they stand after everything a run did for it (late fees charged,
    credit notes of a cancellation): every message, letter and statement of the run for that
    customer is built from these same figures (one amount per customer per run)."""

    today: date
    #: Every open invoice that is chased (standard, deposit, late fee), by id, with today's balance.
    rows: dict[int, InvoiceRow]
    #: Documents issued and not sent to the customer yet (invoices, late-fee invoices, credit notes):
    #: id -> kind.
    unsent: dict[int, str]

    def split(self, rows: Iterable[InvoiceRow]) -> tuple[list[InvoiceRow], list[InvoiceRow]]:
        """``(due, upcoming)``: due on or before today (demanded), and not due yet (each shown with its
        own due date, never demanded before it)."""
        due, upcoming = [], []
        for row in rows:
            (due if row.due_date <= self.today else upcoming).append(row)
        return due, upcoming


def figures(org: Organization, customer_id: int, today: date) -> Figures:
    """The :class:`Figures` of one customer on its local ``today`` (two queries)."""
    rows = {
        pk: InvoiceRow(pk, customer_id, contract_id, number or str(pk), kind, currency, issue, due, service, period_end,
                       payable, payable - paid, start)
        for pk, contract_id, number, kind, currency, issue, due, service, period_end, payable, paid, start
        in Invoice.objects.filter(organization=org, customer_id=customer_id, status__in=Invoice.OPEN_STATUSES,
                                  kind__in=CHASED_KINDS, due_date__isnull=False).order_by("due_date", "pk").values_list(
            "pk", "contract_id", "number", "kind", "currency", "issue_date", "due_date", "service_period_start",
            "service_period_end", PAYABLE_MINOR, "paid_minor", "contract__start_date")
    }
    unsent = dict(Invoice.objects.filter(organization=org, customer_id=customer_id, dispatch__isnull=True,
                                         issue_date__lte=today).exclude(status__in=(Invoice.DRAFT, Invoice.VOID))
                  .order_by("pk").values_list("pk", "kind"))
    return Figures(today=today, rows=rows, unsent=unsent)


def figures_of(org: Organization, days: dict[int, date]) -> dict[int, Figures]:
    """:func:`figures` of many customers at once, each on its own local day (``customer id -> day``): the same
    rows in the same order, in two queries per 5,000 customers."""
    out = {cid: Figures(today=day, rows={}, unsent={}) for cid, day in days.items()}
    ids = sorted(days)
    for start in range(0, len(ids), 5000):  # well under SQLite's limit of bound variables
        part = ids[start:start + 5000]
        for (pk, cid, contract_id, number, kind, currency, issue, due, service, period_end, payable, paid,
             start_date) in Invoice.objects.filter(
                organization=org, customer_id__in=part, status__in=Invoice.OPEN_STATUSES, kind__in=CHASED_KINDS,
                due_date__isnull=False).order_by("due_date", "pk").values_list(
                "pk", "customer_id", "contract_id", "number", "kind", "currency", "issue_date", "due_date",
                "service_period_start", "service_period_end", PAYABLE_MINOR, "paid_minor", "contract__start_date"):
            out[cid].rows[pk] = InvoiceRow(pk, cid, contract_id, number or str(pk), kind, currency, issue, due,
                                           service, period_end, payable, payable - paid, start_date)
        latest = max(days[cid] for cid in part)
        for pk, cid, kind, issue in Invoice.objects.filter(
                organization=org, customer_id__in=part, dispatch__isnull=True, issue_date__lte=latest).exclude(
                status__in=(Invoice.DRAFT, Invoice.VOID)).order_by("pk").values_list(
                "pk", "customer_id", "kind", "issue_date"):
            if issue <= days[cid]:
                out[cid].unsent[pk] = kind
    return out
