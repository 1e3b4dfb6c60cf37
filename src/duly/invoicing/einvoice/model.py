"""The e-invoice document snapshot: everything a renderer needs, nothing Django.

The Django layer builds one :class:`InvoiceDocument` from its models; the UBL renderer, the
CII/Factur-X renderer (and later the PDF) all consume the same snapshot, and the importer
produces one from a received XML. Every amount the documents show comes from
:meth:`InvoiceDocument.totals`, i.e. from :func:`duly.domain.invoice_math.compute_totals`.

Field names carry the EN 16931 business term (BT-n / BG-n) they map to in their comment.
Text fields use ``""`` for "absent"; optional dates and numbers use ``None``.

:meth:`InvoiceDocument.require` checks the data a standard needs before anything is rendered
and raises :class:`~duly.domain.errors.MissingDocumentData` naming every missing field, e.g.
``buyer country (BT-55) is required for Peppol BIS 3.0 (invoice INV-2026-00001)``;
data a standard forbids raises :class:`~duly.domain.errors.InvalidDocumentData`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from duly.domain.errors import InvalidDocumentData, MissingDocumentData
from duly.domain.invoice_math import (
    TAX_CATEGORIES,
    AllowanceCharge,
    InvoiceTotals,
    LineInput,
    compute_totals,
)
from duly.domain.money import check_currency, exponent, round_money, to_decimal

from .xmlutil import CREDIT_NOTE_TYPE_CODES

__all__ = [
    "ATTACHMENT_MIME_CODES",
    "ATTACHMENT_TYPE_NAMES",
    "CREDIT_NOTE",
    "CREDIT_NOTE_TYPE_CODES",
    "EXEMPTION_REQUIRED_CATEGORIES",
    "INVOICE",
    "PREPAYMENT_INVOICE",
    "Attachment",
    "DocumentAllowanceCharge",
    "InvoiceDocument",
    "InvoiceLine",
    "LineAllowanceCharge",
    "Party",
    "PaymentMeans",
    "Standard",
]

#: UNTDID 1001 document type codes Duly issues.
INVOICE = "380"
CREDIT_NOTE = "381"
PREPAYMENT_INVOICE = "386"

#: VAT categories that need an exemption reason text (BT-120) or code (BT-121):
#: BR-E-10, BR-AE-10, BR-IC-10, BR-G-10, BR-O-10.
EXEMPTION_REQUIRED_CATEGORIES = frozenset({"E", "AE", "K", "G", "O"})
#: VAT categories that must NOT carry an exemption reason (BR-S-10, BR-Z-10, BR-IG-10, BR-IP-10).
EXEMPTION_FORBIDDEN_CATEGORIES = frozenset({"S", "Z", "L", "M"})

#: MIME codes EN 16931 accepts for an embedded attachment (BR-CL-24).
ATTACHMENT_MIME_CODES = frozenset({
    "application/pdf",
    "image/png",
    "image/jpeg",
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.spreadsheet",
})
#: The same types in words, for messages.
ATTACHMENT_TYPE_NAMES = (
    "PDF (application/pdf), PNG (image/png), JPEG (image/jpeg), CSV (text/csv), "
    "Excel XLSX (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet) and "
    "OpenDocument spreadsheet ODS (application/vnd.oasis.opendocument.spreadsheet)"
)

#: Payment means codes (UNCL4461) with extra requirements: credit transfers need an account
#: (BR-50, BR-61), direct debits a mandate (PEPPOL-EN16931-R061).
CREDIT_TRANSFER_CODES = frozenset({"30", "58"})
DIRECT_DEBIT_CODES = frozenset({"49", "59"})

_COUNTRY = re.compile(r"[A-Z]{2}")
_VAT_PREFIX = re.compile(r"[A-Z]{2}")


class Standard(StrEnum):
    """The output a document is checked for (the value is the name used in messages)."""

    #: UBL 2.1 in the Peppol BIS Billing 3.0 profile.
    PEPPOL = "Peppol BIS 3.0"
    #: UBL 2.1 or CII bound to the bare EN 16931 core (no CIUS).
    EN16931 = "EN 16931"
    #: CII D16B in the Factur-X / ZUGFeRD EN 16931 (Comfort) profile.
    FACTURX = "Factur-X EN 16931"


def _dec(value: object) -> Decimal:
    return to_decimal(value)


def _opt_dec(value: object) -> Decimal | None:
    return None if value is None else to_decimal(value)


@dataclass(frozen=True)
class Party:
    """Seller (BG-4) or buyer (BG-7): the BT numbers are the seller's / the buyer's."""

    #: BT-27 / BT-44: registered (legal) name.
    name: str
    #: BT-40 / BT-55: ISO 3166-1 alpha-2, upper case.
    country_code: str = ""
    #: BT-28 / BT-45: trading name, when it differs from the legal name.
    trading_name: str = ""
    #: BT-31 / BT-48: VAT identifier with its country prefix (``FR40303265045``).
    vat_id: str = ""
    #: BT-32 (seller only): local tax registration identifier (not a VAT id).
    tax_registration_id: str = ""
    #: BT-30 / BT-47: legal registration identifier (SIREN, KvK, company number…).
    legal_registration_id: str = ""
    #: Scheme (ISO 6523 ICD) of the legal registration identifier, e.g. ``0002`` for SIREN.
    legal_registration_scheme: str = ""
    #: BT-29 / BT-46: a party identifier (e.g. a GLN, or the seller's customer number).
    identifier: str = ""
    #: ISO 6523 ICD scheme of ``identifier`` (``0088`` GLN); empty for a proprietary id.
    identifier_scheme: str = ""
    #: BT-33 (seller only): additional legal information (share capital, registry court…).
    additional_legal_info: str = ""
    #: BT-35, BT-36, BT-162 / BT-50, BT-51, BT-163: up to three address lines.
    address_lines: tuple[str, ...] = ()
    #: BT-37 / BT-52.
    city: str = ""
    #: BT-38 / BT-53.
    postcode: str = ""
    #: BT-39 / BT-54: region, state, province.
    subdivision: str = ""
    #: BT-41 / BT-56.
    contact_name: str = ""
    #: BT-42 / BT-57.
    contact_phone: str = ""
    #: BT-43 / BT-58.
    contact_email: str = ""
    #: BT-34 / BT-49: electronic address (Peppol endpoint), with its EAS scheme below.
    electronic_address: str = ""
    #: EAS code of the electronic address: ``EM`` e-mail, ``0088`` GLN, ``9930`` DE VAT, ``0009`` SIRET…
    electronic_address_scheme: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "address_lines", tuple(self.address_lines))
        object.__setattr__(self, "country_code", self.country_code.strip().upper())


@dataclass(frozen=True)
class PaymentMeans:
    """Payment instructions (BG-16) with credit transfer (BG-17), card (BG-18) or direct debit (BG-19)."""

    #: BT-81, UNCL4461: 58 SEPA credit transfer, 30 credit transfer, 59 SEPA direct debit, 48 card.
    code: str = "58"
    #: BT-82: the means in words.
    text: str = ""
    #: BT-83: remittance information, the ISO 11649 RF creditor reference Duly generates.
    remittance_information: str = ""
    #: BT-84: payment account identifier, an IBAN for SEPA (credit transfer).
    iban: str = ""
    #: BT-85: payment account name.
    account_name: str = ""
    #: BT-86: payment service provider identifier (BIC).
    bic: str = ""
    #: BT-87: card number, last digits only (at most 10 characters, BR-51).
    card_number: str = ""
    #: BT-88: card holder name.
    card_holder: str = ""
    #: BT-89: direct debit mandate reference.
    mandate_reference: str = ""
    #: BT-90: SEPA creditor identifier of the seller.
    creditor_id: str = ""
    #: BT-91: debited account (the buyer's IBAN).
    debited_account: str = ""


@dataclass(frozen=True)
class LineAllowanceCharge:
    """A line allowance (BG-27) or charge (BG-28) as a received invoice states it.

    Duly's own lines have at most one discount (:attr:`InvoiceLine.discount_percent` /
    :attr:`InvoiceLine.discount_amount`); a received line with several allowances, or with
    charges, keeps each of them here instead (and then has no such discount).
    """

    is_charge: bool
    #: BT-136 / BT-141: the amount, positive; it is what the line net amount adds up from.
    amount: Decimal
    #: BT-138 / BT-143 and BT-137 / BT-142, when stated.
    percent: Decimal | None = None
    base: Decimal | None = None
    #: BT-139 / BT-144 and BT-140 (UNCL5189) / BT-145 (UNCL7161).
    reason: str = ""
    reason_code: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _dec(self.amount))
        object.__setattr__(self, "percent", _opt_dec(self.percent))
        object.__setattr__(self, "base", _opt_dec(self.base))


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice line (BG-25)."""

    #: BT-126: line identifier, unique in the document.
    id: str
    #: BT-153: item name.
    name: str
    #: BT-129: invoiced quantity (negative only for a correction within a document).
    quantity: Decimal
    #: BT-146: item net price, per ``base_quantity`` units, never negative.
    net_price: Decimal
    #: BT-130: UN/ECE Recommendation 20 unit: C62 one, HUR hour, DAY day, MON month, H87 piece…
    unit_code: str = "C62"
    #: BT-149: price base quantity.
    base_quantity: Decimal = Decimal(1)
    #: BT-154: item description.
    description: str = ""
    #: BT-138: line discount as a percentage of quantity × price / base quantity.
    discount_percent: Decimal | None = None
    #: BT-136: or as an absolute amount (not both).
    discount_amount: Decimal | None = None
    #: BT-139: the discount in words (BR-42 needs a reason or a reason code).
    discount_reason: str = "Discount"
    #: BT-140: UNCL5189 reason code of the discount (``95`` discount).
    discount_reason_code: str = ""
    #: BT-151: UNCL5305 VAT category: S, Z, E, AE, K, G, O, L, M.
    tax_category: str = "S"
    #: BT-152: VAT rate in percent.
    tax_rate: Decimal = Decimal(0)
    #: BT-120: VAT exemption reason (required for E, AE, K, G, O; forbidden for S, Z).
    exemption_reason: str = ""
    #: BT-121: VATEX exemption reason code, e.g. ``VATEX-EU-AE``.
    exemption_reason_code: str = ""
    #: BT-134 / BT-135: invoice line period (BG-26).
    period_start: date | None = None
    period_end: date | None = None
    #: BT-133: buyer accounting reference.
    buyer_accounting_ref: str = ""
    #: BT-127: line note.
    note: str = ""
    #: BT-155: seller's item identifier.
    seller_item_id: str = ""
    #: BT-132: referenced purchase order line.
    order_line_ref: str = ""
    #: BT-156: buyer's item identifier.
    buyer_item_id: str = ""
    #: BT-157 and its scheme (ISO 6523 ICD, e.g. ``0160`` GTIN, ``0088`` GLN).
    standard_item_id: str = ""
    standard_item_scheme: str = ""
    #: BT-150: unit of the price base quantity, when stated (else the line's unit).
    base_quantity_unit: str = ""
    #: BT-148: item gross price, and BT-147: the price discount that makes it the net price (as stated;
    #: a discount stated without its gross price has the gross price BT-146 + BT-147, by definition).
    gross_price: Decimal | None = None
    price_discount: Decimal | None = None
    #: BG-27 / BG-28 of a received line that has more than one discount (see LineAllowanceCharge).
    allowances_charges: tuple[LineAllowanceCharge, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "quantity", _dec(self.quantity))
        object.__setattr__(self, "net_price", _dec(self.net_price))
        object.__setattr__(self, "base_quantity", _dec(self.base_quantity))
        object.__setattr__(self, "tax_rate", _dec(self.tax_rate))
        object.__setattr__(self, "discount_percent", _opt_dec(self.discount_percent))
        object.__setattr__(self, "discount_amount", _opt_dec(self.discount_amount))
        object.__setattr__(self, "gross_price", _opt_dec(self.gross_price))
        object.__setattr__(self, "price_discount", _opt_dec(self.price_discount))
        if self.price_discount is not None and self.gross_price is None:
            object.__setattr__(self, "gross_price", self.net_price + self.price_discount)
        object.__setattr__(self, "allowances_charges", tuple(self.allowances_charges))

    def line_input(self) -> LineInput:
        discount, charges = self.discount_amount, None
        if self.allowances_charges:
            discount = sum((a.amount for a in self.allowances_charges if not a.is_charge), discount or Decimal(0))
            charges = sum((a.amount for a in self.allowances_charges if a.is_charge), Decimal(0))
        return LineInput(
            quantity=self.quantity,
            unit_price=self.net_price,
            tax_category=self.tax_category,
            tax_rate=self.tax_rate,
            discount_percent=self.discount_percent,
            discount_amount=discount,
            base_quantity=self.base_quantity,
            charge_amount=charges,
        )


@dataclass(frozen=True)
class DocumentAllowanceCharge:
    """A document-level allowance (BG-20) or charge (BG-21)."""

    is_charge: bool
    #: BT-92 / BT-99: absolute amount; or …
    amount: Decimal | None = None
    #: BT-94 / BT-101: … a percentage of the line total (BT-106), which is then the base (BT-93 / BT-100).
    percent: Decimal | None = None
    #: BT-95 / BT-102.
    tax_category: str = "S"
    #: BT-96 / BT-103.
    tax_rate: Decimal = Decimal(0)
    #: BT-97 / BT-104: reason in words.
    reason: str = ""
    #: BT-98 (UNCL5189) / BT-105 (UNCL7161): reason code.
    reason_code: str = ""
    #: BT-120 / BT-121 for the VAT breakdown of this allowance's category (E, AE, K, G, O).
    exemption_reason: str = ""
    exemption_reason_code: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _opt_dec(self.amount))
        object.__setattr__(self, "percent", _opt_dec(self.percent))
        object.__setattr__(self, "tax_rate", _dec(self.tax_rate))

    def allowance_charge(self) -> AllowanceCharge:
        return AllowanceCharge(
            is_charge=self.is_charge,
            amount=self.amount,
            percent=self.percent,
            tax_category=self.tax_category,
            tax_rate=self.tax_rate,
            reason=self.reason,
        )


@dataclass(frozen=True)
class Attachment:
    """An additional supporting document (BG-24) embedded in the e-invoice."""

    #: The file name (``timesheet-2026-03.pdf``).
    filename: str
    #: MIME code, one of :data:`ATTACHMENT_MIME_CODES` (BR-CL-24).
    mime_code: str
    #: The file itself.
    content: bytes
    #: BT-123: description.
    description: str = ""
    #: BT-122: supporting document reference; defaults to the file name.
    id: str = ""

    @property
    def reference(self) -> str:
        return self.id or self.filename


@dataclass(frozen=True)
class InvoiceDocument:
    """An issued invoice or credit note, as every e-invoice renderer needs it (see the module notes)."""

    #: BT-3, UNTDID 1001: 380 invoice (also late-fee invoices, with a note), 381 credit note,
    #: 386 prepayment (deposit) invoice.
    type_code: str
    #: BT-1: the invoice number.
    number: str
    #: BT-2.
    issue_date: date
    #: BT-5: ISO 4217 currency of every amount.
    currency: str
    #: BG-4.
    seller: Party
    #: BG-7.
    buyer: Party
    #: BG-25, in document order.
    lines: tuple[InvoiceLine, ...]
    #: BT-9: payment due date (Duly: required when an amount is due).
    due_date: date | None = None
    #: BT-10: buyer reference (Leitweg-ID, cost centre… whatever the buyer asked to be quoted).
    buyer_reference: str = ""
    #: BT-13: purchase order reference.
    order_reference: str = ""
    #: BT-12: contract reference.
    contract_reference: str = ""
    #: BT-25 / BT-26: the invoice a credit note (or final invoice after a deposit) refers to.
    preceding_invoice: str = ""
    preceding_invoice_date: date | None = None
    #: BT-19: buyer accounting reference.
    buyer_accounting_ref: str = ""
    #: BT-22: invoice notes (a late-fee invoice states its basis here).
    notes: tuple[str, ...] = ()
    #: BG-1 notes with their subject code (BT-21, UNTDID 4451), after ``notes``: ``(("PMT", "…"), …)``. The
    #: French CTC rules (BR-FR-05) want PMT (recovery indemnity), PMD (late-payment penalties) and AAB (discount).
    coded_notes: tuple[tuple[str, str], ...] = ()
    #: BT-6: VAT accounting currency, when VAT must also be stated in another currency (a UK VAT invoice in a
    #: foreign currency states its VAT in sterling), with the exchange rate frozen at issue (1 unit of
    #: ``currency`` = ``tax_currency_rate`` units of ``tax_currency``); BT-111 is computed from it.
    tax_currency: str = ""
    tax_currency_rate: Decimal | None = None
    #: BT-23: business process type. French sellers give the billing framework ("cadre de facturation",
    #: BR-FR-08: B1, S1, M1, B2…); UBL carries it in ProfileID only outside Peppol (whose ProfileID is fixed).
    business_process: str = ""
    #: BT-73 / BT-74: invoicing (service) period, BG-14.
    period_start: date | None = None
    period_end: date | None = None
    #: BT-72: actual delivery date.
    delivery_date: date | None = None
    #: BT-80: deliver-to country (needed for intra-community supplies, category K).
    deliver_to_country: str = ""
    #: BG-16: how to pay.
    payment_means: PaymentMeans | None = None
    #: BT-20: payment terms in words, with the exact due date and the late-payment terms.
    payment_terms: str = ""
    #: BG-20 / BG-21.
    allowances_charges: tuple[DocumentAllowanceCharge, ...] = ()
    #: BT-113: amount already paid (a deposit deducted, a partial payment).
    prepaid_amount: Decimal = Decimal(0)
    #: BT-114: rounding amount added to the amount due.
    rounding_amount: Decimal = Decimal(0)
    #: BG-24.
    attachments: tuple[Attachment, ...] = field(default=(), repr=False)
    #: BG-10: the payee, when someone other than the seller is paid (BT-59 name, BT-60 identifier,
    #: BT-61 legal registration identifier).
    payee: Party | None = None
    #: BG-11: the seller's tax representative (BT-62 name, BT-63 VAT identifier, BG-12 address).
    tax_representative: Party | None = None

    def __post_init__(self) -> None:
        check_currency(self.currency)
        for name in ("lines", "notes", "allowances_charges", "attachments"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "coded_notes", tuple((str(c), str(t)) for c, t in self.coded_notes))
        object.__setattr__(self, "prepaid_amount", _dec(self.prepaid_amount))
        object.__setattr__(self, "rounding_amount", _dec(self.rounding_amount))
        object.__setattr__(self, "deliver_to_country", self.deliver_to_country.strip().upper())
        object.__setattr__(self, "tax_currency_rate", _opt_dec(self.tax_currency_rate))
        if self.tax_currency:
            check_currency(self.tax_currency)

    # --- derived values ---------------------------------------------------------------------

    @property
    def is_credit_note(self) -> bool:
        return self.type_code in CREDIT_NOTE_TYPE_CODES

    @property
    def kind(self) -> str:
        """``credit note``, ``prepayment invoice`` or ``invoice``: the word messages use."""
        if self.is_credit_note:
            return "credit note"
        return "prepayment invoice" if self.type_code == PREPAYMENT_INVOICE else "invoice"

    def totals(self) -> InvoiceTotals:
        """Every EN 16931 total, computed by :func:`duly.domain.invoice_math.compute_totals`.

        A snapshot is already decided, so lines correcting within the document (a returned
        item, a deposit taken back) may have negative quantities.
        """
        return compute_totals(
            [line.line_input() for line in self.lines],
            self.currency,
            [ac.allowance_charge() for ac in self.allowances_charges],
            prepaid=self.prepaid_amount,
            rounding_amount=self.rounding_amount,
            allow_negative=True,
        )

    def tax_total_in_tax_currency(self, totals: InvoiceTotals | None = None) -> Decimal | None:
        """BT-111: the total VAT in the VAT accounting currency (BT-6) at the frozen rate, rounded in that
        currency; None without one."""
        if not self.tax_currency or self.tax_currency_rate is None:
            return None
        totals = totals or self.totals()
        return round_money(totals.tax_total * self.tax_currency_rate, self.tax_currency)

    def allowance_charge_amounts(self, totals: InvoiceTotals | None = None) -> tuple[Decimal, ...]:
        """The amount (BT-92 / BT-99) of each document allowance/charge, in order.

        A percentage is applied to the line total (BT-106), as compute_totals does; the sums
        are checked against its allowance and charge totals so the two can never drift apart.
        """
        totals = totals or self.totals()
        amounts = tuple(
            ac.amount
            if ac.amount is not None
            else round_money(totals.line_total * to_decimal(ac.percent) / 100, self.currency)
            for ac in self.allowances_charges
        )
        pairs = list(zip(amounts, self.allowances_charges, strict=True))
        allowances = sum((a for a, ac in pairs if not ac.is_charge), Decimal(0))
        charges = sum((a for a, ac in pairs if ac.is_charge), Decimal(0))
        if allowances != totals.allowance_total or charges != totals.charge_total:  # pragma: no cover - guard
            raise InvalidDocumentData(
                f"Document allowances/charges ({allowances}/{charges}) do not add up to the computed totals "
                f"({totals.allowance_total}/{totals.charge_total}) for {self.kind} {self.number}."
            )
        return amounts

    def exemption_reasons(self) -> dict[str, tuple[str, str]]:
        """VAT category -> (exemption reason text BT-120, code BT-121), first one given wins."""
        reasons: dict[str, tuple[str, str]] = {}
        for item in (*self.lines, *self.allowances_charges):
            if (item.exemption_reason or item.exemption_reason_code) and item.tax_category not in reasons:
                reasons[item.tax_category] = (item.exemption_reason, item.exemption_reason_code)
        return reasons

    def tax_categories(self) -> set[str]:
        return {item.tax_category for item in (*self.lines, *self.allowances_charges)}

    # --- requirements ----------------------------------------------------------------------

    def missing_fields(
        self, standard: Standard = Standard.EN16931, totals: InvoiceTotals | None = None, *, duly_rules: bool = True
    ) -> list[str]:
        """Descriptions (``"buyer country (BT-55)"``) of the data ``standard`` needs and this document lacks.

        ``duly_rules`` adds Duly's own issuing rule: an invoice with an amount due states its
        due date (BT-9) and its payment terms (BT-20).
        """
        totals = totals or self.totals()
        missing: list[str] = []

        def need(condition: bool, what: str) -> None:
            if not condition and what not in missing:
                missing.append(what)

        seller, buyer = self.seller, self.buyer
        need(bool(self.number.strip()), "invoice number (BT-1)")
        need(bool(seller.name.strip()), "seller name (BT-27)")
        need(bool(seller.country_code), "seller country (BT-40)")
        need(bool(buyer.name.strip()), "buyer name (BT-44)")
        need(bool(buyer.country_code), "buyer country (BT-55)")
        need(bool(self.lines), "at least one invoice line (BG-25)")
        for line in self.lines:
            need(bool(line.id.strip()), "invoice line identifier (BT-126)")
            need(bool(line.name.strip()), f"item name (BT-153) of line {line.id}")
            need(bool(line.unit_code.strip()), f"unit of measure (BT-130) of line {line.id}")
            if line.discount_percent is not None or line.discount_amount is not None:
                need(bool(line.discount_reason or line.discount_reason_code),
                     f"discount reason (BT-139 or BT-140) of line {line.id}")
        for n, ac in enumerate(self.allowances_charges, 1):
            if ac.is_charge:
                need(bool(ac.reason or ac.reason_code), f"reason (BT-104 or BT-105) of document charge {n}")
            else:
                need(bool(ac.reason or ac.reason_code), f"reason (BT-97 or BT-98) of document allowance {n}")

        categories = self.tax_categories()
        seller_vat = bool(seller.vat_id.strip())
        if categories & {"S", "Z", "E", "L", "M"}:
            need(seller_vat or bool(seller.tax_registration_id.strip()),
                 "seller VAT identifier (BT-31) or tax registration identifier (BT-32)")
        if categories & {"AE", "K", "G"}:
            need(seller_vat, "seller VAT identifier (BT-31)")
        if "AE" in categories:
            need(bool(buyer.vat_id.strip() or buyer.legal_registration_id.strip()),
                 "buyer VAT identifier (BT-48) or legal registration identifier (BT-47) for reverse charge")
        if "K" in categories:
            need(bool(buyer.vat_id.strip()), "buyer VAT identifier (BT-48) for an intra-community supply")
            need(bool(self.delivery_date or self.period_start or self.period_end),
                 "actual delivery date (BT-72) or invoicing period (BG-14) for an intra-community supply")
            need(bool(self.deliver_to_country), "deliver-to country (BT-80) for an intra-community supply")
        # BR-CO-26: the buyer identifies the seller by BT-29, BT-30 or BT-31 (never stated for category O).
        stated_vat = seller_vat and categories != {"O"}
        need(stated_vat or bool(seller.identifier.strip() or seller.legal_registration_id.strip()),
             "seller identifier (BT-29), legal registration identifier (BT-30) or VAT identifier (BT-31)")
        reasons = self.exemption_reasons()
        for category in sorted(categories & EXEMPTION_REQUIRED_CATEGORIES):
            need(category in reasons,
                 f"VAT exemption reason (BT-120 or BT-121) for category {category} ({TAX_CATEGORIES[category]})")

        if self.payee is not None:
            need(bool(self.payee.name.strip()), "payee name (BT-59)")
        representative = self.tax_representative
        if representative is not None:
            need(bool(representative.name.strip()), "tax representative name (BT-62)")
            need(bool(representative.country_code), "tax representative country (BT-69)")
            need(bool(representative.vat_id.strip()), "tax representative VAT identifier (BT-63)")
        for party, label, bt in ((seller, "seller", "BT-34"), (buyer, "buyer", "BT-49")):
            if party.electronic_address:
                need(bool(party.electronic_address_scheme), f"{label} electronic address scheme ({bt}-1)")

        means = self.payment_means
        if means is not None:
            need(bool(means.code.strip()), "payment means type code (BT-81)")
            if means.code in CREDIT_TRANSFER_CODES:
                need(bool(means.iban.strip()), "payment account identifier (BT-84) for a credit transfer")
            if means.code in DIRECT_DEBIT_CODES and standard is Standard.PEPPOL:
                need(bool(means.mandate_reference.strip()), "direct debit mandate reference (BT-89)")

        if duly_rules and not self.is_credit_note and totals.payable > 0:
            need(self.due_date is not None, "payment due date (BT-9)")
            need(bool(self.payment_terms.strip()), "payment terms (BT-20)")
        if self.is_credit_note and self.due_date is not None and standard in (Standard.PEPPOL, Standard.EN16931):
            need(means is not None, "payment means (BG-16) to carry the due date (BT-9) of a UBL credit note")

        if standard is Standard.PEPPOL:
            need(bool(self.buyer_reference.strip() or self.order_reference.strip()),
                 "buyer reference (BT-10) or purchase order reference (BT-13)")
            need(bool(seller.electronic_address.strip()), "seller electronic address (BT-34)")
            need(bool(buyer.electronic_address.strip()), "buyer electronic address (BT-49)")
        return missing

    def require(
        self, standard: Standard = Standard.EN16931, totals: InvoiceTotals | None = None, *, duly_rules: bool = True
    ) -> InvoiceTotals:
        """Check the document can be rendered for ``standard``; return its totals.

        Raises :class:`MissingDocumentData` naming every missing field, and
        :class:`InvalidDocumentData` for data the standard forbids.
        """
        totals = totals or self.totals()
        self._check_invalid(standard, totals)
        missing = self.missing_fields(standard, totals, duly_rules=duly_rules)
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            listed = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
            raise MissingDocumentData(
                f"{listed} {verb} required for {standard.value} ({self.kind} {self.number or '(no number)'})",
                missing=missing,
                standard=standard.value,
                invoice=self.number,
            )
        return totals

    def _check_invalid(self, standard: Standard, totals: InvoiceTotals) -> None:
        where = f"({self.kind} {self.number or '(no number)'})"

        def invalid(message: str, **context: object) -> InvalidDocumentData:
            return InvalidDocumentData(f"{message} {where}", invoice=self.number, **context)

        if exponent(self.currency) > 2:
            raise invalid(
                f"EN 16931 allows at most 2 decimals in amounts (BR-DEC rules), and {self.currency} "
                f"amounts have {exponent(self.currency)}: this currency cannot be e-invoiced",
                currency=self.currency,
            )
        if not re.fullmatch(r"\d{1,3}", self.type_code or ""):
            raise invalid(f"Invoice type code (BT-3) {self.type_code!r} is not a UNTDID 1001 code")
        for label, party in (("seller", self.seller), ("buyer", self.buyer)):
            if party.country_code and not _COUNTRY.fullmatch(party.country_code):
                raise invalid(f"The {label} country {party.country_code!r} is not an ISO 3166-1 alpha-2 code")
            if len(party.address_lines) > 3:
                raise invalid(f"The {label} address has {len(party.address_lines)} lines; EN 16931 has three "
                              "(BT-35, BT-36, BT-162 / BT-50, BT-51, BT-163)")
            if party.vat_id and not _VAT_PREFIX.match(party.vat_id.strip()):
                raise invalid(
                    f"The {label} VAT identifier {party.vat_id!r} must start with its country prefix (BR-CO-9)")
        for line in self.lines:
            if line.allowances_charges and (line.discount_percent is not None or line.discount_amount is not None):
                raise invalid(f"Line {line.id} lists its allowances and charges: it has no separate discount")
        ids = [line.id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise invalid("Invoice line identifiers (BT-126) must be unique")
        categories = self.tax_categories()
        if "O" in categories and categories != {"O"}:
            raise invalid("A document with category O (not subject to VAT) cannot have other VAT categories (BR-O-11)")
        for item in (*self.lines, *self.allowances_charges):
            if item.tax_category in EXEMPTION_FORBIDDEN_CATEGORIES and (
                item.exemption_reason or item.exemption_reason_code
            ):
                raise invalid(
                    f"Category {item.tax_category} ({TAX_CATEGORIES[item.tax_category]}) cannot carry a VAT "
                    "exemption reason (BR-S-10, BR-Z-10, BR-IG-10, BR-IP-10)"
                )
        for start, end, what in (
            (self.period_start, self.period_end, "invoicing period (BG-14)"),
            *((line.period_start, line.period_end, f"period of line {line.id} (BG-26)") for line in self.lines),
        ):
            if start and end and end < start:
                raise invalid(f"The {what} ends before it starts")
        for attachment in self.attachments:
            if attachment.mime_code not in ATTACHMENT_MIME_CODES:
                raise invalid(
                    f"Attachment {attachment.filename!r} has MIME code {attachment.mime_code!r}; "
                    f"EN 16931 accepts {', '.join(sorted(ATTACHMENT_MIME_CODES))} (BR-CL-24)"
                )
        if self.tax_currency and (self.tax_currency == self.currency or self.tax_currency_rate is None
                                  or self.tax_currency_rate <= 0):
            raise invalid("A VAT accounting currency (BT-6) differs from the invoice currency and has a positive "
                          "exchange rate (BR-53)")
        if self.payment_means and len(self.payment_means.card_number) > 10:
            raise invalid("Only the last digits of a card number (at most 10 characters) may be shown (BR-51)")
        if standard is Standard.PEPPOL and self.period_start and self.period_end:
            for line in self.lines:
                for day in (line.period_start, line.period_end):
                    if day and not self.period_start <= day <= self.period_end:
                        raise invalid(
                            f"The period of line {line.id} must lie within the invoicing period "
                            "(PEPPOL-EN16931-R110/R111)"
                        )
