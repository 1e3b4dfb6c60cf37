"""/api/v1/webhook_endpoints and /api/v1/webhook_deliveries: outgoing webhooks (docs/api.md, "Webhooks").

Reads need ``view``; making, changing, rotating and replaying need ``manage_organization``. A secret is in the
answer only when it is made (POST) or rotated."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Query, Router
from pydantic import Field

from duly.domain.webhooks import EVENT_TYPES

from . import outgoing_readers as readers
from . import outgoing_services as services
from .core import ERRORS, In, PageOf, QueryIn, Schema, idempotent, page_body, require
from .readers import MAX_LIMIT, page

router = Router(tags=["webhooks"])
EventType = Literal[tuple(EVENT_TYPES)]  # type: ignore[valid-type]


class EndpointOut(Schema):
    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    created_at: datetime
    disabled_at: datetime | None = None


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="The signing secret (whsec_…): shown only in this answer")


def endpoint_body(e) -> dict:
    return {"id": e.pk, "url": e.url, "description": e.description, "event_types": list(e.event_types),
            "enabled": e.enabled, "created_at": e.created_at, "disabled_at": e.disabled_at}


class Paging(QueryIn):
    limit: int = Field(20, ge=1, le=MAX_LIMIT)
    starting_after: int | None = Field(None, ge=1)


@router.get("/webhook_endpoints", response={200: PageOf[EndpointOut], **ERRORS}, summary="List webhook endpoints")
def list_endpoints(request, filters: Query[Paging]):
    org = require(request, "view", Paging)
    return page_body(page(readers.endpoints(org), limit=filters.limit, starting_after=filters.starting_after),
                     endpoint_body)


@router.get("/webhook_endpoints/{endpoint_id}", response={200: EndpointOut, **ERRORS}, summary="Get an endpoint")
def get_endpoint(request, endpoint_id: int):
    org = require(request, "view")
    return endpoint_body(readers.endpoint(org, endpoint_id))


class EndpointIn(In):
    url: str = Field(min_length=1, max_length=2000, description="https:// URL that receives the events")
    event_types: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: str = Field("", max_length=200)


@router.post("/webhook_endpoints", response={201: EndpointWithSecret, **ERRORS},
             summary="Create a webhook endpoint (its secret is in this answer only)")
def create_endpoint(request, body: EndpointIn):
    org = require(request, "manage_organization")

    def run():
        new = services.create_endpoint(org, url=body.url, event_types=list(body.event_types),
                                       description=body.description)
        return 201, {**endpoint_body(new.endpoint), "secret": new.secret}
    return idempotent(request, run)


class EndpointPatch(In):
    url: str | None = Field(None, min_length=1, max_length=2000)
    event_types: list[EventType] | None = Field(None, min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(None, max_length=200)
    enabled: bool | None = Field(None, description="false: no new deliveries; pending ones wait until true")


@router.patch("/webhook_endpoints/{endpoint_id}", response={200: EndpointOut, **ERRORS},
              summary="Change, disable or enable an endpoint")
def update_endpoint(request, endpoint_id: int, body: EndpointPatch):
    org = require(request, "manage_organization")
    readers.endpoint(org, endpoint_id)
    fields = body.model_dump(exclude_unset=True)
    enabled = fields.pop("enabled", None)
    changes = {k: v for k, v in fields.items() if v is not None}
    row = services.update_endpoint(org, endpoint_id, **changes) if changes else readers.endpoint(org, endpoint_id)
    if enabled is not None:
        row = services.set_endpoint_enabled(org, endpoint_id, enabled)
    return endpoint_body(row)


@router.post("/webhook_endpoints/{endpoint_id}/rotate_secret", response={200: EndpointWithSecret, **ERRORS},
             summary="Give an endpoint a new secret (the old one still signs for 24 hours)")
def rotate_secret(request, endpoint_id: int):
    org = require(request, "manage_organization")
    readers.endpoint(org, endpoint_id)

    def run():
        new = services.rotate_secret(org, endpoint_id)
        return 200, {**endpoint_body(new.endpoint), "secret": new.secret}
    return idempotent(request, run)


# --- deliveries --------------------------------------------------------------------------------------------------
class AttemptOut(Schema):
    attempted_at: datetime
    status_code: int | None = None
    duration_ms: int
    error: str
    succeeded: bool


class DeliveryOut(Schema):
    id: int
    endpoint_id: int
    event_id: str = Field(description="The webhook-id header: the same for every attempt and replay")
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str
    payload: dict


class DeliveryDetail(DeliveryOut):
    log: list[AttemptOut]


def delivery_body(d) -> dict:
    return {"id": d.pk, "endpoint_id": d.endpoint_id, "event_id": d.event.event_id, "event_type": d.event.event_type,
            "status": d.status, "attempts": d.attempts, "next_attempt_at": d.next_attempt_at,
            "delivered_at": d.delivered_at, "last_status_code": d.last_status_code, "last_error": d.last_error,
            "payload": d.event.payload}


def delivery_detail(d) -> dict:
    return {**delivery_body(d), "log": [
        {"attempted_at": a.attempted_at, "status_code": a.status_code, "duration_ms": a.duration_ms,
         "error": a.error, "succeeded": a.succeeded} for a in readers.attempts(d)]}


class DeliveryFilters(Paging):
    endpoint: int | None = Field(None, ge=1)
    status: Literal["pending", "sending", "delivered", "failed"] | None = None
    event_id: str | None = Field(None, max_length=40)


@router.get("/webhook_deliveries", response={200: PageOf[DeliveryOut], **ERRORS}, summary="List deliveries")
def list_deliveries(request, filters: Query[DeliveryFilters]):
    org = require(request, "view", DeliveryFilters)
    qs = readers.deliveries(org, endpoint_id=filters.endpoint, status=filters.status, event_id=filters.event_id)
    return page_body(page(qs, limit=filters.limit, starting_after=filters.starting_after), delivery_body)


@router.get("/webhook_deliveries/{delivery_id}", response={200: DeliveryDetail, **ERRORS},
            summary="Get a delivery with its log of attempts")
def get_delivery(request, delivery_id: int):
    org = require(request, "view")
    return delivery_detail(readers.delivery(org, delivery_id))


@router.post("/webhook_deliveries/{delivery_id}/replay", response={200: DeliveryOut, **ERRORS},
             summary="Send a delivery again (same event id), now")
def replay(request, delivery_id: int):
    org = require(request, "manage_organization")
    readers.delivery(org, delivery_id)

    def run():
        services.replay(org, delivery_id=delivery_id)
        return 200, delivery_body(readers.delivery(org, delivery_id))
    return idempotent(request, run)
