"""What the collections services share: times and local dates, sending windows, the customer's
collections profile, staff tasks, credit balances and the documents attached to messages."""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from django.db.models import Sum

from duly.customers.models import Customer, Organization
from duly.domain.errors import ValidationError
from duly.messaging import attachments
from duly.messaging.addressees import Addressee, language_of
from duly.messaging.services import SendWindow
from duly.payments.models import CreditEntry

from .. import snapshots
from ..models import CollectionsSettings, CustomerProfile, Task

log = logging.getLogger("duly.collections")


def _aware(as_of: datetime) -> datetime:
    if not isinstance(as_of, datetime) or as_of.utcoffset() is None:
        raise ValidationError(f"as_of must be a date-time with a time zone, got {as_of!r}.")
    return as_of


def _local_date(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone or "UTC")).date()


def _settings_of(org: Organization) -> tuple[time, time]:
    """The organization's sending window (the default 09:00-17:00 before it has settings)."""
    row = CollectionsSettings.objects.filter(organization=org).values_list(
        "send_window_start", "send_window_end").first()
    return row or (time(9), time(17))


def account_window(account: snapshots.Account) -> SendWindow:
    """The sending window of a gathered customer: the one the dunning evaluation used."""
    snap = account.snapshot
    return SendWindow(snap.timezone, snap.send_window[0], snap.send_window[1], snap.country)


def customer_window(org: Organization, customer: Customer, conf: tuple[time, time] | None = None) -> SendWindow:
    """The sending window of one customer: the organization's hours in the customer's time zone, on
    the business days of the customer's country."""
    start, end = conf or _settings_of(org)
    return SendWindow(customer.timezone or "UTC", start, end,
                      snapshots.holiday_country(customer.country, customer.subdivision))


def _language(customer, addressee: Addressee) -> str:
    return language_of(customer, addressee)


def _profile(org, customer_id: int) -> CustomerProfile:
    profile, _ = CustomerProfile.objects.get_or_create(organization=org, customer_id=customer_id)
    return profile


def _task(org, customer_id: int, kind: str, key: str, reminder, contact, message, now: datetime,
          description: str) -> Task:
    """The staff task with this key (created once: a rerun finds it)."""
    task, _ = Task.objects.get_or_create(
        organization=org, key=key,
        defaults=dict(customer_id=customer_id, kind=kind, reminder=reminder,
                      contact_id=contact.id if contact is not None else None, message=message,
                      description=description, due_at=now),
    )
    return task


def credit_balance_minor_of(customer_id: int, currency: str) -> int:
    return int(CreditEntry.objects.filter(customer_id=customer_id, currency=currency)
               .aggregate(s=Sum("amount_minor"))["s"] or 0)


def _invoice_attachments(invoice_ids: Sequence[int], known: dict[int, list[dict[str, Any]]] | None = None
                         ) -> list[dict[str, Any]]:
    return attachments.invoice_refs(invoice_ids, known)
