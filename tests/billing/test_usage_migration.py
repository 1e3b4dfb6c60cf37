"""The migration to exact usage values converts the rows recorded before it, and can be undone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from duly.billing.models import UsageEvent

BEFORE = ("billing", "0003_usage_event_customer_index")
AFTER = ("billing", "0004_sec_input_usage_value_text")


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


@pytest.mark.django_db(transaction=True)
def test_existing_usage_values_are_converted_exactly(org, customer):
    from duly.billing.services import create_metric

    metric = create_metric(org, code="api_calls", name="API calls", aggregation="sum")
    migrate(BEFORE)
    try:
        table = connection.ops.quote_name("billing_usageevent")
        rows = {"whole": "123456789012345678", "decimals": "12.5", "tiny": "0.000001", "nines": "999999999999999999"}
        with connection.cursor() as cursor:
            for key, value in rows.items():
                cursor.execute(
                    f"INSERT INTO {table} (organization_id, customer_id, metric_id, idempotency_key, timestamp, value, "
                    "properties, recorded_at, late) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [org.pk, customer.pk, metric.pk, key, "2026-03-05 10:00:00", value, "{}", "2026-03-05 10:00:00",
                     False])
        migrate(AFTER)
        stored = dict(UsageEvent.objects.values_list("idempotency_key", "value"))
        assert stored["whole"] == Decimal("123456789012345678")  # SQLite kept this one as an exact integer
        assert stored["decimals"] == Decimal("12.5") and stored["tiny"] == Decimal("0.000001")
        # PostgreSQL kept 18 nines; SQLite had rounded them up to 10^18, carried over as the largest value below.
        assert stored["nines"] == Decimal("999999999999999999")

        migrate(BEFORE)  # and back
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT idempotency_key, CAST(value AS TEXT) FROM {table} WHERE idempotency_key = 'decimals'")
            assert Decimal(cursor.fetchone()[1]) == Decimal("12.5")
    finally:
        migrate(AFTER)
    assert date(2026, 3, 5) == UsageEvent.objects.get(idempotency_key="tiny").timestamp.date()
