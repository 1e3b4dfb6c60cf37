"""The in-process scheduler of ``duly serve``.

Each job is a dotted path to a function ``job(now: datetime) -> object`` that calls a service; the
services are idempotent, so a pass that runs twice (or overlaps a Celery worker) does no harm.
Jobs are listed in ``settings.DULY_SCHEDULED_JOBS``.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

from django.conf import settings
from django.db import connections
from django.utils.module_loading import import_string

log = logging.getLogger("duly.scheduler")


def jobs() -> list[str]:
    return list(getattr(settings, "DULY_SCHEDULED_JOBS", []))


def run_once(now: datetime | None = None) -> dict[str, str]:
    """Run every job once. Returns job -> 'ok' or the error line; one failing job never stops the others."""
    now = now or datetime.now(timezone.utc)
    results: dict[str, str] = {}
    for path in jobs():
        _release_stale_connections()
        try:
            import_string(path)(now)
            results[path] = "ok"
        except Exception as exc:  # noqa: BLE001 - a scheduler must survive a failing job and report it
            log.exception("scheduled job %s failed", path)
            results[path] = f"{type(exc).__name__}: {exc}"
        finally:
            _release_stale_connections()
    return results


def _release_stale_connections() -> None:
    """Drop broken or expired database connections between jobs, like Django does between requests.

    A connection inside an atomic block belongs to a caller's open transaction (``run_once`` called from
    a service or a test): closing it would throw that transaction away, so it is left alone.
    """
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


class SchedulerThread(threading.Thread):
    def __init__(self, interval: int):
        super().__init__(name="duly-scheduler", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            run_once()
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
