"""A real HTTP receiver of Duly's outgoing webhooks on the loopback, which checks every request with the
Standard Webhooks reference implementation (``standardwebhooks.Webhook(secret).verify(body, headers)``).

``mode``: ``"ok"`` answers 204, ``"fail"`` answers 500; :meth:`stop` takes the server down (connections are
refused) and :meth:`start` brings it back on the same port.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook


@dataclass
class Received:
    webhook_id: str
    headers: dict
    body: bytes
    payload: dict | None
    verified: bool
    error: str


class Receiver:
    def __init__(self, secrets: list[str] | None = None, path: str = "/hooks"):
        self.secrets = list(secrets or [])
        self.path = path
        self.mode = "ok"
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.port = 0
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                payload, verified, error = None, False, ""
                for secret in receiver.secrets:
                    try:
                        payload = Webhook(secret).verify(body, headers)
                        verified = True
                        break
                    except Exception as exc:  # noqa: BLE001 - recorded for the test to see
                        error = f"{type(exc).__name__}: {exc}"
                with receiver.lock:
                    receiver.received.append(Received(headers.get("webhook-id", ""), headers, body,
                                                      payload if verified else json.loads(body or b"null"),
                                                      verified, error))
                status = 204 if receiver.mode == "ok" and verified else 500 if receiver.mode == "fail" else 400
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        return Handler

    def start(self) -> "Receiver":
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def ids(self) -> list[str]:
        with self.lock:
            return [r.webhook_id for r in self.received]

    def of_type(self, event_type: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.payload and r.payload.get("type") == event_type]


@pytest.fixture
def receiver(settings):
    """A started receiver with no secret yet (append the endpoint's); endpoints may be loopback URLs."""
    settings.DULY_WEBHOOKS_ALLOW_LOOPBACK = True
    r = Receiver().start()
    yield r
    r.stop()
