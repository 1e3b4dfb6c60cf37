"""Services refuse what their columns cannot store exactly, and dates beyond the absolute bounds.

The same services serve the CLI, the admin and the API: each refusal is a DomainError with a stable
code (never an OverflowError or InvalidOperation), and nothing is written.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from duly.domain.errors import DomainError

pytestmark = pytest.mark.django_db

FAR = date(9999, 12, 31)


def refused(expected, fn, *args, **kwargs):
    with pytest.raises(DomainError) as err:
        fn(*args, **kwargs)
    assert err.value.code == expected, err.value.message
    assert len(err.value.message) < 200
    return err.value.message


def test_invoice_lines_fit_their_columns(org, customer, contract):
    from duly.invoicing import services
    from duly.invoicing.models import Invoice

    L = services.LineData
    for line, code in [
        (L("Huge", Decimal("1e30"), Decimal(1)), "number_out_of_range"),
        (L("Digits", Decimal("123456789.1234567"), Decimal(1)), "number_out_of_range"),      # 7 decimals
        (L("Precision", Decimal(1), Decimal("1234567890.123456")), "number_out_of_range"),   # 16 digits
        (L("Tax", Decimal(1), Decimal(1), tax_rate=Decimal("1E+99")), "number_out_of_range"),
        (L("x" * 501, Decimal(1), Decimal(1)), "value_out_of_range"),
        (L("Nul \x00", Decimal(1), Decimal(1)), "invalid_input"),
    ]:
        refused(code, services.create_draft, org, customer, [line], contract=contract)
    assert not Invoice.objects.exists()
    draft = services.create_draft(org, customer, [L("Fine", Decimal("2.5"), Decimal("99.99"))], contract=contract)
    message = refused("date_out_of_range", services.issue_invoice, org, draft.pk, issue_date=FAR)
    assert message.startswith("The issue date 9999-12-31 is out of range")
    draft.refresh_from_db()
    assert draft.status == Invoice.DRAFT and draft.number is None


def test_catalog_subscriptions_and_licences_are_bounded(org, customer, contract):
    from duly.billing import services
    from duly.billing.models import LicenceSnapshot, Price, Product, RetainerAgreement, Subscription

    refused("number_out_of_range", services.create_product, org, code="P1", name="x", tax_rate="1E+99")
    product = services.create_product(org, code="P2", name="Plan")
    message = refused("number_out_of_range", services.create_price, org, product, code="big", currency="EUR",
                      model_config={"model": "flat", "amount": "1e30"})
    assert message.startswith("Price big: the number")
    price = services.create_price(org, product, code="seat", currency="EUR",
                                  model_config={"model": "per_unit", "unit_price": "10"})
    refused("number_out_of_range", services.create_subscription, org, customer, [(price, "1e30")],
            start_date=date(2026, 3, 1), as_of=date(2026, 3, 1))
    message = refused("date_out_of_range", services.create_subscription, org, customer, [(price, 1)],
                      start_date=FAR, as_of=date(2026, 3, 1))
    assert message.startswith("The start date 9999-12-31")
    sub = services.create_subscription(org, customer, [(price, 1)], start_date=date(2026, 3, 1),
                                       as_of=date(2026, 3, 1))
    refused("invalid_usage_value", services.record_licence_counts, org, sub, {date(2026, 3, 2): 10**12})
    refused("date_out_of_range", services.record_licence_counts, org, sub, {FAR: 1})
    refused("invalid_input", services.start_retainer, org, contract, topup_amount="500.001", threshold="100",
            as_of=date(2026, 3, 1))
    refused("date_out_of_range", services.cancel_subscription, org, sub, on=FAR, as_of=date(2026, 3, 1))
    assert (Product.objects.count(), Price.objects.count(), Subscription.objects.count()) == (1, 1, 1)
    assert not LicenceSnapshot.objects.exists() and not RetainerAgreement.objects.exists()


def test_payments_promises_fees_contracts_and_rates_are_bounded(org, customer, contract):
    from duly.collections import services as collections
    from duly.customers import services as customers
    from duly.payments import services as payments
    from duly.payments.models import Payment

    refused("date_out_of_range", payments.record_payment, org, customer, amount="10", currency="EUR",
            method="card", received_on=FAR)
    refused("number_out_of_range", payments.record_payment, org, customer, amount="1e30", currency="EUR",
            method="card", received_on=date(2026, 3, 1))
    assert not Payment.objects.exists()
    now = datetime(2026, 3, 1, 9, tzinfo=timezone.utc)
    refused("invalid_input", collections.record_promise, org, customer, promised_date=date(2026, 3, 20),
            amount="12345678901.1234567", now=now)
    refused("date_out_of_range", collections.record_promise, org, customer, promised_date=FAR, amount="10", now=now)
    refused("date_out_of_range", collections.assess_late_fees, org, as_of=FAR)
    refused("date_out_of_range", collections.collect, org, as_of=datetime(9999, 12, 31, 23, tzinfo=timezone.utc))
    refused("date_out_of_range", customers.create_contract, org, customer, reference="FAR", start_date=FAR)
    refused("date_out_of_range", customers.record_reference_rate, currency="EUR", valid_from=FAR, rate_percent="2")
    # A contact's birthday is no business date: 1980 is fine, year 1 is not.
    refused("date_out_of_range", customers.add_contact, customer, name="Old", email="old@client.example",
            birthday=date(1, 1, 1))
    assert customers.add_contact(customer, name="Léa", email="lea@client.example", birthday=date(1980, 4, 3))
