"""Recording payments, allocating them to invoices, customer credit and refunds.

A payment is allocated to one or several invoices (explicitly, else oldest due first). What is left
becomes customer credit (if the customer's credit policy allows it), applied to the next invoice.
A payment in another currency than the invoice is refused: there is no silent conversion.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Mapping

from django.db import transaction
from django.db.models import Sum

from duly.customers.models import Customer, Organization
from duly.domain.allocation import OpenBalance, allocate_payment
from duly.domain.errors import Conflict, CurrencyMismatch, NotFound, ValidationError
from duly.domain.money import check_currency, from_minor, round_money, to_decimal, to_minor
from duly.invoicing.models import Invoice

from .models import METHOD_CHOICES, Allocation, CreditEntry, Payment, Refund

METHODS = {code for code, _ in METHOD_CHOICES} - {"credit"}


def _settle(invoice: Invoice, amount_minor: int, on: date) -> None:
    """Add a settled amount to an invoice and move its status along the life cycle."""
    invoice.paid_minor += amount_minor
    if invoice.paid_minor >= invoice.payable_minor:
        invoice.status = Invoice.PAID
        invoice.paid_on = on
    elif invoice.paid_minor > 0:
        invoice.status = Invoice.PARTIALLY_PAID
        invoice.paid_on = None
    else:
        invoice.status = Invoice.ISSUED
        invoice.paid_on = None
    invoice.save(update_fields=["paid_minor", "status", "paid_on"])


def credit_balance_minor(customer: Customer, currency: str) -> int:
    return CreditEntry.objects.filter(customer=customer, currency=currency).aggregate(s=Sum("amount_minor"))["s"] or 0


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
        _settle(by_id[alloc.invoice_id], minor, received_on)
    Allocation.objects.bulk_create(rows)
    if result.unapplied > 0:
        CreditEntry.objects.create(
            organization=org, customer=customer, currency=currency, amount_minor=to_minor(result.unapplied, currency),
            payment=payment, memo=f"Unapplied part of payment {external_reference or payment.pk}",
            created_on=received_on,
        )
    # Collections: queue the thank-you in the outbox and lift a suspension (same transaction).
    from duly.collections.services import payment_recorded

    payment_recorded(payment)
    return payment


def apply_customer_credit(invoice: Invoice, *, on: date) -> int:
    """Apply available customer credit to a freshly issued invoice. Returns the minor units applied."""
    available = credit_balance_minor(invoice.customer, invoice.currency)
    amount = min(available, invoice.balance_minor)
    if amount <= 0:
        return 0
    Allocation.objects.create(invoice=invoice, amount_minor=amount, applied_on=on, from_credit=True)
    CreditEntry.objects.create(
        organization=invoice.organization, customer=invoice.customer, currency=invoice.currency,
        amount_minor=-amount, invoice=invoice, memo=f"Credit applied to {invoice.number}", created_on=on,
    )
    _settle(invoice, amount, on)
    return amount


def apply_credit_note(note: Invoice) -> None:
    """An issued credit note settles the invoice it corrects; any excess becomes customer credit."""
    original = Invoice.objects.select_for_update().get(pk=note.related_invoice_id)
    on = note.issue_date
    amount = min(note.total_minor, max(original.balance_minor, 0)) if original.is_open else 0
    if amount > 0:
        Allocation.objects.create(invoice=original, credit_note=note, amount_minor=amount, applied_on=on)
        _settle(original, amount, on)
    rest = note.total_minor - amount
    if rest > 0:
        CreditEntry.objects.create(
            organization=note.organization, customer=note.customer, currency=note.currency, amount_minor=rest,
            invoice=note, memo=f"Credit note {note.number}", created_on=on,
        )
    note.paid_minor = note.total_minor
    note.status = Invoice.PAID
    note.paid_on = on
    note.save(update_fields=["paid_minor", "status", "paid_on"])


@transaction.atomic
def refund_payment(org: Organization, payment_id: int, *, amount: Decimal | str, refunded_on: date, reason: str,
                   external_reference: str = "") -> Refund:
    """Refund (part of) a payment: first from its unapplied credit, then by reopening invoices it paid."""
    try:
        payment = Payment.objects.select_for_update().get(organization=org, pk=payment_id)
    except Payment.DoesNotExist:
        raise NotFound(f"Payment {payment_id} not found in {org.name}.") from None
    if not reason:
        raise ValidationError("A refund needs a reason.")
    amount_minor = to_minor(round_money(to_decimal(amount), payment.currency), payment.currency)
    refundable = payment.amount_minor - payment.refunded_minor
    if amount_minor <= 0 or amount_minor > refundable:
        raise ValidationError(
            f"Refund must be between 0 and {from_minor(refundable, payment.currency)} {payment.currency}."
        )
    remaining = amount_minor
    credit = min(credit_balance_minor(payment.customer, payment.currency), remaining)
    if credit > 0:
        CreditEntry.objects.create(
            organization=org, customer=payment.customer, currency=payment.currency, amount_minor=-credit,
            payment=payment, memo=f"Refund: {reason}", created_on=refunded_on,
        )
        remaining -= credit
    for alloc in payment.allocations.select_related("invoice").order_by("-applied_on", "-id"):
        if remaining <= 0:
            break
        take = min(alloc.amount_minor, remaining)
        invoice = Invoice.objects.select_for_update().get(pk=alloc.invoice_id)
        if take == alloc.amount_minor:
            alloc.delete()
        else:
            alloc.amount_minor -= take
            alloc.save(update_fields=["amount_minor"])
        _settle(invoice, -take, refunded_on)
        remaining -= take
    payment.refunded_minor += amount_minor
    payment.save(update_fields=["refunded_minor"])
    return Refund.objects.create(payment=payment, amount_minor=amount_minor, refunded_on=refunded_on, reason=reason,
                                 external_reference=external_reference)
