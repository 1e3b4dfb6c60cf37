"""Thin Celery/scheduler wrappers around the outbox worker."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task


def scheduled_deliver(now: datetime) -> None:
    """One outbox pass (the in-process scheduler of `duly serve` calls it every interval)."""
    from duly.messaging.delivery import deliver_outbox

    deliver_outbox(now)


@shared_task(name="duly.deliver_outbox")
def deliver_outbox_task(now: str) -> dict:
    from duly.messaging.delivery import deliver_outbox

    return deliver_outbox(datetime.fromisoformat(now)).as_dict()


@shared_task(name="duly.deliver_outbox_partition")
def deliver_outbox_partition_task(now: str, index: int, count: int, passes: int = 1000) -> dict:
    """One of ``count`` concurrent outbox workers (:mod:`duly.scaleout`): passes until nothing is due. The
    partitions need no filter: each pass claims its own messages (``SELECT … FOR UPDATE SKIP LOCKED`` and a lease
    token), so two workers never send the same message."""
    from duly.messaging.delivery import deliver_outbox

    total: dict[str, int] = {}
    for _ in range(passes):
        report = deliver_outbox(datetime.fromisoformat(now)).as_dict()
        for key, value in report.items():
            total[key] = total.get(key, 0) + len(value)
        if not any(report.values()):
            break
    return total
