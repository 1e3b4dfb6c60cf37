"""Outgoing webhooks through every way in: the API routes (scope, idempotency, isolation), `duly webhooks`, the
admin (secret shown once, replay), and the URL rules that keep deliveries off this machine and private networks."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.test import Client

from duly.api import outgoing_services as hooks
from duly.api.outgoing_delivery import deliver_webhooks
from duly.api.outgoing_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from duly.domain.errors import UnsafeWebhookUrl
from duly.domain.webhooks import address_refused, check_url
from duly.invoicing import services as inv

from .conftest import assert_problem

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.webhook_receiver import Receiver, receiver  # noqa: E402,F401 - a fixture


def soon():
    return datetime.now(dt_timezone.utc) + timedelta(minutes=1)


def issue(org, customer, contract):
    draft = inv.create_draft(org, customer, [inv.LineData("Service", Decimal(1), Decimal("100.00"))],
                             contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=datetime.now(dt_timezone.utc).date())


# --- URL safety (SSRF) -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "http://hooks.example.com/duly",  # not https
    "ftp://hooks.example.com/",
    "https://user:pw@hooks.example.com/",
    "https://localhost/hook", "https://127.0.0.1/hook", "http://127.0.0.1:8080/hook", "https://[::1]/hook",
    "https://10.0.0.5/hook", "https://192.168.1.1/hook", "https://172.16.0.1/hook",  # private
    "https://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
    "https://[fe80::1]/hook", "https://[fd00::1]/hook", "https://0.0.0.0/hook", "https://[::ffff:10.0.0.1]/",
    "https://224.0.0.1/hook", "not a url", "",
])
def test_unsafe_urls_are_refused(url):
    with pytest.raises(UnsafeWebhookUrl):
        check_url(url, allow_loopback=False)


def test_loopback_only_when_allowed_and_never_private():
    assert check_url("http://127.0.0.1:9000/h", allow_loopback=True) == "http://127.0.0.1:9000/h"
    assert check_url("https://hooks.example.com/duly", allow_loopback=False)
    with pytest.raises(UnsafeWebhookUrl):
        check_url("http://10.1.2.3/h", allow_loopback=True)
    with pytest.raises(UnsafeWebhookUrl):
        check_url("http://hooks.example.com/h", allow_loopback=True)  # http only to the loopback
    assert address_refused("93.184.216.34", allow_loopback=False) is None
    assert address_refused("169.254.169.254", allow_loopback=True) == "a link-local address"


def test_no_endpoint_is_made_for_an_unsafe_url(org, settings):
    settings.DULY_WEBHOOKS_ALLOW_LOOPBACK = False
    with pytest.raises(UnsafeWebhookUrl):
        hooks.create_endpoint(org, url="http://127.0.0.1:9000/h", event_types=["invoice.issued"])
    assert not WebhookEndpoint.objects.exists()


def test_a_name_that_resolves_to_a_private_address_is_refused_at_delivery(org, customer, contract, settings):
    """The host is resolved at each delivery and every address checked: a public-looking name that points at
    this machine (DNS rebinding) gets nothing."""
    settings.DULY_WEBHOOKS_ALLOW_LOOPBACK = False
    receiver = Receiver().start()
    try:
        new = hooks.create_endpoint(org, url=f"https://localhost.localdomain.example:{receiver.port}/h",
                                    event_types=["invoice.issued"])
        WebhookEndpoint.objects.filter(pk=new.endpoint.pk).update(url=f"https://127.0.0.1.nip.io:{receiver.port}/h")
        import socket

        real = socket.getaddrinfo

        def resolver(host, *args, **kwargs):  # the name points at the loopback, as a rebinding attacker's would
            return real("127.0.0.1", *args, **kwargs) if host.endswith(".nip.io") else real(host, *args, **kwargs)

        socket.getaddrinfo = resolver
        try:
            issue(org, customer, contract)
            report = deliver_webhooks(soon())
        finally:
            socket.getaddrinfo = real
        assert report.retrying and receiver.received == []
        assert WebhookAttempt.objects.get().error == "refused: 127.0.0.1.nip.io resolves to a loopback address"
    finally:
        receiver.stop()


# --- API routes --------------------------------------------------------------------------------------------------
def test_api_create_list_rotate_disable_and_replay(org, customer, contract, make_api, receiver):
    admin = make_api(org, role="admin")
    created = admin.post("/webhook_endpoints", {"url": receiver.url, "event_types": ["invoice.issued"],
                                                "description": "ERP"}, idem="hook-1")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["enabled"] and body["event_types"] == ["invoice.issued"]
    receiver.secrets.append(body["secret"])
    again = admin.post("/webhook_endpoints", {"url": receiver.url, "event_types": ["invoice.issued"],
                                              "description": "ERP"}, idem="hook-1")
    assert again["Idempotent-Replayed"] == "true" and WebhookEndpoint.objects.count() == 1
    endpoint_id = body["id"]

    listed = admin.get("/webhook_endpoints").json()
    assert [e["id"] for e in listed["data"]] == [endpoint_id] and "secret" not in listed["data"][0]
    assert "secret" not in admin.get(f"/webhook_endpoints/{endpoint_id}").json()

    issue(org, customer, contract)
    deliver_webhooks(soon())
    [delivery] = admin.get("/webhook_deliveries", endpoint=endpoint_id).json()["data"]
    assert delivery["status"] == "delivered" and delivery["event_type"] == "invoice.issued"
    detail = admin.get(f"/webhook_deliveries/{delivery['id']}").json()
    assert detail["log"][0]["status_code"] == 204 and detail["log"][0]["succeeded"]
    assert body["secret"] not in str(detail)

    replayed = admin.post(f"/webhook_deliveries/{delivery['id']}/replay", idem="replay-1")
    assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
    deliver_webhooks(soon())
    assert receiver.ids() == [delivery["event_id"]] * 2 and all(r.verified for r in receiver.received)

    rotated = admin.post(f"/webhook_endpoints/{endpoint_id}/rotate_secret")
    assert rotated.status_code == 200 and rotated.json()["secret"] != body["secret"]

    disabled = admin.patch(f"/webhook_endpoints/{endpoint_id}", {"enabled": False})
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    issue(org, customer, contract)
    assert WebhookDelivery.objects.count() == 1


def test_api_refusals(org, other_org, make_api, receiver, settings):
    viewer = make_api(org, role="viewer")
    assert viewer.get("/webhook_endpoints").status_code == 200
    assert_problem(viewer.post("/webhook_endpoints", {"url": receiver.url, "event_types": ["invoice.paid"]}),
                   403, "insufficient_scope")
    admin = make_api(org, role="admin")
    assert_problem(admin.post("/webhook_endpoints", {"url": "https://10.0.0.1/h", "event_types": ["invoice.paid"]}),
                   400, "unsafe_webhook_url")
    assert_problem(admin.post("/webhook_endpoints", {"url": receiver.url, "event_types": ["invoice.eaten"]}),
                   422, "invalid_input")
    assert_problem(admin.post("/webhook_endpoints", {"url": receiver.url, "event_types": ["invoice.paid"],
                                                     "secret": "whsec_mine"}), 422, "unknown_field")
    assert not WebhookEndpoint.objects.exists()
    # isolation: org B's key sees and changes nothing of org A's
    mine = hooks.create_endpoint(org, url=receiver.url, event_types=["invoice.paid"]).endpoint
    theirs = make_api(other_org, role="owner")
    assert theirs.get("/webhook_endpoints").json()["data"] == []
    assert_problem(theirs.get(f"/webhook_endpoints/{mine.pk}"), 404, "not_found")
    assert_problem(theirs.patch(f"/webhook_endpoints/{mine.pk}", {"enabled": False}), 404, "not_found")
    assert_problem(theirs.post(f"/webhook_endpoints/{mine.pk}/rotate_secret"), 404, "not_found")
    assert_problem(theirs.get("/webhook_endpoints", starting_after=mine.pk), 400, "invalid_cursor")
    mine.refresh_from_db()
    assert mine.enabled


# --- CLI ---------------------------------------------------------------------------------------------------------
def test_cli_add_list_disable_rotate_replay_deliveries(org, customer, contract, receiver):
    from duly.cli import main

    run = CliRunner().invoke
    added = run(main, ["webhooks", "add", receiver.url, "--org", org.slug, "--event", "invoice.issued"])
    assert added.exit_code == 0, added.output
    secret = added.output.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    receiver.secrets.append(secret)
    endpoint = WebhookEndpoint.objects.get()
    listed = run(main, ["webhooks", "list", "--org", org.slug])
    assert receiver.url in listed.output and "enabled" in listed.output and secret not in listed.output

    issue(org, customer, contract)
    deliver_webhooks(soon())
    shown = run(main, ["webhooks", "deliveries", "--org", org.slug, "--log"])
    delivery = WebhookDelivery.objects.get()
    assert shown.exit_code == 0 and delivery.event.event_id in shown.output and "delivered" in shown.output
    assert " 204 " in shown.output
    replayed = run(main, ["webhooks", "replay", str(delivery.pk), "--org", org.slug])
    assert replayed.exit_code == 0 and "Queued 1" in replayed.output
    deliver_webhooks(soon())
    assert receiver.ids() == [delivery.event.event_id] * 2

    rotated = run(main, ["webhooks", "rotate", str(endpoint.pk), "--org", org.slug])
    assert rotated.exit_code == 0 and rotated.output.strip().splitlines()[-1] != secret
    disabled = run(main, ["webhooks", "disable", str(endpoint.pk), "--org", org.slug])
    assert disabled.exit_code == 0 and "disabled" in disabled.output
    endpoint.refresh_from_db()
    assert not endpoint.enabled

    bad = run(main, ["webhooks", "add", "http://10.0.0.1/h", "--org", org.slug, "--event", "invoice.paid"])
    assert bad.exit_code == 2 and "[unsafe_webhook_url]" in bad.output
    unknown = run(main, ["webhooks", "add", receiver.url, "--org", org.slug, "--event", "invoice.eaten"])
    assert unknown.exit_code == 2 and "[unknown_event_type]" in unknown.output
    assert WebhookEndpoint.objects.count() == 1


# --- admin -------------------------------------------------------------------------------------------------------
def _client(org, username, role):
    from duly.customers.services import add_member

    add_member(org, username=username, password="ledger-pass-1", role=role)
    client = Client()
    assert client.login(username=username, password="ledger-pass-1")
    return client


def test_admin_add_shows_the_secret_once_and_replays(org, customer, contract, receiver):
    admin = _client(org, "boss", "admin")
    page = admin.post("/admin/api/webhookendpoint/add/", {
        "url": receiver.url, "description": "ERP", "event_types": ["invoice.issued", "invoice.paid"]})
    assert page.status_code == 200, page.content[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.encode() in page.content and endpoint.event_types == ["invoice.issued", "invoice.paid"]
    receiver.secrets.append(endpoint.secret)
    listing = admin.get("/admin/api/webhookendpoint/")
    assert receiver.url.encode() in listing.content and endpoint.secret.encode() not in listing.content
    change = admin.get(f"/admin/api/webhookendpoint/{endpoint.pk}/change/")
    assert change.status_code == 200 and endpoint.secret.encode() not in change.content

    refused = admin.post("/admin/api/webhookendpoint/add/", {"url": "https://192.168.0.2/h",
                                                             "event_types": ["invoice.paid"]})
    assert refused.status_code == 200 and b"private address" in refused.content
    assert WebhookEndpoint.objects.count() == 1

    issue(org, customer, contract)
    deliver_webhooks(soon())
    delivery = WebhookDelivery.objects.get()
    detail = admin.get(f"/admin/api/webhookdelivery/{delivery.pk}/change/")
    assert detail.status_code == 200 and delivery.event.event_id.encode() in detail.content
    assert endpoint.secret.encode() not in detail.content
    bookkeeper = _client(org, "bk2", "bookkeeper")
    bookkeeper.post("/admin/api/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.DELIVERED  # a bookkeeper may not replay
    admin.post("/admin/api/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.PENDING
    deliver_webhooks(soon())
    assert receiver.ids() == [delivery.event.event_id] * 2

    rotated = admin.post("/admin/api/webhookendpoint/", {"action": "rotate", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert rotated.status_code == 200 and endpoint.secret.encode() in rotated.content
    assert endpoint.previous_secret == receiver.secrets[0]
    assert WebhookEvent.objects.count() == 1
