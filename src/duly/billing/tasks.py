"""Thin scheduler/Celery wrappers around the billing run."""

from __future__ import annotations

from datetime import date, datetime

from celery import shared_task


def scheduled_billing(now: datetime):
    """Bill every organization as of its own local date (``duly serve`` runs this daily; it is idempotent)."""
    from duly.billing.services import bill_all_organizations

    return bill_all_organizations(now)


@shared_task(name="duly.run_billing")
def run_billing_task(org_id: int, as_of: str) -> dict:
    from duly.billing.services import run_billing
    from duly.customers.models import Organization

    return run_billing(Organization.objects.get(pk=org_id), date.fromisoformat(as_of)).as_dict()
