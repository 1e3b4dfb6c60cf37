"""Fixtures of the invoice document tests (test_documents*, test_pdf*, test_export*).

``make_invoice`` issues a complete invoice (required fields, tiered line, two VAT rates, attachments,
late-fee terms) for a customer speaking a given language; ``pdf_text`` reads a PDF back and
``save_png`` writes a PDF and the PNG of its first page to ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from duly.invoicing import services
from duly.invoicing.models import Invoice

L = services.LineData
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "en16931-examples"
ISSUE_DATE = date(2026, 3, 31)

#: Customer locale per document language tested.
LOCALES = {"en": "en_GB", "fr": "fr_FR", "de": "de_DE", "ru": "ru_RU", "es": "es_ES"}


def invoice_lines() -> list[services.LineData]:
    return [
        L("Design retainer — March 2026", D("1"), D("2400.00"), unit="MON", tax_rate=D("20"),
          period_start=date(2026, 3, 1), period_end=date(2026, 3, 31)),
        L("API calls", D("125000"), D("0.0125"), unit="C62", tax_rate=D("20"),
          explanation="Graduated: 0–100,000 calls at 0.0150 = 1,500.00; 100,001–125,000 at 0.0025 = 62.50"),
        L("Extra hours", D("3.5"), D("95.00"), unit="HUR", tax_rate=D("20"), discount_percent=D("10")),
        L("Printed brochures (reduced rate)", D("200"), D("1.50"), unit="H87", tax_rate=D("5.5")),
    ]


@pytest.fixture
def doc_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DULY_PUBLIC_URL = "https://pay.duly.test"
    settings.DULY_DOCUMENT_TEMPLATE_DIRS = []
    return settings


@pytest.fixture
def make_invoice(org, make_customer, make_contract, doc_settings):
    """Issue a complete invoice for a customer speaking ``lang``; returns the Invoice."""

    def make(lang: str = "en", *, issue: bool = True, attachments: bool = True, preferred: str = "bank_transfer",
             lines=None, **customer_fields) -> Invoice:
        fields = dict(
            name="Globex Procurement SA", locale=LOCALES[lang], tax_id="FR61954506077",
            required_fields=["po_number", "cost_centre"], custom_required_fields=["Project code"],
            preferred_payment_method=preferred,
        )
        fields.update(customer_fields)
        customer = make_customer(**fields)
        contract = make_contract(customer, terms_kind="net", terms_days=30, late_fee_kind="interest_annual",
                                 late_rate_percent=D("12"), late_fixed_fee="40.00")
        draft = services.create_draft(
            org, customer, lines if lines is not None else invoice_lines(), contract=contract,
            service_period=(date(2026, 3, 1), date(2026, 3, 31)), po_number="PO-4711", cost_centre="CC-DESIGN-9",
            custom_fields={"Project code": "PRJ-77"},
        )
        if attachments:
            services.add_attachment(org, draft.pk, "timesheet-march.csv", b"date,hours\n2026-03-02,3.5\n",
                                    description="Timesheet March 2026", content_type="text/csv")
            services.add_attachment(org, draft.pk, "service-report.pdf", b"%PDF-1.4 report",
                                    description="Service report")
        if not issue:
            return draft
        return services.issue_invoice(org, draft.pk, issue_date=ISSUE_DATE)

    return make


class PdfText:
    """The text of a PDF (pypdf, in content-stream order), compared with all whitespace removed.

    Kerning and line breaks make extracted text unreliable about spaces ("T axes", "2 May\n2026"),
    so ``"Taux normal" in text`` compares the characters only, ignoring case (CSS upper-cases headings).
    """

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.squashed = "".join(raw.split()).casefold()

    def __contains__(self, item: str) -> bool:
        return "".join(item.split()).casefold() in self.squashed

    def index(self, item: str) -> int:
        return self.squashed.index("".join(item.split()).casefold())

    def __repr__(self) -> str:
        return f"PdfText({' '.join(self.raw.split())!r})"


def read_pdf_text(content: bytes) -> PdfText:
    """The text of every page of a PDF."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    return PdfText("\n".join(page.extract_text() or "" for page in reader.pages))


def save_first_page_png(content: bytes, name: str) -> Path:
    """Write the PDF and a PNG of its first page to test-artifacts/.

    Without pdftoppm the test is skipped on a developer's machine, but fails in CI (``CI=true``):
    the artefacts are how a person reviews the layout, and .ci/run installs poppler-utils.
    """
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail("pdftoppm (poppler-utils) is missing in CI: the first-page PNG artefacts cannot be made")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    pdf_path = ARTIFACTS / f"{name}.pdf"
    pdf_path.write_bytes(content)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf_path),
                    str(ARTIFACTS / name)], check=True, timeout=60)
    return ARTIFACTS / f"{name}.png"


@pytest.fixture
def pdf_text():
    return read_pdf_text


@pytest.fixture
def save_png():
    return save_first_page_png


# --- e-invoice import round trips (org_for_seller and rounded_einvoice: tests/conftest.py) -----------------
def _assert_same_invoice(source, draft) -> None:
    """Amounts, lines, tax and parties of a draft's snapshot equal those read from the source file."""
    a, b = source.totals(), draft.totals()
    for field in ("line_total", "allowance_total", "charge_total", "tax_exclusive", "tax_total", "tax_inclusive",
                  "prepaid", "payable"):
        assert getattr(a, field) == getattr(b, field), field
    assert a.tax_breakdown == b.tax_breakdown
    assert len(source.lines) == len(draft.lines)
    for x, y, rx, ry in zip(source.lines, draft.lines, a.lines, b.lines, strict=True):
        assert (x.name, x.quantity, x.unit_code, x.tax_category, x.tax_rate, x.period_start, x.period_end) == (
            y.name, y.quantity, y.unit_code, y.tax_category, y.tax_rate, y.period_start, y.period_end)
        assert x.net_price / x.base_quantity == y.net_price / y.base_quantity
        assert rx == ry
    assert [(ac.is_charge, ac.reason, ac.tax_category, ac.tax_rate) for ac in source.allowances_charges] == [
        (ac.is_charge, ac.reason, ac.tax_category, ac.tax_rate) for ac in draft.allowances_charges]
    for p, q in ((source.seller, draft.seller), (source.buyer, draft.buyer)):
        assert (p.name, p.country_code, p.city, p.postcode, p.address_lines) == (
            q.name, q.country_code, q.city, q.postcode, q.address_lines)
        assert (p.vat_id or p.legal_registration_id) in (q.vat_id, q.legal_registration_id)
    assert (source.order_reference, source.buyer_accounting_ref, source.period_start, source.period_end) == (
        draft.order_reference, draft.buyer_accounting_ref, draft.period_start, draft.period_end)


@pytest.fixture
def assert_same_invoice():
    """``(source, draft)``: assert two InvoiceDocuments have the same amounts, lines, tax and parties."""
    return _assert_same_invoice
