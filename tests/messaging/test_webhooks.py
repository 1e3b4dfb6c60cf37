"""E-mail event webhooks are authenticated, Message-IDs cannot be guessed, and a bounce, complaint or open
changes only a message that was actually sent, once."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import timedelta

from click.testing import CliRunner

from duly.messaging.delivery import deliver_outbox
from duly.messaging.models import Message

from .conftest import NOW

URL = "/anymail/postmark/tracking/"
FROZEN = ("status", "bounced_at", "bounce_reason", "opened_at", "complained_at", "sent_at")


def post(client, body: dict, auth: str | None):
    headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


def bounce(message_id: str) -> dict:
    return {"RecordType": "Bounce", "ID": 7, "Type": "HardBounce", "MessageID": message_id,
            "Email": "ap@client.example", "BouncedAt": "2026-06-01T09:30:00Z", "Details": "550 5.1.1 mailbox unknown"}


def opened(message_id: str) -> dict:
    return {"RecordType": "Open", "MessageID": message_id, "Recipient": "ap@client.example",
            "ReceivedAt": "2026-06-01T14:05:00Z"}


def complaint(message_id: str) -> dict:
    return {"RecordType": "SpamComplaint", "ID": 8, "Type": "SpamComplaint", "MessageID": message_id,
            "Email": "ap@client.example", "BouncedAt": "2026-06-01T15:00:00Z"}


def snapshot(msg: Message) -> tuple:
    msg.refresh_from_db()
    return tuple(getattr(msg, f) for f in FROZEN)


def test_without_a_secret_the_webhook_is_not_mounted(org, queue, client, mount_webhooks):
    mount_webhooks(None)
    [msg] = queue(1)
    before = snapshot(msg)
    assert post(client, bounce(msg.message_id), "hook:s3cret").status_code == 404
    assert post(client, bounce(msg.message_id), None).status_code == 404
    assert snapshot(msg) == before


def test_a_wrong_or_missing_secret_is_refused_with_400(org, queue, smtp, client, webhook_secret):
    [msg] = queue(1)
    deliver_outbox(NOW)
    before = snapshot(msg)
    assert before[0] == Message.SENT
    for auth in ("hook:wrong", "other:s3cret", None):
        assert post(client, bounce(msg.message_id), auth).status_code == 400  # anymail's answer: Bad Request
    assert snapshot(msg) == before


def test_a_forged_bounce_for_a_message_not_sent_changes_nothing(org, queue, client, webhook_secret):
    queued, held = queue(2)
    Message.objects.filter(pk=held.pk).update(status=Message.HELD)
    before = [snapshot(queued), snapshot(held)]
    for msg in (queued, held):
        for event in (bounce, opened, complaint):
            # even with the right secret (the provider relays whatever it is told)
            assert post(client, event(msg.message_id), webhook_secret).status_code == 200
    assert [snapshot(queued), snapshot(held)] == before
    assert not queued.bounced_at and queued.status == Message.QUEUED


def test_a_real_bounce_complaint_and_open_change_a_sent_message_once(org, queue, smtp, client, webhook_secret,
                                                                    request):
    from duly.messaging.signals import message_undeliverable

    told = []
    message_undeliverable.connect(lambda sender, message, **kw: told.append(message.pk), weak=False,
                                  dispatch_uid="test-told")
    request.addfinalizer(lambda: message_undeliverable.disconnect(dispatch_uid="test-told"))
    [msg] = queue(1)
    deliver_outbox(NOW)
    for _ in range(2):  # providers retry their webhooks
        assert post(client, opened(msg.message_id), webhook_secret).status_code == 200
        assert post(client, complaint(msg.message_id), webhook_secret).status_code == 200
    msg.refresh_from_db()
    assert msg.opened_at.isoformat() == "2026-06-01T14:05:00+00:00"
    assert msg.complained_at.isoformat() == "2026-06-01T15:00:00+00:00"
    assert post(client, bounce(msg.message_id), webhook_secret).status_code == 200
    first = snapshot(msg)
    assert first[0] == Message.BOUNCED and "550 5.1.1" in first[2]
    later = bounce(msg.message_id) | {"BouncedAt": "2026-06-02T10:00:00Z", "Details": "another reason"}
    assert post(client, later, webhook_secret).status_code == 200
    assert snapshot(msg) == first
    assert told == [msg.pk]  # collections was told once (one phone task, not one per retry)


def test_the_cli_refuses_a_bounce_for_a_message_not_sent(org, queue):
    from duly.cli import main

    [msg] = queue(1)
    before = snapshot(msg)
    result = CliRunner().invoke(main, ["outbox", "bounce", msg.message_id, "--reason", "550"])
    assert result.exit_code == 2
    assert result.stderr == (f"error: Message #{msg.pk} is queued, not sent: a bounce changes only a message that "
                             "was sent. [message_not_sent]\n")
    assert snapshot(msg) == before


def test_message_ids_are_random_and_kept_across_retries(org, queue, smtp):
    first, second = queue(2)
    again = queue(1)[0]  # the same idempotency key as ``first``: the same message, the same Message-ID
    assert again.pk == first.pk and again.message_id == first.message_id
    for msg in (first, second):
        token = re.fullmatch(r"<duly\.([0-9a-f]{40})@[\w.-]+>", msg.message_id).group(1)
        predictable = hashlib.sha256(f"{org.pk}:{msg.idempotency_key}".encode()).hexdigest()[:40]
        assert token != predictable
    assert first.message_id != second.message_id
    smtp.reject_next(451, "Try again later")  # the first attempt is refused for now: retried later
    deliver_outbox(NOW)
    deliver_outbox(NOW + timedelta(hours=2))
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Message.SENT, Message.SENT)
    assert first.message_id == again.message_id
    assert smtp.message_ids()[first.message_id] == 1 and smtp.message_ids()[second.message_id] == 1
