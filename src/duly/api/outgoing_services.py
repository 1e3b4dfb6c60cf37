"""The writers of outgoing webhooks: endpoints (create, change, enable, disable, rotate the secret), the event
outbox (one event per (organization, type, key), one delivery per (event, endpoint)), replays, and the state of
a delivery while the worker (:mod:`duly.api.outgoing_delivery`) claims, sends and records it.

Events are recorded inside the transaction of the business change that caused them (the receivers of
:mod:`duly.api.outgoing_events` run inside it): a rolled-back change leaves no event, a committed one always has
its deliveries. The worker's writes each commit on their own (it runs outside any transaction).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection as db_connection, transaction
from django.utils import timezone

from duly.customers.models import Organization
from duly.domain.errors import InvalidState, NotFound, ValidationError
from duly.db import scope
from duly.domain.webhooks import EVENT_TYPES, check_event_types, check_url

from .outgoing_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

SECRET_PREFIX = "whsec_"
#: How long deliveries still carry a signature with the secret a rotation replaced.
ROTATION_GRACE = timedelta(hours=24)
MAX_ENDPOINTS = 20


def allow_loopback() -> bool:
    """Whether endpoints may be http:// URLs of this machine (tests and the demo only)."""
    return bool(getattr(settings, "DULY_WEBHOOKS_ALLOW_LOOPBACK", False))


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_event_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


@dataclass(frozen=True)
class NewSecret:
    endpoint: WebhookEndpoint
    #: The signing secret, shown once.
    secret: str


def _description(text: str) -> str:
    text = (text or "").strip()
    if len(text) > 200:
        raise ValidationError("A description has at most 200 characters.")
    return text


def _locked(org: Organization, endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().filter(organization=org, pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} not found in {org.name}.", id=endpoint_id)
    return endpoint


@transaction.atomic
def create_endpoint(org: Organization, *, url: str, event_types: Sequence[str], description: str = "",
                    now: datetime | None = None) -> NewSecret:
    """A new enabled endpoint with its own secret, returned once."""
    url = check_url(url, allow_loopback=allow_loopback())
    types = check_event_types(list(event_types))
    if WebhookEndpoint.objects.filter(organization=org).count() >= MAX_ENDPOINTS:
        raise ValidationError(f"An organization has at most {MAX_ENDPOINTS} webhook endpoints.")
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(organization=org, url=url, event_types=types,
                                              description=_description(description), secret=secret,
                                              created_at=now or timezone.now())
    return NewSecret(endpoint, secret)


@transaction.atomic
def update_endpoint(org: Organization, endpoint_id: int, *, url: str | None = None,
                    event_types: Sequence[str] | None = None, description: str | None = None) -> WebhookEndpoint:
    endpoint = _locked(org, endpoint_id)
    if url is not None:
        endpoint.url = check_url(url, allow_loopback=allow_loopback())
    if event_types is not None:
        endpoint.event_types = check_event_types(list(event_types))
    if description is not None:
        endpoint.description = _description(description)
    endpoint.save(update_fields=["url", "event_types", "description"])
    return endpoint


@transaction.atomic
def set_endpoint_enabled(org: Organization, endpoint_id: int, enabled: bool, *,
                         now: datetime | None = None) -> WebhookEndpoint:
    """Disable (no new deliveries; pending ones wait) or enable again (pending ones go out)."""
    endpoint = _locked(org, endpoint_id)
    if endpoint.enabled != enabled:
        endpoint.enabled = enabled
        endpoint.disabled_at = None if enabled else (now or timezone.now())
        endpoint.save(update_fields=["enabled", "disabled_at"])
    return endpoint


@transaction.atomic
def rotate_secret(org: Organization, endpoint_id: int, *, now: datetime | None = None) -> NewSecret:
    """A new secret, returned once; for 24 hours deliveries carry a signature with the old one as well."""
    endpoint = _locked(org, endpoint_id)
    secret = new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = (now or timezone.now()) + ROTATION_GRACE
    endpoint.secret = secret
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return NewSecret(endpoint, secret)


# --- the outbox ------------------------------------------------------------------------------------------------
def subscribed(org_id: int, event_type: str) -> list[WebhookEndpoint]:
    """The organization's enabled endpoints that receive ``event_type`` (a read: one query; one per bulk write
    of the payments, inside its :func:`duly.db.scope.read_scope`, where no endpoint is written)."""
    endpoints = scope.memo(("webhook-endpoints", org_id), lambda: list(
        WebhookEndpoint.objects.filter(organization_id=org_id, enabled=True).only("pk", "event_types")))
    return [e for e in endpoints if event_type in e.event_types]


def record_events(org_id: int, event_type: str, items: Iterable[tuple[str, dict]], *,
                  now: datetime | None = None, endpoints: list[WebhookEndpoint] | None = None) -> list[WebhookEvent]:
    """Record events of one type, each ``(key, data)``, once per (organization, type, key), with a delivery to
    every enabled endpoint that receives the type; returns the events recorded now (not those recorded before).

    Runs inside the caller's transaction (the business change's), in a savepoint of its own.
    """
    if event_type not in EVENT_TYPES:
        raise ValidationError(f"Unknown event type {event_type!r}.")
    now = now or timezone.now()
    endpoints = subscribed(org_id, event_type) if endpoints is None else endpoints
    items = list({key: data for key, data in items}.items())
    if not endpoints or not items:
        return []
    with transaction.atomic():
        keys = [key for key, _ in items]
        seen = set(WebhookEvent.objects.filter(organization_id=org_id, event_type=event_type, key__in=keys)
                   .values_list("key", flat=True))
        fresh = [WebhookEvent(organization_id=org_id, event_id=new_event_id(), event_type=event_type, key=key,
                              created_at=now,
                              payload={"type": event_type, "timestamp": now.isoformat(), "data": data})
                 for key, data in items if key not in seen]
        if not fresh:
            return []
        WebhookEvent.objects.bulk_create(fresh, ignore_conflicts=True, batch_size=500)
        events = list(WebhookEvent.objects.filter(event_id__in=[e.event_id for e in fresh]))
        WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(organization_id=org_id, event=event, endpoint_id=endpoint.pk, created_at=now,
                             next_attempt_at=now) for event in events for endpoint in endpoints],
            ignore_conflicts=True, batch_size=500)
    return events


def record_event(org_id: int, event_type: str, key: str, data: dict, *,
                 now: datetime | None = None) -> WebhookEvent | None:
    events = record_events(org_id, event_type, [(key, data)], now=now)
    return events[0] if events else None


@transaction.atomic
def replay(org: Organization, *, delivery_id: int | None = None, event_id: str | None = None,
           endpoint_id: int | None = None, now: datetime | None = None) -> list[WebhookDelivery]:
    """Send a delivery again (``delivery_id``), or an event again (``event_id``: to each endpoint it went to, or
    to ``endpoint_id``, which need not have had it). The delivery goes back to the queue, due now, with its
    retry schedule started afresh; its log keeps the earlier attempts. The event keeps its id."""
    now = now or timezone.now()
    if delivery_id is not None:
        deliveries = list(WebhookDelivery.objects.select_for_update().filter(organization=org, pk=delivery_id))
        if not deliveries:
            raise NotFound(f"Webhook delivery {delivery_id} not found in {org.name}.", id=delivery_id)
    elif event_id is not None:
        event = WebhookEvent.objects.filter(organization=org, event_id=event_id).first()
        if event is None:
            raise NotFound(f"Webhook event {event_id} not found in {org.name}.", event_id=event_id)
        if endpoint_id is not None:
            endpoint = _locked(org, endpoint_id)
            WebhookDelivery.objects.get_or_create(event=event, endpoint=endpoint, defaults=dict(
                organization=org, created_at=now, next_attempt_at=now))
        qs = WebhookDelivery.objects.select_for_update().filter(organization=org, event=event)
        if endpoint_id is not None:
            qs = qs.filter(endpoint_id=endpoint_id)
        deliveries = list(qs)
    else:
        raise ValidationError("Name a delivery or an event to replay.")
    for d in deliveries:
        if d.status == WebhookDelivery.SENDING:
            raise InvalidState(f"Delivery {d.pk} is being sent right now; replay it once it is done.")
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status=WebhookDelivery.PENDING, attempts=0, next_attempt_at=now, last_error="")
    return list(WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).order_by("pk"))


# --- the worker's writes (each commits on its own) ---------------------------------------------------------------
def claim_due(now: datetime, limit: int, token: str, lease: timedelta) -> list[WebhookDelivery]:
    """Take up to ``limit`` due deliveries of enabled endpoints: ``pending`` → ``sending`` under ``token`` until
    ``now + lease``. One UPDATE that only takes rows still ``pending`` (SQLite: whoever updates first has them);
    PostgreSQL skips rows another worker has locked (FOR UPDATE SKIP LOCKED)."""
    with transaction.atomic():
        qs = WebhookDelivery.objects.filter(status=WebhookDelivery.PENDING, next_attempt_at__lte=now,
                                            endpoint__enabled=True)
        if db_connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        ids = list(qs.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])
        if not ids:
            return []
        WebhookDelivery.objects.filter(id__in=ids, status=WebhookDelivery.PENDING).update(
            status=WebhookDelivery.SENDING, lease_token=token, lease_expires_at=now + lease)
    return list(WebhookDelivery.objects.select_related("event", "endpoint")
                .filter(lease_token=token, status=WebhookDelivery.SENDING).order_by("next_attempt_at", "id"))


@transaction.atomic
def record_attempt(delivery: WebhookDelivery, token: str, *, at: datetime, status_code: int | None,
                   duration_ms: int, error: str, succeeded: bool, next_attempt_at: datetime | None) -> bool:
    """Log one attempt and settle the delivery held under ``token``: delivered, back to ``pending`` until
    ``next_attempt_at``, or failed (no next attempt). False (nothing written) when the lease was lost."""
    fields: dict = {"lease_token": "", "lease_expires_at": None, "last_status_code": status_code,
                    "last_error": error[:500]}
    if succeeded:
        fields.update(status=WebhookDelivery.DELIVERED, delivered_at=at, last_error="")
    else:
        fields.update(attempts=delivery.attempts + 1, next_attempt_at=next_attempt_at,
                      status=WebhookDelivery.PENDING if next_attempt_at is not None else WebhookDelivery.FAILED)
    if not WebhookDelivery.objects.filter(pk=delivery.pk, lease_token=token,
                                          status=WebhookDelivery.SENDING).update(**fields):
        return False
    WebhookAttempt.objects.create(organization_id=delivery.organization_id, delivery_id=delivery.pk, attempted_at=at,
                                  status_code=status_code, duration_ms=max(0, duration_ms), error=error[:500],
                                  succeeded=succeeded)
    return True


def release_expired(now: datetime) -> int:
    """Deliveries left ``sending`` by a worker that stopped (its lease expired) go back to the queue, due now.
    Whether that worker's POST reached the receiver is unknown: it may receive the event twice, with the same
    ``webhook-id`` (at least once, as the Standard Webhooks specification expects)."""
    return WebhookDelivery.objects.filter(status=WebhookDelivery.SENDING, lease_expires_at__lt=now).update(
        status=WebhookDelivery.PENDING, lease_token="", lease_expires_at=None, next_attempt_at=now,
        last_error="re-queued: the worker stopped before recording the answer")


def endpoints_by_org(event_type: str) -> dict[int, list[WebhookEndpoint]]:
    """Enabled endpoints receiving ``event_type``, by organization id (a read)."""
    out: dict[int, list[WebhookEndpoint]] = {}
    for e in WebhookEndpoint.objects.filter(enabled=True).only("pk", "organization_id", "event_types", "created_at"):
        if event_type in e.event_types:
            out.setdefault(e.organization_id, []).append(e)
    return out



@transaction.atomic
def record_overdue(org_id: int, items: Iterable[tuple[str, dict]], *, now: datetime,
                   endpoints: list[WebhookEndpoint]) -> list[WebhookEvent]:
    """The daily scan's ``invoice.overdue`` events of one organization (one per invoice, ever), in a transaction."""
    return record_events(org_id, "invoice.overdue", items, now=now, endpoints=endpoints)
