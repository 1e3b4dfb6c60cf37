"""Undoing a bank match: every kind of match the reconciliation makes is taken back exactly, in one transaction.

:func:`undo` (also :func:`duly.payments.reconcile_services.undo`) dispatches on what the match did:

- **a payment of invoices** (automatic, accepted, split, credit): each allocation is taken off its invoice through
  :func:`duly.invoicing.lifecycle.unsettle` (settled amount and status return to what they were), its credit is
  removed and the payment deleted. A short payment whose rest the match **wrote off** first has its write-off
  reversed through :func:`duly.invoicing.lifecycle.reverse_write_off` (audited in
  :class:`~duly.invoicing.models.WriteOffReversal`): a deliberate act of staff, not a side effect (docs/books.md);
- **a SEPA collection** (``how`` ``collected``): the payments the match recorded are taken back as above, each
  debit returns to the status it had (exported, or settled when it had been booked before the line arrived);
- **a SEPA return** (``how`` ``returned``) that the match recorded: its refund is reversed (the allocations it took
  back are restored with their ids, the invoices settled again, its credit entries removed), the re-presentation it
  planned is deleted, the pending debits a blocked mandate failed are pending again, the mandate's counters and
  block are restored, the R-transaction is deleted and the debit has its earlier status. A return recorded before
  the line arrived (by staff or a pain.002) stays: undoing the match only frees the line.

The state needed to reverse a SEPA match is captured when it is made (:func:`collection_state`,
:func:`return_state`, kept in the match's evidence under ``undo``). The line goes back to review with the match's
proposal (none for a SEPA match) and its customer, so collections count its money as "payment received, awaiting
reconciliation" again; reconciling again leaves it there (only new lines are matched).

Messages queued because of the match and not sent yet are recalled: :func:`undo` sends
:data:`~duly.payments.signals.match_undone` with the payments and SEPA returns it took back, and collections
cancels the thank-you (with its receipt) or the request for a new mandate still waiting in the outbox. One already
sent (or being sent) stays sent.

Refused, with nothing written (:class:`~duly.domain.errors.MatchUsedLater`): a payment refunded since, credit of
the match drawn since, a debit returned since (``match_used_later``); an invoice, debit, re-presentation or mandate
that changed since in a way the undo would overwrite (``match_changed_since``). A match undone already is refused
with ``match_already_undone``.
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from duly.customers.models import Organization
from duly.domain.errors import InvalidState, LineAlreadyMatched, MatchUsedLater, NotFound
from duly.domain.money import from_minor
from duly.invoicing import lifecycle
from duly.invoicing.models import Invoice

from .bank_models import StatementLine
from .models import Allocation, CreditEntry, DebitReturn, DirectDebit, Mandate, Payment, Refund, RefundedAllocation
from .reconcile_models import BankMatch, ReviewEntry
from .signals import match_undone

_MANDATE_FIELDS = ("collected", "final_presented", "blocked_reason", "blocked_on")
_PROPOSAL_KEYS = ("customer_id", "currency", "allocations", "credit_minor", "write_off_minor", "score", "evidence",
                  "blockers")


# --- captured when a SEPA match is made (debit_reconcile_services) ------------------------------------------------
def collection_state(debits: list[DirectDebit]) -> dict:
    """Before booking ``debits`` collected: each debit's status, and the payments already recorded for them (those
    stay when the match is undone)."""
    if not debits:
        return {"debit_status": {}, "known_payments": []}
    known = (Payment.objects.filter(method="sepa_debit", organization_id=debits[0].organization_id,
                                    external_reference__in=[d.end_to_end_id for d in debits])
             .values_list("pk", flat=True))
    status = DirectDebit.objects.filter(pk__in=[d.pk for d in debits]).values_list("pk", "status")
    return {"debit_status": {str(pk): s for pk, s in status}, "known_payments": sorted(known)}


def return_state(debit: DirectDebit) -> dict:
    """Before recording a return of ``debit``: what recording it may change (the debit, its mandate, the mandate's
    pending debits, the booked payment's allocations and credit entries)."""
    debit = DirectDebit.objects.get(pk=debit.pk)
    mandate = Mandate.objects.get(pk=debit.mandate_id)
    payment = Payment.objects.filter(organization_id=debit.organization_id, method="sepa_debit",
                                     external_reference=debit.end_to_end_id).first()
    return {"created": not DebitReturn.objects.filter(debit=debit).exists(), "debit_status": debit.status,
            "mandate": _mandate_fields(mandate),
            "pending": sorted(DirectDebit.objects.filter(mandate=mandate, status=DirectDebit.PENDING)
                              .values_list("pk", flat=True)),
            "payment": payment.pk if payment else None,
            "allocations": [[a.pk, a.invoice_id, a.amount_minor, a.applied_on.isoformat()]
                            for a in Allocation.objects.filter(payment=payment).order_by("pk")] if payment else [],
            "credit_entries": sorted(CreditEntry.objects.filter(payment=payment).values_list("pk", flat=True))
            if payment else []}


def return_recorded(state: dict, debit: DirectDebit) -> dict:
    """Complete :func:`return_state` once the return is recorded: what it changed."""
    mandate = Mandate.objects.get(pk=debit.mandate_id)
    state["mandate_after"] = _mandate_fields(mandate)
    state["failed_pending"] = sorted(DirectDebit.objects.filter(pk__in=state["pending"], status=DirectDebit.FAILED)
                                     .values_list("pk", flat=True))
    state["new_credit_entries"] = sorted(
        CreditEntry.objects.filter(payment_id=state["payment"]).exclude(pk__in=state["credit_entries"])
        .values_list("pk", flat=True)) if state["payment"] else []
    return state


def _mandate_fields(mandate: Mandate) -> dict:
    return {"collected": mandate.collected, "final_presented": mandate.final_presented,
            "blocked_reason": mandate.blocked_reason,
            "blocked_on": mandate.blocked_on.isoformat() if mandate.blocked_on else None}


# --- undo ---------------------------------------------------------------------------------------------------------
@transaction.atomic
def undo(org: Organization, match_id: int, *, reason: str, as_of: date) -> BankMatch:
    """Take a match back exactly (see the module); the line goes back to review. All or nothing."""
    try:
        match = BankMatch.objects.select_for_update().get(organization=org, pk=match_id)
    except BankMatch.DoesNotExist:
        raise NotFound(f"Bank match {match_id} not found in {org.name}.") from None
    if match.undone_at is not None:
        raise LineAlreadyMatched(f"Bank match {match_id} was already undone.", code="match_already_undone")
    reason = (reason or "").strip() or "undone"
    line = StatementLine.objects.select_for_update().get(pk=match.line_id)
    taken: list[int] = []
    returns: list[int] = []
    reversed_payments: list[dict] = []
    if match.how == BankMatch.RETURNED:
        returns = _undo_return(match)
    elif match.how == BankMatch.COLLECTED:
        taken = _undo_collection(match, reason, as_of, reversed_payments)
    elif match.payment_id is not None:
        taken = [_take_back(match, match.payment_id, reason, as_of, reversed_payments,
                            written_off=match.evidence.get("written_off"))]
    match.payment = None
    match.undone_at = timezone.now()
    match.undo_reason = reason[:200]
    match.save(update_fields=["payment", "undone_at", "undo_reason"])
    Payment.objects.filter(pk__in=taken).delete()
    proposal = {k: match.evidence.get(k) for k in _PROPOSAL_KEYS}
    ReviewEntry.objects.update_or_create(line=line, defaults={
        "organization": org, "proposals": [proposal] if proposal.get("customer_id") else [],
        "customer_id": match.customer_id, "category": "",
        "note": f"match {match.pk} undone: {reason}"[:200]})
    line.status = StatementLine.REVIEW
    line.save(update_fields=["status"])
    match_undone.send(sender=BankMatch, match=match, organization=org, payment_ids=taken, debit_return_ids=returns,
                      reason=reason, now=match.undone_at, as_of=as_of, payments=reversed_payments)
    return match


def _changed(match: BankMatch, what: str) -> MatchUsedLater:
    return MatchUsedLater(f"Bank match {match.pk} cannot be undone: {what} since; undoing it would overwrite that.",
                          code="match_changed_since", match=match.pk)


def _take_back(match: BankMatch, payment_id: int, reason: str, as_of: date, taken: list[dict], *,
               written_off=None) -> int:
    """Take the payment the match recorded off its invoices (reversing the match's write-off first). Returns its id:
    :func:`undo` deletes it once the match no longer points at it. Appends to ``taken`` what the payment was (for
    the ``match_undone`` signal: it is deleted before the signal is sent)."""
    written_off = written_off or ()
    payment = Payment.objects.select_for_update(of=("self",)).get(pk=payment_id)
    if payment.refunded_minor or Refund.objects.filter(payment=payment).exists():
        raise MatchUsedLater(
            f"Bank match {match.pk} cannot be undone: payment {payment.pk} was refunded since "
            f"({from_minor(payment.refunded_minor, payment.currency)} {payment.currency}); the refund used its "
            "allocations.", match=match.pk)
    drawn = CreditEntry.objects.filter(payment=payment, amount_minor__lt=0).first()
    if drawn is not None:
        raise MatchUsedLater(f"Bank match {match.pk} cannot be undone: its credit was applied since ({drawn.memo}).",
                             match=match.pk)
    allocations = list(payment.allocations.order_by("id"))
    taken.append({"id": payment.pk, "customer_id": payment.customer_id, "amount_minor": payment.amount_minor,
                  "currency": payment.currency, "method": payment.method, "received_on": payment.received_on,
                  "external_reference": payment.external_reference,
                  "allocations": [(a.invoice_id, a.amount_minor) for a in allocations]})
    ids = {a.invoice_id for a in allocations} | {iid for iid, _ in written_off}
    invoices = {inv.pk: inv for inv in Invoice.objects.select_for_update(of=("self",)).filter(pk__in=ids)
                .order_by("pk")}
    for invoice_id, _amount in written_off:
        invoice = invoices[invoice_id]
        if invoice.status != Invoice.UNCOLLECTIBLE or f"bank line {match.line_id} " not in invoice.void_reason:
            raise _changed(match, f"invoice {invoice.number} is no longer written off by this match")
        lifecycle.reverse_write_off(invoice, f"bank match {match.pk} undone: {reason}", as_of)
    for alloc in allocations:
        lifecycle.unsettle(invoices[alloc.invoice_id], alloc.amount_minor, as_of)
    payment.allocations.all().delete()
    CreditEntry.objects.filter(payment=payment).delete()
    return payment.pk


def _undo_collection(match: BankMatch, reason: str, as_of: date, reversed_payments: list[dict]) -> list[int]:
    state = _state(match)
    debits = list(DirectDebit.objects.select_for_update(of=("self",))
                  .filter(pk__in=[int(pk) for pk in state["debit_status"]]).order_by("pk"))
    for debit in debits:
        if debit.status != DirectDebit.SETTLED:
            raise MatchUsedLater(f"Bank match {match.pk} cannot be undone: debit {debit.end_to_end_id} is "
                                 f"{debit.status} since (a return was recorded).", match=match.pk)
    taken = [_take_back(match, pid, reason, as_of, reversed_payments) for pid in match.evidence.get("payments", ())
             if pid not in state["known_payments"]]
    for debit in debits:
        debit.status = state["debit_status"][str(debit.pk)]
        debit.save(update_fields=["status"])
    return taken


def _undo_return(match: BankMatch) -> list[int]:
    """Take back the SEPA return the match recorded; returns its id (deleted), or nothing when it stays."""
    state = _state(match)
    if not state["created"]:
        return []  # the return was recorded before the line arrived: it stays, only the line is freed
    ret = (DebitReturn.objects.select_for_update(of=("self",)).select_related("debit", "refund", "retry")
           .filter(pk=match.evidence["debit_return"]).first())
    if ret is None:
        raise _changed(match, "its SEPA return was removed")
    debit = DirectDebit.objects.select_for_update(of=("self",)).get(pk=ret.debit_id)
    retry = ret.retry
    if retry is not None and (retry.status != DirectDebit.PENDING or retry.batch_id is not None):
        raise _changed(match, f"the re-presentation {retry.end_to_end_id} was sent to the bank")
    mandate = Mandate.objects.select_for_update().get(pk=debit.mandate_id)
    after = state["mandate_after"]
    if {k: v for k, v in _mandate_fields(mandate).items() if k != "collected"} != {
            k: v for k, v in after.items() if k != "collected"}:
        raise _changed(match, f"mandate {mandate.reference} changed")
    refund = ret.refund
    if refund is not None:
        _reverse_refund(match, refund, state)
    return_id = ret.pk
    ret.delete()
    if refund is not None:
        refund.delete()
    if retry is not None:
        retry.delete()
    DirectDebit.objects.filter(pk__in=state["failed_pending"], status=DirectDebit.FAILED).update(
        status=DirectDebit.PENDING)
    before = state["mandate"]
    mandate.collected += before["collected"] - after["collected"]
    mandate.final_presented = before["final_presented"]
    mandate.blocked_reason = before["blocked_reason"]
    mandate.blocked_on = date.fromisoformat(before["blocked_on"]) if before["blocked_on"] else None
    mandate.save(update_fields=list(_MANDATE_FIELDS))
    debit.status = state["debit_status"]
    debit.save(update_fields=["status"])
    return [return_id]


def _reverse_refund(match: BankMatch, refund: Refund, state: dict) -> None:
    """Reverse the refund a return made: its credit entries go, the allocations it took back come back (same ids,
    amounts and dates) and their invoices are settled again; the caller deletes the refund."""
    payment = Payment.objects.select_for_update(of=("self",)).get(pk=refund.payment_id)
    if Refund.objects.filter(payment=payment).exclude(pk=refund.pk).filter(pk__gt=refund.pk).exists():
        raise MatchUsedLater(f"Bank match {match.pk} cannot be undone: payment {payment.pk} was refunded again "
                             "since.", match=match.pk)
    taken = list(RefundedAllocation.objects.filter(refund=refund).order_by("pk"))
    invoices = {inv.pk: inv for inv in Invoice.objects.select_for_update(of=("self",))
                .filter(pk__in=[t.invoice_id for t in taken]).order_by("pk")}
    for t in taken:
        invoice = invoices[t.invoice_id]
        if not invoice.is_open or invoice.balance_minor < t.amount_minor:
            raise _changed(match, f"invoice {invoice.number} was paid or closed")
    CreditEntry.objects.filter(pk__in=state["new_credit_entries"]).delete()
    for pk, invoice_id, amount, applied_on in state["allocations"]:
        current = Allocation.objects.filter(pk=pk).first()
        if current is None:
            Allocation.objects.create(pk=pk, payment=payment, invoice_id=invoice_id, amount_minor=amount,
                                      applied_on=date.fromisoformat(applied_on))
        elif current.amount_minor != amount:
            current.amount_minor = amount
            current.save(update_fields=["amount_minor"])
    for t in taken:
        lifecycle.settle(invoices[t.invoice_id], t.amount_minor, t.allocated_on)
    RefundedAllocation.objects.filter(refund=refund).delete()
    payment.refunded_minor -= refund.amount_minor
    payment.save(update_fields=["refunded_minor"])


def _state(match: BankMatch) -> dict:
    state = match.evidence.get("undo")
    if state is None:
        raise InvalidState(f"Bank match {match.pk} was made before SEPA matches could be undone (its earlier state "
                           "was not kept): record the correction by hand.", code="match_not_undoable",
                           match=match.pk)
    return state
