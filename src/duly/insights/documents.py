"""The statement of account as a PDF (``statement.html``, rendered by the invoicing documents machinery,
:func:`duly.invoicing.pdf.render_org_document`), from :func:`duly.insights.services.statement_of_account`.
Messages attach it through the renderer insights registers with :mod:`duly.messaging.attachments`."""

from __future__ import annotations

from datetime import date

from duly.invoicing.documents.i18n import localizer
from duly.invoicing.pdf import render_org_document

from .services import statement_of_account


def render_statement(customer, *, as_of: date) -> bytes:
    """A statement of account: the customer's open items as of a date, with totals and credit."""
    org = customer.organization
    loc = localizer(customer.locale)
    statement = statement_of_account(customer, as_of=as_of)
    return render_org_document("statement.html", org, loc, {
        "title": loc.t("title.statement"),
        "customer": customer,
        "as_of": as_of,
        "statement": statement,
        "lines": statement["lines"],
        "total_open": statement["total_open"],
        "credit": statement["credit"],
    })
