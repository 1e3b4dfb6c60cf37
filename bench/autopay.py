"""Autopay speed: card charges per second end to end, for N due invoices, against the loopback Stripe fake.

Run: ``.venv/bin/python bench/autopay.py [--n 10000] [--customers 200]`` (``make bench`` runs every bench).

It builds a throw-away SQLite database (migrations, one organization, ``--customers`` customers each with a card
saved with the fake, and N issued invoices falling due on one day, copied in bulk from one issued invoice: seeding,
not what is measured), starts the fake (tests/fakes/stripe_server.py) on the loopback interface, then measures in
the same process:

- reference: the fake's own ceiling, plain SDK calls (``payment_intents.create`` confirmed off-session, one
  idempotency key each, as autopay sends them) per second, with the same client settings;
- autopay: :func:`duly.payments.autopay_services.run_autopay` as ``duly autopay`` runs it: per invoice the attempt
  row committed first, the charge, then the payment recorded and allocated. Wall and CPU time, charges/s, and the
  ratio to the reference (how much of the time Duly's bookkeeping adds to the HTTP round trip);
- a second run (it charges nothing) and a recovery pass over nothing;
- peak Python memory of the run (tracemalloc, on a separate smaller run: tracing slows every allocation down) and
  the process's maximum resident size.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import _duly  # noqa: E402  (bench/_duly.py: a throw-away database for the benchmark)

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk_test_duly_bench"
ISSUED = date(2026, 3, 2)


def _setup() -> None:
    _duly.setup("autopay", with_tests=True)


def _seed(n: int, customers: int, traced: int, provider):
    """One organization, ``customers`` customers with a saved card each, ``n`` invoices due on one day and
    ``traced`` more the next day."""
    from duly.customers.services import create_contract, create_customer, create_organization
    from duly.invoicing import services
    from duly.invoicing.models import Invoice
    from duly.payments.models import SavedPaymentMethod

    org = create_organization(
        name="Atelier Lumière SARL", slug="atelier", country="FR", default_currency="EUR",
        address_line1="12 rue des Lilas", postcode="75011", city="Paris", vat_id="FR40303265045",
        iban="FR1420041010050500013M02606", bic="PSSTFRPPPAR", locale="fr_FR", timezone="Europe/Paris",
        email="factures@atelier.example")
    people = [create_customer(org, code=f"C{i:05d}", name=f"Client {i} SAS", country="FR", city="Lyon",
                              address_line1="3 quai Perrache", postcode="69002", currency="EUR", locale="fr_FR",
                              timezone="Europe/Paris") for i in range(customers)]
    contract = create_contract(org, people[0], reference="CTR-1", start_date=date(2026, 1, 1), terms_kind="net",
                               terms_days=30)
    draft = services.create_draft(org, people[0], [services.LineData("Service", Decimal(1), Decimal("120"))],
                                  contract=contract)
    template = services.issue_invoice(org, draft.pk, issue_date=ISSUED)
    copies = []
    fields = {f.attname: getattr(template, f.attname) for f in Invoice._meta.concrete_fields}
    for i in range(1, n + traced):  # the last ``traced`` fall due a day later, for the traced run
        clone = Invoice(**{**fields, "id": None, "number": f"AP-{i:06d}", "customer_id": people[i % customers].pk})
        if i >= n:
            clone.due_date = template.due_date + timedelta(days=1)
        copies.append(clone)
    Invoice.objects.bulk_create(copies, batch_size=1000)
    v1 = provider.client.v1
    methods = []
    for person in people:
        stripe_customer = v1.customers.create(params={"metadata": {"duly_customer": str(person.pk)}}).id
        pm = v1.payment_methods.create(params={"type": "card", "card": {
            "number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}).id
        methods.append(SavedPaymentMethod(organization=org, customer=person, provider="stripe",
                                          customer_ref=stripe_customer, method_ref=pm, kind="card", is_default=True))
    SavedPaymentMethod.objects.bulk_create(methods)
    return org, template.due_date, methods[0]


def _reference(provider, method, calls: int) -> float:
    """Plain SDK calls per second: the fake's own ceiling for what one autopay charge sends."""
    v1 = provider.client.v1
    start = time.perf_counter()
    for i in range(calls):
        v1.payment_intents.create(params={
            "amount": 12000, "currency": "eur", "customer": method.customer_ref, "payment_method": method.method_ref,
            "confirm": True, "off_session": True, "metadata": {"duly_idempotency_key": f"ref:{i}"}},
            options={"idempotency_key": f"ref:{i}"})
    return calls / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="due invoices (default 10,000)")
    parser.add_argument("--customers", type=int, default=200, help="customers with a saved card (default 200)")
    parser.add_argument("--reference-calls", type=int, default=1_000)
    args = parser.parse_args()
    _setup()

    from fakes.stripe_server import StripeFake

    from duly.payments.autopay_services import recover_attempts, run_autopay
    from duly.payments.models import Payment
    from duly.payments.providers.stripe import StripeProvider

    with StripeFake(KEY) as fake:
        provider = StripeProvider(api_key=KEY, api_base=fake.url, max_network_retries=0)
        t0 = time.perf_counter()
        traced_n = max(1, args.n // 10)
        org, due, method = _seed(args.n, args.customers, traced_n, provider)
        seed_s = time.perf_counter() - t0
        reference = _reference(provider, method, args.reference_calls)

        wall0, cpu0 = time.perf_counter(), time.process_time()
        report = run_autopay(org, due, provider=provider)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        again0 = time.perf_counter()
        again = run_autopay(org, due, provider=provider)
        recovered = recover_attempts(org, due, provider=provider)
        again_s = time.perf_counter() - again0
        maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        # peak Python memory on a separate, traced run of a tenth of the invoices (a later due date)
        tracemalloc.start()
        traced = run_autopay(org, due + timedelta(days=1), provider=provider)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        intents = len(fake.objects("pi_")) - args.reference_calls - traced.attempted
    rate = report.succeeded / wall if wall else 0.0
    print(f"Autopay, {args.n:,} invoices due on {due.isoformat()} for {args.customers} customers with a saved card, "
          f"against the loopback Stripe fake (seeded in {seed_s:.1f} s)")
    print(f"reference: plain SDK payment_intents.create (confirmed), {args.reference_calls:,} calls: "
          f"{reference:,.0f} calls/s")
    print(f"autopay run: {report.succeeded:,} charged and paid in {wall:.1f} s wall, {cpu:.1f} s CPU -> "
          f"{rate:,.0f} charges/s end to end ({report.summary()})")
    print(f"autopay / plain SDK call (same fake, same process): {reference / rate if rate else float('inf'):.1f}x "
          "the time per charge")
    print(f"second run: {again.attempted} charged, {recovered.checked} recovered, in {again_s:.2f} s; "
          f"payment intents on the fake for the run: {intents:,} (Duly payments: "
          f"{Payment.objects.filter(organization=org).count() - traced.succeeded:,})")
    print(f"peak Python memory, traced run of {traced.succeeded:,} charges: {peak / 2**20:.1f} MiB; "
          f"max resident set: {maxrss_mb:.0f} MiB")
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          "(other processes slow every figure down alike)")
    return 0 if report.succeeded == args.n and again.attempted == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
