"""The personal pay/view link: ``/p/<token>`` (the account or one invoice) and ``/p/<token>/pdf``."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from duly.customers.links import REFUSED
from duly.domain.errors import DomainError
from duly.invoicing.documents import document_bytes

from . import services


def clock():
    """The instant a link is judged at (tests replace it)."""
    return timezone.now()


def _refused(request):
    """The one answer every refused link gets (forged, malformed, expired, revoked, another account's): it
    tells nothing about why."""
    response = render(request, "portal/refused.html", {"message": REFUSED}, status=404)
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def pay_page(request, token: str):
    try:
        page = services.pay_page(token, now=clock())
    except DomainError:
        return _refused(request)
    response = render(request, "portal/pay.html", {"page": page})
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def invoice_pdf(request, token: str):
    try:
        now = clock()
        target, customer = services.resolve(token, now=now)
        document = document_bytes(services.link_invoice(target, customer, now=now), "pdf")
    except DomainError:
        return _refused(request)
    response = HttpResponse(document.content, content_type=document.content_type)
    response["Content-Disposition"] = f'inline; filename="{document.filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
