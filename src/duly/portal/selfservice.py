"""The self-service pages of the personal link: ``/p/<token>/history`` (invoices and payments, with their PDFs),
``/statement`` (a statement of account as of a chosen date), ``/invoices/<id>/ask`` (a question or a dispute about
an invoice or a line), ``/questions/<id>`` (its confirmation), ``/details`` (a change of billing details, for staff
to approve) and ``/language`` (the language of the session, optionally kept for documents).

Every page is scoped by the link: anything the link does not open (another customer's invoice id, a payment of
another account, a statement on an invoice link) gets the same 404 as a forged link. Errors show the customer a
sentence of their own, never a value of the system."""

from __future__ import annotations

import functools

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from duly.domain.errors import DomainError, PayLinkRefused, RateLimited
from duly.invoicing.documents import document_bytes
from duly.messaging.formatting import Formatter
from duly.payments.documents import render_receipt

from . import selfservice_pages as pages
from . import selfservice_services as svc
from .models import PortalQuestion
from .views import _private, _refused, clock

def _error_text(err: DomainError) -> str:
    """The customer's sentence for a refused form (the service's own message is for staff and logs)."""
    if isinstance(err, RateLimited):
        return pgettext("portal error", "You have sent several requests in a short time. "
                                        "Please wait a little before sending another one.")
    return {
        "required": pgettext("portal error", "Please fill in the required field."),
        "too_long": pgettext("portal error", "The text is too long: please shorten it."),
        "form_expired": pgettext("portal error", "This form has expired: please open the page again."),
        "invalid_choice": pgettext("portal error", "Please choose one of the options offered."),
        "invalid_email": pgettext("portal error", "Please enter a valid e-mail address."),
        "nothing_to_change": pgettext("portal error", "Nothing to change: please fill in at least one new value."),
        "invalid_state": pgettext("portal error", "This invoice cannot be questioned any more."),
    }.get(err.code, pgettext("portal error",
                             "Your request could not be sent. Please check the form and try again."))


def _self_service(*, account_only: bool = False):
    """Open the link's scope (refused: the forged-link page), read the page in the session's language, and answer
    any refusal inside the view (an id the link does not open) with the same page."""

    def wrap(view):
        @functools.wraps(view)
        def inner(request, token: str, **kwargs):
            try:
                scope = svc.scope_of(token, now=clock())
            except DomainError:
                return _refused(request)
            if account_only and not scope.account:
                return _refused(request)
            language = pages.session_language(request.session, scope)
            with translation.override(language):
                try:
                    return view(request, scope, language, **kwargs)
                except PayLinkRefused:
                    return _refused(request)

        return inner

    return wrap


def _page(request, template: str, scope, language: str, here: str, context: dict, status: int = 200):
    context = {"nav": pages.nav(scope, language, here), "language": language,
               "org": scope.customer.organization, "customer": scope.customer, **context}
    return _private(render(request, template, context, status=status))


def _send(form: dict, fn, *args, **kwargs):
    """Call a form's service: ``(row, "", 200)``, or ``(None, the customer's sentence, 400 or 429)`` (an expired form
    gets a new key). A refusal of the link's scope goes up to :func:`_self_service`."""
    try:
        return fn(*args, **kwargs), "", 200
    except PayLinkRefused:
        raise
    except DomainError as err:
        if err.code == "form_expired":
            form["submission"] = svc.new_submission_key()
        return None, _error_text(err), (429 if isinstance(err, RateLimited) else 400)


def _pdf(content: bytes, filename: str, content_type: str = "application/pdf"):
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _private(response)


@require_GET
@_self_service()
def history(request, scope, language):
    data = pages.history(scope, language, invoice_page=request.GET.get("invoices"),
                         payment_page=request.GET.get("payments"), invoices_after=request.GET.get("invoices_after"),
                         invoices_before=request.GET.get("invoices_before"))
    return _page(request, "portal/selfservice/history.html", scope, language, f"{scope.base}/history",
                 {"title": pgettext("portal", "History of invoices and payments"), **data})


@require_GET
@_self_service()
def invoice_pdf(request, scope, language, invoice_id: int):
    document = document_bytes(svc.scoped_invoice(scope, invoice_id), "pdf")
    return _pdf(document.content, document.filename, document.content_type)


@require_GET
@_self_service()
def payment_receipt(request, scope, language, payment_id: int):
    payment = pages.scoped_payment(scope, payment_id)
    return _pdf(render_receipt(payment), f"receipt-{payment.pk}.pdf")


@require_GET
@_self_service(account_only=True)
def statement(request, scope, language):
    today = svc.local_day(scope, clock())
    as_of = request.GET.get("as_of")
    if as_of:
        content, day = pages.statement_pdf(scope, as_of, today)
        return _pdf(content, f"statement-{day.isoformat()}.pdf")
    return _page(request, "portal/selfservice/statement.html", scope, language, f"{scope.base}/statement",
                 {"title": pgettext("portal", "Statement of account"),
                  "periods": pages.statement_periods(today, language)})


@require_http_methods(["GET", "POST"])
@_self_service()
def ask(request, scope, language, invoice_id: int):
    invoice = svc.scoped_invoice(scope, invoice_id)
    source = request.POST if request.method == "POST" else request.GET
    form = {"kind": source.get("kind") or PortalQuestion.QUESTION, "line": source.get("line") or "",
            "text": request.POST.get("text", ""),
            "submission": request.POST.get("submission", "") if request.method == "POST" else svc.new_submission_key()}
    error, status = "", 200
    if request.method == "POST":
        row, error, status = _send(form, svc.ask_about_invoice, scope, invoice.pk, kind=request.POST.get("kind", ""),
                                   text=form["text"], submission=form["submission"], now=clock(),
                                   line_id=form["line"] or None)
        if row is not None:
            return HttpResponseRedirect(f"{scope.base}/questions/{row.pk}")
    return _page(request, "portal/selfservice/ask.html", scope, language, f"{scope.base}/invoices/{invoice.pk}/ask", {
        "title": pgettext("portal", "Ask about invoice %(number)s") % {"number": invoice.number},
        "invoice": pages.invoice_summary(invoice, language), "form": form, "error": error,
        "kinds": [(PortalQuestion.QUESTION, pgettext("portal", "I have a question about this invoice")),
                  (PortalQuestion.DISPUTE, pgettext("portal", "I dispute this invoice or one of its lines"))],
    }, status=status)


@require_GET
@_self_service()
def question(request, scope, language, question_id: int):
    row = svc.scoped_question(scope, question_id)
    fmt = Formatter.for_locale(language)
    return _page(request, "portal/selfservice/question.html", scope, language, f"{scope.base}/questions/{row.pk}", {
        "title": pgettext("portal", "We received your message"), "row": row,
        "answer_by": fmt.date(row.dispute.sla_due_on),
        "answered": row.dispute.status != row.dispute.OPEN, "invoice_number": row.invoice.number,
        "dispute": row.kind == PortalQuestion.DISPUTE,
    })


_DETAILS = ("contact_name", "contact_email", "po_number", "language", "note")


@require_http_methods(["GET", "POST"])
@_self_service(account_only=True)
def details(request, scope, language):
    now = clock()
    current = svc.current_details(scope.customer, svc.local_day(scope, now))
    form = {**{k: "" for k in _DETAILS}, "submission": svc.new_submission_key()}
    error, done, status = "", None, 200
    if request.method == "POST":
        sent = {k: request.POST.get(k, "") for k in (*_DETAILS, "submission")}
        done, error, status = _send(sent, svc.request_change, scope, now=now, **sent)
        if done is None:
            form = sent  # shown again to correct; a successful request starts a new, empty form
    return _page(request, "portal/selfservice/details.html", scope, language, f"{scope.base}/details", {
        "title": pgettext("portal", "Billing details"), "current": current, "form": form, "error": error, "done": done,
        "pending": pages.pending_requests(scope, language),
        "current_language": pages.LANGUAGE_NAMES.get(current["language"], current["language"]),
        "languages": [(code, pages.LANGUAGE_NAMES[code]) for code in svc.LANGUAGES],
    }, status=status)


@require_POST
@_self_service()
def language(request, scope, language):
    """Read the link's pages in another language (this session); optionally ask staff to keep it for documents."""
    chosen = request.POST.get("language", "")
    back = request.POST.get("next", "")
    if not back.startswith(scope.base + "/") and back != scope.base:
        back = f"{scope.base}/history"
    if chosen not in svc.LANGUAGES:
        return HttpResponseRedirect(back)
    request.session[pages.session_key(scope)] = chosen
    if request.POST.get("keep") == "on" and scope.account:
        try:
            svc.request_change(scope, now=clock(), language=chosen,
                               submission=request.POST.get("submission") or svc.new_submission_key())
        except DomainError:
            pass  # the same language as the documents already use, or too many waiting: the session still has it
    return HttpResponseRedirect(back)
