"""SEPA R-transactions: a direct debit rejected, returned, refused, reversed or refunded, with its ISO reason code.

:func:`record_debit_return` is the one way in, whatever reports the R-transaction: a pain.002 status report
(:func:`duly.payments.sepa_status.read_status_report`, then :func:`import_status_report`), staff (``duly debits
return``, the direct debits admin), or a camt.054 debit notification read by the bank-statement import, which calls
it once per returned entry::

    from duly.payments.return_services import find_debit, record_debit_return

    debit = find_debit(org, entry.original_end_to_end_id)   # NtryDtls/TxDtls/Refs/EndToEndId
    record_debit_return(debit, entry.reason_code,           # TxDtls/RtrInf/Rsn/Cd
                        returned_on=entry.booking_date, kind="return", source="camt054",
                        source_ref=entry.account_servicer_reference)

What it does, in one transaction:

- the debit is marked failed and its R-transaction stored (:class:`~.models.DebitReturn`, one per debit: the same
  return recorded again changes nothing and returns the stored row; another reason code for it is refused);
- if the debit had been booked as paid (:func:`record_debit_collected`: a payment whose reference is the debit's
  end-to-end id), that payment is reversed with :func:`~.services.refund_payment`, so the invoice reopens through
  the invoicing lifecycle;
- ``duly.domain.retries`` decides what follows: AM04 and MS03 are re-presented at most twice, each time as a new
  debit (its next attempt, pending, in a later batch) on a collection date the domain's SEPA schedule and
  pre-notification allow; every other code is hard: the mandate is blocked when the customer must act (MD01, AC04,
  AC06...), and nothing is retried;
- :data:`~.signals.debit_failed` is sent (inside the transaction) so a higher layer can ask the customer for a new
  method (``action == "new_method"``) or tell staff (``"review"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from django.db import transaction
from django.db.models import Max

from duly.customers.models import Organization
from duly.db.fastpath import ids_in
from duly.domain import sepa
from duly.domain.bounds import check_date_range
from duly.domain.errors import DebitReturnConflict, InvalidMandate, InvalidState, NotFound, ValidationError
from duly.domain.money import from_minor
from duly.domain.retries import SEPA_SCHEDULE, Action, Attempt, RetryDecision, SendWindow, classify, decide
from duly.invoicing.models import Invoice

from .models import DebitBatch, DebitReturn, DirectDebit, Mandate, Payment
from .sepa_services import end_to_end_id, snapshot
from .services import record_payment, refund_payment
from .signals import debit_failed

__all__ = ["ReturnResult", "StatusImport", "debit_holds", "find_debit", "import_status_report",
           "record_debit_collected", "record_debit_return"]

#: How long after its collection date an exported re-presentation still holds reminders back (the bank's answer,
#: collected or returned, comes within a few TARGET days).
HOLD_DAYS = 7
#: What a return ends in when nothing more is tried: the next reminder explains the return reason.
FINAL_ACTIONS = (Action.GIVE_UP.value, Action.NEW_METHOD.value)

#: The method and reference a debit booked as paid is recorded with.
SEPA_METHOD = "sepa_debit"
KINDS = {code for code, _ in DebitReturn.KIND_CHOICES}
SOURCES = {code for code, _ in DebitReturn.SOURCE_CHOICES}


@dataclass(frozen=True)
class ReturnResult:
    """What recording an R-transaction did: ``created`` is False when it had been recorded before."""

    debit_return: DebitReturn
    created: bool
    decision: RetryDecision | None = None

    @property
    def message(self) -> str:
        ret = self.debit_return
        head = (f"Debit {ret.debit.end_to_end_id}: {ret.get_kind_display().lower()} {ret.reason_code} on "
                f"{ret.returned_on.isoformat()}")
        if not self.created:
            return f"{head} was already recorded: nothing changed."
        parts = [head, "the payment was reversed and the invoice reopened" if ret.refund_id else
                 "no payment had been booked"]
        if ret.retry_id:
            parts.append(f"re-presented as {ret.retry.end_to_end_id} on {ret.retry.collection_date.isoformat()}")
        elif ret.action == Action.NEW_METHOD.value:
            parts.append(f"mandate {ret.debit.mandate.reference} blocked: a new method is needed")
        elif ret.action == Action.REVIEW.value:
            parts.append("not retried: staff must review the creditor's data")
        else:
            parts.append("not retried: re-presentations spent")
        return "; ".join(parts) + "."


def find_debit(org: Organization, end_to_end: str, *, batch_message_id: str = "") -> DirectDebit:
    """The exported debit of ``org`` with this end-to-end id (``OrgnlEndToEndId``), the latest when it was sent more
    than once; ``batch_message_id`` (a pain.002's ``OrgnlMsgId``) picks it in that batch when given."""
    text = (end_to_end or "").strip()
    debits = DirectDebit.objects.filter(organization=org, end_to_end_id=text).exclude(status=DirectDebit.PENDING)
    if batch_message_id:
        narrowed = debits.filter(batch__message_id=batch_message_id.strip())
        debits = narrowed if narrowed.exists() else debits
    found = debits.order_by("-pk").first()
    if found is None:
        raise NotFound(f"No exported direct debit with the end-to-end id {text[:35]!r} in this organization.",
                       end_to_end_id=text[:35])
    return found


@dataclass(frozen=True)
class StatusImport:
    """What importing a pain.002 did."""

    message_id: str
    results: tuple[ReturnResult, ...]

    @property
    def message(self) -> str:
        new = [r for r in self.results if r.created]
        if not self.results:
            return f"Status report {self.message_id}: no rejected debit."
        lines = [f"Status report {self.message_id}: {len(new)} rejection(s) recorded, "
                 f"{len(self.results) - len(new)} already known."]
        return "\n".join(lines + [r.message for r in new])


@transaction.atomic
def import_status_report(org: Organization, data: bytes, *, rejected_on: date | None = None) -> StatusImport:
    """Record every rejection of a pain.002 status report (:mod:`.sepa_status`) as a reject of its debit, dated
    ``rejected_on`` (default: the report's creation date). All or nothing: a malformed report, or one naming a
    debit or batch Duly did not send, records nothing. Importing the same report again changes nothing."""
    from .sepa_status import payment_infos, read_status_report

    report = read_status_report(data)
    batch = DebitBatch.objects.filter(organization=org, message_id=report.original_message_id).first()
    if batch is None:
        raise NotFound(f"The status report answers the file {report.original_message_id!r}, which this organization "
                       "did not export.", message_id=report.original_message_id[:35])
    targets: dict[int, tuple[DirectDebit, str]] = {}
    blocks = None
    for rejection in report.rejections:
        if rejection.end_to_end_id:
            debits = [find_debit(org, rejection.end_to_end_id, batch_message_id=batch.message_id)]
        else:
            if blocks is None:
                blocks = payment_infos(bytes(batch.xml))
            if rejection.payment_info_id:
                if rejection.payment_info_id not in blocks:
                    raise NotFound(f"{rejection.element}: payment information {rejection.payment_info_id!r} is not "
                                   f"in file {batch.message_id}.", element=rejection.element)
                ids = blocks[rejection.payment_info_id]
            else:
                ids = [e for block in blocks.values() for e in block]
            debits = [find_debit(org, e, batch_message_id=batch.message_id) for e in ids]
        for debit in debits:
            targets[debit.pk] = (debit, rejection.reason_code)  # a transaction's own reason beats its block's
    results = tuple(record_debit_return(debit, code, returned_on=rejected_on or report.created_on,
                                        kind=DebitReturn.REJECT, source="pain002", source_ref=report.message_id)
                    for debit, code in targets.values())
    return StatusImport(report.message_id, results)


@transaction.atomic
def record_debit_collected(debit: DirectDebit, *, on: date) -> Payment:
    """Book an exported debit as paid on ``on`` (the creditor's bank credited it): a payment of the invoice,
    method ``sepa_debit``, referenced by the debit's end-to-end id (recording it again is a no-op)."""
    debit = DirectDebit.objects.select_for_update().select_related("invoice__customer", "organization").get(pk=debit.pk)
    if debit.status not in (DirectDebit.EXPORTED, DirectDebit.SETTLED):
        raise InvalidState(f"Debit {debit.end_to_end_id} is {debit.status}: only an exported debit is collected.")
    invoice = Invoice.objects.get(pk=debit.invoice_id)
    allocations = None
    if invoice.is_open and invoice.balance_minor > 0:
        allocations = {invoice.pk: from_minor(min(debit.amount_minor, invoice.balance_minor), debit.currency)}
    payment = record_payment(debit.organization, invoice.customer,
                             amount=from_minor(debit.amount_minor, debit.currency),
                             currency=debit.currency, method=SEPA_METHOD, received_on=on,
                             external_reference=debit.end_to_end_id, allocations=allocations,
                             note=f"SEPA direct debit {debit.end_to_end_id}")
    if debit.status != DirectDebit.SETTLED:
        debit.status = DirectDebit.SETTLED
        debit.save(update_fields=["status"])
    return payment


def _clean_code(reason_code: str) -> str:
    code = (reason_code or "").strip().upper()
    if not code or len(code) > 4 or not code.isalnum():
        raise ValidationError(f"An R-transaction needs its ISO reason code (4 letters or digits, e.g. AM04, MD01), "
                              f"got {str(reason_code)[:20]!r}.", code="invalid_reason_code")
    return code


@transaction.atomic
def record_debit_return(debit: DirectDebit, reason_code: str, *, returned_on: date, kind: str = DebitReturn.RETURN,
                        source: str = "staff", source_ref: str = "") -> ReturnResult:
    """Record the R-transaction of ``debit`` (see the module docstring). Bad input changes nothing."""
    code = _clean_code(reason_code)
    if kind not in KINDS:
        raise ValidationError(f"An R-transaction is one of {', '.join(sorted(KINDS))}, got {kind!r}.",
                              code="invalid_choice")
    if source not in SOURCES:
        raise ValidationError(f"An R-transaction comes from {', '.join(sorted(SOURCES))}, got {source!r}.",
                              code="invalid_choice")
    check_date_range(returned_on, "The return date")
    debit = (DirectDebit.objects.select_for_update(of=("self",))  # the contract is an outer join (PostgreSQL)
             .select_related("organization", "mandate", "invoice__contract", "invoice__customer").get(pk=debit.pk))
    existing = DebitReturn.objects.filter(debit=debit).select_related("debit__mandate", "retry").first()
    if existing is not None:
        if existing.reason_code != code:
            raise DebitReturnConflict(
                f"Debit {debit.end_to_end_id} was already returned with {existing.reason_code} on "
                f"{existing.returned_on.isoformat()}; a debit has one R-transaction.",
                end_to_end_id=debit.end_to_end_id, recorded=existing.reason_code, got=code)
        return ReturnResult(existing, created=False)
    if debit.status == DirectDebit.PENDING or debit.batch_id is None:
        raise InvalidState(f"Debit {debit.end_to_end_id} was never sent to the bank: it cannot be returned.",
                           end_to_end_id=debit.end_to_end_id)
    if returned_on < debit.batch.as_of:
        raise ValidationError(f"Debit {debit.end_to_end_id} was sent on {debit.batch.as_of.isoformat()}: it cannot "
                              f"be returned on {returned_on.isoformat()}.")
    org, mandate = debit.organization, Mandate.objects.select_for_update().get(pk=debit.mandate_id)
    decline = classify("sepa", code)
    refund = _reverse_payment(debit, code, decline.description, returned_on)
    was_counted = debit.status in (DirectDebit.EXPORTED, DirectDebit.SETTLED)
    debit.status = DirectDebit.FAILED
    debit.save(update_fields=["status"])
    if was_counted:  # a collection that did not go through: the next one takes its sequence type (FRST again)
        mandate.collected = max(0, mandate.collected - 1)
        if debit.sequence_type == sepa.SequenceType.FNAL.value:
            mandate.final_presented = False
    ret = DebitReturn.objects.create(organization=org, debit=debit, kind=kind, reason_code=code,
                                     returned_on=returned_on, source=source, source_ref=source_ref.strip()[:140],
                                     category=decline.category.value, action="", refund=refund)
    attempts = _attempts(debit)
    decision = decide(attempts, schedule=SEPA_SCHEDULE, as_of=max(_moment(returned_on), attempts[-1].at),
                      calendar=sepa.TARGET, window=SendWindow("UTC", time(0), time(23, 59)))
    if decision.action is Action.RETRY:
        ret.retry = _represent(debit, mandate, decision, returned_on)
        if ret.retry is None:
            decision = RetryDecision(Action.GIVE_UP, decline=decision.decline, attempts_made=decision.attempts_made,
                                     reason="the mandate can no longer be debited")
    elif decision.action is Action.NEW_METHOD:  # the customer's account or mandate: never debited again
        mandate.blocked_reason, mandate.blocked_on = code, returned_on
        DirectDebit.objects.filter(mandate=mandate, status=DirectDebit.PENDING).update(status=DirectDebit.FAILED)
    ret.action = decision.action.value
    ret.save(update_fields=["retry", "action"])
    mandate.save(update_fields=["collected", "final_presented", "blocked_reason", "blocked_on"])
    debit_failed.send(sender=DirectDebit, debit=debit, debit_return=ret, decision=decision)
    return ReturnResult(ret, created=True, decision=decision)


def _reverse_payment(debit: DirectDebit, code: str, description: str, returned_on: date):
    """Reverse the payment the debit was booked as (if any): the invoice reopens. The Refund, or None."""
    payment = Payment.objects.filter(organization=debit.organization, method=SEPA_METHOD,
                                     external_reference=debit.end_to_end_id).first()
    if payment is None:
        return None
    amount = min(debit.amount_minor, payment.amount_minor - payment.refunded_minor)
    if amount <= 0:
        return None
    return refund_payment(debit.organization, payment.pk, amount=from_minor(amount, payment.currency),
                          refunded_on=max(returned_on, payment.received_on),
                          reason=f"SEPA debit returned ({code}: {description})"[:200],
                          external_reference=f"R-{debit.end_to_end_id}"[:120])


def _moment(day: date) -> datetime:
    return datetime.combine(day, time(0), timezone.utc)


def _attempts(debit: DirectDebit) -> list[Attempt]:
    """The collections of the debit's invoice on its mandate that came back, oldest first (each an attempt)."""
    rows = (DebitReturn.objects.filter(debit__invoice_id=debit.invoice_id, debit__mandate_id=debit.mandate_id)
            .select_related("debit").order_by("debit__attempt"))
    return [Attempt(_moment(r.debit.collection_date), "failed", r.reason_code) for r in rows]


def _represent(debit: DirectDebit, mandate: Mandate, decision: RetryDecision, returned_on: date) -> DirectDebit | None:
    """The re-presentation of a soft return: a new pending debit (next attempt) for what is still open, collected
    no earlier than the domain's retry day and the pre-notification allow; None when nothing is left to debit."""
    invoice = Invoice.objects.select_for_update(of=("self",)).select_related("contract").get(pk=debit.invoice_id)
    amount = min(debit.amount_minor, invoice.balance_minor)
    if not invoice.is_open or amount <= 0:
        return None
    aim = decision.retry_at.date() if decision.retry_at else returned_on
    notice = invoice.contract.sepa_prenotification_days if invoice.contract else None
    state = snapshot(mandate)
    try:
        plan = sepa.collection_plan(state, max(aim, invoice.due_date), returned_on, notice_days=notice,
                                    final=debit.sequence_type == sepa.SequenceType.FNAL.value)
    except InvalidMandate:
        return None
    if mandate.revoked_at is not None and mandate.revoked_at <= plan.collection_date:
        return None
    attempt = (DirectDebit.objects.filter(invoice=invoice).aggregate(m=Max("attempt"))["m"] or 0) + 1
    return DirectDebit.objects.create(
        organization=debit.organization, mandate=mandate, invoice=invoice, attempt=attempt, amount_minor=amount,
        currency=debit.currency, collection_date=plan.collection_date, sequence_type=plan.sequence_type.value,
        end_to_end_id=end_to_end_id(invoice, attempt))


def debit_holds(invoice_ids, today: date) -> tuple[set[int], dict[int, tuple[str, str]]]:
    """For the chasing of these invoices (read by collections, like ``autopay_holds`` for charges): the ones whose
    latest direct debit is a re-presentation still under way (pending, or exported and collected no more than
    :data:`HOLD_DAYS` ago), when reminders wait; and the ones whose latest debit came back for good (no
    re-presentation left, or a new method needed), with ``("sepa", reason code)``, which the next reminder
    explains. A return staff must review (the creditor's own data) is neither. One query per 5,000 invoices."""
    latest: dict[int, tuple[int, str, date, str, str]] = {}
    ids = list(invoice_ids)
    for start in range(0, len(ids), 5000):  # well under SQLite's limit of bound variables
        for invoice_id, number, status, on, code, action in DirectDebit.objects.filter(
                ids_in("invoice_id", ids[start:start + 5000])).values_list(
                "invoice_id", "attempt", "status", "collection_date", "debit_return__reason_code",
                "debit_return__action"):
            if invoice_id not in latest or number > latest[invoice_id][0]:
                latest[invoice_id] = (number, status, on, code or "", action or "")
    held: set[int] = set()
    declined: dict[int, tuple[str, str]] = {}
    oldest = today - timedelta(days=HOLD_DAYS)
    for invoice_id, (number, status, on, code, action) in latest.items():
        if number > 1 and status in (DirectDebit.PENDING, DirectDebit.EXPORTED) and on >= oldest:
            held.add(invoice_id)
        elif status == DirectDebit.FAILED and action in FINAL_ACTIONS:
            declined[invoice_id] = ("sepa", code)
    return held, declined
