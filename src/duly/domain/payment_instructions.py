"""How an invoice will actually be paid: card autopay, SEPA direct debit or bank transfer.

An invoice tells the customer one way its balance will be paid, and that must be the way Duly will use:
a card on file charged automatically, a SEPA Core direct debit on a mandate (the invoice then is the
debit's pre-notification), or a transfer the customer makes (IBAN, RF reference, QR code). The customer's
preference (the contract's, else the customer's) names the method; :func:`choose` falls back to a
transfer whenever the preferred method cannot actually be used (no default card saved, no valid mandate,
no creditor identifier, not in euro), so a document never promises a debit nobody will make.

Pre-notification (EPC SEPA Core Direct Debit Scheme Rulebook, "pre-notification")
    The creditor tells the debtor the amount and the date of each collection at least 14 calendar days
    before it, unless creditor and debtor agreed another period (the contract's
    ``sepa_prenotification_days``, 1 to 14). An invoice stating the mandate reference, the creditor
    identifier, the amount and the date *is* that pre-notification (the rulebook lets it be "an invoice,
    a contract, a separate notice").

    When the invoice goes out less than that period before the due date, Duly moves the debit to the
    earliest date the period allows (the invoice's date plus the period, then the next TARGET business
    day: :func:`duly.domain.sepa.collection_plan` with ``notified_on`` the issue date) and states that
    date. It does not send a separate notice instead: a separate notice sent later than the invoice can
    only give the debtor *less* time, never make an earlier collection lawful, so moving the date is the
    one choice that keeps both the period and the promise printed on the invoice. The creditor is always
    free to collect later than the due date; collecting earlier than notified is what the rulebook forbids.

Pure: no clock, no I/O; dates are given.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

from . import sepa
from .errors import InvalidMandate

__all__ = [
    "BANK_TRANSFER",
    "CARD",
    "SEPA_DEBIT",
    "CardOnFile",
    "MandateOnFile",
    "PaymentInstruction",
    "card_charge_date",
    "choose",
    "mask_iban",
]

CARD = "card"
SEPA_DEBIT = "sepa_debit"
BANK_TRANSFER = "bank_transfer"

#: Preferences that mean "charge my card on file" (a wallet is a card to the provider).
CARD_PREFERENCES = frozenset({"card", "paypal"})
#: SEPA Core debits are in euro.
SEPA_CURRENCY = "EUR"


@dataclass(frozen=True)
class CardOnFile:
    """The customer's default saved card: its provider and, when the provider told, brand and last four."""

    provider: str
    method_ref: str
    brand: str = ""
    last4: str = ""


@dataclass(frozen=True)
class MandateOnFile:
    """The customer's SEPA mandate, as the domain checks it, with the debtor's account."""

    mandate: sepa.Mandate
    debtor_iban: str
    debtor_name: str = ""


@dataclass(frozen=True)
class PaymentInstruction:
    """What an invoice states about how it will be paid (frozen in its document snapshot at issue)."""

    #: :data:`CARD`, :data:`SEPA_DEBIT` or :data:`BANK_TRANSFER`.
    method: str
    #: Card: brand (``visa``) and last four digits, as the provider describes the card ("" when unknown).
    card_brand: str = ""
    card_last4: str = ""
    #: Card: the day autopay charges it (the due date, or N days before it as the contract says).
    charge_date: date | None = None
    #: Direct debit: the mandate (BT-89), the creditor identifier (BT-90), the debited account (BT-91).
    mandate_reference: str = ""
    creditor_id: str = ""
    debtor_iban: str = ""
    #: Direct debit: the collection date and the pre-notification period it respects.
    debit_date: date | None = None
    notice_days: int = 0
    #: Direct debit: the day the debtor was told (the invoice's issue date): the pre-notification.
    notified_on: date | None = None
    #: Why the preferred method is not the one used ("" when it is).
    fallback: str = ""

    @property
    def debtor_iban_masked(self) -> str:
        return mask_iban(self.debtor_iban)

    @property
    def card_label(self) -> str:
        """``Visa •••• 4242`` (or ``•••• 4242``, or "" when the provider did not say)."""
        brand = _BRANDS.get(self.card_brand.lower(), self.card_brand.replace("_", " ").title())
        if self.card_last4:
            return f"{brand} •••• {self.card_last4}".strip()
        return brand

    @property
    def pay_date(self) -> date | None:
        """The day the money is taken (card or debit); None for a transfer."""
        return self.charge_date or self.debit_date

    def to_json(self) -> dict[str, Any]:
        """The fields that say something (no empty ones), dates in ISO form (the billing run builds thousands:
        no ``dataclasses.asdict`` and its deep copies)."""
        data: dict[str, Any] = {"method": self.method}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            if value not in ("", None, 0):
                data[name] = value.isoformat() if isinstance(value, date) else value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PaymentInstruction | None:
        if not data or "method" not in data:
            return None
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("charge_date", "debit_date", "notified_on"):
            if values.get(key):
                values[key] = date.fromisoformat(values[key])
        return cls(**values)


_FIELD_NAMES = tuple(f.name for f in fields(PaymentInstruction) if f.name != "method")

_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover",
           "diners": "Diners Club", "jcb": "JCB", "unionpay": "UnionPay", "cartes_bancaires": "Cartes Bancaires"}


def mask_iban(iban: str) -> str:
    """``DE89 •••• •••• •••• 3000``: the country, check digits and last four, the rest hidden."""
    text = "".join((iban or "").split()).upper()
    if len(text) <= 8:
        return text
    return f"{text[:4]} •••• {text[-4:]}"


def card_charge_date(due_date: date, days_before_due: int, issue_date: date) -> date:
    """The day autopay charges an invoice: ``days_before_due`` before its due date, never before its issue."""
    return max(due_date - timedelta(days=max(days_before_due, 0)), issue_date)


def choose(preferred: str, *, currency: str, issue_date: date, due_date: date | None,
           card: CardOnFile | None = None, mandate: MandateOnFile | None = None, creditor_id: str = "",
           autopay_days_before_due: int = 0, notice_days: int = sepa.DEFAULT_NOTICE_DAYS) -> PaymentInstruction:
    """The method an invoice issued on ``issue_date`` and due on ``due_date`` will actually be paid by.

    ``preferred`` is the contract's (else the customer's) preferred method; ``card`` the customer's default
    saved card, ``mandate`` their SEPA mandate and ``creditor_id`` the organization's SEPA creditor
    identifier. A preference that cannot be honoured falls back to a bank transfer, saying why.
    """
    if due_date is None:
        return PaymentInstruction(BANK_TRANSFER)
    if preferred in CARD_PREFERENCES:
        if card is None:
            return PaymentInstruction(BANK_TRANSFER, fallback="no saved card to charge")
        return PaymentInstruction(CARD, card_brand=card.brand, card_last4=card.last4,
                                  charge_date=card_charge_date(due_date, autopay_days_before_due, issue_date))
    if preferred == SEPA_DEBIT:
        if currency != SEPA_CURRENCY:
            return PaymentInstruction(BANK_TRANSFER, fallback=f"SEPA direct debits are in euro, not {currency}")
        if not creditor_id:
            return PaymentInstruction(BANK_TRANSFER, fallback="no SEPA creditor identifier")
        if mandate is None:
            return PaymentInstruction(BANK_TRANSFER, fallback="no mandate")
        try:
            plan = sepa.collection_plan(mandate.mandate, due_date, issue_date, notice_days=notice_days,
                                        notified_on=issue_date)
        except InvalidMandate as err:
            return PaymentInstruction(BANK_TRANSFER, fallback=err.message)
        revoked = mandate.mandate.revoked_on
        if revoked is not None and revoked <= plan.collection_date:
            return PaymentInstruction(BANK_TRANSFER, fallback="mandate revoked before the debit date")
        return PaymentInstruction(SEPA_DEBIT, mandate_reference=mandate.mandate.reference, creditor_id=creditor_id,
                                  debtor_iban=mandate.debtor_iban, debit_date=plan.collection_date,
                                  notice_days=notice_days, notified_on=issue_date)
    return PaymentInstruction(BANK_TRANSFER)
