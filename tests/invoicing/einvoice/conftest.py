"""Fixtures for the e-invoice tests: pure, no database.

The official CEN stylesheets are compiled once per test session (``official_rules``); the
time it takes, and the time of single validations, are printed in the terminal summary.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from duly.domain.references import make_rf
from duly.invoicing.einvoice import validate as validation
from duly.invoicing.einvoice.model import InvoiceDocument, InvoiceLine, Party, PaymentMeans

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "en16931-examples"

#: Timings collected during the session, printed by pytest_terminal_summary.
TIMINGS: dict[str, list[float]] = {}


def record_timing(name: str, seconds: float) -> None:
    TIMINGS.setdefault(name, []).append(seconds)


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section("e-invoice validation timings")
    for name, values in TIMINGS.items():
        if len(values) == 1:
            terminalreporter.write_line(f"{name}: {values[0] * 1000:.0f} ms")
        else:
            ordered = sorted(values)
            terminalreporter.write_line(
                f"{name}: n={len(values)}, median {ordered[len(values) // 2] * 1000:.1f} ms, "
                f"max {ordered[-1] * 1000:.1f} ms"
            )


@pytest.fixture(scope="session")
def official_rules():
    """Compile the official UBL and CII stylesheets once; return a validator that times each call."""
    if not EXAMPLES.is_dir():
        pytest.fail(f"The EN 16931 examples are missing: {EXAMPLES}")
    for syntax in ("ubl", "cii"):
        start = time.perf_counter()
        validation.compile_rules(syntax)
        record_timing(f"compile CEN {syntax.upper()} XSLT (once per session)", time.perf_counter() - start)
    start = time.perf_counter()
    validation.compile_rules("peppol")
    record_timing("compile Peppol BIS 3.0 UBL XSLT (once per session)", time.perf_counter() - start)

    def validate(xml: bytes, layers=("xsd", "en16931")) -> list[validation.Violation]:
        start = time.perf_counter()
        violations = validation.validate_einvoice(xml, layers=layers)
        record_timing(f"validate one document ({'+'.join(layers)})", time.perf_counter() - start)
        return violations

    return validate


@pytest.fixture(scope="session")
def example_bytes():
    def read(relative: str) -> bytes:
        return (EXAMPLES / relative).read_bytes()

    return read


SELLER = Party(
    name="Atelier Lumière SARL",
    trading_name="Atelier Lumière",
    country_code="FR",
    vat_id="FR40303265045",
    legal_registration_id="303265045",
    legal_registration_scheme="0002",
    additional_legal_info="SARL au capital de 10 000 EUR, RCS Paris 303 265 045",
    address_lines=("12 rue des Lilas", "Bâtiment B"),
    city="Paris",
    postcode="75011",
    contact_name="Service facturation",
    contact_phone="+33 1 23 45 67 89",
    contact_email="factures@atelier.example",
    electronic_address="303265045",  # Peppol participant: SIREN (EAS 0002); the e-mail is the contact
    electronic_address_scheme="0002",
)

BUYER = Party(
    name="Acme Industries SAS",
    country_code="FR",
    vat_id="FR61954506077",
    legal_registration_id="954506077",
    legal_registration_scheme="0002",
    identifier="ACME",
    address_lines=("3 quai Perrache",),
    city="Lyon",
    postcode="69002",
    contact_email="ap@acme.example",
    electronic_address="954506077",
    electronic_address_scheme="0002",
)

SEPA = PaymentMeans(
    code="58",
    text="SEPA credit transfer",
    remittance_information=make_rf("INV202600001"),
    iban="FR1420041010050500013M02606",
    bic="PSSTFRPPPAR",
    account_name="Atelier Lumière SARL",
)


def make_document(**changes) -> InvoiceDocument:
    """A complete, valid EUR invoice; ``changes`` replace any field."""
    base = InvoiceDocument(
        type_code="380",
        number="INV-2026-00001",
        issue_date=date(2026, 3, 1),
        due_date=date(2026, 3, 31),
        currency="EUR",
        seller=SELLER,
        buyer=BUYER,
        buyer_reference="PO-4711",
        order_reference="PO-4711",
        contract_reference="CTR-ACME",
        period_start=date(2026, 2, 1),
        period_end=date(2026, 2, 28),
        payment_means=SEPA,
        payment_terms=(
            "Payment due by 31 March 2026. Late payment: interest at 10.15% per year and a fixed "
            "compensation of 40 EUR for recovery costs."
        ),
        lines=(
            InvoiceLine(id="1", name="Consulting", quantity=D("12.5"), unit_code="HUR", net_price=D("95.00"),
                        tax_category="S", tax_rate=D("20"), period_start=date(2026, 2, 1),
                        period_end=date(2026, 2, 28)),
            InvoiceLine(id="2", name="Hosting", description="Managed hosting, February", quantity=D("1"),
                        unit_code="MON", net_price=D("49.90"), tax_category="S", tax_rate=D("20")),
        ),
    )
    return replace(base, **changes)


@pytest.fixture(scope="session")
def make_doc():
    """:func:`make_document`: a complete, valid EUR invoice; keyword arguments replace fields."""
    return make_document


@pytest.fixture(scope="session")
def parties() -> dict[str, Party]:
    return {"seller": SELLER, "buyer": BUYER}
