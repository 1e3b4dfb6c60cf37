"""Thin scheduler/Celery wrappers around the billing run."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from celery import shared_task


def scheduled_billing(now: datetime) -> None:
    """Bill every organization as of its own local date (``duly serve`` runs this; it is idempotent)."""
    from duly.billing.services import run_billing
    from duly.customers.models import Organization

    for org in Organization.objects.all():
        run_billing(org, now.astimezone(ZoneInfo(org.timezone or "UTC")).date())


@shared_task(name="duly.run_billing")
def run_billing_task(org_id: int, as_of: str) -> dict:
    from duly.billing.services import run_billing
    from duly.customers.models import Organization

    return run_billing(Organization.objects.get(pk=org_id), date.fromisoformat(as_of)).as_dict()
