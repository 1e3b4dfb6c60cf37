"""The REST API v1, mounted at /api/v1/ (OpenAPI 3.1 at /api/v1/openapi.json, docs at /api/v1/docs)."""

from __future__ import annotations

from .core import api
from .routes_catalog import router as catalog
from .routes_collections import router as collections
from .routes_customers import router as customers
from .routes_invoices import router as invoices
from .routes_methods import router as methods
from .routes_payments import router as payments
from .routes_subscriptions import router as subscriptions
from .routes_usage import router as usage
from .routes_webhooks import router as webhooks

for router in (customers, methods, catalog, subscriptions, usage, invoices, payments, collections, webhooks):
    api.add_router("", router)

urls = api.urls
