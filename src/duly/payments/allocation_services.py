"""Allocating what a payment left unapplied (held as customer credit) to invoices the caller names.

The draws are the ones :func:`duly.payments.services.apply_customer_credit` makes: an allocation from credit on
each invoice, and a negative credit entry naming the payment it came from, so a later refund of that payment
knows this part is spent. All or nothing: one bad target refuses the whole allocation.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Mapping

from django.db import transaction

from duly.customers.models import Organization
from duly.domain.bounds import check_date_range
from duly.domain.errors import CurrencyMismatch, NotFound, ValidationError
from duly.domain.money import check_amount, to_minor
from duly.invoicing import lifecycle
from duly.invoicing.models import Invoice

from .models import Allocation, CreditEntry, Payment
from .services import _lock_customer, payment_unapplied_minor


@transaction.atomic
def allocate_unapplied(org: Organization, payment_id: int, allocations: Mapping[int, Decimal | str], *,
                       on: date) -> list[Allocation]:
    """Apply ``{invoice id: amount}`` of payment ``payment_id``'s unapplied part to those open invoices of its
    customer, in the payment's currency; refused (nothing written) beyond what the payment still holds or an
    invoice still owes."""
    payment = Payment.objects.select_related("customer").filter(organization=org, pk=payment_id).first()
    if payment is None:
        raise NotFound(f"Payment {payment_id} not found in {org.name}.", id=payment_id)
    if not allocations:
        raise ValidationError("Name at least one invoice to allocate to.")
    check_date_range(on, "The allocation date")
    _lock_customer(payment.customer_id)
    currency = payment.currency
    invoices = {inv.pk: inv for inv in Invoice.objects.select_for_update().filter(
        organization=org, pk__in=[int(i) for i in allocations])}
    planned: list[tuple[Invoice, int]] = []
    for invoice_id, amount in allocations.items():
        inv = invoices.get(int(invoice_id))
        if inv is None or inv.customer_id != payment.customer_id:
            raise NotFound(f"Invoice {invoice_id} is not an invoice of {payment.customer.name}.",
                           invoice_id=invoice_id)
        if inv.currency != currency:
            raise CurrencyMismatch(f"Invoice {inv.number} is in {inv.currency}, the payment in {currency}.",
                                   invoice=inv.number, expected=inv.currency, got=currency)
        if not inv.is_open or inv.kind == Invoice.KIND_CREDIT_NOTE:
            raise ValidationError(f"Invoice {inv.number or inv.pk} is {inv.status}; it cannot receive a payment.",
                                  code="invoice_not_open")
        minor = to_minor(check_amount(amount, currency, "An allocated amount"), currency)
        if minor <= 0:
            raise ValidationError("An allocated amount must be positive.")
        if minor > inv.balance_minor:
            raise ValidationError(f"Invoice {inv.number} owes less than that.", code="allocation_exceeds_balance",
                                  invoice=inv.number)
        planned.append((inv, minor))
    held = payment_unapplied_minor(payment)
    if sum(minor for _, minor in planned) > held:
        raise ValidationError("The payment does not hold that much unapplied.", code="allocation_exceeds_unapplied",
                              unapplied_minor=held)
    rows = []
    for inv, minor in planned:
        rows.append(Allocation.objects.create(invoice=inv, amount_minor=minor, applied_on=on, from_credit=True))
        CreditEntry.objects.create(organization=org, customer=payment.customer, currency=currency,
                                   amount_minor=-minor, payment=payment, invoice=inv,
                                   memo=f"Payment {payment.external_reference or payment.pk} applied to "
                                        f"{inv.number}", created_on=on)
        lifecycle.settle(inv, minor, on)
    return rows
