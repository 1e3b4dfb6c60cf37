"""Scheduled jobs of the API app (run by `duly serve` through settings.DULY_SCHEDULED_JOBS)."""

from __future__ import annotations

from datetime import datetime

from . import services


def scheduled_purge(now: datetime) -> tuple[int, int]:
    """Forget idempotency records past their 24 hours and rate windows that ended."""
    return services.purge_expired(now)
