"""``duly serve``: waitress (a production WSGI server) plus the in-process scheduler."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command


def serve(*, host: str, port: int, threads: int = 8, scheduler: bool = True, interval: int = 300,
          demo: bool = False) -> None:
    """Serve Duly. Outside the demo, refuses to start (InsecureConfiguration, one line naming
    DULY_SECRET_KEY) unless the secret key is fit for a server (:mod:`duly.security`)."""
    from django.core.wsgi import get_wsgi_application
    from waitress import serve as waitress_serve

    from duly.scheduler import SchedulerThread
    from duly.security import require_secret_key

    if not demo:
        require_secret_key()
    application = get_wsgi_application()
    call_command("migrate", interactive=False, verbosity=0)
    thread = None
    if scheduler and settings.DULY_BROKER_CONFIGURED:
        print("duly serve: CELERY_BROKER_URL is set, so Celery beat (`duly beat`) runs the periodic jobs, "
              "not this process (docs/scale-out.md).", flush=True)
    elif scheduler:
        thread = SchedulerThread(interval)
        thread.start()
    try:
        waitress_serve(application, host=host, port=port, threads=threads, ident="duly")
    finally:
        if thread is not None:
            thread.stop()
