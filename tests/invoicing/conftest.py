"""Fixtures and helpers shared by the document tests (test_documents*, test_pdf*, test_export*).

Imported by those modules (``from test_documents_support import ...``); pytest collects no test here.
"""

from __future__ import annotations

import io
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
EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "data" / "en16931-examples"
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


def pdf_text(content: bytes) -> str:
    """The text of every page, whitespace collapsed (pdfplumber)."""
    import pdfplumber

    with pdfplumber.open(io.BytesIO(content)) as pdf:
        text = "\n".join(page.extract_text() or "" for page in pdf.pages)
    return " ".join(text.split())


def save_first_page_png(content: bytes, name: str) -> Path:
    """Write the PDF and a PNG of its first page to test-artifacts/ (skips without pdftoppm)."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    pdf_path = ARTIFACTS / f"{name}.pdf"
    pdf_path.write_bytes(content)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf_path),
                    str(ARTIFACTS / name)], check=True, timeout=60)
    return ARTIFACTS / f"{name}.png"
