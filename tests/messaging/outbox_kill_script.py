"""Helper run in subprocesses by test_worker_killed.py (not a test): seed an outbox, run a real worker.

Usage: ``python outbox_kill_script.py seed N | deliver NOW`` with ``DATABASE_URL`` pointing at a
throw-away SQLite file and ``DULY_EMAIL_PORT`` at the test's SMTP sink. With ``DULY_TEST_KILL_AFTER_SENDS=K``
the worker SIGKILLs itself right after the K-th message was accepted by the server and journaled,
before the database records it (the checkpoint is injected here, not built into the worker).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import datetime

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duly.settings")

import django  # noqa: E402

django.setup()

KILL_ENV = "DULY_TEST_KILL_AFTER_SENDS"


def seed(n: int) -> None:
    from django.core.management import call_command

    from duly.customers.services import create_customer, create_organization
    from duly.messaging.rendering import RenderedMessage
    from duly.messaging.services import queue_message

    call_command("migrate", verbosity=0)
    org = create_organization(name="Kill Test SAS", slug="kill", country="FR", default_currency="EUR",
                              address_line1="1 rue A", postcode="75001", city="Paris")
    customer = create_customer(org, code="K1", name="Killed Worker SARL", country="FR", city="Lyon",
                               address_line1="2 rue B",
                               contacts=[{"name": "Camille Martin", "email": "ap@client.example"}])
    contact = customer.contacts.get()
    now = datetime.fromisoformat("2026-06-01T08:00:00+00:00")
    for i in range(n):
        rendered = RenderedMessage(subject=f"Reminder {i}", text=f"Dear Camille Martin, #{i}",
                                   html=f"<p>Dear Camille Martin, #{i}</p>")
        queue_message(org, customer=customer, contact=contact, category="dunning", template="reminder_neutral",
                      language="fr", rendered=rendered, to_email=contact.email, to_name=contact.name,
                      idempotency_key=f"kill:{i}", now=now)


def deliver(now: str) -> None:
    from duly.messaging.delivery import deliver_outbox

    kill_after = int(os.environ.get(KILL_ENV, "0") or 0)
    accepted = {"n": 0}

    def checkpoint(point, message) -> None:
        if point == "accepted":
            accepted["n"] += 1
            if kill_after and accepted["n"] >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    report = deliver_outbox(datetime.fromisoformat(now), checkpoint=checkpoint)
    print(json.dumps({"report": report.as_dict(), "outbox": outbox()}))


def outbox() -> dict:
    from duly.messaging.models import Message

    return {mid: status for mid, status in Message.objects.values_list("message_id", "status")}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"seed": lambda: seed(int(args[0])), "deliver": lambda: deliver(args[0])}[command]()
