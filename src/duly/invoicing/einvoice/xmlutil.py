"""XML plumbing shared by the renderers, the importer and the validators.

Namespaces, a hardened parser for documents from outside (no DTD, no entities, no network),
syntax detection, and the lexical formats EN 16931 uses for amounts, quantities and dates.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from lxml import etree

from duly.domain.errors import ValidationError
from duly.domain.money import exponent, round_money

Syntax = Literal["ubl", "cii"]

UBL_INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"

UBL_NSMAP = {"cac": CAC, "cbc": CBC}
CII_NSMAP = {"rsm": RSM, "ram": RAM, "qdt": QDT, "udt": UDT}

#: UNTDID 1001 document type codes EN 16931 treats as credit notes (rendered as a UBL ``CreditNote``).
CREDIT_NOTE_TYPE_CODES = frozenset({"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"})

_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
    remove_comments=False,
)


def parse_xml(xml: bytes) -> etree._Element:
    """Parse an e-invoice safely: bytes only, no DTD (so no entity expansion), no network."""
    if not isinstance(xml, bytes):
        raise ValidationError("An e-invoice is parsed from bytes (UTF-8 encoded XML).")
    try:
        root = etree.fromstring(xml, _SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValidationError(f"Not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise ValidationError("E-invoices with a DOCTYPE declaration are refused.")
    return root


def detect_syntax(xml: bytes | etree._Element) -> Syntax:
    """``"ubl"`` for a UBL Invoice/CreditNote, ``"cii"`` for a CrossIndustryInvoice."""
    root = parse_xml(xml) if isinstance(xml, bytes) else xml
    namespace = etree.QName(root).namespace
    if namespace in (UBL_INVOICE_NS, UBL_CREDIT_NOTE_NS):
        return "ubl"
    if namespace == RSM:
        return "cii"
    raise ValidationError(f"Not an EN 16931 invoice: unknown document element {root.tag!r}.")


def fmt_amount(value: Decimal, currency: str) -> str:
    """An amount rounded to the currency's minor unit (EN 16931 allows at most 2 decimals)."""
    rounded = round_money(value, currency)
    return f"{rounded:.{exponent(currency)}f}"


def fmt_decimal(value: Decimal) -> str:
    """A quantity, price or rate without exponent notation and without trailing zeros."""
    if value == value.to_integral_value():
        return f"{value.quantize(Decimal(1)):f}"
    return f"{value.normalize():f}"


def fmt_price(value: Decimal, currency: str) -> str:
    """An item price (BT-146, any precision), shown with at least the currency's decimals: 95 -> 95.00."""
    decimals = max(exponent(currency), -min(0, value.normalize().as_tuple().exponent))
    return f"{value:.{decimals}f}"


def fmt_date_ubl(value: date) -> str:
    return value.isoformat()


def fmt_date_cii(value: date) -> str:
    """CII date format 102 (CCYYMMDD)."""
    return value.strftime("%Y%m%d")
