"""What customers change from their personal link (``/p/<token>/...``): a question or dispute about an invoice or a
line (it opens the invoice's query through collections, with its response-time target and a staff task, and e-mails
staff once per query: :mod:`.staff_notice`), and a
request to change the billing contact, the PO number of future invoices or the language of their documents, which
waits for staff (:func:`approve_change_request`, :func:`reject_change_request`).

Everything is scoped by the link (:class:`Scope`): an id of another customer's invoice is refused exactly like a
forged link. A form sent twice (the same one-time ``submission`` key) is written once; questions are limited per
customer per hour and per day (:data:`QUESTIONS_PER_HOUR`, :data:`QUESTIONS_PER_DAY`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from duly.collections import services as collections
from duly.customers import services as customers
from duly.customers.links import REFUSED
from duly.customers.models import Contact, Contract, Customer, Organization
from duly.domain.errors import InvalidState, NotFound, PayLinkRefused, RateLimited, ValidationError
from duly.invoicing.models import Invoice, InvoiceLine

from . import services, staff_notice
from .models import ChangeRequest, PortalQuestion

#: The languages the portal and the documents speak.
LANGUAGES = ("en", "fr", "de", "ru", "es")
#: Questions and disputes one customer may send per hour, and per day.
QUESTIONS_PER_HOUR, QUESTIONS_PER_DAY = 5, 20
#: Change requests one customer may have waiting for staff at once.
PENDING_CHANGES_MAX = 5
#: Longest question or note accepted.
TEXT_MAX = 4000


@dataclass(frozen=True)
class Scope:
    """What a link opens: a customer's account, or only one of their invoices (``only``)."""

    token: str
    customer: Customer
    only: int | None = None

    @property
    def account(self) -> bool:
        return self.only is None

    @property
    def base(self) -> str:
        return f"/p/{self.token}"


def scope_of(token: str, *, now: datetime) -> Scope:
    """The scope of a link at ``now``; :class:`PayLinkRefused` when it does not open."""
    target, customer = services.resolve(token, now=now)
    only = services.link_invoice(target, customer, now=now).pk if target.invoice_id else None
    return Scope(token=token, customer=customer, only=only)


def new_submission_key() -> str:
    """The one-time key a form carries (a second send of the same form is the same request)."""
    return secrets.token_urlsafe(24)


def local_day(scope: Scope, now: datetime) -> date:
    return services._local_day(scope.customer, now)


def invoices_in_scope(scope: Scope):
    """The customer's issued invoices this link shows (never drafts; one invoice for an invoice link)."""
    qs = Invoice.objects.filter(organization_id=scope.customer.organization_id, customer=scope.customer).exclude(
        status=Invoice.DRAFT)
    return qs.filter(pk=scope.only) if scope.only is not None else qs


def scoped_invoice(scope: Scope, invoice_id) -> Invoice:
    """One invoice the link shows, or the link's refusal (another customer's id looks like a forged link)."""
    try:
        pk = int(invoice_id)
    except (TypeError, ValueError):
        raise PayLinkRefused(REFUSED) from None
    invoice = invoices_in_scope(scope).select_related("organization", "customer", "contract").filter(pk=pk).first()
    if invoice is None:
        raise PayLinkRefused(REFUSED)
    return invoice


def _clean_text(value: str, what: str, *, required: bool, limit: int = TEXT_MAX) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError(f"Please write your {what}.", code="required")
    if len(value) > limit:
        raise ValidationError(f"The {what} is too long (at most {limit} characters).", code="too_long")
    return value


def _check_submission(submission: str) -> str:
    submission = (submission or "").strip()
    if not 16 <= len(submission) <= 64:
        raise ValidationError("This form has expired: please open it again.", code="form_expired")
    return submission


# --- questions and disputes -------------------------------------------------------------------------------------


def _check_rate(customer: Customer, now: datetime) -> None:
    recent = PortalQuestion.objects.filter(customer=customer, created_at__gt=now - timedelta(days=1))
    if (recent.count() >= QUESTIONS_PER_DAY
            or recent.filter(created_at__gt=now - timedelta(hours=1)).count() >= QUESTIONS_PER_HOUR):
        raise RateLimited("You have sent several questions in a short time. Please wait a little before sending "
                          "another one; we answer each of them.", code="rate_limited")


def ask_about_invoice(scope: Scope, invoice_id, *, kind: str, text: str, submission: str, now: datetime,
                      line_id=None) -> PortalQuestion:
    """Send a question (``kind="question"``) or a dispute (``"dispute"``) about an invoice, or one of its lines.

    It opens the invoice's query (its follow-ups pause until staff answer, by the organization's response-time
    target) or joins the one already open, makes a staff task and, for a new query, queues the e-mail to staff
    (:func:`.staff_notice.notify_staff`, in the same transaction). The same ``submission`` sent again returns the
    question already written."""
    customer = scope.customer
    submission = _check_submission(submission)
    done = PortalQuestion.objects.filter(customer=customer, submission=submission).first()
    if done is not None:
        return done
    invoice = scoped_invoice(scope, invoice_id)
    if invoice.status == Invoice.VOID:
        raise InvalidState("This invoice was cancelled: there is nothing to question.", code="invalid_state")
    if kind not in dict(PortalQuestion.KIND_CHOICES):
        raise ValidationError("Choose whether this is a question or a dispute.", code="invalid_choice")
    text = _clean_text(text, "question" if kind == PortalQuestion.QUESTION else "reason for the dispute",
                       required=True)
    line = None
    if line_id not in (None, ""):
        try:
            line = InvoiceLine.objects.filter(invoice=invoice, pk=int(line_id)).first()
        except (TypeError, ValueError):
            line = None
        if line is None:
            raise PayLinkRefused(REFUSED)
    _check_rate(customer, now)
    about = f"line {line.position} ({line.description})" if line is not None else "the whole invoice"
    label = "Dispute" if kind == PortalQuestion.DISPUTE else "Question"
    question = f"{label} from the customer about {about}: {text}"
    org = customer.organization
    try:
        with transaction.atomic():
            row = PortalQuestion.objects.create(
                organization=org, customer=customer, invoice=invoice, line=line, kind=kind, text=text,
                submission=submission, created_at=now,
                dispute=collections.customer_query(org, invoice.pk, question=question, now=now,
                                                   key=f"portal-question:{customer.pk}:{submission}",
                                                   summary=question)[0])
            staff_notice.notify_staff(row, now=now)
    except IntegrityError:  # the same form, sent twice at once: the first one wrote it
        row = PortalQuestion.objects.filter(customer=customer, submission=submission).first()
        if row is None:
            raise
    return row


def scoped_question(scope: Scope, question_id) -> PortalQuestion:
    try:
        pk = int(question_id)
    except (TypeError, ValueError):
        raise PayLinkRefused(REFUSED) from None
    row = (PortalQuestion.objects.select_related("invoice", "line", "dispute")
           .filter(customer=scope.customer, pk=pk).first())
    if row is None or (scope.only is not None and row.invoice_id != scope.only):
        raise PayLinkRefused(REFUSED)
    return row


# --- change requests --------------------------------------------------------------------------------------------


def billing_contact(customer: Customer) -> Contact | None:
    """The contact a billing-contact change applies to: the first billing contact, else the first contact."""
    contacts = list(Contact.objects.filter(customer=customer).order_by("pk"))
    return next((c for c in contacts if c.role == "billing"), contacts[0] if contacts else None)


def current_contracts(customer: Customer, today: date) -> list[Contract]:
    """The contracts future invoices are made under: not ended by ``today``."""
    return [c for c in Contract.objects.filter(customer=customer).order_by("pk")
            if c.end_date is None or c.end_date >= today]


def current_details(customer: Customer, today: date) -> dict[str, str]:
    """What the billing details are now (what a change request is compared with)."""
    contact = billing_contact(customer)
    pos = sorted({c.po_number for c in current_contracts(customer, today) if c.po_number})
    return {"contact_name": contact.name if contact else "", "contact_email": contact.email if contact else "",
            "po_number": ", ".join(pos), "language": customer.locale.split("_")[0].split("-")[0].lower()}


def request_change(scope: Scope, *, submission: str, now: datetime, contact_name: str = "", contact_email: str = "",
                   po_number: str = "", language: str = "", note: str = "") -> ChangeRequest:
    """Ask staff to change the billing details; nothing changes until they approve. Account links only."""
    if not scope.account:
        raise PayLinkRefused(REFUSED)
    customer = scope.customer
    submission = _check_submission(submission)
    done = ChangeRequest.objects.filter(customer=customer, submission=submission).first()
    if done is not None:
        return done
    contact_name = _clean_text(contact_name, "contact name", required=False, limit=200)
    contact_email = _clean_text(contact_email, "e-mail address", required=False, limit=254)
    po_number = _clean_text(po_number, "PO number", required=False, limit=100)
    note = _clean_text(note, "note", required=False)
    language = (language or "").strip()
    if language and language not in LANGUAGES:
        raise ValidationError("Choose one of the languages offered.", code="invalid_choice")
    if contact_email:
        try:
            validate_email(contact_email)
        except DjangoValidationError:
            raise ValidationError("Enter a valid e-mail address.", code="invalid_email") from None
    today = local_day(scope, now)
    previous = current_details(customer, today)
    wanted = {"contact_name": contact_name, "contact_email": contact_email, "po_number": po_number,
              "language": language}
    if not any(v and v != previous[k] for k, v in wanted.items()):
        raise ValidationError("Nothing to change: fill in at least one new value.", code="nothing_to_change")
    if ChangeRequest.objects.filter(customer=customer, status=ChangeRequest.PENDING).count() >= PENDING_CHANGES_MAX:
        raise RateLimited("Several of your requests are still waiting for us. We will look at them before you send "
                          "another one.", code="rate_limited")
    try:
        with transaction.atomic():
            return ChangeRequest.objects.create(organization=customer.organization, customer=customer,
                                                submission=submission, submitted_at=now, previous=previous,
                                                note=note, **wanted)
    except IntegrityError:
        row = ChangeRequest.objects.filter(customer=customer, submission=submission).first()
        if row is None:
            raise
        return row


def _pending(org: Organization, request_id: int) -> ChangeRequest:
    row = (ChangeRequest.objects.select_for_update().select_related("customer", "customer__organization")
           .filter(organization=org, pk=request_id).first())
    if row is None:
        raise NotFound(f"Change request {request_id} not found in {org.name}.")
    if row.status != ChangeRequest.PENDING:
        raise InvalidState(f"Change request {request_id} was already {row.status}.", code="invalid_state")
    return row


@transaction.atomic
def approve_change_request(org: Organization, request_id: int, *, now: datetime, user=None) -> ChangeRequest:
    """Apply a customer's change request through the customers services: the billing contact (updated, or added
    when the customer has none), the PO number of every contract not ended (future invoices copy it) and the
    customer's language. All of it or, on an error, nothing."""
    row = _pending(org, request_id)
    customer = row.customer
    if row.contact_name or row.contact_email:
        contact = billing_contact(customer)
        if contact is None:
            customers.add_contact(customer, name=row.contact_name or row.contact_email, email=row.contact_email,
                                  role="billing")
        else:
            fields = {k: v for k, v in (("name", row.contact_name), ("email", row.contact_email)) if v}
            customers.update_contact(contact, **fields)
    if row.po_number:
        contracts = current_contracts(customer, customers.local_today(org, now))
        if not contracts:
            raise ValidationError(f"{customer.name} has no current contract to put the PO number on.",
                                  code="no_contract")
        for contract in contracts:
            customers.update_contract(contract, po_number=row.po_number)
    if row.language:
        customers.update_customer(customer, locale=row.language)
    row.status, row.decided_at, row.decided_by = ChangeRequest.APPROVED, now, user
    row.save(update_fields=["status", "decided_at", "decided_by"])
    return row


@transaction.atomic
def reject_change_request(org: Organization, request_id: int, *, now: datetime, user=None) -> ChangeRequest:
    """Refuse a change request: nothing of it is applied."""
    row = _pending(org, request_id)
    row.status, row.decided_at, row.decided_by = ChangeRequest.REJECTED, now, user
    row.save(update_fields=["status", "decided_at", "decided_by"])
    return row
