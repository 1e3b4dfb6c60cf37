"""Scheduled jobs and Celery tasks of the API app (run by `duly serve` through settings.DULY_SCHEDULED_JOBS)."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task

from . import services


def scheduled_purge(now: datetime) -> tuple[int, int]:
    """Forget idempotency records past their 24 hours and rate windows that ended."""
    return services.purge_expired(now)


def scheduled_overdue_events(now: datetime) -> int:
    """Record ``invoice.overdue`` for the invoices that passed their due date (once per invoice)."""
    from .outgoing_events import emit_overdue

    return emit_overdue(now)


def scheduled_webhooks(now: datetime) -> str:
    """One pass of the outgoing webhook worker: up to 10 batches of 100 due deliveries."""
    from .outgoing_delivery import deliver_webhooks

    return deliver_webhooks(now, batches=10).summary()


@shared_task(name="duly.deliver_webhooks")
def deliver_webhooks_task(now: str) -> dict:
    from .outgoing_delivery import deliver_webhooks

    return deliver_webhooks(datetime.fromisoformat(now), batches=10).as_dict()
