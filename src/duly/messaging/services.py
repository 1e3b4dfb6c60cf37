"""Writes of the messaging app: queue a rendered message in the outbox, save templates, record
bounces and opens, and let staff settle a message whose delivery is unconfirmed.

Sending is :func:`duly.messaging.delivery.deliver_outbox`; it is the only code that talks to a
mail server. Everything here is a database write and owns its transaction (``queue_message`` is
also called inside the callers' transactions, so a reminder and its message commit together).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Iterable, Sequence

from django.conf import settings
from django.db import IntegrityError, transaction

from duly.customers.models import Contact, Customer, Organization
from duly.db.fastpath import insert_objects
from duly.domain import dunning
from duly.domain.errors import InvalidState, MessageNotSent, NotFound, TemplateError

from .formatting import LANGUAGES
from .models import Message, MessageTemplate
from .rendering import TEMPLATE_KINDS, RenderedMessage, Renderer, shipped_renderer, template_path, validate_template


# --- identity ------------------------------------------------------------------------------------
def message_id_domain() -> str:
    configured = getattr(settings, "DULY_MESSAGE_ID_DOMAIN", "")
    if configured:
        return configured
    sender = settings.DEFAULT_FROM_EMAIL
    return sender.rsplit("@", 1)[-1].strip("> ") if "@" in sender else "duly.localhost"


def new_message_id() -> str:
    """A new ``Message-ID`` header: 160 random bits, chosen once when the message is queued and stored
    with it (so every retry sends the same one). Nobody can guess the Message-ID of a message they did
    not receive, so nobody can forge a delivery event for it."""
    return f"<duly.{secrets.token_hex(20)}@{message_id_domain()}>"


# --- queueing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SendWindow:
    """When a customer may receive a message: local hours of business days in their time zone."""

    timezone: str
    start: time = time(9)
    end: time = time(17)
    #: Holiday country (``None``: weekends only).
    country: str | None = None

    def next_slot(self, moment: datetime) -> datetime:
        """``moment`` when inside the window, else the next window's opening (UTC)."""
        return dunning.next_send_time(moment, self.timezone, (self.start, self.end), self.country)


def window_of(msg: Message) -> SendWindow | None:
    if not msg.window_timezone or msg.window_start is None or msg.window_end is None:
        return None
    return SendWindow(msg.window_timezone, msg.window_start, msg.window_end, msg.window_country or None)


def new_message(
    org: Organization,
    *,
    customer: Customer | int,
    contact: Contact | int | None,
    category: str,
    template: str,
    language: str,
    rendered: RenderedMessage,
    to_email: str,
    to_name: str,
    idempotency_key: str,
    now: datetime,
    attachments: Sequence[dict[str, Any]] = (),
    invoice_ids: Iterable[int] = (),
    channel: str = Message.CHANNEL_EMAIL,
    fallback_note: str = "",
    window: SendWindow | None = None,
    deliver_after: datetime | None = None,
) -> Message:
    """The message :func:`queue_message` stores, not saved (see there); :func:`queue_messages` stores many."""
    customer_id = customer if isinstance(customer, int) else customer.pk
    contact_id = contact if (contact is None or isinstance(contact, int)) else contact.pk
    if channel == Message.CHANNEL_EMAIL and not to_email:
        raise InvalidState(f"Message {idempotency_key}: an e-mail needs an address.", code="no_email_address")
    fields = dict(
        customer_id=customer_id, contact_id=contact_id, category=category, template=template, language=language,
        channel=channel, to_email=to_email, to_name=to_name[:200], subject=rendered.subject[:300], text=rendered.text,
        html=rendered.html, attachments=list(attachments), invoice_ids=sorted(set(invoice_ids)),
        message_id=new_message_id(), fallback_note=fallback_note[:300],
        status=Message.QUEUED if channel == Message.CHANNEL_EMAIL else Message.HELD,
        next_attempt_at=None, created_at=now,
    )
    if deliver_after is not None:
        fields.update(deliver_after=deliver_after, next_attempt_at=deliver_after if deliver_after > now else None)
    if window is not None:
        fields.update(window_timezone=window.timezone, window_start=window.start, window_end=window.end,
                      window_country=window.country or "")
    return Message(organization=org, idempotency_key=idempotency_key, **fields)


def queue_message(org: Organization, **kwargs: Any) -> tuple[Message, bool]:
    """Store a rendered message (once per idempotency key). Returns ``(message, created)``.

    The arguments are :func:`new_message`'s: ``customer``, ``contact``, ``category``, ``template``,
    ``language``, ``rendered``, ``to_email``, ``to_name``, ``idempotency_key``, ``now``, and optionally
    ``attachments``, ``invoice_ids``, ``channel``, ``fallback_note``, ``window`` and ``deliver_after``.
    A message for post (``channel="letter"``) is stored ``held``: it is printed, not e-mailed.
    With a ``window`` the outbox worker sends it only inside the customer's sending window on
    their business days: a thank-you for a payment imported at 03:00 waits for 09:00 local, and a
    retry that comes late (after an outage) waits for the next window. ``deliver_after``: not
    before this instant (the slot the dunning evaluation chose).
    """
    return store_message(org, new_message(org, **kwargs))


def store_message(org: Organization, message: Message) -> tuple[Message, bool]:
    """Store a message built by :func:`new_message`, once per idempotency key (see :func:`queue_message`)."""
    existing = Message.objects.filter(organization=org, idempotency_key=message.idempotency_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            message.save(force_insert=True)
            return message, True
    except IntegrityError:
        # A concurrent run queued the same message first.
        return Message.objects.get(organization=org, idempotency_key=message.idempotency_key), False


def queue_messages(org: Organization, messages: Sequence[Message]) -> list[tuple[Message, bool]]:
    """Store many messages built by :func:`new_message` (once per idempotency key, as :func:`queue_message`):
    one read of the keys already queued, then one bulk insert, in the caller's transaction. Returns
    ``(message, created)`` in the order given (the stored message when its key was queued before). A key a
    concurrent run queues meanwhile raises :class:`~django.db.IntegrityError`: the caller's transaction (or
    savepoint) is then to be rolled back and the messages queued one at a time."""
    keys = list(dict.fromkeys(m.idempotency_key for m in messages))
    found: dict[str, Message] = {}
    for start in range(0, len(keys), 5000):  # well under SQLite's limit of bound variables
        found.update((m.idempotency_key, m) for m in Message.objects.filter(
            organization=org, idempotency_key__in=keys[start:start + 5000]))
    out, new = [], []
    for message in messages:
        stored = found.get(message.idempotency_key)
        if stored is None:
            found[message.idempotency_key] = message
            new.append(message)
            out.append((message, True))
        else:
            out.append((stored, False))
    insert_objects(Message, new)
    return out


def recall_queued(org: Organization, idempotency_keys: Iterable[str], *, reason: str, now: datetime) -> list[int]:
    """Cancel the messages with these keys that have not gone out: still ``queued`` (one a worker holds, or has
    sent, stays as it is: the update is conditional, so a worker claiming it at the same instant wins or loses as a
    whole). ``reason`` is kept on each. Returns the ids cancelled."""
    keys = sorted(set(idempotency_keys))
    if not keys:
        return []
    waiting = Message.objects.filter(organization=org, idempotency_key__in=keys, status=Message.QUEUED)
    ids = sorted(waiting.values_list("pk", flat=True))
    if ids:
        Message.objects.filter(pk__in=ids, status=Message.QUEUED).update(
            status=Message.CANCELLED, cancelled_at=now, cancel_reason=reason, next_attempt_at=None)
    return list(Message.objects.filter(pk__in=ids, status=Message.CANCELLED, cancelled_at=now).order_by("pk")
                .values_list("pk", flat=True))


# --- templates -----------------------------------------------------------------------------------
def renderer_for(org: Organization) -> Renderer:
    """The renderer with the organization's own templates (one query); the shipped one when it has none."""
    overrides = {
        template_path(name, language): source
        for name, language, source in MessageTemplate.objects.filter(organization=org)
        .values_list("name", "language", "source")
    }
    return Renderer(overrides) if overrides else shipped_renderer()


def custom_categories(org: Organization) -> dict[str, str]:
    """Template name → category of the organization's own (non-shipped) templates."""
    return dict(MessageTemplate.objects.filter(organization=org).exclude(name__in=list(TEMPLATE_KINDS))
                .values_list("name", "category"))


def template_exists(org: Organization, name: str) -> bool:
    return name in TEMPLATE_KINDS or MessageTemplate.objects.filter(organization=org, name=name).exists()


@transaction.atomic
def save_template(org: Organization, *, name: str, language: str, source: str,
                  category: str | None = None) -> MessageTemplate:
    """Validate and save an organization's template (refused with the template name and line)."""
    if language not in LANGUAGES:
        raise TemplateError(f"Language {language!r} is not one of {', '.join(LANGUAGES)}.", template=name)
    if name in TEMPLATE_KINDS:
        if category not in (None, TEMPLATE_KINDS[name]):
            raise TemplateError(f"{name} is a {TEMPLATE_KINDS[name]} template, not {category}.", template=name)
        category = TEMPLATE_KINDS[name]
    elif category is None:
        raise TemplateError(f"Template {name!r} is not a shipped template: give its category.", template=name)
    validate_template(name, language, source, category=category)
    template, _ = MessageTemplate.objects.update_or_create(
        organization=org, name=name, language=language, defaults={"source": source, "category": category}
    )
    return template


# --- delivery events -----------------------------------------------------------------------------
def _sent_message(message_id: str, event: str) -> Message:
    """The message a delivery event names, locked; refused unless it was actually sent.

    Found by its ``Message-ID`` (random, so only its recipient and the provider know it) or by the
    provider's id (stored once the provider accepted it). A bounce, complaint or open for a message
    still queued, held, cancelled or never accepted is a forgery or a mistake: nothing changes.
    """
    ident = message_id.strip()
    if not ident:
        raise NotFound("No Message-ID given.", message_id=message_id)
    header = ident if ident.startswith("<") else f"<{ident}>"
    msg = (Message.objects.select_for_update().filter(message_id=header).first()
           or Message.objects.select_for_update().filter(provider_message_id=ident).first())
    if msg is None:
        raise NotFound(f"No message with the Message-ID {ident!r}.", message_id=ident)
    if msg.status not in (Message.SENT, Message.BOUNCED) or msg.sent_at is None:
        raise MessageNotSent(f"Message #{msg.pk} is {msg.status}, not sent: a {event} changes only a message that "
                             "was sent.", message_id=ident)
    return msg


@dataclass(frozen=True)
class EventOutcome:
    message: Message
    #: False when the event had been recorded already (providers retry their webhooks).
    changed: bool


@transaction.atomic
def record_bounce(message_id: str, *, reason: str, at: datetime) -> EventOutcome:
    """Mark a sent message bounced, once, found by its ``Message-ID`` header (or the provider's id).

    Refused (MessageNotSent) for a message that was not sent; a second bounce changes nothing."""
    from .signals import notify_undeliverable

    msg = _sent_message(message_id, "bounce")
    if msg.status == Message.BOUNCED:
        return EventOutcome(msg, False)
    msg.status = Message.BOUNCED
    msg.bounced_at = at
    msg.bounce_reason = reason or "bounced"
    msg.save(update_fields=["status", "bounced_at", "bounce_reason"])
    notify_undeliverable(msg)
    return EventOutcome(msg, True)


@transaction.atomic
def record_complaint(message_id: str, *, at: datetime) -> EventOutcome:
    """Record, once, that the recipient of a sent message reported it as spam."""
    msg = _sent_message(message_id, "complaint")
    if msg.complained_at is not None:
        return EventOutcome(msg, False)
    msg.complained_at = at
    msg.save(update_fields=["complained_at"])
    return EventOutcome(msg, True)


@transaction.atomic
def record_open(message_id: str, *, at: datetime) -> EventOutcome:
    """Record the first time a sent message was opened (feeds the learned best hour); later opens change nothing."""
    msg = _sent_message(message_id, "open")
    if msg.opened_at is not None:
        return EventOutcome(msg, False)
    msg.opened_at = at
    msg.save(update_fields=["opened_at"])
    return EventOutcome(msg, True)


@transaction.atomic
def settle_unconfirmed(org: Organization, message_pk: int, *, delivered: bool, now: datetime) -> Message:
    """Staff decision on a message whose worker stopped mid-send (see :mod:`duly.messaging.delivery`).

    ``delivered=True``: the recipient or the mail server's log shows it arrived; mark it sent.
    ``delivered=False``: it did not arrive; queue it again (same Message-ID).
    """
    msg = Message.objects.select_for_update().filter(organization=org, pk=message_pk).first()
    if msg is None:
        raise NotFound(f"Message {message_pk} not found in {org.name}.")
    if msg.status != Message.UNCONFIRMED:
        raise InvalidState(f"Message {message_pk} is {msg.status}, not unconfirmed.")
    if delivered:
        msg.status, msg.sent_at, msg.last_error = Message.SENT, now, "delivery confirmed by staff"
    else:
        msg.status, msg.next_attempt_at, msg.last_error = Message.QUEUED, now, "re-queued by staff"
    msg.lease_token, msg.lease_expires_at = "", None
    msg.save()
    return msg
