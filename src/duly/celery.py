"""Celery app for scale-out. Tasks are thin wrappers around services (see each app's tasks.py).

A worker refuses to start, with one line naming DULY_SECRET_KEY, unless the secret key is fit for a
server: workers sign the pay links of the messages they render (see duly.security)."""

import os
import sys

from celery import Celery
from celery.signals import worker_init

from duly.security import secret_key_problem

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duly.settings")

app = Celery("duly")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def refuse_a_weak_secret_key(**kwargs) -> None:
    problem = secret_key_problem()
    if problem:
        sys.stderr.write(f"error: {problem}\n")
        raise SystemExit(2)
