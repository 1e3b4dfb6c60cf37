"""Files attached to messages: stored as references when a message is queued, loaded when it is sent.

A reference is a small dict kept in ``Message.attachments``:

``{"kind": "invoice_attachment", "id": 7}``
    A supporting document stored with an invoice (:class:`duly.invoicing.models.Attachment`).
``{"kind": "invoice_pdf", "invoice_id": 12}``
    The invoice's PDF, rendered by the documents module.
``{"kind": "receipt_pdf", "payment_id": 3}``
    A payment receipt.
``{"kind": "statement_pdf", "customer_id": 5, "as_of": "2026-06-30"}``
    A statement of account.
``{"kind": "letter_pdf", "letter": "final_notice", "customer_id": 5, "invoice_ids": [12], "date": ...,
"deadline": ..., "reference": ..., "contact_name": ..., "open_minor": {"12": 10000}}``
    A formal letter for post (reminder, final notice or termination), with the open amounts its
    message showed.

PDF references are added only when a renderer is registered for their kind (:data:`RENDERERS`): the
invoicing documents (``document_bytes`` for invoices, rendered once and stored; ``render_letter``) and the
payments receipt, which messaging imports (they are below it), and the statement of account, which the
insights app (above messaging) registers in its AppConfig.ready() with :func:`register_renderer`.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any, Callable, Iterable

from django.conf import settings

log = logging.getLogger("duly.messaging")


def _invoice_pdf() -> Callable[..., Any]:
    from duly.invoicing.documents import document_bytes

    return document_bytes


def _receipt_pdf() -> Callable[..., Any]:
    from duly.payments.documents import render_receipt

    return render_receipt


def _letter_pdf() -> Callable[..., Any]:
    from duly.invoicing.documents import render_letter

    return render_letter


#: Reference kind → the function that loads its renderer (on first use: queuing a message loads none).
RENDERERS: dict[str, Callable[[], Callable[..., Any]]] = {
    "invoice_pdf": _invoice_pdf,
    "receipt_pdf": _receipt_pdf,
    "letter_pdf": _letter_pdf,
}
#: Letter kinds the documents module lays out (``letter_<kind>.html``).
LETTER_KINDS = ("reminder", "final_notice", "termination")

Loaded = tuple[str, bytes, str]


def register_renderer(kind: str, load: Callable[[], Callable[..., Any]]) -> None:
    """Attach ``kind`` references with the renderer ``load()`` returns: how an app above messaging (insights:
    ``statement_pdf``) adds its documents, in its AppConfig.ready()."""
    RENDERERS[kind] = load


def renderer(kind: str) -> Callable[..., Any] | None:
    """The document renderer for ``kind``, or None while none is registered (or it cannot be imported).

    ``settings.DULY_MESSAGE_PDF_ATTACHMENTS = False`` turns PDF attachments off (stored invoice
    attachments are still sent).
    """
    if not getattr(settings, "DULY_MESSAGE_PDF_ATTACHMENTS", True):
        return None
    load = RENDERERS.get(kind)
    if load is None:
        return None
    try:
        fn = load()
    except ImportError:
        return None
    return fn if callable(fn) else None


def invoice_refs(invoice_ids: Iterable[int], known: dict[int, list[dict[str, Any]]] | None = None
                 ) -> list[dict[str, Any]]:
    """References for the PDFs (when renderable) and stored attachments of these invoices (one query; none when
    ``known``, :func:`invoice_refs_each` of a set of invoices read before, holds them all)."""
    ids = sorted(set(invoice_ids))
    if known is not None and all(i in known for i in ids):
        per_invoice = {i: known[i] for i in ids}
    else:
        per_invoice = invoice_refs_each(ids)
    pdfs = [ref for refs in per_invoice.values() for ref in refs if ref["kind"] == "invoice_pdf"]
    return pdfs + [ref for refs in per_invoice.values() for ref in refs if ref["kind"] != "invoice_pdf"]


def invoice_refs_each(invoice_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Per invoice (in id order): the reference of its PDF (when renderable), then of each stored
    attachment, by file name (one query for all)."""
    from duly.invoicing.models import Attachment

    ids = sorted(set(invoice_ids))
    pdf = renderer("invoice_pdf") is not None
    refs: dict[int, list[dict[str, Any]]] = {i: ([{"kind": "invoice_pdf", "invoice_id": i}] if pdf else [])
                                             for i in ids}
    for invoice_id, pk in Attachment.objects.filter(invoice_id__in=ids).order_by(
            "invoice_id", "filename").values_list("invoice_id", "pk"):
        refs[invoice_id].append({"kind": "invoice_attachment", "id": pk})
    return refs


def receipt_refs(payment_id: int) -> list[dict[str, Any]]:
    return [{"kind": "receipt_pdf", "payment_id": payment_id}] if renderer("receipt_pdf") else []


def statement_refs(customer_id: int, as_of: date) -> list[dict[str, Any]]:
    if renderer("statement_pdf") is None:
        return []
    return [{"kind": "statement_pdf", "customer_id": customer_id, "as_of": as_of.isoformat()}]


def letter_refs(customer_id: int, invoice_ids: Iterable[int], *, letter: str, on: date, deadline: date,
                reference: str, contact_name: str, open_minor: dict[int, int] | None = None,
                reminded_on: Iterable[date] = ()) -> list[dict[str, Any]]:
    """The PDF letter for post, when the documents module renders letters. ``open_minor``: the open
    amount of each invoice as the message that carries the letter shows it (frozen: the letter
    states the same figures whenever it is rendered). ``reminded_on``: the dates earlier reminders
    about these invoices reached the customer (a letter cites only reminders it can name)."""
    if renderer("letter_pdf") is None:
        return []
    ref = {"kind": "letter_pdf", "letter": letter if letter in LETTER_KINDS else "reminder",
           "customer_id": customer_id, "invoice_ids": sorted(set(invoice_ids)), "date": on.isoformat(),
           "deadline": deadline.isoformat(), "reference": reference, "contact_name": contact_name,
           "reminded_on": sorted({d.isoformat() for d in reminded_on})}
    if open_minor is not None:
        ref["open_minor"] = {str(pk): minor for pk, minor in sorted(open_minor.items())}
    return [ref]


def load(ref: dict[str, Any]) -> Loaded | None:
    """``(filename, content, mimetype)`` for a reference; None when the object is gone."""
    kind = ref.get("kind")
    if kind == "invoice_attachment":
        from duly.invoicing.models import Attachment

        att = Attachment.objects.filter(pk=ref["id"]).first()
        if att is None:
            return None
        with att.file.open("rb") as fh:
            return att.filename, fh.read(), att.content_type
    fn = renderer(kind) if isinstance(kind, str) else None
    if fn is None:
        return None
    if kind == "invoice_pdf":
        from duly.invoicing.models import Invoice

        invoice = Invoice.objects.select_related("organization", "customer", "contract").filter(
            pk=ref["invoice_id"]).first()
        if invoice is None:
            return None
        document = fn(invoice, "pdf")
        return document.filename, document.content, document.content_type
    if kind == "receipt_pdf":
        from duly.payments.models import Payment

        payment = Payment.objects.select_related("organization", "customer").filter(pk=ref["payment_id"]).first()
        return (f"receipt-{payment.pk}.pdf", fn(payment), "application/pdf") if payment else None
    if kind == "statement_pdf":
        from duly.customers.models import Customer

        customer = Customer.objects.select_related("organization").filter(pk=ref["customer_id"]).first()
        as_of = date.fromisoformat(ref["as_of"])
        return (f"statement-{as_of.isoformat()}.pdf", fn(customer, as_of=as_of), "application/pdf") if customer else None
    if kind == "letter_pdf":
        from duly.customers.models import Customer
        from duly.invoicing.models import Invoice

        customer = Customer.objects.select_related("organization").filter(pk=ref["customer_id"]).first()
        if customer is None:
            return None
        on = date.fromisoformat(ref["date"])
        context = {"date": on, "deadline": date.fromisoformat(ref["deadline"]), "reference": ref["reference"],
                   "invoices": list(Invoice.objects.filter(pk__in=ref["invoice_ids"]).order_by("due_date", "pk"))}
        if ref.get("contact_name"):
            context["contact_name"] = ref["contact_name"]
        if ref.get("open_minor"):
            context["open_minor"] = {int(pk): minor for pk, minor in ref["open_minor"].items()}
        context["reminded_on"] = [date.fromisoformat(d) for d in ref.get("reminded_on") or ()]
        content = fn(ref["letter"], customer, context)
        return f"{ref['letter']}-{customer.code}-{on.isoformat()}.pdf", content, "application/pdf"
    log.warning("unknown attachment reference %r", ref)
    return None
