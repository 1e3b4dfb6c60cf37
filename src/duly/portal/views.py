"""The personal pay/view link: ``/p/<token>`` (the account or one invoice) and ``/p/<token>/pdf``."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language_from_request
from django.views.decorators.http import require_GET, require_http_methods

from duly.domain.errors import DomainError, ProviderError, ValidationError
from duly.invoicing.documents import document_bytes
from duly.payments import checkout_services as checkout_svc
from duly.payments.documents import render_receipt
from duly.payments.models import Checkout

from . import paynow, services
from .selfservice_pages import chosen_language


def clock():
    """The instant a link is judged at (tests replace it)."""
    return timezone.now()


def _refused(request):
    """The one answer every refused link gets (forged, malformed, expired, revoked, another account's): it
    tells nothing about why, in the language the browser asks for (the link names no customer it may trust)."""
    language = get_language_from_request(request)
    response = render(request, "portal/refused.html", {"words": services.refused_words(language),
                                                       "language": language}, status=404)
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def pay_page(request, token: str):
    try:
        page = services.pay_page(token, now=clock(),  # in the language chosen on the self-service pages
                                 choose_language=lambda customer: chosen_language(request.session, customer))
    except DomainError:
        return _refused(request)
    response = render(request, "portal/pay.html", {"page": page, "selfservice": f"/p/{token}"})
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


# --- pay now ---------------------------------------------------------------------------------------------------


def _private(response):
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def _scope(token: str, now):
    """The customer a link opens, and the one invoice it is limited to (None: the account)."""
    target, customer = services.resolve(token, now=now)
    only = services.link_invoice(target, customer, now=now).pk if target.invoice_id else None
    return customer, only


def _paths(request, token: str) -> tuple[str, str]:
    """The link's own page and its pay-now page, as paths of this site."""
    return f"/p/{token}", f"/p/{token}/pay"


@require_http_methods(["GET", "POST"])
def pay_now(request, token: str):
    """Choose invoices, an amount and a method; POST starts the payment and shows its page."""
    now = clock()
    try:
        customer, only = _scope(token, now)
    except DomainError:
        return _refused(request)
    back, here = _paths(request, token)
    language = _language(request, customer)
    form = paynow.pay_form(customer, only=only, back=back, language=language)
    if request.method == "GET":
        return _private(render(request, "portal/pay_now.html", {"page": form}))
    chosen = request.POST.getlist("invoice")
    amount = (request.POST.get("amount") or "").strip()
    method = request.POST.get("method") or ""
    form.chosen, form.amount, form.method = set(chosen), amount, method
    if amount == form.total_plain and set(chosen) == {i["id"] for i in form.invoices}:
        amount = ""  # the prefilled total: pay what the chosen invoices owe
    try:
        if method not in {code for code, _ in form.methods}:
            raise ValidationError("Choose how you want to pay.", code="invalid_choice")
        checkout = checkout_svc.start_checkout(customer.organization, customer, method=method, invoice_ids=chosen,
                                               amount=amount or None, only=only,
                                               save_for_future=request.POST.get("save_for_future") == "on")
    except DomainError as err:
        due = ""
        if err.code == "overpayment":
            try:
                plan = checkout_svc.plan_checkout(customer, chosen, None, only=only)
                due = paynow.page_formatter(customer, language).money(plan.amount_minor, plan.currency)
            except DomainError:
                due = ""
        form.error = paynow.error_message(err, form.language, due=due)
        return _private(render(request, "portal/pay_now.html", {"page": form}, status=400))
    if checkout.method == Checkout.CARD:
        try:
            checkout_svc.open_card_payment(checkout)
        except ProviderError:
            pass  # the status page says card payments are unavailable and tries again on reload
    return HttpResponseRedirect(f"{here}/{checkout.public_id}")


@require_http_methods(["GET", "POST"])
def checkout_page(request, token: str, public_id: str):
    """Where a payment stands (it survives a reload: everything is read from the database and the provider);
    the payment element, the mandate form or the transfer details while it is not paid."""
    now = clock()
    try:
        customer, only = _scope(token, now)
        checkout = paynow.find_checkout(customer, public_id, only=only)
    except DomainError:
        return _refused(request)
    back, here = _paths(request, token)
    language = _language(request, customer)
    base = f"{here}/{checkout.public_id}"
    today = services._local_day(customer, now)
    error, status = "", 200
    if request.method == "POST":
        if checkout.method != Checkout.SEPA_MANDATE:
            return _refused(request)
        try:
            checkout = checkout_svc.sign_mandate(
                checkout, debtor_name=request.POST.get("holder", ""), iban=request.POST.get("iban", ""),
                bic=request.POST.get("bic", ""), consent=request.POST.get("consent") == "on", signed_on=today)
            return HttpResponseRedirect(base)
        except DomainError as err:
            error, status = paynow.error_message(err, language), 400
    else:
        try:
            if checkout.method == Checkout.CARD and not checkout.client_secret:
                checkout = checkout_svc.open_card_payment(checkout)
            checkout = checkout_svc.refresh_checkout(checkout, today=today)
        except ProviderError:
            error = paynow.words_for(language)["unavailable"]
        except DomainError as err:
            error = paynow.error_message(err, language)
        checkout = paynow.find_checkout(customer, public_id, only=only)
    page = paynow.status_page(checkout, back=back, base=base, error=error, language=language)
    return _private(render(request, "portal/checkout.html", {"page": page}, status=status))


@require_GET
def checkout_receipt(request, token: str, public_id: str):
    try:
        customer, only = _scope(token, clock())
        checkout = paynow.find_checkout(customer, public_id, only=only)
    except DomainError:
        return _refused(request)
    if checkout.payment_id is None:
        return _refused(request)
    response = HttpResponse(render_receipt(checkout.payment), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{checkout.payment_id}.pdf"'
    return _private(response)


# --- how future invoices are paid ------------------------------------------------------------------------------


def _language(request, customer) -> str:
    """The language of the pay-now, payment and methods pages: the one chosen for this session on the
    self-service pages (as ``/p/<token>`` and its other pages), else the customer's own."""
    return paynow.page_formatter(customer, chosen_language(request.session, customer)).language


@require_http_methods(["GET", "POST"])
def methods(request, token: str):
    """The customer's own setup of how future invoices are paid: save a card (Stripe's element, a SetupIntent) or
    sign a recurrent SEPA mandate. Only an account link opens it (an invoice link concerns one invoice)."""
    now = clock()
    try:
        customer, only = _scope(token, now)
    except DomainError:
        return _refused(request)
    if only is not None:
        return _refused(request)
    back = f"/p/{token}"
    here = f"{back}/methods"
    language = _language(request, customer)
    if request.method == "GET":
        return _private(render(request, "portal/methods.html",
                               {"page": paynow.methods_page(customer, back=back, language=language)}))
    try:
        if request.POST.get("action") == "card" and paynow.card_offered():
            setup = checkout_svc.start_setup(customer)
            return HttpResponseRedirect(f"{here}/{setup.setup_ref}")
        if request.POST.get("action") == "mandate":
            mandate = checkout_svc.sign_standing_mandate(
                customer, debtor_name=request.POST.get("holder", ""), iban=request.POST.get("iban", ""),
                bic=request.POST.get("bic", ""), consent=request.POST.get("consent") == "on",
                signed_on=services._local_day(customer, now))
            page = paynow.methods_page(customer, back=back, language=language)
            page.signed = page.words["mandate_signed"].format(reference=mandate.reference,
                                                              iban=paynow.mask_iban(mandate.iban))
            return _private(render(request, "portal/methods.html", {"page": page}))
        raise ValidationError("Choose how you want to pay.", code="invalid_choice")
    except ProviderError:
        error = paynow.words_for(language)["unavailable"]
    except DomainError as err:
        error = paynow.error_message(err, language)
    page = paynow.methods_page(customer, back=back, error=error, language=language)
    return _private(render(request, "portal/methods.html", {"page": page}, status=400))


@require_GET
def method_setup(request, token: str, setup_ref: str):
    """A card being saved: Stripe's element until the setup succeeds, then the saved card (survives a reload)."""
    now = clock()
    try:
        customer, only = _scope(token, now)
        if only is not None:
            raise ValidationError("An invoice link does not set up methods.")
        setup = checkout_svc.setup_of(customer, setup_ref[:255])
    except ProviderError:
        language = _language(request, customer)
        page = paynow.methods_page(customer, back=f"/p/{token}", language=language,
                                   error=paynow.words_for(language)["unavailable"])
        return _private(render(request, "portal/methods.html", {"page": page}))
    except DomainError:
        return _refused(request)
    language = _language(request, customer)
    page = paynow.methods_page(customer, back=f"/p/{token}", language=language)
    saved = checkout_svc.finish_setup(customer, setup) if setup.status == "succeeded" else None
    if saved is not None:
        page = paynow.methods_page(customer, back=f"/p/{token}", language=language)
        page.saved = page.words["card_saved"].format(method=paynow.describe_saved(saved, language=language))
    elif setup.client_secret:
        page.stripe = {"js": settings.DULY_STRIPE_JS_URL, "key": settings.DULY_STRIPE_PUBLISHABLE_KEY,
                       "secret": setup.client_secret, "return_url": f"/p/{token}/methods/{setup.setup_ref}"}
    return _private(render(request, "portal/methods.html", {"page": page}))
