"""Org B's key reads and writes nothing of org A, on every route (each answers 404, or an empty page)."""

from __future__ import annotations

import pytest

from .conftest import assert_problem


@pytest.fixture
def world_a(org, customer, contract, issued_invoice):
    from duly.payments import services as payments

    from .conftest import org_today

    payment = payments.record_payment(org, customer, amount="50.00", currency="EUR", method="bank_transfer",
                                      received_on=org_today(org), allocations={issued_invoice.pk: "50.00"})
    return {"customer": customer.pk, "contract": contract.pk, "invoice": issued_invoice.pk, "payment": payment.pk}


def _snapshot(org):
    from duly.customers.models import Contract, Customer
    from duly.invoicing.models import Invoice
    from duly.payments.models import Payment, Refund

    return (list(Customer.objects.filter(organization=org).values()),
            list(Contract.objects.filter(organization=org).values()),
            list(Invoice.objects.filter(organization=org).values()),
            list(Payment.objects.filter(organization=org).values()),
            list(Refund.objects.filter(payment__organization=org).values()))


READS = ["/customers/{customer}", "/customers/{customer}/contracts", "/invoices/{invoice}",
         "/invoices/{invoice}/document", "/payments/{payment}", "/invoices?customer={customer}",
         "/payments?customer={customer}"]


def test_reads(make_api, other_org, world_a):
    b = make_api(other_org, role="owner")
    for path in READS:
        response = b.client.get("/api/v1" + path.format(**world_a), headers={"Authorization": f"Bearer {b.secret}"})
        assert_problem(response, 404, "not_found")
    for path in ("/customers", "/invoices", "/payments"):
        assert b.get(path).json()["data"] == []
        assert_problem(b.get(path, starting_after=world_a[path[1:-1]]), 400, "invalid_cursor")


def test_writes(make_api, org, other_org, world_a):
    b = make_api(other_org, role="owner")
    before = _snapshot(org)
    eur = {"amount_minor": 1000, "currency": "EUR"}
    attempts = [
        ("patch", f"/customers/{world_a['customer']}", {"name": "Taken over"}),
        ("post", f"/customers/{world_a['customer']}/contracts", {"reference": "B-1", "start_date": "2026-01-01"}),
        ("post", "/invoices", {"customer_id": world_a["customer"], "lines": [
            {"description": "x", "quantity": "1", "unit_price": "1"}]}),
        ("post", "/invoices", {"customer_id": world_a["customer"], "contract_id": world_a["contract"], "lines": [
            {"description": "x", "quantity": "1", "unit_price": "1"}]}),
        ("post", f"/invoices/{world_a['invoice']}/issue", {}),
        ("post", f"/invoices/{world_a['invoice']}/void", {"reason": "hostile"}),
        ("post", f"/invoices/{world_a['invoice']}/credit_notes", {"reason": "hostile"}),
        ("post", "/payments", {"customer_id": world_a["customer"], "amount": eur, "method": "cash"}),
        ("post", f"/payments/{world_a['payment']}/refunds", {"amount": eur, "reason": "hostile"}),
    ]
    for method, path, body in attempts:
        response = getattr(b, method)(path, body)
        assert_problem(response, 404, "not_found")
    # B's own customer cannot be paid against A's invoice either
    from duly.customers.services import create_customer

    mine = create_customer(other_org, code="B1", name="B customer", country="FR", city="Lyon", address_line1="x")
    response = b.post("/payments", {"customer_id": mine.pk, "amount": eur, "method": "cash",
                                    "allocations": [{"invoice_id": world_a["invoice"], "amount": eur}]})
    assert_problem(response, 404, "not_found")
    assert _snapshot(org) == before


# --- the routes of contacts, catalog, subscriptions, usage, allocation, methods, collections --------------------
def _snapshot_more(org):
    from duly.billing.models import Price, Product, Subscription, SubscriptionItem, SubscriptionPause, UsageEvent
    from duly.collections.models import Dispute, PromiseToPay
    from duly.customers.models import Contact
    from duly.payments.models import Allocation, CreditEntry, Mandate, SavedPaymentMethod

    return [list(m.objects.filter(organization=org).order_by("pk").values()) for m in (
        Contact, Product, Price, Subscription, SubscriptionItem, SubscriptionPause, UsageEvent, Dispute,
        PromiseToPay, CreditEntry, Mandate, SavedPaymentMethod)] + [
        list(Allocation.objects.filter(invoice__organization=org).order_by("pk").values())]


MORE_READS = ["/customers/{customer}/contacts", "/products/{product}", "/prices/{price}",
              "/prices?product={product}", "/subscriptions/{subscription}", "/subscriptions?customer={customer}",
              "/customers/{customer}/payment_methods", "/customers/{customer}/payment_methods/{method}",
              "/customers/{customer}/mandates", "/disputes/{dispute}", "/disputes?customer={customer}",
              "/promises/{promise}", "/promises?customer={customer}", "/customers/{customer}/statement",
              "/customers/{customer}/statement?format=pdf", "/customers/{customer}/aging"]


def test_reads_of_the_new_routes(make_api, other_org, world):
    b = make_api(other_org, role="owner")
    for path in MORE_READS:
        response = b.client.get("/api/v1" + path.format(**world), headers={"Authorization": f"Bearer {b.secret}"})
        assert_problem(response, 404, "not_found")
    cursors = {"/products": "product", "/prices": "price", "/subscriptions": "subscription", "/disputes": "dispute",
               "/promises": "promise"}
    for path, name in cursors.items():
        assert b.get(path).json()["data"] == []
        assert_problem(b.get(path, starting_after=world[name]), 400, "invalid_cursor")
    aging = b.get("/aging").json()
    assert aging["customers"] == [] and aging["totals"] == []


def test_writes_of_the_new_routes(make_api, org, other_org, world):
    from duly.billing import services as billing
    from duly.customers.models import Customer
    from duly.customers.services import add_contact, create_contract, create_customer

    b = make_api(other_org, role="owner")
    before = _snapshot_more(org), _snapshot(org)
    w = world
    eur = {"amount_minor": 100, "currency": "EUR"}
    attempts = [
        ("post", f"/customers/{w['customer']}/contacts", {"name": "Spy"}),
        ("post", "/prices", {"product_id": w["product"], "code": "b-price", "currency": "EUR",
                             "pricing": {"model": "flat", "amount": "1"}}),
        ("post", "/subscriptions", {"customer_id": w["customer"], "items": [{"price_id": w["price"]}]}),
        ("post", f"/subscriptions/{w['subscription']}/items", {"price_id": w["price"]}),
        ("post", f"/subscriptions/{w['subscription']}/items/{w['item']}/change", {"quantity": "9"}),
        ("post", f"/subscriptions/{w['subscription']}/items/{w['item']}/remove", {}),
        ("post", f"/subscriptions/{w['subscription']}/pause", {}),
        ("post", f"/subscriptions/{w['subscription']}/resume", {}),
        ("post", f"/subscriptions/{w['subscription']}/cancel", {}),
        ("post", f"/payments/{w['payment']}/allocations", {"allocations": [
            {"invoice_id": w["second"], "amount": eur}]}),
        ("post", f"/customers/{w['customer']}/payment_methods/{w['other_method']}/default", {}),
        ("post", "/disputes", {"invoice_id": w["invoice"], "question": "hostile"}),
        ("post", f"/disputes/{w['dispute']}/resolve", {"answer": "hostile", "credit": "whole"}),
        ("post", "/promises", {"customer_id": w["customer"], "promised_date": "2099-01-01", "amount": eur}),
    ]
    for method, path, body in attempts:
        assert_problem(getattr(b, method)(path, body), 404, "not_found")
    headers = {"Authorization": f"Bearer {b.secret}"}
    assert (_snapshot_more(org), _snapshot(org)) == before
    contact = add_contact(Customer.objects.get(pk=w["customer"]), name="Jeanne")
    before = _snapshot_more(org), _snapshot(org)
    for path in (f"/customers/{w['customer']}/payment_methods/{w['method']}",
                 f"/customers/{w['customer']}/contacts/{contact.pk}"):
        assert_problem(b.client.delete("/api/v1" + path, headers=headers), 404, "not_found")
    assert_problem(b.client.patch(f"/api/v1/customers/{w['customer']}/contacts/{contact.pk}", '{"name": "x"}',
                                  content_type="application/json", headers=headers), 404, "not_found")
    # B's own customer, contract and product cannot reach A's price, payment, invoices or events
    mine = create_customer(other_org, code="ACME", name="B's Acme", country="GB", city="London", address_line1="x",
                           currency="EUR")
    create_contract(other_org, mine, reference="B-1", start_date=world_start(org), currency="EUR")
    own_product = billing.create_product(other_org, code="B", name="B")
    billing.create_metric(other_org, code="api_calls", name="calls", aggregation="sum")
    assert_problem(b.post("/subscriptions", {"customer_id": mine.pk, "items": [{"price_id": w["price"]}]}),
                   404, "not_found")
    assert_problem(b.post("/prices", {"product_id": w["product"], "code": "x", "currency": "EUR",
                                      "pricing": {"model": "flat", "amount": "1"}}), 404, "not_found")
    assert b.post("/prices", {"product_id": own_product.pk, "code": "seat", "currency": "EUR",
                              "pricing": {"model": "flat", "amount": "1"}}).status_code == 201
    assert_problem(b.post("/promises", {"customer_id": mine.pk, "promised_date": "2099-01-01", "amount": eur,
                                        "invoice_ids": [w["second"]]}), 404, "not_found")
    # usage events name customers by code: B's "ACME" is B's own; A's events are untouched
    result = b.post("/usage_events", {"events": [
        {"idempotency_key": "shared-key", "customer": "ACME", "metric": "api_calls",
         "timestamp": "2026-03-01T10:00:00Z", "subscription": w["subscription"]},
        {"idempotency_key": "own-key", "customer": "ACME", "metric": "api_calls",
         "timestamp": "2026-03-01T10:00:00Z"}]}).json()
    assert result["accepted"] == 1 and result["rejections"][0]["code"] == "not_found"
    assert (_snapshot_more(org), _snapshot(org)) == before


def world_start(org):
    from .conftest import org_today

    return org_today(org).replace(day=1)
