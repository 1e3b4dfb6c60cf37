"""Reconciliation: match imported statement lines to invoices, apply the sure ones, queue the rest for review.

:func:`reconcile` first hands the lines of the organization's own SEPA direct debits (returns, collection
credits) to :mod:`.debit_reconcile_services`, then runs :mod:`duly.domain.matching` over the other new lines. A
proposal the rule decides to apply automatically is recorded through the payments services (method
``bank_transfer``, external reference ``bank-line:<line id>``), so the thank-you message, the receipt and the
end of chasing follow as for any payment; a :class:`BankMatch` keeps its score and evidence. One line paying one
invoice whole (the common case) is applied in bulk (:func:`_apply_batch`, through
:func:`~duly.payments.services.record_invoice_payments`), any other through
:func:`~duly.payments.services.record_payment`. Every other
incoming line waits in review (:class:`ReviewEntry` with its ranked proposals); outgoing lines are set aside
as ignored with their category. Each line is one transaction: a rerun after a crash finds the line still new,
and ``record_payment`` returns the payment already recorded under its reference.

Review: :func:`accept` (proposal N), :func:`reject` (drop proposal N), :func:`split` (explicit amounts per
invoice), :func:`assign_credit` (the whole line as a customer's credit), :func:`ignore`. :func:`undo`
(:mod:`.reconcile_undo_services`) takes any match back exactly, SEPA collections and returns and short-payment
write-offs included, and puts the line back in review; a match whose money a later refund used, or whose credit
was drawn on another invoice, cannot be undone (:class:`~duly.domain.errors.MatchUsedLater`); a line already
matched cannot be matched again (:class:`~duly.domain.errors.LineAlreadyMatched`).

A short payment within the tolerance is applied; the shortfall is left open (policy ``leave_open``) or written off
(``write_off``: the invoice is marked uncollectible for the shortfall through
:func:`duly.invoicing.services.mark_uncollectible`, kept in the match's evidence as ``written_off``). A written-off
invoice is never reopened as a side effect (docs/books.md); :func:`undo` of such a match is a deliberate act of
staff and reverses the write-off (audited) before taking the payment back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Mapping

from django.db import transaction

from duly.customers.models import Customer, Organization
from duly.domain.errors import (
    DomainError,
    LineAlreadyMatched,
    NotFound,
    ValidationError,
)
from duly.domain.matching import Decision, LineMatch, MatchIndex, Matcher, MatchPolicy, Proposal, ShortPaymentAction
from duly.domain.money import from_minor, to_decimal, to_minor
from duly.invoicing import services as invoicing
from duly.invoicing.models import Invoice

from . import services
from .bank_models import StatementLine
from .debit_reconcile_services import settle_debit_lines
from .models import Allocation, CreditEntry, Payment
from .reconcile_models import BankMatch, ReviewEntry
from .reconcile_snapshot import as_line, learned_ibans, lines_to_match, open_items
from .reconcile_undo_services import undo
from .signals import payment_recorded

__all__ = ["Plan", "ReconcileResult", "accept", "apply_planned", "assign_credit", "ignore", "plan", "reconcile",
           "reject", "split", "undo"]

#: Sure matches applied together in one transaction (see :func:`_apply_batch`).
BATCH = 500
DEFAULT_POLICY = MatchPolicy(short_tolerance_minor=0, short_payment=ShortPaymentAction.LEAVE_OPEN)


@dataclass(frozen=True)
class ReconcileResult:
    matched: int
    review: int
    outgoing: int
    #: Lines that returned or collected SEPA direct debits (counted here, not in the others).
    debits: int = 0


def reconcile(org: Organization, *, as_of: date, policy: MatchPolicy = DEFAULT_POLICY,
              line_ids: list[int] | None = None, bulk: bool = True) -> ReconcileResult:
    """Match the organization's new statement lines; apply the sure ones, queue the others (see the module).
    ``bulk=False`` applies every line one by one (the reference path the benchmark compares with)."""
    planned = plan(org, as_of=as_of, policy=policy, line_ids=line_ids)
    if not planned.pairs:
        return ReconcileResult(0, 0, 0, planned.debits)
    return replace(apply_planned(org, planned.pairs, as_of=as_of, bulk=bulk), debits=planned.debits)


@dataclass(frozen=True)
class Plan:
    """What one matching pass decided: each new line with its :class:`LineMatch`, in booking order, and how many
    lines of the organization's own direct debits were settled before matching."""
    pairs: list[tuple[StatementLine, LineMatch]]
    debits: int = 0


def plan(org: Organization, *, as_of: date, policy: MatchPolicy = DEFAULT_POLICY,
         line_ids: list[int] | None = None) -> Plan:
    """The first step of :func:`reconcile`: settle the lines of the organization's own SEPA direct debits (they
    change what is open), then match every other new line against every open item of the organization, in one
    pass (a line consumes what it pays before the next is matched). Writes nothing but the debit lines."""
    rows = lines_to_match(org, line_ids)
    if not rows:
        return Plan([])
    rows, debits = settle_debit_lines(org, rows, as_of=as_of)
    if not rows:
        return Plan([], debits)
    matcher = Matcher(MatchIndex.build(open_items(org), learned_ibans(org)), policy, as_of)
    return Plan(list(zip(rows, matcher.match([as_line(row) for row in rows]))), debits)


def apply_planned(org: Organization, pairs: list[tuple[StatementLine, LineMatch]], *, as_of: date,
                  bulk: bool = True) -> ReconcileResult:
    """The second step of :func:`reconcile`: apply the planned decisions (sure matches in bulk where they are
    simple, then every other line one by one, in booking order). Each line is applied once: a line that is no
    longer new (a rerun) is skipped, a payment is recorded once under its line's reference."""
    counts = {Decision.AUTO: 0, Decision.REVIEW: 0, Decision.OUTGOING: 0}
    simple = [(row, result) for row, result in pairs if bulk and _simple(row, result)]
    taken = {row.pk for row, _ in simple}
    one_by_one = [(row, result) for row, result in pairs if row.pk not in taken]
    for start in range(0, len(simple), BATCH):
        chunk = simple[start:start + BATCH]
        left = _apply_batch(org, chunk, as_of)
        counts[Decision.AUTO] += len(chunk) - len(left)
        one_by_one.extend(left)
    for row, result in one_by_one:
        counts[_settle_line(org, row.pk, result, as_of)] += 1
    return ReconcileResult(counts[Decision.AUTO], counts[Decision.REVIEW], counts[Decision.OUTGOING])


def _simple(row: StatementLine, result: LineMatch) -> bool:
    """A sure match that pays exactly one invoice with the whole line, in the line's currency: applied in bulk."""
    best = result.best if result.decision is Decision.AUTO else None
    return (best is not None and best.customer_id is not None and len(best.allocations) == 1
            and best.credit_minor == 0 and best.write_off_minor == 0 and best.currency == row.currency
            and best.allocations[0].amount_minor == row.amount_minor > 0)


@transaction.atomic
def _apply_batch(org: Organization, chunk: list[tuple[StatementLine, LineMatch]],
                 as_of: date) -> list[tuple[StatementLine, LineMatch]]:
    """Apply simple sure matches together, in one transaction: their payments through
    :func:`~duly.payments.services.record_invoice_payments` (the same rows, locks and ``payment_recorded`` signal
    per payment as ``record_payment``), their matches and line statuses in bulk. Returns the pairs it left for the
    one-by-one path (the invoice changed since the snapshot, or the line's reference was recorded before for
    another payment), which applies every rule and sends a line it cannot apply to review."""
    lines = {line.pk: line for line in StatementLine.objects.select_for_update()
             .filter(pk__in=[row.pk for row, _ in chunk], status=StatementLine.NEW)}
    todo = [(lines[row.pk], result) for row, result in chunk if row.pk in lines]
    if not todo:
        return []
    items = [services.InvoicePayment(result.best.allocations[0].invoice_id, line.amount_minor, line.currency,
                                     "bank_transfer", line.booking_date, f"bank-line:{line.pk}", note=_note(line))
             for line, result in todo]
    refs = [item.reference for item in items]
    rest = {item.reference for item in services.record_invoice_payments(org, items)}
    payments = {p.external_reference: p for p in Payment.objects.filter(
        organization=org, method="bank_transfer", external_reference__in=[r for r in refs if r not in rest])}
    applied = defaultdict(list)
    for pid, iid, amount, on in (Allocation.objects.filter(payment__in=list(payments.values())).order_by("id")
                                 .values_list("payment_id", "invoice_id", "amount_minor", "applied_on")):
        applied[pid].append([iid, amount, on.isoformat()])
    matches, left = [], []
    for (line, result), item in zip(todo, items):
        best, payment = result.best, payments.get(item.reference)
        # left to the one-by-one path: not simple any more, or recorded before (a rerun) for another payment
        if (item.reference in rest or payment is None or (payment.amount_minor, payment.customer_id, payment.currency)
                != (line.amount_minor, best.customer_id, line.currency)):
            left.append((line, result))
            continue
        evidence = _proposal_json(best)
        evidence["applied"] = applied[payment.pk]
        matches.append(BankMatch(organization=org, line=line, payment=payment, customer_id=best.customer_id,
                                 how=BankMatch.AUTO, score=best.score, rule=(evidence["evidence"] or [[""]])[0][0],
                                 evidence=evidence, matched_on=as_of))
    BankMatch.objects.bulk_create(matches)
    done = [m.line_id for m in matches]
    StatementLine.objects.filter(pk__in=done).update(status=StatementLine.MATCHED)
    ReviewEntry.objects.filter(line_id__in=done).delete()
    return left


@transaction.atomic
def _settle_line(org: Organization, line_id: int, result: LineMatch, as_of: date) -> Decision:
    line = StatementLine.objects.select_for_update().get(pk=line_id)
    if line.status != StatementLine.NEW:
        return Decision.REVIEW if line.status == StatementLine.REVIEW else Decision.AUTO
    if result.decision is Decision.OUTGOING:
        _review_entry(org, line, (), category=result.category,
                      customer_id=result.customer_id, note=f"outgoing: {result.category}")
        _set_status(line, StatementLine.IGNORED)
        return Decision.OUTGOING
    if result.decision is Decision.AUTO:
        try:
            with transaction.atomic():
                _apply(org, line, result.best, BankMatch.AUTO, as_of)
            return Decision.AUTO
        except DomainError as err:  # the invoice changed since the snapshot: a person decides
            _review_entry(org, line, result.proposals, note=f"not applied: {err.message}"[:200])
            _set_status(line, StatementLine.REVIEW)
            return Decision.REVIEW
    _review_entry(org, line, result.proposals)
    _set_status(line, StatementLine.REVIEW)
    return Decision.REVIEW


def _set_status(line: StatementLine, status: str) -> None:
    line.status = status
    line.save(update_fields=["status"])


def _review_entry(org, line, proposals, *, category="", customer_id=None, note="") -> ReviewEntry:
    stored = [_proposal_json(p) for p in proposals]
    customer = customer_id if customer_id is not None else next(
        (p["customer_id"] for p in stored if p["customer_id"] is not None), None)
    entry, _ = ReviewEntry.objects.update_or_create(
        line=line, defaults={"organization": org, "proposals": stored, "customer_id": customer,
                             "category": category, "note": note})
    return entry


def _proposal_json(p: Proposal) -> dict:
    return {"customer_id": p.customer_id, "currency": p.currency,
            "allocations": [[a.invoice_id, a.amount_minor] for a in p.allocations],
            "credit_minor": p.credit_minor, "write_off_minor": p.write_off_minor, "score": p.score,
            "evidence": [[e.rule, e.matched, e.detail] for e in p.evidence], "blockers": list(p.blockers)}


def _apply(org: Organization, line: StatementLine, proposal: Proposal | dict, how: str, as_of: date) -> BankMatch:
    p = proposal if isinstance(proposal, dict) else _proposal_json(proposal)
    if p["customer_id"] is None:
        raise ValidationError("This proposal names no customer: assign the line to a customer instead.")
    customer = _customer(org, p["customer_id"])
    allocations = {iid: from_minor(amount, p["currency"]) for iid, amount in p["allocations"]}
    total = sum(amount for _, amount in p["allocations"]) + p["credit_minor"]
    if total <= 0:
        raise ValidationError("This proposal applies nothing: assign the line to a customer as credit instead.")
    if p["currency"] == line.currency and total > line.amount_minor:
        raise ValidationError("The proposal applies more than the line received.")
    payment = services.record_payment(
        org, customer, amount=from_minor(total, p["currency"]), currency=p["currency"], method="bank_transfer",
        received_on=line.booking_date, external_reference=f"bank-line:{line.pk}", allocations=allocations or None,
        note=_note(line))
    written_off = _write_off_shortfall(org, line, p)
    return _record_match(org, line, customer, payment, how, p, as_of, written_off=written_off)


def _write_off_shortfall(org: Organization, line: StatementLine, proposal: dict) -> list[list[int]]:
    """The policy's ``write_off`` of a short payment: the invoice the proposal paid last is written off for what
    the line left open (the bank's fee), through the invoicing service. Done only when what is open is still at
    most the shortfall the matcher saw (the invoice did not change since): else it stays open."""
    shortfall = proposal.get("write_off_minor") or 0
    if shortfall <= 0 or not proposal["allocations"]:
        return []
    invoice_id = proposal["allocations"][-1][0]
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    left = invoice.balance_minor
    if not invoice.is_open or not 0 < left <= shortfall:
        return []
    invoicing.mark_uncollectible(
        org, invoice.pk, reason=f"Short payment written off: {from_minor(left, invoice.currency)} {invoice.currency} "
                                f"not received with bank line {line.pk} (bank fees, within the tolerance)")
    return [[invoice.pk, left]]


def _record_match(org, line, customer, payment, how, proposal: dict, as_of: date, *,
                  written_off: list[list[int]] = ()) -> BankMatch:
    evidence = dict(proposal)
    evidence["applied"] = [[a.invoice_id, a.amount_minor, a.applied_on.isoformat()]
                           for a in payment.allocations.all()]
    if written_off:
        evidence["written_off"] = list(written_off)
    match = BankMatch.objects.create(
        organization=org, line=line, payment=payment, customer=customer, how=how,
        score=proposal.get("score", 0), rule=(proposal.get("evidence") or [[""]])[0][0], evidence=evidence,
        matched_on=as_of)
    _set_status(line, StatementLine.MATCHED)
    ReviewEntry.objects.filter(line=line).delete()
    return match


def _note(line: StatementLine) -> str:
    text = " ".join(t for t in (line.counterparty_name, line.remittance_structured, line.remittance_unstructured) if t)
    return f"Bank line {line.pk} ({line.booking_date.isoformat()}): {text}"[:500]


def _customer(org: Organization, customer_id: int) -> Customer:
    try:
        return Customer.objects.get(organization=org, pk=customer_id)
    except Customer.DoesNotExist:
        raise NotFound(f"Customer {customer_id} not found in {org.name}.") from None


def _line_for_review(org: Organization, line_id: int) -> StatementLine:
    try:
        line = StatementLine.objects.select_for_update().get(organization=org, pk=line_id)
    except StatementLine.DoesNotExist:
        raise NotFound(f"Statement line {line_id} not found in {org.name}.") from None
    if line.status == StatementLine.MATCHED:
        match = line.matches.filter(undone_at__isnull=True).first()
        raise LineAlreadyMatched(
            f"Statement line {line_id} is already matched"
            + (f" (match {match.pk}, {match.customer}); undo that match first." if match else "."),
            line=line_id)
    if line.amount_minor <= 0:
        raise ValidationError(f"Statement line {line_id} is outgoing money: it pays no invoice.", line=line_id)
    return line


# --- review actions ------------------------------------------------------------------------------------------------
@transaction.atomic
def accept(org: Organization, line_id: int, *, rank: int = 1, as_of: date) -> BankMatch:
    """Apply proposal ``rank`` (1 = best) of a line in review."""
    line = _line_for_review(org, line_id)
    entry = ReviewEntry.objects.filter(line=line).first()
    proposals = entry.proposals if entry else []
    if not 1 <= rank <= len(proposals):
        raise ValidationError(f"Statement line {line_id} has {len(proposals)} proposal(s); there is no number {rank}.",
                              line=line_id)
    proposal = proposals[rank - 1]
    if not proposal["allocations"]:
        return _credit(org, line, _customer(org, proposal["customer_id"]), as_of, proposal)
    return _apply(org, line, proposal, BankMatch.ACCEPTED, as_of)


@transaction.atomic
def reject(org: Organization, line_id: int, *, rank: int = 1) -> ReviewEntry:
    """Drop proposal ``rank`` of a line in review (the line stays in review)."""
    line = _line_for_review(org, line_id)
    entry = ReviewEntry.objects.filter(line=line).first()
    if entry is None or not 1 <= rank <= len(entry.proposals):
        raise ValidationError(f"Statement line {line_id} has no proposal number {rank}.", line=line_id)
    entry.proposals = entry.proposals[:rank - 1] + entry.proposals[rank:]
    entry.customer_id = next((p["customer_id"] for p in entry.proposals if p["customer_id"] is not None), None)
    entry.save(update_fields=["proposals", "customer", "updated_at"])
    return entry


@transaction.atomic
def split(org: Organization, line_id: int, *, customer_id: int, amounts: Mapping[int, Decimal | str],
          as_of: date) -> BankMatch:
    """Apply a line to the customer's invoices with the amounts given (major units); what is left is credit (or,
    by the payments rule, pays the customer's other open invoices, oldest first)."""
    line = _line_for_review(org, line_id)
    customer = _customer(org, customer_id)
    currency = line.currency
    if not amounts:
        raise ValidationError("Give at least one invoice and amount to split the line across.")
    minor = {int(iid): to_minor(to_decimal(amount), currency) for iid, amount in amounts.items()}
    if any(v <= 0 for v in minor.values()):
        raise ValidationError("Every amount of a split must be positive.")
    if sum(minor.values()) > line.amount_minor:
        raise ValidationError(f"The split applies {from_minor(sum(minor.values()), currency)} {currency}, more than "
                              f"the line's {from_minor(line.amount_minor, currency)} {currency}.")
    proposal = {"customer_id": customer.pk, "currency": currency, "allocations": [[i, v] for i, v in minor.items()],
                "credit_minor": line.amount_minor - sum(minor.values()), "write_off_minor": 0, "score": 0,
                "evidence": [["split", "", "split by hand"]], "blockers": []}
    return _apply(org, line, proposal, BankMatch.SPLIT, as_of)


@transaction.atomic
def assign_credit(org: Organization, line_id: int, *, customer_id: int, as_of: date) -> BankMatch:
    """Record the whole line as a payment of the customer held as credit (applied to no invoice)."""
    line = _line_for_review(org, line_id)
    return _credit(org, line, _customer(org, customer_id), as_of, None)


def _credit(org, line, customer, as_of, proposal) -> BankMatch:
    existing = Payment.objects.filter(organization=org, method="bank_transfer",
                                      external_reference=f"bank-line:{line.pk}").first()
    if existing is not None:  # recorded under the line's reference already: the same payment, or a clear error
        if existing.customer_id == customer.pk and existing.amount_minor == line.amount_minor:
            return _record_match(org, line, customer, existing, BankMatch.CREDIT, proposal or {}, as_of)
        raise LineAlreadyMatched(f"Statement line {line.pk} was already recorded as payment {existing.pk} "
                                 f"of {existing.customer}.")
    payment = Payment.objects.create(
        organization=org, customer=customer, amount_minor=line.amount_minor, currency=line.currency,
        method="bank_transfer", received_on=line.booking_date, external_reference=f"bank-line:{line.pk}",
        note=_note(line))
    CreditEntry.objects.create(organization=org, customer=customer, currency=line.currency,
                               amount_minor=line.amount_minor, payment=payment,
                               memo=f"Bank line {line.pk} assigned as credit", created_on=line.booking_date)
    payment_recorded.send(sender=Payment, payment=payment)
    stored = dict(proposal or {"customer_id": customer.pk, "currency": line.currency, "allocations": [],
                               "credit_minor": line.amount_minor, "write_off_minor": 0, "score": 0,
                               "evidence": [["customer_credit", "", "assigned by hand"]], "blockers": []})
    return _record_match(org, line, customer, payment, BankMatch.CREDIT, stored, as_of)


@transaction.atomic
def ignore(org: Organization, line_id: int, *, reason: str) -> StatementLine:
    """Set a line aside for good (not a customer's payment: a tax refund, interest...)."""
    line = _line_for_review(org, line_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the line is ignored.")
    _review_entry(org, line, (), category="ignored", note=reason[:200])
    _set_status(line, StatementLine.IGNORED)
    return line
