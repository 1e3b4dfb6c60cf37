"""What the UBL and CII renderers share: the checks before rendering, the checks after, and the
values derived from :meth:`InvoiceDocument.totals` that both syntaxes print the same way."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from duly.domain.errors import EInvoiceInvalid
from duly.domain.invoice_math import InvoiceTotals, LineResult, TaxSubtotal
from duly.domain.money import round_money

from .duly_rules import DULY_RULE_TEXT, check_duly_rules
from .model import InvoiceDocument, InvoiceLine, Standard

#: VAT categories whose rate is not stated at all (BR-O-05, BR-O-08).
NO_RATE_CATEGORIES = frozenset({"O"})
#: VAT categories whose documents carry no VAT identifiers (BR-O-02).
NO_VAT_ID_CATEGORIES = frozenset({"O"})


@dataclass(frozen=True)
class LineDiscount:
    """The line allowance (BG-27) a discounted line shows."""

    #: BT-136, signed like the line.
    amount: Decimal
    #: BT-138 and BT-137, when the discount is a percentage.
    percent: Decimal | None
    base: Decimal | None
    #: BT-139 / BT-140.
    reason: str
    reason_code: str


@dataclass(frozen=True)
class BreakdownRow:
    """A VAT breakdown row (BG-23) with its exemption reason (BT-120 / BT-121)."""

    subtotal: TaxSubtotal
    exemption_reason: str
    exemption_reason_code: str


def line_discount(line: InvoiceLine, result: LineResult, currency: str) -> LineDiscount | None:
    """The line's one discount; None when there is none, or when the line lists its allowances and
    charges one by one (:attr:`InvoiceLine.allowances_charges`, written as stated)."""
    if result.discount_amount == 0 or line.allowances_charges:
        return None
    base = None
    if line.discount_percent is not None:
        base = round_money(line.quantity * line.net_price / line.base_quantity, currency)
    return LineDiscount(
        amount=result.discount_amount,
        percent=line.discount_percent,
        base=base,
        reason=line.discount_reason,
        reason_code=line.discount_reason_code,
    )


def breakdown_rows(doc: InvoiceDocument, totals: InvoiceTotals) -> list[BreakdownRow]:
    reasons = doc.exemption_reasons()
    return [
        BreakdownRow(subtotal, *reasons.get(subtotal.category, ("", "")))
        for subtotal in totals.tax_breakdown
    ]


def states_vat_ids(doc: InvoiceDocument) -> bool:
    """False for documents not subject to VAT (category O), which must not show VAT ids (BR-O-02)."""
    return not (doc.tax_categories() & NO_VAT_ID_CATEGORIES)


def document_notes(doc: InvoiceDocument, standard: Standard, *, coded: bool = True) -> list[str]:
    """BT-22 notes as UBL writes them; Peppol BIS allows one note (PEPPOL-EN16931-R002), so there they are
    joined. A note with a subject code (BT-21) starts with it between hashes, ``#PMT#…``, the UBL convention
    of the French CTC rules (which look for ``#PMT#``, ``#PMD#``, ``#AAB#`` in the notes, joined or not)."""
    notes = [note.strip() for note in doc.notes if note.strip()]
    if coded:  # CII has its own element for the subject code (ram:SubjectCode)
        notes += [f"#{code}#{text.strip()}" for code, text in doc.coded_notes if text.strip()]
    if standard is Standard.PEPPOL and len(notes) > 1:
        return ["\n\n".join(notes)]
    return notes


def serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def check_output(xml: bytes, doc: InvoiceDocument, *, validate: bool, duly_rules: bool, peppol: bool = False) -> bytes:
    """Refuse to hand out an XML that breaks Duly's rules or, with ``validate``, the official ones.

    The Duly rules run unless ``duly_rules`` is false (they are cheap); the official XSD + CEN
    Schematron run when ``validate`` is true (about 10 ms per document once compiled), and with
    ``peppol`` the OpenPeppol BIS Billing 3.0 rules too (UBL for Peppol only).
    """
    rule_ids = check_duly_rules(xml) if duly_rules else []
    texts = [DULY_RULE_TEXT[rule_id] for rule_id in rule_ids]
    if validate:
        from .validate import validate_einvoice

        violations = validate_einvoice(xml, layers=("xsd", "en16931", "peppol") if peppol else ("xsd", "en16931"))
        rule_ids += [v.rule_id for v in violations]
        texts += [str(v) for v in violations]
    if rule_ids:
        raise EInvoiceInvalid(
            f"The e-invoice for {doc.kind} {doc.number} breaks {', '.join(dict.fromkeys(rule_ids))}: {texts[0]}",
            rule_ids=list(dict.fromkeys(rule_ids)),
            violations=texts,
            invoice=doc.number,
        )
    return xml
