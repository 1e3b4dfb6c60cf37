"""Writing a planned billing batch: numbers, invoices and lines, claims, billing records, drawdowns, top-ups,
retainer balances and subscription cursors, inside the caller's transaction.

A batch is planned from reads alone (:mod:`duly.billing.runner.plan`, possibly in a forked planning
process) into a :class:`ChunkPlan` of plain values; :func:`write_plan` writes it (the billing run's
only writer). Claims of pending charges, notices and late events are guarded (:func:`claim`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db.models import QuerySet

from duly.customers.models import Organization
from duly.db.fastpath import ids_in, insert_rows
from duly.domain.billing_plan import Slot
from duly.invoicing import bulk
from duly.invoicing.models import Invoice

from .. import retainers
from ..models import (
    BillingRecord,
    PendingCharge,
    PrepaidDrawdown,
    PrepaidFunding,
    PriceChangeNotice,
    Subscription,
    UsageEvent,
)
from ..runner.result import BillingRunResult

__all__ = ["RECORD_COLUMNS", "AlreadyClaimed", "ChunkPlan", "claim", "record_row", "write_plan"]


@dataclass
class ChunkPlan:
    """What a batch writes, planned from reads alone: plain values, no model instance, so it pickles cheaply
    (a planning process hands it to the process that writes, see :mod:`duly.billing.runner.execute`)."""

    #: The invoices (the top-ups last), unnumbered; None when the batch issues none.
    rows: bulk.InvoiceRows | None
    #: (index of a top-up invoice in ``rows``, contract of its retainer).
    topups: list[tuple[int, int]]
    #: (index of its invoice or None, billing record values in RECORD_COLUMNS order, invoice_id unset).
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


def write_plan(org: Organization, as_of: date, plan: ChunkPlan, result: BillingRunResult) -> None:
    """Write a planned batch (inside the caller's transaction): numbers, invoices and lines, claims, records,
    drawdowns, top-ups, retainer balances and subscription cursors.

    Raises :class:`~duly.invoicing.bulk.PeppolRefused` when an invoice of a customer with a Peppol address
    breaks the Peppol rules: the caller rolls the batch back and bills it again without those customers."""
    ids, numbers = bulk.write_invoice_rows(org, plan.rows, issue_date=as_of) if plan.rows else ([], [])
    # Claim the pending charges, notices and late events in bulk, each only if still unclaimed.
    claim(PendingCharge.objects.filter(invoice__isnull=True),
          [PendingCharge(pk=pk, invoice_id=ids[i]) for pk, i in plan.charges], ["invoice"])
    claim(PriceChangeNotice.objects.filter(first_invoice__isnull=True),
          [PriceChangeNotice(pk=pk, first_invoice_id=ids[i]) for pk, i in plan.notices], ["first_invoice"])
    claim(UsageEvent.objects.filter(late_billed_on__isnull=True),
          [UsageEvent(pk=pk, late_billed_on=as_of, adjusted_on_id=None if i is None else ids[i])
           for pk, i in plan.late], ["late_billed_on", "adjusted_on"])
    if plan.touched:
        BillingRecord.objects.bulk_update([BillingRecord(pk=pk, usage=usage) for pk, usage in plan.touched],
                                          ["usage"])
    invoice_at = RECORD_COLUMNS.index("invoice_id")
    records = []
    for i, row in plan.records:
        if i is not None:
            row[invoice_at] = ids[i]
        records.append(row)
    insert_rows(BillingRecord, RECORD_COLUMNS, records, adapted=plan.records_adapted)
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
            Invoice.objects.filter(ids_in("id", ids)).only("id", "customer_id", "currency", "document_snapshot")
            .order_by("id"), as_of=as_of)
    # What a Peppol customer's access point would reject is not issued (as issue_invoice refuses it): the
    # invoices are complete now (credit, drawdowns, retainer balance); PeppolRefused rolls the batch back.
    if plan.rows is not None and plan.rows.peppol:
        bulk.check_peppol_block([ids[i] for i in plan.rows.peppol])
    for (last_key, next_on, status), sub_ids in plan.cursors:
        Subscription.objects.filter(ids_in("id", sub_ids)).update(last_billed_period_start=last_key,
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


class AlreadyClaimed(Exception):
    """Rows this batch read as unbilled were claimed by a concurrent run: the batch rolls back and is retried."""


def claim(unclaimed: QuerySet, rows: list, fields: list[str]) -> None:
    """Write ``fields`` of ``rows`` in bulk, only on rows still matching ``unclaimed``; all of them, or raise.

    The row count is the guard: if another run claimed one of these rows since this batch read it,
    fewer rows match and :class:`AlreadyClaimed` rolls the whole batch back (numbers included).
    """
    if rows and unclaimed.bulk_update(rows, fields) != len(rows):
        raise AlreadyClaimed(f"{unclaimed.model.__name__}: claimed by a concurrent billing run")


RECORD_COLUMNS = ("organization_id", "subscription_id", "period_start", "period_end", "usage_start", "usage_end",
                  "billing_date", "invoice_id", "amount_minor", "currency", "usage", "created_at")


def record_row(org: Organization, subscription_id: int, currency: str, slot: Slot, invoice_id: int | None,
               amount: int, quantities: dict) -> list:
    """A billing record's values in :data:`RECORD_COLUMNS` order (``created_at`` appended when written)."""
    return [org.id, subscription_id, slot.key, slot.cycle.period.end if slot.cycle else slot.key,
            slot.usage.start if slot.usage else None, slot.usage.end if slot.usage else None,
            slot.billing_date, invoice_id, amount, currency, quantities]
