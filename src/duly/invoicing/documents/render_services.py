"""Render the pending PDFs of issued invoices (a billing run's, say) in parallel processes.

Issuing renders nothing (:func:`duly.invoicing.documents.store_documents`): each document is rendered the
first time it is needed. :func:`render_pending_pdfs` renders, ahead of time, the PDFs of issued invoices
that have none stored yet, so that e-mails and exports then find them ready.

Rendering is CPU work (WeasyPrint); storing is one small write. So ``jobs`` forked processes render (each
reads the invoice's frozen data on a database connection of its own, never the parent's) and this process
stores each PDF as it comes back, through :func:`duly.invoicing.services.store_document`, one transaction per
document. A document stored meanwhile by someone else (an export, an e-mail) is kept, not replaced: the store
is idempotent (one row per invoice and format, a unique constraint). A run killed half way leaves the
documents it stored; running it again renders the rest.

One process (``jobs=1``) is used where forking is unsafe or useless: not Linux, a threaded process (``duly
serve``), a daemon process (a Celery worker's child), an open transaction, or an in-memory SQLite database
(the tests'), which other processes cannot read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction

from ..models import Invoice, StoredDocument

__all__ = ["RenderPendingResult", "pending_pdf_ids", "render_pending_pdfs", "render_workers"]

#: Invoices handed to a rendering process at a time (small: the PDFs come back as they are done).
CHUNK = 4
MAX_WORKERS = 8
_PARENT = 0
_INHERITED: list = []  # database connections a rendering process inherited: its parent's, never used nor closed


@dataclass
class RenderPendingResult:
    """What :func:`render_pending_pdfs` did."""

    rendered: int = 0
    #: Stored by someone else between the listing and the store (their document is kept).
    already_stored: int = 0
    workers: int = 1
    numbers: list[str] = field(default_factory=list)


def pending_pdf_ids(org, *, limit: int | None = None) -> list[int]:
    """Ids of ``org``'s issued invoices (any status but draft) without a stored PDF, oldest first."""
    stored = StoredDocument.objects.filter(format=StoredDocument.FORMAT_PDF).values("invoice_id")
    query = (Invoice.objects.filter(organization=org).exclude(status=Invoice.DRAFT)
             .exclude(pk__in=stored).order_by("pk").values_list("pk", flat=True))
    return list(query[:limit] if limit else query)


def render_workers(requested: int | None, count: int) -> int:
    """How many rendering processes to use for ``count`` documents: ``requested`` (None: one per CPU this
    process may use, at most :data:`MAX_WORKERS`), or 1 where forking is unsafe or useless (see the module)."""
    import multiprocessing
    import sys
    import threading

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    jobs = requested if requested is not None else min(cpus, MAX_WORKERS)
    jobs = max(1, min(jobs, MAX_WORKERS, -(-count // CHUNK) if count else 1))
    if jobs < 2 or not sys.platform.startswith("linux"):
        return 1
    if threading.active_count() > 1 or multiprocessing.current_process().daemon:
        return 1
    if connection.in_atomic_block or (connection.vendor == "sqlite" and connection.is_in_memory_db()):
        return 1
    return jobs


def render_pending_pdfs(org, *, jobs: int | None = None, limit: int | None = None,
                        progress: Callable[[int, int], None] | None = None) -> RenderPendingResult:
    """Render and store the PDF of each of ``org``'s issued invoices that has none yet.

    ``jobs``: rendering processes (None: one per CPU); ``limit``: at most this many invoices;
    ``progress(done, total)`` is called after each stored document.
    """
    ids = pending_pdf_ids(org, limit=limit)
    result = RenderPendingResult(workers=render_workers(jobs, len(ids)))
    for done, (invoice_id, content) in enumerate(_rendered(ids, result.workers), 1):
        _store(invoice_id, content, result)
        if progress is not None:
            progress(done, len(ids))
    return result


def _store(invoice_id: int, content: bytes, result: RenderPendingResult) -> None:
    from .. import services
    from .store import FORMATS, _filename

    fmt = StoredDocument.FORMAT_PDF
    with transaction.atomic():
        invoice = Invoice.objects.select_related("organization").get(pk=invoice_id)
        stored = services.store_document(invoice, fmt, filename=_filename(invoice, fmt),
                                         content_type=FORMATS[fmt][0], render=lambda: content)
    if bytes(stored.content) == content:
        result.rendered += 1
    else:
        result.already_stored += 1
    result.numbers.append(invoice.number)


def _render_one(invoice_id: int) -> bytes:
    from ..pdf import render_invoice_pdf

    invoice = (Invoice.objects.select_related("organization", "customer", "contract")
               .get(pk=invoice_id))
    return render_invoice_pdf(invoice)


def _rendered(ids: list[int], workers: int) -> Iterator[tuple[int, bytes]]:
    """(invoice id, PDF bytes) of each invoice, in order, rendered here or by ``workers`` forked processes."""
    if workers < 2:
        for invoice_id in ids:
            yield invoice_id, _render_one(invoice_id)
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    global _PARENT
    _PARENT = os.getpid()
    # Imported once here, before forking, rather than once in each rendering process (WeasyPrint alone is about
    # half a second of CPU). Importing starts no thread, so forking stays safe.
    import weasyprint  # noqa: F401

    from .. import pdf  # noqa: F401
    from . import adapter  # noqa: F401

    chunks = [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_worker_init) as pool:
        flying: deque = deque()
        nxt = 0
        while nxt < len(chunks) or flying:
            while nxt < len(chunks) and len(flying) < 2 * workers:
                flying.append((chunks[nxt], pool.submit(_render_chunk, chunks[nxt])))
                nxt += 1
            chunk, future = flying.popleft()
            yield from zip(chunk, future.result(), strict=True)


def _render_chunk(ids: list[int]) -> list[bytes]:
    return [_render_one(invoice_id) for invoice_id in ids]


def _worker_init() -> None:
    """In a forked rendering process: leave the parent's database connections alone (a fresh one opens), ignore
    Ctrl-C (the parent stops its workers), and end when the parent does, even killed."""
    import ctypes
    import signal

    from django.db import connections

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux (workers are forked on Linux only)
        pass
    if os.getppid() != _PARENT:  # the parent died before the signal was set
        os._exit(1)
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _INHERITED.append(conn.connection)  # closing it here would close the parent's session
            conn.connection = None
