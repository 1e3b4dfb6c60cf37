"""Celery app for scale-out. Tasks are thin wrappers around services (see each app's tasks.py)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duly.settings")

app = Celery("duly")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
