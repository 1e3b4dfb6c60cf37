"""Exactly once when a real worker process is SIGKILLed mid-batch, against a real SMTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from duly.messaging.testing import SmtpSink

SCRIPT = Path(__file__).with_name("outbox_kill_script.py")
SRC = Path(__file__).resolve().parents[2] / "src"


def _script(home: Path, port: int, *args: str, kill_after: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DULY_HOME": str(home), "DATABASE_URL": f"sqlite:///{home / 'outbox.sqlite3'}",
           "DJANGO_SETTINGS_MODULE": "duly.settings", "DULY_EMAIL_HOST": "127.0.0.1", "DULY_EMAIL_PORT": str(port),
           "DULY_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.pop("DULY_TEST_KILL_AFTER_SENDS", None)
    if kill_after is not None:
        env["DULY_TEST_KILL_AFTER_SENDS"] = str(kill_after)
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_a_worker_killed_after_the_third_send_loses_nothing_and_duplicates_nothing(tmp_path, migrated_sqlite):
    migrated_sqlite(tmp_path / "outbox.sqlite3")
    sink = SmtpSink().start()
    try:
        seeded = _script(tmp_path, sink.port, "seed", "6")
        assert seeded.returncode == 0, seeded.stderr

        killed = _script(tmp_path, sink.port, "deliver", "2026-06-01T08:00:00+00:00", kill_after=3)
        assert killed.returncode == -9, killed.stderr  # SIGKILL: no cleanup, no finally, no commit of #3
        assert len(sink.messages) == 3

        # A second worker after the lease expired (10 minutes): recovers #3 from the journal, sends 4-6.
        second = _script(tmp_path, sink.port, "deliver", "2026-06-01T08:11:00+00:00")
        assert second.returncode == 0, second.stderr
        result = json.loads(second.stdout)
        assert len(result["report"]["recovered_sent"]) == 1 and len(result["report"]["sent"]) == 3
        assert set(result["outbox"].values()) == {"sent"} and len(result["outbox"]) == 6

        counts = sink.message_ids()
        assert sorted(counts) == sorted(result["outbox"]) and set(counts.values()) == {1}
        # A third pass sends nothing again.
        third = json.loads(_script(tmp_path, sink.port, "deliver", "2026-06-01T09:00:00+00:00").stdout)
        assert third["report"]["sent"] == [] and len(sink.messages) == 6
    finally:
        sink.stop()
