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


@transaction.atomic
def complete_task(org: Organization, task_id: int, *, now: datetime) -> Task:
    task = Task.objects.select_for_update().filter(organization=org, pk=task_id).first()
    if task is None:
        raise NotFound(f"Task {task_id} not found in {org.name}.")
    if task.done_at is None:
        task.done_at = now
        task.save(update_fields=["done_at"])
    return task
