"""What the pay-now pages of a personal link show (``/p/<token>/pay`` and ``/p/<token>/pay/<checkout>``).

Readers only: the writes (starting a payment, signing a mandate, recording what the provider reports) are
:mod:`duly.payments.checkout_services`'. Everything is scoped by the link's token to one customer (and to one
invoice for an invoice link); a checkout of another customer is "not found", like a forged link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from duly.customers.links import REFUSED
from duly.customers.models import Customer
from duly.domain.errors import DomainError, PayLinkRefused
from duly.domain.money import from_minor
from duly.domain.references import format_rf
from duly.invoicing.models import Invoice
from duly.messaging.formatting import Formatter
from duly.payments import checkout_services as checkout_svc
from duly.payments.models import Checkout

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "pay_title": "Pay now", "back": "Back to your account", "choose": "Invoices to pay",
        "amount": "Amount to pay", "amount_help": "Leave it as it is to pay the invoices you chose in full; a smaller "
        "amount is applied to the oldest invoice first.", "method": "How do you want to pay?",
        "card": "Card or wallet", "sepa_mandate": "SEPA direct debit (sign a mandate)",
        "bank_transfer": "Bank transfer", "future": "Use this method for future invoices", "continue": "Continue",
        "pay_button": "Pay", "status_open": "Waiting for your payment", "status_processing": "Processing",
        "status_paid": "Paid. Thank you!", "status_failed": "The payment failed",
        "processing_card": "Your payment is being processed. This page shows the result when it is known; you can "
        "reload it.", "receipt": "Download the receipt", "retry": "You can try again with another card.",
        "mandate_title": "SEPA Direct Debit Mandate", "holder": "Account holder", "iban": "IBAN", "bic": "BIC (optional)",
        "consent_box": "I authorise this direct debit mandate", "sign": "Sign the mandate",
        "mandate_kind_recurrent": "Recurrent payment", "mandate_kind_one_off": "One-off payment",
        "creditor": "Creditor", "creditor_id": "Creditor identifier", "mandate_ref": "Mandate reference",
        "signed": "Signed on {date} in {place}", "debited": "The amount will be debited from {iban} under mandate "
        "{reference} (creditor identifier {creditor}), on the due date or, for an overdue invoice, at the next "
        "collection.", "transfer_intro": "Transfer each amount below to:", "beneficiary": "Beneficiary",
        "reference": "Reference", "transfer_wait": "We mark the invoices paid as soon as your transfer arrives.",
        "qr": "Scan with your banking app", "unavailable": "Card payments are not available right now. Please try "
        "again in a few minutes, or choose another method.", "total": "Total",
        "methods_title": "How you pay future invoices", "methods_link": "Set up automatic payment",
        "current": "Now: {method}", "save_card": "Save a card for automatic payment", "save": "Save this card",
        "card_saved": "Saved: {method}. Future invoices will be charged to it on their due date.",
        "mandate_signed": "Mandate {reference} signed: future invoices will be debited from {iban}.",
        "sign_standing": "Or sign a SEPA direct debit mandate",
        "changed": "The invoices of this payment changed since you started it (paid or cancelled meanwhile).",
        "restart": "Start a new payment",
    },
    "fr": {
        "pay_title": "Payer maintenant", "back": "Retour à votre compte", "choose": "Factures à payer",
        "amount": "Montant à payer", "amount_help": "Laissez-le tel quel pour payer entièrement les factures choisies ; "
        "un montant inférieur est imputé d'abord à la facture la plus ancienne.",
        "method": "Comment souhaitez-vous payer ?", "card": "Carte ou portefeuille",
        "sepa_mandate": "Prélèvement SEPA (signer un mandat)", "bank_transfer": "Virement bancaire",
        "future": "Utiliser ce moyen pour les prochaines factures", "continue": "Continuer", "pay_button": "Payer",
        "status_open": "En attente de votre paiement", "status_processing": "En cours de traitement",
        "status_paid": "Payé. Merci !", "status_failed": "Le paiement a échoué",
        "processing_card": "Votre paiement est en cours de traitement. Cette page affiche le résultat dès qu'il est "
        "connu ; vous pouvez la recharger.", "receipt": "Télécharger le reçu",
        "retry": "Vous pouvez réessayer avec une autre carte.", "mandate_title": "Mandat de prélèvement SEPA",
        "holder": "Titulaire du compte", "iban": "IBAN", "bic": "BIC (facultatif)",
        "consent_box": "J'autorise ce mandat de prélèvement", "sign": "Signer le mandat",
        "mandate_kind_recurrent": "Paiement récurrent", "mandate_kind_one_off": "Paiement ponctuel",
        "creditor": "Créancier", "creditor_id": "Identifiant créancier SEPA", "mandate_ref": "Référence unique du mandat",
        "signed": "Signé le {date} à {place}", "debited": "Le montant sera prélevé sur {iban} au titre du mandat "
        "{reference} (identifiant créancier {creditor}), à l'échéance ou, pour une facture échue, au prochain "
        "prélèvement.", "transfer_intro": "Virez chaque montant ci-dessous à :", "beneficiary": "Bénéficiaire",
        "reference": "Référence", "transfer_wait": "Les factures sont marquées payées dès réception de votre virement.",
        "qr": "Scannez avec votre application bancaire", "unavailable": "Le paiement par carte est momentanément "
        "indisponible. Réessayez dans quelques minutes ou choisissez un autre moyen.", "total": "Total",
        "methods_title": "Comment vous réglez vos prochaines factures", "methods_link": "Mettre en place le paiement "
        "automatique", "current": "Actuellement : {method}", "save_card": "Enregistrer une carte pour le paiement "
        "automatique", "save": "Enregistrer cette carte",
        "card_saved": "Enregistrée : {method}. Les prochaines factures y seront débitées à leur échéance.",
        "mandate_signed": "Mandat {reference} signé : les prochaines factures seront prélevées sur {iban}.",
        "sign_standing": "Ou signez un mandat de prélèvement SEPA",
        "changed": "Les factures de ce paiement ont changé depuis que vous l'avez commencé (payées ou annulées "
                   "entre-temps).",
        "restart": "Commencer un nouveau paiement",
    },
}

#: The consent text of the SEPA Core mandate (EPC SDD Core rulebook, annex: the mandate's mandatory wording).
CONSENT = {
    "en": "By signing this mandate form, you authorise (A) {creditor} to send instructions to your bank to debit your "
          "account and (B) your bank to debit your account in accordance with the instructions from {creditor}. As "
          "part of your rights, you are entitled to a refund from your bank under the terms and conditions of your "
          "agreement with your bank. A refund must be claimed within 8 weeks starting from the date on which your "
          "account was debited. Your rights are explained in a statement that you can obtain from your bank.",
    "fr": "En signant ce formulaire de mandat, vous autorisez (A) {creditor} à envoyer des instructions à votre banque "
          "pour débiter votre compte, et (B) votre banque à débiter votre compte conformément aux instructions de "
          "{creditor}. Vous bénéficiez du droit d'être remboursé par votre banque selon les conditions décrites dans "
          "la convention que vous avez passée avec elle. Une demande de remboursement doit être présentée dans les 8 "
          "semaines suivant la date de débit de votre compte. Vos droits concernant le présent mandat sont expliqués "
          "dans un document que vous pouvez obtenir auprès de votre banque.",
}

#: What the customer reads for each error code, per language; any other error reads ``generic``: never an internal
#: detail (a key, a path, a provider's answer).
ERRORS: dict[str, dict[str, str]] = {
    "en": {
        "overpayment": "The amount is more than what is open on the invoices you chose ({due}). Enter at most that "
                       "amount.",
        "invalid_amount": "Enter the amount as a number, for example 120.50.",
        "amount_decimals": "The amount has more decimals than the currency allows.",
        "amount_not_positive": "The amount must be more than zero.", "amount_too_large": "The amount is too large.",
        "invoice_not_open": "One of the chosen invoices is not open any more; reload the page.",
        "nothing_open": "Nothing is open on your account.",
        "several_currencies": "Choose invoices in one currency per payment.",
        "sepa_not_euro": "Direct debit is only possible for invoices in euro.",
        "sepa_one_invoice": "A one-off direct debit pays one invoice: choose one, or tick \"Use this method for "
                            "future invoices\".",
        "sepa_full_amount": "A direct debit takes what the invoices owe: leave the amount as it is, or choose "
                            "another method.",
        "invalid_choice": "Choose how you want to pay.", "sepa_not_configured": "Choose how you want to pay.",
        "mandate_consent_missing": "Tick the box to authorise the direct debit.",
        "mandate_name_missing": "Enter the account holder's name.",
        "invalid_iban": "This IBAN is not valid. Check it and try again.",
        "invalid_bic": "This BIC is not valid. Check it, or leave it empty.",
        "payment_not_applied": "Your payment was received. We will apply it to your account shortly, or contact "
                               "you.",
        "generic": "This could not be done. Please check what you entered, or contact us.",
    },
    "fr": {
        "overpayment": "Le montant dépasse ce qui reste dû sur les factures choisies ({due}). Saisissez au plus ce "
                       "montant.",
        "invalid_amount": "Saisissez le montant en chiffres, par exemple 120,50.",
        "amount_decimals": "Le montant a plus de décimales que la devise n'en permet.",
        "amount_not_positive": "Le montant doit être supérieur à zéro.", "amount_too_large": "Le montant est trop élevé.",
        "invoice_not_open": "Une des factures choisies n'est plus à payer ; rechargez la page.",
        "nothing_open": "Rien n'est à payer sur votre compte.",
        "several_currencies": "Choisissez des factures d'une seule devise par paiement.",
        "sepa_not_euro": "Le prélèvement n'est possible que pour des factures en euros.",
        "sepa_one_invoice": "Un prélèvement ponctuel règle une seule facture : choisissez-en une, ou cochez « "
                            "Utiliser ce moyen pour les prochaines factures ».",
        "sepa_full_amount": "Un prélèvement prend ce que doivent les factures : laissez le montant tel quel, ou "
                            "choisissez un autre moyen.",
        "invalid_choice": "Choisissez un moyen de paiement.", "sepa_not_configured": "Choisissez un moyen de paiement.",
        "mandate_consent_missing": "Cochez la case pour autoriser le prélèvement.",
        "mandate_name_missing": "Saisissez le nom du titulaire du compte.",
        "invalid_iban": "Cet IBAN n'est pas valide. Vérifiez-le et réessayez.",
        "invalid_bic": "Ce BIC n'est pas valide. Vérifiez-le ou laissez-le vide.",
        "payment_not_applied": "Votre paiement a bien été reçu. Nous l'imputerons à votre compte sous peu, ou "
                               "nous vous contacterons.",
        "generic": "L'opération n'a pas pu aboutir. Vérifiez votre saisie ou contactez-nous.",
    },
}
GENERIC_ERROR = ERRORS["en"]["generic"]


def error_message(err: DomainError, language: str = "en", due: str = "") -> str:
    """What the customer reads for ``err``, in their language: a clear sentence, never an internal detail."""
    words = ERRORS.get(language, ERRORS["en"])
    text = words.get(err.code, words["generic"])
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


def _words(customer: Customer) -> tuple[Formatter, dict[str, str]]:
    fmt = Formatter.for_locale(customer.locale)
    return fmt, WORDS.get(fmt.language, WORDS["en"])


def pay_form(customer: Customer, *, only: int | None, back: str) -> PayForm:
    """The open invoices the customer may pay now, and the methods offered."""
    fmt, words = _words(customer)
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


def status_page(checkout: Checkout, *, back: str, base: str, error: str = "") -> StatusPage:
    fmt, words = _words(checkout.customer)
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
            "consent": CONSENT.get(fmt.language, CONSENT["en"]).format(creditor=creditor_name),
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

PREFERRED = {"en": {"card": "card", "sepa_debit": "SEPA direct debit", "bank_transfer": "bank transfer"},
             "fr": {"card": "carte", "sepa_debit": "prélèvement SEPA", "bank_transfer": "virement bancaire"}}


def describe_saved(method, provider=None) -> str:
    """``Visa •••• 4242`` as the provider describes the saved method; its kind when the provider cannot say."""
    from duly.payments.providers import registry

    try:
        return (provider or registry.get(method.provider)).saved_method(method.method_ref).describe()
    except DomainError:
        return "SEPA Direct Debit" if method.kind == "sepa_debit" else "Card"


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


def methods_page(customer: Customer, *, back: str, error: str = "") -> MethodsPage:
    from duly.payments.models import Mandate, SavedPaymentMethod

    fmt, words = _words(customer)
    org = customer.organization
    default = SavedPaymentMethod.objects.filter(customer=customer, is_default=True).first()
    mandate = (Mandate.objects.filter(customer=customer, organization=org, revoked_at__isnull=True,
                                      kind=Mandate.RECURRENT).order_by("-signed_on", "-pk").first())
    preferred = customer.preferred_payment_method
    if preferred in ("card",) and default is not None:
        method = describe_saved(default)
    elif preferred == "sepa_debit" and mandate is not None:
        method = f"{PREFERRED.get(fmt.language, PREFERRED['en'])['sepa_debit']} ({mask_iban(mandate.iban)})"
    else:
        method = PREFERRED.get(fmt.language, PREFERRED["en"]).get(preferred, preferred)
    page = MethodsPage(fmt.language, words, org, customer, back, words["current"].format(method=method),
                       card_offered(), error=error)
    creditor = checkout_svc.creditor_of(org)
    if creditor is not None:
        page.mandate = {"creditor": org.name, "address": ", ".join(org.address_lines), "creditor_id": creditor.creditor_id,
                        "kind": words["mandate_kind_recurrent"], "place": customer.city,
                        "consent": CONSENT.get(fmt.language, CONSENT["en"]).format(creditor=org.name)}
    return page
