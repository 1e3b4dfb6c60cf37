"""EN 16931 e-invoices, independent of the Django models.

* :mod:`.model` — :class:`InvoiceDocument`, the snapshot every renderer consumes.
* :mod:`.ubl` — :func:`render_ubl`: UBL 2.1 Invoice/CreditNote, Peppol BIS Billing 3.0.
* :mod:`.cii` — :func:`render_cii`: CII D16B, Factur-X EN 16931; :func:`render_facturx_pdf`.
* :mod:`.importer` — :func:`parse_einvoice`: a received UBL or CII back into a snapshot.
* :mod:`.validate` — the official CEN EN 16931 rules and the syntax schemas, offline.
* :mod:`.duly_rules` — :func:`check_duly_rules`: Duly's own due-date rule (DULY-DUE-01/02).
"""

from .cii import render_cii, render_facturx_pdf
from .duly_rules import check_duly_rules
from .importer import ImportResult, import_einvoice, parse_einvoice
from .model import (
    Attachment,
    DocumentAllowanceCharge,
    InvoiceDocument,
    InvoiceLine,
    Party,
    PaymentMeans,
    Standard,
)
from .ubl import render_ubl
from .validate import Violation, compile_rules, validate_einvoice

__all__ = [
    "Attachment",
    "DocumentAllowanceCharge",
    "ImportResult",
    "InvoiceDocument",
    "InvoiceLine",
    "Party",
    "PaymentMeans",
    "Standard",
    "Violation",
    "check_duly_rules",
    "compile_rules",
    "import_einvoice",
    "parse_einvoice",
    "render_cii",
    "render_facturx_pdf",
    "render_ubl",
    "validate_einvoice",
]
