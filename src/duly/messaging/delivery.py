"""The outbox worker: deliver queued messages through Django's e-mail backend, at most once each.

Protocol (one pass of :func:`deliver_outbox`)
    1. **Recover** messages left ``sending`` by a worker whose lease expired (it crashed or was
       killed), using the delivery journal (below).
    2. **Claim** a batch: ``queued`` → ``sending`` with a lease token and expiry (one UPDATE that
       only takes rows still ``queued``, so two workers never claim the same message). The lease is
       renewed before each send; a worker that lost its lease skips the message.
    3. For each message: write ``BEGIN <Message-ID>`` to the journal, send it (the ``Message-ID``
       header is derived from the idempotency key), write ``ACCEPTED`` as soon as the server replied
       250, then record ``sent`` in the database.
    4. A failure the server reported (4xx: retry; 5xx: ``failed``), or a connection failure *before*
       the body was handed over, writes ``ABORTED`` and leaves the message ``queued`` with
       exponential backoff (1 min, 2, 4 ... capped at 1 h). An SMTP outage therefore leaves
       messages queued and they go out once it ends; they are never dropped.

The delivery journal
    An append-only file per day in ``DULY_OUTBOX_JOURNAL_DIR`` (default ``<var>/outbox-journal``),
    written with ``O_APPEND`` and ``fsync`` outside the database transaction. Recovery reads it for
    each expired lease:

    - ``ACCEPTED`` found: the server took the message; it is marked ``sent`` and NOT sent again.
      This is the common crash: a worker killed, or a database error, after the send and before
      the ``sent`` row was committed.
    - no ``BEGIN``: the message was never handed over; it is queued again.
    - ``BEGIN`` without ``ACCEPTED``/``ABORTED``: the worker died while the server had the message
      and before its reply was journaled. Whether it was accepted cannot be known from here, so it
      becomes ``unconfirmed``: never re-sent automatically; staff settle it
      (:func:`duly.messaging.services.settle_unconfirmed`) after checking the mail log.

Residual risk, stated plainly
    SMTP has no way to ask a server "did you accept Message-ID X?". Delivery is at most once
    always, and exactly once except in one window: a process killed between the server's 250 reply
    and the ``ACCEPTED`` journal write (microseconds; no database round trip) leaves the message
    ``unconfirmed`` for a person to settle. A dropped connection after the body was sent and
    before the reply is the same case and ends ``unconfirmed`` too. With several workers on several
    machines, put the journal directory on storage they share. A recipient's mail client collapses
    a duplicate with the same Message-ID should a person re-queue a message that had arrived.
"""

from __future__ import annotations

import logging
import os
import smtplib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import formataddr
from pathlib import Path
from typing import Any, Iterable

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection as db_connection, transaction
from django.db.models import Q

from . import attachments as attachment_refs
from .backends import DJANGO_SMTP, SmtpBackend
from .models import Message

log = logging.getLogger("duly.messaging")

LEASE = timedelta(minutes=10)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
JOURNAL_RETENTION_DAYS = 30
DEFAULT_BATCH = 200


# --- the journal ---------------------------------------------------------------------------------
class Journal:
    """Append-only delivery journal: ``<iso time> <EVENT> <Message-ID>`` lines, one file per UTC day."""

    BEGIN, ACCEPTED, ABORTED = "BEGIN", "ACCEPTED", "ABORTED"

    def __init__(self, directory: Path | str | None = None, *, fsync: bool | None = None) -> None:
        configured = directory or getattr(settings, "DULY_OUTBOX_JOURNAL_DIR", None)
        self.directory = Path(configured or Path(settings.VAR_DIR) / "outbox-journal")
        self.fsync = getattr(settings, "DULY_OUTBOX_JOURNAL_FSYNC", True) if fsync is None else fsync

    def _file(self, day: date) -> Path:
        return self.directory / f"outbox-{day:%Y%m%d}.log"

    def write(self, event: str, message_id: str, at: datetime) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        line = f"{at.isoformat()} {event} {message_id}\n".encode()
        fd = os.open(self._file(at.date()), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def states(self, message_ids: Iterable[str], since: date, until: date) -> dict[str, str]:
        """Last journaled event per Message-ID between two days (inclusive); missing ids never began."""
        wanted = set(message_ids)
        found: dict[str, str] = {}
        day = since
        while day <= until:
            path = self._file(day)
            if path.exists():
                with path.open("r", encoding="utf-8") as fh:
                    for line in fh:
                        parts = line.rstrip("\n").split(" ", 2)
                        if len(parts) == 3 and parts[2] in wanted:
                            previous = found.get(parts[2])
                            # ACCEPTED is final: a later line never downgrades it.
                            if previous != self.ACCEPTED:
                                found[parts[2]] = parts[1]
            day += timedelta(days=1)
        return found

    def prune(self, today: date, keep_days: int = JOURNAL_RETENTION_DAYS) -> None:
        if not self.directory.exists():
            return
        cutoff = f"outbox-{today - timedelta(days=keep_days):%Y%m%d}.log"
        for path in self.directory.glob("outbox-*.log"):
            if path.name < cutoff:
                path.unlink(missing_ok=True)


# --- the report ----------------------------------------------------------------------------------
@dataclass
class DeliveryReport:
    sent: list[str] = field(default_factory=list)
    deferred: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    recovered_sent: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.sent)} sent", f"{len(self.deferred)} deferred", f"{len(self.failed)} failed"]
        if self.recovered_sent or self.requeued or self.unconfirmed:
            parts.append(f"recovered after a stopped worker: {len(self.recovered_sent)} already sent, "
                         f"{len(self.requeued)} re-queued, {len(self.unconfirmed)} unconfirmed")
        return "Outbox: " + ", ".join(parts) + "."

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent, "deferred": [dict(message_id=m, error=e) for m, e in self.deferred],
            "failed": [dict(message_id=m, error=e) for m, e in self.failed], "recovered_sent": self.recovered_sent,
            "requeued": self.requeued, "unconfirmed": self.unconfirmed,
        }


class _Outcome:
    NOT_SENT_RETRY, NOT_SENT_FAIL, AMBIGUOUS = "retry", "fail", "ambiguous"


def backoff(attempts: int) -> timedelta:
    """1 min after the first failure, doubling, capped at 1 h."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def _classify(exc: BaseException, phase: str | None) -> str:
    """Did the server surely not take the message (retry or fail), or can we not know?"""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return _Outcome.NOT_SENT_FAIL if codes and all(c >= 500 for c in codes) else _Outcome.NOT_SENT_RETRY
    if isinstance(exc, smtplib.SMTPResponseException):
        return _Outcome.NOT_SENT_FAIL if exc.smtp_code >= 500 else _Outcome.NOT_SENT_RETRY
    status = getattr(exc, "status_code", None)  # django-anymail: the provider answered with an error
    if isinstance(status, int):
        return _Outcome.NOT_SENT_FAIL if 400 <= status < 500 and status != 429 else _Outcome.NOT_SENT_RETRY
    if phase in ("connect", "envelope"):
        return _Outcome.NOT_SENT_RETRY
    return _Outcome.AMBIGUOUS


def _connection_lost(exc: BaseException) -> bool:
    """The connection is gone (not a refusal the server replied with; SMTPException is an OSError)."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


# --- the worker ----------------------------------------------------------------------------------
def open_backend():
    """The configured e-mail backend; Django's SMTP backend is upgraded to the phase-tracking one."""
    if settings.EMAIL_BACKEND == DJANGO_SMTP:
        return SmtpBackend(fail_silently=False)
    return get_connection(fail_silently=False)


def deliver_outbox(now: datetime, *, limit: int = DEFAULT_BATCH, backend=None,
                   journal: Journal | None = None) -> DeliveryReport:
    """Deliver due e-mail messages (at most ``limit``). Safe to run from several workers at once.

    Call it outside any transaction: each claim, send record and failure commits on its own, so a
    crash keeps what was recorded (the scheduler and the CLI call it that way).
    """
    journal = journal or Journal()
    report = DeliveryReport()
    _recover(now, journal, report)
    token = uuid.uuid4().hex
    claimed = _claim(now, limit, token)
    if not claimed:
        journal.prune(now.date())
        return report
    backend = backend or open_backend()
    try:
        backend.open()
    except (OSError, smtplib.SMTPException) as exc:
        for msg in claimed:
            _release(msg, token, now, f"mail server unreachable: {exc}", report)
        return report
    try:
        _send_batch(claimed, token, now, backend, journal, report)
    finally:
        try:
            backend.close()
        except (OSError, smtplib.SMTPException):
            log.warning("closing the mail connection failed", exc_info=True)
    return report


def _send_batch(claimed: list[Message], token: str, now: datetime, backend, journal: Journal,
                report: DeliveryReport) -> None:
    broken: str | None = None
    for msg in claimed:
        if broken is not None:
            _release(msg, token, now, broken, report)
            continue
        if not _renew(msg, token, now):
            continue  # another worker recovered it: not ours any more
        email = _email(msg, backend)
        journal.write(Journal.BEGIN, msg.message_id, now)
        if isinstance(backend, SmtpBackend):
            backend.last_phase = "connect" if backend.connection is None else "envelope"
        try:
            backend.send_messages([email])
        except Exception as exc:  # noqa: BLE001 - every backend error is classified and recorded
            phase = getattr(backend, "last_phase", None)
            outcome = _classify(exc, phase)
            error = f"{type(exc).__name__}: {exc}"
            if outcome == _Outcome.AMBIGUOUS:
                _mark(msg, token, status=Message.UNCONFIRMED, last_error=f"connection lost after the message "
                      f"was handed to the server; it may have been accepted ({error})")
                report.unconfirmed.append(msg.message_id)
                broken = f"connection lost: {error}"
                continue
            journal.write(Journal.ABORTED, msg.message_id, now)
            if outcome == _Outcome.NOT_SENT_FAIL:
                _mark(msg, token, status=Message.FAILED, last_error=error, attempts=msg.attempts + 1)
                report.failed.append((msg.message_id, error))
            else:
                _release(msg, token, now, error, report)
            if _connection_lost(exc):
                broken = f"connection lost: {error}"
            continue
        journal.write(Journal.ACCEPTED, msg.message_id, now)
        _record_sent(msg, token, now, getattr(getattr(email, "anymail_status", None), "message_id", None))
        report.sent.append(msg.message_id)


def _email(msg: Message, backend) -> EmailMultiAlternatives:
    org = msg.organization
    sender_name = org.trading_name or org.name
    email = EmailMultiAlternatives(
        subject=msg.subject,
        body=msg.text,
        from_email=formataddr((sender_name, settings.DEFAULT_FROM_EMAIL)),
        to=[formataddr((msg.to_name, msg.to_email))],
        reply_to=[org.email] if org.email else None,
        headers={"Message-ID": msg.message_id, "X-Duly-Category": msg.category},
        connection=backend,
    )
    email.attach_alternative(msg.html, "text/html")
    for ref in msg.attachments:
        loaded = attachment_refs.load(ref)
        if loaded is not None:
            email.attach(*loaded)
    return email


def _claim(now: datetime, limit: int, token: str) -> list[Message]:
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    with transaction.atomic():
        qs = Message.objects.filter(due, channel=Message.CHANNEL_EMAIL, status=Message.QUEUED)
        if db_connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        ids = list(qs.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])
        if not ids:
            return []
        Message.objects.filter(id__in=ids, status=Message.QUEUED).update(
            status=Message.SENDING, lease_token=token, lease_expires_at=now + LEASE, claimed_at=now,
        )
    return list(Message.objects.select_related("organization").filter(lease_token=token, status=Message.SENDING)
                .order_by("next_attempt_at", "id"))


def _renew(msg: Message, token: str, now: datetime) -> bool:
    return bool(Message.objects.filter(pk=msg.pk, lease_token=token, status=Message.SENDING)
                .update(lease_expires_at=now + LEASE))


def _mark(msg: Message, token: str, **fields) -> None:
    Message.objects.filter(pk=msg.pk, lease_token=token).update(lease_token="", lease_expires_at=None, **fields)


def _record_sent(msg: Message, token: str, now: datetime, provider_id: Any) -> None:
    """Record the delivery (``provider_id``: the provider's own id, from django-anymail)."""
    _mark(msg, token, status=Message.SENT, sent_at=now, attempts=msg.attempts + 1, last_error="",
          provider_message_id="" if provider_id is None else str(provider_id)[:255])


def _release(msg: Message, token: str, now: datetime, error: str, report: DeliveryReport) -> None:
    attempts = msg.attempts + 1
    _mark(msg, token, status=Message.QUEUED, attempts=attempts, next_attempt_at=now + backoff(attempts),
          last_error=error)
    report.deferred.append((msg.message_id, error))


def _recover(now: datetime, journal: Journal, report: DeliveryReport) -> None:
    stale = list(Message.objects.filter(status=Message.SENDING, lease_expires_at__lt=now)
                 .values_list("pk", "message_id", "lease_token", "claimed_at"))
    if not stale:
        return
    since = min((c for *_, c in stale if c is not None), default=now).date()
    states = journal.states([m for _, m, _, _ in stale], since - timedelta(days=1), now.date())
    for pk, message_id, token, _ in stale:
        state = states.get(message_id)
        base = Message.objects.filter(pk=pk, status=Message.SENDING, lease_token=token)
        if state == Journal.ACCEPTED:
            if base.update(status=Message.SENT, sent_at=now, lease_token="", lease_expires_at=None,
                           last_error="recovered: the server had accepted it before the worker stopped"):
                report.recovered_sent.append(message_id)
        elif state == Journal.BEGIN:
            if base.update(status=Message.UNCONFIRMED, lease_token="", lease_expires_at=None,
                           last_error="the worker stopped while the server had the message; it may have "
                                      "been delivered: check the mail log, then settle it"):
                report.unconfirmed.append(message_id)
        elif base.update(status=Message.QUEUED, lease_token="", lease_expires_at=None, next_attempt_at=now,
                         last_error="re-queued: the worker stopped before sending it"):
            report.requeued.append(message_id)
