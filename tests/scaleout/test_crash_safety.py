"""Partitioned runs on real Celery workers survive a killed worker and a restarted broker, and end as one process.

The tests share one cluster (:class:`~tests.scaleout.conftest.Cluster`: a Redis, a real SMTP server and two
``duly worker`` processes, concurrency 1). Each loads a fresh copy of the seeded world (1,000 customers with a
subscription, January billed, some January invoices overdue) into the workers' PostgreSQL database and runs through
:mod:`duly.scaleout` the billing of February (4 partitions, batches of 25 customers), the dunning run and the outbox
(to the SMTP server), or the reconciliation of a bank statement (4 partitions). The result is compared with what one
process did with the same world.
"""

from __future__ import annotations

import threading
import time

import pytest

from .conftest import VISIBILITY_TIMEOUT, query, world

FEBRUARY = "SELECT count(*) FROM invoicing_invoice WHERE issue_date = '2026-02-01'"
APPLIED = "SELECT count(*) FROM payments_statementline WHERE status <> 'new'"


def _run_in_background(env: dict, stages: str = "billing,collect,outbox") -> tuple[threading.Thread, dict]:
    out: dict = {}

    def go() -> None:
        try:
            out["result"] = world("scaled", env, "--partitions", "4", "--batch-size", "25", "--timeout", "120",
                                  "--stages", stages, "--fingerprint", timeout=150)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            out["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    return thread, out


def _when_half_way(database: str, sql: str, total: int, timeout: float = 60) -> int:
    """Wait until some of the run is committed but not all of it (partitions are under way); returns the count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = query(database, sql)[0][0]
        if total * 0.15 <= done <= total * 0.6:
            return done
        assert done < total * 0.6, f"the run went past the middle ({done}/{total}) before the test could interrupt"
        time.sleep(0.02)
    raise TimeoutError("the run did not start")


def _kill_one_and_restart(cluster) -> str:
    """SIGKILL a worker mid-partition (its transaction in flight is rolled back, its task never acknowledged), and,
    as a supervisor (systemd, Kubernetes) does, start one again: once the visibility timeout has passed, a starting
    worker hands the unacknowledged partition back to the queue (a running one checks every ~100 s)."""
    victim = cluster.kill_one()
    killed = time.monotonic()
    time.sleep(max(0.0, VISIBILITY_TIMEOUT + 0.5 - (time.monotonic() - killed)))
    cluster.spawn()
    return victim


def _finished(thread: threading.Thread, out: dict) -> dict:
    thread.join(160)
    assert "error" not in out, out.get("error")
    return out["result"]


def _retried(cluster, victim: str, task: str) -> set[str]:
    """The partitions the killed worker had received that another worker received again."""
    others = set().union(*(cluster.received(n, task) for n in cluster.names() if n != victim))
    return cluster.received(victim, task) & others


def _same_as_one_process(fp: dict, reference: dict, sink) -> None:
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


def test_a_worker_killed_in_the_middle_of_a_partition_loses_nothing_and_doubles_nothing(cluster, seeded, reference):
    cluster.load(seeded)
    thread, out = _run_in_background(cluster.env)
    _when_half_way(cluster.database, FEBRUARY, reference["ran"]["invoices"])
    victim = _kill_one_and_restart(cluster)
    _same_as_one_process(_finished(thread, out)["fingerprint"], reference, cluster.sink)
    # The partition the killed worker had under way ran again, and finished what the killed one had not committed.
    assert _retried(cluster, victim, "duly.bill_partition"), cluster.workers.log(victim)[-3000:]


def test_a_broker_restarted_in_the_middle_of_a_run_loses_nothing(cluster, seeded, reference):
    if not cluster.own_redis:
        pytest.skip("redis-server is not installed: the test restarts a Redis of its own, it cannot restart the "
                    "system's")
    cluster.load(seeded)
    thread, out = _run_in_background(cluster.env)
    _when_half_way(cluster.database, FEBRUARY, reference["ran"]["invoices"])
    cluster.restart_broker()
    _same_as_one_process(_finished(thread, out)["fingerprint"], reference, cluster.sink)


def test_a_worker_killed_in_the_middle_of_a_reconciliation_partition_applies_each_line_once(cluster,
                                                                                            statement_world):
    cluster.load(statement_world["database"])
    thread, out = _run_in_background(cluster.env, "reconcile")
    _when_half_way(cluster.database, APPLIED, statement_world["lines"])
    victim = _kill_one_and_restart(cluster)
    fp, ref = _finished(thread, out)["fingerprint"], statement_world["fingerprint"]
    # No line lost: every line applied (matched, sent to review or set aside) as one process does.
    assert "new" not in ref["lines_by_status"] and fp["lines_by_status"] == ref["lines_by_status"]
    assert sum(fp["lines_by_status"].values()) == statement_world["lines"]
    # None applied twice: one payment per matched line, the allocations, credit and invoices of one process.
    assert fp["duplicate_payment_refs"] == 0
    assert fp["payments"] == fp["bank_matches"] == ref["bank_matches"] == ref["lines_by_status"]["matched"]
    for key in ("allocations", "allocations_sha", "credit_sha", "invoices_sha", "messages", "messages_sha",
                "messages_by_status"):
        assert fp[key] == ref[key], key
    assert ref["allocations"] >= ref["bank_matches"] and ref["lines_by_status"].get("review")
    assert _retried(cluster, victim, "duly.reconcile_partition"), cluster.workers.log(victim)[-3000:]
