"""Usage events through the REST API: events/s of ``POST /api/v1/usage_events`` in batches, on SQLite.

Run: ``.venv/bin/python bench/api_usage.py [--events 50000] [--batch 1000] [--check]``.

One throw-away SQLite database (bench/_duly.py) with one organization, 200 customers, a ``sum`` metric and an
owner's API key. Duly's WSGI application is served by waitress (the server ``duly serve`` uses) in a thread
on 127.0.0.1; the client, in the main thread, sends the events as JSON batches over one keep-alive HTTP
connection, each batch with its own ``Idempotency-Key`` (so the whole stack runs: HTTP parsing, key
authentication and rate window, idempotency record, schema validation, the ingest checks, the bulk insert,
the stored response). Measured:

- *API*: events/s over every batch (wall time, client included), and per batch p50/p95/max latency;
- *API again*: the same batches with new Idempotency-Keys, so every event is a duplicate by its own key;
- *raw reference*, in the same process after the API runs: the same number of new events recorded with a
  direct call of :func:`duly.billing.services.record_usage` (the service the route calls), and the ratio;
- the process's CPU time for each (wall time suffers when the machine is busy; CPU time much less);
- the process's maximum resident size (server, client and data; ``ru_maxrss``).

Target: ≥ 5,000 events/s in batches on SQLite (``--check`` exits 1 below it).
"""

from __future__ import annotations

import argparse
import http.client
import json
import resource
import statistics
import sys
import threading
import time

import _duly  # noqa: E402  (bench/_duly.py: a throw-away database for the benchmark)

TARGET = 5000
CUSTOMERS = 200


def _events(n: int, prefix: str) -> list[dict]:
    return [{"idempotency_key": f"{prefix}-{i}", "customer": f"C{i % CUSTOMERS:04d}", "metric": "api_calls",
             "timestamp": f"2026-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00+01:00",
             "value": str(1 + i % 17), "properties": {"region": "eu" if i % 3 else "us"}} for i in range(n)]


def _seed():
    from duly.api.services import create_api_key
    from duly.billing import services as billing
    from duly.customers.models import Customer
    from duly.customers.services import create_organization

    org = create_organization(name="Bench", slug="bench", country="FR", default_currency="EUR",
                              timezone="Europe/Paris")
    Customer.objects.bulk_create([Customer(organization=org, code=f"C{i:04d}", name=f"Customer {i}", country="FR",
                                           currency="EUR", timezone="Europe/Paris") for i in range(CUSTOMERS)])
    billing.create_metric(org, code="api_calls", name="API calls", aggregation="sum")
    key = create_api_key(org, name="bench", role="owner", rate_limit_per_minute=1_000_000).secret
    return org, key


def _serve():
    from django.core.wsgi import get_wsgi_application
    from waitress import create_server

    server = create_server(get_wsgi_application(), host="127.0.0.1", port=0, threads=2, ident="duly")
    threading.Thread(target=server.run, daemon=True).start()
    return server


def _post_all(port: int, key: str, batches: list[list[dict]], tag: str) -> tuple[float, list[float], dict]:
    """Send every batch; (wall seconds, per-batch latencies, summed counts and the process's CPU seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    latencies, totals = [], {"accepted": 0, "duplicates": 0, "rejected": 0}
    cpu = time.process_time()
    start = time.perf_counter()
    for n, batch in enumerate(batches):
        body = json.dumps({"events": batch})
        t0 = time.perf_counter()
        conn.request("POST", "/api/v1/usage_events", body=body, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json", "Idempotency-Key": f"{tag}-{n}"})
        response = conn.getresponse()
        data = response.read()
        latencies.append(time.perf_counter() - t0)
        if response.status != 200:
            raise SystemExit(f"batch {n}: HTTP {response.status}: {data[:500]!r}")
        result = json.loads(data)
        for name in totals:
            totals[name] += result[name]
    conn.close()
    totals["cpu_s"] = time.process_time() - cpu
    return time.perf_counter() - start, latencies, totals


def _ms(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else values[0] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {TARGET} events/s")
    args = parser.parse_args()
    _duly.setup("api-usage")
    from duly.billing.models import UsageEvent
    from duly.billing.services import record_usage

    org, key = _seed()
    server = _serve()
    port = server.effective_port
    events = _events(args.events, "api")
    batches = [events[i:i + args.batch] for i in range(0, len(events), args.batch)]
    print(f"{len(events)} events in {len(batches)} batches of {args.batch}, {CUSTOMERS} customers, SQLite, "
          f"waitress on 127.0.0.1:{port}")

    api_s, latencies, totals = _post_all(port, key, batches, "first")
    assert totals["accepted"] == len(events), totals
    rate = len(events) / api_s
    print(f"API:           {api_s:6.2f} s  {rate:9.0f} events/s  batch p50 {_ms(latencies, 50):.0f} ms, "
          f"p95 {_ms(latencies, 95):.0f} ms, max {max(latencies) * 1000:.0f} ms; process CPU {totals['cpu_s']:.2f} s "
          f"({len(events) / totals['cpu_s']:.0f} events per CPU second, server and client)")
    again_s, again_lat, again = _post_all(port, key, batches, "again")
    assert again["duplicates"] == len(events) and again["accepted"] == 0, again
    print(f"API again:     {again_s:6.2f} s  {len(events) / again_s:9.0f} events/s  (all {again['duplicates']} "
          "duplicates by their own keys)")
    # (the server thread is a daemon: it stops with the process)

    raw_events = _events(args.events, "raw")
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(raw_events), args.batch):
        result = record_usage(org, raw_events[i:i + args.batch])
        assert result.accepted == len(raw_events[i:i + args.batch]), result.summary()
    raw_s, raw_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"raw reference: {raw_s:6.2f} s  {len(raw_events) / raw_s:9.0f} events/s  (record_usage called directly, "
          f"same batches; CPU {raw_cpu:.2f} s); API / raw: {api_s / raw_s:.2f}x wall, "
          f"{totals['cpu_s'] / raw_cpu:.2f}x CPU")
    assert UsageEvent.objects.filter(organization=org).count() == 2 * len(events)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max resident size (server, client and data): {rss:.0f} MB")
    if args.check and rate < TARGET:
        print(f"FAIL: {rate:.0f} events/s is below the target of {TARGET}")
        return 1
    print(f"target ≥ {TARGET} events/s: {'met' if rate >= TARGET else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
