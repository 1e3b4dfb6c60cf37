"""Executing a billing run: batches billed one by one in this process, or planned by forked processes
while this one writes them in windows (see :func:`planning_workers` and :func:`_bill_windows`).

Each batch is planned (:func:`duly.billing.runner.plan.plan_batch`: reads and pure rules, no write) and
written (:func:`duly.billing.services.run_writer.write_plan`) in one transaction, retried when it meets
a concurrent run.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date
from typing import Callable

from django.db import IntegrityError, connection, transaction

from duly.customers.models import Customer, Organization
from duly.db.collector import paused as gc_paused
from duly.db.fastpath import ids_in
from duly.invoicing.bulk import PeppolRefused

from ..models import Subscription
from ..services.run_writer import AlreadyClaimed, ChunkPlan, write_plan
from .load import Catalog, Due
from .plan import plan_batch
from .result import BillingRunResult

__all__ = ["MAX_WORKERS", "PARALLEL_MIN_BATCHES", "WINDOW_BATCHES", "WINDOW_SECONDS", "Run", "bill_batches",
           "planning_workers"]

logger = logging.getLogger("duly.billing.run")

_RETRIES = 3


@dataclass
class Run:
    """What every batch of a run shares (read once; planning processes inherit it)."""

    org: Organization
    as_of: date
    catalog: Catalog
    has_retainers: bool
    due: Due


def _chunks(values: list[int], size: int) -> list[list[int]]:
    return [values[i:i + size] for i in range(0, len(values), size)]


def bill_batches(run: Run, customer_ids: list[int], batch_size: int, workers: int, result: BillingRunResult,
                 committed: Callable[[BillingRunResult, list[int]], None],
                 checkpoint: Callable[[int], None] | None) -> None:
    """Bill the customers in batches of ``batch_size``: in this process (``workers`` 1), or planned by
    ``workers`` forked processes while this one writes (see :func:`_bill_windows`). ``committed(outcome,
    batch)`` is called once each batch is committed."""
    chunks = _chunks(customer_ids, batch_size)
    if workers > 1:
        # The last batches smaller: the planners finish together, and the run's end waits less on one of them.
        tail = 2 * workers * batch_size
        if len(customer_ids) > 2 * tail:
            chunks = _chunks(customer_ids[:-tail], batch_size) + _chunks(customer_ids[-tail:], max(1, batch_size // 4))
        _bill_windows(run, chunks, workers, result, committed, checkpoint)
    else:
        for chunk in chunks:
            committed(_bill_chunk(run, chunk, result.batches, checkpoint), chunk)


def _bill_chunk(run: Run, chunk: list[int], number: int,
                checkpoint: Callable[[int], None] | None) -> BillingRunResult:
    """Bill one batch in its own transaction (retried when it meets a concurrent run).

    A customer whose invoice a Peppol access point would reject (:class:`~duly.invoicing.bulk.PeppolRefused`)
    is left out, the rules named in the result, and the batch is billed again without it."""
    refused: dict[int, str] = {}  # customer id -> why it was left out (the Peppol rules its invoice breaks)
    attempts = 0
    while attempts < _RETRIES:
        outcome = BillingRunResult(as_of=run.as_of)
        try:
            with gc_paused(), transaction.atomic():
                _bill_batch(run.org, run.as_of, run.catalog, [c for c in chunk if c not in refused], outcome,
                            run.has_retainers, run.due)
                if checkpoint is not None:
                    checkpoint(number)
            if refused:
                codes = dict(Customer.objects.filter(pk__in=list(refused)).values_list("pk", "code"))
                outcome.skipped += [(codes.get(c, str(c)), reason) for c, reason in refused.items()]
            return outcome
        except PeppolRefused as exc:
            # The batch rolled back, numbers included: bill it again without the refused customers.
            refused.update((customer_id, error.message) for customer_id, error in exc.refused.items())
        except (IntegrityError, AlreadyClaimed):
            # A concurrent run billed some of these slots (or claimed a pending charge, notice or late
            # event) first: our batch rolled back, numbers included; bill what is left.
            attempts += 1
    outcome = BillingRunResult(as_of=run.as_of)
    codes = dict(Customer.objects.filter(pk__in=chunk).values_list("pk", "code"))
    outcome.skipped = [(codes.get(c, str(c)), "conflict with a concurrent billing run; retry") for c in chunk]
    return outcome


# --- parallel planning ------------------------------------------------------------------------------------
#: A run with planning processes writes at most this many batches per transaction, and starts no new
#: batch in a transaction open this long (seconds), unless only a few are left: it holds the locks
#: about that long (see _bill_windows).
WINDOW_BATCHES = 64
WINDOW_SECONDS = 3.0
#: The fewest batches worth starting planning processes for.
PARALLEL_MIN_BATCHES = 4
MAX_WORKERS = 4
_RUN: Run | None = None  # the run planning processes serve (inherited when they are forked)
_PARENT = 0  # the run's process
_INHERITED: list = []  # database connections a planning process inherited: its parent's, never used nor closed


def planning_workers(requested: int | None, batches: int) -> int:
    """How many planning processes a run uses: 1 (plan in this process) unless it can use more.

    More needs: at least :data:`PARALLEL_MIN_BATCHES` batches; Linux (workers are forked, inheriting the
    run's catalog); a single-threaded, non-daemon process (forking a threaded process such as ``duly serve``
    is unsafe, and a Celery worker may not have children); no transaction already open; and a database
    other processes can read (not an in-memory SQLite database, such as the tests'). ``requested``: None
    for one per CPU (at most :data:`MAX_WORKERS`)."""
    import multiprocessing
    import sys
    import threading

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    count = requested if requested is not None else min(cpus, MAX_WORKERS)  # the CPUs this process may use
    if count < 2 or batches < PARALLEL_MIN_BATCHES or not sys.platform.startswith("linux"):
        return 1
    if threading.active_count() > 1 or multiprocessing.current_process().daemon:
        return 1
    if connection.in_atomic_block or (connection.vendor == "sqlite" and connection.is_in_memory_db()):
        return 1
    return count


def _bill_windows(run: Run, chunks: list[list[int]], workers: int, result: BillingRunResult,
                  committed: Callable[[BillingRunResult, list[int]], None],
                  checkpoint: Callable[[int], None] | None) -> None:
    """Bill the batches with ``workers`` forked processes planning them while this one writes.

    The batches are written in windows, one transaction per window (at most :data:`WINDOW_BATCHES`
    batches; no new batch is started once the window has been open :data:`WINDOW_SECONDS`). The
    transaction is opened before any batch of the window is planned (on SQLite ``BEGIN IMMEDIATE``
    takes the database's write lock; on PostgreSQL each batch's subscriptions are locked ``FOR UPDATE``
    before it is handed out) and committed once all of them are written. So the planning processes
    read committed data that nobody can change meanwhile (usage imports, subscription changes and
    other runs wait for the locks), and each plan is what the batch read inside the transaction would
    have planned. A window that meets a concurrent run rolls back (numbers included) and is billed
    again batch by batch. A crash loses the uncommitted window only: a rerun bills it, with no
    duplicate and no gap. If a planning process dies (killed, out of memory), its window rolls back
    and the rest of the run is planned in this process.
    """
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from time import monotonic

    global _RUN, _PARENT
    _RUN, _PARENT = run, os.getpid()
    locks = connection.vendor != "sqlite"
    start = 0
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_worker_init) as pool:
            for started in [pool.submit(os.getpid) for _ in range(workers)]:
                started.result()  # every planner forked now, before any transaction is open
            while start < len(chunks):
                opened = monotonic()
                outcomes: list[BillingRunResult] | None = []
                window: list[list[int]] = []
                try:
                    with gc_paused(), transaction.atomic():
                        flying: deque = deque()
                        while True:
                            while (start + len(window) < len(chunks) and len(flying) < 2 * workers
                                   and len(window) < WINDOW_BATCHES
                                   and (not window or monotonic() - opened < WINDOW_SECONDS
                                        # a last few batches: in this window, not in one of their own
                                        or len(chunks) - start - len(window) <= 2 * workers)):
                                chunk = chunks[start + len(window)]
                                if locks:
                                    list(Subscription.objects.select_for_update().filter(
                                        ids_in("customer_id", chunk)).order_by("id").values_list("id", flat=True))
                                window.append(chunk)
                                flying.append(pool.submit(_plan_in_worker, chunk))
                            if not flying:
                                break
                            plan = flying.popleft().result()
                            outcome = BillingRunResult(as_of=run.as_of)
                            write_plan(run.org, run.as_of, plan, outcome)
                            outcomes.append(outcome)
                            if checkpoint is not None:
                                checkpoint(result.batches + len(outcomes) - 1)
                except (IntegrityError, AlreadyClaimed, PeppolRefused):
                    # a concurrent run got there first, or an invoice a Peppol access point would reject (left
                    # out by _bill_chunk): the window again, batch by batch
                    outcomes = None
                if outcomes is None:
                    for chunk in window:
                        committed(_bill_chunk(run, chunk, result.batches, checkpoint), chunk)
                else:
                    for outcome, chunk in zip(outcomes, window):
                        committed(outcome, chunk)
                start += len(window)
    except BrokenProcessPool:
        logger.warning("A billing planning process died; the run goes on in one process from batch %d.",
                       result.batches)
        result.workers = 1
        for chunk in chunks[start:]:
            committed(_bill_chunk(run, chunk, result.batches, checkpoint), chunk)
    finally:
        _RUN = None


def _worker_init() -> None:
    """In a forked planning process: leave the parent's database connections alone (a fresh one opens)."""
    import signal

    from django.db import connections

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops its workers
    _die_with_parent()
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _INHERITED.append(conn.connection)  # closing it here would close the parent's session
            conn.connection = None


def _die_with_parent() -> None:
    """A planning process ends when the run's process does, even killed (Linux's parent-death signal)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux (planners are forked on Linux only)
        return
    if os.getppid() != _PARENT:  # the parent died before the signal was set
        os._exit(1)


def _plan_in_worker(chunk: list[int]) -> ChunkPlan:
    run = _RUN
    assert run is not None, "planning process without a run"
    with gc_paused():
        return plan_batch(run.org, run.as_of, run.catalog, chunk, run.has_retainers, run.due, lock=False)


def _bill_batch(org: Organization, as_of: date, catalog: Catalog, customer_ids: list[int],
                result: BillingRunResult, has_retainers: bool, due: Due) -> None:
    """Plan and write one batch (inside the caller's transaction, which locks its subscriptions first)."""
    write_plan(org, as_of, plan_batch(org, as_of, catalog, customer_ids, has_retainers, due, lock=True), result)
