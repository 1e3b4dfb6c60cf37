"""Partitions of a run by customer: ``(index, count)`` keeps the customers whose id modulo ``count`` is ``index``.

A scaled-out run (:mod:`duly.scaleout`) splits the customers of an organization into ``count`` partitions,
one Celery task each; every customer is in exactly one partition, whatever ids exist (no range to rebalance),
and each service that takes ``partition`` filters where it selects its customers with one of these helpers.
``None`` means every customer (the one-process run).
"""

from __future__ import annotations

from typing import Iterable

from django.db.models import F, QuerySet
from django.db.models.lookups import Exact

Partition = tuple[int, int]


def check(partition: Partition | None) -> Partition | None:
    """The partition, validated (``0 <= index < count``), or None."""
    if partition is None:
        return None
    index, count = (int(v) for v in partition)
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"a partition is (index, count) with 0 <= index < count, not {partition!r}")
    return index, count


def contains(partition: Partition | None, customer_id: int) -> bool:
    return partition is None or customer_id % partition[1] == partition[0]


def only(partition: Partition | None, customer_ids: Iterable[int]) -> list[int]:
    """The ids of ``customer_ids`` in the partition, in their order."""
    if partition is None or partition[1] == 1:
        return list(customer_ids)
    index, count = check(partition)
    return [c for c in customer_ids if c % count == index]


def filter_queryset(qs: QuerySet, partition: Partition | None, field: str = "customer_id") -> QuerySet:
    """``qs`` restricted to the rows whose ``field`` (a customer id) falls in the partition (``field % count =
    index`` in SQL, on SQLite and PostgreSQL alike)."""
    if partition is None or partition[1] == 1:
        return qs
    index, count = check(partition)
    return qs.filter(Exact(F(field) % count, index))
