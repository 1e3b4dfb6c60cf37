"""Short labels (table headings, buttons, sign-offs) passed to message templates as ``t``.

The prose of each message lives in its template file; the labels shared by every message live here so
the tables look the same in every message of a language. The English words are gettext message ids
(context ``message label``); their translations are in ``duly/messaging/locale/<lang>/LC_MESSAGES/django.po``.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType
from typing import Mapping

from django.utils.translation import override, pgettext_lazy

from .formatting import DEFAULT_LANGUAGE, LANGUAGES

#: Label key (what templates write: ``t.invoice``) -> its English text, translated when read.
LABEL_IDS = MappingProxyType({
    "autopay_failed": pgettext_lazy("message label", "Automatic payment declined"),
    "not_due_yet": pgettext_lazy("message label", "Not due yet, to pay by its own due date"),
    "also_sent": pgettext_lazy("message label", "Also sent with this e-mail"),
    "credit_note": pgettext_lazy("message label", "Credit note"),
    "deposit_invoice": pgettext_lazy("message label", "Deposit invoice"),
    "late_fee_invoice": pgettext_lazy("message label", "Late-payment invoice"),
    "attached": pgettext_lazy("message label", "Attached"),
    "total": pgettext_lazy("message label", "Total"),
    "prepaid": pgettext_lazy("message label", "Already deducted"),
    "po_number": pgettext_lazy("message label", "PO number"),
    "invoice": pgettext_lazy("message label", "Invoice"),
    "issued": pgettext_lazy("message label", "Issued"),
    "due": pgettext_lazy("message label", "Due date"),
    "amount": pgettext_lazy("message label", "Amount"),
    "balance": pgettext_lazy("message label", "Balance due"),
    "days_overdue": pgettext_lazy("message label", "Days overdue"),
    "days_to_due": pgettext_lazy("message label", "Due in (days)"),
    "total_due": pgettext_lazy("message label", "Total due"),
    "pay_now": pgettext_lazy("message label", "View and pay online"),
    "view": pgettext_lazy("message label", "View your account"),
    "late_terms": pgettext_lazy("message label", "Late-payment terms"),
    "period": pgettext_lazy("message label", "Period"),
    "service_date": pgettext_lazy("message label", "Service date"),
    "regards": pgettext_lazy("message label", "Kind regards,"),
    "payment": pgettext_lazy("message label", "Payment"),
    "received_on": pgettext_lazy("message label", "Received on"),
    "paid_for": pgettext_lazy("message label", "What this payment covered"),
    "reference": pgettext_lazy("message label", "Reference"),
    "date": pgettext_lazy("message label", "Date"),
    "reminder": pgettext_lazy("message label", "Reminder"),
    "bank": pgettext_lazy("message label", "Bank transfer"),
    "usage": pgettext_lazy("message label", "Usage"),
    "credit_left": pgettext_lazy("message label", "Credit remaining on your account"),
    "colon": pgettext_lazy("message label", ":"),
    "retainer_left": pgettext_lazy("message label", "Retainer (prepaid) balance"),
    "interest_accrued": pgettext_lazy("message label", "Late-payment interest accrued to date, not yet invoiced"),
})


@lru_cache(maxsize=len(LANGUAGES) + 1)
def labels(language: str) -> Mapping[str, str]:
    """Every label in ``language`` (English for a language messages are not written in)."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    with override(language):
        return MappingProxyType({key: str(text) for key, text in LABEL_IDS.items()})


#: How a message names the method a payment came by (``Payment.method``), translated when read.
METHOD_NAMES = MappingProxyType({
    "card": pgettext_lazy("payment method", "Card"),
    "bank_transfer": pgettext_lazy("payment method", "Bank transfer"),
    "sepa_debit": pgettext_lazy("payment method", "SEPA direct debit"),
    "ach_debit": pgettext_lazy("payment method", "ACH debit"),
    "paypal": pgettext_lazy("payment method", "PayPal"),
    "check": pgettext_lazy("payment method", "Check"),
    "cash": pgettext_lazy("payment method", "Cash"),
    "credit": pgettext_lazy("payment method", "Customer credit"),
})


def method_name(language: str, method: str, default: str = "") -> str:
    """``bank_transfer`` -> "Virement bancaire" in French; ``default`` (or the code) for a method with no name."""
    if method not in METHOD_NAMES:
        return default or method
    with override(language if language in LANGUAGES else DEFAULT_LANGUAGE):
        return str(METHOD_NAMES[method])
