"""Thin Celery/scheduler wrappers around the collections services."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from celery import shared_task


def scheduled_late_fees(now: datetime) -> None:
    """The batch path of late fees, NOT in the default schedule: it charges every contract's fee
    after its grace days, whatever the dunning policy (the default assesses fees at the policy's
    fee step, inside :func:`scheduled_collect`). Add it to ``DULY_SCHEDULED_JOBS`` only to opt in."""
    from duly.collections.services import assess_late_fees
    from duly.customers.models import Organization

    for org in Organization.objects.all():
        assess_late_fees(org, as_of=now.astimezone(ZoneInfo(org.timezone)).date())


def scheduled_collect(now: datetime) -> None:
    """The dunning run of every organization (idempotent: the scheduler may run it every few minutes)."""
    from duly.collections.services import collect
    from duly.customers.models import Organization

    for org in Organization.objects.all():
        collect(org, as_of=now)


@shared_task(name="duly.assess_late_fees")
def assess_late_fees_task(org_id: int, as_of: str) -> dict:
    from datetime import date

    from duly.collections.services import assess_late_fees
    from duly.customers.models import Organization

    return assess_late_fees(Organization.objects.get(pk=org_id), as_of=date.fromisoformat(as_of)).as_dict()


@shared_task(name="duly.collect")
def collect_task(org_id: int, as_of: str) -> dict:
    from duly.collections.services import collect
    from duly.customers.models import Organization

    return collect(Organization.objects.get(pk=org_id), as_of=datetime.fromisoformat(as_of)).counts()


@shared_task(name="duly.collect_partition")
def collect_partition_task(org_id: int, as_of: str, index: int, count: int, dry_run: bool = False) -> dict:
    """The reminders of one partition of a dunning run (:mod:`duly.scaleout`; idempotent: a retried partition
    finds what it already did by its keys)."""
    from duly.collections.services import collect
    from duly.customers.models import Organization

    return collect(Organization.objects.get(pk=org_id), as_of=datetime.fromisoformat(as_of), dry_run=dry_run,
                   partition=(index, count)).counts()


def finish_collect(org_id: int, as_of: str, dry_run: bool = False) -> dict:
    """What a dunning run does after every customer's reminders (restore cleared suspensions, the invoices not
    sent yet, price notices, greetings), once all its partitions are done (:mod:`duly.scaleout`)."""
    from duly.collections.services import collect
    from duly.customers.models import Organization

    return collect(Organization.objects.get(pk=org_id), as_of=datetime.fromisoformat(as_of), dry_run=dry_run,
                   customer_ids=[]).counts()


@shared_task(name="duly.collect_finish")
def collect_finish_task(partitions: list, org_id: int, as_of: str, dry_run: bool = False) -> dict:
    """The chord callback of a partitioned dunning run: ``partitions`` are the partitions' counts."""
    done = finish_collect(org_id, as_of, dry_run)
    return {key: sum(p.get(key, 0) for p in partitions) + value for key, value in done.items()}


@shared_task(name="duly.fees_partition")
def fees_partition_task(org_id: int, as_of: str, index: int, count: int) -> dict:
    from datetime import date

    from duly.collections.services import assess_late_fees
    from duly.customers.models import Organization

    return assess_late_fees(Organization.objects.get(pk=org_id), as_of=date.fromisoformat(as_of),
                            partition=(index, count)).as_dict()
