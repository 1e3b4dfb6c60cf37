"""When autopay could not take a payment (payments' ``charge_failed`` signal): tell the customer, once.

- a hard decline the customer can fix (stolen or lost card, closed account, revoked mandate): one personal message
  asking for a new method, with the personal pay link, in the customer's language; never retried;
- 3-D Secure (the bank asks the customer to confirm an off-session payment): one message with the link to confirm;
  the attempt stays pending until the provider's webhook says how it ended.

Each is queued once per attempt (the outbox's idempotency key ``autopay-<action>:<attempt id>``), inside the
transaction that recorded the attempt. Soft declines say nothing now: reminders wait while a retry is scheduled and
the next reminder after the last failure explains the decline (``collections.snapshots`` / ``messages``).
"""

from __future__ import annotations

from django.db import transaction

from duly.domain.errors import DomainError
from duly.messaging.services import queue_message, renderer_for

from .. import messages as msgs
from .common import _language, customer_window, log

#: The actions of ``charge_failed`` that send the customer a message now.
TOLD = ("new_method", "authenticate")


def charge_failed(attempt, action: str, decline=None) -> None:
    """Queue the message an autopay failure calls for (see the module docstring); a problem here is logged and
    never stops the attempt from being recorded."""
    if action not in TOLD:
        return
    try:
        with transaction.atomic():
            _tell(attempt, action)
    except DomainError:
        log.exception("autopay message for attempt %s failed", attempt.pk)


def _tell(attempt, action: str) -> None:
    invoice = attempt.invoice
    org, customer = invoice.organization, invoice.customer
    addressee = msgs.pick_contact(msgs.contact_rows(customer), respect_opt_out=False)
    if addressee is None:
        log.info("no autopay message for attempt %s: no contact of %s has an e-mail address", attempt.pk, customer)
        return
    now = attempt.finished_at or attempt.created_at
    rail = "sepa" if attempt.method.kind == "sepa_debit" else "card"
    rendered = msgs.SingleMessages(org, renderer_for(org)).payment_failed(
        attempt, addressee, kind=action, rail=rail, code=attempt.decline_code, today=attempt.attempted_on)
    queue_message(
        org, customer=customer, contact=addressee.contact.id if addressee.contact else None, category="payment",
        template="payment_failed", language=_language(customer, addressee), rendered=rendered,
        to_email=addressee.email, to_name=addressee.name, idempotency_key=f"autopay-{action}:{attempt.pk}", now=now,
        invoice_ids=[invoice.pk], fallback_note=addressee.fallback_note, window=customer_window(org, customer),
    )
