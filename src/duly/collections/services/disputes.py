"""Queries and disputes: opened on an invoice (its follow-ups pause), answered within the organization's
service level, optionally with a credit note, and the answer sent to the customer."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Sequence
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

from duly.customers.models import Organization
from duly.domain.calendar import calendar_for
from duly.domain.errors import DisputeAlreadyOpen, DisputeAlreadyResolved, InvalidState, NotFound, ValidationError
from duly.invoicing import services as invoicing
from duly.invoicing.models import Invoice
from duly.messaging.services import queue_message, renderer_for

from .. import messages as msgs
from ..models import CollectionsSettings, Dispute
from ..signals import dispute_opened
from .common import _invoice_attachments, _language, customer_window


def sla_due_on(org: Organization, opened: date, business_days: int) -> date:
    """The day a query must be answered by: ``business_days`` of the organization's calendar (its country's
    weekend, its country's and region's public holidays) after ``opened``."""
    return calendar_for(org.holiday_region).add_business_days(opened, business_days)


@transaction.atomic
def open_dispute(org: Organization, invoice_id: int, *, question: str, now: datetime, opened_by: str = "staff",
                 user=None) -> Dispute:
    """Open a query on an invoice (by the customer or by staff for them); its follow-ups pause."""
    invoice = Invoice.objects.select_related("customer").filter(organization=org, pk=invoice_id).first()
    if invoice is None:
        raise NotFound(f"Invoice {invoice_id} not found in {org.name}.", invoice_id=invoice_id)
    if not question or not question.strip():
        raise ValidationError("A query needs the customer's question.")
    if opened_by not in dict(Dispute.BY_CHOICES):
        raise ValidationError(f"opened_by must be customer or staff, got {opened_by!r}.")
    if invoice.status in (Invoice.DRAFT, Invoice.VOID):
        raise InvalidState(f"Invoice {invoice} is {invoice.status}: there is nothing to query.")
    existing = Dispute.objects.filter(organization=org, invoice=invoice, status=Dispute.OPEN).first()
    if existing is not None:
        raise DisputeAlreadyOpen(f"Invoice {invoice.number} already has an open query (#{existing.pk}).",
                                 dispute=existing.pk)
    conf = CollectionsSettings.objects.filter(organization=org).first()
    days = conf.dispute_sla_business_days if conf else 2
    local = now.astimezone(ZoneInfo(org.timezone)).date()
    try:
        with transaction.atomic():
            dispute = Dispute.objects.create(
                organization=org, customer=invoice.customer, invoice=invoice, opened_by=opened_by,
                opened_by_user=user, opened_at=now, question=question.strip(),
                sla_due_on=sla_due_on(org, local, days),
            )
    except IntegrityError:  # a concurrent request opened one first (one open query per invoice)
        raise DisputeAlreadyOpen(f"Invoice {invoice.number} already has an open query.") from None
    dispute_opened.send(sender=Dispute, dispute=dispute)
    return dispute


@transaction.atomic
def resolve_dispute(org: Organization, dispute_id: int, *, answer: str, now: datetime, credit_note: bool = False,
                    credit_lines: Sequence[invoicing.LineData] | None = None,
                    credit_amount: Decimal | str | None = None, user=None) -> Dispute:
    """Answer a query; optionally issue a credit note; tell the customer.

    The credit note credits the whole invoice (``credit_note``), the given ``credit_lines``, or
    ``credit_amount`` (tax included, in the invoice's currency, at most its open amount) as one line
    "Credit for query #N on INV-…: <answer>" (see :func:`duly.invoicing.services.partial_credit_lines`).
    """
    dispute = Dispute.objects.select_for_update().select_related("invoice", "customer").filter(
        organization=org, pk=dispute_id).first()
    if dispute is None:
        raise NotFound(f"Query {dispute_id} not found in {org.name}.")
    if dispute.status != Dispute.OPEN:
        raise DisputeAlreadyResolved(f"Query {dispute_id} on {dispute.invoice} was already answered.")
    if not answer or not answer.strip():
        raise ValidationError("An answer is required to resolve a query.")
    local = now.astimezone(ZoneInfo(org.timezone)).date()
    if credit_amount is not None and str(credit_amount).strip() != "":
        if credit_note or credit_lines:
            raise ValidationError("Credit the whole invoice, some lines or an amount: one of them, not several.")
        credit_lines = invoicing.partial_credit_lines(
            org, dispute.invoice_id, credit_amount,
            description=f"Credit for query #{dispute.pk} on {dispute.invoice.number}: {answer.strip()}")
    if credit_note or credit_lines:
        dispute.credit_note = invoicing.create_credit_note(
            org, dispute.invoice_id, reason=f"Query #{dispute.pk}: {answer.strip()}",
            lines=list(credit_lines) if credit_lines else None, issue_date=local)
    dispute.status = Dispute.RESOLVED
    dispute.answer = answer.strip()
    dispute.answered_at = now
    dispute.answered_by = user
    addressee = msgs.pick_contact(msgs.contact_rows(dispute.customer), respect_opt_out=False)
    if addressee is not None:
        single = msgs.SingleMessages(org, renderer_for(org))
        rendered = single.dispute_answer(dispute, addressee, local)
        dispute.message, _ = queue_message(
            org, customer=dispute.customer, contact=addressee.contact.id if addressee.contact else None,
            category="dispute", template="dispute_resolved", language=_language(dispute.customer, addressee),
            rendered=rendered, to_email=addressee.email, to_name=addressee.name,
            idempotency_key=f"dispute-answer:{dispute.pk}", now=now,
            attachments=_invoice_attachments([dispute.credit_note.pk]) if dispute.credit_note else [],
            invoice_ids=[dispute.invoice_id], fallback_note=addressee.fallback_note,
            window=customer_window(org, dispute.customer),
        )
    dispute.save()
    return dispute
