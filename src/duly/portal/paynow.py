"""What the pay-now pages of a personal link show (``/p/<token>/pay`` and ``/p/<token>/pay/<checkout>``).

Readers only: the writes (starting a payment, signing a mandate, recording what the provider reports) are
:mod:`duly.payments.checkout_services`'. Everything is scoped by the link's token to one customer (and to one
invoice for an invoice link); a checkout of another customer is "not found", like a forged link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy, override, pgettext_lazy

from duly.customers.links import REFUSED
from duly.customers.models import Customer
from duly.domain.errors import DomainError, PayLinkRefused
from duly.domain.money import from_minor
from duly.domain.references import format_rf
from duly.invoicing.models import Invoice
from duly.messaging.formatting import DEFAULT_LANGUAGE, LANGUAGES, Formatter
from duly.payments import checkout_services as checkout_svc
from duly.payments.models import Checkout

#: The pay-now and methods pages' words: English message ids, context ``portal``, translated in duly/portal/locale.
WORDS = {
    "pay_title": pgettext_lazy("portal", "Pay now"),
    "back": pgettext_lazy("portal", "Back to your account"),
    "choose": pgettext_lazy("portal", "Invoices to pay"),
    "amount": pgettext_lazy("portal", "Amount to pay"),
    "amount_help": pgettext_lazy("portal",
        "Leave it as it is to pay the invoices you chose in full; a smaller amount is applied to the "
        "oldest invoice first."),
    "method": pgettext_lazy("portal", "How do you want to pay?"),
    "card": pgettext_lazy("portal", "Card or wallet"),
    "sepa_mandate": pgettext_lazy("portal", "SEPA direct debit (sign a mandate)"),
    "bank_transfer": pgettext_lazy("portal", "Bank transfer"),
    "future": pgettext_lazy("portal", "Use this method for future invoices"),
    "continue": pgettext_lazy("portal", "Continue"),
    "pay_button": pgettext_lazy("portal", "Pay"),
    "status_open": pgettext_lazy("portal", "Waiting for your payment"),
    "status_processing": pgettext_lazy("portal", "Processing"),
    "status_paid": pgettext_lazy("portal", "Paid. Thank you!"),
    "status_failed": pgettext_lazy("portal", "The payment failed"),
    "processing_card": pgettext_lazy("portal",
        "Your payment is being processed. This page shows the result when it is known; you can reload"
        " it."),
    "receipt": pgettext_lazy("portal", "Download the receipt"),
    "retry": pgettext_lazy("portal", "You can try again with another card."),
    "mandate_title": pgettext_lazy("portal", "SEPA Direct Debit Mandate"),
    "holder": pgettext_lazy("portal", "Account holder"),
    "iban": pgettext_lazy("portal", "IBAN"),
    "bic": pgettext_lazy("portal", "BIC (optional)"),
    "consent_box": pgettext_lazy("portal", "I authorise this direct debit mandate"),
    "sign": pgettext_lazy("portal", "Sign the mandate"),
    "mandate_kind_recurrent": pgettext_lazy("portal", "Recurrent payment"),
    "mandate_kind_one_off": pgettext_lazy("portal", "One-off payment"),
    "creditor": pgettext_lazy("portal", "Creditor"),
    "creditor_id": pgettext_lazy("portal", "Creditor identifier"),
    "mandate_ref": pgettext_lazy("portal", "Mandate reference"),
    "signed": pgettext_lazy("portal", "Signed on {date} in {place}"),
    "debited": pgettext_lazy("portal",
        "The amount will be debited from {iban} under mandate {reference} (creditor identifier "
        "{creditor}), on the due date or, for an overdue invoice, at the next collection."),
    "transfer_intro": pgettext_lazy("portal", "Transfer each amount below to:"),
    "beneficiary": pgettext_lazy("portal", "Beneficiary"),
    "reference": pgettext_lazy("portal", "Reference"),
    "transfer_wait": pgettext_lazy("portal", "We mark the invoices paid as soon as your transfer arrives."),
    "qr": pgettext_lazy("portal", "Scan with your banking app"),
    "unavailable": pgettext_lazy("portal",
        "Card payments are not available right now. Please try again in a few minutes, or choose "
        "another method."),
    "total": pgettext_lazy("portal", "Total"),
    "methods_title": pgettext_lazy("portal", "How you pay future invoices"),
    "methods_link": pgettext_lazy("portal", "Set up automatic payment"),
    "current": pgettext_lazy("portal", "Now: {method}"),
    "save_card": pgettext_lazy("portal", "Save a card for automatic payment"),
    "save": pgettext_lazy("portal", "Save this card"),
    "card_saved": pgettext_lazy("portal", "Saved: {method}. Future invoices will be charged to it on their due date."),
    "mandate_signed": pgettext_lazy("portal",
        "Mandate {reference} signed: future invoices will be debited from {iban}."),
    "sign_standing": pgettext_lazy("portal", "Or sign a SEPA direct debit mandate"),
    "changed": pgettext_lazy("portal",
        "The invoices of this payment changed since you started it (paid or cancelled meanwhile)."),
    "restart": pgettext_lazy("portal", "Start a new payment"),
}

#: The consent text of the SEPA Core mandate (EPC SDD Core rulebook, annex: the mandate's mandatory wording).
CONSENT = gettext_lazy(
    "By signing this mandate form, you authorise (A) {creditor} to send instructions to your bank to "
    "debit your account and (B) your bank to debit your account in accordance with the instructions from "
    "{creditor}. As part of your rights, you are entitled to a refund from your bank under the terms and "
    "conditions of your agreement with your bank. A refund must be claimed within 8 weeks starting from "
    "the date on which your account was debited. Your rights are explained in a statement that you can "
    "obtain from your bank."
)

#: What the customer reads for each error code; any other error reads ``generic``: never an internal detail (a key,
#: a path, a provider's answer).
ERRORS = {
    "overpayment": pgettext_lazy("portal error",
        "The amount is more than what is open on the invoices you chose ({due}). Enter at most that "
        "amount."),
    "invalid_amount": pgettext_lazy("portal error", "Enter the amount as a number, for example 120.50."),
    "amount_decimals": pgettext_lazy("portal error", "The amount has more decimals than the currency allows."),
    "amount_not_positive": pgettext_lazy("portal error", "The amount must be more than zero."),
    "amount_too_large": pgettext_lazy("portal error", "The amount is too large."),
    "invoice_not_open": pgettext_lazy("portal error",
        "One of the chosen invoices is not open any more; reload the page."),
    "nothing_open": pgettext_lazy("portal error", "Nothing is open on your account."),
    "several_currencies": pgettext_lazy("portal error", "Choose invoices in one currency per payment."),
    "sepa_not_euro": pgettext_lazy("portal error", "Direct debit is only possible for invoices in euro."),
    "sepa_one_invoice": pgettext_lazy("portal error",
        "A one-off direct debit pays one invoice: choose one, or tick \"Use this method for future "
        "invoices\"."),
    "sepa_full_amount": pgettext_lazy("portal error",
        "A direct debit takes what the invoices owe: leave the amount as it is, or choose another "
        "method."),
    "invalid_choice": pgettext_lazy("portal error", "Choose how you want to pay."),
    "sepa_not_configured": pgettext_lazy("portal error", "Choose how you want to pay."),
    "mandate_consent_missing": pgettext_lazy("portal error", "Tick the box to authorise the direct debit."),
    "mandate_name_missing": pgettext_lazy("portal error", "Enter the account holder's name."),
    "invalid_iban": pgettext_lazy("portal error", "This IBAN is not valid. Check it and try again."),
    "invalid_bic": pgettext_lazy("portal error", "This BIC is not valid. Check it, or leave it empty."),
    "payment_not_applied": pgettext_lazy("portal error",
        "Your payment was received. We will apply it to your account shortly, or contact you."),
    "generic": pgettext_lazy("portal error", "This could not be done. Please check what you entered, or contact us."),
}
GENERIC_ERROR = "This could not be done. Please check what you entered, or contact us."


def words_for(language: str) -> dict[str, str]:
    """The pages' words in ``language`` (English for a language the portal is not written in)."""
    with override(language if language in LANGUAGES else DEFAULT_LANGUAGE):
        return {key: str(text) for key, text in WORDS.items()}


def consent_text(language: str, creditor: str) -> str:
    with override(language if language in LANGUAGES else DEFAULT_LANGUAGE):
        return str(CONSENT).format(creditor=creditor)


def error_message(err: DomainError, language: str = "en", due: str = "") -> str:
    """What the customer reads for ``err``, in their language: a clear sentence, never an internal detail."""
    with override(language if language in LANGUAGES else DEFAULT_LANGUAGE):
        text = str(ERRORS.get(err.code, ERRORS["generic"]))
    return text.format(due=due or "—")


@dataclass
class PayForm:
    language: str
    words: dict[str, str]
    org: Any
    customer: Customer
    invoices: list[dict[str, Any]]
    total: str
    total_plain: str
    methods: list[tuple[str, str]]
    back: str
    error: str = ""
    chosen: set[str] = field(default_factory=set)
    amount: str = ""
    method: str = ""


def card_offered() -> bool:
    return bool(getattr(settings, "DULY_STRIPE_PUBLISHABLE_KEY", "") and getattr(settings, "DULY_STRIPE_SECRET_KEY", ""))


def page_formatter(customer: Customer, language: str | None = None) -> Formatter:
    """The formats and language of a page: the language chosen for the session on the self-service pages
    (``language``, see :func:`duly.portal.selfservice_pages.chosen_language`), else the customer's own locale."""
    fmt = Formatter.for_locale(customer.locale)
    if language in LANGUAGES and language != fmt.language:
        fmt = Formatter.for_locale(language)
    return fmt


def _words(customer: Customer, language: str | None = None) -> tuple[Formatter, dict[str, str]]:
    fmt = page_formatter(customer, language)
    return fmt, words_for(fmt.language)


def pay_form(customer: Customer, *, only: int | None, back: str, language: str | None = None) -> PayForm:
    """The open invoices the customer may pay now, and the methods offered (in the session's ``language``)."""
    fmt, words = _words(customer, language)
    rows = checkout_svc.open_invoices(customer, only=only)
    org = customer.organization
    invoices = [{"id": str(inv.pk), "number": inv.number, "due_date": fmt.date(inv.due_date) if inv.due_date else "",
                 "balance": fmt.money(inv.balance_minor, inv.currency), "currency": inv.currency,
                 "balance_plain": str(from_minor(inv.balance_minor, inv.currency))} for inv in rows]
    currencies = {inv.currency for inv in rows}
    total_minor = sum(inv.balance_minor for inv in rows)
    currency = next(iter(currencies)) if len(currencies) == 1 else ""
    methods = []
    if card_offered():
        methods.append((Checkout.CARD, words["card"]))
    if checkout_svc.creditor_of(org) is not None and currencies <= {"EUR"}:
        methods.append((Checkout.SEPA_MANDATE, words["sepa_mandate"]))
    if org.iban:
        methods.append((Checkout.TRANSFER, words["bank_transfer"]))
    return PayForm(fmt.language, words, org, customer, invoices,
                   fmt.money(total_minor, currency) if currency else "",
                   str(from_minor(total_minor, currency)) if currency else "", methods, back,
                   chosen={i["id"] for i in invoices}, method=methods[0][0] if methods else "")


def find_checkout(customer: Customer, public_id: str, *, only: int | None = None) -> Checkout:
    """The customer's checkout named ``public_id``; another customer's (or none) is refused like a bad link, and
    so is, for an invoice link (``only``), a checkout of the customer's other invoices."""
    checkout = (Checkout.objects.select_related("organization", "customer", "payment", "mandate")
                .filter(organization_id=customer.organization_id, customer=customer, public_id=str(public_id)[:40])
                .first())
    if checkout is None or (only is not None and not set(checkout.plan) <= {str(only)}):
        raise PayLinkRefused(REFUSED)
    return checkout


def _qr_svg(org, amount, reference: str, currency: str) -> str:
    if currency != "EUR" or not org.iban:
        return ""
    from duly.invoicing.documents.adapter import epc_qr

    try:
        qr = epc_qr(name=org.name, iban=org.iban, bic=org.bic or "", amount=amount, reference=reference)
    except ValueError:
        return ""
    return qr.svg_data_uri(scale=4)


@dataclass
class StatusPage:
    language: str
    words: dict[str, str]
    org: Any
    customer: Customer
    checkout: Checkout
    status_label: str
    amount: str
    invoices: list[dict[str, Any]]
    back: str
    stripe: dict[str, str] = field(default_factory=dict)
    mandate: dict[str, Any] = field(default_factory=dict)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    receipt: str = ""
    #: The pay-now page, when this payment cannot go on and the customer must start again.
    restart: str = ""


def status_page(checkout: Checkout, *, back: str, base: str, error: str = "",
                language: str | None = None) -> StatusPage:
    """Where a payment stands, in the session's ``language`` (else the customer's)."""
    fmt, words = _words(checkout.customer, language)
    org, currency = checkout.organization, checkout.currency
    by_id = {inv.pk: inv for inv in Invoice.objects.filter(organization=org, customer=checkout.customer,
                                                           pk__in=[int(k) for k in checkout.plan])}
    invoices = []
    # Paid or voided by another route (another tab, a transfer) since the payment started: paying it now would
    # pay those invoices twice, so the payment element is not offered any more.
    stale = checkout_svc.plan_changed(checkout)
    for key, minor in checkout.plan.items():
        inv = by_id.get(int(key))
        if inv is None:
            continue
        invoices.append({"number": inv.number, "amount": fmt.money(minor, currency), "minor": minor,
                         "reference": format_rf(inv.rf_reference) if inv.rf_reference else inv.number,
                         "raw_reference": inv.rf_reference or inv.number or ""})
    page = StatusPage(fmt.language, words, org, checkout.customer, checkout, words[f"status_{checkout.status}"],
                      fmt.money(checkout.amount_minor, currency), invoices, back, error=error)
    if checkout.payment_id:
        page.receipt = f"{base}/receipt"
    payable = checkout.status in (Checkout.OPEN, Checkout.FAILED)
    if checkout.method == Checkout.CARD and payable and stale:
        page.error, page.restart = words["changed"], base.rsplit("/", 1)[0]
    elif checkout.method == Checkout.CARD and checkout.client_secret and payable:
        page.stripe = {"js": settings.DULY_STRIPE_JS_URL, "key": settings.DULY_STRIPE_PUBLISHABLE_KEY,
                       "secret": checkout.client_secret, "return_url": base}
    if checkout.method == Checkout.SEPA_MANDATE:
        creditor = checkout_svc.creditor_of(org)
        creditor_name = org.name
        mandate = checkout.mandate
        page.mandate = {
            "creditor": creditor_name, "address": ", ".join(org.address_lines),
            "creditor_id": creditor.creditor_id if creditor else "",
            "reference": mandate.reference if mandate else checkout_svc.mandate_reference(checkout),
            "kind": words["mandate_kind_recurrent"] if checkout.save_for_future else words["mandate_kind_one_off"],
            "consent": consent_text(fmt.language, creditor_name),
            "place": checkout.customer.city, "signed": mandate is not None,
        }
        if mandate is not None:
            masked = f"{mandate.iban[:4]} •••• {mandate.iban[-4:]}"
            page.mandate["signed_text"] = words["signed"].format(date=fmt.date(mandate.signed_on),
                                                                 place=mandate.signed_at or "—")
            page.mandate["debited"] = words["debited"].format(iban=masked, reference=mandate.reference,
                                                              creditor=page.mandate["creditor_id"])
    if checkout.method == Checkout.TRANSFER:
        for row in invoices:
            page.transfers.append({**row, "qr": _qr_svg(org, from_minor(row["minor"], currency),
                                                        row["raw_reference"], currency)})
    return page


# --- how future invoices are paid (the customer's side of saved methods) ---------------------------------------

#: How the customer pays by default (``Customer.preferred_payment_method``), as the methods page names it.
PREFERRED = {
    "card": pgettext_lazy("payment method", "card"),
    "sepa_debit": pgettext_lazy("payment method", "SEPA direct debit"),
    "bank_transfer": pgettext_lazy("payment method", "bank transfer"),
}


def preferred_word(language: str, method: str) -> str:
    with override(language if language in LANGUAGES else DEFAULT_LANGUAGE):
        return str(PREFERRED[method]) if method in PREFERRED else method


def describe_saved(method, provider=None, language: str = DEFAULT_LANGUAGE) -> str:
    """``Visa •••• 4242`` as the provider describes the saved method; its kind in ``language`` when the provider
    cannot say."""
    from duly.payments.providers import registry

    try:
        return (provider or registry.get(method.provider)).saved_method(method.method_ref).describe()
    except DomainError:
        return preferred_word(language, "sepa_debit" if method.kind == "sepa_debit" else "card")


def mask_iban(iban: str) -> str:
    return f"{iban[:4]} •••• {iban[-4:]}" if iban else ""


@dataclass
class MethodsPage:
    language: str
    words: dict[str, str]
    org: Any
    customer: Customer
    back: str
    current: str
    card: bool
    mandate: dict[str, Any] = field(default_factory=dict)
    stripe: dict[str, str] = field(default_factory=dict)
    saved: str = ""
    signed: str = ""
    error: str = ""


def methods_page(customer: Customer, *, back: str, error: str = "", language: str | None = None) -> MethodsPage:
    """How future invoices are paid, in the session's ``language`` (else the customer's)."""
    from duly.payments.models import Mandate, SavedPaymentMethod

    fmt, words = _words(customer, language)
    org = customer.organization
    default = SavedPaymentMethod.objects.filter(customer=customer, is_default=True).first()
    mandate = (Mandate.objects.filter(customer=customer, organization=org, revoked_at__isnull=True,
                                      kind=Mandate.RECURRENT).order_by("-signed_on", "-pk").first())
    preferred = customer.preferred_payment_method
    if preferred in ("card",) and default is not None:
        method = describe_saved(default, language=fmt.language)
    elif preferred == "sepa_debit" and mandate is not None:
        method = f"{preferred_word(fmt.language, 'sepa_debit')} ({mask_iban(mandate.iban)})"
    else:
        method = preferred_word(fmt.language, preferred)
    page = MethodsPage(fmt.language, words, org, customer, back, words["current"].format(method=method),
                       card_offered(), error=error)
    creditor = checkout_svc.creditor_of(org)
    if creditor is not None:
        page.mandate = {"creditor": org.name, "address": ", ".join(org.address_lines), "creditor_id": creditor.creditor_id,
                        "kind": words["mandate_kind_recurrent"], "place": customer.city,
                        "consent": consent_text(fmt.language, org.name)}
    return page
