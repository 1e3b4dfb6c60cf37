"""A customer's own question or dispute about an invoice (sent from their personal link): it opens the invoice's
query with the organization's response-time target (its follow-ups pause, :mod:`.disputes`), or joins the query
already open on it, and gives staff a task to answer it."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from duly.customers.models import Organization
from duly.domain.errors import DisputeAlreadyOpen

from ..models import Dispute, Task
from .common import _task
from .disputes import open_dispute


@transaction.atomic
def customer_query(org: Organization, invoice_id: int, *, question: str, now: datetime, key: str,
                   summary: str) -> tuple[Dispute, Task]:
    """Open (or join) the query on an invoice for the customer and make the staff task ``key`` (once per key).

    ``summary`` is what the task says (who asked what, about which line); the query's own question is
    ``question`` when it is opened here, else the open query keeps its question and the task carries the new one.
    """
    try:
        dispute = open_dispute(org, invoice_id, question=question, now=now, opened_by="customer")
    except DisputeAlreadyOpen:
        dispute = Dispute.objects.select_for_update().get(organization=org, invoice_id=invoice_id,
                                                          status=Dispute.OPEN)
    number = dispute.invoice.number or str(dispute.invoice_id)
    task = _task(org, dispute.customer_id, "query", key[:255], None, None, None, now,
                 f"Answer query #{dispute.pk} on {number} by {dispute.sla_due_on.isoformat()}: {summary}")
    return dispute, task
