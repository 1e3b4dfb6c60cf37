"""Idempotency, pagination, problem documents for bad input (nothing written), the OpenAPI document."""

from __future__ import annotations

import threading

import pytest

from .conftest import assert_problem

NEW = {"code": "NEW1", "name": "Nouveau SAS", "country": "FR", "city": "Lyon", "address_line1": "2 rue Y"}


def test_idempotent_replay_and_conflict(api, org):
    from duly.customers.models import Customer

    first = api.post("/customers", NEW, idem="k-1")
    assert first.status_code == 201
    again = api.post("/customers", NEW, idem="k-1")
    assert again.status_code == 201 and again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Customer.objects.filter(organization=org, code="NEW1").count() == 1
    other = api.post("/customers", {**NEW, "name": "Autre SAS"}, idem="k-1")
    assert_problem(other, 422, "idempotency_conflict")
    assert not Customer.objects.filter(name="Autre SAS").exists()


def test_idempotent_error_is_replayed_and_key_expires(api, org, customer):
    from datetime import timedelta

    from duly.api.models import IdempotencyRecord

    dup = {**NEW, "code": customer.code}
    first = api.post("/customers", dup, idem="k-dup")
    assert_problem(first, 400, "duplicate")
    assert api.post("/customers", dup, idem="k-dup").content == first.content
    # after 24 hours the key is free again
    IdempotencyRecord.objects.filter(key="k-dup").update(created_at=IdempotencyRecord.objects.get(
        key="k-dup").created_at - timedelta(hours=25))
    assert api.post("/customers", {**NEW, "code": "FRESH"}, idem="k-dup").status_code == 201


def test_same_key_other_org_is_independent(make_api, org, other_org):
    a, b = make_api(org), make_api(other_org)
    assert a.post("/customers", NEW, idem="shared").status_code == 201
    assert b.post("/customers", NEW, idem="shared").status_code == 201


def test_crash_after_the_work_leaves_nothing(api, org, monkeypatch):
    """The work, the claimed key and the stored response commit together: a failure after the service wrote
    (here: a crash just after create_customer) leaves no customer and no claimed key, and the retry runs."""
    from duly.api.models import IdempotencyRecord
    from duly.customers import services as customer_services
    from duly.customers.models import Customer

    real = customer_services.create_customer

    def crashing(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("power cut at /srv/secret/path")
    monkeypatch.setattr(customer_services, "create_customer", crashing)
    body = assert_problem(api.post("/customers", NEW, idem="crash"), 500, "internal_error")
    assert "secret" not in str(body) and "RuntimeError" not in str(body)
    assert not Customer.objects.filter(code="NEW1").exists()
    assert not IdempotencyRecord.objects.filter(key="crash").exists()
    monkeypatch.setattr(customer_services, "create_customer", real)
    retried = api.post("/customers", NEW, idem="crash")
    assert retried.status_code == 201 and not retried.has_header("Idempotent-Replayed")
    assert Customer.objects.filter(code="NEW1").count() == 1


@pytest.mark.postgres
def test_concurrent_same_key_creates_once(make_api, org, transactional_db):
    """Four clients send the same request with one key at once: one creates, the others wait on the unique
    constraint and replay its response."""
    from django.db import connection

    from duly.customers.models import Customer

    client = make_api(org)
    barrier = threading.Barrier(4)
    responses = []

    def post():
        barrier.wait()
        responses.append(client.post("/customers", NEW, idem="race"))
        connection.close()
    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Customer.objects.filter(code="NEW1").count() == 1
    assert [r.status_code for r in responses] == [201] * 4
    assert sum(not r.has_header("Idempotent-Replayed") for r in responses) == 1
    assert len({r.content for r in responses}) == 1


def test_pagination(api, make_customer, org, other_org):
    from duly.customers.services import create_customer

    ids = [make_customer(f"P{i}", name=f"Paged {i}").pk for i in range(5)]
    seen, cursor = [], None
    while True:
        page = api.get("/customers", limit=2, **({"starting_after": cursor} if cursor else {})).json()
        seen += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == ids
    foreign = create_customer(other_org, code="F1", name="Foreign", country="FR", city="Lyon", address_line1="x")
    assert_problem(api.get("/customers", starting_after=foreign.pk), 400, "invalid_cursor")
    assert_problem(api.get("/customers", limit=1000), 422, "invalid_input")


def test_bad_input_writes_nothing(api, org, customer, issued_invoice):
    from duly.customers.models import Customer
    from duly.invoicing.models import Invoice
    from duly.payments.models import Payment

    body = assert_problem(api.post("/customers", {**NEW, "colour": "red"}), 422, "unknown_field")
    assert body["errors"][0]["loc"][-1] == "colour"
    assert_problem(api.post("/customers", {"code": "X"}), 422, "invalid_input")  # missing name and country
    assert_problem(api.post("/customers", raw=b"{not json"), 400, "malformed_request")
    assert not Customer.objects.exclude(pk=customer.pk).exists()

    invoices = Invoice.objects.count()
    assert_problem(api.post("/invoices", {"customer_id": customer.pk, "currency": "XXQ", "lines": [
        {"description": "x", "quantity": "1", "unit_price": "1"}]}), 400, "unknown_currency")
    assert_problem(api.post("/invoices", {"customer_id": customer.pk, "lines": [
        {"description": "x", "quantity": "1", "unit_price": "1", "discount": "5"}]}), 422, "unknown_field")
    assert Invoice.objects.count() == invoices

    pay = {"customer_id": customer.pk, "method": "bank_transfer", "amount": {"amount_minor": 12000, "currency": "USD"},
           "allocations": [{"invoice_id": issued_invoice.pk, "amount": {"amount_minor": 12000, "currency": "USD"}}]}
    assert_problem(api.post("/payments", pay), 400, "currency_mismatch")
    pay["allocations"][0]["amount"]["currency"] = "EUR"
    assert_problem(api.post("/payments", pay), 400, "currency_mismatch")
    assert_problem(api.post("/payments", {**pay, "amount": {"amount_minor": 1, "currency": "EURO"}}),
                   422, "invalid_input")
    assert not Payment.objects.exists()
    issued_invoice.refresh_from_db()
    assert issued_invoice.paid_minor == 0


def test_invoice_filters_and_transitions(api, org, customer, issued_invoice):
    assert [i["id"] for i in api.get("/invoices", status="issued").json()["data"]] == [issued_invoice.pk]
    assert api.get("/invoices", status="draft").json()["data"] == []
    assert [i["id"] for i in api.get("/invoices", customer=customer.pk).json()["data"]] == [issued_invoice.pk]
    assert_problem(api.get("/invoices", status="bogus"), 422, "invalid_input")
    assert_problem(api.post(f"/invoices/{issued_invoice.pk}/issue", {}), 409, "invoice_not_draft")
    ubl = api.get(f"/invoices/{issued_invoice.pk}/document", format="ubl")
    assert ubl.status_code == 200 and b"<Invoice" in ubl.content
    voided = api.post(f"/invoices/{issued_invoice.pk}/void", {"reason": "sent to the wrong customer"})
    assert voided.status_code == 200 and voided.json()["status"] == "void"
    assert_problem(api.get("/invoices/999999"), 404, "not_found")


def test_openapi_document(api):
    from openapi_spec_validator import validate

    from django.test import Client

    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)
    assert {"/api/v1/customers", "/api/v1/invoices", "/api/v1/payments"} <= set(doc["paths"])
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert "Idempotency-Key" in [p["name"] for p in operation.get("parameters", [])] or method != "post"
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    assert list(response["content"]) == ["application/problem+json"], (path, method, status)
    docs = Client().get("/api/v1/docs")
    assert docs.status_code == 200 and b"/static/ninja/swagger-ui-bundle.js" in docs.content
    assert b"cdn." not in docs.content  # vendored: the docs page works offline
    assert Client().get("/static/ninja/swagger-ui-bundle.js").status_code == 200


def test_unknown_query_parameter_refused(api):
    assert_problem(api.get("/customers", colour="red"), 422, "unknown_field")
    assert_problem(api.get("/invoices", stauts="paid"), 422, "unknown_field")
