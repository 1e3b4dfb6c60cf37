"""Recording payments, allocating them to invoices, customer credit and refunds.

A payment is allocated to one or several invoices (explicitly, else oldest due first). What is left
becomes customer credit (if the customer's credit policy allows it), applied to the next invoice.
A payment in another currency than the invoice is refused: there is no silent conversion.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Mapping, Sequence

from django.db import transaction
from django.db.models import Sum, prefetch_related_objects

from duly.customers.models import Customer, Organization
from duly.db.scope import read_scope
from duly.domain.allocation import OpenBalance, allocate_payment
from duly.domain.errors import (
    Conflict,
    CurrencyMismatch,
    NotFound,
    RefundExceedsPayment,
    ValidationError,
    ValueOutOfRange,
)
from duly.domain.bounds import check_date_range
from duly.domain.lifecycle import CREDIT
from duly.domain.money import check_currency, from_minor, round_money, to_decimal, to_minor
from duly.invoicing import bulk, lifecycle
from duly.invoicing.models import Invoice

from .models import METHOD_CHOICES, Allocation, CreditEntry, Payment, Refund, RefundedAllocation
from .signals import payment_recorded

METHODS = {code for code, _ in METHOD_CHOICES} - {"credit"}


def _lock_customer(customer_id: int) -> None:
    """Serialise every change to a customer's credit (SELECT ... FOR UPDATE on PostgreSQL).

    Taken after the invoice rows a service locks (invoices first, then the customer, everywhere), and
    before the credit balance is read, so two concurrent transactions never spend the same credit.
    """
    Customer.objects.select_for_update().filter(pk=customer_id).values_list("pk", flat=True).get()


#: Invoices closed for good: a settled amount added or taken back never reopens them.
CLOSED_STATUSES = lifecycle.CLOSED_STATUSES


def credit_balance_minor(customer: Customer, currency: str) -> int:
    return CreditEntry.objects.filter(customer=customer, currency=currency).aggregate(s=Sum("amount_minor"))["s"] or 0


def credit_balances(customer_ids: set[int]) -> set[tuple[int, str]]:
    """(customer, currency) pairs with a positive credit balance, among ``customer_ids`` (one query)."""
    if not customer_ids:
        return set()
    return {
        (row["customer_id"], row["currency"])
        for row in CreditEntry.objects.filter(bulk.ids_in("customer_id", customer_ids))
        .values("customer_id", "currency")
        .annotate(balance=Sum("amount_minor"))
        if row["balance"] > 0
    }


@transaction.atomic
def record_payment(
    org: Organization,
    customer: Customer,
    *,
    amount: Decimal | str,
    currency: str,
    method: str,
    received_on: date,
    external_reference: str = "",
    allocations: Mapping[int, Decimal | str] | None = None,
    note: str = "",
) -> Payment:
    """Record a payment and allocate it. Idempotent on (method, external reference)."""
    if customer.organization_id != org.id:
        raise NotFound(f"Customer {customer.pk} not found in {org.name}.")
    check_currency(currency)
    check_date_range(received_on, "The payment date")
    if method not in METHODS:
        raise ValidationError(f"Unknown payment method {method!r}; choose from {sorted(METHODS)}.")
    amount_d = round_money(to_decimal(amount), currency)
    if to_decimal(amount) != amount_d:
        raise ValidationError(f"{amount} has more decimals than {currency} allows.")
    if amount_d <= 0:
        raise ValidationError("A payment amount must be positive.")
    amount_minor = to_minor(amount_d, currency)
    if external_reference:
        existing = Payment.objects.filter(organization=org, method=method, external_reference=external_reference).first()
        if existing is not None:
            if existing.amount_minor == amount_minor and existing.customer_id == customer.id and existing.currency == currency:
                return existing  # the same payment, reported again
            raise Conflict(
                f"Reference {external_reference!r} was already recorded for a different payment "
                f"({from_minor(existing.amount_minor, existing.currency)} {existing.currency}).",
                code="duplicate_payment_reference",
            )

    explicit: dict[int, Decimal] = {}
    if allocations:
        targets = {
            inv.pk: inv
            for inv in Invoice.objects.filter(organization=org, pk__in=list(allocations)).select_for_update()
        }
        for inv_id, amt in allocations.items():
            inv = targets.get(int(inv_id))
            if inv is None or inv.customer_id != customer.id:
                raise NotFound(f"Invoice {inv_id} is not an invoice of {customer.name}.")
            if inv.currency != currency:
                raise CurrencyMismatch(
                    f"Invoice {inv.number} is in {inv.currency}; a payment in {currency} cannot be applied to it "
                    "(no silent conversion).", invoice=inv.number, expected=inv.currency, got=currency,
                )
            if not inv.is_open:
                raise ValidationError(f"Invoice {inv.number} is {inv.status}; it cannot receive a payment.")
            explicit[inv.pk] = to_decimal(amt)

    open_invoices = list(
        Invoice.objects.select_for_update()
        .filter(organization=org, customer=customer, status__in=Invoice.OPEN_STATUSES)
        .exclude(kind=Invoice.KIND_CREDIT_NOTE)
        .order_by("due_date", "issue_date", "id")
    )
    _lock_customer(customer.id)
    same_currency = [inv for inv in open_invoices if inv.currency == currency]
    if not same_currency and not explicit:
        other = sorted({inv.currency for inv in open_invoices})
        if other or currency != customer.currency:
            raise CurrencyMismatch(
                f"{customer.name} has no open invoice in {currency}"
                + (f" (open invoices are in {', '.join(other)})" if other else f" and is billed in {customer.currency}")
                + "; the payment is refused (no silent conversion).",
                expected=customer.currency, got=currency,
            )
    result = allocate_payment(
        amount_d,
        currency,
        [
            OpenBalance(invoice_id=inv.pk, currency=inv.currency, due_date=inv.due_date, issue_date=inv.issue_date,
                        balance=inv.balance)
            for inv in same_currency
        ],
        explicit=explicit or None,
        allow_credit=customer.credit_allowed,
    )
    payment = Payment.objects.create(
        organization=org, customer=customer, amount_minor=amount_minor, currency=currency, method=method,
        received_on=received_on, external_reference=external_reference, note=note,
    )
    by_id = {inv.pk: inv for inv in same_currency}
    rows = []
    for alloc in result.allocations:
        minor = to_minor(alloc.amount, currency)
        if minor <= 0:
            continue
        rows.append(Allocation(payment=payment, invoice_id=alloc.invoice_id, amount_minor=minor, applied_on=received_on))
        lifecycle.settle(by_id[alloc.invoice_id], minor, received_on)
    Allocation.objects.bulk_create(rows)
    if result.unapplied > 0:
        CreditEntry.objects.create(
            organization=org, customer=customer, currency=currency, amount_minor=to_minor(result.unapplied, currency),
            payment=payment, memo=f"Unapplied part of payment {external_reference or payment.pk}",
            created_on=received_on,
        )
    # Collections (its receiver): queue the thank-you in the outbox and lift a suspension (same transaction).
    payment_recorded.send(sender=Payment, payment=payment)
    return payment


@dataclass(frozen=True)
class InvoicePayment:
    """A payment a provider made for one invoice (autopay's charges): what :func:`record_invoice_payments` records."""

    invoice_id: int
    amount_minor: int
    currency: str
    method: str
    received_on: date
    reference: str
    #: The payment's note (default: "<method> payment <reference>").
    note: str = ""


@transaction.atomic
def record_invoice_payments(org: Organization, items: Sequence[InvoicePayment]) -> list[InvoicePayment]:
    """Record, in bulk, payments that each pay all or part of one open invoice of ``org`` in its currency: what
    :func:`record_payment` does with that invoice as the explicit allocation (same locks, same rows, same
    ``payment_recorded`` signal per payment), in a fixed number of queries plus one update per invoice.

    Idempotent on (method, reference), like :func:`record_payment`. Returns the items it left alone because they
    are not that simple case (the invoice was settled, changed currency or owes less meanwhile, or appears twice):
    the caller records those one by one with :func:`record_payment`, which applies every rule.
    """
    if not items:
        return []
    for item in items:
        check_currency(item.currency)
        check_date_range(item.received_on, "The payment date")
        if item.method not in METHODS or item.amount_minor <= 0 or not item.reference:
            raise ValidationError(f"A provider payment needs a known method, a positive amount and a reference, got "
                                  f"{item.method!r}, {item.amount_minor}, {item.reference!r}.")
    done = set(Payment.objects.filter(organization=org, external_reference__in=[i.reference for i in items])
               .values_list("method", "external_reference"))
    todo = [i for i in items if (i.method, i.reference) not in done]
    invoices = {inv.pk: inv for inv in Invoice.objects.select_for_update().select_related("customer")
                .filter(organization=org, pk__in=sorted({i.invoice_id for i in todo})).order_by("pk")}
    seen: dict[int, int] = {}
    for item in todo:
        seen[item.invoice_id] = seen.get(item.invoice_id, 0) + 1
    simple, rest = [], []
    for item in todo:
        inv = invoices.get(item.invoice_id)
        if (inv is not None and seen[item.invoice_id] == 1 and inv.is_open and inv.kind != Invoice.KIND_CREDIT_NOTE
                and inv.currency == item.currency and item.amount_minor <= inv.balance_minor):
            simple.append((item, inv))
        else:
            rest.append(item)
    if not simple:
        return rest
    customers = sorted({inv.customer_id for _, inv in simple})
    # _lock_customer, reading each status under the lock: a receiver of payment_recorded may lift a suspension,
    # nothing it runs suspends one, so a customer active here stays active to the commit
    status = dict(Customer.objects.select_for_update().filter(pk__in=customers).values_list("pk", "status"))
    # the receivers of payment_recorded (the thank-you) read each customer's contacts: one query for all
    prefetch_related_objects(list({inv.customer_id: inv.customer for _, inv in simple}.values()), "contacts")
    payments = [Payment(organization=org, customer=inv.customer, amount_minor=item.amount_minor,
                        currency=item.currency, method=item.method, received_on=item.received_on,
                        external_reference=item.reference, note=item.note or f"{item.method} payment {item.reference}")
                for item, inv in simple]
    Payment.objects.bulk_create(payments)
    Allocation.objects.bulk_create([
        Allocation(payment=payment, invoice_id=inv.pk, amount_minor=item.amount_minor, applied_on=item.received_on)
        for payment, (item, inv) in zip(payments, simple)])
    with read_scope():  # the receivers' reads of configuration (webhook endpoints): once for the batch
        lifecycle.settle_many([(inv, item.amount_minor, item.received_on) for item, inv in simple])
        for payment in payments:
            payment_recorded.send(sender=Payment, payment=payment, customer_status=status[payment.customer_id])
    return rest


def _credit_sources(customer_id: int, currency: str) -> list[tuple[int | None, int]]:
    """What each source of a customer's credit still holds, oldest first: (payment id or None, minor units).

    A payment's unapplied part is a source of its own (what it still holds is the sum of its entries:
    its unapplied part less what was applied or refunded from it); credit notes and other credit
    form one pool, drawn in the order it was created.
    """
    entries = list(CreditEntry.objects.filter(customer_id=customer_id, currency=currency)
                   .order_by("created_on", "id").values_list("payment_id", "amount_minor"))
    by_payment: dict[int, int] = {}
    for payment_id, amount in entries:
        if payment_id is not None:
            by_payment[payment_id] = by_payment.get(payment_id, 0) + amount
    pool = sum(amount for _, amount in entries) - sum(max(v, 0) for v in by_payment.values())
    sources: list[tuple[int | None, int]] = []
    seen: set[int] = set()
    for payment_id, amount in entries:
        if amount <= 0:
            continue
        if payment_id is not None:
            if payment_id not in seen:
                seen.add(payment_id)
                sources.append((payment_id, max(by_payment[payment_id], 0)))
        elif pool > 0:
            take = min(amount, pool)
            pool -= take
            sources.append((None, take))
    return [(pid, amount) for pid, amount in sources if amount > 0]


@transaction.atomic
def apply_customer_credit(invoice: Invoice, *, on: date) -> int:
    """Apply available customer credit to a freshly issued invoice. Returns the minor units applied.

    The caller holds the invoice row (it is issuing it); the customer row is locked before the
    balance is read, so concurrent issues and refunds cannot spend the same credit twice. The credit
    is drawn oldest source first, and each draw names the payment it came from, so a later refund of
    that payment knows its unapplied part is spent.
    """
    _lock_customer(invoice.customer_id)
    available = credit_balance_minor(invoice.customer, invoice.currency)
    amount = min(available, invoice.balance_minor)
    if amount <= 0:
        return 0
    Allocation.objects.create(invoice=invoice, amount_minor=amount, applied_on=on, from_credit=True)
    draws, left = [], amount
    for payment_id, held in _credit_sources(invoice.customer_id, invoice.currency):
        take = min(held, left)
        draws.append((payment_id, take))
        left -= take
        if not left:
            break
    if left:  # credit the ledger cannot trace to a source (recorded before sources were kept)
        draws.append((None, left))
    CreditEntry.objects.bulk_create([
        CreditEntry(organization=invoice.organization, customer=invoice.customer, currency=invoice.currency,
                    amount_minor=-take, payment_id=payment_id, invoice=invoice,
                    memo=f"Credit applied to {invoice.number}", created_on=on)
        for payment_id, take in draws
    ])
    lifecycle.settle(invoice, amount, on)
    return amount


def apply_credit_note(note: Invoice) -> None:
    """An issued credit note settles the invoice it corrects; what the customer had paid beyond what is still due
    becomes their credit.

    What is still due on the invoice is its total less what its issued credit notes credit, plus its rounding
    amount (BT-114) while it is not credited in full: credited in full, nothing is due and the rounding goes with
    it (never below nothing). What it received is its prepaid amount and what payments and customer credit
    settled. The note settles the part of its value that was still open; the rest, money the customer had paid,
    becomes customer credit, so a credit note never creates credit out of money nobody paid (a negative
    rounding amount included).

    On a written-off invoice the note first reduces the loss written off (the invoice stays written off).
    """
    original = Invoice.objects.select_for_update().get(pk=note.related_invoice_id)
    on = note.issue_date
    credited_before = (Invoice.objects.filter(related_invoice=original, kind=Invoice.KIND_CREDIT_NOTE,
                                              number__isnull=False).exclude(pk=note.pk).exclude(status=Invoice.VOID)
                       .aggregate(s=Sum("total_minor"))["s"] or 0)
    by_notes = (Allocation.objects.filter(invoice=original, credit_note__isnull=False)
                .aggregate(s=Sum("amount_minor"))["s"] or 0)
    given_back = (CreditEntry.objects.filter(invoice__related_invoice=original, amount_minor__gt=0)
                  .aggregate(s=Sum("amount_minor"))["s"] or 0)
    # What the customer paid that still stands against the invoice: its prepaid amount and what payments and
    # customer credit settled, less what earlier credit notes already gave back as credit.
    received = original.prepaid_minor + original.paid_minor - by_notes - given_back

    def due(credited: int) -> int:
        if credited >= original.total_minor:
            return 0
        return max(0, original.total_minor - credited + original.rounding_minor)

    before, after = due(credited_before), due(credited_before + note.total_minor)
    value = before - after
    amount = max(0, before - received) - max(0, after - received)
    if original.status == Invoice.VOID:  # pragma: no cover - issue_invoice refuses a note on a void invoice
        amount = 0
    amount = min(amount, max(original.balance_minor, 0))
    if amount > 0:
        Allocation.objects.create(invoice=original, credit_note=note, amount_minor=amount, applied_on=on)
        lifecycle.settle(original, amount, on, reason=CREDIT)
    rest = value - amount
    if rest > 0:
        _lock_customer(note.customer_id)
        CreditEntry.objects.bulk_create([
            CreditEntry(organization=note.organization, customer=note.customer, currency=note.currency,
                        amount_minor=part, payment_id=payment_id, invoice=note, memo=f"Credit note {note.number}",
                        created_on=on)
            for payment_id, part in _given_back(original, rest)
        ])
    lifecycle.settle_credit_note(note, on)


def _given_back(original: Invoice, amount: int) -> list[tuple[int | None, int]]:
    """The payments the money a credit note gives back as credit came from: (payment id or None, minor units).

    What a payment paid on the invoice (directly, or as customer credit drawn from it), newest first, less what
    earlier credit notes of the invoice already gave back from it; the rest (a deposit deducted, credit of no
    known payment) is credit of its own. Credit traced to a payment is its unapplied part again: a later refund
    of that payment takes it back first, instead of reopening the invoice while the customer keeps the credit.
    """
    paid: dict[int, int] = defaultdict(int)
    for payment_id, part in Allocation.objects.filter(invoice=original, payment__isnull=False).values_list(
            "payment_id", "amount_minor"):
        paid[payment_id] += part
    for payment_id, drawn in CreditEntry.objects.filter(invoice=original, amount_minor__lt=0,
                                                        payment__isnull=False).values_list("payment_id", "amount_minor"):
        paid[payment_id] -= drawn
    back = dict(CreditEntry.objects.filter(invoice__related_invoice=original, amount_minor__gt=0,
                                           payment__isnull=False).order_by().values("payment_id")
                .annotate(s=Sum("amount_minor")).values_list("payment_id", "s"))
    parts, left = [], amount
    for payment_id in sorted(paid, reverse=True):
        take = min(left, paid[payment_id] - back.get(payment_id, 0))
        if take > 0:
            parts.append((payment_id, take))
            left -= take
    if left:
        parts.append((None, left))
    return parts


def payment_unapplied_minor(payment: Payment) -> int:
    """The part of ``payment`` still held as customer credit (what a refund can take without reopening invoices).

    The payment's own credit entries (its unapplied part, less refunds taken from it), but never more
    than the customer's credit balance: credit already applied to later invoices is spent.
    """
    own = CreditEntry.objects.filter(payment=payment).aggregate(s=Sum("amount_minor"))["s"] or 0
    return max(0, min(own, credit_balance_minor(payment.customer, payment.currency)))


@transaction.atomic
def refund_payment(org: Organization, payment_id: int, *, amount: Decimal | str, refunded_on: date, reason: str,
                   external_reference: str = "") -> Refund:
    """Refund (part of) a payment: first from its own unapplied part, then by reopening the invoices it paid.

    Credit from other payments or credit notes is never refunded on this payment's account. The
    parts taken back from invoices are kept (:class:`RefundedAllocation`) so reports as of an
    earlier date still see them paid.

    A refund never reopens a void or written-off invoice: the money went back (it is recorded, and
    the part taken back from such an invoice is added to its loss), but the invoice stays closed with
    its write-off date and reason, so collections never start chasing a debt the business gave up.
    Reopening it is a decision of its own, not a side effect of a refund (see docs/books.md).
    """
    try:
        # FOR NO KEY UPDATE: only refunded_minor changes, and rows that merely reference the payment
        # (a concurrent credit draw naming it) must not wait for this lock while it waits for theirs.
        payment = (Payment.objects.select_for_update(no_key=True, of=("self",)).select_related("customer")
                   .get(organization=org, pk=payment_id))
    except Payment.DoesNotExist:
        raise NotFound(f"Payment {payment_id} not found in {org.name}.") from None
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A refund needs a reason.")
    if len(reason) > Refund._meta.get_field("reason").max_length:
        raise ValueOutOfRange(f"A refund reason has at most {Refund._meta.get_field('reason').max_length} characters.")
    check_date_range(refunded_on, "The refund date")
    if refunded_on < payment.received_on:
        raise ValidationError(f"A refund cannot be dated {refunded_on.isoformat()}, before the payment was received "
                              f"({payment.received_on.isoformat()}).")
    amount_d = to_decimal(amount)
    if round_money(amount_d, payment.currency) != amount_d:
        raise ValidationError(f"{amount} has more decimals than {payment.currency} allows.")
    amount_minor = to_minor(amount_d, payment.currency)
    allocations = list(payment.allocations.order_by("-applied_on", "-id"))
    invoices = {
        inv.pk: inv
        for inv in Invoice.objects.select_for_update().filter(pk__in=[a.invoice_id for a in allocations]).order_by("pk")
    }
    _lock_customer(payment.customer_id)
    unapplied = payment_unapplied_minor(payment)
    refundable = min(payment.amount_minor - payment.refunded_minor,
                     unapplied + sum(a.amount_minor for a in allocations))
    if amount_minor <= 0 or amount_minor > refundable:
        cur = payment.currency
        raise RefundExceedsPayment(
            f"Refund must be more than 0 and at most {from_minor(refundable, cur)} {cur}: the payment's unapplied "
            f"part ({from_minor(unapplied, cur)} {cur}) plus what it paid on invoices.",
            refundable=str(from_minor(refundable, cur)),
        )
    remaining = amount_minor
    credit = min(unapplied, remaining)
    if credit > 0:
        CreditEntry.objects.create(
            organization=org, customer=payment.customer, currency=payment.currency, amount_minor=-credit,
            payment=payment, memo=f"Refund: {reason}"[:200], created_on=refunded_on,
        )
        remaining -= credit
    refund = Refund.objects.create(payment=payment, amount_minor=amount_minor, refunded_on=refunded_on,
                                   reason=reason, external_reference=external_reference)
    reopened = []
    for alloc in allocations:
        if remaining <= 0:
            break
        take = min(alloc.amount_minor, remaining)
        if take == alloc.amount_minor:
            alloc.delete()
        else:
            alloc.amount_minor -= take
            alloc.save(update_fields=["amount_minor"])
        reopened.append(RefundedAllocation(refund=refund, invoice_id=alloc.invoice_id, amount_minor=take,
                                           allocated_on=alloc.applied_on))
        lifecycle.unsettle(invoices[alloc.invoice_id], take, refunded_on)
        remaining -= take
    RefundedAllocation.objects.bulk_create(reopened)
    payment.refunded_minor += amount_minor
    payment.save(update_fields=["refunded_minor"])
    return refund
