"""Issued documents are rendered once and stored; drafts are rendered on the fly and never stored.

:func:`document_bytes` is the one way to get the bytes of an invoice's document in a format:

- an issued (or paid, void…) invoice: the :class:`~duly.invoicing.models.StoredDocument` when
  there is one, otherwise rendered now from the data frozen at issue (parties, addresses, bank
  account: :mod:`duly.invoicing.documents.snapshot`) and stored. From then on the same bytes are
  returned forever, whatever happens to the templates, the code, the customer or the organization.
- a draft: a PDF rendered now, watermarked DRAFT, never stored. E-invoices of drafts are refused
  (an e-invoice needs its number).

Formats: ``pdf`` (PDF/A-3b), ``ubl`` (UBL 2.1, Peppol BIS Billing 3.0), ``cii`` (CII D16B,
Factur-X EN 16931 profile) and ``facturx`` (the stored PDF with the CII embedded: PDF/A-3).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from duly.domain.errors import InvoiceNotIssued, MissingDocumentData, ValidationError

from ..models import Invoice, StoredDocument

__all__ = ["FORMATS", "RenderedDocument", "document_bytes", "render_format", "store_documents"]

#: format -> (content type, file name suffix)
FORMATS: dict[str, tuple[str, str]] = {
    StoredDocument.FORMAT_PDF: ("application/pdf", ".pdf"),
    StoredDocument.FORMAT_UBL: ("application/xml", ".xml"),
    StoredDocument.FORMAT_CII: ("application/xml", "-cii.xml"),
    StoredDocument.FORMAT_FACTURX: ("application/pdf", "-facturx.pdf"),
}


@dataclass(frozen=True)
class RenderedDocument:
    """The bytes of one document, with what a download or an e-mail attachment needs."""

    format: str
    filename: str
    content_type: str
    content: bytes
    sha256: str
    #: True when the bytes come from (or were just written to) the store.
    stored: bool


def _filename(invoice: Invoice, fmt: str, as_of: date | None = None) -> str:
    suffix = FORMATS[fmt][1]
    stem = invoice.number or f"draft-{invoice.pk}" + (f"-{as_of.isoformat()}" if as_of else "")
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem) + suffix


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValidationError(f"Unknown document format {fmt!r}: use one of {', '.join(FORMATS)}.", format=fmt)


def render_format(invoice: Invoice, fmt: str) -> bytes:
    """Render the document of an issued invoice in ``fmt`` now (the store is not consulted)."""
    _check_format(fmt)
    if fmt == StoredDocument.FORMAT_PDF:
        from ..pdf import render_invoice_pdf

        return render_invoice_pdf(invoice)
    from ..einvoice.model import Standard
    from .adapter import build_document

    doc = build_document(invoice)
    if fmt == StoredDocument.FORMAT_UBL:
        from ..einvoice.ubl import peppol_ready, render_ubl

        # Peppol BIS 3.0 (its rules checked) for a customer with a Peppol address, when both parties
        # state one; else the bare EN 16931 core (an imported draft keeps its source's parties)
        peppol = bool(invoice.customer.electronic_address) and peppol_ready(doc)
        return render_ubl(doc, standard=Standard.PEPPOL if peppol else Standard.EN16931)
    if fmt == StoredDocument.FORMAT_CII:
        from ..einvoice.cii import render_cii

        return render_cii(doc)
    from ..einvoice.cii import render_facturx_pdf

    return render_facturx_pdf(document_bytes(invoice, StoredDocument.FORMAT_PDF).content, doc)


def _rendered(stored: StoredDocument) -> RenderedDocument:
    return RenderedDocument(format=stored.format, filename=stored.filename, content_type=stored.content_type,
                            content=bytes(stored.content), sha256=stored.sha256, stored=True)


def document_bytes(invoice: Invoice, fmt: str, *, as_of: date | None = None) -> RenderedDocument:
    """The document of ``invoice`` in ``fmt``: stored once for issued invoices, on the fly for drafts.

    ``as_of`` is the date a draft is previewed as issued on (ignored for issued invoices).
    """
    _check_format(fmt)
    content_type = FORMATS[fmt][0]
    if invoice.status == Invoice.DRAFT:
        if fmt != StoredDocument.FORMAT_PDF:
            raise InvoiceNotIssued(
                f"{invoice} has no number yet: issue it before exporting it as an e-invoice ({fmt}).",
                invoice=str(invoice), format=fmt,
            )
        from ..pdf import render_invoice_pdf

        content = render_invoice_pdf(invoice, as_of=as_of)
        return RenderedDocument(format=fmt, filename=_filename(invoice, fmt, as_of), content_type=content_type,
                                content=content, sha256=hashlib.sha256(content).hexdigest(), stored=False)
    existing = StoredDocument.objects.filter(invoice=invoice, format=fmt).first()
    if existing is not None:
        return _rendered(existing)
    from ..services import store_document

    return _rendered(store_document(invoice, fmt, filename=_filename(invoice, fmt), content_type=content_type,
                                    render=lambda: render_format(invoice, fmt)))


def store_documents(invoice: Invoice, formats: Iterable[str] = (StoredDocument.FORMAT_PDF,)) -> list[RenderedDocument]:
    """Render and store the documents of an issued invoice now (rather than at their first use).

    Issuing does not render anything (the billing run issues thousands of invoices a second): it
    freezes what the documents show (:mod:`duly.invoicing.documents.snapshot`), and each document
    is rendered from that frozen data the first time it is needed (an e-mail, an export) and
    stored. E-invoices depend on the frozen data only, so they come out the same whenever they are
    rendered; the PDF's look (template, logo, colours) is that of the day it is first rendered.
    """
    if invoice.status == Invoice.DRAFT:
        raise InvoiceNotIssued(f"{invoice} is not issued: its documents are not stored.", invoice=str(invoice))
    return [document_bytes(invoice, fmt) for fmt in formats]


#: Missing data that the Peppol rules name (the renderer refuses them before the rules run).
_PEPPOL_RULE_OF_MISSING = {
    "seller electronic address (BT-34)": "PEPPOL-EN16931-R020",
    "buyer electronic address (BT-49)": "PEPPOL-EN16931-R010",
    "buyer reference (BT-10) or purchase order reference (BT-13)": "PEPPOL-EN16931-R003",
    "direct debit mandate reference (BT-89)": "PEPPOL-EN16931-R061",
}


def check_peppol(invoice: Invoice) -> None:
    """Refuse a just-issued invoice (inside the issuing transaction) whose customer has a Peppol address
    when its UBL would break the Peppol BIS Billing 3.0 rules (or the CEN ones under them).

    Raises :class:`~duly.domain.errors.PeppolInvalid` naming the rules (``rule_ids``); the caller's
    transaction rolls back, so nothing is written and the number is given back.
    """
    from duly.domain.errors import EInvoiceInvalid, PeppolInvalid

    from ..einvoice.model import Standard
    from ..einvoice.ubl import render_ubl
    from .adapter import build_document

    try:
        render_ubl(build_document(invoice), standard=Standard.PEPPOL)
        return
    except MissingDocumentData as exc:
        missing = list(exc.context.get("missing") or [exc.message])
        # a field the Peppol rules name, else one EN 16931 itself requires (named by its business term)
        rule_ids = [_PEPPOL_RULE_OF_MISSING.get(item, "EN16931") for item in missing]
        reason = ", ".join(missing) + (" is" if len(missing) == 1 else " are") + " missing"
    except EInvoiceInvalid as exc:
        rule_ids = list(exc.context.get("rule_ids") or [])
        # the rule's own words, without its id and the XPath where it fired (internals)
        reason = re.sub(r"^(?:\[[^\]]+\]\s*)+|\s*\(/.*\)$", "", (exc.context.get("violations") or [exc.message])[0])
    rule_ids = list(dict.fromkeys(rule_ids))
    raise PeppolInvalid(
        f"{invoice.customer.name} receives e-invoices through Peppol, and this invoice would break Peppol BIS "
        f"Billing 3.0 rule {', '.join(rule_ids)}: {reason.rstrip('.')}. Nothing was issued.",
        rule_ids=rule_ids, invoice=str(invoice))


def in_french_reform(invoice: Invoice) -> bool:
    """Whether ``invoice`` is in the French e-invoicing reform's scope as Duly enforces it: a French seller, and a
    French business buyer (a VAT or registration id) with an electronic address (the reform's e-invoicing is
    between businesses established in France; a buyer abroad is e-reporting, outside these rules)."""
    customer = invoice.customer
    return (invoice.organization.country == "FR" and customer.country == "FR"
            and bool(customer.electronic_address) and bool(customer.tax_id.strip()))


def check_br_fr(invoice: Invoice) -> None:
    """Refuse a just-issued invoice (inside the issuing transaction) of a French seller to a business buyer with
    an electronic address (:func:`in_french_reform`) when its reform document breaks the French CTC rules (BR-FR,
    FNFE-MPE release 1.4.0).

    The document checked is the CII (the Factur-X XML), which carries the billing framework (BT-23): the Peppol
    UBL cannot (Peppol fixes ProfileID, PEPPOL-EN16931-R007, see ``docs/peppol.md``). Raises
    :class:`~duly.domain.errors.BrFrInvalid` with the rules' ids (``rule_ids``) and the first one's message; the
    caller's transaction rolls back, so nothing is written and the number is given back.
    """
    from duly.domain.errors import BrFrInvalid, EInvoiceInvalid

    from ..einvoice.cii import render_cii
    from ..einvoice.validate import validate_br_fr
    from .adapter import build_document

    try:
        violations = validate_br_fr(render_cii(build_document(invoice)))
    except MissingDocumentData as exc:
        missing = list(exc.context.get("missing") or [exc.message])
        raise BrFrInvalid(
            f"{invoice.customer.name} is a French business with an electronic address: this invoice must be a "
            f"valid e-invoice of the French reform, and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing. Nothing was issued.",
            rule_ids=["EN16931"], invoice=str(invoice)) from None
    except EInvoiceInvalid as exc:
        raise BrFrInvalid(exc.message.replace("The e-invoice", "The French e-invoice", 1) + " Nothing was issued.",
                          rule_ids=list(exc.context.get("rule_ids") or []), invoice=str(invoice)) from None
    if not violations:
        return
    rule_ids = list(dict.fromkeys(v.rule_id for v in violations))
    reason = " ".join(violations[0].text.split())
    raise BrFrInvalid(
        f"{invoice.customer.name} is a French business with an electronic address, and this invoice would break "
        f"the French e-invoicing rule {', '.join(rule_ids)}: {reason} Nothing was issued.",
        rule_ids=rule_ids, rule_texts=[" ".join(v.text.split()) for v in violations], invoice=str(invoice))
