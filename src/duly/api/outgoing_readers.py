"""Read-only queries of outgoing webhooks, each scoped to one organization (the routes, the CLI and the admin
read only through these)."""

from __future__ import annotations

from django.db.models import QuerySet

from duly.customers.models import Organization
from duly.domain.errors import NotFound

from .outgoing_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


def endpoints(org: Organization) -> QuerySet:
    return WebhookEndpoint.objects.filter(organization=org).order_by("pk")


def endpoint(org: Organization, pk: int) -> WebhookEndpoint:
    row = endpoints(org).filter(pk=pk).first()
    if row is None:
        raise NotFound(f"Webhook endpoint {pk} not found.", id=pk)
    return row


def deliveries(org: Organization, *, endpoint_id: int | None = None, status: str | None = None,
               event_id: str | None = None) -> QuerySet:
    qs = WebhookDelivery.objects.filter(organization=org).select_related("event", "endpoint")
    if endpoint_id is not None:
        qs = qs.filter(endpoint=endpoint(org, endpoint_id))
    if status:
        qs = qs.filter(status=status)
    if event_id:
        qs = qs.filter(event__event_id=event_id)
    return qs


def delivery(org: Organization, pk: int) -> WebhookDelivery:
    row = deliveries(org).filter(pk=pk).first()
    if row is None:
        raise NotFound(f"Webhook delivery {pk} not found.", id=pk)
    return row


def attempts(delivery_row: WebhookDelivery) -> list[WebhookAttempt]:
    return list(WebhookAttempt.objects.filter(delivery=delivery_row).order_by("pk"))


def event(org: Organization, event_id: str) -> WebhookEvent:
    row = WebhookEvent.objects.filter(organization=org, event_id=event_id).first()
    if row is None:
        raise NotFound(f"Webhook event {event_id} not found.", event_id=event_id)
    return row
