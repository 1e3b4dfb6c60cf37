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


@shared_task(name="duly.autopay_partition")
def autopay_partition_task(org_id: int, as_of: str, index: int, count: int) -> str:
    """One partition of an organization's autopay: recovery of its interrupted charges, then the charges due."""
    from duly.customers.models import Organization
    from duly.payments.autopay_services import recover_attempts, run_autopay

    org, day = Organization.objects.get(pk=org_id), date.fromisoformat(as_of)
    recovered = recover_attempts(org, day, partition=(index, count))
    return f"{run_autopay(org, day, partition=(index, count)).summary()}; {recovered.summary()}"


@shared_task(name="duly.reconcile")
def reconcile_task(org_id: int, as_of: str) -> dict:
    """Reconciliation of an organization's new statement lines. Not partitioned: a line is matched against every
    open item of the organization (its customer is known only once matched)."""
    from dataclasses import asdict

    from duly.customers.models import Organization
    from duly.payments.reconcile_services import reconcile

    return asdict(reconcile(Organization.objects.get(pk=org_id), as_of=date.fromisoformat(as_of)))
