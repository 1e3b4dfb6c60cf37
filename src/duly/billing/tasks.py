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


@shared_task(name="duly.bill_partition")
def bill_partition_task(org_id: int, as_of: str, index: int, count: int, batch_size: int | None = None) -> dict:
    """One partition of a billing run (:mod:`duly.scaleout`): the customers whose id % count == index, planned in
    this process (a Celery pool process may not fork). Idempotent: a retried partition bills what is left."""
    from duly.billing.run import BATCH_SIZE, run_billing
    from duly.customers.models import Organization

    result = run_billing(Organization.objects.get(pk=org_id), date.fromisoformat(as_of), workers=1,
                         partition=(index, count), batch_size=batch_size or BATCH_SIZE)
    return {**result.as_dict(), "numbers": len(result.numbers)}
