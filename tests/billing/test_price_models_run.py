"""Every price model and aggregation, billed through the run: what the invoice line says and charges."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest

from duly.billing import services
from duly.billing.models import BillingRecord
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db


def _lines(invoice):
    return {line.description: line for line in invoice.lines.order_by("position")}


def test_time_weighted_average_and_unique_count_through_the_run(org, customer, contract, bill):
    gauge = services.create_product(org, code="VCPU", name="Reserved vCPUs", tax_rate=Decimal("20"))
    seats = services.create_product(org, code="USERS", name="Active users", tax_rate=Decimal("20"))
    vcpus = services.create_metric(org, code="vcpus", name="vCPUs", aggregation="time_weighted_average")
    users = services.create_metric(org, code="users", name="users", aggregation="unique_count",
                                   property_name="user")
    services.create_subscription(org, customer, [
        (services.create_price(org, gauge, code="vcpu", currency="EUR", quantity_source="usage", metric=vcpus,
                               model_config={"model": "per_unit", "unit_price": "2.00"}), 1),
        (services.create_price(org, seats, code="users", currency="EUR", quantity_source="usage", metric=users,
                               model_config={"model": "graduated", "tiers": [
                                   {"up_to": "2", "unit_price": "0"}, {"up_to": None, "unit_price": "5.00"}]}), 1),
    ], start_date=date(2026, 3, 1), as_of=date(2026, 3, 1), timing="arrears")

    def ev(key, metric, ts, value="1", **props):
        return {"idempotency_key": key, "customer": "ACME", "metric": metric, "timestamp": ts, "value": value,
                "properties": props}

    result = services.record_usage(org, [
        ev("v0", "vcpus", "2026-02-20T09:00:00Z", "6"),   # before the subscription: the level March opens with
        ev("v1", "vcpus", "2026-03-05T23:00:00Z", "10"),  # 6 March, 00:00 in Paris
        ev("v2", "vcpus", "2026-03-15T23:00:00Z", "20"),  # 16 March, 00:00 in Paris
        ev("v3", "vcpus", "2026-03-31T22:00:00Z", "99"),  # 1 April, 00:00 in Paris (summer time): April's
        ev("u1", "users", "2026-03-02T10:00:00Z", user="ana"),
        ev("u2", "users", "2026-03-03T10:00:00Z", user="ben"),
        ev("u3", "users", "2026-03-09T10:00:00Z", user="ana"),
        ev("u4", "users", "2026-03-10T10:00:00Z", user="cho"),
        ev("u5", "users", "2026-03-11T10:00:00Z"),         # no user: not counted
        ev("u6", "users", "2026-03-31T22:30:00Z", user="dan"),  # 1 April in Paris
    ])
    assert result.accepted == 10
    bill(date(2026, 4, 1))
    lines = _lines(Invoice.objects.get(customer=customer))
    # Paris local days, 1 March 00:00 CET to 1 April 00:00 CEST: 743 hours (the clocks go forward on 29 March).
    # 120 h at 6, 240 h at 10, 383 h at 20: 10,780 vCPU-hours / 743 h = 14.5087483… → 14.508748 vCPUs.
    average = (Decimal(10780) / Decimal(743)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    assert average == Decimal("14.508748")
    vcpu = lines["Reserved vCPUs\u00a0: moyenne de 14,5 vCPUs, 1er–31 mars 2026"]
    assert (vcpu.quantity, vcpu.unit_price, vcpu.net_minor) == (average, Decimal("2"), 2902)  # 29.017496
    # ana, ben, cho: 3 users, the first 2 free.
    user = lines["Active users\u00a0: 3 users distincts, 1er–31 mars 2026"]
    assert user.net_minor == 500 and "2 × 0,00 + 1 × 5,00" in user.explanation
    assert BillingRecord.objects.get().usage == {
        "vcpus": {"quantity": "14.508748", "amount": "29.02"}, "users": {"quantity": "3", "amount": "5.00"}}

    bill(date(2026, 5, 1))
    april = _lines(Invoice.objects.get(customer=customer, issue_date=date(2026, 5, 1)))
    assert april["Reserved vCPUs\u00a0: moyenne de 99,0 vCPUs, 1er–30 avril 2026"].net_minor == 19800
    assert april["Active users\u00a0: 1 users distincts, 1er–30 avril 2026"].net_minor == 0


@pytest.fixture
def models(org):
    """Volume seats (recurring), package storage and an API minimum commitment (metered)."""
    seats = services.create_product(org, code="SEATS", name="Seats", tax_rate=Decimal("20"))
    storage = services.create_product(org, code="STORE", name="Storage", tax_rate=Decimal("20"))
    api = services.create_product(org, code="API", name="API calls", tax_rate=Decimal("20"))
    gb = services.create_metric(org, code="storage_gb", name="GB", aggregation="max")
    calls = services.create_metric(org, code="api_calls", name="API calls", aggregation="sum")
    return {
        "volume": services.create_price(org, seats, code="seat-volume", currency="EUR", model_config={
            "model": "volume",
            "tiers": [{"up_to": "10", "unit_price": "12.00"}, {"up_to": None, "unit_price": "9.00"}]}),
        "package": services.create_price(org, storage, code="storage", currency="EUR", quantity_source="usage",
                                         metric=gb, model_config={"model": "package", "package_size": "100",
                                                                  "amount": "5.00", "free_units": "50"}),
        "minimum": services.create_price(org, api, code="api-min", currency="EUR", quantity_source="usage",
                                         metric=calls, model_config={
                                             "model": "minimum_commitment", "minimum": "25.00",
                                             "charge": {"model": "per_unit", "unit_price": "0.001"}}),
    }


def test_volume_package_and_minimum_commitment_through_the_run_to_a_partial_last_period(
        org, customer, contract, models, bill):
    services.create_subscription(org, customer, [(models["volume"], 12), (models["package"], 1),
                                                 (models["minimum"], 1)],
                                 start_date=date(2026, 1, 1), end_date=date(2026, 3, 11), as_of=date(2026, 1, 1),
                                 timing="arrears")

    def usage(key, metric, day, value):
        return {"idempotency_key": key, "customer": "ACME", "metric": metric, "value": value,
                "timestamp": f"2026-{day}T12:00:00Z"}

    services.record_usage(org, [
        usage("g1", "storage_gb", "01-10", "120"), usage("g2", "storage_gb", "01-20", "320"),
        usage("a1", "api_calls", "01-15", "12000"),
        usage("g3", "storage_gb", "02-10", "50"), usage("a2", "api_calls", "02-15", "30000"),
        usage("g4", "storage_gb", "03-05", "151"), usage("a3", "api_calls", "03-05", "4000"),
    ])
    bill(date(2026, 2, 1), date(2026, 3, 11))
    jan, feb, mar = Invoice.objects.filter(customer=customer).order_by("issue_date")
    assert [i.issue_date for i in (jan, feb, mar)] == [date(2026, 2, 1), date(2026, 3, 1), date(2026, 3, 11)]

    january = _lines(jan)
    # Volume: 12 seats fall in the second tier, so all 12 are priced at 9.00.
    seats = january["Seats × 12, 1er–31 janvier 2026"]
    assert seats.net_minor == 10800 and "12 × 9,00" in seats.explanation
    # Package: peak 320 GB, 50 free, 270 in blocks of 100 rounded up: 3 × 5.00.
    assert january["Storage\u00a0: pic de 320 GB, 1er–31 janvier 2026"].net_minor == 1500
    # Minimum commitment: 12,000 calls × 0.001 = 12.00, raised to the 25.00 minimum.
    api = january["API calls\u00a0: total de 12\u202f000 API calls, 1er–31 janvier 2026"]
    assert api.net_minor == 2500 and "complément 13,00 (engagement minimum de 25,00)" in api.explanation

    february = _lines(feb)
    assert february["API calls\u00a0: total de 30\u202f000 API calls, 1er–28 février 2026"].net_minor == 3000  # minimum met
    assert february["Storage\u00a0: pic de 50 GB, 1er–28 février 2026"].net_minor == 0  # all free

    march = _lines(mar)  # service ends on 11 March: the last period is 1–10 March, 10 of 31 days
    assert march["Seats × 12, 1er–10 mars 2026"].net_minor == 3484  # 108.00 × 10/31
    assert march["Storage\u00a0: pic de 151 GB, 1er–10 mars 2026"].net_minor == 1000  # 101 GB: 2 blocks
    api = march["API calls\u00a0: total de 4\u202f000 API calls, 1er–10 mars 2026"]
    # The minimum is per period: 25.00 × 10/31 = 8.06 for this part; 4.00 used, 4.06 true-up.
    assert api.net_minor == 806
    assert api.explanation.startswith("engagement minimum pour 10 sur 31 jours : 25,00\u00a0€ × 10/31 = 8,06\u00a0€ ; ")
    assert "complément 4,06 (engagement minimum de 8,06)" in api.explanation

    # Late calls for that part are priced against the same prorated minimum: 9,000 × 0.001 = 9.00 − 8.06.
    services.record_usage(org, [usage("late", "api_calls", "03-08", "5000")])
    late = bill(date(2026, 3, 20))
    adjustment = Invoice.objects.get(pk=Invoice.objects.filter(customer=customer).latest("id").pk)
    assert late.invoices == 1
    assert [(line.description, line.net_minor) for line in adjustment.lines.all()] == [
        ("Régularisation d'utilisation tardive — API calls, 1er–10 mars 2026", 94)]
    assert "Facturé : 4\u202f000 → désormais 9\u202f000 : 9,00 − 8,06 = 0,94." in adjustment.lines.get().explanation
