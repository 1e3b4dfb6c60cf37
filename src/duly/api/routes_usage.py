"""/api/v1/usage_events: record usage events in batches, each idempotent by its own key
(duly.billing.services.record_usage: a rejected event never stops the valid ones)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ninja import Router
from pydantic import BaseModel, ConfigDict, Field

from duly.billing import services as billing

from .core import ERRORS, In, Schema, idempotent, require

router = Router(tags=["usage"])
#: The most events one request may carry.
MAX_BATCH = 1000


class UsageEventIn(BaseModel):
    """One event (a plain pydantic model: a batch holds a thousand, ninja's per-object hooks are not needed)."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: str = Field(min_length=1, max_length=200,
                                 description="Unique per event: an event sent again with its key is a duplicate")
    customer: str = Field(min_length=1, max_length=100, description="The customer's code")
    metric: str = Field(min_length=1, max_length=100, description="The metric's code")
    timestamp: datetime = Field(description="ISO 8601 with an offset")
    value: Decimal = Field(Decimal(1), ge=0, description="A non-negative number, at most 6 decimals")
    properties: dict[str, Any] | None = None
    subscription: int | None = Field(None, ge=1, description="The subscription it belongs to (optional)")


class UsageBatchIn(In):
    events: list[UsageEventIn] = Field(min_length=1, max_length=MAX_BATCH)


class UsageRejection(Schema):
    position: int = Field(description="1-based position of the event in the batch")
    key: str
    code: str
    reason: str


class UsageBatchOut(Schema):
    accepted: int
    duplicates: int
    late: int = Field(description="Accepted events of an invoiced period, billed later as a late adjustment")
    rejected: int
    duplicate_positions: list[int]
    rejections: list[UsageRejection]


def batch_body(result) -> dict:
    return {"accepted": result.accepted, "duplicates": result.duplicates, "late": result.late,
            "rejected": len(result.rejected), "duplicate_positions": result.duplicate_lines,
            "rejections": [{"position": r.line, "key": r.key, "code": r.code, "reason": r.reason}
                           for r in result.rejected]}


@router.post("/usage_events", response={200: UsageBatchOut, **ERRORS},
             summary=f"Record a batch of usage events (at most {MAX_BATCH})")
def record_usage(request, body: UsageBatchIn):
    org = require(request, "bill")
    events = body.model_dump(exclude_none=True)["events"]

    def run():
        return 200, batch_body(billing.record_usage(org, events))
    return idempotent(request, run)
