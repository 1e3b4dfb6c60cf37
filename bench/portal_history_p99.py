"""Latency of the portal's invoice history (``/p/<token>/history``) with 1,000,000 invoices in PostgreSQL:
p50/p95/p99 under a bounded load, server CPU per request, peak memory.

Run by hand (not in ``make bench``: seeding takes minutes), on the database ``bench/api_list_p99.py`` seeds:
``.venv/bin/python bench/portal_history_p99.py [--reuse] [--invoices 1000000] [--requests 1000] [--clients 4]
[--large 100000] [--keep]``. ``DULY_BENCH_PG`` / ``DULY_BENCH_PG_DB`` as there (``--reuse``: a database that
``api_list_p99.py --keep`` left).

1. *seed* (not measured): as ``api_list_p99.py`` (1,000 customers, 1,000,000 invoices, about 1,000 each), plus
   one large account with ``--large`` invoices of its own (one more ``INSERT … SELECT``), ``VACUUM (ANALYZE)`` (what
   autovacuum does after a bulk load).
2. *serve*: Duly's WSGI application in waitress (4 threads) in a child process on 127.0.0.1.
3. *load*: ``--clients`` keep-alive connections send ``--requests`` requests in all, one after the other (a closed
   loop): each customer's personal account link, ``GET /p/<token>/history`` — the first page (60 %), the next
   page followed from a first page's "Next page" link (25 %), and the large account's first and next pages
   (15 %). Every answer must be 200 with 20 invoice rows.

Printed: requests/s; p50/p95/p99/max latency (client side, whole HTTP round trip) overall and per kind; the CPU
time per request over the measured requests only (the server process's own and the PostgreSQL backends', as
``api_list_p99.py`` reads them) — the fair figure on a machine other jobs load — with the load average; the
server's peak resident memory.
Target: p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import resource
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DULY_SECRET_KEY", "bench-portal-history-" + "x" * 50)

import api_list_p99 as base  # noqa: E402  (the seeding, the server and the percentiles are that bench's)

TARGET_MS = 100
ROW = re.compile(r'<tr[^>]*data-status=')
NEXT = re.compile(r'id="invoices-next" href="([^"]+)"')


def add_large_account(n: int) -> None:
    """One customer (``LARGE``) with ``n`` invoices of its own, copied from the first invoice (idempotent)."""
    from datetime import date

    from django.db import connection

    from duly.customers.models import Contract, Customer, Organization

    org = Organization.objects.get(slug="bench")
    large, _ = Customer.objects.get_or_create(organization=org, code="LARGE", defaults=dict(
        name="Large account", country="FR", city="Paris", address_line1="1 rue Z", currency="EUR",
        timezone="Europe/Paris"))
    Contract.objects.get_or_create(organization=org, customer=large, reference="CTR-LARGE",
                                   defaults=dict(currency="EUR", start_date=date(2024, 1, 1)))
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM invoicing_invoice WHERE customer_id = %s", [large.pk])
        have = cur.fetchone()[0]
        if have >= n:
            return
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'invoicing_invoice' "
                    "ORDER BY ordinal_position")
        columns = [r[0] for r in cur.fetchall() if r[0] != "id"]
        override = {"number": "'L-' || lpad(g::text, 8, '0')", "customer_id": str(large.pk), "contract_id": "NULL",
                    "status": "CASE WHEN mod(g, 4) = 2 THEN 'issued' ELSE 'paid' END",
                    "issue_date": "date '2021-01-01' + mod(g, 1800)", "due_date": "date '2021-01-31' + mod(g, 1800)"}
        select = ", ".join(override.get(c, f"t.{c}") for c in columns)
        start = time.perf_counter()
        cur.execute(f"INSERT INTO invoicing_invoice ({', '.join(columns)}) SELECT {select} FROM invoicing_invoice t, "
                    f"generate_series(%s, %s) g WHERE t.id = (SELECT min(id) FROM invoicing_invoice)",
                    [have + 1, n])
        # As autovacuum does after a bulk load (its visibility map lets counts read the index alone).
        cur.execute("VACUUM (ANALYZE) invoicing_invoice")
        print(f"large account: {n} invoices in {time.perf_counter() - start:.1f} s (not measured)")


def load(port: int, tokens: list[str], large: str, requests: int, clients: int,
         followed: list[int]) -> list[tuple[str, float]]:
    """The measured requests (kind, seconds); ``followed[0]`` counts the unmeasured pages fetched for a next link."""
    results: list[tuple[str, float]] = []
    errors: list[str] = []
    lock = threading.Lock()
    left = [requests]

    def get(conn, path):
        t0 = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode()
        return time.perf_counter() - t0, response.status, body

    def client(seed_: int) -> None:
        rng = random.Random(seed_)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if left[0] <= 0:
                    break
                left[0] -= 1
            roll = rng.random()
            token = large if roll >= 0.85 else rng.choice(tokens)
            kind = "large account" if roll >= 0.85 else "first page" if roll < 0.6 else "next page"
            path = f"/p/{token}/history"
            if kind == "next page" or (kind == "large account" and rng.random() < 0.5):
                _, status, body = get(conn, path)  # the page whose "Next page" link is followed (not counted)
                found = NEXT.search(body)
                if status != 200 or not found:
                    with lock:
                        errors.append(f"{path}: HTTP {status}, no next link")
                        left[0] = 0
                    break
                path += found.group(1).replace("&amp;", "&")
                with lock:
                    followed[0] += 1
            elapsed, status, body = get(conn, path)
            rows = len(ROW.findall(body))
            if status != 200 or rows < 20:
                with lock:
                    errors.append(f"{path}: HTTP {status}, {rows} rows: {body[:300]!r}")
                    left[0] = 0
                break
            with lock:
                results.append((kind, elapsed))
        conn.close()

    base.run_clients(client, clients, errors)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=100_000, help="invoices of the one large account")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the database (for --reuse)")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database: skip the 1,000,000 invoices")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        base.serve(args.serve)
        return 0
    if args.reuse:
        base._django()
    else:
        base.seed(args.invoices)
    add_large_account(args.large)
    from datetime import date

    from django.db import connection

    from duly.customers.links import pay_url
    from duly.customers.models import Customer
    from duly.invoicing.models import Invoice

    customers = list(Customer.objects.filter(organization__slug="bench").values_list("pk", "organization_id", "code"))
    today = date.today()
    tokens = {code: pay_url(org_id, pk, made_on=today).rsplit("/", 1)[1] for pk, org_id, code in customers}
    large = tokens.pop("LARGE")
    total = Invoice.objects.count()
    connection.close()

    child, port_file = base.start_server(__file__, "duly-bench-portal-port-")
    try:
        port = base.server_port(port_file)
        load(port, list(tokens.values()), large, 100, args.clients, [0])  # warm-up, not counted
        pg_before = base.cpu_window_start(child)
        start = time.perf_counter()
        followed = [0]
        results = load(port, list(tokens.values()), large, args.requests, args.clients, followed)
        wall = time.perf_counter() - start
        served_cpu, pg_cpu = base.cpu_window_end(child, port_file, pg_before)
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # Requests the server answered while measured: the counted ones and the pages whose next link was followed.
    served = len(results) + followed[0]
    latencies = [e for _, e in results]
    p99 = base._pct(latencies, 99)
    print(f"{total} invoices in PostgreSQL (a large account of {args.large}); {len(results)} measured requests by "
          f"{args.clients} clients (closed loop) in {wall:.1f} s: {len(results) / wall:.0f} requests/s")
    print(f"latency: p50 {base._pct(latencies, 50):.1f} ms, p95 {base._pct(latencies, 95):.1f} ms, p99 {p99:.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms")
    for kind in sorted({k for k, _ in results}):
        mine = [e for k, e in results if k == kind]
        print(f"  {kind:14} {len(mine):5} requests  p50 {base._pct(mine, 50):6.1f} ms  p99 {base._pct(mine, 99):6.1f} ms")
    print(f"CPU per request over the measured window ({served} requests served: {len(results)} timed, {followed[0]} "
          f"pages read for their next link): server {served_cpu / served * 1000:.1f} ms (waitress child, "
          f"{served_cpu:.1f} s) + PostgreSQL backends {pg_cpu / served * 1000:.1f} ms ({pg_cpu:.1f} s); load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"server peak resident memory (waitress child, ru_maxrss): {peak:.0f} MB")
    print(f"target p99 < {TARGET_MS} ms: {'met' if p99 < TARGET_MS else 'MISSED'}")
    if not args.keep and not args.reuse:
        base._admin(f'DROP DATABASE IF EXISTS "{base.BENCH_DB}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
