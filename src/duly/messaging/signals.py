"""Delivery events from e-mail providers (django-anymail tracking webhooks) into the outbox.

With an ESP backend, anymail's webhook view (mounted at ``/anymail/`` only when
``DULY_ANYMAIL_WEBHOOK_SECRET`` is set, and checking it) turns the provider's callbacks into
``tracking`` signals; bounces and rejections mark the message ``bounced``, complaints and first
opens are recorded (opens feed the learned best sending hour). The message is found by the
provider's id stored when it was sent (or by our random ``Message-ID``). Each event changes only a
message that was actually sent, and only once: events about messages Duly did not send, or did not
send yet, are ignored (logged).
"""

from __future__ import annotations

import logging

from django.dispatch import Signal
from django.utils import timezone

from duly.domain.errors import MessageNotSent, NotFound

log = logging.getLogger("duly.messaging")

BOUNCES = ("bounced", "rejected", "failed")

#: Sent with ``message=<Message>`` when a message bounced, or failed for good (refused, or given up
#: after the maximum attempts). Collections turns an undeliverable reminder into a phone task.
message_undeliverable = Signal()


def notify_undeliverable(message) -> None:
    """Tell the receivers; a receiver's error is logged and never undoes the bounce or failure."""
    for receiver, result in message_undeliverable.send_robust(sender=type(message), message=message):
        if isinstance(result, Exception):
            log.error("undeliverable-message receiver %r failed for %s: %s", receiver, message.message_id, result)


def provider_event(sender, event, esp_name: str = "", **kwargs) -> None:
    from .services import record_bounce, record_complaint, record_open

    message_id = str(event.message_id or "")
    if not message_id:
        return
    at = event.timestamp or timezone.now()
    try:
        if event.event_type in BOUNCES:
            reason = event.mta_response or event.description or event.reject_reason or event.event_type
            record_bounce(message_id, reason=f"{esp_name}: {reason}", at=at)
        elif event.event_type == "complained":
            record_complaint(message_id, at=at)
        elif event.event_type == "opened":
            record_open(message_id, at=at)
    except NotFound:
        log.info("%s event %s for unknown message %s ignored", esp_name, event.event_type, message_id)
    except MessageNotSent:
        log.warning("%s event %s for message %s, which was not sent, ignored", esp_name, event.event_type,
                    message_id)
