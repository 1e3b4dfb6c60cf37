"""Outgoing webhooks delivered to a real HTTP receiver on the loopback, which verifies every request with the
Standard Webhooks reference implementation: signatures, retries through an outage (nothing lost, no duplicate
event ids, the retry waits as specified on an explicit clock), replay, disabled endpoints, isolation between
organizations and a worker stopped half-way."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal
from pathlib import Path

import pytest

from duly.api import outgoing_services as hooks
from duly.api.outgoing_delivery import deliver_webhooks
from duly.api.outgoing_models import WebhookAttempt, WebhookDelivery, WebhookEvent
from duly.domain.webhooks import MAX_ATTEMPTS, RETRY_DELAYS
from duly.invoicing import services as inv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.webhook_receiver import Receiver, receiver  # noqa: E402,F401 - a fixture

#: The explicit clock of the worker: a minute after the real time each test starts (events are recorded, and
#: first due, on the real clock; the webhook-timestamp is the real time, as receivers check it against theirs).
T0 = datetime.now(dt_timezone.utc)


@pytest.fixture(autouse=True)
def _clock():
    global T0
    T0 = datetime.now(dt_timezone.utc).replace(microsecond=0) + timedelta(minutes=1)


def add_endpoint(org, receiver, types=("invoice.issued",)):
    new = hooks.create_endpoint(org, url=receiver.url, event_types=list(types), now=T0 - timedelta(days=1))
    receiver.secrets.append(new.secret)
    return new.endpoint


def issue(org, customer, contract, amount="100.00"):
    draft = inv.create_draft(org, customer, [inv.LineData("Consulting", Decimal("1"), Decimal(amount),
                                                          tax_rate=Decimal("20"))], contract=contract)
    return inv.issue_invoice(org, draft.pk, issue_date=T0.date())


def test_a_delivery_is_signed_per_standard_webhooks_and_verified_by_the_reference_implementation(
        org, customer, contract, receiver):
    endpoint = add_endpoint(org, receiver)
    assert endpoint.secret.startswith("whsec_")
    invoice = issue(org, customer, contract)
    event = WebhookEvent.objects.get(organization=org, event_type="invoice.issued")
    assert event.event_id.startswith("msg_")

    report = deliver_webhooks(T0)

    assert len(report.delivered) == 1
    [got] = receiver.received
    assert got.verified, got.error
    assert got.webhook_id == event.event_id
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(got.headers)
    assert got.headers["webhook-signature"].startswith("v1,")
    assert got.payload["type"] == "invoice.issued"
    assert got.payload["data"]["id"] == invoice.pk and got.payload["data"]["number"] == invoice.number
    assert got.payload["data"]["total"] == {"amount_minor": invoice.total_minor, "currency": "EUR"}
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.DELIVERED and delivery.last_status_code == 204
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert attempt.succeeded and attempt.status_code == 204 and attempt.error == ""
    assert endpoint.secret not in (attempt.error + delivery.last_error)
    from duly.api.tasks import scheduled_webhooks

    assert scheduled_webhooks(T0 + timedelta(hours=1)).startswith("Webhooks: 0 delivered")  # nothing is sent twice
    assert len(receiver.received) == 1


def test_a_wrong_secret_fails_verification(org, customer, contract, receiver):
    """The receiver's check is real: with another secret the same request does not verify."""
    add_endpoint(org, receiver)
    receiver.secrets[:] = [hooks.new_secret()]
    issue(org, customer, contract)
    deliver_webhooks(T0)
    [got] = receiver.received
    assert not got.verified and "signature" in got.error.lower()
    assert WebhookDelivery.objects.get().status == WebhookDelivery.PENDING  # 400: retried later


def test_outage_retries_on_schedule_nothing_lost_no_duplicate_ids(org, customer, contract, receiver):
    add_endpoint(org, receiver)
    invoices = [issue(org, customer, contract, amount) for amount in ("100.00", "200.00", "300.00")]
    receiver.mode = "fail"
    now = T0
    report = deliver_webhooks(now)
    assert len(report.retrying) == 3 and len(receiver.received) == 3
    # the receiver is down: connections refused
    receiver.stop()
    for attempt in range(1, 5):
        deliveries = list(WebhookDelivery.objects.order_by("pk"))
        base = RETRY_DELAYS[attempt - 1]  # 5 s, 5 min, 30 min, 2 h ... each with up to 10 % jitter
        for d in deliveries:
            assert d.attempts == attempt and d.status == WebhookDelivery.PENDING
            assert base * 0.9 <= d.next_attempt_at - now <= base * 1.1, (attempt, d.next_attempt_at - now)
        delivery = deliveries[0]
        # none is due a second before its time
        assert deliver_webhooks(min(d.next_attempt_at for d in deliveries) - timedelta(seconds=1)).retrying == []
        now = max(d.next_attempt_at for d in deliveries)
        report = deliver_webhooks(now)
        assert len(report.retrying) == 3
        assert WebhookAttempt.objects.filter(delivery=delivery).last().error == "connection refused or unreachable"
    # the receiver comes back
    receiver.mode = "ok"
    receiver.start()
    now = max(d.next_attempt_at for d in WebhookDelivery.objects.all())
    report = deliver_webhooks(now)
    assert len(report.delivered) == 3
    ok = receiver.received[3:]  # the first three were answered 500
    assert all(r.verified for r in receiver.received)
    events = {e.event_id: e for e in WebhookEvent.objects.filter(organization=org)}
    assert sorted(r.webhook_id for r in ok) == sorted(events)
    assert sorted(r.payload["data"]["id"] for r in ok) == sorted(i.pk for i in invoices)
    # every earlier attempt carried the same event id: the receiver de-duplicates on it
    assert set(receiver.ids()) == set(events)
    assert all(d.status == WebhookDelivery.DELIVERED for d in WebhookDelivery.objects.all())
    assert WebhookAttempt.objects.filter(succeeded=False).count() == 3 * 5


def test_retries_last_more_than_three_days_then_the_delivery_fails(org, customer, contract, receiver):
    add_endpoint(org, receiver)
    issue(org, customer, contract)
    receiver.stop()
    now = T0
    first = now
    while True:
        deliver_webhooks(now, draw=lambda: 0.0)  # the shortest waits the jitter allows
        delivery = WebhookDelivery.objects.get()
        if delivery.status == WebhookDelivery.FAILED:
            break
        assert now - first < timedelta(days=5)
        now = delivery.next_attempt_at
    assert delivery.attempts == MAX_ATTEMPTS
    assert now - first >= timedelta(days=3)
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == MAX_ATTEMPTS
    # a failed delivery is not retried any more ...
    assert deliver_webhooks(now + timedelta(days=30)).retrying == []
    # ... until it is replayed, with the same event id
    receiver.start()
    hooks.replay(org, delivery_id=delivery.pk, now=now + timedelta(days=30))
    assert len(deliver_webhooks(now + timedelta(days=30)).delivered) == 1
    assert receiver.received[-1].verified and receiver.received[-1].webhook_id == delivery.event.event_id


def test_replay_sends_a_delivered_event_again_with_the_same_id(org, customer, contract, receiver):
    add_endpoint(org, receiver)
    issue(org, customer, contract)
    deliver_webhooks(T0)
    event = WebhookEvent.objects.get()
    hooks.replay(org, event_id=event.event_id, now=T0 + timedelta(minutes=1))
    assert len(deliver_webhooks(T0 + timedelta(minutes=1)).delivered) == 1
    assert receiver.ids() == [event.event_id, event.event_id]
    assert all(r.verified for r in receiver.received)
    assert WebhookAttempt.objects.filter(succeeded=True).count() == 2


def test_a_disabled_endpoint_receives_nothing_until_enabled(org, customer, contract, receiver):
    endpoint = add_endpoint(org, receiver)
    issue(org, customer, contract)  # queued while enabled
    hooks.set_endpoint_enabled(org, endpoint.pk, False)
    issue(org, customer, contract)  # not queued at all while disabled
    assert deliver_webhooks(T0).delivered == []
    assert receiver.received == []
    assert WebhookDelivery.objects.count() == 1
    hooks.set_endpoint_enabled(org, endpoint.pk, True)
    assert len(deliver_webhooks(T0).delivered) == 1


def test_org_b_never_receives_org_a_events(org, other_org, customer, contract, receiver, settings):
    add_endpoint(org, receiver)
    other = Receiver().start()
    try:
        new = hooks.create_endpoint(other_org, url=other.url, event_types=["invoice.issued"])
        other.secrets.append(new.secret)
        issue(org, customer, contract)
        deliver_webhooks(T0)
        assert len(receiver.received) == 1 and other.received == []
        assert not WebhookEvent.objects.filter(organization=other_org).exists()
    finally:
        other.stop()


def test_a_secret_rotation_keeps_the_old_secret_valid_for_a_day(org, customer, contract, receiver):
    endpoint = add_endpoint(org, receiver)
    old = receiver.secrets[0]
    rotated = hooks.rotate_secret(org, endpoint.pk, now=T0)
    assert rotated.secret != old and rotated.secret.startswith("whsec_")
    issue(org, customer, contract)
    receiver.secrets[:] = [old]  # a receiver not yet told about the new secret
    deliver_webhooks(T0)
    receiver.secrets[:] = [rotated.secret]
    issue(org, customer, contract, "50.00")
    deliver_webhooks(T0)
    assert [r.verified for r in receiver.received] == [True, True]
    assert len(receiver.received[0].headers["webhook-signature"].split(" ")) == 2
    # after the grace period only the new secret signs
    issue(org, customer, contract, "60.00")
    deliver_webhooks(T0 + timedelta(days=2))
    assert len(receiver.received[-1].headers["webhook-signature"].split(" ")) == 1


def test_a_stopped_worker_rerun_sends_each_pending_delivery_once(org, customer, contract, receiver):
    add_endpoint(org, receiver)
    for amount in ("10.00", "20.00", "30.00", "40.00"):
        issue(org, customer, contract, amount)

    class Killed(BaseException):
        pass

    seen = []

    def kill_after_two(point, delivery):
        if point == "recorded":
            seen.append(delivery.pk)
            if len(seen) == 2:
                raise Killed()

    with pytest.raises(Killed):
        deliver_webhooks(T0, checkpoint=kill_after_two)
    assert len(receiver.received) == 2
    assert WebhookDelivery.objects.filter(status=WebhookDelivery.SENDING).count() == 2  # claimed, not sent
    # another worker while the lease holds sends nothing twice
    assert deliver_webhooks(T0 + timedelta(minutes=1)).delivered == []
    # after the lease: the rest go out once
    report = deliver_webhooks(T0 + timedelta(minutes=10))
    assert report.requeued == 2 and len(report.delivered) == 2
    ids = receiver.ids()
    assert len(ids) == 4 and len(set(ids)) == 4
    assert deliver_webhooks(T0 + timedelta(hours=1)).delivered == []
    assert len(receiver.ids()) == 4


def test_the_same_signal_twice_makes_one_event(org, customer, contract, receiver):
    from duly.invoicing.models import Invoice
    from duly.invoicing.signals import invoices_issued

    add_endpoint(org, receiver)
    invoice = issue(org, customer, contract)
    invoices_issued.send(sender=Invoice, organization=org, invoice_ids=[invoice.pk])
    assert WebhookEvent.objects.count() == 1 and WebhookDelivery.objects.count() == 1


def test_a_rolled_back_change_leaves_no_event(org, customer, contract, receiver):
    from django.db import transaction

    add_endpoint(org, receiver)
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            issue(org, customer, contract)
            assert WebhookEvent.objects.count() == 1
            raise RuntimeError("the business change fails after the event was recorded")
    assert WebhookEvent.objects.count() == 0 and WebhookDelivery.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_delivery_once(org, customer, contract, receiver):
    """PostgreSQL: concurrent workers claim with FOR UPDATE SKIP LOCKED; no delivery is sent twice."""
    import threading

    from django.db import connection

    add_endpoint(org, receiver)
    draft_ids = []
    for n in range(30):
        draft = inv.create_draft(org, customer, [inv.LineData("Consulting", Decimal("1"), Decimal(10 + n))],
                                 contract=contract)
        draft_ids.append(draft.pk)
    inv.issue_invoices(org, draft_ids, issue_date=T0.date())
    assert WebhookDelivery.objects.count() == 30
    barrier = threading.Barrier(3)
    reports, errors = [], []

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                reports.append(deliver_webhooks(T0, limit=5))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    delivered = [pk for r in reports for pk in r.delivered]
    assert len(delivered) == 30 and len(set(delivered)) == 30
    ids = receiver.ids()
    assert len(ids) == 30 and len(set(ids)) == 30 and all(r.verified for r in receiver.received)


def test_the_job_sends_in_batches_until_none_is_due(org, customer, contract, receiver):
    add_endpoint(org, receiver)
    draft_ids = [inv.create_draft(org, customer, [inv.LineData("Consulting", Decimal("1"), Decimal(10 + n))],
                                  contract=contract).pk for n in range(7)]
    inv.issue_invoices(org, draft_ids, issue_date=T0.date())
    assert len(deliver_webhooks(T0, limit=3, batches=1).delivered) == 3  # one batch
    report = deliver_webhooks(T0, limit=3, batches=5)  # the rest, batch after batch
    assert len(report.delivered) == 4 and len(set(receiver.ids())) == 7
