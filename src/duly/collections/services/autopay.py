"""When autopay could not take a payment (payments' ``charge_failed`` signal): tell the customer, once.

- a hard decline the customer can fix (stolen or lost card, closed account, revoked mandate): one personal message
  asking for a new method, with the personal pay link, in the customer's language; never retried;
- 3-D Secure (the bank asks the customer to confirm an off-session payment): one message with the link to confirm;
  the attempt stays pending until the provider's webhook says how it ended.

Each is queued once per attempt (the outbox's idempotency key ``autopay-<action>:<attempt id>``), inside the
transaction that recorded the attempt. Soft declines say nothing now: reminders wait while a retry is scheduled and
the next reminder after the last failure explains the decline (``collections.snapshots`` / ``messages``).

SEPA direct debits from the organization's own bank (payments' ``debit_failed`` signal) are told the same way: a
hard return the customer must fix (MD01, AC04, AC06...: decision ``new_method``) queues one message asking for a
new mandate or card with the pay link, once per return (``sepa-new_method:<return id>``); a re-presentation (AM04,
MS03) says nothing and holds reminders back (``payments.return_services.debit_holds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction

from duly.domain.errors import DomainError
from duly.messaging.services import queue_message, renderer_for

from .. import messages as msgs
from .common import _language, customer_window, log

#: The actions of ``charge_failed`` that send the customer a message now.
TOLD = ("new_method", "authenticate")


@dataclass(frozen=True)
class _Collection:
    """What the payment-failed message says of a returned direct debit (as of an autopay attempt)."""

    invoice: object
    amount_minor: int
    currency: str
    attempted_on: date
    provider_ref: str


def debit_failed(debit, debit_return, decision) -> None:
    """Ask the customer for a new method when a SEPA debit came back for good on their side (``new_method``); a
    problem here is logged and never stops the return from being recorded."""
    action = getattr(decision.action, "value", decision.action)
    if action != "new_method":
        return
    try:
        with transaction.atomic():
            invoice = debit.invoice
            collection = _Collection(invoice, debit.amount_minor, debit.currency, debit.collection_date,
                                     debit.end_to_end_id)
            _send(collection, "new_method", rail="sepa", code=debit_return.reason_code,
                  key=f"sepa-new_method:{debit_return.pk}", now=debit_return.created_at,
                  label=f"return {debit_return.pk}")
    except DomainError:
        log.exception("direct debit return message for return %s failed", debit_return.pk)


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
    rail = "sepa" if attempt.method.kind == "sepa_debit" else "card"
    _send(attempt, action, rail=rail, code=attempt.decline_code, key=f"autopay-{action}:{attempt.pk}",
          now=attempt.finished_at or attempt.created_at, label=f"attempt {attempt.pk}")


def _send(attempt, action: str, *, rail: str, code: str, key: str, now, label: str) -> None:
    invoice = attempt.invoice
    org, customer = invoice.organization, invoice.customer
    addressee = msgs.pick_contact(msgs.contact_rows(customer), respect_opt_out=False)
    if addressee is None:
        log.info("no payment-failed message for %s: no contact of %s has an e-mail address", label, customer)
        return
    rendered = msgs.SingleMessages(org, renderer_for(org)).payment_failed(
        attempt, addressee, kind=action, rail=rail, code=code, today=attempt.attempted_on)
    queue_message(
        org, customer=customer, contact=addressee.contact.id if addressee.contact else None, category="payment",
        template="payment_failed", language=_language(customer, addressee), rendered=rendered,
        to_email=addressee.email, to_name=addressee.name, idempotency_key=key, now=now,
        invoice_ids=[invoice.pk], fallback_note=addressee.fallback_note, window=customer_window(org, customer),
    )
