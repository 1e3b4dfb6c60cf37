"""Why an automatic payment did not go through, in the customer's language (the words of decline explanations).

A decline code (a card issuer's, as Stripe reports it, or a SEPA R-transaction's ISO reason) is grouped into
what the customer can understand and act on; :func:`decline_text` gives that sentence in each language the
message templates are written in (en, fr, de, es, ru; gettext catalogue in duly/messaging/locale), English for
any other. The grouping follows
:mod:`duly.domain.retries` (hard declines need another method, soft ones may pass later).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy, override, pgettext

from duly.domain.errors import DomainError
from duly.domain.retries import classify

from .formatting import DEFAULT_LANGUAGE, LANGUAGES

__all__ = ["decline_group", "decline_text", "method_word"]

_CARD_GROUPS = {
    "insufficient_funds": "funds",
    "card_velocity_exceeded": "limit", "withdrawal_count_limit_exceeded": "limit",
    "processing_error": "technical", "try_again_later": "technical", "issuer_not_available": "technical",
    "reenter_transaction": "technical",
    "authentication_required": "authentication",
}
_SEPA_GROUPS = {  # every reason code of duly.domain.retries.SEPA_REASONS
    "AM04": "funds", "MS03": "issuer",
    "AC04": "account", "AC06": "account", "AC13": "account", "AG01": "account", "DNOR": "account",
    "MD07": "account",
    "AC01": "details", "RC01": "details", "RR01": "details", "RR02": "details",
    "MD01": "mandate", "SL01": "mandate",
    "MS02": "refused", "MD06": "refused",
    "AM05": "creditor", "AG02": "creditor", "BE05": "creditor", "CNOR": "creditor", "FF01": "creditor",
    "MD02": "creditor", "RR03": "creditor", "RR04": "creditor",
}

#: What each group of reasons says to the customer (English message ids; duly/messaging/locale).
_REASONS = {
    "funds": gettext_lazy("there were not enough funds on the account"),
    "limit": gettext_lazy("the card's spending limit was reached"),
    "issuer": gettext_lazy("your bank declined the payment without giving a reason"),
    "technical": gettext_lazy("a technical problem at the bank prevented the payment"),
    "authentication": gettext_lazy("your bank asks you to confirm the payment (3-D Secure)"),
    "card": gettext_lazy("the card can no longer be used (reported lost or stolen, expired, blocked or replaced)"),
    "account": gettext_lazy("the bank account is closed, blocked or does not accept direct debits"),
    "mandate": gettext_lazy("the direct debit mandate is no longer valid, or the debit was refused"),
    "details": gettext_lazy("the bank details of the direct debit (IBAN or BIC) are wrong or incomplete"),
    "refused": gettext_lazy("the direct debit was refused, or its refund asked for, on your account"),
    "creditor": gettext_lazy("the direct debit could not be processed because of an error on our side"),
    "other": gettext_lazy("the payment was declined"),
}


def decline_group(rail: str, code: str) -> str:
    """What kind of reason ``code`` is, for the customer: funds, limit, issuer, technical, authentication, card,
    account, details, mandate, refused, creditor or other."""
    if rail == "sepa":
        return _SEPA_GROUPS.get((code or "").strip().upper(), "other")
    key = (code or "").strip().lower()
    if key in _CARD_GROUPS:
        return _CARD_GROUPS[key]
    try:
        return "card" if classify("card", key).hard else "issuer"
    except DomainError:
        return "other"


def decline_text(language: str, rail: str, code: str) -> str:
    """The reason in ``language`` (English when the language has no templates), as a clause: "the card's ..."."""
    with override(language if language in LANGUAGES else DEFAULT_LANGUAGE):
        return str(_REASONS[decline_group(rail, code)])


def method_word(language: str, rail: str) -> str:
    """The kind of method that was charged, in ``language``: card or (SEPA) direct debit."""
    with override(language if language in LANGUAGES else DEFAULT_LANGUAGE):
        return pgettext("payment method", "direct debit") if rail == "sepa" else pgettext("payment method", "card")
