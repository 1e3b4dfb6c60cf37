"""The billing run reads and writes in bulk: its query count does not grow with the number of customers."""

from __future__ import annotations

from datetime import date

import pytest

from duly.billing import services
from duly.billing.models import PendingCharge, PriceChangeNotice, UsageEvent
from duly.invoicing.models import Invoice

from .conftest import send_due_notices

pytestmark = pytest.mark.django_db

#: Queries of one batch with pending charges, price-change notices, late usage and usage windows (and the one
#: reading the date of the last invoice issued, before the run starts: numbers follow issue dates), and one asking
#: whether an enabled webhook endpoint of the organization receives invoice.issued (duly.api.outgoing_events).
MAX_QUERIES = 36
#: Queries of an immediate cancellation with a credit note, whatever the number of items (the note locks the
#: invoice it corrects and reads what its other credit notes credit, when it is drafted and when it is issued;
#: the billing service reads that room once more to net a credit the invoice cannot absorb against pending
#: charges; the credit note's number follows the series' last issue date), and two asking whether an enabled webhook
#: endpoint receives the credit note's invoice.issued and the subscription.canceled (duly.api.outgoing_events).
MAX_CANCEL_QUERIES = 52


def _customers_with_everything(org, make_customer, make_contract, catalog, n: int) -> list:
    """n customers on a seat plan in advance and API calls in arrears, billed for January and February.

    On 1 March each has: a pending charge (seats added mid-February), a notice of the seat price
    change effective 1 March, late January usage and February usage.
    """
    customers = []
    for i in range(n):
        customer = make_customer(f"Q{i:03}")
        make_contract(customer)
        services.create_subscription(org, customer, [(catalog["flat"], 1), (catalog["per_unit"], 2)],
                                     start_date=date(2026, 1, 1), as_of=date(2026, 1, 1), reference=f"A{i}")
        services.create_subscription(org, customer, [(catalog["graduated_api"], 1)], start_date=date(2026, 1, 1),
                                     as_of=date(2026, 1, 1), timing="arrears", reference=f"B{i}")
        customers.append(customer)
    services.schedule_price_change(org, catalog["per_unit"], effective_date=date(2026, 3, 1),
                                   new_model_config={"model": "per_unit", "unit_price": "11.00"},
                                   justification="Single sign-on is now included.", as_of=date(2026, 1, 1))
    send_due_notices(org, date(2026, 1, 30))  # 30 days ahead: the new price is billed from 1 March

    def usage(prefix: str, day: str, value: str) -> None:
        services.record_usage(org, [{"idempotency_key": f"{prefix}-{c.code}", "customer": c.code,
                                     "metric": "api_calls", "timestamp": f"{day}T10:00:00Z", "value": value}
                                    for c in customers])

    usage("jan", "2026-01-20", "1500")
    assert services.run_billing(org, date(2026, 1, 1)).invoices == n
    assert services.run_billing(org, date(2026, 2, 1)).invoices == n
    usage("late", "2026-01-25", "2000")  # January was invoiced on 1 February: late
    usage("feb", "2026-02-20", "3000")
    for customer in customers:
        sub = customer.subscriptions.get(reference__startswith="A")
        services.add_item(org, sub, catalog["per_unit"], 1, on=date(2026, 2, 15), as_of=date(2026, 2, 15))
    assert PendingCharge.objects.filter(invoice__isnull=True).count() == n
    assert UsageEvent.objects.filter(late=True, late_billed_on__isnull=True).count() == n
    assert PriceChangeNotice.objects.filter(first_invoice__isnull=True).count() == n
    return customers


@pytest.mark.parametrize("n", [10, 100])
def test_the_run_query_count_is_the_same_for_10_and_100_customers(org, make_customer, make_contract, catalog, n,
                                                                  django_assert_max_num_queries):
    customers = _customers_with_everything(org, make_customer, make_contract, catalog, n)
    with django_assert_max_num_queries(MAX_QUERIES):
        result = services.run_billing(org, date(2026, 3, 1))
    assert (result.invoices, result.customers, result.skipped) == (n, n, [])
    # Everything was billed, once, on each customer's own invoice.
    march = {i.customer_id: i for i in Invoice.objects.filter(issue_date=date(2026, 3, 1))}
    assert set(march) == {c.pk for c in customers}
    for charge in PendingCharge.objects.all():
        assert charge.invoice_id == march[charge.customer_id].pk
    for notice in PriceChangeNotice.objects.all():
        assert notice.first_invoice_id == march[notice.customer_id].pk
    for event in UsageEvent.objects.filter(late=True):
        assert (event.late_billed_on, event.adjusted_on_id) == (date(2026, 3, 1), march[event.customer_id].pk)
    sample = march[customers[-1].pk]
    assert sorted(line.description for line in sample.lines.all()) == sorted([
        "API calls\u00a0: total de 3\u202f000 API calls, 1er–28 février 2026",
        "Ajout : Seats × 1, 15–28 février 2026",
        "Régularisation d'utilisation tardive — API calls, 1er–31 janvier 2026",
        "Pro plan, 1er–31 mars 2026",
        "Seats × 1, 1er–31 mars 2026",
        "Seats × 2, 1er–31 mars 2026",
    ])


@pytest.mark.parametrize("items", [2, 8])
def test_an_immediate_cancellation_reads_the_catalog_once_whatever_the_number_of_items(
        org, customer, contract, catalog, items, django_assert_max_num_queries):
    sub = services.create_subscription(org, customer, [(catalog["per_unit"], n + 1) for n in range(items)],
                                       start_date=date(2026, 1, 1), as_of=date(2026, 1, 1))
    services.run_billing(org, date(2026, 1, 1))
    with django_assert_max_num_queries(MAX_CANCEL_QUERIES):
        services.cancel_subscription(org, sub, on=date(2026, 1, 16), as_of=date(2026, 1, 16), at_period_end=False)
    credit = Invoice.objects.get(kind=Invoice.KIND_CREDIT_NOTE)
    # Each item's unused 16 of 31 days is credited: (1 + … + items) seats × 10.00 × 16/31, item by item.
    assert credit.lines.count() == items
