"""Writes of usage: recording usage events and licence counts (each function owns its transaction).

The rules of what is recorded, and how a file is read, are in :mod:`duly.billing.ingest` (its module
notes: one record per idempotency key, a rejected row never stops the valid ones, late events flagged
for a late adjustment, licence counts of an invoiced period refused). This module only writes what
ingest validated: it locks the customers' subscriptions against a concurrent billing run, inserts the
new events (a savepoint undoes an insert that lost a race with a concurrent import), and upserts the
licence counts. :mod:`duly.billing.services` re-exports the three writers.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Callable, Iterable, Mapping

from django.db import IntegrityError, transaction
from django.utils import timezone

from duly.customers.models import Organization
from duly.db.fastpath import insert_rows
from duly.domain.bounds import DateWindow
from duly.domain.errors import ClosedPeriod, NotFound

from . import ingest
from .ingest import CHUNK_SIZE, UsageResult
from .models import BillingRecord, LicenceSnapshot, Subscription, UsageEvent

__all__ = ["record_licence_counts", "record_usage", "record_usage_event"]
EVENT_COLUMNS = ("organization_id", "customer_id", "subscription_id", "metric_id", "idempotency_key", "timestamp",
                 "value", "properties", "recorded_at", "late")

#: The exact text a value is stored as (DecimalTextField: the fast path passes text columns as they are).
_stored_value = UsageEvent._meta.get_field("value").get_prep_value


def _record_chunk(ctx: ingest._Context, raws: list[tuple[int, Mapping]], result: UsageResult,
                  recorded_at: datetime, *, strict: bool) -> int:
    """Record the valid new events of a chunk; returns how many were inserted."""
    rows = ingest._validated_rows(ctx, raws, result, strict=strict)
    if not rows:
        return 0
    with transaction.atomic():
        # Serialise with a billing run of the same customers (PostgreSQL row locks; SQLite serialises writers):
        # an event is either billed by that run, or sees its record and is flagged late.
        # (The customers are the organization's: filtering on them alone uses the customer index.)
        list(Subscription.objects.select_for_update().filter(
            customer_id__in={r.customer_id for r in rows}).order_by("id").values_list("id"))
        pending = rows
        while True:
            fresh = ingest._unrecorded(ctx, pending, result, strict=strict)
            windows = ingest._closed_windows(ctx.org, fresh)
            # Plain rows through the ORM fast path (values adapted once per column, no model instances).
            events = [(ctx.org.pk, row.customer_id, row.subscription_id, row.metric_id, row.key, row.timestamp,
                       _stored_value(row.value), row.properties, recorded_at, ingest._is_late(row, windows)) for row in fresh]
            try:
                with transaction.atomic():  # a savepoint: a conflict undoes this insert only
                    insert_rows(UsageEvent, EVENT_COLUMNS, events)
            except IntegrityError:
                # A concurrent import recorded some of these keys since they were read: read them again, and
                # count each as a duplicate (or reject it) as if it had been there before.
                if not UsageEvent.objects.filter(organization=ctx.org,
                                                 idempotency_key__in=[r.key for r in fresh]).exists():
                    raise
                pending = fresh
                continue
            break
        # Every event counted as accepted was inserted by this import (none was silently ignored).
        result.accepted += len(events)
        result.late += sum(e[-1] for e in events)
    return len(events)


def record_usage(org: Organization, events: Iterable[Mapping], *, recorded_at: datetime | None = None,
                 chunk_size: int = CHUNK_SIZE, progress: Callable[[int], None] | None = None,
                 window: DateWindow | None = None) -> UsageResult:
    """Record usage events; returns accepted/duplicate/rejected counts with line numbers and reasons.

    ``events`` yields mappings with ``idempotency_key`` (or ``key``), ``customer`` (code), ``metric``
    (code), ``timestamp`` (ISO 8601 with offset, or an aware datetime), ``value`` (a non-negative
    number, at most 6 decimals), optional ``properties`` (object) and ``subscription`` (id). A row
    may carry its source line as ``(line, mapping)``; otherwise rows are numbered from 1.
    ``progress(n)`` is called with the number of rows handled after each chunk. ``window``: the
    organization's window of business dates (:mod:`duly.domain.bounds`); an event whose day (in its
    customer's time zone) lies outside it is rejected (``date_outside_window``). Every timestamp must
    lie within the absolute bounds (``date_out_of_range``).
    """
    ctx = ingest._Context(org, window)
    result = UsageResult()
    recorded_at = recorded_at or timezone.now()
    chunk: list[tuple[int, Mapping]] = []
    done = 0
    for n, item in enumerate(events, 1):
        chunk.append(item if isinstance(item, tuple) else (n, item))
        if len(chunk) >= chunk_size:
            _record_chunk(ctx, chunk, result, recorded_at, strict=False)
            done += len(chunk)
            chunk = []
            if progress:
                progress(done)
    if chunk:
        _record_chunk(ctx, chunk, result, recorded_at, strict=False)
        done += len(chunk)
        if progress:
            progress(done)
    return result


def record_usage_event(org: Organization, *, idempotency_key: str, customer: str, metric: str,
                       timestamp: datetime | str, value: Decimal | int | str, properties: Mapping | None = None,
                       subscription: int | None = None, recorded_at: datetime | None = None) -> UsageResult:
    """Record one event, raising the error of a bad one (unknown metric, invalid value...). Nothing partial."""
    ctx = ingest._Context(org)
    result = UsageResult()
    raw = {"idempotency_key": idempotency_key, "customer": customer, "metric": metric, "timestamp": timestamp,
           "value": value, "properties": dict(properties or {}), "subscription": subscription}
    _record_chunk(ctx, [(1, raw)], result, recorded_at or timezone.now(), strict=True)
    return result


@transaction.atomic
def record_licence_counts(org: Organization, subscription: Subscription, counts: Mapping[date, int]) -> int:
    """Store the active-seat count of each day (replacing a count recorded before). Returns the days stored."""
    if subscription.organization_id != org.id:
        raise NotFound(f"Subscription {subscription.pk} not found in {org.name}.")
    rows = ingest._licence_rows(org, subscription, counts)
    if not rows:
        return 0
    closed = (
        BillingRecord.objects.filter(subscription=subscription, usage_start__isnull=False,
                                     usage_start__lte=rows[-1].day, usage_end__gt=rows[0].day)
        .order_by("usage_start").values_list("usage_start", "usage_end")
    )
    for start, end in closed:
        for row in rows:
            if start <= row.day < end:
                raise ClosedPeriod(
                    f"The licence count of {row.day.isoformat()} belongs to a period that was already invoiced "
                    f"({start.isoformat()} to {(end - timedelta(days=1)).isoformat()}); correct that invoice "
                    "with a credit note instead.", day=row.day.isoformat())
    LicenceSnapshot.objects.bulk_create(rows, update_conflicts=True, unique_fields=["subscription", "day"],
                                        update_fields=["active_count"])
    return len(rows)
