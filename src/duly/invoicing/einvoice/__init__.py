"""EN 16931 e-invoices, independent of the Django models.

* :mod:`.model` — :class:`InvoiceDocument`, the snapshot every renderer consumes.
* :mod:`.ubl` — :func:`render_ubl`: UBL 2.1 Invoice/CreditNote, Peppol BIS Billing 3.0.
* :mod:`.cii` — :func:`render_cii`: CII D16B, Factur-X EN 16931; :func:`render_facturx_pdf`.
* :mod:`.importer` — :func:`parse_einvoice`: a received UBL or CII back into a snapshot.
* :mod:`.validate` — the official CEN EN 16931 rules and the syntax schemas, offline.
* :mod:`.duly_rules` — :func:`check_duly_rules`: Duly's own due-date rule (DULY-DUE-01/02).
"""

import importlib
from typing import TYPE_CHECKING

from ..lazy import submodule

if TYPE_CHECKING:  # pragma: no cover - for type checkers; at run time the names load on first use
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

# Importing the package loads none of its modules (the renderers and validators load lxml, the rule
# sets and Factur-X, which code that only needs the snapshot model must not pay for): a name below
# loads its module on first use.
_LAZY = {
    "render_cii": "cii",
    "render_facturx_pdf": "cii",
    "check_duly_rules": "duly_rules",
    "ImportResult": "importer",
    "import_einvoice": "importer",
    "parse_einvoice": "importer",
    "Attachment": "model",
    "DocumentAllowanceCharge": "model",
    "InvoiceDocument": "model",
    "InvoiceLine": "model",
    "Party": "model",
    "PaymentMeans": "model",
    "Standard": "model",
    "render_ubl": "ubl",
    "Violation": "validate",
    "compile_rules": "validate",
    "validate_einvoice": "validate",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        return submodule(__name__, name)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
