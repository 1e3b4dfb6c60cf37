"""Partitioned runs on real Celery workers survive a killed worker and a restarted broker, and end as one process.

Each test copies the seeded world (1,500 customers with a subscription, January billed, some January invoices
overdue) into its own PostgreSQL database, starts two ``duly worker`` processes (concurrency 1) on Redis, and runs
through :mod:`duly.scaleout` the billing of February (4 partitions, batches of 25 customers), the dunning run and
the outbox (to a real SMTP server). The result is compared with what one process did with the same world.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from duly.messaging.testing import SmtpSink, free_port

from .conftest import REDIS_DB, VISIBILITY_TIMEOUT, Workers, clone, drop, env_for, query, world


FEBRUARY = "SELECT count(*) FROM invoicing_invoice WHERE issue_date = '2026-02-01'"


def _flush(port: int, db: int) -> None:
    subprocess.run(["redis-cli", "-p", str(port), "-n", str(db), "FLUSHDB"], check=True, capture_output=True,
                   timeout=10)


def _run_in_background(env: dict) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def go() -> None:
        try:
            out["result"] = world("scaled", env, "--partitions", "4", "--batch-size", "25", "--timeout", "120",
                                  timeout=150)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            out["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    return thread, out


def _when_billing_is_half_way(database: str, total: int, timeout: float = 60) -> int:
    """Wait until some of February is committed but not all of it (a partition is under way); returns the count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = query(database, FEBRUARY)[0][0]
        if total * 0.15 <= done <= total * 0.6:
            return done
        assert done < total * 0.6, f"billing went past the middle ({done}/{total}) before the test could interrupt"
        time.sleep(0.02)
    raise TimeoutError("billing did not start")


def _received(log: str) -> set[str]:
    return set(re.findall(r"Task duly\.bill_partition\[([0-9a-f-]+)\] received", log))


def _same_as_one_process(fp: dict, reference: dict, sink: SmtpSink) -> None:
    ref = reference["fingerprint"]
    assert fp["duplicate_numbers"] == 0 and fp["numbers_unique"] and fp["duplicate_billing_records"] == 0
    assert fp["gaps"] == []
    for key in ("invoices", "invoices_sha", "reminders", "reminders_sha", "messages", "messages_sha",
                "messages_by_status", "allocations", "allocations_sha"):
        assert fp[key] == ref[key], key
    assert ref["messages"] > 0 and set(ref["messages_by_status"]) == {"sent"}
    ids = sink.message_ids()
    assert sum(ids.values()) == reference["received"] == ref["messages"]  # none lost
    assert max(ids.values()) == 1  # none twice


def test_a_worker_killed_in_the_middle_of_a_partition_loses_nothing_and_doubles_nothing(seeded, reference, tmp_path):
    database = clone(seeded, f"duly_scale_kill_{os.getpid()}")
    sink = SmtpSink().start()
    _flush(6379, REDIS_DB)
    env = env_for(database, tmp_path, broker=f"redis://127.0.0.1:6379/{REDIS_DB}", smtp_port=sink.port)
    workers = Workers(env, tmp_path)
    try:
        workers.start("a")
        workers.start("b")
        workers.wait_ready()
        total = reference["ran"]["invoices"]
        thread, out = _run_in_background(env)
        _when_billing_is_half_way(database, total)
        workers.kill("a")  # mid-partition: its batch in flight is rolled back, its task never acknowledged
        killed = time.monotonic()
        # A supervisor (systemd, Kubernetes) starts the worker again; once the visibility timeout has passed, a
        # starting worker hands the unacknowledged partition back to the queue (a running one checks every ~100 s).
        time.sleep(max(0.0, VISIBILITY_TIMEOUT + 0.5 - (time.monotonic() - killed)))
        workers.start("a2")
        thread.join(160)
        assert "error" not in out, out.get("error")
        fp = world("fingerprint", env)
        _same_as_one_process(fp, reference, sink)
        # The partition the killed worker had under way ran again, and finished what the killed one had not
        # committed.
        retried = _received(workers.log("a")) & (_received(workers.log("b")) | _received(workers.log("a2")))
        assert retried, workers.log("a")[-3000:]
    finally:
        workers.stop()
        sink.stop()
        drop(database)
        _flush(6379, REDIS_DB)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed: the test restarts "
                                                                 "a Redis of its own, it cannot restart the system's")
def test_a_broker_restarted_in_the_middle_of_a_run_loses_nothing(seeded, reference, tmp_path):
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()

    def redis() -> subprocess.Popen:
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                                 "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True).stdout.startswith(b"PONG"):
                return proc
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    database = clone(seeded, f"duly_scale_restart_{os.getpid()}")
    sink = SmtpSink().start()
    broker = redis()
    env = env_for(database, tmp_path, broker=f"redis://127.0.0.1:{port}/0", smtp_port=sink.port)
    workers = Workers(env, tmp_path)
    try:
        workers.start("a")
        workers.start("b")
        workers.wait_ready()
        thread, out = _run_in_background(env)
        _when_billing_is_half_way(database, reference["ran"]["invoices"])
        os.killpg(broker.pid, signal.SIGTERM)  # a restart: Redis writes its append-only file and stops
        broker.wait(10)
        time.sleep(1)
        broker = redis()
        thread.join(160)
        assert "error" not in out, out.get("error")
        _same_as_one_process(world("fingerprint", env), reference, sink)
    finally:
        workers.stop()
        sink.stop()
        os.killpg(broker.pid, signal.SIGKILL)
        broker.wait(5)
        drop(database)
