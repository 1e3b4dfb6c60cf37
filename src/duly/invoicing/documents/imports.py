"""Import an EN 16931 e-invoice (UBL 2.1 or CII) into a draft: migrating from another system.

The XML is read by :func:`duly.invoicing.einvoice.importer.parse_einvoice` (which refuses a
document whose stated totals do not add up), then written as a draft of the organization:

Seller
    Must be the organization itself (same VAT id, or the same name when either has no VAT
    id): an invoice issued by someone else is refused, naming both.
Buyer
    Matched to a customer by VAT id, then by the buyer identifier (BT-46) as customer code,
    then by name; otherwise created with the buyer's name, address, VAT id and contact.
Parties
    Kept exactly as the file states them, in the draft's document snapshot (see
    :mod:`duly.invoicing.documents.snapshot`): seller and buyer with every identifier and scheme,
    address, contact and electronic address; the payee (BG-10) and the seller's tax representative
    (BG-11) in ``Invoice.additional_parties``. Issuing the draft keeps them.
Lines, tax, allowances and charges
    Kept as stated: quantity, unit, net price and its base quantity (BT-149) and unit (BT-150),
    gross price and price discount (BT-148 / BT-147), the line discount (percentage or amount),
    or each line allowance and charge apart when there are several (BG-27 / BG-28), VAT category,
    rate and exemption reason and code, period, note, item description and identifiers (BT-154 …
    BT-157), order line and accounting references. A line whose stated values do not give its
    stated net amount is reconciled as :mod:`duly.invoicing.einvoice.importer` explains (the
    stated net amount and price are kept). Document allowances/charges are stored as
    :class:`~duly.invoicing.models.InvoiceAllowanceCharge`; the amount already paid (BT-113) as
    the invoice's prepaid amount, the rounding amount (BT-114) as its rounding amount.
References
    PO number (BT-13), buyer reference (BT-10), accounting reference (BT-19, as cost centre),
    contract reference (BT-12), service period, notes and payment terms are kept; the original
    number and an unknown preceding invoice are kept as custom fields (the draft gets its own
    number when it is issued).

The draft's totals are recomputed by the same snapshot arithmetic and must equal the source's,
or nothing is written. Importing the same invoice twice for the same customer is refused.

Not carried over: item classifications and attributes, external (URI) attachments, the
deliver-to party beyond its country and date, and payment means other than the first (the
draft is paid to the account its source named, or the organization's own).
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from decimal import Decimal, localcontext

from django.db import transaction
from django.utils.text import slugify

from duly.customers.models import Customer, Organization
from duly.domain.errors import Conflict, ValidationError
from duly.domain.invoice_math import totals_to_minor
from duly.domain.money import MONEY_CONTEXT, to_minor
from duly.invoicing.einvoice.model import CREDIT_NOTE_TYPE_CODES, PREPAYMENT_INVOICE, InvoiceDocument, Party

from ..models import Invoice, InvoiceAllowanceCharge, InvoiceLine
from ..services import create_imported_draft, freeze_imported_totals
from .snapshot import imported_snapshot, party_json

__all__ = ["ORIGINAL_NUMBER_FIELD", "ImportedDraft", "import_einvoice"]

#: Custom field keeping the number the invoice had in the system it comes from.
ORIGINAL_NUMBER_FIELD = "Original invoice number"
PRECEDING_FIELD = "Preceding invoice"
#: InvoiceLine.unit_price keeps 6 decimals, InvoiceLine.base_quantity 10.
_PRICE_QUANTUM = Decimal("0.000001")
_BASE_QUANTUM = Decimal("1e-10")
_VAT_NOISE = re.compile(r"[^A-Z0-9]")


@dataclass(frozen=True)
class ImportedDraft:
    """The draft an e-invoice became, its customer (matched or created) and what was read."""

    invoice: Invoice
    customer: Customer
    customer_created: bool
    #: The document as read from the file (what the draft reproduces).
    source: InvoiceDocument
    syntax: str
    #: Lines the file stated inconsistently and how they were reconciled (see the importer), one sentence each.
    adjustments: tuple[str, ...] = ()


def _vat(value: str) -> str:
    return _VAT_NOISE.sub("", value.upper())


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def _check_seller(org: Organization, seller: Party, number: str) -> None:
    if seller.vat_id and org.vat_id:
        same = _vat(seller.vat_id) == _vat(org.vat_id)
    else:
        same = _same_name(seller.name, org.name) or bool(org.trading_name and _same_name(seller.name, org.trading_name))
    if not same:
        who = seller.name + (f" (VAT {seller.vat_id})" if seller.vat_id else "")
        raise ValidationError(
            f"Invoice {number} was issued by {who}, not by {org.name}"
            + (f" (VAT {org.vat_id})" if org.vat_id else "")
            + ": import it into the organization that issued it (--org).",
            seller=seller.name, organization=org.slug,
        )


def _find_customer(org: Organization, buyer: Party) -> Customer | None:
    customers = Customer.objects.filter(organization=org)
    if buyer.vat_id:
        wanted = _vat(buyer.vat_id)
        for customer in customers.exclude(tax_id=""):
            if _vat(customer.tax_id) == wanted:
                return customer
    if buyer.identifier:
        customer = customers.filter(code=buyer.identifier).first()
        if customer is not None and _same_name(customer.name, buyer.name):
            return customer
    for customer in customers.filter(name__iexact=buyer.name.strip()):
        return customer
    return None


def _new_code(org: Organization, buyer: Party) -> str:
    base = (buyer.identifier or slugify(buyer.name).upper() or "CUSTOMER")[:36]
    code, n = base, 1
    while Customer.objects.filter(organization=org, code=code).exists():
        n += 1
        code = f"{base}-{n}"
    return code


def _create_customer(org: Organization, buyer: Party, currency: str) -> Customer:
    from duly.customers.services import create_customer

    lines = list(buyer.address_lines)
    contacts = []
    if buyer.contact_name or buyer.contact_email:
        contacts.append({"name": buyer.contact_name or buyer.name, "email": buyer.contact_email,
                         "phone": buyer.contact_phone, "role": "accounts_payable"})
    return create_customer(
        org,
        code=_new_code(org, buyer),
        name=buyer.name,
        address_line1=lines[0] if lines else "",
        address_line2=", ".join(lines[1:]),
        postcode=buyer.postcode,
        city=buyer.city,
        country=buyer.country_code,
        tax_id=buyer.vat_id or buyer.legal_registration_id,
        currency=currency,
        locale=org.locale,
        timezone=org.timezone,
        email=buyer.contact_email,
        contacts=contacts,
    )


def _kind(doc: InvoiceDocument) -> str:
    if doc.type_code in CREDIT_NOTE_TYPE_CODES:
        return Invoice.KIND_CREDIT_NOTE
    if doc.type_code == PREPAYMENT_INVOICE:
        return Invoice.KIND_DEPOSIT
    return Invoice.KIND_STANDARD


def _exact(value: Decimal, quantum: Decimal) -> Decimal:
    """``value`` to the decimals Duly stores. A value that does not fit is refused with the whole
    document (:func:`_check_same_amounts`: the line would no longer come to its stated amount)."""
    with localcontext(MONEY_CONTEXT):
        return value.quantize(quantum).normalize() if value != value.quantize(quantum) else value


def _fits(model, what: str, **values) -> dict:
    """``values`` if each fits its column exactly (length, digits, decimals, range); else the clear error
    naming the field, and nothing of the invoice is written (the import is one transaction)."""
    from duly.customers.services import check_model_values

    return check_model_values(model, values, what[:80])


def _line_details(line, position: int) -> dict:
    """What an imported line states beyond Duly's own line fields (``InvoiceLine.details``)."""
    details = {
        "line_id": line.id if line.id != str(position) else "",
        "description": line.description,
        "seller_item_id": line.seller_item_id,
        "buyer_item_id": line.buyer_item_id,
        "standard_item_id": line.standard_item_id,
        "standard_item_scheme": line.standard_item_scheme,
        "base_quantity_unit": line.base_quantity_unit,
        "gross_price": str(line.gross_price) if line.gross_price is not None else "",
        "price_discount": str(line.price_discount) if line.price_discount is not None else "",
        "order_line_ref": line.order_line_ref,
        "buyer_accounting_ref": line.buyer_accounting_ref,
    }
    details = {k: v for k, v in details.items() if v}
    details["exemption_reason_code"] = line.exemption_reason_code
    if line.discount_percent is not None or line.discount_amount is not None:
        details["discount_reason"], details["discount_reason_code"] = line.discount_reason, line.discount_reason_code
    return details


def _check_same_amounts(source: InvoiceDocument, draft: InvoiceDocument) -> None:
    a, b = source.totals(), draft.totals()
    if (a.lines, a.tax_breakdown, a.tax_inclusive, a.payable) != (b.lines, b.tax_breakdown, b.tax_inclusive, b.payable):
        raise ValidationError(
            f"Invoice {source.number} cannot be stored exactly as a Duly draft "
            f"(total {a.tax_inclusive} would become {b.tax_inclusive}); nothing was imported."
        )


@transaction.atomic
def import_einvoice(org: Organization, xml: bytes) -> ImportedDraft:
    """Read a UBL or CII invoice (bytes) into a new draft of ``org`` (see the module notes)."""
    from duly.invoicing.einvoice.importer import read_checked

    from .adapter import build_document

    read = read_checked(xml)
    doc, syntax = read.document, read.syntax
    _check_seller(org, doc.seller, doc.number)
    customer = _find_customer(org, doc.buyer)
    created = customer is None
    if customer is None:
        customer = _create_customer(org, doc.buyer, doc.currency)
    for existing in Invoice.objects.filter(organization=org, customer=customer).only("pk", "custom_fields"):
        if (existing.custom_fields or {}).get(ORIGINAL_NUMBER_FIELD) == doc.number:
            raise Conflict(
                f"Invoice {doc.number} of {customer.name} was already imported (draft or invoice #{existing.pk}).",
                code="already_imported", invoice=existing.pk,
            )

    custom = {ORIGINAL_NUMBER_FIELD: doc.number}
    related = None
    if doc.preceding_invoice:
        related = Invoice.objects.filter(organization=org, number=doc.preceding_invoice).first()
        if related is None:
            custom[PRECEDING_FIELD] = doc.preceding_invoice
    cur = doc.currency
    fields = _fits(
        Invoice, f"Invoice {doc.number}",
        kind=_kind(doc),
        currency=cur,
        locale=customer.locale,
        issue_date=doc.issue_date,
        due_date=doc.due_date,
        service_period_start=doc.period_start,
        service_period_end=doc.period_end,
        po_number=doc.order_reference,
        buyer_reference=doc.buyer_reference,
        cost_centre=doc.buyer_accounting_ref,
        ap_contact=doc.buyer.contact_name,
        custom_fields=custom,
        notes="\n\n".join(doc.notes),
        payment_terms_text=doc.payment_terms,
        prepaid_minor=to_minor(doc.prepaid_amount, cur),
        rounding_minor=to_minor(doc.rounding_amount, cur),
        additional_parties={key: party_json(party) for key, party in (
            ("payee", doc.payee), ("tax_representative", doc.tax_representative)) if party is not None},
    )
    results = doc.totals().lines
    lines = [
        _fits(
            InvoiceLine, f"Invoice {doc.number}, line {line.id}",
            position=n,
            description=line.name[:500],
            quantity=line.quantity,
            unit=line.unit_code,
            unit_price=_exact(line.net_price, _PRICE_QUANTUM),
            base_quantity=_exact(line.base_quantity, _BASE_QUANTUM),
            discount_percent=line.discount_percent,
            discount_amount=line.discount_amount,
            allowances_charges=[
                {"charge": a.is_charge, "amount": str(a.amount),
                 "percent": str(a.percent) if a.percent is not None else None,
                 "base": str(a.base) if a.base is not None else None, "reason": a.reason,
                 "reason_code": a.reason_code}
                for a in line.allowances_charges
            ],
            details=_line_details(line, n),
            tax_category=line.tax_category,
            tax_rate=line.tax_rate,
            tax_exemption_reason=line.exemption_reason[:200],
            period_start=line.period_start,
            period_end=line.period_end,
            explanation=line.note,
            net_minor=to_minor(result.net_amount, cur),
            discount_minor=to_minor(result.discount_amount, cur),
        )
        for n, (line, result) in enumerate(zip(doc.lines, results, strict=True), 1)
    ]
    amounts = doc.allowance_charge_amounts()
    allowances = [
        _fits(
            InvoiceAllowanceCharge, f"Invoice {doc.number}, allowance or charge {n}",
            position=n, is_charge=ac.is_charge, amount_minor=to_minor(amount, cur), percent=ac.percent,
            reason=ac.reason[:200], reason_code=ac.reason_code, tax_category=ac.tax_category,
            tax_rate=ac.tax_rate, tax_exemption_reason=ac.exemption_reason[:200],
        )
        for n, (ac, amount) in enumerate(zip(doc.allowances_charges, amounts, strict=True), 1)
    ]
    # Written by the invoicing service, the parties as the file states them frozen in the draft's snapshot.
    invoice = create_imported_draft(org, customer, related=related, fields=fields,
                                    snapshot=imported_snapshot(doc, customer), lines=lines, allowances=allowances)
    for attachment in doc.attachments:
        _attach(org, invoice, attachment)

    draft_doc = build_document(invoice, with_attachments=False)
    _check_same_amounts(doc, draft_doc)
    _store_totals(invoice, draft_doc)
    return ImportedDraft(invoice=invoice, customer=customer, customer_created=created, source=doc, syntax=syntax,
                         adjustments=read.adjustments)


def _attach(org: Organization, invoice: Invoice, attachment) -> None:
    from ..services import add_attachment

    add_attachment(org, invoice.pk, attachment.filename, attachment.content, description=attachment.description,
                   content_type=attachment.mime_code or mimetypes.guess_type(attachment.filename)[0])


def _store_totals(invoice: Invoice, doc: InvoiceDocument) -> None:
    """Freeze the draft's document totals (computed with its allowances, charges and prepaid amount)."""
    freeze_imported_totals(invoice, totals_to_minor(doc.totals()))

