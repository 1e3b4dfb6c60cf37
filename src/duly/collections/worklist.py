"""The collector's worklist: per customer, what is overdue, the last contact, the next planned
action and when, open queries and promises. Read-only (used by the CLI and the admin page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from duly.customers.models import Customer, Organization, RiskAssessment
from duly.domain import dunning
from duly.domain.money import from_minor
from duly.invoicing.models import Invoice

from . import snapshots
from .models import Dispute, PromiseToPay, Reminder, Task

CHUNK_SIZE = 500


@dataclass
class WorklistRow:
    customer_id: int
    code: str
    name: str
    status: str
    policy: str
    policy_reason: str
    entry: dunning.WorklistEntry
    invoice_numbers: dict[int, str]
    late_queries: int = 0
    open_tasks: list[str] = field(default_factory=list)
    #: The latest red-flag check of the customer: "level (score), decision"; "" when never checked.
    red_flags: str = ""

    def as_dict(self) -> dict[str, Any]:
        e = self.entry
        return {
            "customer": self.code, "name": self.name, "status": self.status, "policy": self.policy,
            "policy_reason": self.policy_reason,
            "overdue": {cur: str(amount) for cur, amount in e.overdue.items()},
            "oldest_days_overdue": e.oldest_days_overdue,
            "last_contact": e.last_contact.isoformat() if e.last_contact else None,
            "next_step": e.next_step,
            "next_step_at": e.next_step_at.isoformat() if e.next_step_at else None,
            "open_disputes": [self.invoice_numbers.get(i, str(i)) for i in e.open_disputes],
            "late_queries": self.late_queries,
            "promises": [{"invoices": [self.invoice_numbers.get(i, str(i)) for i in p.invoice_ids],
                          "promised_date": p.promised_date.isoformat(), "amount": str(p.amount)}
                         for p in e.promises],
            "open_tasks": self.open_tasks,
            "red_flags": self.red_flags,
            "expected_loss": {cur: str(v.quantize(Decimal("0.01"))) for cur, v in e.expected_loss.items()},
        }

    @property
    def expected_loss_text(self) -> str:
        return ", ".join(f"{v.quantize(Decimal('0.01'))} {cur}·days" for cur, v in self.entry.expected_loss.items()
                         if v) or "-"

    @property
    def overdue_text(self) -> str:
        return ", ".join(f"{amount} {cur}" for cur, amount in self.entry.overdue.items()) or "-"


def worklist(org: Organization, *, as_of: datetime, customer_ids: Sequence[int] | None = None,
             only_attention: bool = True) -> list[WorklistRow]:
    """Rows for customers with open invoices (or one given set): the largest expected loss (late-payment
    predictions) first, then the most overdue.

    ``only_attention`` keeps customers with something overdue, an open query, a promise or a task.
    """
    rc = snapshots.RunContext.load(org)
    ids = list(customer_ids) if customer_ids is not None else snapshots.customer_ids(org)
    zone = org.timezone or "UTC"
    today = as_of.astimezone(ZoneInfo(zone)).date()
    wanted = set(ids)
    disputes_late: dict[int, int] = {}
    for dispute in Dispute.objects.filter(organization=org, status=Dispute.OPEN, sla_due_on__lt=today):
        if dispute.customer_id in wanted and dispute.answered_late(as_of, zone):
            disputes_late[dispute.customer_id] = disputes_late.get(dispute.customer_id, 0) + 1
    tasks: dict[int, list[str]] = {}
    for cid, kind, description in Task.objects.filter(organization=org, done_at__isnull=True).values_list(
            "customer_id", "kind", "description"):
        if cid in wanted:
            tasks.setdefault(cid, []).append(f"{kind}: {description}")
    checks: dict[int, str] = {}
    for cid, level, score, decision in RiskAssessment.objects.filter(organization=org).order_by(
            "customer_id", "-id").values_list("customer_id", "level", "score", "decision"):
        if cid in wanted and cid not in checks:
            checks[cid] = f"{level} ({score}), {decision}"
    rows: list[WorklistRow] = []
    for chunk in snapshots.chunks(ids, CHUNK_SIZE):
        for account in snapshots.gather(rc, chunk, as_of):
            entry = dunning.worklist_entry(account.snapshot, account.policy, as_of, evaluator=rc.evaluator)
            attention = (entry.overdue or entry.open_disputes or entry.promises or tasks.get(account.customer.id))
            if only_attention and not attention:
                continue
            rows.append(WorklistRow(
                customer_id=account.customer.id, code=account.customer.code, name=account.customer.name,
                status=account.customer.status, policy=account.policy.code, policy_reason=account.policy_reason,
                entry=entry, invoice_numbers={pk: row.number for pk, row in account.invoices.items()},
                late_queries=disputes_late.get(account.customer.id, 0), open_tasks=tasks.get(account.customer.id, []),
                red_flags=checks.get(account.customer.id, ""),
            ))
    # Expected loss first (the largest of its currencies; all zero without predictions), then the most overdue.
    rows.sort(key=lambda r: (-max(r.entry.expected_loss.values(), default=0), -(r.entry.oldest_days_overdue or 0),
                             r.code))
    return rows


def promises_of(org: Organization, customer_id: int) -> list[PromiseToPay]:
    return list(PromiseToPay.objects.filter(organization=org, customer_id=customer_id)
                .select_related("customer").prefetch_related("invoices").order_by("-created_at"))


def open_queries(org: Organization, *, now: datetime) -> list[tuple[Dispute, bool]]:
    """The staff queue: open queries, oldest SLA first, with whether the answer is late at ``now``."""
    zone = org.timezone or "UTC"
    return [(d, d.answered_late(now, zone)) for d in Dispute.objects.filter(organization=org, status=Dispute.OPEN)
            .select_related("invoice", "customer").order_by("sla_due_on", "id")]


@dataclass
class CustomerPage:
    """Everything the admin page of one customer shows (read in a fixed number of queries)."""

    row: WorklistRow | None
    open_invoices: list[Invoice]
    reminders: list[Reminder]
    #: (query, answered or still open past its SLA)
    disputes: list[tuple[Dispute, bool]]
    #: (promise, kept / running / broken)
    promises: list[tuple[PromiseToPay, str]]
    tasks: list[Task]

    @property
    def summary(self) -> dict[str, Any] | None:
        return self.row.as_dict() if self.row is not None else None


def open_invoices_of(customer: Customer):
    """The customer's open invoices (the choices of a promise to pay)."""
    return Invoice.objects.filter(customer=customer, status__in=Invoice.OPEN_STATUSES)


def queryable_invoices_of(customer: Customer):
    """The customer's invoices a query can be opened on (issued, not void)."""
    return Invoice.objects.filter(customer=customer).exclude(status__in=(Invoice.DRAFT, Invoice.VOID))


def customer_page(org: Organization, customer: Customer, *, now: datetime) -> CustomerPage:
    """The collections page of one customer at ``now``: worklist summary, open invoices, the last 30
    reminders, queries with their SLA, promises with their state, open tasks."""
    zone = org.timezone or "UTC"
    rows = worklist(org, as_of=now, customer_ids=[customer.pk], only_attention=False)
    promises = promises_of(org, customer.pk)
    customer_zone = ZoneInfo(customer.timezone or "UTC")
    paid = snapshots.paid_towards_promises(
        [(p.pk, p.created_at.astimezone(customer_zone).date(), p.promised_date) for p in promises])
    today = now.astimezone(customer_zone).date()
    states = [(p, dunning.promise_outcome(
        dunning.Promise((), p.promised_date, from_minor(p.amount_minor, p.currency), p.created_at),
        from_minor(paid.get(p.pk, 0), p.currency), today)) for p in promises]
    return CustomerPage(
        row=rows[0] if rows else None,
        open_invoices=list(open_invoices_of(customer).order_by("due_date")),
        reminders=list(Reminder.objects.filter(customer=customer).select_related("message")[:30]),
        disputes=[(d, d.answered_late(now, zone)) for d in Dispute.objects.filter(customer=customer)
                  .select_related("invoice")],
        promises=states,
        tasks=list(Task.objects.filter(customer=customer, done_at__isnull=True)),
    )
