"""Duly's fast path to PDF draws the same pages as WeasyPrint's plain one (issue 18, documents).

:func:`duly.invoicing.pdf.html_to_pdf` reuses a parsed stylesheet with the document's CSS variables put in,
WeasyPrint's image cache and font configuration across renders, and fixes the HTML parser's regex cache. None
of this may change a pixel or a word: the 20-line invoice of ``bench/render.py`` is rendered both ways, and
the text (pdftotext) and every page's pixels (pdftoppm, 40 dpi, grey) must be identical.
"""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal as D
from pathlib import Path

import pytest

from duly.invoicing import pdf, services

pytestmark = pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils (pdftoppm) is not installed")


def twenty_lines() -> list[services.LineData]:
    return [
        services.LineData(f"Service {n:02d} — monthly subscription, seat pack {n}", D(n), D("19.90") + n,
                          unit="C62", tax_rate=D("20") if n % 4 else D("5.5"),
                          explanation=f"Graduated: first 10 seats at 19.90, {n} more" if n % 5 == 0 else "")
        for n in range(1, 21)
    ]


def plain_weasyprint(html: str) -> bytes:
    """The PDF WeasyPrint makes of ``html`` with ``documents.css`` read afresh and no cache of Duly's."""
    import weasyprint
    from weasyprint.text.fonts import FontConfiguration

    css = weasyprint.CSS(filename=str(pdf.PACKAGE_TEMPLATES / pdf.TEMPLATE_PREFIX / pdf.STYLESHEET),
                         url_fetcher=pdf._url_fetcher)
    return weasyprint.HTML(string=html, base_url=str(pdf.PACKAGE_TEMPLATES), url_fetcher=pdf._url_fetcher).write_pdf(
        stylesheets=[css], font_config=FontConfiguration(), pdf_variant=pdf.PDF_VARIANT)


def pages(content: bytes, folder: Path) -> tuple[str, list[bytes]]:
    """(text, the pixels of each page) of a PDF."""
    folder.mkdir()
    (folder / "doc.pdf").write_bytes(content)
    text = subprocess.run(["pdftotext", "-layout", "doc.pdf", "-"], cwd=folder, capture_output=True, check=True,
                          text=True).stdout
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "doc.pdf", "page"], cwd=folder, check=True)
    return text, [p.read_bytes() for p in sorted(folder.glob("page*.pgm"))]


def test_the_fast_path_draws_the_same_pages(make_invoice, tmp_path):
    from duly.invoicing.documents.adapter import build_printable

    invoice = make_invoice("fr", lines=twenty_lines())
    printable = build_printable(invoice)
    html = pdf.render_document_html("invoice.html", printable.org_slug,
                                    pdf.invoice_context(printable, invoice.organization))
    pdf.html_to_pdf(html, org_slug=printable.org_slug)  # the caches warm
    fast_text, fast_pages = pages(pdf.html_to_pdf(html, org_slug=printable.org_slug), tmp_path / "fast")
    plain_text, plain_pages = pages(plain_weasyprint(html), tmp_path / "plain")
    assert len(fast_pages) >= 2  # the lines run onto a second page, as in the bench
    assert "Service 20" in fast_text and fast_text == plain_text
    assert [i for i, (a, b) in enumerate(zip(fast_pages, plain_pages, strict=True)) if a != b] == []
