"""`duly invoices export` (pdf, ubl, facturx) and `duly invoices import-ubl` (official examples round trip)."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from duly.cli import main
from duly.invoicing import services
from duly.invoicing.documents import build_document
from duly.invoicing.einvoice.importer import parse_einvoice
from duly.invoicing.einvoice.validate import validate_einvoice
from duly.invoicing.models import Invoice, StoredDocument

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "en16931-examples"
OFFICIAL = ["ubl/ubl-tc434-example1.xml", "ubl/ubl-tc434-example2.xml", "ubl/ubl-tc434-creditnote1.xml",
            "cii/CII_example1.xml", "cii/CII_example2.xml", "cii/CII_example4.xml"]


def duly(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_export_pdf_ubl_and_facturx(make_invoice, tmp_path, pdf_text):
    inv = make_invoice("de")
    pdf_path, ubl_path, fx_path = tmp_path / "inv.pdf", tmp_path / "inv.xml", tmp_path / "inv-fx.pdf"
    for fmt, path in (("pdf", pdf_path), ("ubl", ubl_path), ("facturx", fx_path)):
        result = duly("invoices", "export", inv.number, "--format", fmt, "-o", str(path))
        assert result.exit_code == 0, result.output
        assert f"Wrote {path} ({fmt}," in result.output and "stored" in result.output
    text = pdf_text(pdf_path.read_bytes())
    assert inv.number in text and "30. April 2026" in text
    assert validate_einvoice(ubl_path.read_bytes()) == []
    reader = PdfReader(io.BytesIO(fx_path.read_bytes()))
    assert validate_einvoice(reader.attachments["factur-x.xml"][0]) == []
    assert set(StoredDocument.objects.filter(invoice=inv).values_list("format", flat=True)) == {"pdf", "ubl", "facturx"}
    # exporting again returns the stored bytes, to a file or to standard output
    again = tmp_path / "again.pdf"
    assert duly("invoices", "export", inv.number, "-o", str(again)).exit_code == 0
    assert again.read_bytes() == pdf_path.read_bytes()
    stdout = duly("invoices", "export", inv.number, "--format", "ubl", "-o", "-")
    assert stdout.stdout_bytes == ubl_path.read_bytes()


def test_export_default_file_name(make_invoice, tmp_path, monkeypatch):
    inv = make_invoice("en", attachments=False)
    monkeypatch.chdir(tmp_path)
    assert duly("invoices", "export", inv.number, "--format", "ubl").exit_code == 0
    assert (tmp_path / f"{inv.number}.xml").read_bytes() == bytes(
        StoredDocument.objects.get(invoice=inv, format="ubl").content)


def test_export_of_a_draft(make_invoice, tmp_path, pdf_text):
    draft = make_invoice("en", issue=False, attachments=False)
    out = tmp_path / "draft.pdf"
    result = duly("invoices", "export", str(draft.pk), "--date", "2026-04-02", "-o", str(out))
    assert result.exit_code == 0 and "draft, not stored" in result.output
    assert "DRAFT" in pdf_text(out.read_bytes())
    result = duly("invoices", "export", str(draft.pk), "--format", "ubl", "-o", str(tmp_path / "x.xml"))
    assert result.exit_code == 2
    assert "issue it before exporting it as an e-invoice (ubl). [invoice_not_issued]" in result.stderr
    assert not StoredDocument.objects.filter(invoice=draft).exists()


def test_export_names_the_missing_field(make_invoice, tmp_path):
    # The customer has no country when the invoice is issued (what documents show is frozen at issue).
    draft = make_invoice("en", attachments=False, issue=False)
    draft.customer.country = ""
    draft.customer.save(update_fields=["country"])
    inv = services.issue_invoice(draft.organization, draft.pk, issue_date=date(2026, 3, 31))
    result = duly("invoices", "export", inv.number, "--format", "ubl", "-o", str(tmp_path / "x.xml"))
    assert result.exit_code == 2
    assert "buyer country (BT-55)" in result.stderr and "[missing_document_data]" in result.stderr
    assert not (tmp_path / "x.xml").exists()


def test_export_unknown_invoice(org, doc_settings):
    result = duly("invoices", "export", "INV-1999-00001")
    assert result.exit_code == 2 and "No invoice numbered 'INV-1999-00001'" in result.stderr


@pytest.mark.parametrize("example", OFFICIAL)
def test_official_examples_round_trip_through_import(example, org_for_seller, assert_same_invoice, doc_settings):
    xml = (EXAMPLES / example).read_bytes()
    slug = re.sub(r"[^a-z0-9]+", "-", Path(example).stem.lower())
    org = org_for_seller(xml, slug)
    result = duly("invoices", "import-ubl", str(EXAMPLES / example), "--org", slug)
    assert result.exit_code == 0, result.output + result.stderr
    source = parse_einvoice(xml)
    match = re.search(r"as draft #(\d+) for (.+?) \(new customer (.+?)\): (\d+) lines, total ([\d.]+) (\w{3})",
                      result.output)
    assert match, result.output
    draft = Invoice.objects.get(organization=org, pk=int(match.group(1)))
    assert draft.status == Invoice.DRAFT and draft.customer.name == source.buyer.name
    assert int(match.group(4)) == len(source.lines) and match.group(6) == source.currency
    assert_same_invoice(source, build_document(draft))


def test_import_of_a_broken_file(org, doc_settings, tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<Invoice>not an EN 16931 invoice</Invoice>")
    result = duly("invoices", "import-ubl", str(bad))
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
