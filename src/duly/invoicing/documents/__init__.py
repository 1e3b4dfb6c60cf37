"""Invoice documents: the snapshot every renderer reads, stored documents, pay links, imports.

Public API (import from here):

- :func:`build_document` — ``Invoice`` → :class:`~duly.invoicing.einvoice.model.InvoiceDocument`,
  the one snapshot the PDF, UBL and CII/Factur-X renderers all consume.
- :func:`build_printable` — the snapshot plus what only a page shows (branding, payment options…).
- :func:`pay_link` — ``{DULY_PUBLIC_URL}/p/<token>``, the customer's link to pay an invoice.
- :func:`document_bytes` / :func:`store_documents` — issued documents rendered once and stored.
- :func:`import_einvoice` — a UBL or CII invoice read into a draft.
- :func:`render_letter`, :func:`render_receipt`, :func:`render_statement` — in :mod:`duly.invoicing.pdf`.

Importing this package does not import WeasyPrint (rendering modules load it when they render).
"""

from __future__ import annotations

from .adapter import build_document, build_printable, pay_link
from .imports import import_einvoice
from .store import FORMATS, RenderedDocument, document_bytes, store_documents

__all__ = [
    "FORMATS",
    "RenderedDocument",
    "build_document",
    "build_printable",
    "document_bytes",
    "import_einvoice",
    "pay_link",
    "render_letter",
    "render_receipt",
    "render_statement",
    "store_documents",
]


def __getattr__(name: str):
    if name in ("render_letter", "render_receipt", "render_statement"):
        from .. import pdf

        return getattr(pdf, name)
    raise AttributeError(name)
