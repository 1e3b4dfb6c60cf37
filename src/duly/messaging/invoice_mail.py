"""Issued invoices and credit notes, e-mailed once each with their PDF and attachments.

:func:`send_issued_invoices` e-mails every invoice and credit note issued by ``now`` that has not
been sent yet. Each goes to the customer's accounts-payable (else billing, else owner) contact, in
their language, with the exact due date, the amount, how to pay (IBAN and RF reference, the pay
link), the late-payment terms, and its PDF and stored attachments (service reports, timesheets). It
waits for the customer's sending window like every message. Each invoice is recorded once (unique
per invoice) in the same transaction as its outbox message, so a rerun or a second run at once sends
nothing twice, and a crash loses none. An invoice nobody can receive by e-mail is recorded with the
reason; with invoice e-mails turned off invoices are recorded as not e-mailed, so turning them on
later does not send old invoices. A customer gets one e-mail per run: the first new invoice, with the
others listed and attached (a credit note goes on its own). An invoice recorded in Duly after its due
date (receivables brought over from another system) is not e-mailed on its own: its first overdue
reminder carries it. The e-mails are queued in category ``invoice``, the category the collections
contact budget counts (they never wait for it).

Messaging sends; it does not own the record of what was sent, nor the settings that turn invoice
e-mails on and set the sending hours: they are the collections app's, which sits above messaging and
calls this from its run with a :class:`DispatchRecords` (``duly.collections.services.invoice_emails``).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any, Iterable, Protocol, Sequence
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

from duly.customers import services as customers_services
from duly.customers.models import Contact, Customer, Organization
from duly.domain.payment_instructions import CARD, SEPA_DEBIT, PaymentInstruction
from duly.domain.references import format_rf
from duly.invoicing import services as invoicing
from duly.invoicing.models import Attachment, Invoice, InvoiceLine

from . import attachments
from .addressees import CONTACT_FIELDS, Addressee, ContactRow, language_of, locale_for, pick_contact
from .context import base_context, invoice_view, org_view, period_text
from .formatting import Formatter, late_fee_terms
from .labels import labels
from .links import pay_url
from .rendering import RenderedMessage, Renderer
from .services import SendWindow, queue_message, renderer_for

log = logging.getLogger("duly.messaging")

INVOICE_DISPATCH_CHUNK = 500


class DispatchRecords(Protocol):
    """The record of invoice e-mails and their settings, kept by the caller for one organization."""

    def pending_ids(self, now: datetime) -> list[int]:
        """Invoices and credit notes issued by ``now`` (not drafts) not recorded yet, by primary key."""

    def enabled(self) -> bool:
        """Whether invoices are e-mailed (read once per call of :func:`send_issued_invoices`)."""

    def window(self, customer: Customer) -> SendWindow:
        """The sending window of the customer's messages."""

    def record_not_sent(self, invoice: Invoice, note: str, now: datetime) -> None:
        """Record, once, that ``invoice`` is not e-mailed and why (``note``)."""

    def record_sent(self, invoice: Invoice, message, note: str, now: datetime) -> None:
        """Record that ``invoice`` went with ``message``; raises IntegrityError when it was recorded meanwhile."""


def _chunks(ids: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _local_date(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone or "UTC")).date()


def send_issued_invoices(org: Organization, records: DispatchRecords, *, now: datetime, dry_run: bool = False,
                         chunk_size: int = INVOICE_DISPATCH_CHUNK) -> list[str]:
    """E-mail every invoice and credit note issued by ``now`` that ``records`` has not recorded yet
    (see the module docstring). Returns one line per invoice; ``dry_run`` writes nothing."""
    ids = records.pending_ids(now)
    if not ids:
        return []
    enabled = records.enabled()
    mail = InvoiceMail(org, renderer_for(org))
    done: list[str] = []
    for chunk in _chunks(ids, chunk_size):
        invoices = list(Invoice.objects.filter(pk__in=chunk).select_related("customer", "contract",
                                                                            "related_invoice").order_by("pk"))
        contacts: dict[int, list[ContactRow]] = {}
        for row in Contact.objects.filter(customer_id__in={i.customer_id for i in invoices}).order_by("pk") \
                .values_list(*CONTACT_FIELDS):
            contacts.setdefault(row[1], []).append(ContactRow(*row))
        lines: dict[int, list[Any]] = {}
        for line in InvoiceLine.objects.filter(invoice_id__in=chunk).order_by("invoice_id", "position", "id"):
            lines.setdefault(line.invoice_id, []).append(line)
        names: dict[int, list[str]] = {}
        for invoice_id, filename in Attachment.objects.filter(invoice_id__in=chunk).order_by(
                "invoice_id", "filename").values_list("invoice_id", "filename"):
            names.setdefault(invoice_id, []).append(filename)
        refs = attachments.invoice_refs_each(chunk)
        rates = customers_services.reference_rates_for_contracts([i.contract for i in invoices if i.contract_id])
        by_customer: dict[int, list[Invoice]] = {}
        for invoice in invoices:
            by_customer.setdefault(invoice.customer_id, []).append(invoice)
        for docs in by_customer.values():
            customer = docs[0].customer
            addressee = pick_contact(contacts.get(customer.pk, []), respect_opt_out=False)
            today = _local_date(now, customer.timezone)
            notes = {invoice.pk: dispatch_note(invoice, customer, enabled, addressee, today) for invoice in docs}
            for invoice in docs:
                note = notes[invoice.pk]
                if note:
                    done.append(f"{invoice.number}: {note}")
                    log.info("invoice %s %s", invoice.number, note)
                    if not dry_run:
                        records.record_not_sent(invoice, note, now)
            # One e-mail per customer and run: the first invoice, with the others listed and attached
            # (each credit note goes on its own: it corrects one invoice).
            sendable = [i for i in docs if not notes[i.pk]]
            groups = [[i] for i in sendable if i.is_credit_note]
            bundle = [i for i in sendable if not i.is_credit_note]
            if bundle:
                groups.append(bundle)
            for group in groups:
                first = group[0]
                done += [f"{invoice.number} → {addressee.email}" for invoice in group]
                if dry_run:
                    continue
                try:
                    with transaction.atomic():
                        rendered = mail.render(
                            first, addressee, lines=lines.get(first.pk, []),
                            attachment_names=[n for i in group for n in names.get(i.pk, [])],
                            late_policy=invoicing.late_policy_for(first, rates), today=today, others=group[1:])
                        message, _ = queue_message(
                            org, customer=customer, contact=addressee.contact.id if addressee.contact else None,
                            category="invoice", template="invoice_issued", language=language_of(customer, addressee),
                            rendered=rendered, to_email=addressee.email, to_name=addressee.name,
                            idempotency_key=f"invoice:{first.pk}", now=now,
                            attachments=[ref for i in group for ref in refs.get(i.pk, [])],
                            invoice_ids=[i.pk for i in group], fallback_note=addressee.fallback_note,
                            window=records.window(customer))
                        for invoice in group:
                            records.record_sent(invoice, message, addressee.fallback_note, now)
                except IntegrityError:
                    done[-1] += " (already sent by a concurrent run)"
    return done


def dispatch_note(invoice: Invoice, customer: Customer, enabled: bool, addressee: Addressee | None,
                  today: date) -> str:
    """Why this invoice is not e-mailed on its own (empty: it is)."""
    if invoice.status == Invoice.VOID:
        return "not e-mailed: voided before it was sent"
    if not enabled:
        return "not e-mailed: invoice e-mails are turned off in the collections settings"
    if addressee is None:
        return f"not e-mailed: no contact of {customer.name} has an e-mail address"
    recorded = _local_date(invoice.issued_at, customer.timezone) if invoice.issued_at else today
    if not invoice.is_credit_note and invoice.due_date is not None and invoice.due_date < recorded:
        # Receivables brought over from another system, recorded in Duly after their due date: the customer
        # has them, and the first overdue reminder carries each open one's PDF.
        if invoice.status in Invoice.OPEN_STATUSES:
            return "not e-mailed on its own: already past due when recorded; its reminders carry it"
        return "not e-mailed: already past due and settled when recorded"
    return ""


NO_INSTRUCTION = {"method": "bank_transfer", "sentence": "", "details": [], "note": ""}


def pay_view(invoice: Invoice, fmt: Formatter, *, seller_name: str) -> dict[str, Any]:
    """How the invoice will be paid, as its documents state it (the instruction frozen in its snapshot at issue),
    in the e-mail's language with the PDF's own words: card autopay (the card and the charge date) or the SEPA
    direct debit's pre-notification (mandate reference, creditor identifier, debited account, amount, date). A
    transfer has no sentence: the template gives the bank details, the RF reference and the pay link."""
    from duly.invoicing.documents.i18n import localizer

    chosen = PaymentInstruction.from_json((invoice.document_snapshot or {}).get("payment"))
    if invoice.is_credit_note or chosen is None or chosen.method not in (CARD, SEPA_DEBIT) \
            or invoice.balance_minor <= 0:
        return dict(NO_INSTRUCTION)
    loc = localizer(fmt.locale)
    amount = fmt.money(invoice.balance_minor, invoice.currency)
    if chosen.method == CARD:
        when = fmt.date(chosen.charge_date)
        sentence = (loc.t("card_autopay", amount=amount, card=chosen.card_label, date=when) if chosen.card_label
                    else loc.t("card_autopay_unnamed", amount=amount, date=when))
        return {"method": CARD, "sentence": sentence, "details": [], "note": loc.t("card_autopay_hint")}
    when = fmt.date(chosen.debit_date)
    details = [(loc.t("mandate_reference"), chosen.mandate_reference), (loc.t("creditor_id"), chosen.creditor_id),
               (loc.t("debited_account"), chosen.debtor_iban_masked), (loc.t("amount"), amount),
               (loc.t("debit_date"), when)]
    return {"method": SEPA_DEBIT, "sentence": loc.t("sepa_debit_on", amount=amount, date=when),
            "details": [{"label": label, "value": value} for label, value in details],
            "note": loc.t("sepa_prenotification", name=seller_name)}


class InvoiceMail:
    """Renders the e-mail of an issued invoice or credit note for one organization."""

    def __init__(self, org: Organization, renderer: Renderer) -> None:
        self.org = org
        self.renderer = renderer
        self.org_view = org_view(org)

    def render(self, invoice: Invoice, addressee: Addressee, *, lines: Sequence[Any],
               attachment_names: Sequence[str], late_policy, today: date,
               others: Sequence[Invoice] = ()) -> RenderedMessage:
        """An issued invoice or credit note: what it is for, how much, the exact due date, how to pay.
        ``others``: the customer's other new invoices sent in the same e-mail (listed, each with its
        amount and due date)."""
        customer = invoice.customer
        fmt = Formatter.for_locale(locale_for(customer.locale, addressee.contact))
        cur = invoice.currency
        t = labels(fmt.language)
        title = {"deposit": t["deposit_invoice"], "credit_note": t["credit_note"],
                 "late_fee": t["late_fee_invoice"]}.get(invoice.kind, t["invoice"])
        seller = (invoice.document_snapshot or {}).get("seller") or {}
        org = dict(self.org_view, iban=seller.get("iban", self.org_view["iban"]),
                   bic=seller.get("bic", self.org_view["bic"]))
        ctx = base_context(category="invoice", fmt=fmt, org=self.org_view, org_id=self.org.pk,
                           customer_id=customer.pk, customer_name=customer.name, customer_code=customer.code,
                           contact_name=addressee.name, contact_email=addressee.email, currency=cur,
                           today=today, link_version=customer.pay_link_version)
        ctx["org"] = org
        credit = invoice.is_credit_note
        ctx.update(
            document={
                "number": invoice.number, "kind": invoice.kind, "title": title, "credit_note": credit,
                "issue_date": fmt.date(invoice.issue_date), "due_date": "" if credit else fmt.date(invoice.due_date),
                "period": period_text(fmt, invoice.service_period_start, invoice.service_period_end),
                "total": fmt.money(invoice.total_minor, cur),
                "prepaid": fmt.money(invoice.prepaid_minor, cur) if invoice.prepaid_minor else "",
                "balance": fmt.money(invoice.balance_minor, cur),
                "reference": format_rf(invoice.rf_reference) if invoice.rf_reference else invoice.number,
                "po_number": invoice.po_number,
                "link": pay_url(self.org.pk, customer.pk, invoice.pk, version=customer.pay_link_version),
                "lines": [{"description": line.description,
                           "period": period_text(fmt, line.period_start, line.period_end),
                           "usage": line.explanation, "amount": fmt.money(line.net_minor, cur)} for line in lines],
                "attachments": list(attachment_names),
                "credited_number": (invoice.related_invoice.number or "") if credit and invoice.related_invoice_id
                else "",
                "pay": pay_view(invoice, fmt, seller_name=seller.get("party", {}).get("name") or self.org.name),
            },
            late_fee_terms="" if credit else late_fee_terms(late_policy, cur, fmt, as_of=invoice.issue_date),
            others=[invoice_view(fmt, org_id=self.org.pk, customer_id=customer.pk, invoice_id=other.pk,
                                 number=other.number, currency=other.currency, issue_date=other.issue_date,
                                 due_date=other.due_date, service_date=None, total_minor=other.total_minor,
                                 balance_minor=other.balance_minor, today=today) for other in others],
        )
        return self.renderer.render("invoice_issued", fmt.language, ctx)
