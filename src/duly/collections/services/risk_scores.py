"""Late-payment scores handed down by the insights app (which sits above collections): stored where the
dunning snapshot reads them in bulk (:class:`~duly.collections.models.LatePaymentScore`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction

from duly.customers.models import Organization
from duly.invoicing.models import Invoice

from ..models import LatePaymentScore

CHUNK = 500


@dataclass(frozen=True)
class PublishedScore:
    invoice_id: int
    probability: Decimal
    expected_days_late: int


def publish_late_payment_scores(org: Organization, scores: list[PublishedScore], *, scored_on: date) -> int:
    """Insert or update one row per invoice of ``org`` (an invoice of another organization is ignored).
    Idempotent: the same scores leave the same rows."""
    ids = [s.invoice_id for s in scores]
    own: set[int] = set()
    for start in range(0, len(ids), CHUNK):  # a bounded list of ids per query
        own.update(Invoice.objects.filter(organization=org, pk__in=ids[start:start + CHUNK])
                   .values_list("pk", flat=True))
    rows = [LatePaymentScore(organization=org, invoice_id=s.invoice_id, probability=s.probability,
                             expected_days_late=s.expected_days_late, scored_on=scored_on)
            for s in scores if s.invoice_id in own]
    with transaction.atomic():
        LatePaymentScore.objects.bulk_create(
            rows, batch_size=CHUNK, update_conflicts=True, unique_fields=["invoice"],
            update_fields=["probability", "expected_days_late", "scored_on"])
    return len(rows)
