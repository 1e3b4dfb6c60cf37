"""From the Django models to the plain snapshots every document renderer reads.

:func:`build_document` turns an :class:`~duly.invoicing.models.Invoice` into the
:class:`~duly.invoicing.einvoice.model.InvoiceDocument` that the UBL, CII/Factur-X *and* PDF
renderers consume, so a printed invoice and its e-invoice can never disagree.
:func:`build_printable` adds what only a printed page shows: branding, the payment options in
the customer's order of preference with the pay link and the EPC QR code, the amounts settled,
the customer's required fields, and the terms in words.

What an issued invoice's documents show of the parties (names, addresses, tax ids, contacts,
the bank account, the customer's preferred payment method and required fields) comes from the
snapshot frozen at issue (:mod:`.snapshot`), never from the live customer or organization; so
does the amount "already paid" (the deposit deducted on the invoice plus the credit settled by
the issue itself). A document rendered later for an issued invoice is therefore the document
the customer received, whatever changed since.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from django.conf import settings

from duly.domain.errors import InvalidDocumentData, MissingDocumentData, ValidationError
from duly.domain.invoice_math import AllowanceCharge, InvoiceTotals
from duly.domain.late_fees import LateFeePolicy
from duly.domain.money import from_minor
from duly.domain.payment_instructions import BANK_TRANSFER, CARD, SEPA_DEBIT, PaymentInstruction
from duly.domain.payment_terms import PaymentTerms
from duly.domain.payment_terms import due_date as compute_due_date
from duly.domain.references import format_rf
from duly.invoicing.einvoice.model import (
    CREDIT_NOTE,
    INVOICE,
    PREPAYMENT_INVOICE,
    DocumentAllowanceCharge,
    InvoiceDocument,
    LineAllowanceCharge,
    Party,
    PaymentMeans,
)
from duly.invoicing.einvoice.model import Attachment as DocumentAttachment
from duly.invoicing.einvoice.model import InvoiceLine as DocumentLine

from duly.translation import translate

from ..models import Attachment, Invoice, InvoiceLine
from .i18n import late_terms_in, localizer, terms_due
from .snapshot import DocumentFacts, facts_for, party_from_json

__all__ = [
    "Branding",
    "PaymentOption",
    "PrintableInvoice",
    "Reference",
    "branding_for",
    "build_document",
    "build_printable",
    "document_allowances",
    "epc_qr",
    "epc_qr_png",
    "pay_link",
]

#: UNTDID 1001 type code per Duly invoice kind.
TYPE_CODES = {
    Invoice.KIND_STANDARD: INVOICE,
    Invoice.KIND_LATE_FEE: INVOICE,
    Invoice.KIND_DEPOSIT: PREPAYMENT_INVOICE,
    Invoice.KIND_CREDIT_NOTE: CREDIT_NOTE,
}

#: Exemption reason (BT-120, an English msgid put in the customer's language) and VATEX code (BT-121) printed
#: when a line of a category that needs one gives none. Category E has no generic VATEX code: its reason must
#: name the law.
DEFAULT_EXEMPTIONS: dict[str, tuple[str, str]] = {
    "E": ("Exempt from VAT", ""),
    "AE": ("Reverse charge", "VATEX-EU-AE"),
    "K": ("Intra-community supply", "VATEX-EU-IC"),
    "G": ("Export outside the EU", "VATEX-EU-G"),
    "O": ("Not subject to VAT", "VATEX-EU-O"),
}

#: Countries of the SEPA scheme: an IBAN from one of them gets payment means 58 (SEPA credit transfer).
SEPA_COUNTRIES = frozenset({
    "AD", "AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GI", "GR", "HR", "HU",
    "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MC", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK", "SM", "VA",
})

#: EPC069-12 limits: amounts from 0.01 to 999 999 999.99 EUR.
EPC_MAX_AMOUNT = Decimal("999999999.99")

#: Preferences that are automatic debits: printed only when the invoice's payment instruction says the debit
#: will be made (a SEPA debit on a mandate); otherwise the invoice asks for a transfer.
AUTOMATIC_OPTIONS = frozenset({"sepa_debit", "ach_debit"})

#: Payment methods a customer may prefer (``Customer.PAYMENT_METHODS``) -> the option printed first.
PREFERRED_OPTION = {
    "bank_transfer": "bank_transfer",
    "card": "online",
    "paypal": "online",
    "sepa_debit": "sepa_debit",
    "ach_debit": "ach_debit",
    "check": "check",
    "cash": "cash",
}


def pay_link(invoice: Invoice) -> str:
    """The customer's personal link to pay ``invoice`` online: ``{DULY_PUBLIC_URL}/p/<token>``.

    The token is signed (see :mod:`duly.customers.links`) and deterministic, so the link printed
    on the PDF is the link in every e-mail and reminder about the same invoice (until the customer's
    links are rotated). It opens while the invoice is open and for 120 days after it is closed.
    """
    from duly.customers.links import pay_url

    return pay_url(invoice.organization_id, invoice.customer_id, invoice.pk,
                   version=invoice.customer.pay_link_version)


# --- the e-invoice snapshot ---------------------------------------------------------------------
#: Countries whose VAT number contains the seller's national company number, with the ISO 6523 ICD
#: scheme of that number: (pattern of the VAT number, capturing the company number; ICD).
VAT_EMBEDDED_REGISTRATION: dict[str, tuple[re.Pattern[str], str]] = {
    "FR": (re.compile(r"FR[0-9A-Z]{2}(\d{9})"), "0002"),  # SIREN
    "BE": (re.compile(r"BE([01]\d{9})"), "0208"),  # numéro d'entreprise / ondernemingsnummer
    "DK": (re.compile(r"DK(\d{8})"), "0184"),  # CVR
    "IT": (re.compile(r"IT(\d{11})"), "0211"),  # partita IVA
    "SE": (re.compile(r"SE(\d{10})01"), "0007"),  # organisationsnummer
    "NO": (re.compile(r"NO(\d{9})MVA"), "0192"),  # organisasjonsnummer
}


def seller_identified_without_vat_id(seller: Party) -> Party:
    """The seller of a document that shows no VAT ids (category O, BR-O-02), identified otherwise.

    BR-CO-26 wants the seller identifier (BT-29), legal registration identifier (BT-30) or VAT
    identifier (BT-31), and a document not subject to VAT may not state BT-31. A seller without a
    registration id gets one derived from its VAT number where the number contains it (the French
    SIREN of ``FR40303265045`` is ``303265045``, ICD 0002; Belgium, Denmark, Italy, Sweden, Norway
    likewise); otherwise its VAT/tax number is its seller identifier (BT-29, without a scheme: an
    identifier the buyer already knows from the seller's other invoices).
    """
    if seller.legal_registration_id.strip() or seller.identifier.strip() or not seller.vat_id.strip():
        return seller
    vat = re.sub(r"[\s.-]", "", seller.vat_id.upper())
    rule = VAT_EMBEDDED_REGISTRATION.get(vat[:2])
    match = rule[0].fullmatch(vat) if rule else None
    if match:
        return replace(seller, legal_registration_id=match.group(1), legal_registration_scheme=rule[1])
    return replace(seller, identifier=seller.vat_id.strip())


def french_reform_parties(seller: Party, buyer: Party) -> bool:
    """Whether a document between these parties is in the French e-invoicing reform's scope as Duly enforces it
    (see :func:`duly.invoicing.documents.store.in_french_reform`): a French seller, a French business buyer (a VAT
    or registration id) with an electronic address."""
    return (seller.country_code == "FR" and buyer.country_code == "FR" and bool(buyer.electronic_address)
            and bool(buyer.vat_id.strip() or buyer.legal_registration_id.strip()))


def french_seller_with_siren(seller: Party) -> Party:
    """A French seller in the reform's scope states its SIREN as BT-30 (scheme 0002, BR-FR-10): without a
    registration id of its own, the SIREN its VAT number contains (``FR40303265045`` -> ``303265045``)."""
    if seller.legal_registration_id.strip():
        return seller
    pattern, scheme = VAT_EMBEDDED_REGISTRATION["FR"]
    match = pattern.fullmatch(re.sub(r"[\s.-]", "", seller.vat_id.upper()))
    return replace(seller, legal_registration_id=match.group(1), legal_registration_scheme=scheme) if match else seller


def _line(line: InvoiceLine, currency: str, language: str) -> DocumentLine:
    category = line.tax_category
    if category in DEFAULT_EXEMPTIONS:
        default_reason, code = DEFAULT_EXEMPTIONS[category]
        reason = line.tax_exemption_reason or translate(language, default_reason)
    else:
        # S, Z…: no exemption; a reason given anyway is passed on, and the snapshot refuses it (BR-S-10).
        reason, code = line.tax_exemption_reason, ""
    details = line.details or {}
    code = details.get("exemption_reason_code", code)  # an imported line keeps the code it came with
    discount_amount = None
    if line.discount_percent is None and not line.allowances_charges:
        if line.discount_amount is not None:
            discount_amount = line.discount_amount
        elif line.discount_minor:  # drafts imported before discount_amount was stored
            discount_amount = abs(from_minor(line.discount_minor, currency))  # stored signed like the line
    extra = {key: details[key] for key in _LINE_DETAILS if details.get(key) not in (None, "")}
    for key in ("gross_price", "price_discount"):
        if key in extra:
            extra[key] = Decimal(extra[key])
    for key in ("discount_reason", "discount_reason_code"):
        if key in details:
            extra[key] = details[key]
    return DocumentLine(
        id=details.get("line_id") or str(line.position),
        name=line.description,
        quantity=line.quantity,
        net_price=line.unit_price,
        unit_code=line.unit or "C62",
        base_quantity=line.base_quantity,
        discount_percent=line.discount_percent,
        discount_amount=discount_amount,
        tax_category=category,
        tax_rate=line.tax_rate,
        exemption_reason=reason,
        exemption_reason_code=code,
        period_start=line.period_start,
        period_end=line.period_end,
        note=line.explanation,
        allowances_charges=tuple(
            LineAllowanceCharge(is_charge=bool(a.get("charge")), amount=Decimal(a["amount"]),
                                percent=Decimal(a["percent"]) if a.get("percent") is not None else None,
                                base=Decimal(a["base"]) if a.get("base") is not None else None,
                                reason=a.get("reason", ""), reason_code=a.get("reason_code", ""))
            for a in line.allowances_charges or ()
        ),
        **extra,
    )


#: E-invoice fields an imported line keeps in ``InvoiceLine.details`` (besides the line id and the
#: discount's reason), by their InvoiceDocument line name.
_LINE_DETAILS = ("description", "seller_item_id", "buyer_item_id", "standard_item_id", "standard_item_scheme",
                 "base_quantity_unit", "gross_price", "price_discount", "order_line_ref", "buyer_accounting_ref")


def _document_attachment(att: Attachment, *, french_reform: bool = False) -> DocumentAttachment:
    """An attachment as the e-invoice embeds it. In the French reform's scope BT-123 qualifies the attachment with
    a code of the reform's list (BR-FR-17): a description that is not one becomes ``DOCUMENT_ANNEXE``."""
    from .mentions import FR_ATTACHMENT_CODES

    with att.file.open("rb") as fh:
        content = fh.read()
    mime = att.content_type or mimetypes.guess_type(att.filename)[0] or "application/octet-stream"
    description = att.description
    if french_reform and description.strip() and description.strip() not in FR_ATTACHMENT_CODES:
        description = "DOCUMENT_ANNEXE"
    return DocumentAttachment(filename=att.filename, mime_code=mime, content=content,
                              description=description, id=att.filename)


def terms_of(invoice: Invoice) -> PaymentTerms | None:
    """The payment terms that set the invoice's due date; None for a credit note (nothing is due)."""
    from ..services import terms_for

    if invoice.is_credit_note:
        return None
    return terms_for(invoice)


def late_policy_of(invoice: Invoice) -> LateFeePolicy | None:
    """The late-payment policy the invoice states (as :func:`~duly.invoicing.services.issue_invoice`
    freezes it: the contract's, or none, which is stated too); None for a credit note."""
    from ..services import late_policy_for

    return None if invoice.is_credit_note else late_policy_for(invoice)


def settled_at_issue_minor(invoice: Invoice, facts: DocumentFacts | None = None) -> int:
    """Credit and payments settled on ``invoice`` when it was issued (0 for drafts and credit notes).

    Frozen in the invoice's document snapshot at issue; for invoices issued before snapshots
    existed, the allocations applied up to the issue date (asked of the payments app).
    """
    if invoice.status == Invoice.DRAFT or invoice.is_credit_note or invoice.issue_date is None:
        return 0
    facts = facts or facts_for(invoice)
    if facts.paid_at_issue_minor is not None:
        return facts.paid_at_issue_minor
    from ..hooks import settled_by_issue_minor

    return settled_by_issue_minor(invoice)


def _dates(invoice: Invoice, as_of: date | None) -> tuple[date, date | None, str]:
    """(issue date, due date, payment terms in the customer's words) — a draft is previewed as issued on ``as_of``."""
    issue = invoice.issue_date or as_of
    if issue is None:
        raise ValidationError(
            f"{invoice} has no issue date yet: give the date to preview it as issued on.",
            invoice=str(invoice),
        )
    terms = terms_of(invoice)
    if terms is None:  # a credit note: nothing to pay, no due date
        return issue, None, ""
    if invoice.due_date is not None:
        return issue, invoice.due_date, invoice.payment_terms_text
    if invoice.payment_terms_text:
        return issue, compute_due_date(terms, issue), invoice.payment_terms_text
    return (issue, *terms_due(terms, issue, invoice.locale or invoice.customer.locale))  # as issuing would word them


def _sentences(*parts: str) -> str:
    """Join sentences, ending each with a full stop: ``"Due by 1 May (30 days net). Late payment: …."``."""
    cleaned = [p.strip() for p in parts if p and p.strip()]
    return " ".join(p if p.endswith(".") else p + "." for p in cleaned)


def build_document(invoice: Invoice, *, as_of: date | None = None, with_attachments: bool = True,
                   facts: DocumentFacts | None = None) -> InvoiceDocument:
    """The :class:`InvoiceDocument` of ``invoice`` (issued, or a draft previewed as issued on ``as_of``).

    Totals are recomputed from the lines by the snapshot itself; for an issued invoice they are
    checked against the totals frozen at issue, so a document can never state other amounts.
    ``with_attachments=False`` leaves out the attachment bytes (a PDF only lists them).
    """
    return _document_and_totals(invoice, as_of=as_of, with_attachments=with_attachments, facts=facts)[0]


def _document_and_totals(invoice: Invoice, *, as_of: date | None = None, with_attachments: bool = True,
                         facts: DocumentFacts | None = None,
                         need_totals: bool = False) -> tuple[InvoiceDocument, InvoiceTotals | None]:
    """:func:`build_document` and the document's totals, computed once (None for a draft unless
    ``need_totals``): the printed page shows the totals the frozen ones were checked against."""
    facts = facts or facts_for(invoice)
    issue, due, terms_text = _dates(invoice, as_of)
    late_text = invoice.late_terms_text
    # A draft shows the late terms its issue will freeze (an imported draft: its source's terms only).
    policy = late_policy_of(invoice) if not late_text and invoice.status == Invoice.DRAFT and not facts.imported \
        else None
    if policy is not None:  # a draft: the words its issue will freeze (in the customer's language)
        late_text = late_terms_in(policy, invoice.currency, issue, invoice.locale or invoice.customer.locale)
    if not invoice.is_credit_note and not (facts.imported and not late_text):  # imported terms: verbatim
        terms_text = _sentences(terms_text, late_text)
    payment_means = None if invoice.is_credit_note else payment_means_of(invoice, facts)
    notes = [invoice.notes.strip()] if invoice.notes.strip() else []
    related = invoice.related_invoice
    loc = localizer(invoice.locale or invoice.customer.locale)  # the customer's words, frozen at issue
    if invoice.kind == Invoice.KIND_LATE_FEE and related is not None and related.number:
        notes.append(loc.t("late_fee_for", number=related.number))
    lines = [_line(line, invoice.currency, loc.language) for line in invoice.lines.all()]
    seller = facts.seller
    if {line.tax_category for line in lines} == {"O"}:
        seller = seller_identified_without_vat_id(seller)
    elif french_reform_parties(seller, facts.buyer):
        seller = french_seller_with_siren(seller)
    coded_notes, business_process = _french_reform_fields(invoice, facts, loc, issue)
    doc = InvoiceDocument(
        type_code=TYPE_CODES[invoice.kind],
        number=invoice.number or "",
        issue_date=issue,
        currency=invoice.currency,
        seller=seller,
        buyer=facts.buyer,
        lines=lines,
        due_date=due,
        # Peppol needs BT-10 or BT-13: without either, the customer number stands in for BT-10 (not on an
        # imported invoice, which states what its source stated).
        buyer_reference=invoice.buyer_reference or ("" if invoice.po_number or facts.imported
                                                    else facts.customer_code),
        order_reference=invoice.po_number,
        contract_reference=facts.contract_reference,
        preceding_invoice=related.number or "" if related is not None and invoice.is_credit_note else "",
        preceding_invoice_date=related.issue_date if related is not None and invoice.is_credit_note else None,
        buyer_accounting_ref=invoice.cost_centre,
        notes=notes,
        coded_notes=coded_notes,
        business_process=business_process,
        tax_currency=(facts.vat_accounting or {}).get("currency", ""),
        tax_currency_rate=Decimal((facts.vat_accounting or {})["rate"]) if facts.vat_accounting else None,
        period_start=invoice.service_period_start,
        period_end=invoice.service_period_end,
        payment_means=payment_means,
        payment_terms=terms_text,
        allowances_charges=[
            DocumentAllowanceCharge(
                is_charge=ac.is_charge,
                amount=from_minor(ac.amount_minor, invoice.currency) if ac.percent is None else None,
                percent=ac.percent,
                tax_category=ac.tax_category,
                tax_rate=ac.tax_rate,
                reason=ac.reason,
                reason_code=ac.reason_code,
                exemption_reason=ac.tax_exemption_reason,
            )
            for ac in invoice.allowances_charges.all()
        ],
        prepaid_amount=from_minor(invoice.prepaid_minor + settled_at_issue_minor(invoice, facts), invoice.currency),
        rounding_amount=from_minor(invoice.rounding_minor, invoice.currency),
        payee=party_from_json((invoice.additional_parties or {}).get("payee")),
        tax_representative=party_from_json((invoice.additional_parties or {}).get("tax_representative")),
        attachments=[_document_attachment(a, french_reform=french_reform_parties(facts.seller, facts.buyer))
                     for a in invoice.attachments.all()] if with_attachments else [],
    )
    totals = doc.totals() if need_totals or invoice.status != Invoice.DRAFT else None
    if invoice.status != Invoice.DRAFT:
        _check_frozen_totals(invoice, totals)
    return doc, totals


def _french_reform_fields(invoice: Invoice, facts: DocumentFacts, loc, issue: date
                          ) -> tuple[tuple[tuple[str, str], ...], str]:
    """A French seller's (notes with subject codes, billing framework BT-23) for the e-invoicing reform
    (BR-FR-05, BR-FR-08): the PMT, PMD and AAB notes go to business buyers (credit notes too, as the rules
    want them on every document); the billing framework to every document. Nothing for other sellers."""
    from .mentions import french_billing_mode, french_coded_notes

    if facts.seller.country_code != "FR":
        return (), ""
    buyer = facts.buyer
    notes = ()
    if buyer.vat_id.strip() or buyer.legal_registration_id.strip():
        notes = french_coded_notes(loc, late_policy_of(invoice), issue, invoice.currency)
    paid_at_issue = (not invoice.is_credit_note and invoice.total_minor > 0
                     and invoice.prepaid_minor + settled_at_issue_minor(invoice, facts) >= invoice.total_minor)
    mode = french_billing_mode(facts.legal.get("supply_kind", "services"),
                               after_down_payment=invoice.kind != Invoice.KIND_DEPOSIT and invoice.prepaid_minor > 0,
                               paid_at_issue=paid_at_issue)
    return notes, mode


def instruction_of(facts: DocumentFacts) -> PaymentInstruction:
    """How the invoice will be paid, as its snapshot states it (an invoice frozen before: a transfer)."""
    return PaymentInstruction.from_json(facts.payment) or PaymentInstruction(BANK_TRANSFER)


def payment_means_of(invoice: Invoice, facts: DocumentFacts) -> PaymentMeans | None:
    """The payment means (BG-16) of the method the invoice states (UNTDID 4461):

    - card autopay: 48 (bank card), with the card's last four digits (BT-87) when the provider gave them;
    - SEPA direct debit: 59, with the mandate reference (BT-89), the seller's bank-assigned creditor identifier
      (BT-90) and the debited account (BT-91, the debtor's IBAN);
    - transfer: 58 (SEPA credit transfer) from an IBAN of the SEPA area in euro, else 30 (credit transfer), with
      the seller's account (BT-84..86); none when the seller has no account to state.
    The remittance information (BT-83) is the invoice's RF reference in each case.
    """
    chosen = instruction_of(facts)
    if chosen.method == CARD:
        return PaymentMeans(code="48", text="Bank card", remittance_information=invoice.rf_reference,
                            card_number=chosen.card_last4)
    if chosen.method == SEPA_DEBIT:
        return PaymentMeans(code="59", text="SEPA direct debit", remittance_information=invoice.rf_reference,
                            mandate_reference=chosen.mandate_reference, creditor_id=chosen.creditor_id,
                            debited_account=chosen.debtor_iban)
    if not facts.iban:
        return None
    sepa = invoice.currency == "EUR" and facts.iban[:2].upper() in SEPA_COUNTRIES
    return PaymentMeans(
        code="58" if sepa else "30",
        text="SEPA credit transfer" if sepa else "Credit transfer",
        remittance_information=invoice.rf_reference,
        iban=facts.iban,
        account_name=facts.seller.name,
        bic=facts.bic,
    )


def document_allowances(invoice: Invoice) -> list[AllowanceCharge]:
    """The invoice's document-level allowances and charges as :func:`compute_totals` inputs.

    For :func:`duly.invoicing.services.recompute_totals`: an invoice imported with allowances or
    charges keeps them when it is issued.
    """
    return [
        AllowanceCharge(is_charge=ac.is_charge, tax_category=ac.tax_category, tax_rate=ac.tax_rate, reason=ac.reason,
                        amount=from_minor(ac.amount_minor, invoice.currency) if ac.percent is None else None,
                        percent=ac.percent)
        for ac in invoice.allowances_charges.all()
    ]


def _check_frozen_totals(invoice: Invoice, totals: InvoiceTotals) -> None:
    frozen = from_minor(invoice.total_minor, invoice.currency)
    if totals.tax_inclusive != frozen:
        raise InvalidDocumentData(
            f"Invoice {invoice.number}: its lines add up to {totals.tax_inclusive} {invoice.currency}, but "
            f"{frozen} {invoice.currency} was frozen at issue; the document is not rendered.",
            invoice=invoice.number or "",
        )


# --- what only a printed page shows ----------------------------------------------------------------
@dataclass(frozen=True)
class Branding:
    """The look of an organization's documents."""

    name: str
    color: str
    font_family: str
    #: ``data:`` URI of the font file to load with @font-face, or "".
    font_uri: str = ""
    #: ``data:`` URI of the logo, or "".
    logo_uri: str = ""
    footer_text: str = ""


@dataclass(frozen=True)
class PaymentOption:
    """One way to pay, printed in the customer's order of preference."""

    #: ``bank_transfer``, ``online``, ``card_autopay``, ``sepa_debit``, ``check`` or ``cash``.
    method: str
    preferred: bool = False
    iban: str = ""
    bic: str = ""
    bank_name: str = ""
    account_holder: str = ""
    #: Printed RF reference (``RF18 5390 0754 7034``).
    reference: str = ""
    url: str = ""
    #: ``data:`` URI (PNG) of the EPC069-12 QR code (EUR credit transfers only).
    qr_png: str = ""
    #: Card autopay and direct debit: the day the money is taken, and the amount.
    pay_date: date | None = None
    amount: Decimal | None = None
    #: Card autopay: ``Visa •••• 4242`` ("" when the provider did not say).
    card: str = ""
    #: Direct debit (the pre-notification): mandate reference, creditor identifier, debited account (masked).
    mandate_reference: str = ""
    creditor_id: str = ""
    debtor_account: str = ""


@dataclass(frozen=True)
class Reference:
    """A reference line of the header: a label key (or a custom field's own name) and its value."""

    label_key: str
    value: str
    custom_label: str = ""
    required: bool = False


@dataclass(frozen=True)
class AttachmentInfo:
    filename: str
    description: str
    size: int


@dataclass(frozen=True)
class PrintableInvoice:
    """Everything a printed invoice shows: the e-invoice snapshot plus the page-only facts."""

    document: InvoiceDocument
    totals: InvoiceTotals
    #: Duly invoice kind: ``standard``, ``deposit``, ``credit_note``, ``late_fee``.
    kind: str
    is_draft: bool
    locale: str
    branding: Branding
    org_slug: str
    #: Header references: customer number, PO number, buyer reference… (required ones marked).
    references: tuple[Reference, ...]
    #: The buyer address block (billing address when the customer gave one).
    buyer_address: tuple[str, ...]
    #: Deposit or credit deducted on the invoice itself.
    deposit_deducted: Decimal
    #: Payments and credit applied up to the issue date.
    already_paid: Decimal
    balance_due: Decimal
    payment_options: tuple[PaymentOption, ...]
    terms: PaymentTerms | None
    late_policy: LateFeePolicy | None
    #: Terms frozen at issue in the customer's language (``Invoice.payment_terms_text``, ``late_terms_text``; English
    #: on an invoice issued before they were translated).
    payment_terms_text: str
    late_terms_text: str
    rf_reference: str
    attachments: tuple[AttachmentInfo, ...] = field(default=())
    #: The invoice's own notes (the snapshot's notes may add generated English ones).
    notes: tuple[str, ...] = ()
    related_number: str = ""
    related_date: date | None = None
    #: The seller's details in the header and footer (the templates' ``org``), frozen at issue.
    seller_page: dict = field(default_factory=dict)
    #: The customer's retainer (prepaid) balance on the issue date, frozen at issue; None: no retainer.
    retainer_balance: Decimal | None = None
    retainer_as_of: date | None = None
    #: The exchange rate the VAT is also stated at (``{"currency", "rate", "date", "source"}``), frozen at issue.
    vat_accounting: dict | None = None


def branding_for(org) -> Branding:
    """The branding of an organization: logo and colour from the organization, font and footer
    from its optional :class:`~duly.invoicing.models.DocumentBranding`."""
    from ..models import DocumentBranding

    extra = DocumentBranding.objects.filter(organization=org).first()
    logo_uri = _data_uri(org.logo, "image/png")
    return Branding(
        name=org.trading_name or org.name,
        color=org.brand_color or "#1F4E79",
        font_family=(extra.font_family if extra and extra.font_family else "DejaVu Sans"),
        font_uri=_data_uri(extra.font_file, "font/ttf") if extra else "",
        logo_uri=logo_uri,
        footer_text=extra.footer_text if extra else "",
    )


def _data_uri(field_file, default_type: str) -> str:
    """A ``data:`` URI of a stored file (a logo, a font), read through its storage backend."""
    if not field_file:
        return ""
    try:
        with field_file.open("rb") as fh:
            content = fh.read()
    except OSError:
        return ""
    mime = mimetypes.guess_type(field_file.name)[0] or default_type
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def epc_qr(*, name: str, iban: str, bic: str, amount: Decimal, reference: str):
    """The EPC069-12 QR code ("GiroCode") of a EUR credit transfer: beneficiary, IBAN, BIC,
    amount and the structured RF reference, as a ``segno.QRCode``."""
    import segno.helpers

    from .qrmask import with_best_mask

    # segno.helpers.make_epc_qr, with the data mask chosen by qrmask (segno's own choice, computed
    # faster): the payload and encoding are segno's (EPC069-12, error level M, no error boost).
    data = segno.helpers._make_epc_qr_data(name[:70], iban, amount, None, reference or None, bic or None, None, None)
    qr = with_best_mask(segno.make_qr(data, error="m", boost_error=False, mask=0))
    if qr.version > 13:  # EPC069-12 allows versions up to 13 (as make_epc_qr checks)
        raise ValueError(f"Invalid EPC QR Code, max. QR Code version 13 is allowed, got {qr.designator!r}")
    return qr


def epc_qr_png(*, name: str, iban: str, bic: str, amount: Decimal, reference: str) -> str:
    """A ``data:`` URI of :func:`epc_qr` as a PNG with one pixel per module, for the printed page.

    The page scales it up with ``image-rendering: pixelated``, so the modules print sharp; a PNG
    costs the renderer far less than the equivalent SVG path.
    """
    qr = epc_qr(name=name, iban=iban, bic=bic, amount=amount, reference=reference)
    return qr.png_data_uri(scale=1, border=0)


def _payment_options(invoice: Invoice, balance: Decimal, facts: DocumentFacts) -> tuple[PaymentOption, ...]:
    """How to pay, as the invoice states it: the one automatic method that will take the money (card autopay,
    SEPA direct debit: nothing else is offered, no transfer QR code), else the ways the customer can pay (bank
    transfer with the RF reference and QR code, the pay link...) with the preferred one first."""
    if invoice.is_credit_note or balance <= 0:
        return ()
    holder = facts.seller.name
    reference = format_rf(invoice.rf_reference) if invoice.rf_reference else ""
    chosen = instruction_of(facts)
    if chosen.method == CARD:
        return (PaymentOption(method="card_autopay", card=chosen.card_label, pay_date=chosen.charge_date,
                              amount=balance, reference=reference),)
    if chosen.method == SEPA_DEBIT:
        return (PaymentOption(method="sepa_debit", account_holder=holder, reference=reference,
                              pay_date=chosen.debit_date, amount=balance, mandate_reference=chosen.mandate_reference,
                              creditor_id=chosen.creditor_id, debtor_account=chosen.debtor_iban_masked),)
    preferred = PREFERRED_OPTION.get(facts.preferred_payment_method, "bank_transfer")
    if preferred in AUTOMATIC_OPTIONS:
        preferred = "bank_transfer"  # a debit nobody will make is never promised: the customer transfers
    options: dict[str, PaymentOption] = {}
    if facts.iban:
        qr = ""
        if invoice.currency == "EUR" and invoice.rf_reference and Decimal("0.01") <= balance <= EPC_MAX_AMOUNT:
            qr = epc_qr_png(name=holder, iban=facts.iban, bic=facts.bic, amount=balance,
                            reference=invoice.rf_reference)
        options["bank_transfer"] = PaymentOption(
            method="bank_transfer", iban=facts.iban, bic=facts.bic, bank_name=facts.bank_name,
            account_holder=holder, reference=reference, qr_png=qr,
        )
    if settings.DULY_PUBLIC_URL:
        options["online"] = PaymentOption(method="online", url=pay_link(invoice))
    if preferred not in options:
        options[preferred] = PaymentOption(method=preferred, reference=reference, account_holder=holder)
    ordered = [options[preferred]] + [opt for key, opt in options.items() if key != preferred]
    return (replace(ordered[0], preferred=len(ordered) > 1), *ordered[1:])


def _references(invoice: Invoice, facts: DocumentFacts) -> tuple[Reference, ...]:
    required = set(facts.required_fields)
    refs = [Reference("customer_code", facts.customer_code)]
    for key in ("po_number", "buyer_reference", "cost_centre", "ap_contact"):
        value = str(getattr(invoice, key) or "").strip()
        if value:
            refs.append(Reference(key, value, required=key in required))
    if facts.contract_reference:
        refs.append(Reference("contract", facts.contract_reference))
    custom = {str(k): str(v).strip() for k, v in (invoice.custom_fields or {}).items()}
    custom_required = list(facts.custom_required_fields)
    names = custom_required + [k for k in custom if k not in custom_required]
    for name in names:
        if custom.get(name):
            refs.append(Reference("custom", custom[name], custom_label=name, required=name in custom_required))
    return tuple(refs)


def _check_printable(doc: InvoiceDocument) -> None:
    """The data no printed invoice may lack, named like the EN 16931 terms."""
    missing = []
    seller, buyer = doc.seller, doc.buyer
    for ok, what in (
        (seller.name.strip(), "seller name (BT-27)"),
        (seller.address_lines and seller.city, "seller address (BG-5)"),
        (seller.country_code, "seller country (BT-40)"),
        (buyer.name.strip(), "buyer name (BT-44)"),
        (buyer.country_code, "buyer country (BT-55)"),
        (doc.lines, "at least one invoice line (BG-25)"),
    ):
        if not ok:
            missing.append(what)
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise MissingDocumentData(
            f"{', '.join(missing)} {verb} required to print {doc.kind} {doc.number or '(draft)'}",
            missing=missing, invoice=doc.number,
        )


def build_printable(invoice: Invoice, *, as_of: date | None = None) -> PrintableInvoice:
    """The :class:`PrintableInvoice` of ``invoice`` (a draft is previewed as issued on ``as_of``)."""
    facts = facts_for(invoice, as_of=as_of)
    doc, totals = _document_and_totals(invoice, as_of=as_of, with_attachments=False, facts=facts, need_totals=True)
    _check_printable(doc)
    cur = invoice.currency
    deposit = from_minor(invoice.prepaid_minor, cur)
    paid = from_minor(settled_at_issue_minor(invoice, facts), cur)
    balance = totals.payable  # the snapshot's prepaid amount (BT-113) is the deposit plus ``paid``
    customer = invoice.customer
    related = invoice.related_invoice
    return PrintableInvoice(
        document=doc,
        totals=totals,
        kind=invoice.kind,
        is_draft=invoice.status == Invoice.DRAFT,
        locale=invoice.locale or customer.locale,
        # The look (logo, colour, font, footer) is the organization's when the PDF is first rendered (and
        # then stored); the names and details on it are the ones frozen at issue.
        branding=replace(branding_for(invoice.organization), name=facts.trading_name or facts.seller.name),
        org_slug=invoice.organization.slug,
        references=_references(invoice, facts),
        buyer_address=facts.buyer_address_lines,
        deposit_deducted=deposit,
        already_paid=paid,
        balance_due=balance,
        payment_options=_payment_options(invoice, balance, facts),
        terms=terms_of(invoice),
        late_policy=late_policy_of(invoice),
        payment_terms_text=invoice.payment_terms_text,
        late_terms_text=invoice.late_terms_text,
        rf_reference=format_rf(invoice.rf_reference) if invoice.rf_reference else "",
        attachments=tuple(AttachmentInfo(a.filename, a.description, a.size) for a in invoice.attachments.all()),
        notes=tuple(x.strip() for x in invoice.notes.split("\n\n") if x.strip()),
        related_number=related.number or "" if related is not None else "",
        related_date=related.issue_date if related is not None else None,
        seller_page=facts.org_view(),
        retainer_balance=facts.retainer_balance,
        retainer_as_of=facts.retainer_as_of,
        vat_accounting=facts.vat_accounting,
    )
