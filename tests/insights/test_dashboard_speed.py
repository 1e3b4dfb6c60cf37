"""The dashboard's faster reads give the very figures of the reads they replaced (same seeded ledgers)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Sum
from django.db.models.functions import TruncDate

from duly.domain import kpis
from duly.domain.money import from_minor
from duly.insights import dashboard
from duly.insights.services import ISSUED_STATUSES
from duly.invoicing import services as inv
from duly.invoicing.models import Invoice

from .test_dashboard import issue

pytestmark = pytest.mark.django_db


def _credit_sales_before(org, periods):
    """credit_sales as it was: every issued invoice's void time converted to a local day."""
    tz = ZoneInfo(org.timezone)
    rows = (Invoice.objects.filter(organization=org, status__in=ISSUED_STATUSES,
                                   issue_date__gte=min(p.start for p in periods),
                                   issue_date__lte=max(p.end for p in periods)).order_by()
            .annotate(void_day=TruncDate("voided_at", tzinfo=tz))
            .values("issue_date", "currency", "kind", "status", "void_day").annotate(s=Sum("total_minor")))
    out = defaultdict(Decimal)
    for r in rows:
        sign = -1 if r["kind"] == Invoice.KIND_CREDIT_NOTE else 1
        for i, p in enumerate(periods):
            if not p.start <= r["issue_date"] <= p.end:
                continue
            if r["status"] == Invoice.VOID and (r["void_day"] is None or r["void_day"] <= p.end):
                continue
            out[(i, r["currency"])] += sign * from_minor(r["s"] or 0, r["currency"])
    return dict(out)


def test_credit_sales_and_the_covering_index_change_no_figure(org, customer, contract, monkeypatch):
    as_of = date(2026, 6, 30)
    for n, day in enumerate([date(2026, 1, 5), date(2026, 2, 27), date(2026, 3, 31)]):
        issue(org, customer, str(100 + n), day, contract)
    # Voided late in the evening (UTC) of a month's last day: the next day in Paris, the month after.
    voided = issue(org, customer, "70", date(2026, 4, 10), contract)
    for n, day in enumerate([date(2026, 5, 2), date(2026, 6, 1)]):
        issue(org, customer, str(200 + n), day, contract)
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(2026, 4, 30, 22, 30, tzinfo=timezone.utc))
    inv.void_invoice(org, voided.pk, reason="entered twice")
    monkeypatch.undo()
    periods = [*kpis.month_periods(as_of, 12), kpis.last_month(as_of), kpis.last_quarter(as_of)]
    assert dashboard.credit_sales(org, periods) == _credit_sales_before(org, periods)
    assert any(v for (i, _), v in dashboard.credit_sales(org, periods).items() if periods[i].label.endswith("04"))
    if connection.vendor == "sqlite":  # the grouped reads use the dashboard's covering index
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND name = %s",
                           ["insights_dashboard_invoice_cover"])
            assert cursor.fetchone()
