"""Invoice composition: what a billing run puts on each invoice, from a snapshot of plain values.

:func:`compose_invoices` takes a :class:`~duly.domain.compose.inputs.BatchSnapshot` (a batch of
customers: their due subscriptions and slots, items, usage, licences, pending charges, late usage,
price-change notices, deposits and retainers) and returns an :class:`InvoicePlan`:

- one :class:`InvoiceGroup` per customer, contract and billing date, with its lines
  (:mod:`~duly.domain.compose.lines`), the slots it bills, the pending charges, late events and
  price-change notices it settles;
- the customers left out (a subscription or late usage that cannot be priced, an invoice that cannot
  be issued) with the reason;
- each subscription's new cursor;
- the deposits and retainers deducted from each invoice (:mod:`~duly.domain.compose.prepaid`), with
  the notes as structured data (:mod:`~duly.domain.compose.notes`, worded when written).

Issuing an invoice (its totals, required fields, terms) is the invoicing app's: ``compose_invoices``
asks the caller's ``total_of(group)`` for each invoice's total, in minor units (or a
:class:`~duly.domain.errors.DomainError` that leaves the customer out), before it deducts prepaid funds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Callable, NamedTuple, Sequence

from ..billing_plan import Slot
from ..errors import DomainError
from .inputs import BatchSnapshot
from .lines import (
    LateAdjustments,
    Line,
    SlotContext,
    late_lines,
    line_for,
    paused_days,
    pending_line,
    recurring_charge,
    slot_lines,
    takes_transactions,
    usage_quantity,
    zone,
)
from .notes import InvoiceNote, notes_text, render_note, render_notes
from .prepaid import PrepaidApplication, PrepaidInvoice, apply_prepaid
from .prices import PriceBook, product_label

__all__ = [
    "Cursor",
    "InvoiceGroup",
    "InvoiceNote",
    "InvoicePlan",
    "LateAdjustments",
    "Line",
    "PrepaidApplication",
    "PrepaidInvoice",
    "PriceBook",
    "apply_prepaid",
    "compose_invoices",
    "late_lines",
    "line_for",
    "paused_days",
    "pending_line",
    "product_label",
    "recurring_charge",
    "render_note",
    "notes_text",
    "render_notes",
    "slot_lines",
    "takes_transactions",
    "usage_quantity",
    "zone",
]


@dataclass
class InvoiceGroup:
    """One invoice in the making: a customer, a contract and a billing date."""

    customer_id: int
    contract_id: int
    billing_date: date
    lines: list[Line] = field(default_factory=list)
    #: (subscription, slot, first line index, line count, usage quantities)
    slots: list[tuple[int, Slot, int, int, dict]] = field(default_factory=list)
    #: Pending charges and late events it settles, billing records whose usage it re-prices.
    pending: list[int] = field(default_factory=list)
    late_events: list[int] = field(default_factory=list)
    late_touched: list[tuple[int, dict]] = field(default_factory=list)
    #: (price change notice, its note): first invoice at a new price.
    notices: list[tuple[int, InvoiceNote]] = field(default_factory=list)
    #: Issued: it has a line with an amount, and its customer is not left out.
    invoiced: bool = False
    #: The contract's final invoice: no subscription of it left to bill, on or after its last slot's date.
    final: bool = False
    prepaid: PrepaidApplication | None = None

    @property
    def notes(self) -> list[InvoiceNote]:
        """The invoice's notes: new prices first, then deposits and retainers."""
        return [n for _, n in self.notices] + (self.prepaid.notes if self.prepaid is not None else [])


class Cursor(NamedTuple):
    """Where a subscription stands after the batch: last billed slot, next billing date, whether it is over."""

    last_key: date | None
    next_billing_date: date | None
    finished: bool


@dataclass
class InvoicePlan:
    #: Every group, in the order they were formed (those not invoiced still record their slots).
    groups: list[InvoiceGroup]
    #: The invoices to issue, in issuing order.
    invoiced: list[InvoiceGroup]
    #: customer → why it is left out.
    failed: dict[int, str]
    cursors: dict[int, Cursor]
    #: Late events of customers with nothing to invoice: settled without a line; and the usage they re-price.
    settled: list[int]
    settled_touched: list[tuple[int, dict]]
    #: (customer, why) of new prices not billed yet: their notice did not go out in time.
    kept: list[tuple[int, str]]


def compose_invoices(snapshot: BatchSnapshot, book: PriceBook, total_of: Callable[[InvoiceGroup], int], *,
                     before_totals: Callable[[Sequence[InvoiceGroup]], None] | None = None) -> InvoicePlan:
    """Plan a batch's invoices (see the module notes). ``book`` is the run's (it remembers shared lines).

    ``before_totals(groups)`` is called once with every group formed, before the first ``total_of``: the
    caller may read what issuing them needs in one go (reference rates, say).
    """
    groups: dict[tuple[int, int, date], InvoiceGroup] = {}
    failed: dict[int, str] = {}
    cursors: dict[int, Cursor] = {}
    kept: list[tuple[int, str]] = []
    #: subscriptions whose last slot this batch bills
    ended: set[int] = set()
    #: contract → billing date of the last slot of its subscriptions that finish in this run
    last_slot: dict[int, date] = {}
    ctx = SlotContext(book, snapshot.events, snapshot.licences, dict(snapshot.notices), kept)
    no_items: tuple = ()

    for sub in snapshot.subscriptions:
        due, nxt = sub.due, sub.next
        planned = []
        items = snapshot.items.get(sub.pk, no_items)
        try:
            for slot in due:
                notices: list[tuple[int, InvoiceNote]] = []
                lines, quantities = slot_lines(ctx, sub, items, slot, notices)
                planned.append((slot, lines, quantities, notices))
        except DomainError as exc:
            failed[sub.customer_id] = f"subscription {sub.reference or sub.pk}: {exc.message}"
            continue
        for slot, lines, quantities, notices in planned:
            key = (sub.customer_id, sub.contract_id, slot.billing_date)
            group = groups.get(key)
            if group is None:
                group = groups[key] = InvoiceGroup(sub.customer_id, sub.contract_id, slot.billing_date)
            group.slots.append((sub.pk, slot, len(group.lines), len(lines), quantities))
            group.lines += lines
            group.notices += [(n, t) for n, t in notices if all(n != m for m, _ in group.notices)]
        last_key = due[-1].key if due else sub.last_billed_period_start
        cursors[sub.pk] = Cursor(last_key, nxt.billing_date if nxt else None,
                                 nxt is None and sub.end_date is not None)
        if nxt is None:
            ended.add(sub.pk)
            if due:
                last_slot[sub.contract_id] = max(last_slot.get(sub.contract_id, date.min), due[-1].billing_date)

    # Pending charges and late usage go on the customer's first invoice of this run (or on their own).
    settled: list[int] = []
    settled_touched: list[tuple[int, dict]] = []
    for customer_id in snapshot.customers:
        if customer_id in failed:
            continue
        try:
            late = late_lines(book, snapshot.late.get(customer_id, ()), snapshot.late_windows.get(customer_id, ()),
                              snapshot.items, snapshot.late_window_events)
        except DomainError as exc:
            failed[customer_id] = f"late usage: {exc.message}"
            continue
        pending = snapshot.pending.get(customer_id, ())
        if not (late.lines or pending):
            settled += late.handled  # late events that change nothing: settled without a line
            settled_touched += late.touched
            continue
        mine = sorted((k for k in groups if k[0] == customer_id), key=lambda k: k[2])
        if mine:
            group = groups[mine[0]]
        else:
            contract_id = late.contract_id or pending[0].contract_id
            group = groups[(customer_id, contract_id, snapshot.as_of)] = InvoiceGroup(
                customer_id, contract_id, snapshot.as_of)
        group.lines += [pending_line(charge) for charge in pending]
        group.pending += [charge.pk for charge in pending]
        group.lines += late.lines
        group.late_events += late.handled
        group.late_touched += late.touched

    # Issue every invoice with an amount (a customer with any error is left out whole).
    if before_totals is not None:
        before_totals(list(groups.values()))
    invoiced: list[tuple[InvoiceGroup, int]] = []
    for key in sorted(groups, key=lambda k: (k[0], k[2], k[1])):
        group = groups[key]
        if key[0] in failed or not any(line.unit_price for line in group.lines):
            continue
        try:
            invoiced.append((group, total_of(group)))
        except DomainError as exc:
            failed[key[0]] = exc.message
    invoiced = [(g, total) for g, total in invoiced if g.customer_id not in failed]

    # Deposits and retainers, invoice by invoice (a deposit held until the final invoice waits for it).
    for group, _ in invoiced:
        group.invoiced = True
        group.final = (all(s in ended for s in snapshot.running.get(group.contract_id, ()))
                       and group.billing_date >= last_slot.get(group.contract_id, date.min))
    applications = apply_prepaid(
        [PrepaidInvoice(g.contract_id, snapshot.contracts[g.contract_id].currency, total, g.final)
         for g, total in invoiced], snapshot.prepaid, snapshot.contracts)
    for (group, _), app in zip(invoiced, applications):
        group.prepaid = app
    return InvoicePlan(
        groups=list(groups.values()), invoiced=[g for g, _ in invoiced], failed=failed, cursors=cursors,
        settled=settled, settled_touched=settled_touched, kept=kept,
    )
