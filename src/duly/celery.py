"""Celery app for scale-out (docs/scale-out.md). Tasks are thin wrappers around services (see each app's tasks.py);
the partitioned runs and the periodic cycle are orchestrated by :mod:`duly.scaleout`.

Delivery guarantees: a task is acknowledged after it ran (``task_acks_late``), and put back in the queue when its
worker process dies (``task_reject_on_worker_lost``) or, when the whole worker is killed, once the broker's
visibility timeout has passed; each worker process takes one message at a time (prefetch multiplier 1). A task
that meets a transient database error (lost connection, deadlock, serialization failure) is retried with an
exponential backoff. Every task calls an idempotent service, so running one twice does no harm.

A worker refuses to start, with one line naming DULY_SECRET_KEY, unless the secret key is fit for a
server: workers sign the pay links of the messages they render (see duly.security)."""

import os
import sys

from celery import Celery, Task
from celery.signals import worker_init
from django.conf import settings

from duly.security import secret_key_problem

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duly.settings")


#: Retries of a task after a transient database error, and the first delay (doubled each time, at most 10 min).
MAX_RETRIES = 8
RETRY_DELAY = 2


class DulyTask(Task):
    """Retry on a transient database error, with exponential backoff (the services roll back what they did not
    commit, and skip what they did, so the retry finishes the work)."""

    max_retries = MAX_RETRIES

    def __call__(self, *args, **kwargs):
        from django.db import InterfaceError, OperationalError

        try:
            return super().__call__(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            if self.request.called_directly:
                raise
            raise self.retry(exc=exc, countdown=min(600, RETRY_DELAY * 2 ** self.request.retries))


app = Celery("duly", task_cls=DulyTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
#: Seconds before the broker (Redis) hands an unacknowledged message to another worker: longer than the longest
#: partition (a killed worker's partition waits this long before it is retried elsewhere).
VISIBILITY_TIMEOUT = settings.DULY_CELERY_VISIBILITY_TIMEOUT
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
    result_backend_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,  # a broker restart: reconnect for as long as it takes
    # ... and a task that ends while the result backend (the same Redis) restarts waits for it to store its result,
    # instead of failing the partition and with it the chord (up to 10 s between attempts).
    result_backend_always_retry=True,
    result_expires=7 * 24 * 3600,
    task_serializer="json", result_serializer="json", accept_content=["json"],
    worker_hijack_root_logger=False,
    timezone="UTC",
    # The periodic jobs (settings.DULY_SCHEDULED_JOBS) run from beat as one cycle of partitioned stages
    # (duly.scaleout.cycle_task); without a broker, `duly serve` runs them in-process (duly.scheduler).
    beat_schedule={"duly-cycle": {"task": "duly.cycle", "schedule": float(settings.DULY_CYCLE_INTERVAL)}},
)
app.autodiscover_tasks()
app.conf.include = ["duly.scaleout"]


@worker_init.connect
def refuse_a_weak_secret_key(**kwargs) -> None:
    problem = secret_key_problem()
    if problem:
        sys.stderr.write(f"error: {problem}\n")
        raise SystemExit(2)
