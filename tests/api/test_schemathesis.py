"""Schemathesis against the OpenAPI document: no server error on any route, every response conforms to it.

Requests go through the WSGI application in-process, with an owner's key of an organization that has a
customer, a contract, invoices, a payment, a product and prices, a subscription, saved methods, a mandate, a
dispute and a promise (conftest's ``world``: generated ids sometimes hit real rows).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance


@pytest.fixture
def api_schema(db):
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    # As Django's test client does: a request must not close the connection that holds the test's transaction
    # (after each request Django closes a connection that is not in autocommit mode; on PostgreSQL the next
    # query then fails with "the connection is closed").
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(org, world):
    from duly.api.services import create_api_key

    return {"Authorization": f"Bearer {create_api_key(org, name='fuzz', role='owner', rate_limit_per_minute=100_000).secret}"}


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case, bearer):
    # Schema-valid requests a business rule refuses (an unknown currency, a cursor naming no row) are answered
    # 400/404/409 with a documented problem: they are not failures, so "positive data acceptance" is left out.
    # A case whose headers were made invalid on purpose (e.g. Authorization left out) is sent as generated: adding
    # the key back would make schemathesis expect a refusal of a request that is, in fact, valid.
    header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    negative_headers = header is not None and header.mode == GenerationMode.NEGATIVE
    case.call_and_validate(headers=None if negative_headers else bearer, excluded_checks=[positive_data_acceptance])
