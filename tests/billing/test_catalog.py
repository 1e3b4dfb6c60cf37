"""Catalog and subscription input: each mistake gets a clear error and records nothing."""

from __future__ import annotations

from datetime import date

import pytest

from duly.billing import services
from duly.billing.models import Metric, Price, Product, Subscription, SubscriptionItem
from duly.domain.errors import (
    CurrencyMismatch,
    InvalidPricing,
    InvalidSchedule,
    OverlappingTiers,
    UnknownAggregation,
    ValidationError,
)
from duly.invoicing.models import Invoice

pytestmark = pytest.mark.django_db


def test_overlapping_tiers_are_refused_with_the_tier_named(org):
    product = services.create_product(org, code="API", name="API calls")
    with pytest.raises(OverlappingTiers, match="tier 2 ends at 50, which is not above 100"):
        services.create_price(org, product, code="api", currency="EUR", model_config={
            "model": "graduated", "tiers": [{"up_to": "100", "unit_price": "1"}, {"up_to": "50", "unit_price": "0.5"},
                                            {"up_to": None, "unit_price": "0.1"}]})
    with pytest.raises(OverlappingTiers, match="only the last tier may be open"):
        services.validate_price_config({"model": "volume", "tiers": [{"up_to": None, "unit_price": "1"},
                                                                     {"up_to": "10", "unit_price": "2"}]})
    assert not Price.objects.exists()


def test_price_configurations_are_validated_and_stored_canonically(org):
    product = services.create_product(org, code="API", name="API calls")
    with pytest.raises(InvalidPricing, match="Unknown price model 'tiered'"):
        services.create_price(org, product, code="x", currency="EUR", model_config={"model": "tiered"})
    with pytest.raises(InvalidPricing, match="usage price"):
        services.create_price(org, product, code="pct", currency="EUR",
                              model_config={"model": "percentage", "rate": "2"})
    with pytest.raises(ValidationError, match="Unknown currency"):
        services.create_price(org, product, code="x", currency="EURO", model_config={"model": "flat", "amount": "1"})
    with pytest.raises(UnknownAggregation):
        services.create_metric(org, code="m", name="things", aggregation="median")
    price = services.create_price(org, product, code="api", currency="EUR", model_config={
        "model": "graduated", "tiers": [{"up_to": 10, "unit_price": "1.50"}, {"up_to": None, "unit_price": 1}]})
    assert price.model_config == {"model": "graduated", "tiers": [{"up_to": "10", "unit_price": "1.50"},
                                                                  {"up_to": None, "unit_price": "1"}]}
    assert Price.objects.count() == 1 and not Metric.objects.exists()
    with pytest.raises(ValidationError, match="Only active, nickname"):
        services.update_catalog_entry(org, price, currency="USD")
    services.update_catalog_entry(org, price, nickname="Pay as you go")
    assert Price.objects.get().nickname == "Pay as you go"


def test_a_price_in_a_currency_the_customer_does_not_use_is_refused(org, customer, contract, catalog):
    with pytest.raises(CurrencyMismatch, match="pro-usd is in USD, but Acme Industries SAS is billed in EUR"):
        services.create_subscription(org, customer, [(catalog["flat"], 1), (catalog["usd_flat"], 1)],
                                     start_date=date(2026, 1, 1), as_of=date(2026, 1, 1))
    assert not Subscription.objects.exists() and not SubscriptionItem.objects.exists()
    sub = services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                       as_of=date(2026, 1, 1))
    with pytest.raises(CurrencyMismatch):
        services.add_item(org, sub, catalog["usd_flat"], 1, on=date(2026, 1, 1), as_of=date(2026, 1, 1))
    assert sub.items.count() == 1


def test_schedule_mistakes_are_refused(org, customer, contract, catalog):
    start = date(2026, 1, 1)
    with pytest.raises(InvalidSchedule, match="1..31"):
        services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=start, as_of=start,
                                     anchor_day=32)
    with pytest.raises(InvalidSchedule, match="weekday"):
        services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=start, as_of=start,
                                     interval="weekly", anchor_day=15)
    with pytest.raises(InvalidSchedule, match="recurrence rule"):
        services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=start, as_of=start,
                                     interval="custom", rrule="FREQ=NEVER")
    with pytest.raises(InvalidSchedule, match="trial cannot end before"):
        services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=start, as_of=start,
                                     trial_end=date(2025, 12, 1))
    with pytest.raises(ValidationError, match="negative"):
        services.create_subscription(org, customer, [(catalog["per_unit"], -2)], start_date=start, as_of=start)
    assert not Subscription.objects.exists()


def test_a_custom_rrule_subscription_bills_on_its_occurrences(org, customer, contract, catalog, bill):
    sub = services.create_subscription(org, customer, [(catalog["flat"], 1)], start_date=date(2026, 1, 1),
                                       as_of=date(2026, 1, 1), interval="custom",
                                       rrule="FREQ=MONTHLY;BYDAY=1MO")  # the first Monday of each month
    assert sub.next_bill_on == date(2026, 1, 1)  # a stub up to Monday 5 January
    bill(date(2026, 1, 1), date(2026, 3, 2))
    assert list(Invoice.objects.order_by("issue_date").values_list("issue_date", "service_period_start",
                                                                     "service_period_end")) == [
        (date(2026, 1, 1), date(2026, 1, 1), date(2026, 1, 4)),
        (date(2026, 1, 5), date(2026, 1, 5), date(2026, 2, 1)),
        (date(2026, 2, 2), date(2026, 2, 2), date(2026, 3, 1)),
        (date(2026, 3, 2), date(2026, 3, 2), date(2026, 4, 5)),
    ]
    # The stub (4 of 28 days) is prorated: 100.00 × 4/28 = 14.29.
    assert Invoice.objects.order_by("issue_date").first().line_total_minor == 1429


def test_products_cannot_have_an_impossible_tax(org):
    with pytest.raises(ValidationError, match="must have a 0% rate"):
        services.create_product(org, code="X", name="Export", tax_category="G", tax_rate=20)
    assert not Product.objects.exists()
