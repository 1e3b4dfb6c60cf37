"""The billing run at the size of a real batch: more subscriptions and meters than SQLite takes in one expression."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from duly.billing import services
from duly.billing.models import LicenceSnapshot, Subscription, SubscriptionItem
from duly.customers.models import Contract, Customer
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db

#: Customers in one batch; each has two licence subscriptions (1,010 of them) and two time-weighted meters.
N = 505


def _seed(org):
    """N customers, each with a seat subscription and a seat + meters subscription, billed monthly in arrears.

    Written in bulk (seeding); the subscriptions' cursors are set as create_subscription sets them.
    """
    seats = services.create_product(org, code="SEATS", name="Seats", tax_rate=Decimal("20"))
    gauges = services.create_product(org, code="GAUGE", name="Reserved capacity", tax_rate=Decimal("20"))
    licence = services.create_price(org, seats, code="seat-avg", currency="EUR", quantity_source="licences",
                                    model_config={"model": "per_unit", "unit_price": "10.00"})
    metered = [
        services.create_price(
            org, gauges, code=f"{code}-avg", currency="EUR", quantity_source="usage", model_config={
                "model": "per_unit", "unit_price": "1.00"},
            metric=services.create_metric(org, code=code, name=code, aggregation="time_weighted_average"))
        for code in ("vcpu", "gb_ram")
    ]
    customers = Customer.objects.bulk_create([
        Customer(organization=org, code=f"S{i:04}", name=f"Scale {i} SAS", address_line1="1 rue A", city="Lyon",
                 postcode="69002", country="FR", currency="EUR", locale="fr_FR", timezone="Europe/Paris")
        for i in range(N)])
    contracts = Contract.objects.bulk_create([
        Contract(organization=org, customer=c, reference=f"CT-{c.code}", currency="EUR", start_date=date(2026, 1, 1))
        for c in customers])
    subs = Subscription.objects.bulk_create([
        Subscription(organization=org, customer=c, contract=k, currency="EUR", interval="monthly", anchor_day="1",
                     timing="arrears", start_date=date(2026, 1, 1), next_bill_on=date(2026, 2, 1),
                     reference=f"{c.code}-{n}")
        for c, k in zip(customers, contracts) for n in (1, 2)])
    items = [SubscriptionItem(organization=org, subscription=s, price=licence, starts_on=date(2026, 1, 1))
             for s in subs]
    items += [SubscriptionItem(organization=org, subscription=s, price=p, starts_on=date(2026, 1, 1))
              for s in subs[1::2] for p in metered]
    SubscriptionItem.objects.bulk_create(items)
    # January: 5 seats from the 10th on each subscription; each meter at 4 from 15 January.
    LicenceSnapshot.objects.bulk_create([
        LicenceSnapshot(organization=org, customer_id=s.customer_id, subscription=s, day=date(2026, 1, 10),
                        active_count=5) for s in subs])
    result = services.record_usage(org, [
        {"idempotency_key": f"{c.code}-{m}", "customer": c.code, "metric": m, "value": "4",
         "timestamp": datetime(2026, 1, 15, tzinfo=timezone.utc)}
        for c in customers for m in ("vcpu", "gb_ram")])
    assert result.accepted == 2 * N
    return customers


def test_a_batch_of_over_a_thousand_licence_subscriptions_and_meters_is_billed_month_after_month(org, bill):
    customers = _seed(org)
    january = services.run_billing(org, date(2026, 2, 1), batch_size=N)
    assert (january.invoices, january.slots, january.skipped) == (N, 2 * N, [])
    # February has no new snapshot or event: every window opens with the level January left (one read
    # per subscription and meter, which a batch of this size used to turn into one giant SQL expression).
    february = services.run_billing(org, date(2026, 3, 1), batch_size=N)
    assert (february.invoices, february.slots, february.skipped) == (N, 2 * N, [])
    invoice = Invoice.objects.get(customer=customers[-1], issue_date=date(2026, 3, 1))
    assert sorted((line.description, line.net_minor) for line in invoice.lines.all()) == [
        ("Reserved capacity\u00a0: moyenne de 4,0 gb_ram, 1er–28 février 2026", 400),
        ("Reserved capacity\u00a0: moyenne de 4,0 vcpu, 1er–28 février 2026", 400),
        ("Seats\u00a0: moyenne de 5,0 postes actifs, 1er–28 février 2026", 5000),
        ("Seats\u00a0: moyenne de 5,0 postes actifs, 1er–28 février 2026", 5000),
    ]
    # 2 × 50.00 + 2 × 4.00 = 108.00, + 20% VAT.
    assert february.by_currency["EUR"]["total_minor"] == N * 12960
    assert services.run_billing(org, date(2026, 3, 1)).invoices == 0
