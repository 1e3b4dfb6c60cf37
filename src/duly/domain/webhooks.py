"""Outgoing webhooks: the event types Duly sends, the retry schedule and the URL rules (docs/api.md, "Webhooks").

Pure: no clock (every rule takes ``now`` or an attempt number) and no randomness of its own (the jitter is a
number the caller draws).
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from urllib.parse import urlsplit

from .errors import UnknownEventType, UnsafeWebhookUrl

#: Every event type an endpoint can subscribe to, with what it means.
EVENT_TYPES: dict[str, str] = {
    "invoice.issued": "An invoice was issued (a number, a document, a due date), or one issued in another system was "
                      "imported as issued (migrated: true).",
    "invoice.paid": "An invoice became fully paid.",
    "invoice.overdue": "An open invoice passed its due date (once per invoice).",
    "payment.recorded": "A payment was recorded and allocated.",
    "payment.failed": "An automatic payment failed: a card charge was declined or a direct debit came back.",
    "payment.reversed": "A recorded payment was taken back: the bank match that recorded it was undone.",
    "reminder.sent": "The dunning run sent a reminder (its message was queued).",
    "dispute.opened": "A query or dispute was opened on an invoice.",
    "subscription.created": "A subscription was created.",
    "subscription.updated": "A subscription's items changed (quantity, price, added or removed item).",
    "subscription.paused": "A subscription was paused.",
    "subscription.resumed": "A paused subscription was resumed.",
    "subscription.canceled": "A subscription was canceled.",
}

#: The wait before each retry, after the 1st, 2nd ... failed attempt; after the last one the delivery fails.
#: 13 retries over 87 h 35 min (78 h 49 min at the shortest jitter): more than three days for a receiver to come
#: back.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=5),
    *(timedelta(hours=10),) * 8,
)
#: Attempts in all: the first one and its retries.
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
#: Each wait is stretched or shortened by up to this share, so receivers coming back are not hit all at once.
JITTER = 0.1


def check_event_types(types: list[str] | tuple[str, ...]) -> list[str]:
    """The event types, each known, without repeats, in the order of :data:`EVENT_TYPES`."""
    wanted = set(types)
    unknown = sorted(wanted - set(EVENT_TYPES))
    if unknown:
        raise UnknownEventType(f"Unknown event type(s): {', '.join(unknown)}; choose from "
                               f"{', '.join(EVENT_TYPES)}.", unknown=unknown)
    if not wanted:
        raise UnknownEventType("Choose at least one event type.")
    return [t for t in EVENT_TYPES if t in wanted]


def retry_delay(attempts: int, draw: float = 0.5) -> timedelta | None:
    """The wait after ``attempts`` failed attempts (None: give up). ``draw`` in [0, 1): 0.5 is no jitter,
    0 the shortest wait (-10 %), just under 1 the longest (+10 %)."""
    if attempts < 1 or attempts > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[attempts - 1]
    return base * (1 + JITTER * (2 * min(max(draw, 0.0), 1.0) - 1))


def address_refused(address: str, *, allow_loopback: bool) -> str | None:
    """Why a delivery may not go to this IP address (None: it may): loopback (unless allowed), private,
    link-local (cloud metadata), multicast, reserved or unspecified addresses are refused."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private or getattr(ip, "is_site_local", False):
        return "a private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "a reserved address"
    return None


def check_url(url: str, *, allow_loopback: bool) -> str:
    """The endpoint URL, when its form is acceptable: https (http only to a loopback host, and only when
    ``allow_loopback``), a host, no user or password, and no literal address that :func:`address_refused`
    refuses. Names are resolved, and their addresses checked, at each delivery."""
    url = (url or "").strip()
    if not url or len(url) > 2000:
        raise UnsafeWebhookUrl("An endpoint URL has 1 to 2000 characters.")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise UnsafeWebhookUrl("The endpoint URL is not a valid URL.") from None
    if parts.scheme not in ("https", "http") or not host:
        raise UnsafeWebhookUrl("The endpoint URL must be an https:// URL with a host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookUrl("The endpoint URL may not carry a user name or password.")
    loopback_name = host == "localhost" or host.endswith(".localhost")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    is_loopback = loopback_name or (literal is not None and literal.is_loopback)
    if parts.scheme == "http" and not (allow_loopback and is_loopback):
        raise UnsafeWebhookUrl("The endpoint URL must use https://.")
    if loopback_name and not allow_loopback:
        raise UnsafeWebhookUrl("The endpoint URL may not point at this machine (localhost).")
    if literal is not None:
        why = address_refused(str(literal), allow_loopback=allow_loopback)
        if why:
            raise UnsafeWebhookUrl(f"The endpoint URL points at {why}: only public addresses are allowed.")
    return url
