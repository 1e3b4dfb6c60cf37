"""The self-service pages of the personal link: ``/p/<token>/history`` (invoices and payments, with their PDFs),
``/statement`` (a statement of account as of a chosen date), ``/invoices/<id>/ask`` (a question or a dispute about
an invoice or a line), ``/questions/<id>`` (its confirmation), ``/details`` (a change of billing details, for staff
to approve) and ``/language`` (the language of the session, optionally kept for documents).

Every page is scoped by the link: anything the link does not open (another customer's invoice id, a payment of
another account, a statement on an invoice link) gets the same 404 as a forged link. Errors show the customer a
sentence of their own, never a value of the system."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from duly.domain.errors import DomainError, PayLinkRefused, RateLimited
from duly.invoicing.documents import document_bytes
from duly.messaging.formatting import Formatter
from duly.payments.documents import render_receipt

from . import selfservice_pages as pages
from . import selfservice_services as svc
from .models import PortalQuestion
from .views import _private, _refused, clock

#: The customer-facing sentence for each refusal a form can meet (the service's own message is for staff and logs).
def _error_text(err: DomainError) -> str:
    if isinstance(err, RateLimited):
        return _("You have sent several requests in a short time. Please wait a little before sending another one.")
    return {
        "required": _("Please fill in the required field."),
        "too_long": _("The text is too long: please shorten it."),
        "form_expired": _("This form has expired: please open the page again."),
        "invalid_choice": _("Please choose one of the options offered."),
        "invalid_email": _("Please enter a valid e-mail address."),
        "nothing_to_change": _("Nothing to change: please fill in at least one new value."),
        "invalid_state": _("This invoice cannot be questioned any more."),
    }.get(err.code, _("Your request could not be sent. Please check the form and try again."))


def _open(request, token: str):
    """The link's scope and the session's language (activated for the page), or None when the link is refused."""
    try:
        scope = svc.scope_of(token, now=clock())
    except DomainError:
        return None, ""
    language = pages.session_language(request.session, scope)
    translation.activate(language)
    return scope, language


def _page(request, template: str, scope, language: str, here: str, context: dict, status: int = 200):
    context = {"nav": pages.nav(scope, language, here), "language": language,
               "org": scope.customer.organization, "customer": scope.customer, **context}
    try:
        return _private(render(request, template, context, status=status))
    finally:
        translation.deactivate()


def _pdf(content: bytes, filename: str, content_type: str = "application/pdf"):
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _private(response)


@require_GET
def history(request, token: str):
    scope, language = _open(request, token)
    if scope is None:
        return _refused(request)
    data = pages.history(scope, language, invoice_page=request.GET.get("invoices"),
                         payment_page=request.GET.get("payments"))
    return _page(request, "portal/selfservice/history.html", scope, language, f"{scope.base}/history",
                 {"title": _("History of invoices and payments"), **data})


@require_GET
def invoice_pdf(request, token: str, invoice_id: int):
    try:
        scope = svc.scope_of(token, now=clock())
        document = document_bytes(svc.scoped_invoice(scope, invoice_id), "pdf")
    except DomainError:
        return _refused(request)
    return _pdf(document.content, document.filename, document.content_type)


@require_GET
def payment_receipt(request, token: str, payment_id: int):
    try:
        payment = pages.scoped_payment(svc.scope_of(token, now=clock()), payment_id)
    except DomainError:
        return _refused(request)
    return _pdf(render_receipt(payment), f"receipt-{payment.pk}.pdf")


@require_GET
def statement(request, token: str):
    scope, language = _open(request, token)
    if scope is None or not scope.account:
        translation.deactivate()
        return _refused(request)
    today = svc.local_day(scope, clock())
    as_of = request.GET.get("as_of")
    if as_of:
        try:
            content, day = pages.statement_pdf(scope, as_of, today)
        except DomainError:
            translation.deactivate()
            return _refused(request)
        translation.deactivate()
        return _pdf(content, f"statement-{day.isoformat()}.pdf")
    return _page(request, "portal/selfservice/statement.html", scope, language, f"{scope.base}/statement",
                 {"title": _("Statement of account"), "periods": pages.statement_periods(today, language)})


@require_http_methods(["GET", "POST"])
def ask(request, token: str, invoice_id: int):
    scope, language = _open(request, token)
    if scope is None:
        return _refused(request)
    try:
        invoice = svc.scoped_invoice(scope, invoice_id)
    except DomainError:
        translation.deactivate()
        return _refused(request)
    here = f"{scope.base}/invoices/{invoice.pk}/ask"
    form = {"kind": request.GET.get("kind") or PortalQuestion.QUESTION, "line": request.GET.get("line") or "",
            "text": "", "submission": svc.new_submission_key()}
    error, status = "", 200
    if request.method == "POST":
        form = {"kind": request.POST.get("kind", ""), "line": request.POST.get("line", ""),
                "text": request.POST.get("text", ""), "submission": request.POST.get("submission", "")}
        try:
            row = svc.ask_about_invoice(scope, invoice.pk, kind=form["kind"], text=form["text"],
                                        submission=form["submission"], now=clock(), line_id=form["line"] or None)
        except PayLinkRefused:
            translation.deactivate()
            return _refused(request)
        except DomainError as err:
            error, status = _error_text(err), (429 if isinstance(err, RateLimited) else 400)
            if err.code == "form_expired":
                form["submission"] = svc.new_submission_key()
        else:
            translation.deactivate()
            return HttpResponseRedirect(f"{scope.base}/questions/{row.pk}")
    return _page(request, "portal/selfservice/ask.html", scope, language, here, {
        "title": _("Ask about invoice %(number)s") % {"number": invoice.number},
        "invoice": pages.invoice_summary(invoice, language), "form": form, "error": error,
        "kinds": [(PortalQuestion.QUESTION, _("I have a question about this invoice")),
                  (PortalQuestion.DISPUTE, _("I dispute this invoice or one of its lines"))],
    }, status=status)


@require_GET
def question(request, token: str, question_id: int):
    scope, language = _open(request, token)
    if scope is None:
        return _refused(request)
    try:
        row = svc.scoped_question(scope, question_id)
    except DomainError:
        translation.deactivate()
        return _refused(request)
    fmt = Formatter.for_locale(language)
    return _page(request, "portal/selfservice/question.html", scope, language, f"{scope.base}/questions/{row.pk}", {
        "title": _("We received your message"), "row": row, "answer_by": fmt.date(row.dispute.sla_due_on),
        "answered": row.dispute.status != row.dispute.OPEN, "invoice_number": row.invoice.number,
        "dispute": row.kind == PortalQuestion.DISPUTE,
    })


@require_http_methods(["GET", "POST"])
def details(request, token: str):
    scope, language = _open(request, token)
    if scope is None or not scope.account:
        translation.deactivate()
        return _refused(request)
    now = clock()
    current = svc.current_details(scope.customer, svc.local_day(scope, now))
    form = {"contact_name": "", "contact_email": "", "po_number": "", "language": "", "note": "",
            "submission": svc.new_submission_key()}
    error, done, status = "", None, 200
    if request.method == "POST":
        form = {k: request.POST.get(k, "") for k in form}
        try:
            done = svc.request_change(scope, now=now, **form)
        except PayLinkRefused:
            translation.deactivate()
            return _refused(request)
        except DomainError as err:
            error, status = _error_text(err), (429 if isinstance(err, RateLimited) else 400)
            if err.code == "form_expired":
                form["submission"] = svc.new_submission_key()
        else:
            form = {"contact_name": "", "contact_email": "", "po_number": "", "language": "", "note": "",
                    "submission": svc.new_submission_key()}
    return _page(request, "portal/selfservice/details.html", scope, language, f"{scope.base}/details", {
        "title": _("Billing details"), "current": current, "form": form, "error": error, "done": done,
        "current_language": pages.LANGUAGE_NAMES.get(current["language"], current["language"]),
        "languages": [(code, pages.LANGUAGE_NAMES[code]) for code in svc.LANGUAGES],
    }, status=status)


@require_POST
def language(request, token: str):
    """Read the link's pages in another language (this session); optionally ask staff to keep it for documents."""
    try:
        scope = svc.scope_of(token, now=clock())
    except DomainError:
        return _refused(request)
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
