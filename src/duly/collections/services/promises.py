"""Promises to pay: recorded against open invoices (their reminders pause until the promised date), and judged.

Whether a promise was kept, is running or was broken is :func:`duly.domain.dunning.promise_outcome`
on what was paid since it was made.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Sequence

from django.db import transaction

from duly.customers.models import Customer, Organization
from duly.domain import dunning
from duly.domain.bounds import check_date_range
from duly.domain.errors import NotFound, ValidationError
from duly.domain.money import check_amount, check_currency, from_minor, to_minor
from duly.invoicing.models import Invoice

from .. import snapshots
from ..models import PromiseToPay
from .common import _aware, _local_date


@transaction.atomic
def record_promise(org: Organization, customer: Customer, *, promised_date: date, amount: Decimal | str,
                   now: datetime, currency: str | None = None, invoice_ids: Sequence[int] | None = None,
                   note: str = "") -> PromiseToPay:
    """Record a promise to pay ``amount`` by ``promised_date``; reminders for its invoices pause until then.

    Without ``invoice_ids`` the promise covers every open invoice of the customer in that currency
    that is overdue (or all open ones when none is overdue yet).
    """
    if customer.organization_id != org.id:
        raise NotFound(f"Customer {customer.pk} not found in {org.name}.")
    currency = currency or customer.currency
    check_currency(currency)
    check_date_range(promised_date, "The promised date")
    value = check_amount(amount, currency, "The promised amount")
    if value <= 0:
        raise ValidationError("A promised amount must be positive.")
    today = _local_date(_aware(now), customer.timezone)  # the customer's date, not UTC's
    if promised_date < today:
        raise ValidationError(f"The promised date {promised_date.isoformat()} is in the past.")
    open_qs = Invoice.objects.filter(organization=org, customer=customer, status__in=Invoice.OPEN_STATUSES,
                                     kind__in=snapshots.CHASED_KINDS, currency=currency)
    if invoice_ids:
        invoices = list(open_qs.filter(pk__in=list(invoice_ids)))
        missing = set(invoice_ids) - {i.pk for i in invoices}
        if missing:
            raise NotFound(f"Invoice(s) {sorted(missing)} are not open invoices of {customer.name} in {currency}.")
    else:
        invoices = list(open_qs.filter(due_date__lt=today)) or list(open_qs)
    if not invoices:
        raise ValidationError(f"{customer.name} has no open invoice in {currency} to promise a payment for.")
    promise = PromiseToPay.objects.create(organization=org, customer=customer, promised_date=promised_date,
                                          amount_minor=to_minor(value, currency), currency=currency,
                                          created_at=now, note=note)
    promise.invoices.set(invoices)
    return promise


def promise_state(promise: PromiseToPay, today: date) -> str:
    """``kept`` (the promised amount paid by the date), ``running`` (date not passed) or ``broken``:
    :func:`duly.domain.dunning.promise_outcome` on what was paid since the promise was made."""
    return promise_states([promise], lambda _: today)[promise.pk]


def promise_states(promises: Sequence[PromiseToPay], today_of) -> dict[int, str]:
    """:func:`promise_state` of many promises at once (two queries in all); ``today_of(promise)`` is the
    day each is judged on (the customer's local date)."""
    made = {p.pk: _local_date(p.created_at, p.customer.timezone) for p in promises}
    paid = snapshots.paid_towards_promises([(p.pk, made[p.pk], p.promised_date) for p in promises])
    return {
        p.pk: dunning.promise_outcome(
            dunning.Promise((), p.promised_date, from_minor(p.amount_minor, p.currency), p.created_at),
            from_minor(paid.get(p.pk, 0), p.currency), today_of(p))
        for p in promises
    }
