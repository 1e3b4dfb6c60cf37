"""Factur-X: the CII embedded into a PDF/A-3 made by WeasyPrint, and read back out."""

from __future__ import annotations

import io

import facturx
import pypdf
import pytest
import weasyprint
from lxml import etree

from duly.invoicing.einvoice.cii import render_cii, render_facturx_pdf
from duly.invoicing.einvoice.importer import parse_einvoice


@pytest.fixture(scope="module")
def pdf_a3() -> bytes:
    html = "<html><body><h1>Invoice INV-2026-00001</h1><p>Atelier Lumière SARL</p></body></html>"
    return weasyprint.HTML(string=html).write_pdf(pdf_variant="pdf/a-3b")


def test_embedded_xml_is_extractable_and_valid(pdf_a3, make_doc, official_rules):
    doc = make_doc()
    pdf = render_facturx_pdf(pdf_a3, doc)
    filename, xml = facturx.get_facturx_xml_from_pdf(pdf)  # checks the Factur-X XSD too
    assert filename == "factur-x.xml"
    assert xml == render_cii(doc)
    assert official_rules(xml) == []
    assert facturx.get_level(etree.fromstring(xml)) == "en16931"
    assert parse_einvoice(xml) == doc


def test_pdf_carries_factur_x_metadata(pdf_a3, make_doc):
    pdf = render_facturx_pdf(pdf_a3, make_doc())
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b"<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert b"<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in xmp
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp
    assert "factur-x.xml" in reader.attachments
    assert reader.metadata.title == "Atelier Lumière SARL: Invoice INV-2026-00001"


def test_credit_note_pdf(pdf_a3, make_doc, official_rules):
    doc = make_doc(type_code="381", number="CN-2026-00003", preceding_invoice="INV-2026-00001")
    _, xml = facturx.get_facturx_xml_from_pdf(render_facturx_pdf(pdf_a3, doc))
    assert official_rules(xml) == []
    assert parse_einvoice(xml).type_code == "381"



def test_the_pdf_producer_agrees_with_its_xmp_metadata(pdf_a3, make_doc):
    """PDF/A: the Info dictionary and the XMP metadata state the same producer (was WeasyPrint vs pypdf)."""
    import re

    assert b"WeasyPrint" in pypdf.PdfReader(io.BytesIO(pdf_a3)).metadata["/Producer"].encode()
    reader = pypdf.PdfReader(io.BytesIO(render_facturx_pdf(pdf_a3, make_doc())))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    [xmp_producer] = re.findall(r"<pdf:Producer>([^<]*)</pdf:Producer>", xmp)
    assert reader.metadata["/Producer"] == xmp_producer == "pypdf"
    assert reader.metadata["/Creator"] == re.findall(r"<xmp:CreatorTool>([^<]*)</xmp:CreatorTool>", xmp)[0]
    assert re.findall(r"<pdf:Keywords>([^<]*)</pdf:Keywords>", xmp) == [reader.metadata["/Keywords"]]
