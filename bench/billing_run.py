"""Billing run speed: invoices per second for N customers, against a raw ``executemany`` reference.

Run: ``.venv/bin/python bench/billing_run.py [--n 10000 --n 100000] [--backend sqlite|postgres|all]``
(``make bench`` runs every bench with the defaults: N = 10,000 and 100,000, on SQLite, and on
PostgreSQL when one answers at ``postgres://postgres@127.0.0.1:5432/postgres``; set ``DULY_BENCH_PG`` to
use another server, and ``DULY_BENCH_PG_DB`` to name the throw-away database, default ``duly_bench``).
``--check`` exits 1 when SQLite misses the targets below.

For each backend and N, three fresh processes share one throw-away database (a temporary SQLite
file, or a ``duly_bench`` PostgreSQL database dropped afterwards):

1. *generate*: migrations, one organization, N customers with contracts and subscriptions mixing
   the price models (flat + per-seat in advance; volume seats with a time-weighted vCPU meter in
   advance; graduated API usage, package and percentage usage, licence snapshots, minimum commitment
   in arrears; a fifth of the customers have two subscriptions that share one invoice), usage events
   and licence snapshots (meter levels and seat counts from December carry into January). Written in bulk
   (this is seeding, not what is measured), then ``ANALYZE``d as a live database would be.
2. *bill*: ``run_billing(org, 2026-02-01)`` as ``duly bill`` runs it (planning processes: one per CPU):
   every customer has exactly one invoice due. Measured: wall time and the process's CPU time (wall
   time suffers when the machine is busy), invoices/s, peak resident memory of the process
   (``ru_maxrss``; Django and the data read included), and the planning processes' count, CPU time
   and peak memory; then a second run to show it bills nothing twice.
3. *raw reference*, in the bill process after the run: the same number of invoice, line and ledger
   (billing record) rows, copied from what the run wrote, inserted with plain DB-API ``executemany``
   in one transaction (then deleted). The ratio run time / raw time is printed.

Target: ≥ 5,000 invoices/s on SQLite and within 4× of the raw reference.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("DULY_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
BENCH_DB = os.environ.get("DULY_BENCH_PG_DB", "duly_bench")
AS_OF = date(2026, 2, 1)
START = date(2026, 1, 1)


# --- process plumbing ----------------------------------------------------------------------------------
def _django(database_url: str) -> None:
    home = Path(tempfile.mkdtemp(prefix="duly-bench-billing-"))
    os.environ["DULY_HOME"] = str(home)
    os.environ["DULY_PUBLIC_URL"] = "https://billing.bench.example"  # issuing refuses a loopback address
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "duly.settings"
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def _worker(step: str, database_url: str, n: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", step, "--database-url", database_url, "--n", str(n)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"bench step {step} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _pg_admin(sql: str) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    try:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql)
        return True
    except psycopg.Error:
        return False


def _pg_url() -> str:
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{BENCH_DB}"


# --- step 1: generate -----------------------------------------------------------------------------------
def generate(n: int) -> dict:
    from django.core.management import call_command
    from django.db import connection, transaction

    from duly.billing import services
    from duly.billing.models import LicenceSnapshot, Subscription, SubscriptionItem, UsageEvent
    from duly.customers.models import Contract, Customer
    from duly.customers.services import create_organization

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    org = create_organization(
        name="Bench Billing SAS", slug="bench", country="FR", default_currency="EUR", address_line1="1 rue de la Paix",
        postcode="75002", city="Paris", iban="FR1420041010050500013M02606", bic="PSSTFRPPPAR")
    product = {code: services.create_product(org, code=code, name=name, tax_rate=Decimal("20"))
               for code, name in [("PRO", "Pro plan"), ("SEAT", "Seats"), ("API", "API calls"),
                                  ("STORE", "Storage"), ("PAY", "Payment processing")]}
    api = services.create_metric(org, code="api_calls", name="API calls", aggregation="sum")
    storage = services.create_metric(org, code="storage_gb", name="GB stored", aggregation="max")
    volume = services.create_metric(org, code="payments", name="payments", aggregation="sum")
    vcpus = services.create_metric(org, code="vcpus", name="vCPUs", aggregation="time_weighted_average")
    tiers = [{"up_to": "1000", "unit_price": "0"}, {"up_to": "10000", "unit_price": "0.002"},
             {"up_to": None, "unit_price": "0.001"}]
    price = {
        "flat": services.create_price(org, product["PRO"], code="pro", currency="EUR",
                                      model_config={"model": "flat", "amount": "49.00"}),
        "seat": services.create_price(org, product["SEAT"], code="seat", currency="EUR",
                                      model_config={"model": "per_unit", "unit_price": "9.50"}),
        "volume": services.create_price(org, product["SEAT"], code="seat-volume", currency="EUR", model_config={
            "model": "volume", "tiers": [{"up_to": "10", "unit_price": "12"}, {"up_to": None, "unit_price": "9"}]}),
        "api": services.create_price(org, product["API"], code="api", currency="EUR", quantity_source="usage",
                                     metric=api, model_config={"model": "graduated", "tiers": tiers}),
        "storage": services.create_price(org, product["STORE"], code="storage", currency="EUR",
                                         quantity_source="usage", metric=storage,
                                         model_config={"model": "package", "package_size": "100", "amount": "5",
                                                       "free_units": "50"}),
        "pay": services.create_price(org, product["PAY"], code="pay", currency="EUR", quantity_source="usage",
                                     metric=volume, model_config={"model": "percentage", "rate": "1.4",
                                                                  "fixed_fee": "0.25"}),
        "licences": services.create_price(org, product["SEAT"], code="seat-avg", currency="EUR",
                                          quantity_source="licences",
                                          model_config={"model": "per_unit", "unit_price": "8.00"}),
        "vcpu": services.create_price(org, product["STORE"], code="vcpu", currency="EUR", quantity_source="usage",
                                      metric=vcpus, model_config={"model": "per_unit", "unit_price": "3.00"}),
        "minimum": services.create_price(org, product["API"], code="api-min", currency="EUR",
                                         quantity_source="usage", metric=api, model_config={
                                             "model": "minimum_commitment", "minimum": "25.00",
                                             "charge": {"model": "per_unit", "unit_price": "0.001"}}),
    }
    rng = random.Random(20260201)
    with transaction.atomic():
        customers = Customer.objects.bulk_create([
            Customer(organization=org, code=f"C{i:06}", name=f"Customer {i} SAS", address_line1="2 rue du Bac",
                     city="Lyon", postcode="69002", country="FR", currency="EUR", locale="fr_FR",
                     timezone="Europe/Paris")
            for i in range(n)], batch_size=5000)
        contracts = Contract.objects.bulk_create([
            Contract(organization=org, customer=c, reference=f"CT{i:06}", currency="EUR", terms_kind="net",
                     terms_days=30, start_date=START)
            for i, c in enumerate(customers)], batch_size=5000)
        subs, plans = [], []
        for i, (customer, contract) in enumerate(zip(customers, contracts)):
            kinds = [i % 5] + ([5] if i % 5 == 0 else [])  # a fifth have a second subscription
            for kind in kinds:
                advance = kind in (0, 1)
                subs.append(Subscription(
                    organization=org, customer=customer, contract=contract, currency="EUR", interval="monthly",
                    anchor_day="1", timing="advance" if advance else "arrears", start_date=START,
                    last_billed_period_start=START if advance else None, next_bill_on=AS_OF,
                    reference=f"S{i:06}-{kind}"))
                plans.append(kind)
        Subscription.objects.bulk_create(subs, batch_size=5000)
        items, events, snapshots = [], [], []
        base = datetime(2026, 1, 1, tzinfo=timezone.utc)

        def item(sub, key, qty=1):
            items.append(SubscriptionItem(organization=org, subscription=sub, price=price[key],
                                          quantity=Decimal(qty), starts_on=START))

        def event(sub, metric, value, k):
            events.append(UsageEvent(
                organization=org, customer_id=sub.customer_id, metric=metric, idempotency_key=f"{sub.reference}-{k}",
                timestamp=base + timedelta(days=rng.randrange(31), seconds=rng.randrange(86400)),
                value=Decimal(value), properties={}, recorded_at=base))

        for sub, kind in zip(subs, plans):
            if kind == 0:
                item(sub, "flat")
                item(sub, "seat", rng.randint(1, 40))
            elif kind == 1:
                item(sub, "volume", rng.randint(1, 30))
                item(sub, "vcpu")
                events.append(UsageEvent(
                    organization=org, customer_id=sub.customer_id, metric=vcpus, idempotency_key=f"{sub.reference}-v0",
                    timestamp=base - timedelta(days=rng.randrange(1, 20)), value=Decimal(rng.randint(1, 16)),
                    properties={}, recorded_at=base - timedelta(days=20)))
                event(sub, vcpus, rng.randint(1, 16), "v1")
            elif kind == 2:
                item(sub, "flat")
                item(sub, "api")
                for k in range(4):
                    event(sub, api, rng.randint(100, 5000), k)
            elif kind == 3:
                item(sub, "storage")
                item(sub, "pay")
                for k in range(2):
                    event(sub, storage, rng.randint(10, 900), f"s{k}")
                for k in range(3):
                    event(sub, volume, f"{rng.randint(1000, 90000) / 100:.2f}", f"p{k}")
            elif kind == 4:
                item(sub, "licences")
                for day in (date(2025, 12, 28), date(2026, 1, 11), date(2026, 1, 21)):
                    snapshots.append(LicenceSnapshot(organization=org, customer_id=sub.customer_id, subscription=sub,
                                                     day=day, active_count=rng.randint(1, 60)))
            else:
                item(sub, "minimum")
                for k in range(2):
                    event(sub, api, rng.randint(100, 20000), f"m{k}")
        SubscriptionItem.objects.bulk_create(items, batch_size=5000)
        UsageEvent.objects.bulk_create(events, batch_size=5000)
        LicenceSnapshot.objects.bulk_create(snapshots, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # planner statistics, as a live database has them after a bulk load
    return {"seconds": time.perf_counter() - started, "customers": n, "subscriptions": len(subs),
            "items": len(items), "events": len(events), "snapshots": len(snapshots)}


# --- step 2: bill, then the raw reference --------------------------------------------------------------
def bill(n: int) -> dict:
    from django.db import connection

    from duly.billing.services import run_billing
    from duly.customers.models import Organization

    org = Organization.objects.get(slug="bench")
    rss_before = _maxrss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    result = run_billing(org, AS_OF)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    rss_after = _maxrss_mb()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run's planning processes, once reaped
    again = run_billing(org, AS_OF)
    if again.invoices:
        raise SystemExit(f"the second run issued {again.invoices} invoices: not idempotent")
    if result.skipped:
        raise SystemExit(f"customers left out: {result.skipped[:5]}")
    raw = raw_reference(connection)
    return {
        "invoices": result.invoices, "seconds": elapsed, "cpu_seconds": cpu, "per_second": result.invoices / elapsed,
        "rss_mb": rss_after, "rss_before_mb": rss_before, "total": {k: str(v) for k, v in result.totals().items()},
        "raw": raw, "ratio": elapsed / raw["seconds"], "batches": result.batches, "workers": result.workers,
        "planner_cpu_seconds": children.ru_utime + children.ru_stime, "planner_rss_mb": children.ru_maxrss / 1024,
    }


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_reference(connection) -> dict:
    """Insert copies of the rows the run wrote (invoices, lines, billing records) with plain executemany."""
    tables = {"invoice": "invoicing_invoice", "line": "invoicing_invoiceline", "record": "billing_billingrecord"}
    with connection.cursor() as cur:
        rows = {}
        columns = {}
        for key, table in tables.items():
            cur.execute(f"SELECT * FROM {table}")
            columns[key] = [c[0] for c in cur.description]
            rows[key] = [list(r) for r in cur.fetchall()]
            cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
    offset = {key: max((r[columns[key].index("id")] for r in rows[key]), default=0) + 1 for key in tables}
    inv_cols, line_cols, rec_cols = columns["invoice"], columns["line"], columns["record"]
    for r in rows["invoice"]:
        r[inv_cols.index("id")] += offset["invoice"]
        r[inv_cols.index("number")] = "RAW-" + r[inv_cols.index("number")]
    for r in rows["line"]:
        r[line_cols.index("id")] += offset["line"]
        r[line_cols.index("invoice_id")] += offset["invoice"]
    for r in rows["record"]:
        r[rec_cols.index("id")] += offset["record"]
        r[rec_cols.index("period_start")] = r[rec_cols.index("period_start")] + timedelta(days=3650) \
            if isinstance(r[rec_cols.index("period_start")], date) else "2036" + r[rec_cols.index("period_start")][4:]
        if r[rec_cols.index("invoice_id")] is not None:
            r[rec_cols.index("invoice_id")] += offset["invoice"]
    raw = connection.connection  # the DB-API connection itself
    placeholder = "?" if connection.vendor == "sqlite" else "%s"
    if connection.vendor == "postgresql":
        from psycopg.types.json import Json

        for key, name in (("invoice", "tax_breakdown"), ("invoice", "custom_fields"), ("record", "usage")):
            index = columns[key].index(name)
            for r in rows[key]:
                r[index] = Json(r[index]) if not isinstance(r[index], str) else r[index]
    statements = [
        (f"INSERT INTO {tables[key]} ({', '.join(columns[key])}) "
         f"VALUES ({', '.join([placeholder] * len(columns[key]))})",
         rows[key]) for key in ("invoice", "line", "record")
    ]
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        raw.isolation_level = None
    else:
        raw.autocommit = True
    cursor = raw.cursor()
    started = time.perf_counter()
    cursor.execute("BEGIN")
    for sql, params in statements:
        cursor.executemany(sql, params)
    cursor.execute("COMMIT")
    seconds = time.perf_counter() - started
    cursor.execute("BEGIN")
    for key in ("record", "line", "invoice"):
        cursor.execute(f"DELETE FROM {tables[key]} WHERE id >= {offset[key]}")
    cursor.execute("COMMIT")
    return {"seconds": seconds, "invoices": len(rows["invoice"]), "lines": len(rows["line"]),
            "records": len(rows["record"])}


# --- main ------------------------------------------------------------------------------------------------
def run_one(backend: str, n: int) -> dict:
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="duly-bench-db-"))
        url = f"sqlite:///{folder / 'bench.sqlite3'}"
    else:
        _pg_admin(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        if not _pg_admin(f"CREATE DATABASE {BENCH_DB}"):
            raise SystemExit("could not create the PostgreSQL bench database")
        url = _pg_url()
    try:
        gen = _worker("generate", url, n)
        res = _worker("bill", url, n)
    finally:
        if backend == "postgres":
            _pg_admin(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        else:
            for f in folder.iterdir():
                f.unlink()
            folder.rmdir()
    return {"backend": backend, "n": n, "generate": gen, **res}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, action="append", help="number of customers (repeatable)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--worker", choices=["generate", "bill"], help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help="exit 1 when SQLite misses the targets")
    args = parser.parse_args(argv)
    if args.worker:
        _django(args.database_url)
        out = generate(args.n[0]) if args.worker == "generate" else bill(args.n[0])
        print(json.dumps(out))
        return 0
    sizes = args.n or [10_000, 100_000]
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if "postgres" in backends and not _pg_admin("SELECT 1"):
        print(f"PostgreSQL not reachable at {PG_URL}: SQLite only.")
        backends.remove("postgres")
    print(f"{'backend':9} {'N':>8} {'invoices':>9} {'run s':>8} {'cpu s':>7} {'inv/s':>8} {'peak RSS':>9} "
          f"{'raw s':>7} {'ratio':>6}  (planners: count, CPU s, peak RSS each; seed s)")
    failed = False
    for backend in backends:
        for n in sizes:
            r = run_one(backend, n)
            print(f"{backend:9} {n:>8} {r['invoices']:>9} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.2f} "
                  f"{r['per_second']:>8.0f} "
                  f"{r['rss_mb']:>7.0f}MB {r['raw']['seconds']:>7.2f} {r['ratio']:>5.2f}x  "
                  f"({r['workers']}, {r['planner_cpu_seconds']:.2f}, {r['planner_rss_mb']:.0f}MB; "
                  f"{r['generate']['seconds']:.0f}; {r['raw']['lines']} lines, {r['raw']['records']} records)",
                  flush=True)
            if backend == "sqlite" and (r["per_second"] < 5000 or r["ratio"] > 4):
                failed = True
    print("target: >= 5,000 invoices/s on SQLite and within 4x of the raw executemany reference")
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
