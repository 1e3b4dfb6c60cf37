"""The personal pay/view link: ``/p/<token>`` (the account or one invoice) and ``/p/<token>/pdf``."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from duly.domain.errors import DomainError
from duly.invoicing.documents import document_bytes

from . import services


def _refused(request, exc: DomainError):
    status = 404 if exc.code in ("forged_request", "not_found") else 400
    return render(request, "portal/refused.html", {"message": exc.message}, status=status)


@require_GET
def pay_page(request, token: str):
    try:
        page = services.pay_page(token, now=timezone.now())
    except DomainError as exc:
        return _refused(request, exc)
    response = render(request, "portal/pay.html", {"page": page})
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def invoice_pdf(request, token: str):
    try:
        target, customer = services.resolve(token)
        document = document_bytes(services.link_invoice(target, customer), "pdf")
    except DomainError as exc:
        return _refused(request, exc)
    response = HttpResponse(document.content, content_type=document.content_type)
    response["Content-Disposition"] = f'inline; filename="{document.filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
