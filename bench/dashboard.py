"""The staff dashboard (the back office's home page) with 100,000 open invoices on SQLite.

Run: ``.venv/bin/python bench/dashboard.py [--open 100000] [--paid 50000] [--repeat 5] [--seed 2026]``
(issue 16 part 6: the page renders in under 1 s with 100,000 open invoices on SQLite).

On a throw-away SQLite database (bench/_duly.py) it seeds, outside what is measured:

- one organization and ``--open`` / 100 customers, a tenth of them paying by card autopay (a default saved
  method);
- ``--open`` issued, open invoices in EUR (85 %), USD (10 %) and GBP (5 %), issued over the last 12 months, due
  30 days later (so every aging bucket has some), 5 % of them partly paid; one issued by ``issue_invoice``, the
  others copies of it inserted in bulk, numbered from the organization's series (``take_numbers``);
- ``--paid`` paid invoices over the same year, each with its payment and allocation (the history the DSO trend,
  CEI and the backtest read), and 2,000 promises to pay on open invoices.

Then it measures, ``--repeat`` times each, the median and the worst wall time of: the dashboard's figures
(``dashboard_view.build``: every reader and domain rule, charts included) and the whole page (``GET /admin/`` by a
logged-in staff member, through Django's test client: middleware, templates, the admin's app list), with the time
of each reader on its own, the number of SQL queries of the page and the peak resident size.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import _duly  # noqa: E402  (bench/_duly.py: a throw-away database for the benchmark)

AS_OF = date(2026, 12, 7)
TARGET_S = 1.0


def seed(n_open: int, n_paid: int, rng: random.Random):
    from django.db import connection, transaction

    from duly.collections.models import PromiseToPay
    from duly.customers.models import Customer
    from duly.customers.services import add_member, create_contract, create_customer, create_organization
    from duly.db.fastpath import insert_rows
    from duly.invoicing import services
    from duly.invoicing.models import Invoice
    from duly.payments.models import Allocation, Payment, SavedPaymentMethod

    org = create_organization(
        name="Atelier Lumière SARL", slug="atelier", country="FR", default_currency="EUR",
        address_line1="12 rue des Lilas", postcode="75011", city="Paris", vat_id="FR40303265045",
        iban="FR1420041010050500013M02606", bic="PSSTFRPPPAR", locale="fr_FR", timezone="Europe/Paris",
        email="factures@atelier.example")
    user = add_member(org, username="bench-staff", password="bench-pass-1")
    count = max(n_open // 100, 1)
    first = create_customer(org, code="C00000", name="Client 0", country="FR", city="Lyon",
                            address_line1="3 quai Perrache", postcode="69002", currency="EUR", locale="fr_FR",
                            timezone="Europe/Paris")
    cfields = {f.attname: getattr(first, f.attname) for f in Customer._meta.concrete_fields}
    Customer.objects.bulk_create([Customer(**{**cfields, "id": None, "code": f"C{c:05d}", "name": f"Client {c}"})
                                  for c in range(1, count)], batch_size=2000)
    customers = list(Customer.objects.filter(organization=org).order_by("pk").values_list("pk", flat=True))
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    SavedPaymentMethod.objects.bulk_create([
        SavedPaymentMethod(organization=org, customer_id=c, provider="stripe", customer_ref=f"cus_{c}",
                           method_ref=f"pm_{c}", kind="card", is_default=True, created_at=now)
        for c in customers[::10]])
    contract = create_contract(org, first, reference="CTR-1", start_date=date(2025, 1, 1), terms_kind="net",
                               terms_days=30)
    draft = services.create_draft(org, first, [services.LineData("Service", Decimal(1), Decimal("120.50"))],
                                  contract=contract)
    template = services.issue_invoice(org, draft.pk, issue_date=AS_OF - timedelta(days=365))
    columns = [f.attname for f in Invoice._meta.concrete_fields if f.attname != "id"]
    base = [getattr(template, name) for name in columns]
    at = {name: columns.index(name) for name in (
        "number", "customer_id", "line_total_minor", "tax_exclusive_minor", "tax_total_minor", "total_minor",
        "currency", "issue_date", "due_date", "status", "paid_minor", "paid_on", "contract_id")}
    paid_rows: list[tuple[int, int, str, date]] = []  # (customer, amount, currency, paid on)

    def rows_for(k0: int, size: int, paid: bool):
        issue_day = AS_OF - timedelta(days=365)
        numbers = services.take_numbers(org, "invoice", issue_day, size)
        rows = []
        for k, number in enumerate(numbers, k0):
            row = list(base)
            net = rng.randrange(1_000, 200_000)
            tax = (net * 20 + 50) // 100
            total = net + tax
            issued = AS_OF - timedelta(days=rng.randrange(0, 365))
            due = issued + timedelta(days=30)
            roll = rng.random()
            currency = "EUR" if roll < 0.85 else "USD" if roll < 0.95 else "GBP"
            row[at["number"]], row[at["customer_id"]], row[at["currency"]] = number, customers[k % count], currency
            row[at["line_total_minor"]] = row[at["tax_exclusive_minor"]] = net
            row[at["tax_total_minor"]], row[at["total_minor"]] = tax, total
            row[at["issue_date"]], row[at["due_date"]], row[at["contract_id"]] = issued, due, None
            if paid:
                on = min(due + timedelta(days=rng.randrange(-20, 40)), AS_OF - timedelta(days=1))
                on = max(on, issued)
                row[at["status"]], row[at["paid_minor"]], row[at["paid_on"]] = Invoice.PAID, total, on
                paid_rows.append((customers[k % count], total, currency, on))
            elif rng.random() < 0.05:
                row[at["status"]], row[at["paid_minor"]] = Invoice.PARTIALLY_PAID, total // 3
            else:
                row[at["status"]], row[at["paid_minor"]] = Invoice.ISSUED, 0
            rows.append(row)
        return rows

    chunk = 20_000
    open_ids: list[int] = []
    for paid, n in ((False, n_open - 1), (True, n_paid)):
        for start in range(0, n, chunk):
            with transaction.atomic():
                ids = insert_rows(Invoice, columns, rows_for(start, min(chunk, n - start), paid))
                if not paid:
                    open_ids.extend(ids)
                else:
                    pays = insert_rows(Payment, ["organization_id", "customer_id", "amount_minor", "currency",
                                                 "method", "received_on", "external_reference", "note", "refunded_minor",
                                                 "created_at"],
                                       [[org.pk, c, a, cur, "bank_transfer", on, "", "", 0, now]
                                        for c, a, cur, on in paid_rows])
                    insert_rows(Allocation, ["payment_id", "invoice_id", "amount_minor", "applied_on", "from_credit"],
                                [[p, i, a, on, False] for p, i, (_, a, _, on) in zip(pays, ids, paid_rows)])
                    paid_rows.clear()
    through = PromiseToPay.invoices.through
    for inv_id, cust, cur in rng.sample(list(Invoice.objects.filter(pk__in=open_ids[:20_000])
                                             .values_list("pk", "customer_id", "currency")), 2000):
        promise = PromiseToPay.objects.create(organization=org, customer_id=cust, currency=cur, amount_minor=100,
                                              promised_date=AS_OF + timedelta(days=rng.randrange(1, 60)),
                                              created_at=now)
        through.objects.create(promisetopay_id=promise.pk, invoice_id=inv_id)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return org, user


def timed(fn, repeat: int) -> tuple[float, float, float]:
    """(median wall, worst wall, median CPU seconds of this process): on a busy machine the CPU time is the
    figure that compares runs."""
    runs, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        runs.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(runs), max(runs), statistics.median(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--paid", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    _duly.setup("dashboard")
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from duly.insights import dashboard, dashboard_view

    settings.ALLOWED_HOSTS = ["*"]
    t0 = time.perf_counter()
    org, user = seed(args.open, args.paid, random.Random(args.seed))
    print(f"seeded {args.open:,} open and {args.paid:,} paid invoices in {time.perf_counter() - t0:.1f} s")

    import django.utils.timezone as tz

    tz.now = lambda: datetime(2026, 12, 7, 12, tzinfo=timezone.utc)  # the page's today is AS_OF
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 200  # warm: templates compiled, holiday tables loaded
    readers = {
        "aging (grouped by currency, due date)": lambda: dashboard.aging_by_currency(org, as_of=AS_OF),
        "overdue by customer (top 10)": lambda: dashboard.overdue_by_customer(org, as_of=AS_OF),
        "balance events (DSO, CEI, ADD)": lambda: dashboard.receivable_events(org, until=AS_OF),
        "collected": lambda: dashboard.collected(org, as_of=AS_OF),
        "forecast (13 weeks from today)": lambda: dashboard.cash_forecast(org, as_of=AS_OF),
        "backtest (forecast 13 weeks ago)": lambda: dashboard.forecast_backtest(org, as_of=AS_OF),
        "all figures and charts (build)": lambda: dashboard_view.build(org, as_of=AS_OF),
        "whole page: GET /admin/": lambda: client.get("/admin/"),
    }
    print(f"{'step':<40}{'median s':>10}{'worst s':>10}{'CPU s':>10}")
    results = {}
    for name, fn in readers.items():
        results[name] = timed(fn, args.repeat)
        print(f"{name:<40}{results[name][0]:>10.3f}{results[name][1]:>10.3f}{results[name][2]:>10.3f}")
    with CaptureQueriesContext(connection) as queries:
        client.get("/admin/")
    page = results["whole page: GET /admin/"][0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"page: {len(queries)} SQL queries; peak RSS {peak:,.0f} MiB (seeding included); "
          f"machine: {os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"target: page under {TARGET_S:.1f} s -> {'met' if page < TARGET_S else 'MISSED'} ({page:.3f} s median)")
    return 0 if page < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
