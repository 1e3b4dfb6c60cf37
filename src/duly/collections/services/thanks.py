"""After a payment: the personalised thank-you, and lifting a suspension once nothing is overdue.

:func:`payment_recorded` is called at the end of ``payments.services.record_payment``, inside its
transaction (the payments app may call it through a signal: keep its name and signature).
:func:`match_undone` is called when a bank match is undone (payments' ``match_undone`` signal): the thank-you of
a payment taken back, or the request for a new mandate of a SEPA return taken back, is recalled if it has not
gone out yet.
"""

from __future__ import annotations

from django.db import transaction

from duly.customers.models import Customer
from duly.domain.errors import DomainError
from duly.messaging import attachments
from duly.messaging.services import queue_message, recall_queued, renderer_for

from .. import messages as msgs
from .common import _language, _local_date, credit_balance_minor_of, customer_window, log
from .suspension import payments_taken_back, restore_if_cleared


def payment_recorded(payment, *, customer_status: str | None = None) -> None:
    """Hook at the end of ``record_payment``, inside its transaction (a savepoint of its own).

    Queues the personalised thank-you in the outbox (delivered by the outbox worker after the
    payment commits) and lifts a suspension when nothing is overdue any more. A problem here is
    logged and never stops the payment from being recorded. ``customer_status``: the customer's
    status as the payments service read it under the customer's lock in this transaction (bulk
    path): an active customer has no suspension to lift, and is not read again.
    """
    try:
        with transaction.atomic():
            _thank(payment)
            if customer_status == Customer.STATUS_ACTIVE:
                return
            restore_if_cleared(payment.organization, payment.customer_id, on=payment.received_on,
                               cause=f"the payment of {payment.received_on.isoformat()}", now=payment.created_at,
                               payment_id=payment.pk)
    except DomainError:
        log.exception("collections follow-up of payment %s failed", payment.pk)


def _thank(payment) -> None:
    org, customer = payment.organization, payment.customer
    addressee = msgs.pick_contact(msgs.contact_rows(customer), respect_opt_out=False)
    if addressee is None:
        log.info("no thank-you for payment %s: no contact of %s has an e-mail address", payment.pk, customer)
        return
    now = payment.created_at  # when the payment was recorded (a bank import at 03:00 is thanked at 09:00)
    single = msgs.SingleMessages(org, renderer_for(org))
    rendered = single.thank_you(payment, addressee, credit_balance_minor_of(customer.pk, payment.currency),
                                payment.received_on)
    queue_message(
        org, customer=customer, contact=addressee.contact.id if addressee.contact else None, category="payment",
        template="thank_you", language=_language(customer, addressee), rendered=rendered, to_email=addressee.email,
        to_name=addressee.name, idempotency_key=thank_you_key(payment.pk), now=now,
        attachments=attachments.receipt_refs(payment.pk),
        invoice_ids=list(payment.allocations.values_list("invoice_id", flat=True)),
        fallback_note=addressee.fallback_note, window=customer_window(org, customer),
    )


def thank_you_key(payment_id: int) -> str:
    """The outbox key of a payment's thank-you (with its receipt): one per payment."""
    return f"thank-you:{payment_id}"


def match_undone(org, *, payment_ids, debit_return_ids, reason: str, now, as_of=None, payments=()) -> list[int]:
    """A bank match was undone (inside its transaction): recall what it made collections queue that has not gone
    out yet: the thank-you of each payment taken back, the request for a new mandate of each SEPA return taken
    back (``autopay.debit_failed``'s key); put back the suspension or termination a payment taken back had lifted
    (:func:`.suspension.payments_taken_back`, as of ``as_of``, the undo's date; ``payments``: what the payments
    taken back were, as payments' ``match_undone`` signal describes them). Returns the messages cancelled."""
    keys = [thank_you_key(pk) for pk in payment_ids] + [f"sepa-new_method:{pk}" for pk in debit_return_ids]
    recalled = recall_queued(org, keys, reason=f"not sent: the bank match it followed was undone ({reason})"[:500],
                             now=now)
    if payments:
        payments_taken_back(org, {p["id"]: p["customer_id"] for p in payments},
                            on=as_of or _local_date(now, org.timezone or "UTC"), now=now,
                            cause=f"the payment that lifted it was taken back (bank match undone: {reason})")
    return recalled
