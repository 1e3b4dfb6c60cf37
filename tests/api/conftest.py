"""Clients of the REST API v1: keys made through duly.api.services, requests through Django's test client."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client


class ApiClient:
    def __init__(self, secret: str | None):
        self.client = Client()
        self.secret = secret

    def _headers(self, idem: str | None) -> dict:
        headers = {}
        if self.secret is not None:
            headers["Authorization"] = f"Bearer {self.secret}"
        if idem is not None:
            headers["Idempotency-Key"] = idem
        return headers

    def get(self, path: str, **params):
        return self.client.get(f"/api/v1{path}", params, headers=self._headers(None))

    def post(self, path: str, body=None, *, idem: str | None = None, raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(f"/api/v1{path}", data, content_type="application/json", headers=self._headers(idem))

    def patch(self, path: str, body):
        return self.client.patch(f"/api/v1{path}", json.dumps(body), content_type="application/json",
                                 headers=self._headers(None))


@pytest.fixture
def make_api(db):
    from duly.api.services import create_api_key

    def make(org, role="bookkeeper", **kw) -> ApiClient:
        return ApiClient(create_api_key(org, name=f"{role} key", role=role, **kw).secret)
    return make


@pytest.fixture
def api(make_api, org):
    return make_api(org)


@pytest.fixture
def issued_invoice(org, customer, contract):
    from duly.invoicing import services as inv

    draft = inv.create_draft(org, customer, [inv.LineData("Consulting", Decimal("2"), Decimal("50.00"),
                                                          tax_rate=Decimal("20"))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=org_today(org))


def org_today(org):
    from duly.customers.services import local_today

    return local_today(org)


def assert_problem(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body = response.json()
    assert body["status"] == status and body["code"] == code, body
    assert body["type"].endswith(code) and body["detail"]
    return body


@pytest.fixture
def world(org, customer, contract, issued_invoice):
    """Organization A, through the services: a product with a seat price (and a USD one), a usage metric, a
    subscription with 3 seats, a payment of which a credit note gave 30.00 back (unapplied), a saved card, a mandate, an open dispute on
    a second invoice and a promise to pay."""
    from datetime import datetime, timedelta, timezone

    from duly.billing import services as billing
    from duly.collections.services import disputes, promises
    from duly.invoicing import services as inv
    from duly.payments import method_services
    from duly.payments import services as payments
    from duly.payments.providers.base import SavedMethod

    today = org_today(org)
    product = billing.create_product(org, code="SEATS", name="Seats", tax_rate=Decimal("20"))
    seat = billing.create_price(org, product, code="seat", currency="EUR",
                                model_config={"model": "per_unit", "unit_price": "10.00"})
    usd = billing.create_price(org, product, code="seat-usd", currency="USD",
                               model_config={"model": "per_unit", "unit_price": "12.00"})
    billing.create_metric(org, code="api_calls", name="API calls", aggregation="sum")
    sub = billing.create_subscription(org, customer, [(seat, 3)], start_date=today, as_of=today)
    second = inv.issue_invoice(org, inv.create_draft(org, customer, [inv.LineData(
        "Workshop", Decimal("1"), Decimal("200.00"), tax_rate=Decimal("20"))], contract=contract).pk,
        issue_date=today)
    payment = payments.record_payment(org, customer, amount="120.00", currency="EUR", method="bank_transfer",
                                      received_on=today, allocations={issued_invoice.pk: "120.00"})
    # a partial credit note on the paid invoice gives 30.00 back: the payment's unapplied part
    inv.create_credit_note(org, issued_invoice.pk, reason="Discount agreed", issue_date=today, lines=[
        inv.LineData("Discount", Decimal("1"), Decimal("25.00"), tax_rate=Decimal("20"))])
    card = method_services.save_method(org, customer, SavedMethod("stripe", "pm_card_visa", "cus_1", "card",
                                                                  "visa", "4242", 12, 2034))
    other_card = method_services.save_method(org, customer, SavedMethod("stripe", "pm_card_mc", "cus_1", "card",
                                                                        "mastercard", "4444", 1, 2035))
    mandate = method_services.add_mandate(org, customer, reference="MDT-1", signed_on=today, signed_at="Paris",
                                          debtor_name="Acme Industries SAS", iban="FR1420041010050500013M02606")
    now = datetime.now(timezone.utc)
    dispute = disputes.open_dispute(org, second.pk, question="Was the workshop two hours?", now=now)
    promise = promises.record_promise(org, customer, promised_date=today + timedelta(days=7), amount="50.00",
                                      now=now, invoice_ids=[second.pk])
    return {"customer": customer.pk, "contract": contract.pk, "invoice": issued_invoice.pk, "second": second.pk,
            "payment": payment.pk, "product": product.pk, "price": seat.pk, "usd_price": usd.pk,
            "subscription": sub.pk, "item": sub.items.get().pk, "method": card.pk, "other_method": other_card.pk,
            "mandate": mandate.pk, "dispute": dispute.pk, "promise": promise.pk}
