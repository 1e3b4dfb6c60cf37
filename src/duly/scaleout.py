"""Partitioned runs on Celery (docs/scale-out.md): one run of an organization split into partitions of its
customers (``customer id % count``, :mod:`duly.db.partition`), one task each, run by any worker, results combined.

Each builder returns a Celery signature (a chord: the partitions, then a callback that combines their results);
``.apply_async()`` starts it. The partitions call the same idempotent services as the one-process run, with a
``partition`` filter, so the result is the one a single process gives: the same invoices (numbered from the same
gapless counter, each batch taking its block of numbers in its commit), reminders, messages and charges. A
partition whose worker dies is run again (acks late); it finds what it committed and does the rest.

:func:`cycle_task` is what Celery beat starts every ``DULY_CYCLE_INTERVAL`` seconds: the jobs of
``settings.DULY_SCHEDULED_JOBS`` in their order, each a stage whose partitions (for every organization) run in
parallel, the next stage starting once the previous one is done.

This module is an entry point (the top layer): it composes tasks of several apps.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from celery import chord, group, shared_task

#: Scheduled jobs (settings.DULY_SCHEDULED_JOBS) that run as partitions; every other job is one task.
PARTITIONED = {
    "duly.payments.tasks.scheduled_autopay": "autopay",
    "duly.collections.tasks.scheduled_collect": "collect",
    "duly.collections.tasks.scheduled_late_fees": "fees",
    "duly.messaging.tasks.scheduled_deliver": "outbox",
    "duly.billing.tasks.scheduled_billing": "billing",
}
CYCLE_LOCK = "duly:scaleout:cycle"


def partition_count() -> int:
    """``DULY_PARTITIONS`` (default 8): partitions per run; more partitions than worker processes keeps every
    process busy to the end of a run and makes a retried partition short."""
    from django.conf import settings

    return settings.DULY_PARTITIONS


def _count(count: int | None) -> int:
    return partition_count() if count is None else count


# -- one run, partitioned ---------------------------------------------------------------------------------------


def billing(org_id: int, as_of: date, count: int | None = None, *, batch_size: int | None = None):
    """The billing run of one organization as of ``as_of``, in ``count`` partitions."""
    from duly.billing.tasks import bill_partition_task

    n = _count(count)
    return chord(group(bill_partition_task.si(org_id, as_of.isoformat(), i, n, batch_size) for i in range(n)),
                 combine_task.s())


def collect(org_id: int, as_of: datetime, count: int | None = None, *, dry_run: bool = False):
    """The dunning run of one organization: the reminders in ``count`` partitions, then the steps after them once."""
    from duly.collections.tasks import collect_finish_task, collect_partition_task

    n, at = _count(count), as_of.isoformat()
    return chord(group(collect_partition_task.si(org_id, at, i, n, dry_run) for i in range(n)),
                 collect_finish_task.s(org_id, at, dry_run))


def late_fees(org_id: int, as_of: date, count: int | None = None):
    from duly.collections.tasks import fees_partition_task

    n = _count(count)
    return chord(group(fees_partition_task.si(org_id, as_of.isoformat(), i, n) for i in range(n)), combine_task.s())


def autopay(org_id: int, as_of: date, count: int | None = None):
    from duly.payments.tasks import autopay_partition_task

    n = _count(count)
    return chord(group(autopay_partition_task.si(org_id, as_of.isoformat(), i, n) for i in range(n)),
                 combine_task.s())


def outbox(now: datetime, count: int | None = None):
    """``count`` outbox workers delivering what is due at ``now`` (every organization; each claims its own)."""
    from duly.messaging.tasks import deliver_outbox_partition_task

    n = _count(count)
    return chord(group(deliver_outbox_partition_task.si(now.isoformat(), i, n) for i in range(n)), combine_task.s())


def reconcile(org_id: int, as_of: date, count: int | None = None, *, policy: dict | None = None):
    """Reconciliation of one organization's new statement lines: matched once (``duly.reconcile_plan``), then
    applied in ``count`` partitions by the customer each line pays, then combined
    (:mod:`duly.payments.reconcile_partition`)."""
    from duly.payments.tasks import reconcile_plan_task

    return reconcile_plan_task.si(org_id, as_of.isoformat(), _count(count), policy, combine_task.s())


def combine(results: list) -> dict:
    """The partitions' results as one: numbers added, lists joined, text values kept as a list of the distinct ones."""
    out: dict = {}
    for result in results:
        if not isinstance(result, dict):
            out.setdefault("partitions", []).append(result)
            continue
        for key, value in result.items():
            if isinstance(value, bool) or not isinstance(value, (int, list, dict)):
                if value is not None and value not in out.setdefault(key, []):
                    out[key].append(value)
            elif isinstance(value, int):
                out[key] = out.get(key, 0) + value
            elif isinstance(value, list):
                out[key] = out.get(key, []) + value
            else:
                out[key] = combine([out.get(key, {}), value])
    return out


@shared_task(name="duly.combine")
def combine_task(results: list) -> dict:
    return combine(results)


# -- the periodic cycle (Celery beat) -----------------------------------------------------------------------


def _stage(path: str, now: datetime, count: int) -> list:
    """The tasks of one scheduled job at ``now``: its partitions for every organization, or the job as one task."""
    from duly.customers.models import Organization
    from duly.domain.calendar import zone

    kind = PARTITIONED.get(path)
    if kind is None:
        return [scheduled_job_task.si(path, now.isoformat())]
    if kind == "outbox":
        return list(outbox(now, count).tasks)
    sigs = []
    for org in Organization.objects.order_by("id"):
        local = now.astimezone(zone(org.timezone or "UTC")).date()
        run = {"billing": lambda: billing(org.id, local, count), "fees": lambda: late_fees(org.id, local, count),
               "autopay": lambda: autopay(org.id, local, count), "collect": lambda: collect(org.id, now, count)}[kind]()
        sigs += list(run.tasks)
    return sigs


def _lock(acquire: bool) -> bool:
    """The one-cycle-at-a-time lock, held in the result backend's Redis (always granted without one)."""
    from celery import current_app

    client = getattr(current_app.backend, "client", None)
    if client is None:
        return True
    if acquire:
        expires = current_app.conf.broker_transport_options.get("visibility_timeout", 3600)
        return bool(client.set(CYCLE_LOCK, "1", nx=True, ex=expires))
    client.delete(CYCLE_LOCK)
    return True


def _start_stage(now: datetime, stage: int, count: int) -> str:
    from django.conf import settings

    jobs = list(getattr(settings, "DULY_SCHEDULED_JOBS", []))
    while stage < len(jobs):
        tasks = _stage(jobs[stage], now, count)
        if tasks:
            chord(group(tasks), cycle_next_task.s(now.isoformat(), stage, count).on_error(
                cycle_failed_task.s(jobs[stage]))).apply_async()
            return f"stage {stage} ({jobs[stage]}): {len(tasks)} task(s)"
        stage += 1
    _lock(False)
    return "cycle done"


@shared_task(name="duly.cycle")
def cycle_task(now: str | None = None, count: int | None = None) -> str:
    """One pass of every scheduled job (beat starts it; a pass still running makes the next one skip)."""
    at = datetime.fromisoformat(now) if now else datetime.now(timezone.utc)
    if not _lock(True):
        return "previous cycle still running"
    try:
        return _start_stage(at, 0, _count(count))
    except BaseException:
        _lock(False)
        raise


@shared_task(name="duly.cycle_next")
def cycle_next_task(results: list, now: str, stage: int, count: int) -> str:
    """The chord callback of a stage: finish it (the dunning runs' last steps), then start the next stage."""
    from django.conf import settings

    from duly.collections.tasks import finish_collect
    from duly.customers.models import Organization

    at = datetime.fromisoformat(now)
    try:
        if PARTITIONED.get(settings.DULY_SCHEDULED_JOBS[stage]) == "collect":
            for org in Organization.objects.order_by("id"):
                finish_collect(org.id, now)
        return _start_stage(at, stage + 1, count)
    except BaseException:
        _lock(False)
        raise


@shared_task(name="duly.cycle_failed")
def cycle_failed_task(request, exc, traceback, job: str) -> None:
    """A stage failed (a partition gave up after its retries): log it and release the cycle, so the next cycle
    beat starts runs every job again (each is idempotent: what the failed one committed stays done)."""
    import logging

    logging.getLogger("duly.scaleout").error("scheduled job %s failed in the Celery cycle: %s", job, exc)
    _lock(False)


@shared_task(name="duly.scheduled_job")
def scheduled_job_task(path: str, now: str) -> str:
    """A scheduled job that is not partitioned (``path`` must be one of settings.DULY_SCHEDULED_JOBS)."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    if path not in settings.DULY_SCHEDULED_JOBS:
        raise ValueError(f"{path} is not a scheduled job")
    import_string(path)(datetime.fromisoformat(now))
    return "ok"
