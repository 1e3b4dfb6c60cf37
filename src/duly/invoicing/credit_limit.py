"""The credit limit at issue (issue 17): a customer's open balance may not go over the credit limit staff accepted
on its red-flag check (:func:`duly.customers.services.set_credit_limit`).

What Duly does, and why: a standard invoice whose amount due would take the customer's open balance (its open
invoices in the limit's currency) over the limit is **refused** with the stable code ``credit_limit_exceeded`` and
a message saying the balance, the limit and how to go on; nothing is numbered. An owner or admin (permission
``manage_organization``) may issue it anyway with a note: the override is kept (:class:`CreditLimitOverride`: who,
when, why, the balance and the limit). This is the "credit hold" of ERP credit management: the limit protects
against new exposure, and going over it is a manager's decision on the record, never a silent one.

Not checked: credit notes (they lower the balance), late-fee invoices (a consequence of paying late, not new
credit), deposits and invoices in another currency than the limit's, and customers without a limit. Every path
through :func:`duly.invoicing.services.issue_invoice` is checked (back office, API, CLI, a subscription's first
invoice); the scheduled billing run's bulk path (:mod:`duly.invoicing.bulk`) is not: recurring charges for a
service already delivered are billed, and the balance then stops the next one-off invoice.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, Sum

from duly.customers import roles
from duly.customers.models import Organization
from duly.domain.errors import CreditLimitExceeded
from duly.domain.money import from_minor

from .models import PAYABLE_MINOR, CreditLimitOverride, Invoice

CHECKED_KINDS = (Invoice.KIND_STANDARD,)


def check_credit_limit(org: Organization, invoice: Invoice, *, payable_minor: int, by=None, note: str = "",
                       now: datetime | None = None) -> CreditLimitOverride | None:
    """Refuse ``invoice`` (``payable_minor`` due on it) over its customer's credit limit, or, with an owner's or
    admin's ``by`` and ``note``, return the override to keep once it is issued (unsaved)."""
    customer = invoice.customer
    limit, currency = customer.credit_limit_minor, customer.credit_limit_currency
    if limit is None or invoice.kind not in CHECKED_KINDS or invoice.currency != currency:
        return None
    open_minor = (Invoice.objects.filter(organization=org, customer=customer, currency=currency,
                                         status__in=Invoice.OPEN_STATUSES).exclude(pk=invoice.pk)
                  .aggregate(s=Sum(PAYABLE_MINOR - F("paid_minor")))["s"] or 0)
    balance = open_minor + payable_minor
    if balance <= limit:
        return None
    words = dict(customer=customer.name, balance=f"{from_minor(balance, currency)} {currency}",
                 limit=f"{from_minor(limit, currency)} {currency}")
    if by is None:
        raise CreditLimitExceeded(
            f"Issuing this invoice would take {words['customer']}'s open balance to {words['balance']}, over its "
            f"credit limit of {words['limit']}. Ask for a payment first, or an owner or admin can issue it anyway "
            "with a note.", **words)
    if not roles.has_permission(by, org.pk, "manage_organization"):
        raise CreditLimitExceeded(
            f"Only an owner or admin can issue an invoice over {words['customer']}'s credit limit of "
            f"{words['limit']}.", code="credit_limit_override_forbidden", **words)
    if not (note or "").strip():
        raise CreditLimitExceeded("Say why the invoice is issued over the credit limit (a note is required).",
                                  code="credit_limit_note_missing", **words)
    return CreditLimitOverride(organization=org, invoice=invoice, decided_by=by, decided_at=now, note=note.strip(),
                               currency=currency, limit_minor=limit, balance_minor=balance)
