"""The outbox worker: deliver queued messages through Django's e-mail backend, at most once each.

Every change to a message's row is a function of :mod:`duly.messaging.outbox_services`; this module
runs the protocol and decides.

Protocol (one pass of :func:`deliver_outbox`)
    1. **Recover** messages left ``sending`` by a worker whose lease expired (it crashed or was
       killed), using the delivery journal (below).
    2. **Claim** a batch: ``queued`` → ``sending`` with a lease token and expiry (one UPDATE that
       only takes rows still ``queued``, so two workers never claim the same message). The lease is
       renewed before each send; a worker that lost its lease skips the message.
    3. **Screen** the batch (:func:`_screen`): a reminder or termination message whose invoices
       are all closed by now is ``cancelled`` with the reason; a message outside its customer's
       sending window or business day goes back to the queue until the window's next opening.
    4. For each message: write ``PREPARE`` (no fsync) and build it (attachments, PDFs); a message
       that cannot be built is released with backoff, its attempt counted, and ``failed`` after
       ``DULY_OUTBOX_MAX_ATTEMPTS`` (default 8) such attempts, never blocking the others. Then
       write ``BEGIN <Message-ID>`` to the journal, send it (with the message's own
       ``Message-ID``, random and chosen when it was queued), write ``ACCEPTED`` as soon as the server replied
       250, then record ``sent`` in the database.
    5. A failure the server reported (4xx: retry, ``failed`` after the maximum attempts; 5xx:
       ``failed``), or a connection failure *before* the body was handed over, writes ``ABORTED``
       and leaves the message ``queued`` with exponential backoff (1 min, 2, 4 ... capped at 1 h).
       An unreachable or lost server never fails a message: an SMTP outage leaves messages queued
       and they go out once it ends (inside their window); they are never dropped.

The delivery journal
    An append-only file per day in ``DULY_OUTBOX_JOURNAL_DIR`` (default ``<var>/outbox-journal``),
    written with ``O_APPEND`` and ``fsync`` outside the database transaction. Recovery reads it for
    each expired lease:

    - ``ACCEPTED`` found: the server took the message; it is marked ``sent`` and NOT sent again.
      This is the common crash: a worker killed, or a database error, after the send and before
      the ``sent`` row was committed.
    - no ``BEGIN``: the message was never handed over; it is queued again at once, except the
      one being built (``PREPARE``) when the worker died: its attempt counts and it backs off.
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
from typing import Any, Callable, Iterable

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from . import attachments as attachment_refs
from . import outbox_services
from .backends import DJANGO_SMTP, SmtpBackend
from .models import Message
from .services import window_of

log = logging.getLogger("duly.messaging")

LEASE = timedelta(minutes=10)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
JOURNAL_RETENTION_DAYS = 30
DEFAULT_BATCH = 200
DEFAULT_MAX_ATTEMPTS = 8


# --- the journal ---------------------------------------------------------------------------------
class Journal:
    """Append-only delivery journal: ``<iso time> <EVENT> <Message-ID>`` lines, one file per UTC day."""

    PREPARE, BEGIN, ACCEPTED, ABORTED = "PREPARE", "BEGIN", "ACCEPTED", "ABORTED"

    def __init__(self, directory: Path | str | None = None, *, fsync: bool | None = None) -> None:
        configured = directory or getattr(settings, "DULY_OUTBOX_JOURNAL_DIR", None)
        self.directory = Path(configured or Path(settings.VAR_DIR) / "outbox-journal")
        self.fsync = getattr(settings, "DULY_OUTBOX_JOURNAL_FSYNC", True) if fsync is None else fsync

    def _file(self, day: date) -> Path:
        return self.directory / f"outbox-{day:%Y%m%d}.log"

    def write(self, event: str, message_id: str, at: datetime) -> None:
        """Append one line, durably (fsync unless configured off)."""
        self._append(event, message_id, at, durable=True)

    def hint(self, event: str, message_id: str, at: datetime) -> None:
        """Append one line without fsync (it survives a killed process, not a power cut): for
        ``PREPARE``, which only decides whether a recovery counts an attempt."""
        self._append(event, message_id, at, durable=False)

    def _append(self, event: str, message_id: str, at: datetime, *, durable: bool) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        line = f"{at.isoformat()} {event} {message_id}\n".encode()
        fd = os.open(self._file(at.date()), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            if self.fsync and durable:
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
    #: (Message-ID, reason): reminders whose invoices were all closed by the time they would go out.
    cancelled: list[tuple[str, str]] = field(default_factory=list)
    #: (Message-ID, next slot): outside the customer's sending window or business day; waits for it.
    postponed: list[tuple[str, datetime]] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.sent)} sent", f"{len(self.deferred)} deferred", f"{len(self.failed)} failed"]
        if self.cancelled:
            parts.append(f"{len(self.cancelled)} cancelled (invoices closed meanwhile)")
        if self.postponed:
            parts.append(f"{len(self.postponed)} postponed to the customer's sending window")
        if self.recovered_sent or self.requeued or self.unconfirmed:
            parts.append(f"recovered after a stopped worker: {len(self.recovered_sent)} already sent, "
                         f"{len(self.requeued)} re-queued, {len(self.unconfirmed)} unconfirmed")
        return "Outbox: " + ", ".join(parts) + "."

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent, "deferred": [dict(message_id=m, error=e) for m, e in self.deferred],
            "failed": [dict(message_id=m, error=e) for m, e in self.failed], "recovered_sent": self.recovered_sent,
            "requeued": self.requeued, "unconfirmed": self.unconfirmed,
            "cancelled": [dict(message_id=m, reason=r) for m, r in self.cancelled],
            "postponed": [dict(message_id=m, until=u.isoformat()) for m, u in self.postponed],
        }


def not_sent_lines(report: DeliveryReport) -> list[str]:
    """One line per message of ``report`` that was not sent, with the reason stored on it (``last_error``, or the
    cancellation reason) and when it goes out, if it does: what ``duly outbox deliver`` prints after its summary."""
    ids = [m for m, _ in report.deferred + report.failed + report.cancelled] + [m for m, _ in report.postponed]
    stored = {m.message_id: m for m in Message.objects.filter(message_id__in=ids).only(
        "pk", "message_id", "to_email", "to_name", "last_error", "cancel_reason", "next_attempt_at")}

    def who(message_id: str) -> str:
        m = stored.get(message_id)
        return f"#{m.pk} to {m.to_email or m.to_name}" if m is not None else message_id

    def stored_reason(message_id: str, reported: str) -> str:
        m = stored.get(message_id)
        return (m.last_error if m is not None and m.last_error else reported) or "no reason recorded"

    def at(moment: datetime | None) -> str:
        return moment.isoformat(timespec="minutes") if moment is not None else "not scheduled"

    lines = []
    for message_id, error in report.deferred:
        m = stored.get(message_id)
        lines.append(f"  deferred {who(message_id)}: {stored_reason(message_id, error)} "
                     f"(next attempt {at(m.next_attempt_at if m is not None else None)})")
    for message_id, error in report.failed:
        lines.append(f"  failed {who(message_id)}: {stored_reason(message_id, error)} (not retried)")
    for message_id, reason in report.cancelled:
        m = stored.get(message_id)
        lines.append(f"  cancelled {who(message_id)}: {(m.cancel_reason if m is not None else '') or reason}")
    for message_id, until in report.postponed:
        lines.append(f"  postponed {who(message_id)} to the customer's sending window: {at(until)}")
    return lines


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


#: ``checkpoint(point, message)``: called at named points of a send (``"accepted"``: the server
#: took the message and the journal says so, the database not yet). Tests inject one to stop a
#: worker exactly there; production passes none.
Checkpoint = Callable[[str, Message], None]


def deliver_outbox(now: datetime, *, limit: int = DEFAULT_BATCH, backend=None,
                   journal: Journal | None = None, checkpoint: Checkpoint | None = None) -> DeliveryReport:
    """Deliver due e-mail messages (at most ``limit``). Safe to run from several workers at once.

    Call it outside any transaction: each claim, send record and failure commits on its own, so a
    crash keeps what was recorded (the scheduler and the CLI call it that way).
    """
    journal = journal or Journal()
    report = DeliveryReport()
    _recover(now, journal, report)
    token = uuid.uuid4().hex
    claimed = _screen(_claim(now, limit, token), token, now, report)
    if not claimed:
        journal.prune(now.date())
        return report
    backend = backend or open_backend()
    try:
        backend.open()
    except (OSError, smtplib.SMTPException) as exc:
        for msg in claimed:
            _release(msg, token, now, f"mail server unreachable: {exc}", report, counts=False)
        return report
    try:
        _send_batch(claimed, token, now, backend, journal, report, checkpoint)
    finally:
        try:
            backend.close()
        except (OSError, smtplib.SMTPException):
            log.warning("closing the mail connection failed", exc_info=True)
    return report


def _send_batch(claimed: list[Message], token: str, now: datetime, backend, journal: Journal,
                report: DeliveryReport, checkpoint: Checkpoint | None = None) -> None:
    broken: str | None = None
    for msg in claimed:
        if broken is not None:
            _release(msg, token, now, broken, report, counts=False)
            continue
        if not _renew(msg, token, now):
            continue  # another worker recovered it: not ours any more
        journal.hint(Journal.PREPARE, msg.message_id, now)
        try:
            email = _email(msg, backend)
        except Exception as exc:  # noqa: BLE001 - one message that cannot be built never blocks the others
            log.exception("message %s could not be prepared", msg.message_id)
            journal.write(Journal.ABORTED, msg.message_id, now)
            _release(msg, token, now, f"could not be prepared: {type(exc).__name__}: {exc}", report)
            continue
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
            lost = _connection_lost(exc)
            if outcome == _Outcome.NOT_SENT_FAIL:
                _mark(msg, token, status=Message.FAILED, last_error=error, attempts=msg.attempts + 1)
                report.failed.append((msg.message_id, error))
                _undeliverable(msg.pk)
            else:
                # A refusal of this message (4xx) counts towards max_attempts; a lost server does not.
                _release(msg, token, now, error, report, counts=not lost)
            if lost:
                broken = f"connection lost: {error}"
            continue
        journal.write(Journal.ACCEPTED, msg.message_id, now)
        if checkpoint is not None:
            checkpoint("accepted", msg)
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
    return outbox_services.claim_due(now, limit, token, LEASE)


def _renew(msg: Message, token: str, now: datetime) -> bool:
    return outbox_services.renew_lease(msg.pk, token, now + LEASE)


def _mark(msg: Message, token: str, **fields) -> None:
    outbox_services.end_lease(msg.pk, token, **fields)


def _record_sent(msg: Message, token: str, now: datetime, provider_id: Any) -> None:
    """Record the delivery (``provider_id``: the provider's own id, from django-anymail)."""
    _mark(msg, token, status=Message.SENT, sent_at=now, attempts=msg.attempts + 1, last_error="",
          provider_message_id="" if provider_id is None else str(provider_id)[:255])


def _undeliverable(pk: int) -> None:
    from .signals import notify_undeliverable

    msg = Message.objects.filter(pk=pk, status=Message.FAILED).first()
    if msg is not None:
        notify_undeliverable(msg)


def max_attempts() -> int:
    """Attempts after which a message that keeps failing on its own is marked ``failed``."""
    return int(getattr(settings, "DULY_OUTBOX_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


def _release(msg: Message, token: str, now: datetime, error: str, report: DeliveryReport, *,
             counts: bool = True) -> None:
    """Back to ``queued`` with backoff. ``counts``: the failure is the message's own (it could not be
    built, or the server refused it for now): after :func:`max_attempts` such failures it is
    ``failed``. An unreachable or lost server never fails a message: an outage only delays it."""
    attempts = msg.attempts + 1
    if counts and attempts >= max_attempts():
        error = f"gave up after {attempts} attempts: {error}"
        _mark(msg, token, status=Message.FAILED, attempts=attempts, last_error=error)
        report.failed.append((msg.message_id, error))
        _undeliverable(msg.pk)
        return
    _mark(msg, token, status=Message.QUEUED, attempts=attempts, next_attempt_at=now + backoff(attempts),
          last_error=error)
    report.deferred.append((msg.message_id, error))


#: Categories whose message is about money still owed: pointless (and wrong) once it is all paid.
CHASING_CATEGORIES = ("dunning", "termination")


def _screen(claimed: list[Message], token: str, now: datetime, report: DeliveryReport) -> list[Message]:
    """Last checks before sending, for the whole batch in two queries at most.

    A reminder (or termination message) whose invoices are all closed by now (paid, credited,
    void) is cancelled with the reason: after a long outage the customer who paid meanwhile is
    not chased. A message outside its customer's sending window or business day (a retry that
    came late, at night or on a weekend) goes back to the queue until the window's next opening,
    without counting an attempt.
    """
    if not claimed:
        return []
    from duly.invoicing.models import Invoice

    wanted = {i for m in claimed if m.category in CHASING_CATEGORIES for i in m.invoice_ids}
    invoices = ({pk: (number, status) for pk, number, status in Invoice.objects.filter(pk__in=wanted)
                 .values_list("pk", "number", "status")} if wanted else {})
    closed = (Invoice.PAID, Invoice.VOID, Invoice.UNCOLLECTIBLE)
    keep = []
    for msg in claimed:
        if msg.category in CHASING_CATEGORIES and msg.invoice_ids:
            known = [invoices[i] for i in msg.invoice_ids if i in invoices]
            if known and all(status in closed for _, status in known):
                reason = ("not sent: all its invoices were closed before it went out ("
                          + ", ".join(f"{number} {status}" for number, status in known) + ")")
                _mark(msg, token, status=Message.CANCELLED, cancelled_at=now, cancel_reason=reason)
                report.cancelled.append((msg.message_id, reason))
                continue
        window = window_of(msg)
        if window is not None:
            slot = window.next_slot(now)
            if slot > now:
                _mark(msg, token, status=Message.QUEUED, next_attempt_at=slot)
                report.postponed.append((msg.message_id, slot))
                continue
        keep.append(msg)
    return keep


def _recover(now: datetime, journal: Journal, report: DeliveryReport) -> None:
    stale = list(Message.objects.filter(status=Message.SENDING, lease_expires_at__lt=now)
                 .values_list("pk", "message_id", "lease_token", "claimed_at", "attempts"))
    if not stale:
        return
    attempts_of = {pk: attempts for pk, *_, attempts in stale}
    stale = [row[:4] for row in stale]
    since = min((c for *_, c in stale if c is not None), default=now).date()
    states = journal.states([m for _, m, _, _ in stale], since - timedelta(days=1), now.date())
    settle = outbox_services.settle_expired_lease
    for pk, message_id, token, _ in stale:
        state = states.get(message_id)
        if state == Journal.ACCEPTED:
            if settle(pk, token, status=Message.SENT, sent_at=now,
                      last_error="recovered: the server had accepted it before the worker stopped"):
                report.recovered_sent.append(message_id)
        elif state == Journal.BEGIN:
            if settle(pk, token, status=Message.UNCONFIRMED,
                      last_error="the worker stopped while the server had the message; it may have "
                                 "been delivered: check the mail log, then settle it"):
                report.unconfirmed.append(message_id)
        elif state == Journal.PREPARE:
            # The worker died while building this very message (attachments, PDFs): count the
            # attempt and back off, so a message that kills workers cannot block the queue.
            attempts = attempts_of[pk] + 1
            error = "the worker stopped while preparing it"
            if attempts >= max_attempts():
                if settle(pk, token, status=Message.FAILED, attempts=attempts,
                          last_error=f"gave up after {attempts} attempts: {error}"):
                    report.failed.append((message_id, error))
                    _undeliverable(pk)
            elif settle(pk, token, status=Message.QUEUED, attempts=attempts, next_attempt_at=now + backoff(attempts),
                        last_error=f"re-queued: {error}"):
                report.deferred.append((message_id, error))
        elif settle(pk, token, status=Message.QUEUED, next_attempt_at=now,
                    last_error="re-queued: the worker stopped before sending it"):
            report.requeued.append(message_id)
