"""Partitions and the beat cycle, without workers: every customer falls in exactly one partition, and a cycle is
built from settings.DULY_SCHEDULED_JOBS in their order."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from duly.db import partition


def test_every_customer_is_in_exactly_one_partition():
    ids = list(range(1, 5000, 7)) + [10**9 + 3]
    for count in (1, 2, 3, 8, 32):
        parts = [partition.only((i, count), ids) for i in range(count)]
        assert sorted(c for p in parts for c in p) == sorted(ids)
        assert all(partition.contains((i, count), c) for i, p in enumerate(parts) for c in p)


@pytest.mark.parametrize("bad", [(2, 2), (-1, 2), (0, 0)])
def test_a_partition_outside_its_count_is_refused(bad):
    with pytest.raises(ValueError):
        partition.check(bad)


@pytest.mark.django_db
def test_the_database_filter_keeps_the_same_customers_as_the_python_one(org):
    from duly.customers.models import Customer

    for i in range(12):
        Customer.objects.create(organization=org, code=f"P{i}", name=f"P{i}", currency="EUR", country="FR")
    ids = list(Customer.objects.values_list("id", flat=True))
    for index in range(3):
        kept = partition.filter_queryset(Customer.objects.all(), (index, 3), "id").values_list("id", flat=True)
        assert sorted(kept) == partition.only((index, 3), sorted(ids))


@pytest.mark.django_db
def test_a_beat_cycle_runs_the_scheduled_jobs_in_order_each_partitioned_for_every_organization(org, settings):
    from duly import scaleout

    now = datetime(2026, 2, 1, 6, 0, tzinfo=timezone.utc)
    billing = scaleout._stage("duly.billing.tasks.scheduled_billing", now, 4)
    assert [(s.task, s.args[2:4]) for s in billing] == [("duly.bill_partition", (i, 4)) for i in range(4)]
    assert billing[0].args[:2] == (org.id, "2026-02-01")  # the organization's local date (Paris: 07:00)
    collect = scaleout._stage("duly.collections.tasks.scheduled_collect", now, 2)
    assert [s.task for s in collect] == ["duly.collect_partition"] * 2
    purge = scaleout._stage("duly.api.tasks.scheduled_purge", now, 4)
    assert [(s.task, s.args) for s in purge] == [("duly.scheduled_job", ("duly.api.tasks.scheduled_purge",
                                                                         now.isoformat()))]
    assert set(scaleout.PARTITIONED) <= set(settings.DULY_SCHEDULED_JOBS) | {
        "duly.collections.tasks.scheduled_late_fees"}  # the batch path of late fees is opt-in


def test_partition_results_combine_into_one():
    combined = scaleout_combine([{"invoices": 2, "skipped": [["C1", "why"]], "as_of": "2026-02-01"},
                                 {"invoices": 3, "skipped": [], "as_of": "2026-02-01"}])
    assert combined == {"invoices": 5, "skipped": [["C1", "why"]], "as_of": ["2026-02-01"]}


def scaleout_combine(results):
    from duly.scaleout import combine

    return combine(results)
