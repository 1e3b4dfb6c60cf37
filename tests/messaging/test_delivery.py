"""The outbox worker against a real SMTP server: exactly once, outages, failures, bounces, attachments."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from duly.messaging import delivery
from duly.messaging.delivery import Journal, backoff, deliver_outbox
from duly.messaging.models import Message
from duly.messaging.services import record_bounce, settle_unconfirmed

from .conftest import NOW


class WorkerKilled(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the worker catches it."""


def statuses():
    return sorted(Message.objects.values_list("status", flat=True))


def test_a_message_goes_out_with_a_text_and_an_html_part_and_its_own_message_id(org, queue, smtp):
    [msg] = queue(1)
    report = deliver_outbox(NOW)
    assert report.sent == [msg.message_id]
    [received] = smtp.messages
    assert received["Message-ID"] == msg.message_id and msg.message_id.startswith("<duly.")
    assert smtp.text_of(received).strip() == "Dear Camille Martin, #0"
    assert smtp.html_of(received).strip() == "<p>Dear Camille Martin, #0</p>"
    assert "Atelier Lumière SARL" in str(received["From"]) and received["Reply-To"] == "factures@atelier.example"
    msg.refresh_from_db()
    assert (msg.status, msg.attempts, msg.sent_at) == (Message.SENT, 1, NOW)
    assert deliver_outbox(NOW + timedelta(minutes=5)).sent == []  # nothing twice


def test_exactly_once_when_the_worker_is_killed_between_sending_and_recording(org, queue, smtp, monkeypatch):
    messages = queue(5)
    calls = {"n": 0}
    record = delivery._record_sent

    def killed_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise WorkerKilled  # the server accepted message 3; the worker dies before recording it
        return record(*args, **kwargs)

    monkeypatch.setattr(delivery, "_record_sent", killed_on_third)
    with pytest.raises(WorkerKilled):
        deliver_outbox(NOW)
    monkeypatch.setattr(delivery, "_record_sent", record)
    assert len(smtp.messages) == 3
    assert statuses() == ["sending", "sending", "sending", "sent", "sent"]

    # Another worker a minute later: the leases still hold, nothing is touched.
    assert deliver_outbox(NOW + timedelta(minutes=1)).sent == []
    # After the lease: the journal shows message 3 was accepted (not sent again); 4 and 5 never began.
    report = deliver_outbox(NOW + delivery.LEASE + timedelta(minutes=1))
    assert report.recovered_sent == [messages[2].message_id]
    assert sorted(report.requeued) == sorted(m.message_id for m in messages[3:])
    assert sorted(report.sent) == sorted(m.message_id for m in messages[3:])
    counts = smtp.message_ids()
    assert sorted(counts) == sorted(m.message_id for m in messages) and set(counts.values()) == {1}
    assert statuses() == ["sent"] * 5


def test_a_worker_killed_while_the_server_had_the_message_never_resends_it(org, queue, smtp, monkeypatch):
    first, second = queue(2)
    write = Journal.write

    def dies_before_journaling_acceptance(self, event, message_id, at):
        if event == Journal.ACCEPTED and message_id == second.message_id:
            raise WorkerKilled  # after the server's 250, before the journal line: the residual window
        return write(self, event, message_id, at)

    monkeypatch.setattr(Journal, "write", dies_before_journaling_acceptance)
    with pytest.raises(WorkerKilled):
        deliver_outbox(NOW)
    monkeypatch.setattr(Journal, "write", write)
    report = deliver_outbox(NOW + delivery.LEASE + timedelta(minutes=1))
    assert report.unconfirmed == [second.message_id] and report.sent == []
    second.refresh_from_db()
    assert second.status == Message.UNCONFIRMED and "check the mail log" in second.last_error
    assert deliver_outbox(NOW + timedelta(hours=2)).sent == []  # never re-sent automatically
    assert smtp.message_ids()[second.message_id] == 1
    settle_unconfirmed(org, second.pk, delivered=True, now=NOW + timedelta(hours=3))
    second.refresh_from_db()
    assert second.status == Message.SENT


def test_an_smtp_outage_keeps_messages_queued_and_each_goes_out_once_when_it_ends(org, queue, smtp):
    messages = queue(3)
    smtp.stop()
    report = deliver_outbox(NOW)
    assert len(report.deferred) == 3 and report.sent == []
    for msg in Message.objects.all():
        assert msg.status == Message.QUEUED and "unreachable" in msg.last_error
        assert msg.next_attempt_at == NOW + timedelta(minutes=1)
    assert deliver_outbox(NOW + timedelta(seconds=30)).deferred == []  # backing off: not retried yet
    deliver_outbox(NOW + timedelta(minutes=1))  # still down: the backoff doubles
    assert Message.objects.first().next_attempt_at == NOW + timedelta(minutes=3)
    smtp.start()
    report = deliver_outbox(NOW + timedelta(minutes=5))
    assert sorted(report.sent) == sorted(m.message_id for m in messages)
    assert set(smtp.message_ids().values()) == {1} and len(smtp.messages) == 3
    assert deliver_outbox(NOW + timedelta(hours=1)).sent == []


def test_temporary_refusals_are_retried_with_backoff_and_permanent_ones_fail(org, queue, smtp):
    first, second = queue(2)
    smtp.reject_next(451, "Greylisted, try again later")
    smtp.reject_next(550, "No such mailbox")
    report = deliver_outbox(NOW)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Message.QUEUED and "451" in first.last_error
    assert first.next_attempt_at == NOW + timedelta(minutes=1)
    assert second.status == Message.FAILED and "550" in second.last_error
    assert [m for m, _ in report.failed] == [second.message_id]
    assert deliver_outbox(NOW + timedelta(minutes=2)).sent == [first.message_id]
    assert [backoff(n) for n in (1, 2, 3, 8)] == [timedelta(minutes=m) for m in (1, 2, 4, 60)]


def test_a_bounce_is_recorded_by_message_id(org, queue, smtp):
    [msg] = queue(1)
    deliver_outbox(NOW)
    record_bounce(msg.message_id.strip("<>"), reason="550 5.1.1 mailbox unknown", at=NOW + timedelta(hours=1))
    msg.refresh_from_db()
    assert msg.status == Message.BOUNCED and msg.bounce_reason.startswith("550")


def test_invoice_attachments_travel_with_the_message(org, customer, contract, queue, smtp):
    from duly.invoicing import services as inv
    from duly.messaging.attachments import invoice_refs

    invoice = inv.create_draft(org, customer, [inv.LineData("Audit", Decimal(1), Decimal("100"))], contract=contract)
    inv.add_attachment(org, invoice.pk, "timesheet.csv", b"day,hours\nmon,8\n", description="Timesheet")
    [msg] = queue(1, attachments=invoice_refs([invoice.pk]), invoice_ids=[invoice.pk])
    deliver_outbox(NOW)
    [received] = smtp.messages
    names = [part.get_filename() for part in received.iter_attachments()]
    assert names == ["timesheet.csv"]


def test_invoice_pdfs_are_attached_once_the_documents_module_renders_them(org, customer, contract, queue, smtp,
                                                                         settings):
    from duly.invoicing import services as inv
    from duly.messaging.attachments import invoice_refs

    settings.DULY_MESSAGE_PDF_ATTACHMENTS = True
    draft = inv.create_draft(org, customer, [inv.LineData("Audit", Decimal(1), Decimal("100"))], contract=contract)
    invoice = inv.issue_invoice(org, draft.pk, issue_date=NOW.date())
    queue(1, attachments=invoice_refs([invoice.pk]), invoice_ids=[invoice.pk])
    deliver_outbox(NOW)
    [received] = smtp.messages
    [pdf] = list(received.iter_attachments())
    assert pdf.get_filename().endswith(".pdf") and pdf.get_content().startswith(b"%PDF")


def test_any_django_email_backend_works_for_example_django_anymail(org, queue, settings):
    from django.core import mail

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}
    settings.DULY_OUTBOX_JOURNAL_FSYNC = False
    mail.outbox = []
    [msg] = queue(1)
    assert deliver_outbox(NOW).sent == [msg.message_id]
    assert mail.outbox[0].extra_headers["Message-ID"] == msg.message_id
    msg.refresh_from_db()
    assert msg.status == Message.SENT and msg.provider_message_id == "0"


def test_the_journal_keeps_acceptance_final(tmp_path):
    journal = Journal(tmp_path, fsync=False)
    journal.write(Journal.BEGIN, "<a@x>", NOW)
    journal.write(Journal.ACCEPTED, "<a@x>", NOW)
    journal.write(Journal.ABORTED, "<a@x>", NOW)  # a stray later line never downgrades an acceptance
    journal.write(Journal.BEGIN, "<b@x>", NOW)
    assert journal.states(["<a@x>", "<b@x>", "<c@x>"], NOW.date(), NOW.date()) == {
        "<a@x>": Journal.ACCEPTED, "<b@x>": Journal.BEGIN}
    journal.prune(NOW.date() + timedelta(days=40))
    assert journal.states(["<a@x>"], NOW.date(), NOW.date()) == {}


# --- one bad message never blocks the queue ----------------------------------------------------------------
def _failing_load(monkeypatch, error: BaseException):
    real = delivery.attachment_refs.load

    def load(ref):
        if ref.get("kind") == "broken_pdf":
            raise error
        return real(ref)

    monkeypatch.setattr(delivery.attachment_refs, "load", load)


def test_a_message_that_cannot_be_built_is_retried_with_backoff_and_fails_after_max_attempts(
        org, queue, smtp, monkeypatch, settings):
    settings.DULY_OUTBOX_MAX_ATTEMPTS = 3
    _failing_load(monkeypatch, RuntimeError("the PDF renderer crashed"))
    first, = queue(1, prefix="ok-a")
    bad, = queue(1, prefix="bad", attachments=[{"kind": "broken_pdf"}])
    last, = queue(1, prefix="ok-b")
    report = deliver_outbox(NOW)
    assert sorted(report.sent) == sorted([first.message_id, last.message_id])  # the others still go out
    bad.refresh_from_db()
    assert (bad.status, bad.attempts, bad.next_attempt_at) == (Message.QUEUED, 1, NOW + timedelta(minutes=1))
    assert "could not be prepared: RuntimeError: the PDF renderer crashed" in bad.last_error
    assert deliver_outbox(NOW + timedelta(minutes=1)).deferred  # attempt 2, backs off 2 minutes
    report = deliver_outbox(NOW + timedelta(minutes=3))  # attempt 3: given up
    bad.refresh_from_db()
    assert bad.status == Message.FAILED and bad.attempts == 3 and "gave up after 3 attempts" in bad.last_error
    assert [m for m, _ in report.failed] == [bad.message_id]
    assert deliver_outbox(NOW + timedelta(hours=2)).deferred == [] and len(smtp.messages) == 2


def test_repeated_temporary_refusals_end_failed_after_max_attempts(org, queue, smtp, settings):
    settings.DULY_OUTBOX_MAX_ATTEMPTS = 3
    [msg] = queue(1)
    at = NOW
    for _ in range(3):
        smtp.reject_next(451, "Mailbox busy, try later")
        deliver_outbox(at)
        msg.refresh_from_db()
        at = msg.next_attempt_at or at
    assert msg.status == Message.FAILED and msg.attempts == 3 and "451" in msg.last_error
    assert smtp.messages == []


def test_an_outage_never_fails_a_message_however_long_it_lasts(org, queue, smtp, settings):
    settings.DULY_OUTBOX_MAX_ATTEMPTS = 3
    [msg] = queue(1)
    smtp.stop()
    at = NOW
    for _ in range(6):
        deliver_outbox(at)
        msg.refresh_from_db()
        at = msg.next_attempt_at
    assert msg.status == Message.QUEUED and msg.attempts == 6
    smtp.start()
    assert deliver_outbox(at).sent == [msg.message_id]


def test_a_worker_killed_while_building_a_message_counts_that_attempt_only(org, queue, smtp, monkeypatch):
    _failing_load(monkeypatch, WorkerKilled())
    bad, = queue(1, prefix="bad", attachments=[{"kind": "broken_pdf"}])
    never, = queue(1, prefix="never-began")
    with pytest.raises(WorkerKilled):
        deliver_outbox(NOW)
    assert statuses() == ["sending", "sending"]
    later = NOW + delivery.LEASE + timedelta(minutes=1)
    report = deliver_outbox(later)
    bad.refresh_from_db()
    never.refresh_from_db()
    # The one being built when the worker died backs off with the attempt counted; the other goes out now.
    assert (bad.status, bad.attempts, bad.next_attempt_at) == (Message.QUEUED, 1, later + timedelta(minutes=1))
    assert report.requeued == [never.message_id] and report.sent == [never.message_id]
