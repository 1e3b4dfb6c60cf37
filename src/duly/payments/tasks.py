"""Thin scheduler/Celery wrappers around autopay (``duly serve`` runs :func:`scheduled_autopay` with the other
daily jobs; a Celery beat entry may call :func:`autopay_task` per organization instead)."""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from celery import shared_task

log = logging.getLogger(__name__)


def scheduled_autopay(now: datetime) -> dict[str, str]:
    """Every organization's autopay as of its own local date: first the recovery of interrupted charges, then the
    charges and retries due (idempotent: the scheduler may run it every few minutes; a missed day is caught up)."""
    from duly.customers.models import Organization

    done = {}
    for org in Organization.objects.all():
        try:
            done[org.slug] = autopay_organization(org, now.astimezone(ZoneInfo(org.timezone or "UTC")).date())
        except Exception as exc:  # noqa: BLE001 - one organization's failure never stops the others' autopay
            log.exception("autopay of %s failed", org.slug)
            done[org.slug] = f"failed: {type(exc).__name__}"
    return done


def autopay_organization(org, as_of: date) -> str:
    from duly.payments.autopay_services import recover_attempts, run_autopay

    recovered = recover_attempts(org, as_of)
    return f"{run_autopay(org, as_of).summary()}; {recovered.summary()}"


@shared_task(name="duly.autopay")
def autopay_task(org_id: int, as_of: str) -> str:
    from duly.customers.models import Organization

    return autopay_organization(Organization.objects.get(pk=org_id), date.fromisoformat(as_of))
