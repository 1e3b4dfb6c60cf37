"""``duly invoices render-pdfs``: the PDFs of issued invoices that have none stored are rendered ahead of their
first use, each stored once; a rerun renders only what is still missing (issue 18, documents)."""

from __future__ import annotations

from click.testing import CliRunner

from duly.invoicing.documents import document_bytes
from duly.invoicing.documents.render_services import pending_pdf_ids, render_pending_pdfs, render_workers
from duly.invoicing.models import StoredDocument


def test_the_pending_pdfs_are_rendered_and_stored_once(make_invoice):
    first = make_invoice("en")
    second = make_invoice("fr", attachments=False)
    make_invoice("en", issue=False)  # a draft: never stored
    org = first.organization
    assert pending_pdf_ids(org) == [first.pk, second.pk]

    seen = []
    result = render_pending_pdfs(org, jobs=2, progress=lambda done, total: seen.append((done, total)))
    # The tests' in-memory database cannot be read by another process: the PDFs are rendered here.
    assert result.workers == 1
    assert (result.rendered, result.already_stored, seen) == (2, 0, [(1, 2), (2, 2)])
    assert sorted(result.numbers) == sorted([first.number, second.number])
    stored = StoredDocument.objects.get(invoice=first, format=StoredDocument.FORMAT_PDF)
    assert bytes(stored.content).startswith(b"%PDF-")
    exported = document_bytes(first, StoredDocument.FORMAT_PDF)
    assert exported.stored and exported.content == bytes(stored.content)  # what every later use returns

    assert pending_pdf_ids(org) == []
    assert render_pending_pdfs(org).rendered == 0
    assert StoredDocument.objects.filter(format=StoredDocument.FORMAT_PDF).count() == 2


def test_the_command_says_what_it_rendered(make_invoice):
    invoice = make_invoice("en", attachments=False)
    from duly.cli import main

    out = CliRunner().invoke(main, ["invoices", "render-pdfs", "--org", invoice.organization.slug, "--jobs", "2"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("Rendered 1 PDF with 1 process in ")
    again = CliRunner().invoke(main, ["invoices", "render-pdfs", "--org", invoice.organization.slug])
    assert again.output.startswith("Rendered 0 PDFs with 1 process")


def test_one_process_where_forking_is_useless(db):
    assert render_workers(4, 0) == 1
    assert render_workers(1, 100) == 1
    assert render_workers(None, 3) == 1  # one chunk of work
