"""pain.008 speed: one SEPA direct debit file of N debits, XSD validation included (target: under 2 s for 10,000).

Run: ``.venv/bin/python bench/pain008.py [--n 10000] [--customers 500]`` (``make bench`` runs every bench).

It builds a throw-away SQLite database (migrations, one organization with its SEPA creditor, ``--customers``
customers each with a mandate, and N issued invoices copied in bulk from one issued invoice, with a planned debit
each: seeding, not what is measured), then measures in the same process:

- file: the pain.008 of the N debits as ``duly debits export`` writes it (``sepa_services._build_file``: sepaxml
  builds it, then it is validated against its XSD), wall and CPU time, debits/s;
- references, on the same debits: sepaxml building the file without validating it, and lxml validating the
  finished file against the same XSD alone; the file's time as a ratio to each;
- export: ``export_debits`` end to end (planning finds nothing new, the debits are read, the file is built and
  validated, the batch stored, the debits and mandates updated in one transaction);
- peak Python memory of the file build (tracemalloc, on a separate run: tracing slows every allocation down) and
  the process's maximum resident size.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import sys
import time
import tracemalloc
from datetime import date
from decimal import Decimal
from pathlib import Path

import _duly  # noqa: E402  (bench/_duly.py: a throw-away database for the benchmark)

ROOT = Path(__file__).resolve().parents[1]
ISSUED = date(2026, 3, 2)
AS_OF = date(2026, 3, 20)
TARGET_S = 2.0


def _setup() -> None:
    _duly.setup("pain008")


def _seed(n: int, customers: int):
    """One organization (a SEPA creditor), ``customers`` customers with a mandate each, ``n`` open invoices and a
    planned (pending) debit of each, in bulk."""
    from duly.customers.services import create_contract, create_customer, create_organization
    from duly.invoicing import services
    from duly.invoicing.models import Invoice
    from duly.payments import sepa_services as sepa
    from duly.payments.models import DirectDebit, Mandate

    org = create_organization(
        name="Atelier Lumière SARL", slug="atelier", country="FR", default_currency="EUR",
        address_line1="12 rue des Lilas", postcode="75011", city="Paris", vat_id="FR40303265045",
        iban="FR1420041010050500013M02606", bic="PSSTFRPPPAR", locale="fr_FR", timezone="Europe/Paris",
        email="factures@atelier.example")
    sepa.configure_creditor(org, creditor_id="DE98ZZZ09999999999")
    people = [create_customer(org, code=f"C{i:05d}", name=f"Client {i} SAS", country="FR", city="Lyon",
                              address_line1="3 quai Perrache", postcode="69002", currency="EUR", locale="fr_FR",
                              timezone="Europe/Paris", preferred_payment_method="sepa_debit")
              for i in range(customers)]
    Mandate.objects.bulk_create([
        Mandate(organization=org, customer=person, reference=f"MANDATE-{i:05d}", signed_on=date(2026, 1, 5),
                signed_at="Lyon", debtor_name=person.name, iban="DE89370400440532013000", bic="COBADEFFXXX")
        for i, person in enumerate(people)])
    mandates = {m.customer_id: m for m in Mandate.objects.filter(organization=org)}
    contract = create_contract(org, people[0], reference="CTR-1", start_date=date(2026, 1, 1), terms_kind="net",
                               terms_days=30)
    draft = services.create_draft(org, people[0], [services.LineData("Service", Decimal(1), Decimal("120.50"))],
                                  contract=contract)
    template = services.issue_invoice(org, draft.pk, issue_date=ISSUED)
    fields = {f.attname: getattr(template, f.attname) for f in Invoice._meta.concrete_fields}

    def stated(customer_id: int) -> dict:  # each copy pre-notifies the debit on its own customer's mandate
        snapshot = copy.deepcopy(template.document_snapshot)
        snapshot["payment"]["mandate_reference"] = mandates[customer_id].reference
        return snapshot

    Invoice.objects.bulk_create([
        Invoice(**{**fields, "id": None, "number": f"F-{i:06d}", "customer_id": people[i % customers].pk,
                   "document_snapshot": stated(people[i % customers].pk)})
        for i in range(1, n)], batch_size=1000)
    invoices = list(Invoice.objects.filter(organization=org).order_by("pk"))
    DirectDebit.objects.bulk_create([
        DirectDebit(organization=org, mandate=mandates[inv.customer_id], invoice=inv, attempt=1,
                    amount_minor=inv.total_minor, currency="EUR", collection_date=date(2026, 4, 7),
                    sequence_type="FRST" if i < customers else "RCUR", end_to_end_id=sepa.end_to_end_id(inv, 1))
        for i, inv in enumerate(invoices)], batch_size=1000)
    return org


def _debits(org):
    from duly.payments.models import DirectDebit

    return list(DirectDebit.objects.filter(organization=org).select_related("mandate", "invoice")
                .order_by("sequence_type", "collection_date", "pk"))


def _sepaxml_alone(org, creditor, debits) -> tuple[float, bytes]:
    """The same file built by sepaxml without validation (the same calls as _build_file)."""
    from sepaxml import SepaDD

    start = time.perf_counter()
    config = {"name": org.name, "IBAN": creditor.iban, "batch": True, "creditor_id": creditor.creditor_id,
              "currency": "EUR"}
    sepa_file = SepaDD(config, schema=creditor.pain_version, clean=True)
    for debit in debits:
        sepa_file.add_payment({"name": debit.mandate.debtor_name, "IBAN": debit.mandate.iban, "BIC": debit.mandate.bic,
                               "amount": debit.amount_minor, "type": debit.sequence_type,
                               "collection_date": debit.collection_date, "mandate_id": debit.mandate.reference,
                               "mandate_date": debit.mandate.signed_on,
                               "description": f"Invoice {debit.invoice.number}",
                               "endtoend_id": debit.end_to_end_id})
    xml = sepa_file.export(validate=False)
    return time.perf_counter() - start, xml


def _lxml_alone(xml: bytes, version: str) -> float:
    """lxml validating the finished file against the same XSD (schema parsed outside the timing)."""
    import sepaxml
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(Path(sepaxml.__file__).parent / "schemas" / f"{version}.xsd")))
    start = time.perf_counter()
    ok = schema.validate(etree.fromstring(xml))
    elapsed = time.perf_counter() - start
    if not ok:
        raise SystemExit(f"reference file does not validate: {schema.error_log.last_error}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="debits in the file (default 10,000)")
    parser.add_argument("--customers", type=int, default=500, help="customers with a mandate (default 500)")
    args = parser.parse_args()
    _setup()

    from duly.payments import sepa_services as sepa
    from duly.payments.models import DebitBatch, DirectDebit, SepaCreditor

    t0 = time.perf_counter()
    org = _seed(args.n, args.customers)
    seed_s = time.perf_counter() - t0
    creditor = SepaCreditor.objects.get(organization=org)
    debits = _debits(org)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    xml, _ = sepa._build_file(org, creditor, debits)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    alone_s, plain = _sepaxml_alone(org, creditor, debits)
    lxml_s = _lxml_alone(xml, creditor.pain_version)

    tracemalloc.start()
    sepa._build_file(org, creditor, debits)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    export0 = time.perf_counter()
    result = sepa.export_debits(org, AS_OF)
    export_s = time.perf_counter() - export0
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    exported = DirectDebit.objects.filter(organization=org, status="exported").count()

    print(f"pain.008 ({creditor.pain_version}), {args.n:,} debits on {args.customers} mandates "
          f"(seeded in {seed_s:.1f} s); file {len(xml) / 2**20:.1f} MiB")
    print(f"file, built and XSD-validated as duly debits export writes it: {wall:.2f} s wall, {cpu:.2f} s CPU -> "
          f"{args.n / wall:,.0f} debits/s (target under {TARGET_S:.0f} s: "
          f"wall {'met' if wall < TARGET_S else 'MISSED'}, "
          f"CPU {'met' if cpu < TARGET_S else 'MISSED'})")
    print(f"reference, sepaxml building the same file without validation: {alone_s:.2f} s "
          f"(file / reference: {wall / alone_s:.2f}x)")
    print(f"reference, lxml validating the finished file against the same XSD alone: {lxml_s:.3f} s "
          f"(file / reference: {wall / lxml_s:.1f}x)")
    print(f"export_debits end to end (read, build, validate, store the batch, update {exported:,} debits and "
          f"{args.customers} mandates): {export_s:.2f} s; batch of {result.batch.transactions:,} debits, "
          f"{DebitBatch.objects.count()} batch stored; same bytes as the file above but its message id: "
          f"{len(result.xml) == len(xml)}")
    print(f"peak Python memory, traced file build: {peak / 2**20:.1f} MiB; max resident set: {maxrss_mb:.0f} MiB")
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          "(other processes slow every figure down alike)")
    # the exit status says whether the file and the export are right; the target is printed (a loaded machine's
    # wall time is not the code's: compare the CPU time too)
    return 0 if exported == args.n and result.batch.transactions == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
