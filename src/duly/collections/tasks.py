"""Thin Celery/scheduler wrappers around the collections services."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task


def scheduled_late_fees(now: datetime) -> None:
    from duly.collections.services import assess_late_fees
    from duly.customers.models import Organization

    for org in Organization.objects.all():
        assess_late_fees(org, as_of=now.date())


@shared_task(name="duly.assess_late_fees")
def assess_late_fees_task(org_id: int, as_of: str) -> dict:
    from datetime import date

    from duly.collections.services import assess_late_fees
    from duly.customers.models import Organization

    return assess_late_fees(Organization.objects.get(pk=org_id), as_of=date.fromisoformat(as_of)).as_dict()
