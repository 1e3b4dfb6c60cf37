"""Messaging fixtures: a real SMTP server (aiosmtpd) and queued messages."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from duly.messaging.testing import SmtpSink

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def smtp(settings, tmp_path):
    """A real SMTP server on 127.0.0.1 (free port); Django's SMTP backend points at it."""
    sink = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DULY_OUTBOX_JOURNAL_DIR = str(tmp_path / "outbox-journal")
    settings.DULY_OUTBOX_JOURNAL_FSYNC = False
    settings.DULY_MESSAGE_PDF_ATTACHMENTS = False
    yield sink
    sink.stop()


@pytest.fixture
def queue(org, customer):
    """Queue ``n`` personal test messages for the customer; returns them."""
    from duly.messaging.rendering import RenderedMessage
    from duly.messaging.services import queue_message

    contact = customer.contacts.get()

    def make(n: int = 1, *, prefix: str = "test", attachments=(), invoice_ids=()):
        out = []
        for i in range(n):
            rendered = RenderedMessage(subject=f"Reminder {prefix} {i}", text=f"Dear {contact.name}, #{i}",
                                       html=f"<p>Dear {contact.name}, #{i}</p>")
            msg, _ = queue_message(org, customer=customer, contact=contact, category="dunning",
                                   template="reminder_neutral", language="fr", rendered=rendered,
                                   to_email=contact.email, to_name=contact.name,
                                   idempotency_key=f"{prefix}:{i}", now=NOW, attachments=list(attachments),
                                   invoice_ids=list(invoice_ids))
            out.append(msg)
        return out

    return make
