"""Issued invoices e-mailed by the collections run: messaging sends them, collections keeps the record.

The e-mail itself (recipient, language, content, attachments, one e-mail per customer and run) is
:mod:`duly.messaging.invoice_mail`. What it needs from collections comes from here: the record of
what was sent (:class:`~duly.collections.models.InvoiceDispatch`, unique per invoice; the run's
figures read it to carry new invoices with a reminder), the switch
(``CollectionsSettings.email_invoices``) and the organization's sending hours. Invoice e-mails are
queued in category ``invoice``: they count in the customer's contact budget, and never wait for it.
"""

from __future__ import annotations

from datetime import datetime, time

from duly.customers.models import Customer, Organization
from duly.invoicing.models import Invoice
from duly.messaging import invoice_mail
from duly.messaging.invoice_mail import INVOICE_DISPATCH_CHUNK
from duly.messaging.services import SendWindow

from ..models import CollectionsSettings, InvoiceDispatch
from .common import _settings_of, customer_window


class DispatchRecords:
    """:class:`duly.messaging.invoice_mail.DispatchRecords` for one organization, kept in ``InvoiceDispatch``."""

    def __init__(self, org: Organization) -> None:
        self.org = org
        self._hours: tuple[time, time] | None = None

    def pending_ids(self, now: datetime) -> list[int]:
        return list(Invoice.objects.filter(organization=self.org, dispatch__isnull=True, issued_at__lte=now)
                    .exclude(status=Invoice.DRAFT).values_list("pk", flat=True).order_by("pk"))

    def enabled(self) -> bool:
        settings_row = CollectionsSettings.objects.filter(organization=self.org).first()
        self._hours = _settings_of(self.org)
        return settings_row.email_invoices if settings_row is not None else True

    def window(self, customer: Customer) -> SendWindow:
        if self._hours is None:
            self._hours = _settings_of(self.org)
        return customer_window(self.org, customer, self._hours)

    def record_not_sent(self, invoice: Invoice, note: str, now: datetime) -> None:
        InvoiceDispatch.objects.get_or_create(invoice=invoice, defaults=dict(
            organization=self.org, note=note, created_at=now))

    def record_sent(self, invoice: Invoice, message, note: str, now: datetime) -> None:
        InvoiceDispatch.objects.create(organization=self.org, invoice=invoice, message=message,
                                       note=note, created_at=now)


def send_issued_invoices(org: Organization, *, now: datetime, dry_run: bool = False,
                         chunk_size: int = INVOICE_DISPATCH_CHUNK) -> list[str]:
    """E-mail every invoice and credit note issued by ``now`` that has not been sent yet, once each
    (:func:`duly.messaging.invoice_mail.send_issued_invoices`, recorded in ``InvoiceDispatch``).

    With invoice e-mails turned off (``CollectionsSettings.email_invoices``) invoices are recorded as
    not e-mailed, so turning them on later does not send old invoices. A new invoice that a reminder
    of the run carried is already recorded with it. Returns one line per invoice.
    """
    return invoice_mail.send_issued_invoices(org, DispatchRecords(org), now=now, dry_run=dry_run,
                                             chunk_size=chunk_size)
