"""Writes of the outbox worker: the state of a message while it is claimed, sent and recovered.

:mod:`duly.messaging.delivery` runs the protocol (claim, screen, journal, send, recover) and decides
what becomes of each message; every change it makes to a ``Message`` row is one of the functions here.
Each is a single conditional UPDATE that only touches a row still held under the expected lease (or
still ``queued``, for a claim), so two workers never both change one message. Each commits on its own
(the worker runs outside any transaction: a crash keeps what was recorded).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection as db_connection, transaction
from django.db.models import Q

from .models import Message

__all__ = ["claim_due", "end_lease", "renew_lease", "settle_expired_lease"]


def claim_due(now: datetime, limit: int, token: str, lease: timedelta) -> list[Message]:
    """Take up to ``limit`` due e-mail messages, ``queued`` → ``sending`` under ``token`` until ``now + lease``
    (one UPDATE that only takes rows still ``queued``), and return them with their organization."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    with transaction.atomic():
        qs = Message.objects.filter(due, channel=Message.CHANNEL_EMAIL, status=Message.QUEUED)
        if db_connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        ids = list(qs.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])
        if not ids:
            return []
        Message.objects.filter(id__in=ids, status=Message.QUEUED).update(
            status=Message.SENDING, lease_token=token, lease_expires_at=now + lease, claimed_at=now,
        )
    return list(Message.objects.select_related("organization").filter(lease_token=token, status=Message.SENDING)
                .order_by("next_attempt_at", "id"))


def renew_lease(pk: int, token: str, until: datetime) -> bool:
    """Extend the lease of a message this worker still holds; False when it lost it (another worker recovered it)."""
    return bool(Message.objects.filter(pk=pk, lease_token=token, status=Message.SENDING)
                .update(lease_expires_at=until))


def end_lease(pk: int, token: str, **fields) -> int:
    """Release the lease of a message held under ``token``, writing ``fields`` (its new status, attempts, error...)."""
    return Message.objects.filter(pk=pk, lease_token=token).update(lease_token="", lease_expires_at=None, **fields)


def settle_expired_lease(pk: int, token: str, **fields) -> int:
    """Recovery: write ``fields`` on a message still ``sending`` under the expired lease ``token`` (the lease
    ends with it); 0 when another worker settled it first."""
    return Message.objects.filter(pk=pk, status=Message.SENDING, lease_token=token).update(
        lease_token="", lease_expires_at=None, **fields)
