"""A real SMTP server for tests and local trials: aiosmtpd on 127.0.0.1, keeping what it receives.

``aiosmtpd`` is a test dependency; it is imported only when a sink starts.

    sink = SmtpSink().start()
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    ...
    sink.messages        # list of email.message.EmailMessage, in arrival order
    sink.stop()

``sink.reject_next(code)`` makes the server refuse the next message body with that SMTP code
(e.g. 451 temporary, 550 permanent); ``stop()`` then ``start()`` simulates an outage on the same port.
"""

from __future__ import annotations

import re
import socket
import threading
from collections import Counter
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, sink: "SmtpSink") -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope) -> str:
        with self.sink.lock:
            if self.sink.rejections:
                return self.sink.rejections.pop(0)
            message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
            self.sink.messages.append(message)
            self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.rejections: list[str] = []
        self.lock = threading.Lock()
        self._controller = None

    def start(self) -> "SmtpSink":
        from aiosmtpd.controller import Controller

        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def reject_next(self, code: int, text: str = "Rejected by the test server") -> None:
        with self.lock:
            self.rejections.append(f"{code} {text}")

    def message_ids(self) -> Counter:
        """How many times each Message-ID arrived (exactly-once checks)."""
        with self.lock:
            return Counter(str(m["Message-ID"]) for m in self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]

    @staticmethod
    def subject(message: EmailMessage) -> str:
        """The decoded subject, unfolded (no-break spaces kept)."""
        return re.sub(r"[ \t\r\n]+", " ", str(message["Subject"])).strip()

    def subjects(self, address: str | None = None) -> list[str]:
        with self.lock:
            return [self.subject(m) for m in self.messages if address is None or address in str(m["To"])]

    @staticmethod
    def text_of(message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @staticmethod
    def html_of(message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""
