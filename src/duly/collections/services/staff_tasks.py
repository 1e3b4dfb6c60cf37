"""Staff tasks: a reminder that bounced or could not be delivered becomes a phone call, and tasks are completed.

The tasks themselves are created where the work arises (:func:`.common._task`: phone and letter
steps, hand-overs, reinstatements, final statements nobody can receive by e-mail) and listed on the
worklist (:mod:`duly.collections.worklist`).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from duly.customers.models import Organization
from duly.domain.errors import NotFound
from duly.domain.money import from_minor
from duly.messaging.models import Message

from .. import messages as msgs
from ..models import Reminder, Task
from .common import _task


def message_undeliverable(sender=None, *, message, **kwargs) -> Task | None:
    """Receiver of :data:`duly.messaging.signals.message_undeliverable`: a reminder (or termination
    message) that bounced or failed becomes a phone task for staff, once per message
    (``bounce:<Message-ID>``), shown on the worklist. Other messages (thank-yous...) need no call."""
    if message.category not in ("dunning", "termination"):
        return None
    org = message.organization
    rows = msgs.contact_rows(message.customer)
    callee = next((c for c in rows if c.id == message.contact_id and c.phone), None) or next(
        (c for c in rows if c.phone and not c.opted_out), None)
    who = (f"{callee.name} ({callee.phone})" if callee is not None
           else f"{message.customer.name} (no phone number on file)")
    what = "bounced" if message.status == Message.BOUNCED else "could not be delivered"
    why = message.bounce_reason or message.last_error
    when = message.bounced_at or message.claimed_at or message.created_at
    reminder = Reminder.objects.filter(organization=org, message=message).first()
    with transaction.atomic():
        return _task(org, message.customer_id, "phone", f"bounce:{message.message_id}"[:255], reminder, callee,
                     message, when, f"Phone {who}: the e-mail \"{message.subject}\" to {message.to_email} {what}"
                                    f" ({why}). Check the address and tell them what is overdue.")


def payment_disputed(sender=None, *, payment, refund, dispute_ref, reason="", **kwargs) -> Task:
    """Receiver of :data:`duly.payments.signals.payment_disputed`: a chargeback opens a task for staff to answer it
    with the provider, once per dispute (``chargeback:<dispute id>``)."""
    from django.utils import timezone

    amount = f"{from_minor(refund.amount_minor, payment.currency)} {payment.currency}" if refund else "nothing left"
    invoices = ", ".join(sorted({r.invoice.number or str(r.invoice_id) for r in refund.reopened.select_related(
        "invoice")})) if refund else ""
    with transaction.atomic():
        return _task(payment.organization, payment.customer_id, "chargeback", f"chargeback:{dispute_ref}"[:255], None,
                     None, None, timezone.now(),
                     f"Answer chargeback {dispute_ref} ({reason or 'no reason given'}) on payment {payment.pk} of "
                     f"{from_minor(payment.amount_minor, payment.currency)} {payment.currency}: {amount} reversed"
                     + (f", invoices {invoices} reopened" if invoices else "") + ". Send the evidence to the provider.")


def payment_dispute_closed(sender=None, *, payment, dispute_ref, outcome, reinstated=None, **kwargs) -> Task:
    """Receiver of :data:`duly.payments.signals.payment_dispute_closed`: the chargeback's task records the outcome
    and is done (made now if the closing came without an opening)."""
    from django.utils import timezone

    now = timezone.now()
    with transaction.atomic():
        task = _task(payment.organization, payment.customer_id, "chargeback", f"chargeback:{dispute_ref}"[:255], None,
                     None, None, now, f"Chargeback {dispute_ref} on payment {payment.pk}.")
        task = Task.objects.select_for_update().get(pk=task.pk)
        if task.done_at is None:
            result = ("won: the money came back and the invoices are settled again" if outcome == "won"
                      else f"{outcome}: the invoices stay reopened and are chased again")
            task.description = f"{task.description}\nOutcome ({now:%Y-%m-%d}): {result}."
            task.done_at = now
            task.save(update_fields=["description", "done_at"])
        return task


@transaction.atomic
def complete_task(org: Organization, task_id: int, *, now: datetime) -> Task:
    task = Task.objects.select_for_update().filter(organization=org, pk=task_id).first()
    if task is None:
        raise NotFound(f"Task {task_id} not found in {org.name}.")
    if task.done_at is None:
        task.done_at = now
        task.save(update_fields=["done_at"])
    return task
