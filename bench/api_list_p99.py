"""Latency of the API's invoice list with 1,000,000 invoices in PostgreSQL: p50/p95/p99 under a bounded load.

Run by hand (not in ``make bench``: seeding takes minutes):
``.venv/bin/python bench/api_list_p99.py [--invoices 1000000] [--requests 2000] [--clients 4] [--keep]``.
PostgreSQL at ``DULY_BENCH_PG`` (default ``postgres://postgres@127.0.0.1:5432/postgres``); the throw-away
database ``DULY_BENCH_PG_DB`` (default ``duly_bench_api``) is dropped afterwards unless ``--keep``
(then a second run with ``--reuse`` skips the seeding).

1. *seed* (not measured): migrations, one organization, 1,000 customers with a contract, one invoice issued
   through the services, then N copies of it written by one ``INSERT … SELECT … generate_series`` (numbers,
   customers, dates and statuses varied: 60 % paid, 25 % issued, 10 % partially paid, 5 % void), ``ANALYZE``.
2. *serve*: Duly's WSGI application in waitress (the server ``duly serve`` runs, 4 threads) in a child process
   on 127.0.0.1.
3. *load*: ``--clients`` threads, each with its own keep-alive connection, send ``--requests`` requests in all,
   one after the other (a bounded, closed-loop load): ``GET /api/v1/invoices`` with ``limit=20`` and a mix of
   the first page, a page after a random cursor, ``status=issued``, ``status=void`` after a cursor, and one
   customer's invoices. Every answer must be 200 with 20 rows (or the customer's last page).

Printed: requests/s, p50/p95/p99/max latency (client side, whole HTTP round trip), per query kind p99, the
CPU time per request over the measured requests only (the server process's own, and the PostgreSQL backends', read
from ``/proc``: the fair figure on a machine other jobs load) with the load average, and the server process's peak
resident memory (``ru_maxrss`` of the child). Target: p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("DULY_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
BENCH_DB = os.environ.get("DULY_BENCH_PG_DB", "duly_bench_api")
CUSTOMERS = 1000
TARGET_MS = 100


def _db_url() -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + BENCH_DB


def _django() -> None:
    home = Path(tempfile.mkdtemp(prefix="duly-bench-api-list-"))
    os.environ.update(DULY_HOME=str(home), DULY_VAR_DIR=str(home / "var"), DULY_MEDIA_ROOT=str(home / "media"),
                      DULY_PUBLIC_URL="https://billing.bench.example", DATABASE_URL=_db_url(),
                      DJANGO_SETTINGS_MODULE="duly.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql)


def seed(n: int) -> str:
    """A fresh database with ``n`` invoices; returns an owner's API key."""
    _admin(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
    _admin(f'CREATE DATABASE "{BENCH_DB}"')
    _django()
    from datetime import date
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import connection

    from duly.api.services import create_api_key
    from duly.customers.models import Contract, Customer
    from duly.customers.services import create_organization
    from duly.invoicing import services as inv

    call_command("migrate", verbosity=0)
    org = create_organization(name="Bench", slug="bench", country="FR", default_currency="EUR",
                              address_line1="1 rue X", postcode="75001", city="Paris", vat_id="FR40303265045",
                              timezone="Europe/Paris")
    Customer.objects.bulk_create([Customer(organization=org, code=f"C{i:04d}", name=f"Customer {i}", country="FR",
                                           city="Paris", address_line1="1 rue Y", currency="EUR",
                                           timezone="Europe/Paris") for i in range(CUSTOMERS)])
    customers = list(Customer.objects.filter(organization=org).order_by("pk"))
    Contract.objects.bulk_create([Contract(organization=org, customer=c, reference=f"CTR-{c.code}", currency="EUR",
                                           start_date=date(2024, 1, 1)) for c in customers])
    template = inv.issue_invoice(org, inv.create_draft(org, customers[0], [inv.LineData(
        "Consulting", Decimal("2"), Decimal("50.00"), tax_rate=Decimal("20"))]).pk, issue_date=date(2026, 1, 5))
    first_customer = customers[0].pk
    with connection.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'invoicing_invoice' "
                    "ORDER BY ordinal_position")
        columns = [r[0] for r in cur.fetchall() if r[0] != "id"]
        override = {
            "number": "'B-' || lpad(g::text, 8, '0')",
            "customer_id": f"{first_customer} + mod(g, {CUSTOMERS})",
            "contract_id": "NULL",
            "status": "CASE WHEN mod(g, 20) = 0 THEN 'void' WHEN mod(g, 10) = 1 THEN 'partially_paid' "
                      "WHEN mod(g, 4) = 2 THEN 'issued' ELSE 'paid' END",
            "issue_date": "date '2021-01-01' + mod(g, 1800)",
            "due_date": "date '2021-01-31' + mod(g, 1800)",
        }
        select = ", ".join(override.get(c, f"t.{c}") for c in columns)
        start = time.perf_counter()
        cur.execute(f"INSERT INTO invoicing_invoice ({', '.join(columns)}) SELECT {select} "
                    f"FROM invoicing_invoice t, generate_series(1, %s) g WHERE t.id = %s", [n, template.pk])
        cur.execute("ANALYZE")
        print(f"seeded {n} invoices in {time.perf_counter() - start:.1f} s (INSERT … SELECT, not measured)")
    return create_api_key(org, name="bench", role="owner", rate_limit_per_minute=10_000_000).secret


def pg_backend_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each PostgreSQL backend connected to the bench database (read from
    ``/proc``; the server runs on this machine): the database's share of a request's cost."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [BENCH_DB])]
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def cpu_window_start(child: subprocess.Popen) -> dict[int, float]:
    child.send_signal(signal.SIGUSR1)
    return pg_backend_cpu()


def cpu_window_end(child: subprocess.Popen, port_file: str, pg_before: dict[int, float]) -> tuple[float, float]:
    """(the server's CPU seconds, the database backends' CPU seconds) between start and end of the window."""
    pg_after = pg_backend_cpu()
    child.send_signal(signal.SIGUSR2)
    for _ in range(100):
        if Path(port_file + ".cpu").exists():
            break
        time.sleep(0.05)
    pg = sum(cpu - pg_before.get(pid, 0.0) for pid, cpu in pg_after.items())
    return float(Path(port_file + ".cpu").read_text()), pg


def serve(port_file: str) -> None:
    """The child process: waitress serving Duly on an ephemeral loopback port (written to ``port_file``).
    ``SIGUSR1`` and ``SIGUSR2`` start and stop a meter of its own CPU time (written to ``port_file``.cpu), so a
    figure covers the measured requests only."""
    marks: list[float] = []

    def mark(*_):
        u = resource.getrusage(resource.RUSAGE_SELF)
        marks.append(u.ru_utime + u.ru_stime)
        if len(marks) == 2:
            Path(port_file + ".cpu").write_text(f"{marks[1] - marks[0]}")

    signal.signal(signal.SIGUSR1, mark)
    signal.signal(signal.SIGUSR2, mark)
    _django()
    from django.core.wsgi import get_wsgi_application
    from waitress import create_server

    server = create_server(get_wsgi_application(), host="127.0.0.1", port=0, threads=4, ident="duly")
    Path(port_file).write_text(str(server.effective_port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.run()


def _queries(customers: list[int], max_id: int, void_ids: list[int], rng: random.Random) -> tuple[str, str]:
    """A request of the mix; a cursor is always a row of the list it pages (else 400 invalid_cursor)."""
    roll = rng.random()
    if roll < 0.3:
        return "first page", "/api/v1/invoices?limit=20"
    if roll < 0.6:
        return "after cursor", f"/api/v1/invoices?limit=20&starting_after={rng.randint(1, max_id - 100)}"
    if roll < 0.75:
        return "status=issued", "/api/v1/invoices?limit=20&status=issued"
    if roll < 0.9:
        return "void after cursor", (f"/api/v1/invoices?limit=20&status=void&starting_after="
                                     f"{rng.choice(void_ids)}")
    return "one customer", f"/api/v1/invoices?limit=20&customer={rng.choice(customers)}"


def load(port: int, key: str, requests: int, clients: int, customers: list[int], max_id: int,
         void_ids: list[int]) -> list[tuple]:
    results: list[tuple[str, float]] = []
    errors: list[str] = []
    lock = threading.Lock()
    left = [requests]

    def client(seed_: int) -> None:
        rng = random.Random(seed_)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if left[0] <= 0:
                    break
                left[0] -= 1
            kind, path = _queries(customers, max_id, void_ids, rng)
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - t0
            rows = len(json.loads(body)["data"]) if response.status == 200 else 0
            if response.status != 200 or (kind != "one customer" and rows != 20):
                with lock:
                    errors.append(f"{path}: HTTP {response.status}, {rows} rows: {body[:300]!r}")
                    left[0] = 0
                break
            with lock:
                results.append((kind, elapsed))
        conn.close()

    run_clients(client, clients, errors)
    return results


def run_clients(client, clients: int, errors: list[str]) -> None:
    """Run ``client(i)`` in ``clients`` threads (a closed loop each) and stop on the first error they report."""
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(errors[0])


def start_server(script: str, prefix: str) -> tuple[subprocess.Popen, str]:
    """Start ``script --serve`` in a child process; it writes its port to the returned file once it listens."""
    port_file = tempfile.mktemp(prefix=prefix)
    return subprocess.Popen([sys.executable, script, "--serve", port_file], env=os.environ.copy()), port_file


def server_port(port_file: str) -> int:
    """The child's port, once it has written it (at most 60 s)."""
    for _ in range(600):
        if Path(port_file).exists() and Path(port_file).read_text():
            break
        time.sleep(0.1)
    return int(Path(port_file).read_text())


def _pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the database (for --reuse)")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database: skip the seeding")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.reuse:
        _django()
        from duly.api.services import create_api_key
        from duly.customers.models import Organization

        key = create_api_key(Organization.objects.get(slug="bench"), name="bench", role="owner",
                             rate_limit_per_minute=10_000_000).secret
    else:
        key = seed(args.invoices)
    from django.db import connection

    from duly.customers.models import Customer
    from duly.invoicing.models import Invoice

    customers = list(Customer.objects.values_list("pk", flat=True))
    max_id = Invoice.objects.order_by("-pk").values_list("pk", flat=True)[0]
    void_ids = list(Invoice.objects.filter(status="void").order_by().values_list("pk", flat=True)[:100_000])
    void_ids = [pk for pk in void_ids if pk < max_id - 10_000]  # a page after each still has 20 rows
    total = Invoice.objects.count()
    connection.close()

    child, port_file = start_server(__file__, "duly-bench-port-")
    try:
        port = server_port(port_file)
        load(port, key, 100, args.clients, customers, max_id, void_ids)  # warm-up (connections, caches), not counted
        pg_before = cpu_window_start(child)
        start = time.perf_counter()
        results = load(port, key, args.requests, args.clients, customers, max_id, void_ids)
        wall = time.perf_counter() - start
        server_cpu, pg_cpu = cpu_window_end(child, port_file, pg_before)
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = usage.ru_maxrss / 1024
    latencies = [e for _, e in results]
    print(f"{total} invoices in PostgreSQL; {len(results)} requests by {args.clients} clients (closed loop) in "
          f"{wall:.1f} s: {len(results) / wall:.0f} requests/s")
    p99 = _pct(latencies, 99)
    print(f"latency: p50 {_pct(latencies, 50):.1f} ms, p95 {_pct(latencies, 95):.1f} ms, p99 {p99:.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms")
    for kind in sorted({k for k, _ in results}):
        mine = [e for k, e in results if k == kind]
        print(f"  {kind:18} {len(mine):5} requests  p50 {_pct(mine, 50):6.1f} ms  p99 {_pct(mine, 99):6.1f} ms")
    print(f"server peak resident memory (waitress child, ru_maxrss): {peak:.0f} MB")
    n = len(results)
    print(f"CPU per request over the measured window: server {server_cpu / n * 1000:.1f} ms (waitress child, "
          f"{server_cpu:.1f} s) + PostgreSQL backends {pg_cpu / n * 1000:.1f} ms ({pg_cpu:.1f} s); load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; rate windows: "
          f"{'shared cache ' + os.environ['DULY_CACHE_URL'] if os.environ.get('DULY_CACHE_URL') else 'database'}")
    print(f"target p99 < {TARGET_MS} ms: {'met' if p99 < TARGET_MS else 'MISSED'}")
    if not args.keep and not args.reuse:
        _admin(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
