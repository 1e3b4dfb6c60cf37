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
       planners read (see :mod:`duly.billing.runner.execute`): the same invoices, written about twice
       as fast on two cores.

Modules
    This module is the run's interface. Its parts: loading (:mod:`duly.billing.runner.load`: bulk reads
    into a snapshot of plain values), composing (:mod:`duly.domain.compose`: the pure rules, lines,
    late usage, prepaid deductions and their notes), planning (:mod:`duly.billing.runner.plan`: a
    batch's rows), writing (:mod:`duly.billing.services.run_writer`) and executing
    (:mod:`duly.billing.runner.execute`: serial, or forked planning processes).

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


from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable, Iterable

from duly.customers.models import Organization
from duly.db import partition as partitions
from duly.domain.bounds import check_date_range
from duly.domain.compose import zone
from duly.invoicing.services import check_issue_date

from .models import RetainerAgreement
from .runner.execute import Run, bill_batches, planning_workers
from .runner.load import Catalog, due_customers
from .runner.result import BillingRunResult, merge
from .runner.topups import PREPAID_TAX_CATEGORY, PREPAID_TAX_REASON, topup_invoice

__all__ = ["BATCH_SIZE", "PREPAID_TAX_CATEGORY", "PREPAID_TAX_REASON", "BillingRunResult", "Catalog",
           "ScheduledBillingReport", "bill_all_organizations", "planning_workers", "run_billing", "topup_invoice"]

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


def run_billing(org: Organization, as_of: date, *, progress: Callable[[int, int], None] | None = None,
                batch_size: int = BATCH_SIZE, customers: Iterable[int] | None = None,
                checkpoint: Callable[[int], None] | None = None, workers: int | None = None,
                id_range: tuple[int, int | None] | None = None,
                partition: tuple[int, int] | None = None) -> BillingRunResult:
    """Bill every subscription slot of ``org`` due by ``as_of``; idempotent and resumable (see the module notes).

    ``progress(done, total)`` is called after each committed batch with the number of customers handled.
    ``customers`` (ids) limits the run to those customers (the back office's "bill now").
    ``checkpoint(n)`` is called inside batch ``n`` (0, 1, …), after its writes and before its commit:
    the crash test kills the process there; nothing else needs it.
    ``workers``: planning processes (see :func:`planning_workers`; None: one per CPU when the run can
    use them, 1: plan in this process).
    ``id_range``: ``(first, end)`` bills only the customers whose id is ``first`` ≤ id < ``end`` (``end`` None:
    no upper bound): one partition of a run split across processes (each partition is a run of its own,
    idempotent and resumable; partitions may run at once, their numbers taken in each commit).
    ``partition``: ``(index, count)`` bills only the customers of that partition (:mod:`duly.db.partition`).
    """
    check_date_range(as_of, "The billing date")
    result = BillingRunResult(as_of=as_of)
    due = due_customers(org, as_of)
    customer_ids = partitions.only(partition, due.customers)
    if customers is not None:
        wanted = set(customers)
        customer_ids = [c for c in customer_ids if c in wanted]
    if id_range is not None:
        first, end = id_range
        customer_ids = [c for c in customer_ids if c >= first and (end is None or c < end)]
    if not customer_ids:
        return result
    # Numbers follow issue dates: a run dated before the last invoice issued is refused whole, before it bills.
    check_issue_date(org, "invoice", as_of, hint=lambda last: (
        f"Run billing as of {last.isoformat()} or later: it bills every period due by then, those due by "
        f"{as_of.isoformat()} included (their service periods stay what they are)."))
    run = Run(org, as_of, Catalog(org), RetainerAgreement.objects.filter(organization=org, active=True).exists(),
            due)
    batches = -(-len(customer_ids) // batch_size)
    done = 0

    def committed(outcome: BillingRunResult, chunk: list[int]) -> None:
        nonlocal done
        merge(result, outcome)
        result.batches += 1
        done += len(chunk)
        if progress is not None:
            progress(done, len(customer_ids))

    result.workers = planning_workers(workers, batches)
    bill_batches(run, customer_ids, batch_size, result.workers, result, committed, checkpoint)
    return result


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
        as_of = now.astimezone(zone(org.timezone)).date()
        try:
            report.results[org.slug] = run_billing(org, as_of)
        except Exception as exc:  # noqa: BLE001 - one organization's failure must not stop the others
            logger.exception("Billing run of %s as of %s failed", org.slug, as_of.isoformat())
            report.failures[org.slug] = f"{type(exc).__name__}: {exc}"
    return report
