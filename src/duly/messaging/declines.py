"""Why an automatic payment did not go through, in the customer's language (the words of decline explanations).

A decline code (a card issuer's, as Stripe reports it, or a SEPA R-transaction's ISO reason) is grouped into
what the customer can understand and act on; :func:`decline_text` gives that sentence in each language the
message templates are written in (en, fr, de, es, ru), English for any other. The grouping follows
:mod:`duly.domain.retries` (hard declines need another method, soft ones may pass later).
"""

from __future__ import annotations

from duly.domain.errors import DomainError
from duly.domain.retries import classify

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

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "funds": "there were not enough funds on the account",
        "limit": "the card's spending limit was reached",
        "issuer": "your bank declined the payment without giving a reason",
        "technical": "a technical problem at the bank prevented the payment",
        "authentication": "your bank asks you to confirm the payment (3-D Secure)",
        "card": "the card can no longer be used (reported lost or stolen, expired, blocked or replaced)",
        "account": "the bank account is closed, blocked or does not accept direct debits",
        "mandate": "the direct debit mandate is no longer valid, or the debit was refused",
        "details": "the bank details of the direct debit (IBAN or BIC) are wrong or incomplete",
        "refused": "the direct debit was refused, or its refund asked for, on your account",
        "creditor": "the direct debit could not be processed because of an error on our side",
        "other": "the payment was declined",
    },
    "fr": {
        "funds": "le compte n'était pas suffisamment approvisionné",
        "limit": "le plafond de dépenses de la carte était atteint",
        "issuer": "votre banque a refusé le paiement sans en donner la raison",
        "technical": "un incident technique chez la banque a empêché le paiement",
        "authentication": "votre banque vous demande de confirmer le paiement (3-D Secure)",
        "card": "la carte ne peut plus être utilisée (déclarée perdue ou volée, expirée, bloquée ou remplacée)",
        "account": "le compte bancaire est clôturé, bloqué ou n'accepte pas les prélèvements",
        "mandate": "le mandat de prélèvement n'est plus valable, ou le prélèvement a été refusé",
        "details": "les coordonnées bancaires du prélèvement (IBAN ou BIC) sont erronées ou incomplètes",
        "refused": "le prélèvement a été refusé, ou son remboursement demandé, sur votre compte",
        "creditor": "le prélèvement n'a pas pu être traité à cause d'une erreur de notre part",
        "other": "le paiement a été refusé",
    },
    "de": {
        "funds": "das Konto war nicht ausreichend gedeckt",
        "limit": "das Ausgabenlimit der Karte war erreicht",
        "issuer": "Ihre Bank hat die Zahlung ohne Angabe von Gründen abgelehnt",
        "technical": "ein technisches Problem bei der Bank hat die Zahlung verhindert",
        "authentication": "Ihre Bank bittet Sie, die Zahlung zu bestätigen (3-D Secure)",
        "card": "die Karte kann nicht mehr verwendet werden (als verloren oder gestohlen gemeldet, abgelaufen, "
                "gesperrt oder ersetzt)",
        "account": "das Bankkonto ist aufgelöst, gesperrt oder nimmt keine Lastschriften an",
        "mandate": "das Lastschriftmandat ist nicht mehr gültig, oder der Lastschrift wurde widersprochen",
        "details": "die Bankverbindung der Lastschrift (IBAN oder BIC) ist falsch oder unvollständig",
        "refused": "der Lastschrift wurde auf Ihrem Konto widersprochen, oder ihre Erstattung verlangt",
        "creditor": "die Lastschrift konnte wegen eines Fehlers auf unserer Seite nicht ausgeführt werden",
        "other": "die Zahlung wurde abgelehnt",
    },
    "es": {
        "funds": "la cuenta no tenía fondos suficientes",
        "limit": "se alcanzó el límite de gasto de la tarjeta",
        "issuer": "su banco rechazó el pago sin indicar el motivo",
        "technical": "un problema técnico del banco impidió el pago",
        "authentication": "su banco le pide que confirme el pago (3-D Secure)",
        "card": "la tarjeta ya no puede usarse (declarada perdida o robada, caducada, bloqueada o sustituida)",
        "account": "la cuenta bancaria está cerrada, bloqueada o no admite adeudos directos",
        "mandate": "la orden de domiciliación ya no es válida, o el adeudo fue rechazado",
        "details": "los datos bancarios del adeudo (IBAN o BIC) son erróneos o están incompletos",
        "refused": "el adeudo fue rechazado, o se pidió su devolución, en su cuenta",
        "creditor": "el adeudo no pudo procesarse por un error por nuestra parte",
        "other": "el pago fue rechazado",
    },
    "ru": {
        "funds": "на счёте было недостаточно средств",
        "limit": "был достигнут лимит расходов по карте",
        "issuer": "ваш банк отклонил платёж без объяснения причины",
        "technical": "платёж не прошёл из-за технической проблемы в банке",
        "authentication": "ваш банк просит подтвердить платёж (3-D Secure)",
        "card": "карту больше нельзя использовать (заявлена как утерянная или украденная, истёк срок, "
                "заблокирована или заменена)",
        "account": "банковский счёт закрыт, заблокирован или не принимает прямые дебеты",
        "mandate": "мандат на прямой дебет недействителен, или списание было отклонено",
        "details": "банковские реквизиты для прямого дебета (IBAN или BIC) неверны или неполны",
        "refused": "списание было отклонено или по нему запрошен возврат с вашего счёта",
        "creditor": "прямой дебет не удалось провести из-за ошибки с нашей стороны",
        "other": "платёж был отклонён",
    },
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
    words = _WORDS.get(language) or _WORDS["en"]
    return words[decline_group(rail, code)]


_METHODS = {
    "en": {"card": "card", "sepa": "direct debit"},
    "fr": {"card": "carte", "sepa": "prélèvement SEPA"},
    "de": {"card": "Karte", "sepa": "SEPA-Lastschrift"},
    "es": {"card": "tarjeta", "sepa": "adeudo directo SEPA"},
    "ru": {"card": "карта", "sepa": "прямой дебет SEPA"},
}


def method_word(language: str, rail: str) -> str:
    """The kind of method that was charged, in ``language``: card or (SEPA) direct debit."""
    return (_METHODS.get(language) or _METHODS["en"])["sepa" if rail == "sepa" else "card"]
