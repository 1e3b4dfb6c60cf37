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
