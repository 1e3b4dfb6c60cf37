"""Document rendering speed: PDFs per second and UBL documents per second for a 20-line invoice.

Run: ``.venv/bin/python bench/render.py [--runs 20] [--check]`` (``make bench`` runs every bench).

It builds a throw-away SQLite database (migrations, one organization, a customer, a 20-line
invoice with two VAT rates and an attachment), issues the invoice, then measures, in the same
process:

- reference: WeasyPrint rendering a trivial one-page HTML with the same fonts (the floor any
  PDF pays: fonts, PDF/A structure), and the same page through Duly's stylesheet;
- PDF: :func:`duly.invoicing.pdf.render_invoice_pdf` (snapshot, Jinja2, WeasyPrint, PDF/A-3b);
- UBL: :func:`duly.invoicing.einvoice.ubl.render_ubl` of the same snapshot, without and with the
  official EN 16931 validation (XSD + CEN Schematron, stylesheets compiled before timing);
- peak Python memory (tracemalloc) while rendering, and the process's maximum resident size;
- ``duly invoices render-pdfs``: the PDFs of a billing run (``--parallel N`` more invoices) rendered and stored
  with 1 process, then with 2 (wall time, and CPU time of the process and its children);
- start-up: a fresh ``duly --help``, and ``duly invoices export`` of the stored PDF (wall and CPU time; the export
  of a stored document is served by :mod:`duly.cli.start` without setting Django up), beside a fresh
  ``python -c pass`` (the interpreter's own start-up). The budget is 300 ms each.

Every measurement runs in turn with the others (A, B, C, A, B, C…), so a busy machine slows
them alike; wall and CPU times are printed. The budget is 300 ms per PDF (median wall time);
``--check`` exits 1 when it is exceeded.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import _duly  # noqa: E402  (bench/_duly.py: a throw-away database for the benchmark)

PDF_BUDGET_MS = 300.0


def _setup() -> None:
    _duly.setup("render")


def _invoice():
    from duly.customers.services import create_contract, create_customer, create_organization
    from duly.invoicing import services

    org = create_organization(
        name="Atelier Lumière SARL", slug="atelier", country="FR", default_currency="EUR",
        address_line1="12 rue des Lilas", postcode="75011", city="Paris", vat_id="FR40303265045",
        iban="FR1420041010050500013M02606", bic="PSSTFRPPPAR", locale="fr_FR", timezone="Europe/Paris",
        email="factures@atelier.example", electronic_address_scheme="0002", electronic_address="303265045",
    )
    customer = create_customer(
        org, code="GLOBEX", name="Globex Procurement SA", country="FR", city="Lyon", address_line1="3 quai Perrache",
        postcode="69002", currency="EUR", locale="fr_FR", tax_id="FR61954506077", required_fields=["po_number"],
        electronic_address_scheme="0002", electronic_address="954506077",  # both on Peppol: the UBL is Peppol BIS
        contacts=[{"name": "Camille Martin", "email": "ap@globex.example", "role": "accounts_payable"}],
    )
    contract = create_contract(org, customer, reference="CTR-GLOBEX", start_date=date(2026, 1, 1),
                               terms_kind="net", terms_days=30, late_fee_kind="interest_annual",
                               late_rate_percent=Decimal("12"), late_fixed_fee="40.00")
    lines = [
        services.LineData(
            f"Service {n:02d} — monthly subscription, seat pack {n}", Decimal(n), Decimal("19.90") + n,
            unit="C62", tax_rate=Decimal("20") if n % 4 else Decimal("5.5"),
            explanation=(
                f"Graduated: first 10 seats at 19.90, {n} more at {Decimal('19.90') + n}" if n % 5 == 0 else ""
            ),
        )
        for n in range(1, 21)
    ]
    draft = services.create_draft(org, customer, lines, contract=contract, po_number="PO-4711",
                                  service_period=(date(2026, 3, 1), date(2026, 3, 31)))
    services.add_attachment(org, draft.pk, "timesheet.csv", b"date,hours\n2026-03-02,3.5\n", content_type="text/csv")
    return services.issue_invoice(org, draft.pk, issue_date=date(2026, 3, 31))


def _more_invoices(invoice, count: int) -> None:
    """``count`` more issued 20-line invoices like ``invoice`` (the PDFs a billing run leaves to render)."""
    from duly.invoicing import services

    lines = [services.LineData(line.description, line.quantity, line.unit_price, unit=line.unit,
                               tax_rate=line.tax_rate) for line in invoice.lines.order_by("position", "pk")]
    for _ in range(count):
        draft = services.create_draft(invoice.organization, invoice.customer, lines, contract=invoice.contract,
                                      po_number="PO-4711", service_period=(date(2026, 3, 1), date(2026, 3, 31)))
        services.issue_invoice(invoice.organization, draft.pk, issue_date=date(2026, 3, 31))


def _parallel(invoice, count: int) -> dict[int, tuple[int, float, float, int]]:
    """PDFs of ``count`` issued invoices rendered and stored by ``duly invoices render-pdfs`` with 1 and with 2
    processes: {jobs asked: (PDFs, wall seconds, CPU seconds of this process and its children, processes used)}."""
    from django.db import close_old_connections

    from duly.invoicing.documents import render_pending_pdfs

    _more_invoices(invoice, 2 * count)
    figures = {}
    for jobs in (1, 2):
        close_old_connections()
        before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        result = render_pending_pdfs(invoice.organization, jobs=jobs, limit=count)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime for a, b in zip(after, before))
        figures[jobs] = (result.rendered, wall, cpu, result.workers)
    return figures


def _snapshot_cost(invoice, n: int = 2000) -> float:
    """Microseconds to build and serialise the document snapshot the bulk path freezes per invoice."""
    import json

    from duly.invoicing.documents.snapshot import issue_snapshot, seller_snapshot

    customer, contract = invoice.customer, invoice.contract
    contacts = list(customer.contacts.all())
    seller = seller_snapshot(invoice.organization)
    start = time.perf_counter()
    for _ in range(n):
        json.dumps(issue_snapshot(invoice.organization, customer, contacts, contract, seller=seller))
    return (time.perf_counter() - start) / n * 1e6


def _startup(invoice, runs: int = 5) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of a fresh ``duly`` process: ``--help``, and the export of the invoice's stored PDF
    (this bench's database; the PDF is stored first)."""
    import subprocess
    import tempfile

    from duly.invoicing.documents import document_bytes

    document_bytes(invoice, "pdf")
    duly = str(Path(sys.executable).with_name("duly"))
    out = Path(tempfile.mkdtemp(prefix="duly-bench-export-")) / "out.pdf"
    env = {**os.environ, "DULY_ORG": invoice.organization.slug}
    commands = {"reference: python -c pass": [sys.executable, "-c", "pass"],
                "duly --help": [duly, "--help"],
                "duly invoices export (stored PDF)": [duly, "invoices", "export", invoice.number, "-o", str(out)]}
    figures = {}
    for name, command in commands.items():
        walls, cpus = [], []
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            walls.append(time.perf_counter() - wall)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        figures[name] = (statistics.median(walls), statistics.median(cpus))
    return figures


def _interleaved(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, tuple[list[float], list[float]]]:
    """(wall times, CPU times) of each function, run in turn so that they share the machine's load."""
    for fn in fns.values():
        fn()  # warm-up: fonts, templates, stylesheets, compiled rules
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
    return times


def _line(name: str, times: tuple[list[float], list[float]], unit: str) -> str:
    wall, cpu = times
    median = statistics.median(wall)
    p95 = sorted(wall)[max(0, round(len(wall) * 0.95) - 1)]
    return (f"{name:<36} {1 / median:7.1f} {unit}/s  median {median * 1000:6.1f} ms  min {min(wall) * 1000:6.1f}  "
            f"p95 {p95 * 1000:6.1f}  CPU median {statistics.median(cpu) * 1000:6.1f} ms  (n={len(wall)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=24, metavar="N",
                        help="PDFs rendered with 1, then 2 processes (render-pdfs); 0 skips it")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when a PDF takes over {PDF_BUDGET_MS:.0f} ms")
    args = parser.parse_args()
    _setup()

    import weasyprint

    from duly.invoicing.documents import build_document
    from duly.invoicing.einvoice.model import Standard
    from duly.invoicing.einvoice.ubl import render_ubl
    from duly.invoicing.einvoice.validate import compile_rules
    from duly.invoicing.pdf import PDF_VARIANT, html_to_pdf, render_invoice_pdf

    invoice = _invoice()
    compile_rules("ubl")
    logging.getLogger("fontTools").propagate = False  # the raw WeasyPrint reference subsets fonts too
    trivial = "<html><body style='font-family: DejaVu Sans'><h1>Reference</h1><p>One trivial page.</p></body></html>"

    times = _interleaved({
        "reference": lambda: weasyprint.HTML(string=trivial).write_pdf(pdf_variant=PDF_VARIANT),
        "reference_duly": lambda: html_to_pdf(trivial),
        "pdf": lambda: render_invoice_pdf(invoice),
        "ubl": lambda: render_ubl(build_document(invoice), standard=Standard.PEPPOL, validate=False),
        "ubl_valid": lambda: render_ubl(build_document(invoice), standard=Standard.PEPPOL),
    }, args.runs)
    # Memory is traced on separate runs: tracemalloc slows every allocation down several times.
    tracemalloc.start()
    render_invoice_pdf(invoice)
    render_ubl(build_document(invoice), standard=Standard.PEPPOL)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = len(render_invoice_pdf(invoice))
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    snapshot_us = _snapshot_cost(invoice)
    parallel = _parallel(invoice, args.parallel) if args.parallel else {}
    startup = _startup(invoice)

    from weasyprint.text.ffi import harfbuzz_subset

    print(f"Document rendering, 20-line invoice ({invoice.number}, {size / 1024:.0f} KiB PDF/A-3b), "
          f"WeasyPrint {weasyprint.__version__}, font subsetting by "
          f"{'HarfBuzz' if harfbuzz_subset else 'fontTools (install libharfbuzz-subset0 for faster PDFs)'}")
    print(_line("reference: trivial page, WeasyPrint", times["reference"], "PDFs"))
    print(_line("reference: trivial page, Duly style", times["reference_duly"], "PDFs"))
    print(_line("invoice PDF (20 lines)", times["pdf"], "PDFs"))
    print(_line("invoice UBL (render only)", times["ubl"], "docs"))
    print(_line("invoice UBL (+ official validation)", times["ubl_valid"], "docs"))
    for _, (count, wall, cpu, jobs) in sorted(parallel.items()):
        print(f"{'render-pdfs, ' + str(jobs) + ' process' + ('es' if jobs > 1 else ''):<36} "
              f"{count / wall:7.1f} PDFs/s  {count} PDFs in {wall:.2f} s  CPU {cpu:.2f} s "
              f"({cpu / count * 1000:.0f} ms per PDF, children included)")
    for name, (wall, cpu) in startup.items():
        print(f"{'start-up: ' + name:<36} median {wall * 1000:6.0f} ms wall, {cpu * 1000:6.0f} ms CPU (fresh process)")
    pdf_median = statistics.median(times["pdf"][0])
    ratio = pdf_median / statistics.median(times["reference"][0])
    print(f"invoice PDF / trivial WeasyPrint page (same run, same load): {ratio:.1f}x")
    print(f"document snapshot frozen at issue (bulk path, per invoice, JSON included): {snapshot_us:.1f} µs")
    print(f"peak Python memory while rendering: {peak / 2**20:.1f} MiB; max resident set: {maxrss_mb:.0f} MiB")
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          "(other processes slow every figure down alike)")
    median_ms = pdf_median * 1000
    verdict = "OK" if median_ms < PDF_BUDGET_MS else "OVER BUDGET"
    print(f"PDF budget {PDF_BUDGET_MS:.0f} ms: median {median_ms:.0f} ms, fastest {min(times['pdf'][0]) * 1000:.0f} ms "
          f"-> {verdict}")
    return 1 if args.check and median_ms >= PDF_BUDGET_MS else 0


if __name__ == "__main__":
    sys.exit(main())
