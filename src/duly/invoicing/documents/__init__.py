"""Invoice documents: the snapshot every renderer reads, stored documents, pay links, imports.

Public API (import from here):

- :func:`build_document` — ``Invoice`` → :class:`~duly.invoicing.einvoice.model.InvoiceDocument`,
  the one snapshot the PDF, UBL and CII/Factur-X renderers all consume.
- :func:`build_printable` — the snapshot plus what only a page shows (branding, payment options…).
- :func:`pay_link` — ``{DULY_PUBLIC_URL}/p/<token>``, the customer's link to pay an invoice.
- :func:`document_bytes` / :func:`store_documents` — issued documents rendered once and stored.
- :func:`render_pending_pdfs` — the PDFs not stored yet (a billing run's), rendered by parallel processes.
- :func:`import_einvoice` — a UBL or CII invoice read into a draft.
- :func:`render_letter` — in :mod:`duly.invoicing.pdf` (receipts: :mod:`duly.payments.documents`; statements of
  account: :mod:`duly.insights.documents`).

Importing this package does not import WeasyPrint (rendering modules load it when they render).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..lazy import submodule

if TYPE_CHECKING:  # pragma: no cover - for type checkers; at run time the names load on first use
    from .adapter import build_document, build_printable, pay_link
    from .imports import import_einvoice
    from .render_services import render_pending_pdfs
    from .store import FORMATS, RenderedDocument, document_bytes, store_documents

# Importing the package loads none of its modules (the adapter loads the e-invoice renderers): code that
# only needs the snapshot (the billing run) does not pay for them. A name below loads its module on first use.
_LAZY = {
    "build_document": "adapter",
    "build_printable": "adapter",
    "pay_link": "adapter",
    "import_einvoice": "imports",
    "render_pending_pdfs": "render_services",
    "FORMATS": "store",
    "RenderedDocument": "store",
    "document_bytes": "store",
    "store_documents": "store",
}

__all__ = [
    "FORMATS",
    "RenderedDocument",
    "build_document",
    "build_printable",
    "document_bytes",
    "import_einvoice",
    "pay_link",
    "render_letter",
    "render_pending_pdfs",
    "store_documents",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value
    if name == "render_letter":
        from .. import pdf

        return getattr(pdf, name)
    return submodule(__name__, name)
