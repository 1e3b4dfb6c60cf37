"""The collector's worklist: per customer, what is overdue, the last contact and the next planned step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from types import MappingProxyType
from typing import Mapping

from ..money import ZERO
from .assignment import _latest_promises, _plan_item, _PolicyMemo, _sent_index
from .clock import _Clock, _fatigue_floor
from .evaluation import Evaluator, evaluate
from .policy import _OPEN_STATUSES, _UTC, CustomerId, HolidayCheck, InvoiceId, Policy
from .snapshot import AccountSnapshot, Promise, _as_utc, _sorted_ids


# --- the collector's worklist -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WorklistEntry:
    """One customer on the collector's worklist."""

    customer_id: CustomerId
    #: Open amount past due, per currency (never summed across currencies).
    overdue: Mapping[str, Decimal]
    oldest_days_overdue: int | None
    last_contact: datetime | None
    next_step: str | None
    #: When the next step is planned (UTC): now or a deferred slot, or a future step's first slot.
    next_step_at: datetime | None
    open_disputes: tuple[InvoiceId, ...]
    #: Promises to pay still running.
    promises: tuple[Promise, ...]
    #: Per currency, the expected loss of the open invoices with a late-payment prediction: open amount x
    #: probability of paying late x expected days late (at least 1): a money-days figure to sort the work by.
    expected_loss: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))


def worklist_entry(
    snapshot: AccountSnapshot, policy: Policy, as_of: datetime, *, is_holiday: HolidayCheck | None = None,
    evaluator: Evaluator | None = None,
) -> WorklistEntry:
    """Per-customer summary: overdue totals, oldest days overdue, last contact, next planned step,
    open disputes and running promises. ``evaluator``: the run's (see :func:`evaluate`)."""
    now = _as_utc(as_of, "as_of")
    if evaluator is None:
        evaluator = Evaluator()
    clock = evaluator.clock_for(snapshot, is_holiday)
    today = now.astimezone(clock.zone).date()
    open_items = [i for i in snapshot.open_items if i.status in _OPEN_STATUSES and i.open_amount > 0]

    overdue: dict[str, Decimal] = {}
    loss: dict[str, Decimal] = {}
    oldest: int | None = None
    for item in open_items:
        if item.late_probability is not None:
            loss[item.currency] = loss.get(item.currency, ZERO) + (
                item.open_amount * item.late_probability * max(1, item.expected_days_late or 0))
        days = (today - item.due_date).days
        if days > 0:
            overdue[item.currency] = overdue.get(item.currency, ZERO) + item.open_amount
            oldest = days if oldest is None else max(oldest, days)
    last_contact = max((r.sent_at for r in snapshot.reminders), default=None)

    next_step: str | None = None
    next_at: datetime | None = None
    planned = [a for a in evaluate(snapshot, policy, now, is_holiday=is_holiday, evaluator=evaluator)
               if a.kind != "skip"]
    if planned:
        first = min(planned, key=lambda a: a.scheduled_for)
        next_step, next_at = first.step_code, first.scheduled_for
    else:
        next_step, next_at = _project_next_step(snapshot, evaluator.policy_memo(policy), now, today, clock)

    running = tuple(
        sorted(
            (p for p in snapshot.promises if p.promised_date >= today), key=lambda p: (p.promised_date, p.created_at)
        )
    )
    open_ids = {i.invoice_id for i in open_items}
    return WorklistEntry(
        customer_id=snapshot.customer_id,
        overdue=MappingProxyType(dict(sorted(overdue.items()))),
        oldest_days_overdue=oldest,
        last_contact=last_contact.astimezone(_UTC) if last_contact else None,
        next_step=next_step,
        next_step_at=next_at,
        open_disputes=_sorted_ids(i for i in snapshot.disputes if i in open_ids),
        promises=running,
        expected_loss=MappingProxyType(dict(sorted(loss.items()))),
    )


def _project_next_step(
    snapshot: AccountSnapshot, memo: _PolicyMemo, now: datetime, today: date, clock: _Clock
) -> tuple[str | None, datetime | None]:
    """The first future step of a chaseable invoice and its first sending slot.

    A projection: each invoice's next step, on the day it is ready (its own date, and its wait
    after the delivery of the step before it, a reminder still on its way counted as delivered
    when sent); a step's minimum balance is checked against the customer's whole chaseable
    balance in the currency, and invoices under dispute or promise are left out.
    """
    policy = memo.policy
    compiled = memo.compiled
    steps = compiled.steps
    sent, _ = _sent_index(snapshot.reminders, compiled.position, compiled.final_flags, clock,
                          assume_delivered=True)
    promises = _latest_promises(snapshot.promises)
    chaseable = [
        i
        for i in snapshot.open_items
        if i.status in _OPEN_STATUSES
        and i.open_amount > 0
        and i.invoice_id not in snapshot.disputes
        and not (i.invoice_id in promises and promises[i.invoice_id].promised_date >= today)
    ]
    balance: dict[str, Decimal] = {}
    for item in chaseable:
        balance[item.currency] = balance.get(item.currency, ZERO) + item.open_amount
    allowed = memo.allowed(snapshot.segment, snapshot.risk_level, snapshot.payment_method)
    best: tuple[date, int] | None = None
    for item in chaseable:

        def accept(pos: int, currency: str = item.currency) -> bool:
            threshold = steps[pos].conditions.threshold(currency)
            return threshold is not None and balance[currency] >= threshold

        _, nxt, ready, _, _ = _plan_item(item, sent.get(item.invoice_id),
                                         compiled.item_allowed(allowed, item.late_probability), compiled, today,
                                         accept)
        if nxt is not None and ready is not None and ready > today:
            if best is None or (ready, -nxt) < (best[0], -best[1]):
                best = (ready, nxt)
    if best is None:
        return None, None
    on, pos = best
    start_of_day = datetime.combine(on, time(0), clock.zone).astimezone(_UTC)
    floor, _ = _fatigue_floor(sorted([r.sent_at for r in snapshot.reminders] + list(snapshot.other_messages)), policy)
    return steps[pos].code, clock.next_slot(max(now, start_of_day), floor)
