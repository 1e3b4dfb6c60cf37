"""Property: whatever happens inside an invoiced period, the customer pays for the days they had.

Flat 100.00 + seats at 10.00 a month, April (30 days) invoiced in advance on 1 April. Then, in date
order: pauses (with a resume date, or open and resumed later), seat changes and, perhaps, an
immediate cancellation. Summing the April invoice, every credit note and every prorated charge left
for the next invoice gives, within one cent per line, the daily prices of the days that were active
and not paused: (100.00 + 10.00 × seats that day) / 30 for each such day.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duly.billing import services
from duly.billing.models import PendingCharge
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db

APRIL_1 = date(2026, 4, 1)
DAYS = 30


def _day(n: int) -> date:
    return APRIL_1 + timedelta(days=n)


@st.composite
def april_events(draw):
    """Non-overlapping pauses, seat changes and an optional cancellation, as (day, kind, ...) in date order."""
    events = []
    cursor = 1
    for _ in range(draw(st.integers(0, 2))):
        if cursor >= DAYS - 1:
            break
        start = draw(st.integers(cursor, DAYS - 2))
        resume = draw(st.integers(start + 1, DAYS))
        events.append((start, "pause", resume, draw(st.booleans())))  # True: open pause, resumed on `resume`
        cursor = resume + 1
    for _ in range(draw(st.integers(0, 3))):
        events.append((draw(st.integers(1, DAYS - 1)), "seats", draw(st.integers(1, 20)), None))
    if draw(st.booleans()):
        events.append((draw(st.integers(1, DAYS - 1)), "cancel", None, None))
    # Cancellation last on its day; a cancellation ends everything after it.
    events.sort(key=lambda e: (e[0], e[1] == "cancel"))
    cancel = next((e[0] for e in events if e[1] == "cancel"), None)
    return [e for e in events if cancel is None or e[0] < cancel or e[1] == "cancel"]


def _expected_minor(events) -> Decimal:
    seats = {d: 10 for d in range(DAYS)}
    active = {d: True for d in range(DAYS)}
    for day, kind, value, _ in events:
        if kind == "seats":
            for d in range(day, DAYS):
                seats[d] = value
        elif kind == "pause":
            for d in range(day, min(value, DAYS)):
                active[d] = False
        else:
            for d in range(day, DAYS):
                active[d] = False
    return sum((Decimal(10000 + 1000 * seats[d]) / DAYS for d in range(DAYS) if active[d]), Decimal(0))


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=april_events())
def test_what_is_billed_is_the_price_of_the_active_unpaused_days(org, customer, contract, catalog, bill, events):
    with transaction.atomic():
        sub = services.create_subscription(org, customer, [(catalog["flat"], 1), (catalog["per_unit"], 10)],
                                           start_date=APRIL_1, as_of=APRIL_1)
        bill(APRIL_1)
        for day, kind, value, open_pause in events:
            on = _day(day)
            if kind == "pause":
                if open_pause:
                    services.pause_subscription(org, sub, starts_on=on, as_of=on)
                    if value < DAYS:
                        services.resume_subscription(org, sub, on=_day(value), as_of=_day(value))
                else:
                    services.pause_subscription(org, sub, starts_on=on, resumes_on=_day(value), as_of=on)
            elif kind == "seats":
                seats = sub.items.filter(price=catalog["per_unit"], starts_on__lte=on).exclude(
                    ends_on__lte=on).get()
                if seats.quantity != value:
                    services.change_item(org, sub, seats.pk, quantity=value, on=on, as_of=on)
            else:
                services.cancel_subscription(org, sub, on=on, as_of=on, at_period_end=False)

        billed, lines = 0, 0
        for invoice in Invoice.objects.filter(customer=customer).prefetch_related("lines"):
            sign = -1 if invoice.kind == Invoice.KIND_CREDIT_NOTE else 1
            for line in invoice.lines.all():
                billed += sign * line.net_minor
                lines += 1
        for pending in PendingCharge.objects.filter(customer=customer, invoice__isnull=True):
            billed += pending.amount_minor
            lines += 1
        expected = _expected_minor(events)
        assert abs(billed - expected) <= lines, (billed, expected, lines, events)
        transaction.set_rollback(True)
