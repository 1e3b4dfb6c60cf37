"""Billing fixtures: a small catalog built through the services, and helpers to run and read billing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest


@pytest.fixture
def catalog(org):
    """Products, metrics and prices in EUR covering each quantity source and the main price models."""
    from duly.billing import services

    saas = services.create_product(org, code="PRO", name="Pro plan", tax_category="S", tax_rate=Decimal("20"))
    seats = services.create_product(org, code="SEATS", name="Seats", tax_category="S", tax_rate=Decimal("20"))
    api = services.create_product(org, code="API", name="API calls", tax_category="S", tax_rate=Decimal("20"))
    payments = services.create_product(org, code="PAY", name="Payment processing", tax_category="S",
                                       tax_rate=Decimal("20"))
    api_calls = services.create_metric(org, code="api_calls", name="API calls", aggregation="sum")
    volume = services.create_metric(org, code="payment_volume", name="payments", aggregation="sum")
    prices = {
        "flat": services.create_price(org, saas, code="pro-flat", currency="EUR",
                                      model_config={"model": "flat", "amount": "100.00"}),
        "per_unit": services.create_price(org, seats, code="seat", currency="EUR",
                                          model_config={"model": "per_unit", "unit_price": "10.00"}),
        "licences": services.create_price(org, seats, code="seat-avg", currency="EUR", quantity_source="licences",
                                          model_config={"model": "per_unit", "unit_price": "10.00"}),
        "graduated_api": services.create_price(
            org, api, code="api-graduated", currency="EUR", quantity_source="usage", metric=api_calls,
            model_config={"model": "graduated", "tiers": [
                {"up_to": "1000", "unit_price": "0"},
                {"up_to": "10000", "unit_price": "0.01"},
                {"up_to": None, "unit_price": "0.005"}]}),
        "percentage": services.create_price(
            org, payments, code="pay-pct", currency="EUR", quantity_source="usage", metric=volume,
            model_config={"model": "percentage", "rate": "1.5", "fixed_fee": "0.25"}),
        "usd_flat": services.create_price(org, saas, code="pro-usd", currency="USD",
                                          model_config={"model": "flat", "amount": "110.00"}),
    }
    return prices


def send_due_notices(org, day: date) -> list:
    """What the daily collections run does for billing: send the price-change notices due by ``day``
    (recorded as sent at 09:00 UTC that day; the message itself is collections' business)."""
    from datetime import datetime, time, timezone

    from duly.billing.services import mark_price_notice_sent, pending_price_notices

    return [mark_price_notice_sent(org, n.pk, sent_at=datetime.combine(day, time(9), timezone.utc))
            for n in pending_price_notices(org, day)]


@pytest.fixture
def bill(org):
    """Run the billing of ``org`` as of a date (or every day of a range) and return the results; each day
    the price-change notices due are sent first, as `duly serve` does (``notices=False``: they are not)."""
    from duly.billing.services import run_billing

    def run(as_of: date, until: date | None = None, *, notices: bool = True):
        results = []
        day = as_of
        while day <= (until or as_of):
            if notices:
                send_due_notices(org, day)
            results.append(run_billing(org, day))
            day += timedelta(days=1)
        return results if until else results[0]

    return run


def pay(org, invoice, on: date):
    """Pay an invoice in full (as the customer would)."""
    from duly.payments.services import record_payment

    invoice.refresh_from_db()
    return record_payment(org, invoice.customer, amount=invoice.balance, currency=invoice.currency,
                          method="bank_transfer", received_on=on, allocations={invoice.pk: invoice.balance})
