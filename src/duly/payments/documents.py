"""The payments app's documents: the receipt of a payment (``receipt.html``, rendered by the invoicing
documents machinery, :func:`duly.invoicing.pdf.render_org_document`), and what invoice documents ask of
payments, answered through the hooks invoicing leaves for it (:mod:`duly.invoicing.hooks`). Importing
this module loads no renderer."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from duly.domain.money import from_minor

from .models import METHOD_CHOICES, Allocation


def render_receipt(payment) -> bytes:
    """A receipt for a payment: amount, date, method and the invoices it settled."""
    from duly.invoicing.documents.i18n import localizer
    from duly.invoicing.pdf import render_org_document

    org, customer = payment.organization, payment.customer
    loc = localizer(customer.locale)
    allocations = [
        {"number": a.invoice.number, "issue_date": a.invoice.issue_date,
         "amount": from_minor(a.amount_minor, payment.currency),
         "open_after": a.invoice.balance}
        for a in payment.allocations.select_related("invoice").order_by("invoice__issue_date", "invoice_id")
    ]
    applied = sum((a["amount"] for a in allocations), Decimal(0))
    amount = from_minor(payment.amount_minor, payment.currency)
    return render_org_document("receipt.html", org, loc, {
        "title": loc.t("title.receipt"),
        "payment": payment,
        "customer": customer,
        "amount": amount,
        "currency": payment.currency,
        "method_label": method_label(loc, payment.method),
        "allocations": allocations,
        "unapplied": amount - applied,
    })


def method_label(loc, method: str) -> str:
    """A payment method in the document's language (the English choice label for unknown ones)."""
    key = f"method.{method}"
    return loc.t(key) if loc.has(key) else dict(METHOD_CHOICES).get(method, method)


def settled_by_issue_minor(invoice) -> int:
    """What the allocations applied up to ``invoice``'s issue date settled on it (minor units): the amount
    "already paid" of an invoice issued before its document snapshot froze that amount."""
    total = Allocation.objects.filter(invoice=invoice, applied_on__lte=invoice.issue_date).aggregate(
        s=Sum("amount_minor"))["s"]
    return int(total or 0)
