"""The REST API v1, mounted at /api/v1/ (OpenAPI 3.1 at /api/v1/openapi.json, docs at /api/v1/docs)."""

from __future__ import annotations

from .core import api
from .routes_customers import router as customers
from .routes_invoices import router as invoices
from .routes_payments import router as payments
from .routes_webhooks import router as webhooks

api.add_router("", customers)
api.add_router("", invoices)
api.add_router("", payments)
api.add_router("", webhooks)

urls = api.urls
