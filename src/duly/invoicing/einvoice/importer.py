"""Read a received EN 16931 e-invoice (UBL 2.1 Invoice/CreditNote or CII D16B) into an
:class:`~duly.invoicing.einvoice.model.InvoiceDocument`.

Amounts are recomputed, never copied: the document's totals come from
:meth:`InvoiceDocument.totals`. :func:`import_einvoice` therefore compares them with the
totals the sender stated (BT-106 … BT-115 and the VAT breakdown) and reports any difference;
:func:`parse_einvoice` refuses a document whose stated totals do not add up.

Reconciling lines
    The stated line net amount (BT-131) is authoritative: EN 16931 adds the totals from it.
    Some senders write a quantity, price and price base quantity that do not multiply out to
    it (a return written with a positive quantity, a price base quantity that repeats the
    price). The importer then keeps BT-131 and adjusts the fewest other values, trying in
    order: the stated values; the price base quantity (BT-149) derived from the others; the
    quantity with its sign flipped; the net price (BT-146) derived from the others. Every
    adjustment is listed in :attr:`ImportResult.adjustments`.

What is carried over
    Everything :class:`InvoiceDocument` models, as stated: parties with their identifiers and
    schemes, payee (BG-10) and tax representative (BG-11), line allowances and charges each apart
    (BG-27 / BG-28, with percentage and base), price discount and gross price (BT-147 / BT-148),
    price base quantity and its unit (BT-149 / BT-150), item identifiers (BT-155 … BT-157), the
    rounding amount (BT-114). Left out: item classifications and attributes, external (URI)
    attachments, the deliver-to party beyond its country and date, and payment means after the first.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation, localcontext

from lxml import etree

from duly.domain.bounds import MAX_MINOR_DIGITS, check_date_range
from duly.domain.errors import EInvoiceInvalid, NumberOutOfRange, ValidationError
from duly.domain.invoice_math import TaxSubtotal, compute_totals
from duly.domain.money import MONEY_CONTEXT, round_money

from .model import (
    Attachment,
    DocumentAllowanceCharge,
    InvoiceDocument,
    InvoiceLine,
    LineAllowanceCharge,
    Party,
    PaymentMeans,
)
from .xmlutil import CAC, CBC, CII_NSMAP, RAM, UBL_CREDIT_NOTE_NS, UBL_NSMAP, Syntax, detect_syntax, parse_xml

__all__ = ["ImportResult", "StatedTotals", "import_einvoice", "parse_einvoice", "read_checked"]

_ZERO = Decimal(0)
_ONE = Decimal(1)
#: Decimals kept when the importer derives a price or a price base quantity.
_DERIVED_QUANTUM = Decimal("1e-10")


@dataclass(frozen=True)
class StatedTotals:
    """The totals as written in the received document (BG-22 and BG-23)."""

    line_total: Decimal
    allowance_total: Decimal
    charge_total: Decimal
    tax_exclusive: Decimal
    tax_total: Decimal
    tax_inclusive: Decimal
    prepaid: Decimal
    rounding: Decimal
    payable: Decimal
    tax_breakdown: tuple[TaxSubtotal, ...]


_TOTAL_TERMS = {
    "line_total": "BT-106",
    "allowance_total": "BT-107",
    "charge_total": "BT-108",
    "tax_exclusive": "BT-109",
    "tax_total": "BT-110",
    "tax_inclusive": "BT-112",
    "prepaid": "BT-113",
    "rounding": "BT-114",
    "payable": "BT-115",
}


@dataclass(frozen=True)
class ImportResult:
    document: InvoiceDocument
    syntax: Syntax
    stated: StatedTotals
    #: What the importer had to reconcile (see the module notes), one sentence each.
    adjustments: tuple[str, ...]

    def mismatches(self) -> list[str]:
        """Differences between the stated totals and the totals Duly computes (empty when they agree)."""
        computed = self.document.totals()
        problems = [
            f"{term} stated {getattr(self.stated, name)}, computed {getattr(computed, name)}"
            for name, term in _TOTAL_TERMS.items()
            if getattr(self.stated, name) != getattr(computed, name)
        ]
        stated_rows = sorted((t.category, t.rate, t.taxable_amount, t.tax_amount) for t in self.stated.tax_breakdown)
        computed_rows = sorted((t.category, t.rate, t.taxable_amount, t.tax_amount) for t in computed.tax_breakdown)
        if stated_rows != computed_rows:
            problems.append(f"VAT breakdown (BG-23) stated {stated_rows}, computed {computed_rows}")
        return problems


def parse_einvoice(xml: bytes) -> InvoiceDocument:
    """The :class:`InvoiceDocument` of a received UBL or CII e-invoice.

    Raises :class:`~duly.domain.errors.ValidationError` for XML that is not an EN 16931
    invoice, and :class:`~duly.domain.errors.EInvoiceInvalid` when its stated totals differ
    from the EN 16931 arithmetic (use :func:`import_einvoice` to inspect such a document).
    """
    return read_checked(xml).document


def read_checked(xml: bytes) -> ImportResult:
    """:func:`import_einvoice`, refusing (like :func:`parse_einvoice`) stated totals that do not add up."""
    result = import_einvoice(xml)
    problems = result.mismatches()
    if problems:
        raise EInvoiceInvalid(
            f"The totals of {result.document.kind} {result.document.number} do not add up: {'; '.join(problems)}",
            rule_ids=["BR-CO-10", "BR-CO-13", "BR-CO-14", "BR-CO-15", "BR-CO-16"],
            invoice=result.document.number,
        )
    return result


def import_einvoice(xml: bytes) -> ImportResult:
    """Read a UBL or CII e-invoice: the document, the stated totals and the adjustments made."""
    root = parse_xml(xml)
    syntax = detect_syntax(root)
    reader = _UblReader(root) if syntax == "ubl" else _CiiReader(root)
    return reader.read()


# --- shared helpers ------------------------------------------------------------------------------


def _decimal(text: str | None, what: str, default: Decimal | None = None) -> Decimal:
    if text is None or not text.strip():
        if default is None:
            raise ValidationError(f"The e-invoice has no {what}.")
        return default
    shown = _shown(text.strip())
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValidationError(f"The {what} {shown} is not a number.") from None
    if not value.is_finite():
        raise ValidationError(f"The {what} {shown} is not a number.")
    if value and not -_MAX_EXPONENT <= value.adjusted() < MAX_MINOR_DIGITS:
        # No amount, quantity, price or rate of an invoice comes near: refused before any arithmetic.
        raise NumberOutOfRange(f"The {what} {shown} is out of range (too large or too small for an invoice).")
    return value


#: Numbers read from an e-invoice are below 10^16 (the largest amount Duly stores) and above 10^-30.
_MAX_EXPONENT = 30


def _shown(text: str, limit: int = 40) -> str:
    """Text from the file as a message quotes it: never longer than ``limit`` characters."""
    quoted = repr(text)
    return quoted if len(quoted) <= limit else f"{quoted[:limit]}…"


def _optional(text: str | None, what: str) -> Decimal | None:
    """A number that may be absent."""
    return _decimal(text, what) if text is not None and text.strip() else None


def _iso_date(text: str | None, what: str) -> date | None:
    if text is None or not text.strip():
        return None
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"The {what} {_shown(text.strip())} is not a date (YYYY-MM-DD).") from None
    return check_date_range(value, f"The {what}")


def _cii_date(text: str | None, what: str) -> date | None:
    if text is None or not text.strip():
        return None
    try:
        value = datetime.strptime(text.strip(), "%Y%m%d").date()
    except ValueError:
        raise ValidationError(f"The {what} {_shown(text.strip())} is not a date (format 102, CCYYMMDD).") from None
    return check_date_range(value, f"The {what}")


def _clean(text: str | None) -> str:
    return " ".join(text.split()) if text else ""


def _compact(text: str | None) -> str:
    """An account identifier in its electronic form: no spaces (``NL57 RABO 0107…`` -> ``NL57RABO0107…``)."""
    return "".join(text.split()) if text else ""


def _content(text: str | None) -> str:
    """Free text keeps its line breaks; only the ends are trimmed."""
    return "\n".join(line.strip() for line in text.strip().splitlines()) if text else ""


def _b64(text: str | None, filename: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"The attachment {filename!r} is not valid base64.") from None


@dataclass(frozen=True)
class _RawLine:
    """A line as stated, before reconciliation."""

    line: InvoiceLine
    stated_net: Decimal
    #: BT-138 and BT-137, when the line's only allowance is stated as a percentage.
    discount_percent: Decimal | None = None
    discount_base: Decimal | None = None


@dataclass(frozen=True)
class _RawAllowance:
    """A document allowance/charge as stated, with its percentage and base (BT-94/93, BT-101/100)."""

    item: DocumentAllowanceCharge
    percent: Decimal | None
    base: Decimal | None


def _line_net(line: InvoiceLine, currency: str) -> Decimal | None:
    try:
        return compute_totals([line.line_input()], currency, allow_negative=True).lines[0].net_amount
    except ValidationError:
        return None


def _derive(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if denominator == 0:
        return None
    with localcontext(MONEY_CONTEXT):
        value = (numerator / denominator).quantize(_DERIVED_QUANTUM)
        return value.normalize() if value != 0 else value


def _reconcile(raw: _RawLine, currency: str) -> tuple[InvoiceLine, str]:
    """The line adjusted (fewest changes) so its net amount equals the stated BT-131, and what changed."""
    line, target = raw.line, raw.stated_net
    sign = -1 if target < 0 else 1
    discount = line.discount_amount if line.discount_amount is not None else _ZERO
    discount += sum((a.amount for a in line.allowances_charges if not a.is_charge), _ZERO)
    discount -= sum((a.amount for a in line.allowances_charges if a.is_charge), _ZERO)
    gross = target + sign * discount  # quantity × price / base quantity the stated net implies
    candidates: list[tuple[InvoiceLine, str]] = [(line, "")]
    base = _derive(line.quantity * line.net_price, gross)
    if base is not None and base > 0:
        candidates.append((replace(line, base_quantity=base),
                           f"price base quantity (BT-149) {line.base_quantity} -> {base}"))
    candidates.append((replace(line, quantity=-line.quantity),
                       f"quantity (BT-129) {line.quantity} -> {-line.quantity}"))
    for quantity in (line.quantity, -line.quantity):
        price = _derive(gross * line.base_quantity, quantity)
        if price is not None and price >= 0:
            changed = replace(line, quantity=quantity, net_price=price)
            what = f"net price (BT-146) {line.net_price} -> {price}"
            if quantity != line.quantity:
                what = f"quantity (BT-129) {line.quantity} -> {quantity} and {what}"
            candidates.append((changed, what))
    for candidate, what in candidates:
        if _line_net(candidate, currency) == target:
            return candidate, what
    raise ValidationError(
        f"Line {line.id}: quantity {line.quantity} × price {line.net_price} / {line.base_quantity} "
        f"cannot be reconciled with its stated net amount {target} (BT-131)."
    )


def _percent_line(raw: _RawLine, currency: str) -> InvoiceLine | None:
    """The line with its discount as the stated percentage, when that gives the same amounts (and the
    stated base amount, if any, is the line's gross amount)."""
    if raw.discount_percent is None or raw.line.discount_amount is None:
        return None
    candidate = replace(raw.line, discount_amount=None, discount_percent=raw.discount_percent)
    try:
        result = compute_totals([candidate.line_input()], currency, allow_negative=True).lines[0]
    except ValidationError:
        return None
    if result.net_amount != raw.stated_net or abs(result.discount_amount) != raw.line.discount_amount:
        return None
    gross = round_money(candidate.quantity * candidate.net_price / candidate.base_quantity, currency)
    if raw.discount_base is not None and abs(raw.discount_base) != abs(gross):
        return None
    return candidate


def _line_allowance_fields(stated: list[LineAllowanceCharge]) -> tuple[dict, Decimal | None]:
    """InvoiceLine fields for a line's allowances and charges as stated, and the percentage to try.

    One allowance (and no charge) stated as a plain amount, or as a percentage of the line's gross
    amount, is the line's discount (BT-136 / BT-138, Duly's own form; the percentage is returned
    for :func:`_percent_line` to check). Anything else (several allowances, charges, a base
    amount that is not the gross amount) is kept as stated, each allowance and charge apart.
    """
    if not stated:
        return {}, None
    if len(stated) == 1 and not stated[0].is_charge:
        only = stated[0]
        if only.base is None or only.percent is not None:
            return {
                "discount_amount": only.amount,
                "discount_reason": only.reason or ("" if only.reason_code else "Discount"),
                "discount_reason_code": only.reason_code,
            }, only.percent
    return {"allowances_charges": tuple(stated)}, None


class _Reader:
    """Shared assembly: lines reconciled, exemption reasons attached, document built."""

    syntax: Syntax

    def build(
        self,
        fields: dict,
        raw_lines: list[_RawLine],
        raw_allowances: list[_RawAllowance],
        stated: StatedTotals,
        exemptions: dict[str, tuple[str, str]],
    ) -> ImportResult:
        currency = fields["currency"]
        adjustments: list[str] = []
        lines = []
        for raw in raw_lines:
            percent_line = _percent_line(raw, currency)
            line, what = (percent_line, "") if percent_line is not None else _reconcile(raw, currency)
            if what:
                adjustments.append(f"line {line.id}: {what} to match the stated net amount {raw.stated_net} (BT-131)")
            reason, code = exemptions.get(line.tax_category, ("", ""))
            lines.append(replace(line, exemption_reason=reason, exemption_reason_code=code))
        allowances = []
        for raw_allowance in raw_allowances:
            item = raw_allowance.item
            percent, base = raw_allowance.percent, raw_allowance.base
            if (percent is not None and base == stated.line_total
                    and round_money(base * percent / 100, currency) == item.amount):
                item = replace(item, amount=None, percent=percent)  # "3% of the line total", as stated
            reason, code = exemptions.get(item.tax_category, ("", ""))
            allowances.append(replace(item, exemption_reason=reason, exemption_reason_code=code))
        document = InvoiceDocument(lines=tuple(lines), allowances_charges=tuple(allowances), **fields)
        return ImportResult(document, self.syntax, stated, tuple(adjustments))


# --- UBL -----------------------------------------------------------------------------------------


class _UblReader(_Reader):
    syntax: Syntax = "ubl"

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.credit = etree.QName(root).namespace == UBL_CREDIT_NOTE_NS

    def text(self, node: etree._Element, path: str) -> str:
        return str(node.xpath(f"string({path})", namespaces=UBL_NSMAP))

    def first(self, node: etree._Element, path: str) -> etree._Element | None:
        found = node.xpath(path, namespaces=UBL_NSMAP)
        return found[0] if found else None

    def amount(self, node: etree._Element, path: str, what: str, default: Decimal | None = None) -> Decimal:
        return _decimal(self.text(node, path), what, default)

    def read(self) -> ImportResult:
        root = self.root
        currency = _clean(self.text(root, "cbc:DocumentCurrencyCode"))
        type_tag = "cbc:CreditNoteTypeCode" if self.credit else "cbc:InvoiceTypeCode"
        means_node = self.first(root, "cac:PaymentMeans")
        due = self.text(root, "cbc:DueDate") or self.text(root, "cac:PaymentMeans/cbc:PaymentDueDate")
        fields = dict(
            type_code=_clean(self.text(root, type_tag)),
            number=_clean(self.text(root, "cbc:ID")),
            issue_date=_iso_date(self.text(root, "cbc:IssueDate"), "issue date (BT-2)")
            or _missing("issue date (BT-2)"),
            currency=currency,
            due_date=_iso_date(due, "due date (BT-9)"),
            buyer_reference=_clean(self.text(root, "cbc:BuyerReference")),
            order_reference=_clean(self.text(root, "cac:OrderReference/cbc:ID")),
            contract_reference=_clean(self.text(root, "cac:ContractDocumentReference/cbc:ID")),
            preceding_invoice=_clean(self.text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID")),
            preceding_invoice_date=_iso_date(
                self.text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate"),
                "preceding invoice date (BT-26)"),
            buyer_accounting_ref=_clean(self.text(root, "cbc:AccountingCost")),
            notes=tuple(_content(n.text) for n in root.findall(f"{{{CBC}}}Note") if _content(n.text)),
            period_start=_iso_date(self.text(root, "cac:InvoicePeriod/cbc:StartDate"), "period start (BT-73)"),
            period_end=_iso_date(self.text(root, "cac:InvoicePeriod/cbc:EndDate"), "period end (BT-74)"),
            delivery_date=_iso_date(self.text(root, "cac:Delivery/cbc:ActualDeliveryDate"), "delivery date (BT-72)"),
            deliver_to_country=_clean(self.text(
                root, "cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode")),
            seller=self.party(self.first(root, "cac:AccountingSupplierParty/cac:Party")),
            buyer=self.party(self.first(root, "cac:AccountingCustomerParty/cac:Party")),
            payee=self.party(payee) if (payee := self.first(root, "cac:PayeeParty")) is not None else None,
            tax_representative=self.party(representative)
            if (representative := self.first(root, "cac:TaxRepresentativeParty")) is not None else None,
            payment_means=self.payment_means(means_node) if means_node is not None else None,
            payment_terms=_content(self.text(root, "cac:PaymentTerms/cbc:Note")),
            prepaid_amount=self.amount(root, "cac:LegalMonetaryTotal/cbc:PrepaidAmount", "BT-113", _ZERO),
            rounding_amount=self.amount(root, "cac:LegalMonetaryTotal/cbc:PayableRoundingAmount", "BT-114", _ZERO),
            attachments=tuple(self.attachments()),
        )
        return self.build(fields, self.lines(), self.allowances(), self.stated(), self.exemptions())

    def party(self, node: etree._Element | None) -> Party:
        if node is None:
            return Party(name="")
        text = self.text
        registration = _clean(text(node, "cac:PartyLegalEntity/cbc:RegistrationName"))
        party_name = _clean(text(node, "cac:PartyName/cbc:Name"))
        identifier = self.first(node, "cac:PartyIdentification/cbc:ID[not(@schemeID='SEPA')]")
        legal_id = self.first(node, "cac:PartyLegalEntity/cbc:CompanyID")
        endpoint = self.first(node, "cbc:EndpointID")
        address_lines = [
            _clean(text(node, "cac:PostalAddress/cbc:StreetName")),
            _clean(text(node, "cac:PostalAddress/cbc:AdditionalStreetName")),
            _clean(text(node, "cac:PostalAddress/cac:AddressLine/cbc:Line")),
        ]
        while address_lines and not address_lines[-1]:
            address_lines.pop()
        return Party(
            name=registration or party_name,
            trading_name=party_name if registration else "",
            country_code=_clean(text(node, "cac:PostalAddress/cac:Country/cbc:IdentificationCode")),
            vat_id=_clean(text(node, "cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID")),
            tax_registration_id=_clean(text(node, "cac:PartyTaxScheme[not(cac:TaxScheme/cbc:ID='VAT')]/cbc:CompanyID")),
            legal_registration_id=_clean(legal_id.text) if legal_id is not None else "",
            legal_registration_scheme=legal_id.get("schemeID", "") if legal_id is not None else "",
            identifier=_clean(identifier.text) if identifier is not None else "",
            identifier_scheme=identifier.get("schemeID", "") if identifier is not None else "",
            additional_legal_info=_clean(text(node, "cac:PartyLegalEntity/cbc:CompanyLegalForm")),
            address_lines=tuple(address_lines),
            city=_clean(text(node, "cac:PostalAddress/cbc:CityName")),
            postcode=_clean(text(node, "cac:PostalAddress/cbc:PostalZone")),
            subdivision=_clean(text(node, "cac:PostalAddress/cbc:CountrySubentity")),
            contact_name=_clean(text(node, "cac:Contact/cbc:Name")),
            contact_phone=_clean(text(node, "cac:Contact/cbc:Telephone")),
            contact_email=_clean(text(node, "cac:Contact/cbc:ElectronicMail")),
            electronic_address=_clean(endpoint.text) if endpoint is not None else "",
            electronic_address_scheme=endpoint.get("schemeID", "") if endpoint is not None else "",
        )

    def payment_means(self, node: etree._Element) -> PaymentMeans:
        text = self.text
        code = self.first(node, "cbc:PaymentMeansCode")
        return PaymentMeans(
            code=_clean(code.text) if code is not None else "",
            text=code.get("name", "") if code is not None else "",
            remittance_information=_clean(text(node, "cbc:PaymentID")),
            iban=_compact(text(node, "cac:PayeeFinancialAccount/cbc:ID")),
            account_name=_clean(text(node, "cac:PayeeFinancialAccount/cbc:Name")),
            bic=_clean(text(node, "cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID")),
            card_number=_clean(text(node, "cac:CardAccount/cbc:PrimaryAccountNumberID")),
            card_holder=_clean(text(node, "cac:CardAccount/cbc:HolderName")),
            mandate_reference=_clean(text(node, "cac:PaymentMandate/cbc:ID")),
            debited_account=_compact(text(node, "cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID")),
            creditor_id=_clean(text(
                self.root,
                "(cac:AccountingSupplierParty/cac:Party | cac:PayeeParty)"
                "/cac:PartyIdentification/cbc:ID[@schemeID='SEPA']",
            )),
        )

    def attachments(self) -> list[Attachment]:
        result = []
        for ref in self.root.findall(f"{{{CAC}}}AdditionalDocumentReference"):
            binary = self.first(ref, "cac:Attachment/cbc:EmbeddedDocumentBinaryObject")
            if binary is None:
                continue
            filename = binary.get("filename", "") or _clean(self.text(ref, "cbc:ID"))
            result.append(Attachment(
                filename=filename,
                mime_code=binary.get("mimeCode", ""),
                content=_b64(binary.text, filename),
                description=_clean(self.text(ref, "cbc:DocumentDescription")),
                id="" if _clean(self.text(ref, "cbc:ID")) == filename else _clean(self.text(ref, "cbc:ID")),
            ))
        return result

    def tax_category(self, node: etree._Element | None) -> tuple[str, Decimal]:
        if node is None:
            return "", _ZERO
        return _clean(self.text(node, "cbc:ID")), _decimal(self.text(node, "cbc:Percent"), "VAT rate", _ZERO)

    def allowances(self) -> list[_RawAllowance]:
        result = []
        for node in self.root.findall(f"{{{CAC}}}AllowanceCharge"):
            category, rate = self.tax_category(self.first(node, "cac:TaxCategory"))
            item = DocumentAllowanceCharge(
                is_charge=self.text(node, "cbc:ChargeIndicator").strip().lower() in ("true", "1"),
                amount=self.amount(node, "cbc:Amount", "allowance/charge amount (BT-92/BT-99)"),
                tax_category=category,
                tax_rate=rate,
                reason=_clean(self.text(node, "cbc:AllowanceChargeReason")),
                reason_code=_clean(self.text(node, "cbc:AllowanceChargeReasonCode")),
            )
            percent = self.text(node, "cbc:MultiplierFactorNumeric")
            base = self.text(node, "cbc:BaseAmount")
            result.append(_RawAllowance(item, _decimal(percent, "percentage") if percent.strip() else None,
                                        _decimal(base, "base amount") if base.strip() else None))
        return result

    def lines(self) -> list[_RawLine]:
        if self.credit:
            tag, quantity_tag = "CreditNoteLine", "cbc:CreditedQuantity"
        else:
            tag, quantity_tag = "InvoiceLine", "cbc:InvoicedQuantity"
        result = []
        for node in self.root.findall(f"{{{CAC}}}{tag}"):
            line_id = _clean(self.text(node, "cbc:ID"))
            quantity = self.first(node, quantity_tag)
            category, rate = self.tax_category(self.first(node, "cac:Item/cac:ClassifiedTaxCategory"))
            stated_acs = [
                LineAllowanceCharge(
                    is_charge=self.text(ac, "cbc:ChargeIndicator").strip().lower() in ("true", "1"),
                    amount=self.amount(ac, "cbc:Amount", f"line {line_id} allowance/charge amount"),
                    percent=_optional(self.text(ac, "cbc:MultiplierFactorNumeric"), "line allowance percentage"),
                    base=_optional(self.text(ac, "cbc:BaseAmount"), "line allowance base amount"),
                    reason=_clean(self.text(ac, "cbc:AllowanceChargeReason")),
                    reason_code=_clean(self.text(ac, "cbc:AllowanceChargeReasonCode")),
                )
                for ac in node.findall(f"{{{CAC}}}AllowanceCharge")
            ]
            discount, percent = _line_allowance_fields(stated_acs)
            unit_code = quantity.get("unitCode", "") if quantity is not None else ""
            base_unit = self.text(node, "cac:Price/cbc:BaseQuantity/@unitCode").strip()
            price_discount = self.first(node, "cac:Price/cac:AllowanceCharge[cbc:ChargeIndicator='false']")
            standard = self.first(node, "cac:Item/cac:StandardItemIdentification/cbc:ID")
            line = InvoiceLine(
                id=line_id,
                name=_clean(self.text(node, "cac:Item/cbc:Name")),
                quantity=_decimal(quantity.text if quantity is not None else None, f"quantity of line {line_id}"),
                unit_code=quantity.get("unitCode", "") if quantity is not None else "",
                net_price=self.amount(node, "cac:Price/cbc:PriceAmount", f"price of line {line_id}"),
                base_quantity=self.amount(node, "cac:Price/cbc:BaseQuantity", f"base quantity of line {line_id}", _ONE),
                description=_content(self.text(node, "cac:Item/cbc:Description")),
                tax_category=category,
                tax_rate=rate,
                period_start=_iso_date(self.text(node, "cac:InvoicePeriod/cbc:StartDate"), "line period start"),
                period_end=_iso_date(self.text(node, "cac:InvoicePeriod/cbc:EndDate"), "line period end"),
                buyer_accounting_ref=_clean(self.text(node, "cbc:AccountingCost")),
                note=_content(self.text(node, "cbc:Note")),
                seller_item_id=_clean(self.text(node, "cac:Item/cac:SellersItemIdentification/cbc:ID")),
                order_line_ref=_clean(self.text(node, "cac:OrderLineReference/cbc:LineID")),
                buyer_item_id=_clean(self.text(node, "cac:Item/cac:BuyersItemIdentification/cbc:ID")),
                standard_item_id=_clean(standard.text) if standard is not None else "",
                standard_item_scheme=standard.get("schemeID", "") if standard is not None else "",
                base_quantity_unit=base_unit if base_unit and base_unit != unit_code else "",
                price_discount=self.amount(price_discount, "cbc:Amount", f"price discount of line {line_id}")
                if price_discount is not None else None,
                gross_price=_optional(self.text(price_discount, "cbc:BaseAmount"), f"gross price of line {line_id}")
                if price_discount is not None else None,
                **discount,
            )
            stated = self.amount(node, "cbc:LineExtensionAmount", f"net amount of line {line_id} (BT-131)")
            result.append(_RawLine(line, stated, percent, stated_acs[0].base if percent is not None else None))
        return result

    def exemptions(self) -> dict[str, tuple[str, str]]:
        result: dict[str, tuple[str, str]] = {}
        for node in self.root.xpath("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", namespaces=UBL_NSMAP):
            reason = _clean(self.text(node, "cbc:TaxExemptionReason"))
            code = _clean(self.text(node, "cbc:TaxExemptionReasonCode"))
            if reason or code:
                result.setdefault(_clean(self.text(node, "cbc:ID")), (reason, code))
        return result

    def stated(self) -> StatedTotals:
        root, total = self.root, "cac:LegalMonetaryTotal/cbc:"
        breakdown = tuple(
            TaxSubtotal(
                category=_clean(self.text(node, "cac:TaxCategory/cbc:ID")),
                rate=_decimal(self.text(node, "cac:TaxCategory/cbc:Percent"), "VAT rate", _ZERO),
                taxable_amount=self.amount(node, "cbc:TaxableAmount", "taxable amount (BT-116)"),
                tax_amount=self.amount(node, "cbc:TaxAmount", "VAT amount (BT-117)"),
            )
            for node in root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=UBL_NSMAP)
        )
        return StatedTotals(
            line_total=self.amount(root, total + "LineExtensionAmount", "BT-106"),
            allowance_total=self.amount(root, total + "AllowanceTotalAmount", "BT-107", _ZERO),
            charge_total=self.amount(root, total + "ChargeTotalAmount", "BT-108", _ZERO),
            tax_exclusive=self.amount(root, total + "TaxExclusiveAmount", "BT-109"),
            tax_total=self.amount(root, "cac:TaxTotal[cac:TaxSubtotal]/cbc:TaxAmount", "BT-110", _ZERO),
            tax_inclusive=self.amount(root, total + "TaxInclusiveAmount", "BT-112"),
            prepaid=self.amount(root, total + "PrepaidAmount", "BT-113", _ZERO),
            rounding=self.amount(root, total + "PayableRoundingAmount", "BT-114", _ZERO),
            payable=self.amount(root, total + "PayableAmount", "BT-115"),
            tax_breakdown=breakdown,
        )


# --- CII -----------------------------------------------------------------------------------------


class _CiiReader(_Reader):
    syntax: Syntax = "cii"

    _AGREEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
    _DELIVERY = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeDelivery"
    _SETTLEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.settlement = self.first(root, self._SETTLEMENT)
        if self.settlement is None:
            raise ValidationError("The CII invoice has no ApplicableHeaderTradeSettlement.")

    def text(self, node: etree._Element, path: str) -> str:
        return str(node.xpath(f"string({path})", namespaces=CII_NSMAP))

    def first(self, node: etree._Element, path: str) -> etree._Element | None:
        found = node.xpath(path, namespaces=CII_NSMAP)
        return found[0] if found else None

    def amount(self, node: etree._Element, path: str, what: str, default: Decimal | None = None) -> Decimal:
        return _decimal(self.text(node, path), what, default)

    def read(self) -> ImportResult:
        root, settlement = self.root, self.settlement
        agreement = self.first(root, self._AGREEMENT)
        delivery = self.first(root, self._DELIVERY)
        means_node = self.first(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        terms = settlement.xpath("ram:SpecifiedTradePaymentTerms", namespaces=CII_NSMAP)
        terms_text = "\n".join(
            _content(self.text(t, "ram:Description")) for t in terms if _content(self.text(t, "ram:Description"))
        )
        due = next((self.text(t, "ram:DueDateDateTime/*") for t in terms if self.text(t, "ram:DueDateDateTime/*")), "")
        mandate = next((self.text(t, "ram:DirectDebitMandateID") for t in terms
                        if self.text(t, "ram:DirectDebitMandateID")), "")
        fields = dict(
            type_code=_clean(self.text(root, "rsm:ExchangedDocument/ram:TypeCode")),
            number=_clean(self.text(root, "rsm:ExchangedDocument/ram:ID")),
            issue_date=_cii_date(self.text(root, "rsm:ExchangedDocument/ram:IssueDateTime/*"), "issue date (BT-2)")
            or _missing("issue date (BT-2)"),
            currency=_clean(self.text(settlement, "ram:InvoiceCurrencyCode")),
            due_date=_cii_date(due, "due date (BT-9)"),
            notes=tuple(
                _content(n.text)
                for n in root.xpath("rsm:ExchangedDocument/ram:IncludedNote/ram:Content", namespaces=CII_NSMAP)
                if _content(n.text)
            ),
            payment_terms=terms_text,
            payment_means=self.payment_means(means_node, mandate) if means_node is not None else None,
            period_start=_cii_date(self.text(settlement, "ram:BillingSpecifiedPeriod/ram:StartDateTime/*"),
                                   "period start (BT-73)"),
            period_end=_cii_date(self.text(settlement, "ram:BillingSpecifiedPeriod/ram:EndDateTime/*"),
                                 "period end (BT-74)"),
            preceding_invoice=_clean(self.text(settlement, "ram:InvoiceReferencedDocument/ram:IssuerAssignedID")),
            preceding_invoice_date=_cii_date(
                self.text(settlement, "ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/*"),
                "preceding invoice date (BT-26)"),
            buyer_accounting_ref=_clean(self.text(settlement, "ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID")),
            payee=self.party(payee) if (payee := self.first(settlement, "ram:PayeeTradeParty")) is not None else None,
            prepaid_amount=self.amount(settlement, self._sum("TotalPrepaidAmount"), "BT-113", _ZERO),
            rounding_amount=self.amount(settlement, self._sum("RoundingAmount"), "BT-114", _ZERO),
            buyer_reference="",
            order_reference="",
            contract_reference="",
            seller=Party(name=""),
            buyer=Party(name=""),
            attachments=(),
        )
        if agreement is not None:
            fields.update(
                buyer_reference=_clean(self.text(agreement, "ram:BuyerReference")),
                order_reference=_clean(self.text(agreement, "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID")),
                contract_reference=_clean(self.text(agreement, "ram:ContractReferencedDocument/ram:IssuerAssignedID")),
                seller=self.party(self.first(agreement, "ram:SellerTradeParty")),
                buyer=self.party(self.first(agreement, "ram:BuyerTradeParty")),
                tax_representative=self.party(representative)
                if (representative := self.first(agreement, "ram:SellerTaxRepresentativeTradeParty")) is not None
                else None,
                attachments=tuple(self.attachments(agreement)),
            )
        if delivery is not None:
            fields.update(
                delivery_date=_cii_date(
                    self.text(delivery, "ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime/*"),
                    "delivery date (BT-72)"),
                deliver_to_country=_clean(
                    self.text(delivery, "ram:ShipToTradeParty/ram:PostalTradeAddress/ram:CountryID")),
            )
            if self._delivery_is_filler(delivery, fields):
                fields["deliver_to_country"] = ""
        return self.build(fields, self.lines(), self.allowances(), self.stated(), self.exemptions())

    def _delivery_is_filler(self, delivery: etree._Element, fields: dict) -> bool:
        """Whether the delivery only repeats the buyer's country, as Duly's writer fills an otherwise empty
        ``ApplicableHeaderTradeDelivery`` (see ``cii._CiiWriter.delivery``): no delivery date, no other
        ship-to data, and no intra-community supply (category K), which states its deliver-to country."""
        ship_to = self.first(delivery, "ram:ShipToTradeParty")
        buyer = fields.get("buyer")
        return (
            ship_to is not None and buyer is not None and bool(fields.get("deliver_to_country"))
            and fields["deliver_to_country"] == buyer.country_code and fields.get("delivery_date") is None
            and len(delivery) == 1 and len(ship_to) == 1 and len(ship_to[0]) == 1
            and not self.root.xpath("//ram:CategoryCode[normalize-space(.)='K']", namespaces=CII_NSMAP)
        )

    @staticmethod
    def _sum(name: str) -> str:
        return f"ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:{name}"

    def party(self, node: etree._Element | None) -> Party:
        if node is None:
            return Party(name="")
        text = self.text
        identifier = self.first(node, "ram:ID | ram:GlobalID")
        legal_id = self.first(node, "ram:SpecifiedLegalOrganization/ram:ID")
        endpoint = self.first(node, "ram:URIUniversalCommunication/ram:URIID")
        address = [_clean(text(node, f"ram:PostalTradeAddress/ram:{tag}"))
                   for tag in ("LineOne", "LineTwo", "LineThree")]
        while address and not address[-1]:
            address.pop()
        return Party(
            name=_clean(text(node, "ram:Name")),
            trading_name=_clean(text(node, "ram:SpecifiedLegalOrganization/ram:TradingBusinessName")),
            country_code=_clean(text(node, "ram:PostalTradeAddress/ram:CountryID")),
            vat_id=_clean(text(node, "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']")),
            tax_registration_id=_clean(text(node, "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']")),
            legal_registration_id=_clean(legal_id.text) if legal_id is not None else "",
            legal_registration_scheme=legal_id.get("schemeID", "") if legal_id is not None else "",
            identifier=_clean(identifier.text) if identifier is not None else "",
            identifier_scheme=identifier.get("schemeID", "") if identifier is not None else "",
            additional_legal_info=_clean(text(node, "ram:Description")),
            address_lines=tuple(address),
            city=_clean(text(node, "ram:PostalTradeAddress/ram:CityName")),
            postcode=_clean(text(node, "ram:PostalTradeAddress/ram:PostcodeCode")),
            subdivision=_clean(text(node, "ram:PostalTradeAddress/ram:CountrySubDivisionName")),
            contact_name=_clean(text(node, "ram:DefinedTradeContact/ram:PersonName")),
            contact_phone=_clean(
                text(node, "ram:DefinedTradeContact/ram:TelephoneUniversalCommunication/ram:CompleteNumber")),
            contact_email=_clean(text(node, "ram:DefinedTradeContact/ram:EmailURIUniversalCommunication/ram:URIID")),
            electronic_address=_clean(endpoint.text) if endpoint is not None else "",
            electronic_address_scheme=endpoint.get("schemeID", "") if endpoint is not None else "",
        )

    def payment_means(self, node: etree._Element, mandate: str) -> PaymentMeans:
        text = self.text
        account = "ram:PayeePartyCreditorFinancialAccount"
        return PaymentMeans(
            code=_clean(text(node, "ram:TypeCode")),
            text=_clean(text(node, "ram:Information")),
            remittance_information=_clean(text(self.settlement, "ram:PaymentReference")),
            iban=_compact(text(node, f"{account}/ram:IBANID") or text(node, f"{account}/ram:ProprietaryID")),
            account_name=_clean(text(node, f"{account}/ram:AccountName")),
            bic=_clean(text(node, "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID")),
            card_number=_clean(text(node, "ram:ApplicableTradeSettlementFinancialCard/ram:ID")),
            card_holder=_clean(text(node, "ram:ApplicableTradeSettlementFinancialCard/ram:CardholderName")),
            mandate_reference=_clean(mandate),
            creditor_id=_clean(text(self.settlement, "ram:CreditorReferenceID")),
            debited_account=_compact(text(node, "ram:PayerPartyDebtorFinancialAccount/ram:IBANID")),
        )

    def attachments(self, agreement: etree._Element) -> list[Attachment]:
        result = []
        for ref in agreement.findall(f"{{{RAM}}}AdditionalReferencedDocument"):
            binary = self.first(ref, "ram:AttachmentBinaryObject")
            if binary is None:
                continue
            reference = _clean(self.text(ref, "ram:IssuerAssignedID"))
            filename = binary.get("filename", "") or reference
            result.append(Attachment(
                filename=filename,
                mime_code=binary.get("mimeCode", ""),
                content=_b64(binary.text, filename),
                description=_clean(self.text(ref, "ram:Name")),
                id="" if reference == filename else reference,
            ))
        return result

    def trade_tax(self, node: etree._Element | None) -> tuple[str, Decimal]:
        if node is None:
            return "", _ZERO
        return (_clean(self.text(node, "ram:CategoryCode")),
                _decimal(self.text(node, "ram:RateApplicablePercent"), "VAT rate", _ZERO))

    @staticmethod
    def _is_charge(text: str) -> bool:
        return text.strip().lower() in ("true", "1")

    def allowances(self) -> list[_RawAllowance]:
        result = []
        for node in self.settlement.findall(f"{{{RAM}}}SpecifiedTradeAllowanceCharge"):
            category, rate = self.trade_tax(self.first(node, "ram:CategoryTradeTax"))
            item = DocumentAllowanceCharge(
                is_charge=self._is_charge(self.text(node, "ram:ChargeIndicator/*")),
                amount=self.amount(node, "ram:ActualAmount", "allowance/charge amount (BT-92/BT-99)"),
                tax_category=category,
                tax_rate=rate,
                reason=_clean(self.text(node, "ram:Reason")),
                reason_code=_clean(self.text(node, "ram:ReasonCode")),
            )
            percent = self.text(node, "ram:CalculationPercent")
            base = self.text(node, "ram:BasisAmount")
            result.append(_RawAllowance(item, _decimal(percent, "percentage") if percent.strip() else None,
                                        _decimal(base, "base amount") if base.strip() else None))
        return result

    def lines(self) -> list[_RawLine]:
        result = []
        for node in self.root.xpath("rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem",
                                    namespaces=CII_NSMAP):
            line_id = _clean(self.text(node, "ram:AssociatedDocumentLineDocument/ram:LineID"))
            quantity = self.first(node, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity")
            settlement = self.first(node, "ram:SpecifiedLineTradeSettlement")
            price = "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice"
            category, rate = self.trade_tax(self.first(settlement, "ram:ApplicableTradeTax"))
            stated_acs = [
                LineAllowanceCharge(
                    is_charge=self._is_charge(self.text(ac, "ram:ChargeIndicator/*")),
                    amount=self.amount(ac, "ram:ActualAmount", f"line {line_id} allowance/charge amount"),
                    percent=_optional(self.text(ac, "ram:CalculationPercent"), "line allowance percentage"),
                    base=_optional(self.text(ac, "ram:BasisAmount"), "line allowance base amount"),
                    reason=_clean(self.text(ac, "ram:Reason")),
                    reason_code=_clean(self.text(ac, "ram:ReasonCode")),
                )
                for ac in settlement.findall(f"{{{RAM}}}SpecifiedTradeAllowanceCharge")
            ]
            discount, percent = _line_allowance_fields(stated_acs)
            unit_code = quantity.get("unitCode", "") if quantity is not None else ""
            base_unit = self.text(node, f"{price}/ram:BasisQuantity/@unitCode").strip()
            gross = "ram:SpecifiedLineTradeAgreement/ram:GrossPriceProductTradePrice"
            gross_node = self.first(node, gross)
            price_discount = self.first(
                node, f"{gross}/ram:AppliedTradeAllowanceCharge[ram:ChargeIndicator/udt:Indicator='false']")
            standard = self.first(node, "ram:SpecifiedTradeProduct/ram:GlobalID")
            line = InvoiceLine(
                id=line_id,
                name=_clean(self.text(node, "ram:SpecifiedTradeProduct/ram:Name")),
                quantity=_decimal(quantity.text if quantity is not None else None, f"quantity of line {line_id}"),
                unit_code=quantity.get("unitCode", "") if quantity is not None else "",
                net_price=self.amount(node, f"{price}/ram:ChargeAmount", f"price of line {line_id}"),
                base_quantity=self.amount(node, f"{price}/ram:BasisQuantity", f"base quantity of line {line_id}", _ONE),
                description=_content(self.text(node, "ram:SpecifiedTradeProduct/ram:Description")),
                tax_category=category,
                tax_rate=rate,
                period_start=_cii_date(self.text(settlement, "ram:BillingSpecifiedPeriod/ram:StartDateTime/*"),
                                       "line period start"),
                period_end=_cii_date(self.text(settlement, "ram:BillingSpecifiedPeriod/ram:EndDateTime/*"),
                                     "line period end"),
                buyer_accounting_ref=_clean(
                    self.text(settlement, "ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID")),
                note=_content(self.text(node, "ram:AssociatedDocumentLineDocument/ram:IncludedNote/ram:Content")),
                seller_item_id=_clean(self.text(node, "ram:SpecifiedTradeProduct/ram:SellerAssignedID")),
                order_line_ref=_clean(
                    self.text(node, "ram:SpecifiedLineTradeAgreement/ram:BuyerOrderReferencedDocument/ram:LineID")),
                buyer_item_id=_clean(self.text(node, "ram:SpecifiedTradeProduct/ram:BuyerAssignedID")),
                standard_item_id=_clean(standard.text) if standard is not None else "",
                standard_item_scheme=standard.get("schemeID", "") if standard is not None else "",
                base_quantity_unit=base_unit if base_unit and base_unit != unit_code else "",
                gross_price=self.amount(gross_node, "ram:ChargeAmount", f"gross price of line {line_id}")
                if gross_node is not None else None,
                price_discount=self.amount(price_discount, "ram:ActualAmount", f"price discount of line {line_id}")
                if price_discount is not None else None,
                **discount,
            )
            stated = self.amount(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
                                 f"net amount of line {line_id} (BT-131)")
            result.append(_RawLine(line, stated, percent, stated_acs[0].base if percent is not None else None))
        return result

    def exemptions(self) -> dict[str, tuple[str, str]]:
        result: dict[str, tuple[str, str]] = {}
        for node in self.settlement.findall(f"{{{RAM}}}ApplicableTradeTax"):
            reason = _clean(self.text(node, "ram:ExemptionReason"))
            code = _clean(self.text(node, "ram:ExemptionReasonCode"))
            if reason or code:
                result.setdefault(_clean(self.text(node, "ram:CategoryCode")), (reason, code))
        return result

    def stated(self) -> StatedTotals:
        s = self.settlement
        breakdown = tuple(
            TaxSubtotal(
                category=_clean(self.text(node, "ram:CategoryCode")),
                rate=_decimal(self.text(node, "ram:RateApplicablePercent"), "VAT rate", _ZERO),
                taxable_amount=self.amount(node, "ram:BasisAmount", "taxable amount (BT-116)"),
                tax_amount=self.amount(node, "ram:CalculatedAmount", "VAT amount (BT-117)"),
            )
            for node in s.findall(f"{{{RAM}}}ApplicableTradeTax")
        )
        currency = _clean(self.text(s, "ram:InvoiceCurrencyCode"))
        # BT-110 is the TaxTotalAmount in the invoice currency (BT-111 may follow in the accounting currency).
        tax_total = next(
            (node for node in s.xpath(self._sum("TaxTotalAmount"), namespaces=CII_NSMAP)
             if node.get("currencyID", currency) == currency),
            None,
        )
        return StatedTotals(
            line_total=self.amount(s, self._sum("LineTotalAmount"), "BT-106"),
            allowance_total=self.amount(s, self._sum("AllowanceTotalAmount"), "BT-107", _ZERO),
            charge_total=self.amount(s, self._sum("ChargeTotalAmount"), "BT-108", _ZERO),
            tax_exclusive=self.amount(s, self._sum("TaxBasisTotalAmount"), "BT-109"),
            tax_total=_decimal(tax_total.text if tax_total is not None else None, "BT-110", _ZERO),
            tax_inclusive=self.amount(s, self._sum("GrandTotalAmount"), "BT-112"),
            prepaid=self.amount(s, self._sum("TotalPrepaidAmount"), "BT-113", _ZERO),
            rounding=self.amount(s, self._sum("RoundingAmount"), "BT-114", _ZERO),
            payable=self.amount(s, self._sum("DuePayableAmount"), "BT-115"),
            tax_breakdown=breakdown,
        )


def _missing(what: str) -> date:
    raise ValidationError(f"The e-invoice has no {what}.")
