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
