"""The one writer of an invoice's state: its status, what it received (``paid_minor``, ``paid_on``) and
its frozen document snapshot.

Every change of those fields goes through a function here, which asks the pure life cycle
(:mod:`duly.domain.lifecycle`) what the change leads to and whether it is allowed, then writes it.
Other modules call these functions (payments settle, the billing run freezes retainer balances,
the importer freezes the parties it read); ``tests/invoicing/test_single_writer.py`` checks that no
other module of ``src/`` assigns these fields.

The functions write inside the caller's transaction (the caller holds the invoice's row lock where it
matters); none opens one of its own, so each is part of the service call that uses it.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Iterable

from django.utils import timezone

from duly.domain import lifecycle as rules
from duly.domain.issuing import IssuePlan

from .models import Invoice, WriteOffReversal
from .signals import invoice_paid

__all__ = [
    "CLOSED_STATUSES",
    "freeze_paid_at_issue",
    "freeze_retainers",
    "issue",
    "issue_migrated",
    "issued_row",
    "reverse_write_off",
    "set_document_snapshot",
    "settle",
    "settle_many",
    "settle_credit_note",
    "unsettle",
    "void",
    "write_off",
]

#: Invoices closed for good: a settled amount added or taken back never reopens them.
CLOSED_STATUSES = rules.CLOSED


def settle(invoice: Invoice, amount_minor: int, on: date, *, reason: str | None = None) -> None:
    """Add a settled amount to an invoice (negative: taken back) and move its status along the life cycle.

    A void or written-off invoice stays closed: its settled amount changes (a refund takes a payment
    back, a credit note reduces the loss), its status, write-off time and reason do not. What is not
    settled on a written-off invoice is the loss written off.
    """
    after = rules.settle(invoice.status, invoice.paid_minor, invoice.payable_minor, amount_minor, on)
    rules.check_transition(invoice.status, after.status, reason or rules.settle_reason(after, amount_minor))
    invoice.paid_minor = after.paid_minor
    if invoice.status in rules.CLOSED:
        invoice.save(update_fields=["paid_minor"])
        return
    became_paid = after.status == rules.PAID and invoice.status != rules.PAID
    invoice.status = after.status
    invoice.paid_on = after.paid_on
    invoice.save(update_fields=["paid_minor", "status", "paid_on"])
    if became_paid and not invoice.is_credit_note:
        invoice_paid.send(sender=Invoice, invoice=invoice)


def settle_many(settlements: list[tuple[Invoice, int, date]]) -> None:
    """:func:`settle` for several different invoices, each ``(invoice, amount, on)``: the same rules, statuses and
    ``invoice_paid`` signals (in the order given, once every invoice is written), with one ``UPDATE`` per
    500 invoices instead of one each."""
    closed, moved, paid = [], [], []
    for invoice, amount_minor, on in settlements:
        after = rules.settle(invoice.status, invoice.paid_minor, invoice.payable_minor, amount_minor, on)
        rules.check_transition(invoice.status, after.status, rules.settle_reason(after, amount_minor))
        invoice.paid_minor = after.paid_minor
        if invoice.status in rules.CLOSED:
            closed.append(invoice)
            continue
        if after.status == rules.PAID and invoice.status != rules.PAID and not invoice.is_credit_note:
            paid.append(invoice)
        invoice.status = after.status
        invoice.paid_on = after.paid_on
        moved.append(invoice)
    if len({inv.pk for inv in closed + moved}) != len(closed) + len(moved):
        raise ValueError("settle_many settles each invoice once")
    Invoice.objects.bulk_update(closed, ["paid_minor"], batch_size=500)
    Invoice.objects.bulk_update(moved, ["paid_minor", "status", "paid_on"], batch_size=500)
    for invoice in paid:
        invoice_paid.send(sender=Invoice, invoice=invoice)


def unsettle(invoice: Invoice, amount_minor: int, on: date) -> None:
    """Take a settled amount back (a refund): :func:`settle` with the amount negated."""
    settle(invoice, -amount_minor, on, reason=rules.REFUND)


def settle_credit_note(note: Invoice, on: date) -> None:
    """An issued credit note is settled by itself (its value went to the invoice it corrects, or to credit)."""
    rules.check_transition(note.status, rules.PAID, rules.CREDIT)
    note.paid_minor = note.total_minor
    note.status = Invoice.PAID
    note.paid_on = on
    note.save(update_fields=["paid_minor", "status", "paid_on"])


def issue(invoice: Invoice, plan: IssuePlan, *, snapshot: dict[str, Any] | None) -> None:
    """Mark a draft issued as ``plan`` says and save it whole (the issuing service set its number and dates).

    ``snapshot``: what its documents show, frozen now (None: keep the one it has, an imported draft's)."""
    rules.check_transition(invoice.status, plan.status, rules.ISSUE)
    fields = plan.fields
    invoice.status = fields["status"]
    invoice.paid_on = fields["paid_on"]
    invoice.paid_minor = fields["paid_minor"]
    invoice.prepaid_minor = fields["prepaid_minor"]
    if snapshot is not None:
        invoice.document_snapshot = snapshot
    invoice.save()


def issue_migrated(invoice: Invoice, *, snapshot: dict[str, Any] | None = None) -> None:
    """Mark a draft migrated from another system issued as its source was (its number, dates and terms are
    set by :mod:`duly.invoicing.migration_services`), and save it whole. What its source says was already
    paid is its prepaid amount (BT-113): nothing is settled in Duly. ``snapshot``: what its documents show,
    frozen now (None: keep the one it has, an imported e-invoice's parties)."""
    after = rules.issued(invoice.total_minor, invoice.prepaid_minor, invoice.issue_date,
                         rounding_minor=invoice.rounding_minor)
    rules.check_transition(invoice.status, after.status, rules.IMPORT)
    invoice.status, invoice.paid_minor, invoice.paid_on = after.status, after.paid_minor, after.paid_on
    if snapshot is not None:
        invoice.document_snapshot = snapshot
    invoice.save()


def issued_row(values: dict[str, Any], plan: IssuePlan) -> None:
    """The state columns of an invoice row the bulk path inserts as issued, as ``plan`` says (paid on issue
    when its prepaid amount covers it: :func:`duly.domain.lifecycle.issued`)."""
    rules.check_transition(rules.DRAFT, plan.status, rules.ISSUE)
    fields = plan.fields
    values["prepaid_minor"] = fields["prepaid_minor"]
    values["status"], values["paid_on"], values["paid_minor"] = fields["status"], fields["paid_on"], fields["paid_minor"]


def row_snapshot(values: dict[str, Any], snapshot: dict[str, Any]) -> None:
    """Freeze ``snapshot`` in an invoice row the bulk path is about to insert."""
    values["document_snapshot"] = snapshot


def set_document_snapshot(invoice: Invoice, snapshot: dict[str, Any], *, save: bool = True) -> None:
    """Freeze what an invoice's documents show (an imported draft: its parties as its source stated them)."""
    invoice.document_snapshot = snapshot
    if save:
        invoice.save(update_fields=["document_snapshot"])


def freeze_paid_at_issue(invoice: Invoice, paid_minor: int, *, query: bool = False) -> None:
    """Freeze in the invoice's document snapshot what was settled at its issue ("already paid").

    ``query``: write with one UPDATE statement (the bulk path's invoices are built without ``save``)."""
    invoice.document_snapshot["paid_minor"] = paid_minor
    if query:
        Invoice.objects.filter(pk=invoice.pk).update(document_snapshot=invoice.document_snapshot)
    else:
        invoice.save(update_fields=["document_snapshot"])


def set_retainer(invoice: Invoice, entry: dict[str, Any]) -> None:
    """State the customer's retainer balance in the snapshot of an invoice being issued (not saved here)."""
    invoice.document_snapshot["retainer"] = entry


def freeze_retainers(entries: Iterable[tuple[Invoice, dict[str, Any]]]) -> int:
    """Freeze each (invoice, retainer entry) in the invoice's document snapshot, in bulk; returns how many."""
    changed = []
    for invoice, entry in entries:
        invoice.document_snapshot["retainer"] = entry
        changed.append(invoice)
    Invoice.objects.bulk_update(changed, ["document_snapshot"], batch_size=500)
    return len(changed)


def void(invoice: Invoice, reason: str) -> Invoice:
    """Void an invoice (nothing received), with a reason; refused as :func:`duly.domain.lifecycle.check_void` says."""
    reason = rules.check_void(invoice.status, invoice.paid_minor, reason, invoice=str(invoice))
    rules.check_transition(invoice.status, rules.VOID, rules.VOIDING)
    invoice.status = Invoice.VOID
    invoice.void_reason = reason
    invoice.voided_at = timezone.now()
    invoice.save(update_fields=["status", "void_reason", "voided_at"])
    return invoice


def write_off(invoice: Invoice, reason: str) -> Invoice:
    """Write an open invoice off as uncollectible (bad debt), with a reason, timestamped in ``voided_at``."""
    reason = rules.check_write_off(invoice.status, reason, invoice=str(invoice),
                                   status_label=invoice.get_status_display().lower())
    rules.check_transition(invoice.status, rules.UNCOLLECTIBLE, rules.WRITE_OFF)
    invoice.status = Invoice.UNCOLLECTIBLE
    invoice.void_reason = reason
    invoice.voided_at = timezone.now()
    invoice.save(update_fields=["status", "void_reason", "voided_at"])
    return invoice


def reverse_write_off(invoice: Invoice, reason: str, on: date) -> WriteOffReversal:
    """Take a write-off back on purpose (staff undoing the bank match that wrote a short payment's rest off): the
    invoice reopens in the state what it received gives (:func:`duly.domain.lifecycle.reopened`), its write-off
    time and reason are cleared, and a :class:`WriteOffReversal` keeps both with who/why. Never called as a side
    effect of a payment, refund or credit note (docs/books.md). The caller holds the invoice's row lock."""
    after = rules.reopened(invoice.status, invoice.paid_minor, invoice.payable_minor, reason, on, invoice=str(invoice))
    audit = WriteOffReversal.objects.create(
        organization_id=invoice.organization_id, invoice=invoice, written_off_at=invoice.voided_at,
        write_off_reason=invoice.void_reason, reason=reason.strip()[:300], status_after=after.status,
        paid_minor=invoice.paid_minor)
    invoice.status = after.status
    invoice.paid_on = after.paid_on
    invoice.void_reason = ""
    invoice.voided_at = None
    invoice.save(update_fields=["status", "paid_on", "void_reason", "voided_at"])
    return audit
