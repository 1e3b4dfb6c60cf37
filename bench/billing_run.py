"""Billing run speed: invoices per second for N customers, against a raw ``executemany`` reference.

Run: ``.venv/bin/python bench/billing_run.py [--n 10000 --n 100000] [--backend sqlite|postgres|all]
[--processes 1 --processes 2]`` (``make bench`` runs every bench with the defaults: N = 10,000 and 100,000,
on SQLite, and on PostgreSQL when one answers at ``postgres://postgres@127.0.0.1:5432/postgres``; set
``DULY_BENCH_PG`` to use another server, and ``DULY_BENCH_PG_DB`` to name the throw-away database, default
``duly_bench``). ``--check`` exits 1 when SQLite misses the targets below.

For each backend and N, the database is seeded once (a temporary SQLite file, or a ``duly_bench``
PostgreSQL database dropped afterwards) and each run bills a fresh copy of it (a copied file, or a
database made from it as a template), in fresh processes:

1. *generate*: migrations, one organization, N customers with contracts and subscriptions mixing
   the price models (flat + per-seat in advance; volume seats with a time-weighted vCPU meter in
   advance; graduated API usage, package and percentage usage, licence snapshots, minimum commitment
   in arrears; a fifth of the customers have two subscriptions that share one invoice), usage events
   and licence snapshots (meter levels and seat counts from December carry into January). Written in bulk
   (this is seeding, not what is measured), then ``ANALYZE``d as a live database would be.
2. *bill*: ``run_billing(org, 2026-02-01)`` as ``duly bill`` runs it (planning processes: one per CPU):
   every customer has exactly one invoice due. With ``--processes P`` (default 1 on SQLite; 1 and 2 on
   PostgreSQL), P processes start together, each billing one customer id range (``run_billing(…,
   id_range=…)``, equal shares), at once on the same database. Measured: wall time (first start to last
   end) and the processes' CPU time (wall time suffers when the machine is busy; the 1-minute load
   average is printed), invoices/s, peak resident memory of a billing process (``ru_maxrss``; Django and
   the data read included), and the planning processes' count, CPU time and peak memory.
3. *check and raw reference*: a second run bills nothing, the numbers run 1…N without a gap or a duplicate;
   then the same number of invoice, line and ledger (billing record) rows, copied from what the run
   wrote, inserted in one transaction (then deleted): plain DB-API ``executemany`` on SQLite, ``COPY …
   FROM STDIN`` (psycopg 3 ``cursor.copy``) on PostgreSQL. The ratio run time / raw time is printed.

Targets (issue 18): ≥ 10,000 invoices/s on SQLite at N = 100,000 and within 3× of the raw reference;
on PostgreSQL ≥ 5,000 invoices/s with two processes, reported against a raw COPY of the same rows.
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
TARGET_PER_SECOND = 10_000
TARGET_RATIO = 3


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
def partition(part: int, parts: int) -> tuple[int, int | None] | None:
    """The customer id range ``[first, end)`` of partition ``part`` of ``parts`` (equal shares of the ids)."""
    from duly.customers.models import Customer

    if parts <= 1:
        return None
    ids = list(Customer.objects.filter(organization__slug="bench").order_by("id").values_list("id", flat=True))
    bounds = [ids[len(ids) * k // parts] for k in range(parts)] + [None]
    return bounds[part], bounds[part + 1]


def bill(n: int, part: int = 0, parts: int = 1, start_at: float = 0.0, reference: bool = True) -> dict:
    from django.db import connection

    from duly.billing.services import run_billing
    from duly.customers.models import Organization

    org = Organization.objects.get(slug="bench")
    id_range = partition(part, parts)
    connection.close()  # each run opens its own connection, as a fresh process would
    rss_before = _maxrss_mb()
    if start_at:  # the partitions of a run start together
        time.sleep(max(0.0, start_at - time.time()))
    began = time.time()
    started, cpu = time.perf_counter(), time.process_time()
    result = run_billing(org, AS_OF, id_range=id_range)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    ended = time.time()
    rss_after = _maxrss_mb()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run's planning processes, once reaped
    if result.skipped:
        raise SystemExit(f"customers left out: {result.skipped[:5]}")
    out = {
        "invoices": result.invoices, "seconds": elapsed, "cpu_seconds": cpu, "per_second": result.invoices / elapsed,
        "rss_mb": rss_after, "rss_before_mb": rss_before, "total": {k: str(v) for k, v in result.totals().items()},
        "batches": result.batches, "workers": result.workers, "began": began, "ended": ended,
        "planner_cpu_seconds": children.ru_utime + children.ru_stime, "planner_rss_mb": children.ru_maxrss / 1024,
        "load": os.getloadavg()[0],
    }
    if reference:
        out.update(check_and_reference(n))
        out["ratio"] = elapsed / out["raw"]["seconds"]
    return out


def check_and_reference(n: int) -> dict:
    """A second run bills nothing; the numbers have no gap and no duplicate; then the raw reference."""
    from django.db import connection

    from duly.billing.services import run_billing
    from duly.customers.models import Organization
    from duly.invoicing.models import Invoice

    org = Organization.objects.get(slug="bench")
    again = run_billing(org, AS_OF)
    if again.invoices:
        raise SystemExit(f"the second run issued {again.invoices} invoices: not idempotent")
    numbers = sorted(int(x.rsplit("-", 1)[1]) for x in Invoice.objects.filter(organization=org)
                     .values_list("number", flat=True))
    if numbers != list(range(1, len(numbers) + 1)):
        raise SystemExit("the invoice numbers have a gap or a duplicate")
    return {"raw": raw_reference(connection)}


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_reference(connection) -> dict:
    """Insert copies of the rows the run wrote (invoices, lines, billing records) in one transaction: plain DB-API
    ``executemany`` on SQLite, ``COPY … FROM STDIN`` (psycopg 3 ``cursor.copy``) on PostgreSQL."""
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
    if connection.vendor == "postgresql":  # COPY, the fastest way in (what the run itself writes with)
        for key in ("invoice", "line", "record"):
            with cursor.copy(f"COPY {tables[key]} ({', '.join(columns[key])}) FROM STDIN") as copy:
                for r in rows[key]:
                    copy.write_row(r)
    else:
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
def _bill_parallel(url: str, n: int, parts: int) -> dict:
    """``parts`` processes, each billing one customer id range, started together; then the checks and reference."""
    start_at = time.time() + 6 + 2 * parts  # after every process has started Django
    cmd = [sys.executable, __file__, "--worker", "bill", "--database-url", url, "--n", str(n), "--parts", str(parts),
           "--start-at", str(start_at)]
    procs = [subprocess.Popen(cmd + ["--part", str(k)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(parts)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"bench partition failed:\n{out}\n{err}")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    check = _worker("check", url, n)
    seconds = max(o["ended"] for o in outs) - min(o["began"] for o in outs)
    invoices = sum(o["invoices"] for o in outs)
    return {
        "invoices": invoices, "seconds": seconds, "cpu_seconds": sum(o["cpu_seconds"] for o in outs),
        "per_second": invoices / seconds, "rss_mb": max(o["rss_mb"] for o in outs), "raw": check["raw"],
        "ratio": seconds / check["raw"]["seconds"], "workers": "+".join(str(o["workers"]) for o in outs),
        "planner_cpu_seconds": sum(o["planner_cpu_seconds"] for o in outs),
        "planner_rss_mb": max(o["planner_rss_mb"] for o in outs), "load": max(o["load"] for o in outs),
        "parts": [{k: o[k] for k in ("invoices", "seconds", "cpu_seconds", "workers")} for o in outs],
    }


def run_one(backend: str, n: int, processes: list[int]) -> list[dict]:
    """Seed once, then bill a fresh copy of the seeded database with each number of processes."""
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="duly-bench-db-"))
        seeded = folder / "seeded.sqlite3"
        url = f"sqlite:///{seeded}"
    else:
        _pg_admin(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        if not _pg_admin(f"CREATE DATABASE {BENCH_DB}"):
            raise SystemExit("could not create the PostgreSQL bench database")
        url = _pg_url()
    results = []
    try:
        gen = _worker("generate", url, n)
        if backend == "sqlite":
            import sqlite3

            with sqlite3.connect(seeded) as db:  # one file, no write-ahead log left beside it
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for parts in processes:
            if backend == "sqlite":
                copy = folder / f"run{parts}.sqlite3"
                copy.write_bytes(seeded.read_bytes())
                run_url = f"sqlite:///{copy}"
            else:
                _pg_admin(f"DROP DATABASE IF EXISTS {BENCH_DB}_run")
                _pg_admin(f"CREATE DATABASE {BENCH_DB}_run TEMPLATE {BENCH_DB}")
                run_url = f"{_pg_url()}_run"
            try:
                res = _worker("bill", run_url, n) if parts == 1 else _bill_parallel(run_url, n, parts)
            finally:
                if backend == "postgres":
                    _pg_admin(f"DROP DATABASE IF EXISTS {BENCH_DB}_run WITH (FORCE)")
            results.append({"backend": backend, "n": n, "processes": parts, "generate": gen, **res})
    finally:
        if backend == "postgres":
            _pg_admin(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        else:
            for f in folder.iterdir():
                f.unlink()
            folder.rmdir()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, action="append", help="number of customers (repeatable)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--processes", type=int, action="append",
                        help="processes billing one customer id range each (repeatable; default 1, and 2 on "
                             "PostgreSQL)")
    parser.add_argument("--worker", choices=["generate", "bill", "check"], help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--parts", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help="exit 1 when SQLite misses the targets")
    args = parser.parse_args(argv)
    if args.worker:
        _django(args.database_url)
        if args.worker == "generate":
            out = generate(args.n[0])
        elif args.worker == "check":
            out = check_and_reference(args.n[0])
        else:
            out = bill(args.n[0], args.part, args.parts, args.start_at, reference=args.parts == 1)
        print(json.dumps(out))
        return 0
    sizes = args.n or [10_000, 100_000]
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if "postgres" in backends and not _pg_admin("SELECT 1"):
        print(f"PostgreSQL not reachable at {PG_URL}: SQLite only.")
        backends.remove("postgres")
    print(f"{'backend':9} {'N':>8} {'proc':>4} {'invoices':>9} {'run s':>8} {'cpu s':>7} {'inv/s':>8} {'peak RSS':>9} "
          f"{'raw s':>7} {'ratio':>6} {'load':>5}  (planners: count, CPU s, peak RSS each; seed s)")
    failed = False
    for backend in backends:
        for n in sizes:
            processes = args.processes or ([1, 2] if backend == "postgres" else [1])
            for r in run_one(backend, n, processes):
                print(f"{backend:9} {n:>8} {r['processes']:>4} {r['invoices']:>9} {r['seconds']:>8.2f} "
                      f"{r['cpu_seconds']:>7.2f} {r['per_second']:>8.0f} "
                      f"{r['rss_mb']:>7.0f}MB {r['raw']['seconds']:>7.2f} {r['ratio']:>5.2f}x {r['load']:>5.1f}  "
                      f"({r['workers']}, {r['planner_cpu_seconds']:.2f}, {r['planner_rss_mb']:.0f}MB; "
                      f"{r['generate']['seconds']:.0f}; {r['raw']['lines']} lines, {r['raw']['records']} records)",
                      flush=True)
                if backend == "sqlite" and (r["per_second"] < TARGET_PER_SECOND or r["ratio"] > TARGET_RATIO):
                    failed = True
    print(f"target: >= {TARGET_PER_SECOND:,} invoices/s on SQLite and within {TARGET_RATIO}x of the raw executemany "
          "reference; on PostgreSQL the reference is a raw COPY of the same rows (load: 1-minute load average)")
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
