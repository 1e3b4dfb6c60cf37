"""The e-mail that tells staff a customer asked a question or opened a dispute from their personal link.

:func:`notify_staff` queues it in the messaging outbox (the outbox worker sends it, with its retries) inside the
caller's transaction, so a refused question sends nothing. It goes to the organization's e-mail address, or, when the
organization has none, to each active member whose role may answer queries (the ``collect`` permission). It is
queued once per query and recipient (the outbox's idempotency key): a second question that joins the query already
open, or a form sent twice, sends nothing more (staff see the new question as its own task).

The text is for staff, in English like the rest of the back office; the customer's words are escaped in the HTML.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils.html import escape

from duly.customers.models import Membership, Organization
from duly.customers.roles import role_allows
from duly.messaging.rendering import RenderedMessage
from duly.messaging.services import queue_message

#: The outbox category of messages to staff (never counted as contact with the customer).
CATEGORY = "staff"
TEMPLATE = "staff_query_opened"


def recipients(org: Organization) -> list[tuple[str, str]]:
    """``[(e-mail, name)]`` to tell: the organization's address, else its active members who may answer queries."""
    if org.email:
        return [(org.email, org.trading_name or org.name)]
    found: dict[str, str] = {}
    rows = (Membership.objects.filter(organization=org, user__is_active=True).select_related("user")
            .order_by("user_id"))
    for m in rows:
        email = (m.user.email or "").strip()
        if email and role_allows(m.role, "collect") and email.lower() not in found:
            found[email.lower()] = (m.user.get_full_name() or m.user.get_username(), email)
    return [(email, name) for name, email in found.values()]


def dispute_admin_url(dispute_id: int) -> str:
    return f"{settings.DULY_PUBLIC_URL.rstrip('/')}/admin/collections/dispute/{dispute_id}/change/"


def render(question) -> RenderedMessage:
    """The e-mail about a :class:`~duly.portal.models.PortalQuestion` (its dispute, invoice and line loaded)."""
    dispute, invoice, customer = question.dispute, question.invoice, question.customer
    kind = "dispute" if question.kind == question.DISPUTE else "question"
    number = invoice.number or f"#{invoice.pk}"
    about = (f"line {question.line.position} ({question.line.description})" if question.line is not None
             else "the whole invoice")
    who = f"{customer.name} ({customer.code})" if customer.code else customer.name
    answer_by = dispute.sla_due_on.isoformat()
    url = dispute_admin_url(dispute.pk)
    subject = f"New {kind} from {customer.name} on invoice {number}: answer by {answer_by}"
    text = "\n".join([
        f"{who} sent a {kind} from their personal link.",
        "",
        f"Invoice: {number}",
        f"About: {about}",
        f"Answer by: {answer_by} (query #{dispute.pk}; reminders on this invoice are paused until it is answered)",
        "",
        f"Their {kind}:",
        question.text,
        "",
        f"Open the query: {url}",
    ])
    html = (
        f"<p>{escape(who)} sent a {kind} from their personal link.</p>"
        f"<ul><li>Invoice: {escape(number)}</li><li>About: {escape(about)}</li>"
        f"<li>Answer by: {answer_by} (query #{dispute.pk}; reminders on this invoice are paused until it is "
        f"answered)</li></ul>"
        f"<p>Their {kind}:</p><blockquote style=\"white-space: pre-wrap\">{escape(question.text)}</blockquote>"
        f"<p><a href=\"{escape(url)}\">Open the query</a></p>"
    )
    return RenderedMessage(subject=subject, text=text, html=html)


def notify_staff(question, *, now: datetime) -> list:
    """Queue the e-mail about ``question`` to the organization's staff (once per query and recipient).

    Call it inside the transaction that wrote the question. Returns the messages queued now."""
    org = question.organization
    rendered = render(question)
    queued = []
    for email, name in recipients(org):
        msg, created = queue_message(
            org, customer=question.customer_id, contact=None, category=CATEGORY, template=TEMPLATE, language="en",
            rendered=rendered, to_email=email, to_name=name, now=now, invoice_ids=[question.invoice_id],
            idempotency_key=f"staff-query:{question.dispute_id}:{email.lower()}"[:255])
        if created:
            queued.append(msg)
    return queued
