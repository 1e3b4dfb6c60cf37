"""API keys: shown once, hashed at rest, scoped by role, revocable, last use recorded, rate-limited."""

from __future__ import annotations

import hashlib

import pytest

from .conftest import ApiClient, assert_problem


def test_key_lifecycle(org):
    from duly.api.models import ApiKey
    from duly.api.services import create_api_key, revoke_api_key

    new = create_api_key(org, name="ERP sync", role="viewer")
    row = ApiKey.objects.get(pk=new.api_key.pk)
    # only the digest is stored: the secret is in no column
    assert new.secret.startswith(f"duly_{row.prefix}_") and len(new.secret) > 40
    assert row.secret_sha256 == hashlib.sha256(new.secret.encode()).hexdigest()
    assert all(new.secret not in str(getattr(row, f.attname)) for f in ApiKey._meta.fields)
    assert row.last_used_at is None

    client = ApiClient(new.secret)
    assert client.get("/customers").status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None

    revoke_api_key(org, row.pk)
    body = assert_problem(client.get("/customers"), 401, "unauthenticated")
    assert "revoked" in body["detail"]
    # a wrong secret with a real prefix is refused, and the problem names no secret
    forged = ApiClient(f"duly_{row.prefix}_{'x' * 43}")
    body = assert_problem(forged.get("/customers"), 401, "unauthenticated")
    assert row.secret_sha256 not in str(body)


def test_bad_role_and_name_refused(org):
    from duly.api.models import ApiKey
    from duly.api.services import create_api_key
    from duly.domain.errors import ValidationError

    with pytest.raises(ValidationError):
        create_api_key(org, name="x", role="emperor")
    with pytest.raises(ValidationError):
        create_api_key(org, name=" ", role="viewer")
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("collector", False), ("bookkeeper", True)])
def test_scope(make_api, org, customer, role, allowed):
    from duly.customers.models import Customer

    client = make_api(org, role=role)
    assert client.get("/customers").status_code == 200  # every role reads
    response = client.post("/customers", {"code": "NEW", "name": "New SA", "country": "FR", "city": "Lyon",
                                          "address_line1": "1 rue"})
    if allowed:
        assert response.status_code == 201
    else:
        assert_problem(response, 403, "insufficient_scope")
        assert not Customer.objects.filter(code="NEW").exists()
        assert_problem(client.post("/invoices", {"customer_id": customer.pk, "lines": [
            {"description": "x", "quantity": "1", "unit_price": "1"}]}), 403, "insufficient_scope")
        assert_problem(client.post("/payments", {"customer_id": customer.pk, "method": "cash",
                                                 "amount": {"amount_minor": 100, "currency": "EUR"}}),
                       403, "insufficient_scope")


def test_rate_limit(make_api, org):
    client = make_api(org, rate_limit_per_minute=3)
    assert [client.get("/customers").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/customers")
    assert_problem(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 61
    # another key of the same organization has its own window
    assert make_api(org).get("/customers").status_code == 200


def test_scheduled_purge_forgets_expired_records(api, org):
    from datetime import timedelta

    from django.utils import timezone

    from duly.api.models import IdempotencyRecord, RateWindow
    from duly.api.tasks import scheduled_purge

    assert api.post("/customers", {"code": "Q1", "name": "Q SA", "country": "FR", "city": "Lyon",
                                   "address_line1": "1 rue"}, idem="old").status_code == 201
    assert scheduled_purge(timezone.now()) == (0, 0)
    assert scheduled_purge(timezone.now() + timedelta(hours=25)) == (1, 1)
    assert not IdempotencyRecord.objects.exists() and not RateWindow.objects.exists()


def test_rate_limit_shared_cache(make_api, org, settings):
    """With DULY_CACHE_URL (Redis), the window is counted in the shared cache: every client (and every process)
    using a key shares its limit, and no request writes a rate window to the database."""
    import uuid

    from django.core.cache import caches

    from duly.api.models import ApiKey, RateWindow
    from duly.api.services import create_api_key

    settings.DULY_SHARED_CACHE = True
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:6379/15", "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}
    caches["default"].set("probe", 1)  # Redis is the machine's (127.0.0.1:6379); fails loudly if it is down
    secret = create_api_key(org, name="shared", role="viewer", rate_limit_per_minute=4).secret
    first, second = ApiClient(secret), ApiClient(secret)
    codes = [client.get("/customers").status_code for client in (first, second, first, second)]
    assert codes == [200, 200, 200, 200]
    assert_problem(second.get("/customers"), 429, "rate_limited")
    assert_problem(first.get("/customers"), 429, "rate_limited")
    assert not RateWindow.objects.exists()
    assert ApiKey.objects.get(name="shared").last_used_at is not None
    # another key has its own window in the cache
    assert make_api(org).get("/customers").status_code == 200
    caches["default"].clear()


def test_rate_limit_database_window_shared_by_clients(make_api, org):
    """Without a shared cache the window is one row counted by an atomic upsert: clients of one key share it."""
    from duly.api.models import RateWindow
    from duly.api.services import create_api_key

    secret = create_api_key(org, name="db", role="viewer", rate_limit_per_minute=2).secret
    first, second = ApiClient(secret), ApiClient(secret)
    assert [first.get("/customers").status_code, second.get("/customers").status_code] == [200, 200]
    assert_problem(first.get("/customers"), 429, "rate_limited")
    assert RateWindow.objects.get(api_key__name="db").count == 3
