"""The webhook worker: POST due deliveries, signed per the Standard Webhooks specification, and record each
attempt (every write is a function of :mod:`duly.api.outgoing_services`).

One pass of :func:`deliver_webhooks`:
    1. deliveries left ``sending`` by a worker whose lease expired go back to the queue (at least once: the
       receiver de-duplicates by ``webhook-id``, which never changes for an event);
    2. a batch of due deliveries of enabled endpoints is claimed (``pending`` → ``sending`` under a lease; on
       PostgreSQL with FOR UPDATE SKIP LOCKED), so concurrent workers never send the same delivery;
    3. each is POSTed with a timeout, to an address checked just before connecting (the host is resolved once,
       every address must be public, and the connection goes to the address checked: no DNS rebinding), with
       headers ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``;
    4. each answer is recorded at once (a 2xx: delivered; anything else, or no answer: retried after the wait of
       :data:`duly.domain.webhooks.RETRY_DELAYS` with jitter, then failed).
Call it outside any transaction.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone
from typing import Any, Callable
from urllib.parse import urlsplit

import urllib3
from standardwebhooks.webhooks import Webhook

from duly.domain.webhooks import address_refused, retry_delay

from . import outgoing_services as services
from .outgoing_models import WebhookDelivery

log = logging.getLogger("duly.api.webhooks")

LEASE = timedelta(minutes=5)
DEFAULT_BATCH = 100
TIMEOUT = urllib3.Timeout(connect=5.0, read=15.0)
#: The most of an answer's body read (it is not kept: only its status code is).
MAX_ANSWER = 64 * 1024
USER_AGENT = "Duly-Webhooks/1"

#: ``checkpoint(point, delivery)``: tests stop a worker at ``"posted"`` (the receiver answered, nothing recorded
#: yet) or ``"recorded"``; production passes none.
Checkpoint = Callable[[str, WebhookDelivery], None]


@dataclass
class Report:
    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    requeued: int = 0

    def summary(self) -> str:
        text = f"Webhooks: {len(self.delivered)} delivered, {len(self.retrying)} to retry, {len(self.failed)} failed"
        return text + (f", {self.requeued} re-queued after a stopped worker." if self.requeued else ".")

    def as_dict(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "retrying": self.retrying, "failed": self.failed,
                "requeued": self.requeued}


def body_of(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def signature(endpoint, event_id: str, timestamp: datetime, body: str, now: datetime) -> str:
    """``v1,<base64>``, with a second signature by the previous secret while a rotation's grace lasts."""
    sigs = [Webhook(endpoint.secret).sign(event_id, timestamp, body)]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        sigs.append(Webhook(endpoint.previous_secret).sign(event_id, timestamp, body))
    return " ".join(sigs)


class Refused(Exception):
    """The endpoint's host resolves to an address deliveries may not go to."""


def _resolve(host: str, port: int) -> str:
    """One address of ``host``, when every address it resolves to may receive deliveries."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror or exc}") from None
    addresses = [info[4][0] for info in infos]
    loopback = services.allow_loopback()
    for address in addresses:
        why = address_refused(address, allow_loopback=loopback)
        if why:
            raise Refused(f"refused: {host} resolves to {why}")
    return addresses[0]


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url`` through the address checked by :func:`_resolve`; returns the status code."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _resolve(host, port)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" + (f":{parts.port}" if parts.port else "")
    if parts.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            address, port, timeout=TIMEOUT, retries=False, maxsize=1, server_hostname=host, assert_hostname=host,
            cert_reqs="CERT_REQUIRED")
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=TIMEOUT, retries=False, maxsize=1)
    try:
        response = pool.urlopen("POST", path, body=body, headers={**headers, "Host": host_header}, redirect=False,
                                retries=False, preload_content=False)
        try:
            response.read(MAX_ANSWER)
        finally:
            response.release_conn()
        return response.status
    finally:
        pool.close()


def _error(exc: BaseException) -> str:
    if isinstance(exc, Refused):
        return str(exc)
    if isinstance(exc, (urllib3.exceptions.NewConnectionError, ConnectionError)):  # before its base class:
        return "connection refused or unreachable"  # NewConnectionError is a ConnectTimeoutError
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return "timed out connecting"
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return "timed out waiting for the answer"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "TLS error: the certificate was refused"
    return f"{type(exc).__name__}: {exc}"[:300]


def deliver_webhooks(now: datetime, *, limit: int = DEFAULT_BATCH, batches: int = 1,
                     checkpoint: Checkpoint | None = None, draw: Callable[[], float] = random.random) -> Report:
    """Send the due deliveries, in up to ``batches`` batches of ``limit`` (each claimed under its own lease, the
    next one only when the previous was full); safe to run from several workers at once.

    ``now`` decides what is due and when each retry comes; ``draw`` gives the jitter (0.5: none). The
    ``webhook-timestamp`` is the real time of the POST (receivers refuse one more than 5 minutes off)."""
    report = Report()
    report.requeued = services.release_expired(now)
    for _ in range(batches):
        token = uuid.uuid4().hex
        claimed = services.claim_due(now, limit, token, LEASE)
        for delivery in claimed:
            _send(delivery, token, now, report, checkpoint, draw)
        if len(claimed) < limit:
            break
    return report


def _send(delivery: WebhookDelivery, token: str, now: datetime, report: Report, checkpoint: Checkpoint | None,
          draw: Callable[[], float]) -> None:
    event, endpoint = delivery.event, delivery.endpoint
    body = body_of(event.payload)
    signed_at = datetime.fromtimestamp(int(time.time()), tz=dt_timezone.utc)
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": event.event_id,
               "webhook-timestamp": str(int(signed_at.timestamp())),
               "webhook-signature": signature(endpoint, event.event_id, signed_at, body, now)}
    started = time.monotonic()
    status_code: int | None = None
    error = ""
    try:
        status_code = post(endpoint.url, body.encode(), headers)
        if not 200 <= status_code < 300:
            error = f"the endpoint answered {status_code}"
    except Exception as exc:  # noqa: BLE001 - every failure to deliver is recorded and retried
        error = _error(exc)
    duration_ms = int((time.monotonic() - started) * 1000)
    if checkpoint is not None:
        checkpoint("posted", delivery)
    succeeded = not error
    wait = None if succeeded else retry_delay(delivery.attempts + 1, draw())
    next_at = now + wait if wait is not None else None
    if not services.record_attempt(delivery, token, at=now, status_code=status_code, duration_ms=duration_ms,
                                   error=error, succeeded=succeeded, next_attempt_at=next_at):
        return  # the lease was lost: another worker re-queued it
    (report.delivered if succeeded else report.retrying if next_at else report.failed).append(delivery.pk)
    if not succeeded:
        log.info("webhook %s to endpoint %s: %s", event.event_id, endpoint.pk, error)
    if checkpoint is not None:
        checkpoint("recorded", delivery)
