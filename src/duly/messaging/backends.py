"""SMTP delivery that knows whether a failure happened before or after the message was handed over.

Django's SMTP backend calls ``smtplib.SMTP.sendmail``, which hides *where* a dropped connection
happened. The outbox needs to know: a failure during the envelope (``MAIL FROM``/``RCPT TO``)
means the server never received the message, so it is safely retried; a failure after the body
was sent and before the server's final reply is ambiguous (the server may have accepted it).
:class:`SmtpBackend` runs the same SMTP dialogue step by step and records the phase in
``last_phase``: ``"connect"``, ``"envelope"``, ``"data"`` (body sent, reply pending) or
``"accepted"`` (the server replied 250) or ``"rejected"`` (it refused the body).

It is a drop-in for ``django.core.mail.backends.smtp.EmailBackend`` (same settings); the outbox
uses it whenever ``EMAIL_BACKEND`` is Django's SMTP backend.
"""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.message import sanitize_address

DJANGO_SMTP = "django.core.mail.backends.smtp.EmailBackend"


class SmtpBackend(EmailBackend):
    """Django's SMTP backend with an explicit, phase-tracking SMTP dialogue."""

    last_phase: str = "connect"

    def _send(self, email_message) -> bool:
        if not email_message.recipients():
            return False
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        from_email = sanitize_address(email_message.from_email, encoding)
        recipients = [sanitize_address(addr, encoding) for addr in email_message.recipients()]
        body = email_message.message().as_bytes(linesep="\r\n")
        conn = self.connection
        self.last_phase = "envelope"
        conn.ehlo_or_helo_if_needed()
        code, resp = conn.mail(from_email)
        if code != 250:
            conn.rset()
            raise smtplib.SMTPSenderRefused(code, resp, from_email)
        refused = {}
        for rcpt in recipients:
            code, resp = conn.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, resp)
        if len(refused) == len(recipients):
            conn.rset()
            raise smtplib.SMTPRecipientsRefused(refused)
        self.last_phase = "data"
        code, resp = conn.data(body)
        if code != 250:
            self.last_phase = "rejected"
            conn.rset()
            raise smtplib.SMTPDataError(code, resp)
        self.last_phase = "accepted"
        return True
