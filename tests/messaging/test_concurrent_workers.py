"""Two outbox workers at once on PostgreSQL (SKIP LOCKED claims): every message goes out exactly once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from duly.messaging.delivery import deliver_outbox
from duly.messaging.models import Message

from .conftest import NOW


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_message_once(org, queue, smtp):
    messages = queue(40)
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def work() -> None:
        try:
            barrier.wait()
            reports.append(deliver_outbox(NOW, limit=25))
            reports.append(deliver_outbox(NOW, limit=25))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    sent = [m for r in reports for m in r.sent]
    assert sorted(sent) == sorted(m.message_id for m in messages)
    assert set(smtp.message_ids().values()) == {1} and len(smtp.messages) == 40
    assert set(Message.objects.values_list("status", flat=True)) == {Message.SENT}
