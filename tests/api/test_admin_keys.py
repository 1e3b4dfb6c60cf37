"""The API keys' admin page: read-only, never shows a secret; its revoke action needs manage_organization."""

from __future__ import annotations

from django.test import Client


def _client(org, username, role):
    from duly.customers.services import add_member

    add_member(org, username=username, password="ledger-pass-1", role=role)
    client = Client()
    assert client.login(username=username, password="ledger-pass-1")
    return client


def test_list_and_revoke(org):
    from duly.api.models import ApiKey
    from duly.api.services import create_api_key

    new = create_api_key(org, name="Warehouse", role="viewer")
    url = "/admin/api/apikey/"
    bookkeeper = _client(org, "bk", "bookkeeper")
    page = bookkeeper.get(url)
    assert page.status_code == 200 and b"Warehouse" in page.content and new.secret.encode() not in page.content
    assert bookkeeper.get(f"{url}add/").status_code == 403
    bookkeeper.post(url, {"action": "revoke", "_selected_action": [new.api_key.pk]})
    assert ApiKey.objects.get().revoked_at is None  # a bookkeeper may not

    admin = _client(org, "boss", "admin")
    response = admin.post(url, {"action": "revoke", "_selected_action": [new.api_key.pk]}, follow=True)
    assert b"Revoked 1 API key" in response.content
    assert ApiKey.objects.get().revoked_at is not None
