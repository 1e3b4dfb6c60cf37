"""Scale-out, measured: partitioned runs on 1 and 2 Celery workers with PostgreSQL (issue 18, part 6). Run by hand.

Run: ``.venv/bin/python bench/scale.py [--customers 20000] [--workers 1,2] [--partitions 8]``
(``--customers 1000000`` for the full size: seeding then takes a while, it is not counted). Needs PostgreSQL at
``DULY_SCALE_PG`` (default ``postgres://postgres@127.0.0.1:5432/postgres``), Redis at 127.0.0.1:6379 (database 12, or
``DULY_SCALE_BENCH_REDIS_DB``; flushed) and writes to throw-away databases ``duly_scale_bench_*``, dropped at the end.

1. *seed* (not counted): an organization, N customers with a contact, a contract and a monthly subscription, written
   with COPY (:mod:`tests.scaleout.world`), then January billed by one process: N open invoices, one customer in 50
   overdue on the day of the dunning run.
2. *reference*: one process (no Celery) bills February, runs the dunning run and delivers the outbox to a local
   SMTP server (aiosmtpd), on a copy of the seeded database.
3. for each worker count W: a fresh copy; W ``duly worker`` processes (concurrency 1 each); the same three runs in
   ``--partitions`` partitions through :mod:`duly.scaleout` (chords); measured per stage: wall time, throughput,
   database time (``pg_stat_database.active_time`` of the run's database: time PostgreSQL spent executing its
   statements), and per worker its CPU time and peak resident memory (``VmHWM`` of its pool process).

Printed: the figures, the scaling ratio (throughput with 2 workers / with 1), and a projection for 8 and 32
workers with its assumptions. The machine has 2 cores shared with PostgreSQL, Redis and other work: the load
average is printed, and CPU times are the figures that do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duly.settings")

from tests.scaleout import conftest as infra  # noqa: E402 - the databases, workers and world of the tests

#: The Redis database of the bench (flushed): ``DULY_SCALE_BENCH_REDIS_DB``, 12 by default.
REDIS_DB = int(os.environ.get("DULY_SCALE_BENCH_REDIS_DB", "12"))
STAGES = ("billing", "collect", "outbox")


def _proc_cpu_and_hwm(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS in MB) of ``pid`` and its children still alive (a worker and its pool process)."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu, hwm = 0.0, 0.0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                      text=True).stdout.split()]
    for p in pids:
        try:
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(stat[11]) + int(stat[12])) / tick
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    hwm = max(hwm, int(line.split()[1]) / 1024)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return cpu, hwm


def _db_active_ms(name: str) -> float:
    time.sleep(1.2)  # PostgreSQL 15 flushes a backend's statistics at most once a second
    return float(infra.query("postgres", f"SELECT active_time FROM pg_stat_database WHERE datname = '{name}'")[0][0]
                 or 0.0)


def _counts(name: str) -> dict:
    return {"open_invoices": infra.query(name, "SELECT count(*) FROM invoicing_invoice WHERE status IN "
                                               "('issued', 'partially_paid')")[0][0]}


def reference(seed: str, tmp: Path) -> dict:
    from duly.messaging.testing import SmtpSink

    name = infra.clone(seed, "duly_scale_bench_ref")
    sink = SmtpSink().start()
    try:
        env = infra.env_for(name, tmp, smtp_port=sink.port)
        before = _db_active_ms(name)
        out = infra.world("single", env, "--smtp-port", str(sink.port), "--batch-size", "500", timeout=7200)
        out["db_seconds"] = round((_db_active_ms(name) - before) / 1000, 2)
        out["received"] = sum(sink.message_ids().values())
        out["fingerprint"] = infra.world("fingerprint", env, timeout=3600)
    finally:
        sink.stop()
        infra.drop(name)
    return out


def scaled(seed: str, tmp: Path, workers: int, partitions: int) -> dict:
    from duly.messaging.testing import SmtpSink

    name = infra.clone(seed, f"duly_scale_bench_w{workers}")
    subprocess.run(["redis-cli", "-n", str(REDIS_DB), "FLUSHDB"], check=True, capture_output=True)
    sink = SmtpSink().start()
    env = infra.env_for(name, tmp, broker=f"redis://127.0.0.1:6379/{REDIS_DB}", smtp_port=sink.port)
    env["DULY_CELERY_VISIBILITY_TIMEOUT"] = "3600"
    pool = infra.Workers(env, tmp / f"w{workers}")
    (tmp / f"w{workers}").mkdir(exist_ok=True)
    out: dict = {"workers": workers, "partitions": partitions, "stages": {}}
    try:
        for i in range(workers):
            pool.start(f"w{i}")
        pool.wait_ready(timeout=300)
        idle = {n: _proc_cpu_and_hwm(p.pid)[0] for n, p in pool.procs.items()}
        for stage in STAGES:
            db0 = _db_active_ms(name)
            cpu0 = {n: _proc_cpu_and_hwm(p.pid)[0] for n, p in pool.procs.items()}
            ran = infra.world("scaled", env, "--partitions", str(partitions), "--batch-size", "500", "--stages",
                              stage, "--timeout", "7200", timeout=7300)
            cpu1 = {n: _proc_cpu_and_hwm(p.pid) for n, p in pool.procs.items()}
            out["stages"][stage] = {
                "seconds": ran["seconds"][stage], "db_seconds": round((_db_active_ms(name) - db0) / 1000, 2),
                "worker_cpu": {n: round(cpu1[n][0] - cpu0[n], 2) for n in cpu1},
                "result": {k: v for k, v in ran[stage].items() if isinstance(v, int)},
            }
        final = {n: _proc_cpu_and_hwm(p.pid) for n, p in pool.procs.items()}
        out["worker_cpu_total"] = {n: round(final[n][0] - idle[n], 2) for n in final}
        out["worker_peak_mb"] = {n: round(final[n][1], 1) for n in final}
        out["received"] = sum(sink.message_ids().values())
        out["fingerprint"] = infra.world("fingerprint", env, timeout=3600)
    finally:
        pool.stop()
        sink.stop()
        infra.drop(name)
        subprocess.run(["redis-cli", "-n", str(REDIS_DB), "FLUSHDB"], capture_output=True)
    return out


def _items(stage: str, n: int, fp: dict) -> int:
    return {"billing": n, "collect": n, "outbox": fp["messages"]}[stage]


def project(runs: dict, n: int) -> list[str]:
    """Throughput for 8 and 32 workers from the measured per-item costs (see the printed assumptions)."""
    lines = []
    one = runs[1]
    for stage in STAGES:
        s = one["stages"][stage]
        items = _items(stage, n, one["fingerprint"])
        if not items:
            continue
        cpu = sum(s["worker_cpu"].values()) / items  # worker CPU seconds per item
        db = s["db_seconds"] / items  # PostgreSQL busy seconds per item
        measured = {w: items / r["stages"][stage]["seconds"] for w, r in runs.items()}
        serial = None
        if 2 in runs:
            t1, t2 = runs[1]["stages"][stage]["seconds"], runs[2]["stages"][stage]["seconds"]
            serial = min(1.0, max(0.0, 2 * t2 / t1 - 1))  # Amdahl: T2/T1 = s + (1 - s)/2
        row = [f"{stage:8} per item: worker CPU {cpu * 1e3:.2f} ms, DB {db * 1e3:.2f} ms;"]
        for w in (8, 32):
            cpu_bound = w / (cpu + db)  # each worker waits for its own statements
            db_bound = 16 / db if db else float("inf")  # a 16-core PostgreSQL, its statements spread evenly
            amdahl = measured[1] / (serial + (1 - serial) / w) if serial is not None else float("nan")
            row.append(f"{w} workers: {min(cpu_bound, db_bound):,.0f}/s by costs, {amdahl:,.0f}/s by Amdahl "
                       f"(serial share {serial:.2f})" if serial is not None else
                       f"{w} workers: {min(cpu_bound, db_bound):,.0f}/s by costs")
        lines.append(" ".join(row))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="skip the one-process run (at 1,000,000 customers it costs as long as a 1-worker run): "
                             "each run is then compared with the first worker count's")
    args = parser.parse_args(argv)
    for reason in (infra._pg_reachable(), infra._redis_reachable()):
        if reason:
            print(f"error: {reason}", file=sys.stderr)
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="duly-bench-scale-"))
    started = time.perf_counter()
    seed = infra.clone(infra.migrated_template(tmp), "duly_scale_bench_seed")
    try:
        seeded = infra.world("seed", infra.env_for(seed, tmp), "--customers", str(args.customers), timeout=36000)
        print(f"seeded {args.customers:,} customers (COPY {seeded['copy_seconds']} s, January billed by one process: "
              f"{seeded['seconds']} s, not counted); open invoices: {_counts(seed)['open_invoices']:,}")
        ref = reference(seed, tmp) if args.reference else None
        if ref:
            s = ref["seconds"]
            print(f"one process (no Celery): billing {s['billing']:.2f} s ({args.customers / s['billing']:,.0f}/s), "
                  f"collect {s['collect']:.2f} s ({args.customers / s['collect']:,.0f} customers/s), outbox "
                  f"{s['outbox']:.2f} s ({ref['received']} messages); DB {ref['db_seconds']} s; "
                  f"CPU {ref['process']['cpu']} s; peak {ref['process']['maxrss_mb']} MB")
        runs = {}
        for w in [int(x) for x in args.workers.split(",")]:
            runs[w] = r = scaled(seed, tmp, w, args.partitions)
            against = ref or runs[next(iter(runs))]
            same = all(r["fingerprint"][k] == against["fingerprint"][k] for k in (
                "invoices_sha", "reminders_sha", "messages", "messages_by_status", "allocations_sha"))
            what = "one process" if ref else f"{next(iter(runs))} worker(s)"
            print(f"\n{w} worker(s), {args.partitions} partitions: same result as {what}: {same}; gaps "
                  f"{r['fingerprint']['gaps']}; duplicates {r['fingerprint']['duplicate_numbers']}; SMTP received "
                  f"{r['received']}")
            for stage, st in r["stages"].items():
                items = _items(stage, args.customers, r["fingerprint"])
                print(f"  {stage:8} {st['seconds']:8.2f} s  {items / st['seconds']:10,.0f} items/s  DB "
                      f"{st['db_seconds']:7.2f} s  worker CPU {st['worker_cpu']}")
            print(f"  peak memory per worker (MB): {r['worker_peak_mb']}; CPU per worker (s): {r['worker_cpu_total']}")
        if 1 in runs and 2 in runs:
            print("\nscaling ratio (throughput 2 workers / 1 worker): " + ", ".join(
                f"{st} {runs[1]['stages'][st]['seconds'] / runs[2]['stages'][st]['seconds']:.2f}" for st in STAGES))
        if 1 in runs:
            print("\nprojection (assumptions: one core per worker; PostgreSQL on its own 16-core machine, its "
                  "statements' time as measured here; 'by costs' = min(W / (worker CPU + DB time per item), 16 / DB "
                  "time per item); 'by Amdahl' takes the serial share from the 1→2 worker times, which on this "
                  "2-core machine also counts the CPU the workers, PostgreSQL and Redis take from each other):")
            for line in project(runs, args.customers):
                print("  " + line)
        la = os.getloadavg()
        print(f"\nload average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} on {os.cpu_count()} cores; bench process peak "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; total {time.perf_counter() - started:.0f} s")
        print(json.dumps({"reference": {k: v for k, v in (ref or {}).items() if k != "fingerprint"},
                          "runs": {w: {k: v for k, v in r.items() if k != "fingerprint"} for w, r in runs.items()}},
                         default=str))
    finally:
        infra.drop(seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
