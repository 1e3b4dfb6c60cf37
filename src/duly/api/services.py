"""The writers of the API app: API keys (create, revoke, admit a request), idempotency records, rate windows.

A key is ``duly_<prefix>_<secret>``: the prefix finds the row, the SHA-256 of the whole key is compared in
constant time. Only the digest is stored; the key is returned once by :func:`create_api_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import caches
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from duly.customers.models import Organization
from duly.customers.roles import ROLES
from duly.domain.errors import (
    DomainError,
    IdempotencyConflict,
    IdempotencyInProgress,
    NotFound,
    RateLimited,
    Unauthenticated,
    ValidationError,
)

from .models import ApiKey, IdempotencyRecord, RateWindow

KEY_PREFIX = "duly"
#: How long a stored response is replayed for the same Idempotency-Key.
IDEMPOTENCY_TTL = timedelta(hours=24)
RATE_WINDOW = timedelta(minutes=1)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    api_key: ApiKey
    #: The full key, shown once: it is not stored.
    secret: str


@transaction.atomic
def create_api_key(org: Organization, *, name: str, role: str, rate_limit_per_minute: int = 600) -> NewKey:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError("An API key needs a name of 1 to 100 characters.")
    if role not in ROLES:
        raise ValidationError(f"Unknown role {role!r}; choose from {sorted(ROLES)}.", code="invalid_choice")
    if rate_limit_per_minute < 1:
        raise ValidationError("The rate limit must be at least one request a minute.")
    prefix = secrets.token_hex(6)
    raw = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(organization=org, name=name, role=role, prefix=prefix, secret_sha256=_digest(raw),
                                rate_limit_per_minute=rate_limit_per_minute)
    return NewKey(key, raw)


@transaction.atomic
def revoke_api_key(org: Organization, key_id: int, *, now: datetime | None = None) -> ApiKey:
    key = ApiKey.objects.select_for_update().filter(organization=org, pk=key_id).first()
    if key is None:
        raise NotFound(f"API key {key_id} not found in {org.name}.")
    if key.revoked_at is None:
        key.revoked_at = now or timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def _find_key(raw: str) -> ApiKey:
    parts = raw.split("_", 2) if raw else []
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise Unauthenticated("Send a valid API key: Authorization: Bearer duly_…")
    key = ApiKey.objects.select_related("organization").filter(prefix=parts[1][:16]).first()
    if key is None or not hmac.compare_digest(key.secret_sha256, _digest(raw)):
        raise Unauthenticated("This API key is not valid.")
    if key.revoked_at is not None:
        raise Unauthenticated("This API key was revoked.")
    return key


#: A key's last-used time is written at most this often (one write a minute, not one per request).
LAST_USED_EVERY = timedelta(minutes=1)


def admit_request(raw: str, *, now: datetime | None = None) -> ApiKey:
    """The key a request authenticates with, counted in its rate window; records its last use (to the minute).

    The window's count is one atomic increment: in the shared cache when ``DULY_CACHE_URL`` configures one
    (Redis: every process sees the same count), otherwise in the database (one upsert statement).
    Raises :class:`Unauthenticated` (missing, unknown, revoked) or :class:`RateLimited`.
    """
    key = _find_key(raw)
    now = now or timezone.now()
    window = now.replace(second=0, microsecond=0)
    count = _count_in_window(key, window)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    if count > key.rate_limit_per_minute:
        retry = int((window + RATE_WINDOW - now).total_seconds()) + 1
        raise RateLimited(f"Too many requests with this key: at most {key.rate_limit_per_minute} a minute.",
                          retry_after=retry)
    return key


def _count_in_window(key: ApiKey, window: datetime) -> int:
    """This request's number in ``key``'s window: one atomic increment (shared cache or database)."""
    if settings.DULY_SHARED_CACHE:
        name = f"duly:rate:{key.pk}:{int(window.timestamp())}"
        cache = caches["default"]
        # add() is atomic (SET NX): the first request of a window creates it, with an expiry past its end.
        if cache.add(name, 1, timeout=int(RATE_WINDOW.total_seconds()) + 60):
            return 1
        try:
            return cache.incr(name)
        except ValueError:  # expired between add and incr: this request opens the window again
            cache.add(name, 1, timeout=int(RATE_WINDOW.total_seconds()) + 60)
            return 1
    table = RateWindow._meta.db_table
    with connection.cursor() as cursor:
        # One statement, atomic in both SQLite (≥ 3.35) and PostgreSQL: insert the window or count in it.
        cursor.execute(
            f"INSERT INTO {table} (api_key_id, window_start, count) VALUES (%s, %s, 1) "
            "ON CONFLICT (api_key_id, window_start) DO UPDATE SET count = " + table + ".count + 1 RETURNING count",
            [key.pk, RateWindow._meta.get_field("window_start").get_db_prep_value(window, connection)])
        count = cursor.fetchone()[0]
    if count == 1:  # a new window: forget this key's ended ones (once a minute, not once a request)
        RateWindow.objects.filter(api_key=key, window_start__lt=window - RATE_WINDOW).delete()
    return count


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    content_type: str
    body: bytes
    replayed: bool


Rendered = tuple[int, str, bytes]


def run_once(org: Organization, key: str, fingerprint: str, run: Callable[[], Rendered],
             on_error: Callable[[DomainError], Rendered], *, now: datetime | None = None) -> StoredResponse:
    """Run a request once per (organization, ``key``); replay its stored response for 24 hours.

    The key is claimed, the request handled and its response stored in ONE transaction: a crash in between
    leaves nothing (the retry runs it again), and a concurrent request with the same key waits on the unique
    constraint until the first commits, then replays it. The same key with another request: 422.
    ``run`` returns (status, content type, body); it calls services, whose transactions nest in this one, in
    a savepoint of its own: a DomainError rolls it back and ``on_error`` renders the answer that is stored.
    """
    if not key or len(key) > 255:
        raise ValidationError("An Idempotency-Key has 1 to 255 characters.", code="invalid_idempotency_key")
    now = now or timezone.now()
    IdempotencyRecord.objects.filter(organization=org, key=key, created_at__lt=now - IDEMPOTENCY_TTL).delete()
    stored = _stored(org, key, fingerprint)
    if stored is not None:
        return stored
    try:
        with transaction.atomic():
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(organization=org, key=key, request_sha256=fingerprint,
                                                          created_at=now)
            try:
                with transaction.atomic():
                    status, content_type, body = run()
            except DomainError as err:
                status, content_type, body = on_error(err)
            IdempotencyRecord.objects.filter(pk=record.pk).update(status_code=status, content_type=content_type,
                                                                  body=body)
    except IntegrityError:
        stored = _stored(org, key, fingerprint)
        if stored is None:
            raise
        return stored
    return StoredResponse(status, content_type, body, replayed=False)


def _stored(org: Organization, key: str, fingerprint: str) -> StoredResponse | None:
    record = IdempotencyRecord.objects.filter(organization=org, key=key).first()
    if record is None:
        return None
    if not hmac.compare_digest(record.request_sha256, fingerprint):
        raise IdempotencyConflict(
            "This Idempotency-Key was used with a different request: use a new key for a new request.")
    if record.status_code is None:  # not reachable through run_once (one transaction), kept as a guard
        raise IdempotencyInProgress("The first request with this Idempotency-Key is still being handled.")
    return StoredResponse(record.status_code, record.content_type, bytes(record.body), replayed=True)


@transaction.atomic
def purge_expired(now: datetime) -> tuple[int, int]:
    """Delete idempotency records older than 24 hours and rate windows that ended: (records, windows)."""
    records, _ = IdempotencyRecord.objects.filter(created_at__lt=now - IDEMPOTENCY_TTL).delete()
    windows, _ = RateWindow.objects.filter(window_start__lt=now - RATE_WINDOW).delete()
    return records, windows
