"""Duly's own e-invoice rules, checked on the XML itself (UBL or CII).

CEN removed BR-CO-25 ("if the amount due is positive, a due date or payment terms shall be
present") from the official Schematron in release 1.3.16. Duly is stricter than the old rule:
every invoice with an amount due carries BOTH its exact due date (BT-9) AND its payment
terms in words (BT-20). Credit notes are out of scope (their amount is owed to the buyer).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from lxml import etree

from .xmlutil import CII_NSMAP, CREDIT_NOTE_TYPE_CODES, UBL_CREDIT_NOTE_NS, UBL_NSMAP, detect_syntax, parse_xml

#: Rule id -> the message a user reads.
DULY_RULE_TEXT = {
    "DULY-DUE-01": "An invoice with a positive amount due (BT-115) shall have a payment due date (BT-9).",
    "DULY-DUE-02": "An invoice with a positive amount due (BT-115) shall have payment terms in words (BT-20).",
}


def _decimal(text: str | None) -> Decimal:
    try:
        return Decimal((text or "0").strip() or "0")
    except InvalidOperation:
        return Decimal(0)


def _nonblank(values: list) -> bool:
    return any(str(v).strip() for v in values)


def check_duly_rules(xml: bytes | etree._Element) -> list[str]:
    """Ids of the Duly rules ``xml`` violates, in rule order (empty when it complies)."""
    root = parse_xml(xml) if isinstance(xml, bytes) else xml
    if detect_syntax(root) == "ubl":
        if etree.QName(root).namespace == UBL_CREDIT_NOTE_NS:
            return []
        type_code = root.findtext(f"{{{UBL_NSMAP['cbc']}}}InvoiceTypeCode", default="").strip()
        payable = _decimal(root.xpath("string(cac:LegalMonetaryTotal/cbc:PayableAmount)", namespaces=UBL_NSMAP))
        has_due_date = _nonblank(
            root.xpath("cbc:DueDate/text() | cac:PaymentMeans/cbc:PaymentDueDate/text()", namespaces=UBL_NSMAP)
        )
        has_terms = _nonblank(root.xpath("cac:PaymentTerms/cbc:Note/text()", namespaces=UBL_NSMAP))
    else:
        type_code = str(root.xpath("string(rsm:ExchangedDocument/ram:TypeCode)", namespaces=CII_NSMAP)).strip()
        settlement = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
        payable = _decimal(
            root.xpath(
                f"string({settlement}/ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:DuePayableAmount)",
                namespaces=CII_NSMAP,
            )
        )
        terms = f"{settlement}/ram:SpecifiedTradePaymentTerms"
        has_due_date = _nonblank(
            root.xpath(f"{terms}/ram:DueDateDateTime/udt:DateTimeString/text()", namespaces=CII_NSMAP)
        )
        has_terms = _nonblank(root.xpath(f"{terms}/ram:Description/text()", namespaces=CII_NSMAP))
    if type_code in CREDIT_NOTE_TYPE_CODES or payable <= 0:
        return []
    violated = []
    if not has_due_date:
        violated.append("DULY-DUE-01")
    if not has_terms:
        violated.append("DULY-DUE-02")
    return violated
