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
